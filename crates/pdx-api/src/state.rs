//! What handlers share: the database pool, the domain services and the metrics handle,
//! built once by the server.

use metrics_exporter_prometheus::PrometheusHandle;
use pdx_access::AccessService;
use pdx_catalog::CatalogService;
use pdx_circulation::LedgerService;
use pdx_licensing::LicensingService;
use pdx_rows::RowService;
use pdx_storage::Database;

/// State shared by every handler, registered as `web::Data<ApiState>`.
#[derive(Clone)]
pub struct ApiState {
    /// The database pool.
    pub database: Database,
    /// Access control: tokens, users, organisations.
    pub access: AccessService,
    /// The catalog.
    pub catalog: CatalogService,
    /// Licences, offers, requests, grants and access decisions.
    pub licensing: LicensingService,
    /// The circulation ledger: checkpoints, proofs, entries.
    pub ledger: LedgerService,
    /// Data services: ingested tables and row queries.
    pub rows: RowService,
    /// The gateway of API distributions.
    pub gateway: pdx_gateway::GatewayService,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Security headers, client addresses, limits and who may read `/metrics`.
    pub edge: std::sync::Arc<crate::edge::Edge>,
}

impl ApiState {
    /// The public base URL (the token issuer), without a trailing slash, for absolute links.
    pub fn public_base(&self) -> String {
        self.access
            .tokens()
            .settings()
            .issuer
            .trim_end_matches('/')
            .to_owned()
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}
