//! DCAT-AP 3 endpoints: the catalog (paged with Hydra links, filterable by `q` and
//! `modified_since`) and single datasets, as Turtle, RDF/XML or JSON-LD.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use pdx_catalog::dcat::{self, CatalogPage, RdfFormat};
use pdx_catalog::search::{SearchQuery, Sort};
use pdx_core::PageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::authn::MaybeAuthenticated;
use crate::error::{ApiError, Problem};
use crate::etag;
use crate::state::ApiState;

/// Filters and paging of the DCAT-AP catalog.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogParams {
    /// Full-text query.
    pub q: Option<String>,
    /// Only datasets modified since this instant (RFC 3339) or date (YYYY-MM-DD).
    pub modified_since: Option<String>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Datasets per page, at most 100.
    pub per_page: Option<u32>,
}

fn format_of(extension: &str) -> Result<RdfFormat, ApiError> {
    RdfFormat::from_extension(extension).ok_or(ApiError::NotFound)
}

fn parse_since(raw: &str) -> Result<chrono::NaiveDateTime, ApiError> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(raw) {
        return Ok(instant.with_timezone(&Utc).naive_utc());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .ok_or_else(|| {
            ApiError::InvalidQuery("modified_since must be RFC 3339 or YYYY-MM-DD".into())
        })
}

fn io(error: std::io::Error) -> ApiError {
    ApiError::internal(error)
}

/// The catalog in DCAT-AP 3: `/catalog.ttl`, `/catalog.rdf` or `/catalog.jsonld`, one page of
/// published datasets with Hydra `first`/`previous`/`next`/`last` links.
#[utoipa::path(
    tag = "dcat",
    params(("format" = String, Path, description = "`ttl`, `rdf` or `jsonld`"), CatalogParams),
    responses(
        (status = 200, description = "The catalog page", content(
            (String = "text/turtle"), (String = "application/rdf+xml"), (String = "application/ld+json"))),
        (status = 400, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/catalog.{format:(ttl|rdf|jsonld)}")]
pub(crate) async fn get_catalog(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    params: web::Query<CatalogParams>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&path)?;
    let page = PageRequest::new(params.page, Some(params.per_page.unwrap_or(100)));
    let query = SearchQuery {
        text: params.q.clone(),
        modified_since: params
            .modified_since
            .as_deref()
            .map(parse_since)
            .transpose()?,
        sort: Sort::Modified,
        offset: page.offset(),
        limit: page.limit(),
        ..SearchQuery::default()
    };
    let found = state.catalog.search(query, page).await?;
    let licences = state.catalog.licences().await?;
    let mut kept: Vec<(String, String)> = Vec::new();
    if let Some(q) = &params.q {
        kept.push(("q".into(), q.clone()));
    }
    if let Some(since) = &params.modified_since {
        kept.push(("modified_since".into(), since.clone()));
    }
    kept.push(("per_page".into(), page.per_page.to_string()));
    let paging = CatalogPage {
        page: page.page,
        per_page: page.per_page,
        total: found.page.total,
        query: serde_urlencoded::to_string(&kept).unwrap_or_default(),
    };
    let body = dcat::catalog(
        &state.public_base(),
        &found.page.items,
        &licences,
        &paging,
        format,
    )
    .map_err(io)?;
    Ok(etag::bytes(&req, body, format.media_type()))
}

/// One dataset in DCAT-AP 3: `/dataset/{id}.ttl`, `.rdf` or `.jsonld` (by id or slug).
#[utoipa::path(
    tag = "dcat",
    params(
        ("id" = String, Path, description = "Dataset id or slug"),
        ("format" = String, Path, description = "`ttl`, `rdf` or `jsonld`"),
    ),
    responses(
        (status = 200, description = "The dataset", content(
            (String = "text/turtle"), (String = "application/rdf+xml"), (String = "application/ld+json"))),
        (status = 404, description = "No such dataset, or not visible", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dataset/{id:[^/.]+}.{format:(ttl|rdf|jsonld)}")]
pub(crate) async fn get_dataset_rdf(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, extension) = path.into_inner();
    let format = format_of(&extension)?;
    let view = state.catalog.dataset(principal.as_ref(), &id).await?;
    let licences = state.catalog.licences().await?;
    let body = dcat::dataset(&state.public_base(), &view, &licences, format).map_err(io)?;
    Ok(etag::bytes(&req, body, format.media_type()))
}
