//! Errors of the data services, named for what went wrong; the HTTP edge maps each to a status.

use pdx_catalog::CatalogError;
use pdx_storage::{BlobError, StorageError};

/// Why an ingestion or a row query did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    /// The distribution is not a file of a tabular format.
    #[error("the distribution is not a CSV, JSON or NDJSON file, so it has no rows")]
    NotTabular,
    /// No ingestion of the distribution's file has completed.
    #[error("the distribution's rows are not loaded yet")]
    NotIngested,
    /// The file cannot be read as the layout says.
    #[error("{0}")]
    Unreadable(String),
    /// A query names a column the table does not have, or one the caller cannot see.
    #[error("unknown column `{column}`")]
    UnknownColumn {
        /// The name given.
        column: String,
        /// The parameter it was given in.
        parameter: &'static str,
    },
    /// A query parameter is malformed.
    #[error("{message}")]
    InvalidQuery {
        /// The parameter.
        parameter: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A column may be delivered but not filtered, sorted or searched (it is masked).
    #[error("the column `{column}` is masked for you, so it cannot be used in `{parameter}`")]
    MaskedColumn {
        /// The column.
        column: String,
        /// The parameter it was used in.
        parameter: &'static str,
    },
    /// Ingestion options are not acceptable.
    #[error("{field}: {message}")]
    InvalidOptions {
        /// The option.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An ingestion of this distribution is already running.
    #[error("an ingestion of this distribution is already running")]
    IngestionRunning,
    /// The query ran longer than allowed and was cancelled.
    #[error(
        "the query took too long and was stopped; narrow it with filters, or page with `after` instead of a large offset"
    )]
    TooSlow,
    /// The caller stopped waiting for the query (its client went away), so it was stopped.
    #[error("the row query was stopped: its caller went away")]
    Abandoned,
    /// Too many row queries are running; the caller should retry.
    #[error("too many row queries are running")]
    Busy,
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for RowsError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(StorageError::from(error))
    }
}

impl RowsError {
    pub(crate) fn query(parameter: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidQuery {
            parameter,
            message: message.into(),
        }
    }
}
