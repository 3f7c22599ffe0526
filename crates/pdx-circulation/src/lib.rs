//! The circulation ledger: canonical entries ([`entry`]) appended with contiguous sequence
//! numbers under a head-row lock ([`store`]), in batches by the group-commit [`appender`]; the
//! Merkle tree of RFC 6962/9162 with inclusion and consistency proofs ([`merkle`], and
//! [`tree`] as a server caches it); checkpoints in the C2SP signed-note format
//! ([`checkpoint`]), published with proofs, entries and export by [`ledger`]; and the offline
//! verifier of an export ([`verify`]), measured on a [`synthetic`] ledger; and [`accounting`]:
//! usage rolled up by local day with every append, and monthly statements.

pub mod accounting;
pub mod anomalies;
pub mod appender;
pub mod checkpoint;
pub mod entry;
pub mod ledger;
pub mod merkle;
pub mod store;
pub mod synthetic;
pub mod tree;
pub mod verify;

pub use appender::{AppendError, Appender, AppenderOptions, Batch};
pub use checkpoint::{Checkpoint, CheckpointError, LedgerKey, NoteVerifier};
pub use entry::{API_RESULT, DATA_ACCESS, DATA_REPLAY, Entry};
pub use ledger::{EntryFilter, LedgerError, LedgerService, ReadScope};
pub use merkle::{Hash, MerkleError};
