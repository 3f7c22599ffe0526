//! Errors of licensing, named for what went wrong; the HTTP edge maps each to a status.

use pdx_access::AccessError;
use pdx_catalog::CatalogError;
use pdx_storage::StorageError;

use crate::policy::PolicyError;

/// Why a licensing operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LicensingError {
    /// A submitted value is not acceptable.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The policy document is outside the supported ODRL subset.
    #[error("policy rejected: {0}")]
    Policy(#[from] PolicyError),
    /// The classification forbids this requester the dataset.
    #[error("the dataset's classification does not allow {0} to obtain it")]
    ClassificationForbids(&'static str),
    /// No such request (or not visible).
    #[error("access request not found")]
    RequestNotFound,
    /// No such grant (or not visible).
    #[error("grant not found")]
    GrantNotFound,
    /// No such licence.
    #[error("licence not found")]
    LicenceNotFound,
    /// Another licence has this id.
    #[error("a licence with this id already exists")]
    LicenceTaken,
    /// The state does not allow this action.
    #[error("cannot {action} {what} that is {from}")]
    IllegalTransition {
        /// What is being changed.
        what: &'static str,
        /// Its current state.
        from: String,
        /// The action attempted.
        action: &'static str,
    },
    /// The caller's organisation is not verified yet, so it cannot ask for data.
    #[error(
        "your organisation is awaiting verification by the platform; it can request data once verified"
    )]
    OrganizationNotVerified,
    /// The caller may not do this.
    #[error("not permitted: {check}")]
    Forbidden {
        /// The named check.
        check: &'static str,
    },
    /// The catalog failed (e.g. the dataset does not exist).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Access control failed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for LicensingError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl LicensingError {
    /// A validation failure of one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}
