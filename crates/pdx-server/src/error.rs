//! Why the server could not start: bad configuration, an unusable database, or a port in use.

use pdx_access::AccessError;
use pdx_storage::StorageError;

/// Startup failures of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Access control could not be set up (keys, bootstrap).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The catalog (its search index in particular) could not be opened.
    #[error(transparent)]
    Catalog(#[from] pdx_catalog::CatalogError),
    /// The data services could not be prepared.
    #[error(transparent)]
    Rows(#[from] pdx_rows::RowsError),
    /// The gateway could not be prepared.
    #[error(transparent)]
    Gateway(#[from] pdx_gateway::GatewayError),
    /// The demo could not be loaded.
    #[error("demo: {0}")]
    Demo(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ServerError {
    /// Wraps an I/O error with what was being attempted.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
