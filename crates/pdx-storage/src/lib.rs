//! Storage for PDX: one diesel connection type over SQLite and PostgreSQL, its pool,
//! the embedded migrations, the table definitions and the storage error type.

pub mod blob;
pub mod breaker;
pub mod connection;
pub mod counters;
pub mod database;
pub mod error;
pub mod feed;
pub mod generation;
pub mod instance;
pub mod lease;
pub mod migrations;
pub mod presence;
pub mod private;
pub mod schema;
pub mod seal;
#[cfg(feature = "testing")]
pub mod test_s3;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transfer;
pub mod vault;

pub use blob::{BlobError, BlobStore, SMALL_BLOB, StoredBlob};
pub use connection::{Backend, DatabaseUrl, DbConnection, MultiBackend};
pub use database::{Database, PoolOptions};
pub use error::StorageError;
