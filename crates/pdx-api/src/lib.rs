//! The PDX HTTP API: handlers, problem+json errors, request observation, and the OpenAPI
//! document, which is generated from the same registrations that build the route table.

pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod state;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::{App, web};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};
pub use observe::observe;
pub use state::ApiState;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where the human-readable API reference is served.
pub const DOCS_PATH: &str = "/api/docs/";

/// The OpenAPI document's fixed parts; paths and schemas are collected from the routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "PDX — Public Data Exchange",
        description = "Catalog, exchange and circulation ledger for public data. \
Every error is an RFC 9457 `application/problem+json` body with a stable `code`; \
every response carries an `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "operations", description = "Health, readiness and metrics for operators"),
    ),
    components(schemas(Problem)),
)]
pub struct ApiDoc;

/// Registers every API handler; the single source of both the routes and the OpenAPI paths.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics);
}

/// Adds the API to an application: routes, extractor error handling, the OpenAPI document
/// and its reference page, and the problem+json answer for unknown paths.
pub fn mount<T>(app: App<T>) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let (app, openapi) = app
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    app.app_data(extract::json_config())
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .service(web::redirect("/api/docs", DOCS_PATH))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url(OPENAPI_PATH, openapi))
        .default_service(web::to(not_found))
}

/// The OpenAPI document, exactly as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1
}

/// The OpenAPI document as committed at `openapi/openapi.json`: pretty JSON, final newline.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi().to_pretty_json().map(|json| json + "\n")
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
