//! Errors of the catalog, named for what went wrong; the HTTP edge maps each to a status.

use pdx_access::AccessError;
use pdx_core::ClassificationViolation;
use pdx_storage::{BlobError, StorageError};

use crate::model::DatasetStatus;

/// Why a catalog operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A submitted value is not acceptable.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The classification breaks a rule of DESIGN §3.
    #[error("classification rejected: {0}")]
    Classification(ClassificationViolation),
    /// No such dataset (or not visible to the caller).
    #[error("dataset not found")]
    DatasetNotFound,
    /// No such distribution (or not visible to the caller).
    #[error("distribution not found")]
    DistributionNotFound,
    /// Another dataset uses this slug.
    #[error("a dataset with this slug already exists")]
    SlugTaken,
    /// The lifecycle does not allow this action now.
    #[error("cannot {action} a dataset that is {from}")]
    IllegalTransition {
        /// The current status.
        from: DatasetStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// The distribution is part of a published version, which stays available.
    #[error(
        "the distribution is part of a published version and stays available; publish a version without it instead"
    )]
    DistributionPublished,
    /// The caller may not do this.
    #[error("not permitted: {check}")]
    Forbidden {
        /// The named check that refused.
        check: &'static str,
    },
    /// The upload is larger than allowed.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Access control failed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The search index failed.
    #[error("search index: {0}")]
    Search(String),
}

impl From<diesel::result::Error> for CatalogError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl CatalogError {
    /// A validation failure of one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}
