//! The catalog's controlled vocabularies: themes and licences.

use actix_web::{HttpRequest, HttpResponse, get, web};
use pdx_catalog::vocabulary::THEMES;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::etag;
use crate::state::ApiState;

/// A theme of the catalog (EU Data Theme vocabulary).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThemeResponse {
    /// The code used in datasets and filters.
    #[schema(example = "TRAN")]
    pub code: String,
    /// English label.
    pub label_en: String,
    /// Chinese label.
    pub label_zh: String,
    /// The authority URI.
    pub uri: String,
}

/// The themes datasets can be filed under.
#[utoipa::path(tag = "catalog", responses((status = 200, description = "Themes", body = Vec<ThemeResponse>)))]
#[get("/api/v1/themes")]
pub(crate) async fn list_themes(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let themes: Vec<ThemeResponse> = THEMES
        .iter()
        .map(|t| ThemeResponse {
            code: t.code.to_owned(),
            label_en: t.label_en.to_owned(),
            label_zh: t.label_zh.to_owned(),
            uri: t.uri(),
        })
        .collect();
    etag::json(&req, &themes)
}

/// A licence template.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LicenceResponse {
    /// Its id, e.g. `CC-BY-4.0`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where its text is.
    pub url: String,
    /// Whether it is an open licence, usable for open data.
    pub open: bool,
}

/// The licences datasets can be published under.
#[utoipa::path(tag = "catalog", responses((status = 200, description = "Licences", body = Vec<LicenceResponse>)))]
#[get("/api/v1/licences")]
pub(crate) async fn list_licences(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let licences: Vec<LicenceResponse> = state
        .catalog
        .licences()
        .await?
        .into_iter()
        .map(|l| LicenceResponse {
            id: l.id,
            title: l.title,
            url: l.url,
            open: l.open,
        })
        .collect();
    etag::json(&req, &licences)
}
