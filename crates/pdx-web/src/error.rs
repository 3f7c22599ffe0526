//! Friendly error pages (404, 403, 500, 503) in the visitor's language, saying what happened
//! and what to do next, with the request id for support; the cause goes to the log only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::html;

use crate::page::{Ctx, frame, respond};

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Nothing here (or nothing this visitor may see).
    #[error("not found")]
    NotFound,
    /// The visitor may not see this.
    #[error("forbidden")]
    Forbidden,
    /// The server is overloaded or its database is down for a moment.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Something failed inside.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<pdx_catalog::CatalogError> for WebError {
    fn from(error: pdx_catalog::CatalogError) -> Self {
        use pdx_catalog::CatalogError as E;
        match error {
            E::DatasetNotFound | E::DistributionNotFound => WebError::NotFound,
            E::Forbidden { .. } => WebError::Forbidden,
            E::Storage(storage) if storage.is_transient() => {
                WebError::Unavailable(storage.to_string())
            }
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<pdx_access::AccessError> for WebError {
    fn from(error: pdx_access::AccessError) -> Self {
        use pdx_access::AccessError as E;
        match error {
            E::OrganizationNotFound
            | E::ApiKeyNotFound
            | E::UserNotFound
            | E::InvitationNotFound => WebError::NotFound,
            E::Forbidden { .. } => WebError::Forbidden,
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<pdx_licensing::LicensingError> for WebError {
    fn from(error: pdx_licensing::LicensingError) -> Self {
        use pdx_licensing::LicensingError as E;
        match error {
            E::Forbidden { .. } => WebError::Forbidden,
            E::RequestNotFound | E::GrantNotFound | E::LicenceNotFound => WebError::NotFound,
            E::Catalog(catalog) => catalog.into(),
            E::Access(access) => access.into(),
            E::Storage(storage) if storage.is_transient() => {
                WebError::Unavailable(storage.to_string())
            }
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<pdx_rows::RowsError> for WebError {
    fn from(error: pdx_rows::RowsError) -> Self {
        use pdx_rows::RowsError as E;
        match error {
            E::Catalog(catalog) => catalog.into(),
            E::Storage(storage) if storage.is_transient() => {
                WebError::Unavailable(storage.to_string())
            }
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<pdx_gateway::GatewayError> for WebError {
    fn from(error: pdx_gateway::GatewayError) -> Self {
        use pdx_gateway::GatewayError as E;
        match error {
            E::Catalog(catalog) => catalog.into(),
            E::NotApi | E::NotConfigured => WebError::NotFound,
            E::Storage(storage) if storage.is_transient() => {
                WebError::Unavailable(storage.to_string())
            }
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<pdx_circulation::LedgerError> for WebError {
    fn from(error: pdx_circulation::LedgerError) -> Self {
        WebError::Internal(error.to_string())
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The page for this error.
    pub fn page(&self, ctx: &Ctx) -> HttpResponse {
        match self {
            WebError::Unavailable(cause) => {
                tracing::warn!(cause, "page unavailable");
            }
            WebError::Internal(cause) => {
                tracing::error!(cause, "page failed");
            }
            WebError::NotFound | WebError::Forbidden => {}
        }
        let key = match self {
            WebError::NotFound => "not-found",
            WebError::Forbidden => "forbidden",
            WebError::Unavailable(_) => "unavailable",
            WebError::Internal(_) => "internal",
        };
        error_page(ctx, self.status(), key)
    }
}

fn error_page(ctx: &Ctx, status: StatusCode, key: &str) -> HttpResponse {
    let title = ctx.t(&format!("error-{key}-title"));
    let mut response = respond(
        status,
        frame(
            ctx,
            &title,
            html! {
                div.error-page {
                    p.status { (status.as_u16()) }
                    h1 { (title) }
                    p.lead { (ctx.t(&format!("error-{key}-body"))) }
                    ul.next {
                        li { a href="/" { (ctx.t("error-go-home")) } }
                        li { a href="/datasets" { (ctx.t("error-search")) } }
                    }
                    @if !ctx.request_id.is_empty() {
                        p.request-id {
                            (ctx.t("error-request-id")) " "
                            code { (ctx.request_id) }
                        }
                    }
                }
            },
        ),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("5"),
        );
    }
    response
}

/// The 404 page.
pub fn not_found_page(ctx: &Ctx) -> HttpResponse {
    WebError::NotFound.page(ctx)
}

/// The portal's answer to a path no route took.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    not_found_page(&Ctx::load(&req).await)
}

/// A page's result: the page, or the error page in the visitor's language.
pub type PageResult = Result<HttpResponse, (Ctx, WebError)>;

/// Renders a page result.
pub fn finish(result: PageResult) -> HttpResponse {
    match result {
        Ok(response) => response,
        Err((ctx, error)) => error.page(&ctx),
    }
}
