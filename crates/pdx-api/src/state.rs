//! What handlers share: the database pool and the metrics handle, built once by the server.

use metrics_exporter_prometheus::PrometheusHandle;
use pdx_storage::Database;

/// State shared by every handler, registered as `web::Data<ApiState>`.
#[derive(Clone)]
pub struct ApiState {
    /// The database pool.
    pub database: Database,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}
