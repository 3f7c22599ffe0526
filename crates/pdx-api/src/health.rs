//! Operational endpoints for load balancers and monitoring: liveness, readiness
//! (the database answers and is migrated) and Prometheus metrics.

use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, get, web};
use pdx_storage::instance;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::ApiState;

/// Longest a readiness probe waits for the database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness: the server can serve requests.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// Always `ready` (an unready server answers 503).
    #[schema(example = "ready")]
    pub status: String,
    /// The database backend: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
    /// The identity of this installation's database.
    pub instance_id: String,
    /// The PDX version serving.
    #[schema(example = "0.1.0")]
    pub version: String,
}

/// Liveness probe: answers as long as the process runs.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health))
)]
#[get("/healthz")]
pub(crate) async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness probe: the database answers and holds a migrated PDX schema.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready; retry later", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<ApiState>) -> Result<web::Json<Readiness>, ApiError> {
    if state.database.breaker().open_cause().is_some() {
        return Err(ApiError::DatabaseUnreachable);
    }
    let database = state.database.clone();
    let loaded = tokio::time::timeout(READINESS_TIMEOUT, async move {
        database.run(instance::load).await
    })
    .await
    .map_err(|elapsed| ApiError::Unavailable(Box::new(elapsed)))?;
    let instance = loaded.map_err(|error| ApiError::Unavailable(Box::new(error)))?;
    Ok(web::Json(Readiness {
        status: "ready".to_owned(),
        database: state.database.backend().to_string(),
        instance_id: instance.id.to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }))
}

/// Prometheus metrics in the text exposition format (version 0.0.4).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Metrics", body = String,
         content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "A metrics token is configured and was not presented",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub(crate) async fn metrics(
    req: actix_web::HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    if !state.edge.may_read_metrics(&req) {
        return Err(ApiError::invalid_token(
            "the metrics need `Authorization: Bearer <metrics token>`",
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(state.metrics.render()))
}
