//! The PDX HTTP API: handlers, problem+json errors, request observation, and the OpenAPI
//! document, which is generated from the same registrations that build the route table.

pub mod accounting;
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod authn;
pub mod ckan;
pub mod datasets;
pub mod dcat;
pub mod distributions;
pub mod edge;
pub mod error;
pub mod etag;
pub mod exchange;
pub mod extract;
pub mod gateway;
pub mod health;
pub mod ledger;
pub mod licensing;
pub mod methods;
pub mod metrics;
pub mod observe;
pub mod organizations;
pub mod problems;
pub mod render;
pub mod rows;
pub mod schemas;
pub mod state;
pub mod vocabularies;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::{App, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
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
        (name = "auth", description = "OAuth 2.0 tokens, revocation and signing keys"),
        (name = "accounts", description = "The signed-in user, enterprise registration, password resets and invitations, confirmed by e-mail"),
        (name = "organizations", description = "Agencies, enterprises and their members"),
        (name = "api-keys", description = "Credentials for machine clients"),
        (name = "audit", description = "The audit trail of access control"),
        (name = "catalog", description = "Datasets, distributions, search and the publishing workflow"),
        (name = "licensing", description = "Licences and policies, offers, access requests, grants and access decisions"),
        (name = "exchange", description = "The data path: authorised, metered and logged before serving"),
        (name = "data services", description = "Tabular distributions as rows: ingestion, and row queries with column rights and masks, metered and logged like downloads"),
        (name = "gateway", description = "Live APIs of agencies called through PDX: each call decided and logged, forwarded with the credential PDX holds, its outcome logged"),
        (name = "ledger", description = "The circulation ledger: signed checkpoints, proofs, entries and export"),
        (name = "accounting", description = "Usage, statements and fees, counted from the ledger"),
        (name = "dcat", description = "DCAT-AP 3 catalog in Turtle, RDF/XML and JSON-LD"),
        (name = "ckan", description = "CKAN-compatible Action API (/api/3/action and /api/action)"),
        (name = "operations", description = "Health, readiness and metrics for operators"),
    ),
    components(schemas(
        Problem,
        schemas::RoleName,
        schemas::OrgKindName,
        schemas::PurposeName,
        schemas::SharingClassName,
        schemas::OpeningClassName,
        schemas::GradeName,
        schemas::SortName,
        accounting::OutcomeName,
        accounting::SideName,
        ledger::EntriesFormat,
        schemas::DecisionName,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme that protected operations refer to.
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from POST /api/v1/auth/token (EdDSA-signed JWT)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Registers every API handler; the single source of both the routes and the OpenAPI paths.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    // The data path first: actix tries routes in registration order.
    cfg.service(exchange::get_data)
        .service(rows::get_rows)
        .service(rows::start_ingestion)
        .service(rows::list_ingestions)
        .service(gateway::call_api)
        .service(gateway::put_upstream)
        .service(gateway::get_upstream)
        .service(gateway::delete_upstream)
        .service(auth::issue_token)
        .service(auth::revoke_token)
        .service(auth::jwks)
        .service(auth::server_metadata)
        .service(accounts::get_me)
        .service(accounts::change_password)
        .service(accounts::register_enterprise)
        .service(accounts::resend_confirmation)
        .service(accounts::confirm_registration)
        .service(accounts::request_password_reset)
        .service(accounts::complete_password_reset)
        .service(accounts::accept_invitation)
        .service(organizations::list_organizations)
        .service(organizations::create_organization)
        .service(organizations::get_organization)
        .service(organizations::update_organization)
        .service(organizations::set_verification)
        .service(organizations::list_members)
        .service(organizations::add_member)
        .service(organizations::set_member_roles)
        .service(organizations::remove_member)
        .service(organizations::list_invitations)
        .service(organizations::revoke_invitation)
        .service(organizations::resend_invitation)
        .service(api_keys::create_api_key)
        .service(api_keys::list_api_keys)
        .service(api_keys::revoke_api_key)
        .service(audit::list_audit_events)
        .service(datasets::search_datasets)
        .service(datasets::suggest_datasets)
        .service(datasets::create_dataset)
        .service(datasets::get_dataset)
        .service(datasets::update_dataset)
        .service(datasets::delete_dataset)
        .service(datasets::submit_dataset)
        .service(datasets::publish_dataset)
        .service(datasets::return_dataset)
        .service(datasets::withdraw_dataset)
        .service(datasets::revise_dataset)
        .service(datasets::list_versions)
        .service(distributions::create_distribution)
        .service(distributions::get_distribution)
        .service(distributions::update_distribution)
        .service(distributions::delete_distribution)
        .service(vocabularies::list_themes)
        .service(vocabularies::list_licences)
        .service(licensing::create_licence)
        .service(licensing::get_licence_policy)
        .service(licensing::get_offer)
        .service(licensing::put_offer)
        .service(licensing::submit_request)
        .service(licensing::list_requests)
        .service(licensing::get_request)
        .service(licensing::approve_request)
        .service(licensing::reject_request)
        .service(licensing::withdraw_request)
        .service(licensing::list_grants)
        .service(licensing::get_grant)
        .service(licensing::suspend_grant)
        .service(licensing::resume_grant)
        .service(licensing::revoke_grant)
        .service(licensing::get_access)
        .service(ledger::get_key)
        .service(ledger::get_checkpoint)
        .service(ledger::get_status)
        .service(ledger::get_inclusion_proof)
        .service(ledger::get_consistency_proof)
        .service(ledger::list_entries)
        .service(ledger::get_entry)
        .service(ledger::export)
        .service(accounting::get_usage)
        .service(accounting::get_statement)
        .service(accounting::get_anomalies)
        .service(accounting::get_disclosure)
        .service(accounting::put_disclosure_publication)
        .service(accounting::list_public_disclosures)
        .service(dcat::get_catalog)
        .service(dcat::get_dataset_rdf)
        .service(ckan::action_v3_get)
        .service(ckan::action_v3_post)
        .service(ckan::action_get)
        .service(ckan::action_post)
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics);
}

/// Adds the API to an application: routes, extractor error handling, the OpenAPI document
/// and its reference page. The server answers unknown paths, with [`not_found`] for those the
/// API [owns](owns_path).
pub fn mount<T>(app: App<T>) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let (app, mut openapi) = app
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    problems::document(&mut openapi);
    gateway::name_operations(&mut openapi);
    app.app_data(extract::json_config())
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .service(web::redirect("/api/docs", DOCS_PATH))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url(OPENAPI_PATH, openapi))
}

/// The OpenAPI document, exactly as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1;
    problems::document(&mut openapi);
    gateway::name_operations(&mut openapi);
    openapi
}

/// The OpenAPI document as committed at `openapi/openapi.json`: pretty JSON, final newline.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi().to_pretty_json().map(|json| json + "\n")
}

/// Whether a path is the API's (its unknown ones included, which answer problem+json): the
/// API, its reference, the well-known documents, DCAT, health and metrics. The portal has the
/// rest.
pub fn owns_path(path: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "/api/",
        "/.well-known/",
        "/dataset/",
        "/catalog.",
        "/healthz",
        "/readyz",
    ];
    path == "/api" || path == "/metrics" || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// No route took the request: 405 with `Allow` when the path exists with other methods,
/// otherwise 404.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    match methods::allowed(req.path()) {
        Some(allowed) if !allowed.contains(req.method()) => {
            Err(ApiError::MethodNotAllowed { allowed })
        }
        _ => Err(ApiError::NotFound),
    }
}
