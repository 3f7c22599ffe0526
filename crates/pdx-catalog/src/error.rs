//! Errors of the catalog, named for what went wrong; the HTTP edge maps each to a status.

use pdx_access::AccessError;
use pdx_core::ClassificationViolation;
use pdx_storage::{BlobError, StorageError};

use crate::model::DatasetStatus;

/// Why a catalog operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Submitted values are not acceptable: every field found wrong, and the classification
    /// rule the input breaks, if it breaks one (at least one of the two).
    #[error("{}", said(problems, classification.as_ref()))]
    InvalidInput {
        /// The offending fields, in the order of the input.
        problems: Vec<FieldProblem>,
        /// The classification rule broken (DESIGN §3).
        classification: Option<ClassificationViolation>,
    },
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

/// A submitted value that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// The problems of an input in one sentence.
fn said(problems: &[FieldProblem], classification: Option<&ClassificationViolation>) -> String {
    let mut parts: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    if let Some(violation) = classification {
        parts.push(format!("classification rejected: {violation}"));
    }
    parts.join("; ")
}

impl CatalogError {
    /// A validation failure of one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::refused(
            vec![FieldProblem {
                field,
                message: message.into(),
            }],
            None,
        )
    }

    /// A refusal of an input: its field problems and the classification rule it breaks.
    pub fn refused(
        problems: Vec<FieldProblem>,
        classification: Option<ClassificationViolation>,
    ) -> Self {
        Self::InvalidInput {
            problems,
            classification,
        }
    }
}
