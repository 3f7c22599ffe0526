//! Errors of the gateway's configuration, named for what went wrong; the HTTP edge maps each
//! to a status. (A call's failures are outcomes, see [`crate::relay`].)

use pdx_catalog::CatalogError;
use pdx_storage::StorageError;

/// Why an upstream's configuration was not read or changed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A setting is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The distribution is a file, not an API.
    #[error("the distribution is a file, not an API, so it has no upstream")]
    NotApi,
    /// No upstream is configured for the API.
    #[error("no upstream is configured for this API")]
    NotConfigured,
    /// The stored credential cannot be opened with this server's key.
    #[error("the stored credential cannot be opened with this server's credential key")]
    Sealed,
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for GatewayError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(StorageError::from(error))
    }
}

impl GatewayError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}
