//! Datasets: search with facets, reads with ETags, and the publishing lifecycle
//! (create, edit, submit, publish or return, withdraw, revise) with version history.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::NaiveDate;
use pdx_catalog::DatasetView;
use pdx_catalog::model::{
    DatasetInput, DatasetStatus, DatasetVersion, LifecycleAction, Translation,
};
use pdx_catalog::search::{FacetCount, Facets, SearchQuery, Sort};
use pdx_core::{Classification, DataGrade, OpeningClass, PageRequest, SharingClass};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::{Authenticated, Context, MaybeAuthenticated};
use crate::distributions::DistributionResponse;
use crate::error::{ApiError, Problem};
use crate::etag;
use crate::schemas::{GradeName, OpeningClassName, SharingClassName, SortName};
use crate::state::ApiState;

/// A dataset's metadata, as a publisher writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRequest {
    /// URL-safe name; derived from the title when absent.
    #[schema(example = "shenzhen-bus-stops")]
    pub slug: Option<String>,
    /// Title, in the dataset's own language (the first of `languages`).
    #[schema(example = "深圳市公交站点", min_length = 1, max_length = 300)]
    pub title: String,
    /// Description, in the same language.
    pub description: String,
    /// Title and description in other languages than the first of `languages`, by ISO 639-1
    /// code, e.g. `{"en": {"title": "Shenzhen bus stops", "description": "…"}}`.
    #[serde(default)]
    #[schema(example = json!({"en": {"title": "Shenzhen bus stops", "description": "Every bus stop of the city, updated daily."}}))]
    pub translations: BTreeMap<String, TranslationBody>,
    /// Free keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Theme codes from `/api/v1/themes`.
    #[serde(default)]
    #[schema(example = json!(["TRAN"]))]
    pub themes: Vec<String>,
    /// Contact point name.
    pub contact_name: Option<String>,
    /// Contact point e-mail.
    pub contact_email: Option<String>,
    /// Spatial coverage.
    pub spatial: Option<String>,
    /// Start of temporal coverage (YYYY-MM-DD).
    pub temporal_start: Option<NaiveDate>,
    /// End of temporal coverage (YYYY-MM-DD).
    pub temporal_end: Option<NaiveDate>,
    /// `continuous`, `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `annual`, `irregular`, `unknown`.
    #[schema(example = "daily")]
    pub update_frequency: String,
    /// ISO 639-1 language codes.
    #[schema(example = json!(["zh", "en"]))]
    pub languages: Vec<String>,
    /// Resource code in the government resource catalog.
    pub resource_code: Option<String>,
    /// `unconditional`, `conditional` or `none`.
    #[schema(value_type = SharingClassName, example = "unconditional")]
    pub sharing_class: SharingClass,
    /// `open`, `conditional` or `closed`.
    #[schema(value_type = OpeningClassName, example = "open")]
    pub opening_class: OpeningClass,
    /// `general`, `important` or `core`.
    #[schema(value_type = GradeName, example = "general")]
    pub grade: DataGrade,
    /// Licence id from `/api/v1/licences`; required when the opening class is `open`.
    #[schema(example = "CC-BY-4.0")]
    pub licence: Option<String>,
    /// Landing page URL.
    pub landing_page: Option<String>,
}

impl From<DatasetRequest> for DatasetInput {
    fn from(r: DatasetRequest) -> Self {
        Self {
            slug: r.slug,
            title: r.title,
            description: r.description,
            translations: r
                .translations
                .into_iter()
                .map(|(language, t)| (language, t.into()))
                .collect(),
            keywords: r.keywords,
            themes: r.themes,
            contact_name: r.contact_name,
            contact_email: r.contact_email,
            spatial: r.spatial,
            temporal_start: r.temporal_start,
            temporal_end: r.temporal_end,
            update_frequency: r.update_frequency,
            languages: r.languages,
            resource_code: r.resource_code,
            classification: Classification {
                sharing: r.sharing_class,
                opening: r.opening_class,
                grade: r.grade,
            },
            licence: r.licence,
            landing_page: r.landing_page,
        }
    }
}

/// A dataset's title and description in another language.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslationBody {
    /// The title in that language.
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    /// The description in that language (empty or absent: none).
    #[serde(default)]
    pub description: String,
}

impl From<TranslationBody> for Translation {
    fn from(t: TranslationBody) -> Self {
        Self {
            title: t.title,
            description: t.description,
        }
    }
}

impl From<Translation> for TranslationBody {
    fn from(t: Translation) -> Self {
        Self {
            title: t.title,
            description: t.description,
        }
    }
}

/// The publishing agency, in brief.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublisherSummary {
    /// Organisation id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// A dataset as shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatasetResponse {
    /// Dataset id.
    pub id: String,
    /// URL-safe name.
    pub slug: String,
    /// Title, in the dataset's own language (the first of `languages`).
    pub title: String,
    /// Description.
    pub description: String,
    /// Title and description in other languages, by ISO 639-1 code.
    #[serde(default)]
    pub translations: BTreeMap<String, TranslationBody>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Theme codes.
    pub themes: Vec<String>,
    /// Contact point name.
    pub contact_name: Option<String>,
    /// Contact point e-mail.
    pub contact_email: Option<String>,
    /// Spatial coverage.
    pub spatial: Option<String>,
    /// Start of temporal coverage.
    pub temporal_start: Option<NaiveDate>,
    /// End of temporal coverage.
    pub temporal_end: Option<NaiveDate>,
    /// Update frequency.
    pub update_frequency: String,
    /// Languages.
    pub languages: Vec<String>,
    /// Resource code.
    pub resource_code: Option<String>,
    /// Sharing class.
    #[schema(value_type = String)]
    pub sharing_class: SharingClass,
    /// Opening class.
    #[schema(value_type = String)]
    pub opening_class: OpeningClass,
    /// Data grade.
    #[schema(value_type = String)]
    pub grade: DataGrade,
    /// Licence id.
    pub licence: Option<String>,
    /// Landing page.
    pub landing_page: Option<String>,
    /// `draft`, `in_review`, `published` or `withdrawn`.
    #[schema(value_type = String)]
    pub status: DatasetStatus,
    /// Latest published version (0 if never published).
    pub version: i32,
    /// The reviewer's comment when returned.
    pub review_comment: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last modified (RFC 3339).
    pub modified_at: String,
    /// First published (RFC 3339).
    pub published_at: Option<String>,
    /// The publishing agency.
    pub publisher: PublisherSummary,
    /// Files and API endpoints.
    pub distributions: Vec<DistributionResponse>,
    /// Only in the owning agency's view of a dataset under revision (whose fields above are the
    /// pending revision's): the published version, as everyone else sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub published_version: Option<Box<DatasetResponse>>,
}

impl From<DatasetView> for DatasetResponse {
    fn from(view: DatasetView) -> Self {
        let d = view.dataset;
        Self {
            id: d.id.to_string(),
            slug: d.slug,
            title: d.title,
            description: d.description,
            translations: d
                .translations
                .into_iter()
                .map(|(language, t)| (language, t.into()))
                .collect(),
            keywords: d.keywords,
            themes: d.themes,
            contact_name: d.contact_name,
            contact_email: d.contact_email,
            spatial: d.spatial,
            temporal_start: d.temporal_start,
            temporal_end: d.temporal_end,
            update_frequency: d.update_frequency,
            languages: d.languages,
            resource_code: d.resource_code,
            sharing_class: d.classification.sharing,
            opening_class: d.classification.opening,
            grade: d.classification.grade,
            licence: d.licence,
            landing_page: d.landing_page,
            status: d.status,
            version: d.version,
            review_comment: d.review_comment,
            created_at: d.created_at.to_rfc3339(),
            modified_at: d.modified_at.to_rfc3339(),
            published_at: d.published_at.map(|t| t.to_rfc3339()),
            publisher: PublisherSummary {
                id: view.publisher.id.to_string(),
                slug: view.publisher.slug,
                name: view.publisher.name,
            },
            distributions: view.distributions.into_iter().map(Into::into).collect(),
            published_version: view.published.map(|p| Box::new(Self::from(*p))),
        }
    }
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Full-text query over title, keywords, description, publisher, place and themes, in
    /// Chinese or English: every word must match (English words in any inflection; a typo is
    /// forgiven in queries of up to three words); "quoted words" must appear together. At most
    /// 500 characters.
    #[param(max_length = 500)]
    pub q: Option<String>,
    /// Theme code.
    pub theme: Option<String>,
    /// Keyword.
    pub keyword: Option<String>,
    /// Distribution format, e.g. `CSV`.
    pub format: Option<String>,
    /// Publishing organisation (slug or id).
    pub publisher: Option<String>,
    /// `open`, `conditional` or `closed`.
    #[param(value_type = Option<OpeningClassName>)]
    pub opening_class: Option<OpeningClass>,
    /// `unconditional`, `conditional` or `none`.
    #[param(value_type = Option<SharingClassName>)]
    pub sharing_class: Option<SharingClass>,
    /// Data grade: `general`, `important` or `core`.
    #[param(value_type = Option<GradeName>)]
    pub grade: Option<DataGrade>,
    /// Licence id.
    pub licence: Option<String>,
    /// `relevance` (default), `modified` or `title`.
    #[param(value_type = Option<SortName>)]
    pub sort: Option<SortName>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, at most 100.
    pub per_page: Option<u32>,
    /// `true`: the caller's own organisation's datasets in every status (no text search).
    pub mine: Option<bool>,
}

/// One facet value with its count.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FacetValue {
    /// The value (what the filter of the same name takes).
    pub value: String,
    /// Matching datasets with it.
    pub count: i64,
    /// What the value names: a publisher's name, a theme's labels (Chinese and English), a
    /// licence's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Facet counts over all matching datasets.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FacetsResponse {
    /// By theme code.
    pub theme: Vec<FacetValue>,
    /// By publishing organisation id.
    pub publisher: Vec<FacetValue>,
    /// By distribution format.
    pub format: Vec<FacetValue>,
    /// By opening class.
    pub opening_class: Vec<FacetValue>,
    /// By sharing class.
    pub sharing_class: Vec<FacetValue>,
    /// By data grade.
    #[serde(default)]
    pub grade: Vec<FacetValue>,
    /// By licence.
    pub licence: Vec<FacetValue>,
    /// By keyword.
    pub keyword: Vec<FacetValue>,
}

fn facet(values: Vec<FacetCount>) -> Vec<FacetValue> {
    values
        .into_iter()
        .map(|f| FacetValue {
            value: f.value,
            count: f.count,
            name: f.name,
        })
        .collect()
}

impl From<Facets> for FacetsResponse {
    fn from(f: Facets) -> Self {
        Self {
            theme: facet(f.theme),
            publisher: facet(f.publisher),
            format: facet(f.format),
            opening_class: facet(f.opening_class),
            sharing_class: facet(f.sharing_class),
            grade: facet(f.grade),
            licence: facet(f.licence),
            keyword: facet(f.keyword),
        }
    }
}

/// A page of search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatasetPage {
    /// The datasets of this page.
    pub items: Vec<DatasetResponse>,
    /// How many match in all.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Facet counts over all matches.
    pub facets: FacetsResponse,
    /// For a text query: the matched words of each dataset of the page, by dataset id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub highlights: BTreeMap<String, HighlightResponse>,
}

/// The words of a dataset that matched a text query: HTML-escaped text with each matched word
/// in `<mark>`, ready to insert into a page.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HighlightResponse {
    /// The title.
    pub title: String,
    /// The passage of the description with the most matched words; empty when none matched.
    pub description: String,
    /// The same of the dataset's translations, by ISO 639-1 language code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(no_recursion)]
    pub translations: BTreeMap<String, HighlightResponse>,
}

impl From<pdx_catalog::search::Highlight> for HighlightResponse {
    fn from(highlight: pdx_catalog::search::Highlight) -> Self {
        Self {
            title: highlight.title,
            description: highlight.description,
            translations: highlight
                .translations
                .into_iter()
                .map(|(language, marked)| (language, Self::from(marked)))
                .collect(),
        }
    }
}

/// The longest text query accepted, in characters.
const MAX_QUERY_CHARS: usize = 500;

/// Refuses a text query longer than [`MAX_QUERY_CHARS`].
fn check_query_text(q: Option<&str>) -> Result<(), ApiError> {
    match q {
        Some(text) if text.chars().count() > MAX_QUERY_CHARS => Err(ApiError::Validation {
            code: "invalid_parameter",
            field: "q".into(),
            message: format!("longer than {MAX_QUERY_CHARS} characters"),
        }),
        _ => Ok(()),
    }
}

/// Values per facet in search answers.
const FACET_LIMIT: i64 = 20;

/// Parses the search parameters into a catalog query.
pub(crate) async fn search_query(
    state: &ApiState,
    params: &SearchParams,
    page: PageRequest,
) -> Result<Option<SearchQuery>, ApiError> {
    check_query_text(params.q.as_deref())?;
    let sort = match params.sort {
        None | Some(SortName::Relevance) => Sort::Relevance,
        Some(SortName::Modified) => Sort::Modified,
        Some(SortName::Title) => Sort::Title,
    };
    let publisher = match params.publisher.as_deref() {
        Some(key) => match state.catalog.organization_id(key).await? {
            Some(id) => Some(id.to_string()),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(Some(SearchQuery {
        text: params.q.clone(),
        theme: params.theme.as_ref().map(|t| t.to_ascii_uppercase()),
        keyword: params.keyword.clone(),
        format: params.format.clone(),
        publisher,
        opening_class: params.opening_class.map(|c| c.as_str().to_owned()),
        sharing_class: params.sharing_class.map(|c| c.as_str().to_owned()),
        grade: params.grade.map(|g| g.as_str().to_owned()),
        licence: params.licence.clone(),
        modified_since: None,
        sort,
        offset: page.offset(),
        limit: page.limit(),
        facet_limit: FACET_LIMIT,
    }))
}

/// Searches the published catalog: full text in Chinese or English, filters, facet counts,
/// sorting and paging. With `mine=true`, lists the caller's organisation's datasets instead.
#[utoipa::path(
    tag = "catalog",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of datasets with facets", body = DatasetPage),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "Unknown parameters", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter of the wrong type or out of range (`q` longer than 500 characters)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/datasets")]
pub(crate) async fn search_datasets(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::new(params.page, params.per_page);
    if params.mine == Some(true) {
        let principal = principal
            .ok_or_else(|| ApiError::authentication_required("`mine` needs an access token"))?;
        let found = state
            .catalog
            .organization_datasets(&principal, page)
            .await?;
        let body = DatasetPage {
            total: found.total,
            page: found.page,
            per_page: found.per_page,
            items: found.items.into_iter().map(Into::into).collect(),
            facets: FacetsResponse::default(),
            highlights: BTreeMap::new(),
        };
        return etag::json(&req, &body);
    }
    let Some(query) = search_query(&state, &params, page).await? else {
        let body = DatasetPage {
            items: Vec::new(),
            total: 0,
            page: page.page,
            per_page: page.per_page,
            facets: FacetsResponse::default(),
            highlights: BTreeMap::new(),
        };
        return etag::json(&req, &body);
    };
    let found = state.catalog.search_rendered(query, page).await?;
    let highlights: BTreeMap<String, HighlightResponse> = found
        .highlights
        .into_iter()
        .map(|(id, h)| (id, HighlightResponse::from(h)))
        .collect();
    let body = rendered_page(
        &found.page,
        &FacetsResponse::from(found.facets),
        &highlights,
    )?;
    Ok(etag::bytes(&req, body, "application/json"))
}

/// A [`DatasetPage`] as JSON, its items the datasets as the search index rendered them.
fn rendered_page(
    page: &pdx_core::Page<Vec<u8>>,
    facets: &FacetsResponse,
    highlights: &BTreeMap<String, HighlightResponse>,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(page.items.iter().map(Vec::len).sum::<usize>() + 4096);
    body.extend_from_slice(b"{\"items\":[");
    for (i, item) in page
        .items
        .iter()
        .filter(|item| !item.is_empty())
        .enumerate()
    {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(
        format!(
            "],\"total\":{},\"page\":{},\"per_page\":{},\"facets\":",
            page.total, page.page, page.per_page
        )
        .as_bytes(),
    );
    serde_json::to_writer(&mut body, facets).map_err(ApiError::internal)?;
    if !highlights.is_empty() {
        body.extend_from_slice(b",\"highlights\":");
        serde_json::to_writer(&mut body, highlights).map_err(ApiError::internal)?;
    }
    body.push(b'}');
    Ok(body)
}

/// Parameters of search-box suggestions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// What has been typed so far (Chinese or English); the last word is completed. At most
    /// 500 characters; nothing typed, nothing suggested.
    #[param(max_length = 500)]
    pub q: Option<String>,
    /// Suggestions of each kind, 1 to 20 (default 8).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<u32>,
}

/// Suggestions for a search box.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuggestResponse {
    /// Published datasets whose title or keywords match what was typed, best first.
    pub datasets: Vec<SuggestedDatasetResponse>,
    /// Keywords containing what was typed, among matching datasets, most used first.
    pub keywords: Vec<FacetValue>,
}

/// A dataset offered as a completion.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuggestedDatasetResponse {
    /// Dataset id.
    pub id: String,
    /// URL-safe name.
    pub slug: String,
    /// Title.
    pub title: String,
    /// The title, HTML-escaped, with the typed words in `<mark>`.
    pub highlight: String,
}

/// Suggestions for a search box as it is typed into: titles of published datasets and
/// keywords that complete the words typed so far, in Chinese or English.
#[utoipa::path(
    tag = "catalog",
    params(SuggestParams),
    responses(
        (status = 200, description = "Completions", body = SuggestResponse),
        (status = 400, description = "Unknown parameters", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter out of range (`q` too long, `limit` not 1 to 20)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/datasets/suggest")]
pub(crate) async fn suggest_datasets(
    req: HttpRequest,
    state: web::Data<ApiState>,
    params: web::Query<SuggestParams>,
) -> Result<HttpResponse, ApiError> {
    check_query_text(params.q.as_deref())?;
    let limit = match params.limit {
        None => 8,
        Some(limit @ 1..=20) => limit,
        Some(_) => {
            return Err(ApiError::Validation {
                code: "invalid_parameter",
                field: "limit".into(),
                message: "must be 1 to 20".into(),
            });
        }
    };
    let found = state.catalog.suggest(
        params.q.as_deref().unwrap_or_default(),
        usize::try_from(limit).unwrap_or(8),
    )?;
    let body = SuggestResponse {
        datasets: found
            .datasets
            .into_iter()
            .map(|d| SuggestedDatasetResponse {
                id: d.id,
                slug: d.slug,
                title: d.title,
                highlight: d.highlight,
            })
            .collect(),
        keywords: facet(found.keywords),
    };
    etag::json(&req, &body)
}

/// Creates a draft dataset in the caller's agency (publishers and admins of agencies).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    request_body = DatasetRequest,
    responses(
        (status = 201, description = "Created as a draft", body = DatasetResponse),
        (status = 403, description = "Not a publisher of an agency", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid metadata or classification (the rule is named)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/datasets")]
pub(crate) async fn create_dataset(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    body: web::Json<DatasetRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .catalog
        .create_dataset(&principal, body.into_inner().into(), &context)
        .await?;
    Ok(HttpResponse::Created().json(DatasetResponse::from(view)))
}

/// One dataset by id or slug. Drafts are visible only within the owning agency. While a
/// revision of a published dataset is pending, everyone sees the published version; the owning
/// agency (and platform admins and auditors) see the revision, with the published version in
/// `published_version`.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, description = "Dataset id or slug")),
    responses(
        (status = 200, description = "The dataset", body = DatasetResponse),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, description = "No such dataset, or not visible", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/datasets/{id}")]
pub(crate) async fn get_dataset(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Anyone sees a published dataset as the search index rendered it; the database answers
    // the rest (drafts and revisions for those who may see them, withdrawn records).
    if principal.is_none()
        && let Some(rendered) = state.catalog.rendered(&path)?
    {
        return Ok(etag::bytes(&req, rendered, "application/json"));
    }
    let view = state.catalog.dataset(principal.as_ref(), &path).await?;
    etag::json(&req, &DatasetResponse::from(view))
}

/// Replaces a draft's metadata, or a pending revision's (publishers and admins of the owning
/// agency); the published version stays public as it is until the revision is published.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id or slug")),
    request_body = DatasetRequest,
    responses(
        (status = 200, description = "Updated", body = DatasetResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid metadata or classification", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/datasets/{id}")]
pub(crate) async fn update_dataset(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    body: web::Json<DatasetRequest>,
) -> Result<web::Json<DatasetResponse>, ApiError> {
    let view = state
        .catalog
        .update_dataset(&principal, &path, body.into_inner().into(), &context)
        .await?;
    Ok(web::Json(view.into()))
}

/// Deletes a draft that was never published, with its files.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id or slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Published once; withdraw it instead", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/datasets/{id}")]
pub(crate) async fn delete_dataset(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .catalog
        .delete_dataset(&principal, &path, &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A reviewer's comment or a withdrawal reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// Required when returning a dataset; optional otherwise.
    pub comment: Option<String>,
}

async fn transition(
    state: &ApiState,
    principal: &pdx_core::Principal,
    id: &str,
    action: LifecycleAction,
    body: Option<web::Json<TransitionRequest>>,
    context: &pdx_access::RequestContext,
) -> Result<web::Json<DatasetResponse>, ApiError> {
    let comment = body.and_then(|b| b.into_inner().comment);
    let view = state
        .catalog
        .transition(principal, id, action, comment, context)
        .await?;
    Ok(web::Json(view.into()))
}

macro_rules! lifecycle_endpoint {
    ($name:ident, $path:literal, $action:expr, $doc:literal, $who:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "catalog",
            security(("bearer" = [])),
            params(("id" = String, Path, description = "Dataset id or slug")),
            request_body(content = Option<TransitionRequest>, description = "Optional comment"),
            responses(
                (status = 200, description = "The dataset after the transition", body = DatasetResponse),
                (status = 403, description = $who, body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not allowed from the current status", body = Problem,
                 content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub(crate) async fn $name(
            state: web::Data<ApiState>,
            Authenticated(principal): Authenticated,
            Context(context): Context,
            path: web::Path<String>,
            body: Option<web::Json<TransitionRequest>>,
        ) -> Result<web::Json<DatasetResponse>, ApiError> {
            transition(&state, &principal, &path, $action, body, &context).await
        }
    };
}

lifecycle_endpoint!(
    submit_dataset,
    "/api/v1/datasets/{id}/submit",
    LifecycleAction::Submit,
    "Submits a draft for review (publishers and admins of the owning agency).",
    "Not a publisher of the owning agency"
);
lifecycle_endpoint!(
    publish_dataset,
    "/api/v1/datasets/{id}/publish",
    LifecycleAction::Publish,
    "Approves a dataset (or its revision) in review and publishes it as a new version, replacing the published one at once (reviewers and admins of the owning agency).",
    "Not a reviewer of the owning agency"
);
lifecycle_endpoint!(
    return_dataset,
    "/api/v1/datasets/{id}/return",
    LifecycleAction::Return,
    "Returns a dataset (or its revision) in review to its publisher with a comment; a published version stays public (reviewers and admins of the owning agency).",
    "Not a reviewer of the owning agency"
);
lifecycle_endpoint!(
    withdraw_dataset,
    "/api/v1/datasets/{id}/withdraw",
    LifecycleAction::Withdraw,
    "Withdraws a published dataset from the catalog; its versions stay readable (reviewers and admins).",
    "Not a reviewer of the owning agency"
);
lifecycle_endpoint!(
    revise_dataset,
    "/api/v1/datasets/{id}/revise",
    LifecycleAction::Revise,
    "Starts a new version of a published or withdrawn dataset: a pending revision (a draft, seen and edited by the owning agency) beside the published version, which stays public, searchable and obtainable as it is until the revision is published. A withdrawn dataset stays withdrawn meanwhile.",
    "Not a publisher of the owning agency"
);

/// A published version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionResponse {
    /// Version number, from 1.
    pub version: i32,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// Who published it (user id).
    pub published_by: String,
    /// The dataset and its distributions as published.
    #[schema(value_type = Object)]
    pub snapshot: serde_json::Value,
}

impl From<DatasetVersion> for VersionResponse {
    fn from(v: DatasetVersion) -> Self {
        Self {
            version: v.version,
            published_at: v.published_at.to_rfc3339(),
            published_by: v.published_by,
            snapshot: v.snapshot,
        }
    }
}

/// Every published version of a dataset, newest first.
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, description = "Dataset id or slug")),
    responses(
        (status = 200, description = "Versions, newest first", body = Vec<VersionResponse>),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/datasets/{id}/versions")]
pub(crate) async fn list_versions(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions: Vec<VersionResponse> = state
        .catalog
        .versions(principal.as_ref(), &path)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    etag::json(&req, &versions)
}
