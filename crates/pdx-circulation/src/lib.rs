//! The circulation ledger's verifiable core: the Merkle tree of RFC 6962/9162 with inclusion
//! and consistency proofs, and checkpoints in the C2SP signed-note format.

pub mod appender;
pub mod checkpoint;
pub mod entry;
pub mod ledger;
pub mod merkle;
pub mod store;
pub mod tree;
pub mod verify;

pub use appender::{AppendError, Appender, AppenderOptions, Batch};
pub use checkpoint::{Checkpoint, CheckpointError, LedgerKey, NoteVerifier};
pub use entry::{DATA_ACCESS, Entry};
pub use ledger::{EntryFilter, LedgerError, LedgerService, ReadScope};
pub use merkle::{Hash, MerkleError};
