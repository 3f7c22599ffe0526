//! The CKAN-compatible Action API (`/api/3/action/…` and `/api/action/…`, GET and POST) with
//! CKAN's `{help, success, result}` envelope and `error.__type` errors, so CKAN clients and
//! harvesters (e.g. `ckanapi`) work against PDX unchanged.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use pdx_catalog::DatasetView;
use pdx_catalog::model::DistributionKind;
use pdx_catalog::search::{FacetCount, SearchQuery, Sort};
use pdx_catalog::vocabulary::theme;
use pdx_core::{OrgKind, PageRequest};
use serde_json::{Map, Value, json};

use crate::authn::MaybeAuthenticated;
use crate::error::ApiError;
use crate::schemas::CkanAction;
use crate::state::ApiState;

/// The CKAN version whose API this mirrors.
const CKAN_VERSION: &str = "2.10.4";
/// Most rows `package_search` returns at once, as in CKAN.
const MAX_ROWS: i64 = 1000;

/// A CKAN-style failure: its `__type`, message and HTTP status.
struct CkanError {
    kind: &'static str,
    message: String,
    status: StatusCode,
}

impl CkanError {
    fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: "Not Found Error",
            message: message.into(),
            status: StatusCode::NOT_FOUND,
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self {
            kind: "Validation Error",
            message: message.into(),
            status: StatusCode::CONFLICT,
        }
    }
}

impl From<ApiError> for CkanError {
    fn from(error: ApiError) -> Self {
        use actix_web::ResponseError;
        let status = error.status_code();
        let kind = match status {
            StatusCode::NOT_FOUND => "Not Found Error",
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => "Authorization Error",
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                "Validation Error"
            }
            _ => "Internal Server Error",
        };
        // Internal causes stay in the log, as everywhere else.
        let message = if status.is_server_error() {
            "internal error".to_owned()
        } else {
            error.to_string()
        };
        error.log_cause();
        Self {
            kind,
            message,
            status,
        }
    }
}

impl From<pdx_catalog::CatalogError> for CkanError {
    fn from(error: pdx_catalog::CatalogError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<pdx_access::AccessError> for CkanError {
    fn from(error: pdx_access::AccessError) -> Self {
        ApiError::from(error).into()
    }
}

/// The parameters of one call, from the query string and/or a JSON or form body.
struct Params(Map<String, Value>);

impl Params {
    fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, CkanError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| CkanError::validation(format!("{name}: must be an integer"))),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| CkanError::validation(format!("{name}: must be an integer"))),
            Some(_) => Err(CkanError::validation(format!("{name}: must be an integer"))),
        }
    }

    fn bool(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
            }
            _ => false,
        }
    }

    fn required(&self, name: &str) -> Result<String, CkanError> {
        self.str(name)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CkanError::validation(format!("Missing value: {name}")))
    }
}

fn parse_params(req: &HttpRequest, body: &[u8]) -> Result<Params, CkanError> {
    let mut map = Map::new();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| CkanError::validation(format!("bad query string: {e}")))?;
    for (key, value) in query {
        map.insert(key, Value::String(value));
    }
    if !body.is_empty() {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| CkanError::validation(format!("bad form body: {e}")))?;
            for (key, value) in form {
                map.insert(key, Value::String(value));
            }
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(object)) => map.extend(object),
                Ok(_) => {
                    return Err(CkanError::validation(
                        "the request body must be a JSON object",
                    ));
                }
                Err(e) => {
                    return Err(CkanError::validation(format!(
                        "the request body is not valid JSON: {e}"
                    )));
                }
            }
        }
    }
    Ok(Params(map))
}

fn ckan_time(time: pdx_core::Timestamp) -> String {
    time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn organization_dict(org: &pdx_access::model::Organization, package_count: i64) -> Value {
    json!({
        "id": org.id.to_string(),
        "name": org.slug,
        "title": org.name,
        "display_name": org.name,
        "description": "",
        "image_url": "",
        "created": ckan_time(org.created_at),
        "is_organization": true,
        "approval_status": "approved",
        "state": "active",
        "type": "organization",
        "package_count": package_count,
        "pdx_kind": org.kind.as_str(),
    })
}

fn package_dict(
    view: &DatasetView,
    base: &str,
    licences: &HashMap<String, (String, String)>,
) -> Value {
    let d = &view.dataset;
    let licence = d.licence.as_ref().and_then(|id| licences.get(id));
    let resources: Vec<Value> = view
        .distributions
        .iter()
        .enumerate()
        .map(|(position, r)| resource_dict(r, position, base))
        .collect();
    let tags: Vec<Value> = d
        .keywords
        .iter()
        .map(|k| json!({ "name": k, "display_name": k, "state": "active", "vocabulary_id": null }))
        .collect();
    let groups: Vec<Value> = d
        .themes
        .iter()
        .filter_map(|code| theme(code))
        .map(|t| json!({ "name": t.code.to_lowercase(), "title": t.label_en, "display_name": t.label_en, "description": t.label_zh, "image_display_url": "" }))
        .collect();
    let extras: Vec<Value> = [
        (
            "sharing_class",
            Some(d.classification.sharing.as_str().to_owned()),
        ),
        (
            "opening_class",
            Some(d.classification.opening.as_str().to_owned()),
        ),
        ("grade", Some(d.classification.grade.as_str().to_owned())),
        ("spatial_text", d.spatial.clone()),
        ("temporal_start", d.temporal_start.map(|t| t.to_string())),
        ("temporal_end", d.temporal_end.map(|t| t.to_string())),
        ("update_frequency", Some(d.update_frequency.clone())),
        ("language", Some(d.languages.join(","))),
        ("resource_code", d.resource_code.clone()),
        ("themes", Some(d.themes.join(","))),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|value| json!({ "key": key, "value": value })))
    .collect();
    // ckanext-fluent's multilingual fields: the dataset's own language and its translations.
    let own = d
        .languages
        .first()
        .cloned()
        .unwrap_or_else(|| "zh".to_owned());
    let mut title_translated = serde_json::Map::new();
    let mut notes_translated = serde_json::Map::new();
    title_translated.insert(own.clone(), json!(d.title));
    notes_translated.insert(own, json!(d.description));
    for (language, translation) in &d.translations {
        title_translated.insert(language.clone(), json!(translation.title));
        let (_, notes) = d.in_language(language);
        notes_translated.insert(language.clone(), json!(notes));
    }
    json!({
        "id": d.id.to_string(),
        "name": d.slug,
        "title": d.title,
        "notes": d.description,
        "title_translated": title_translated,
        "notes_translated": notes_translated,
        "type": "dataset",
        "state": "active",
        "private": false,
        "version": d.version.to_string(),
        "url": d.landing_page.clone().unwrap_or_default(),
        "author": view.publisher.name,
        "author_email": view.publisher.contact_email,
        "maintainer": d.contact_name,
        "maintainer_email": d.contact_email,
        "license_id": d.licence.clone().unwrap_or_else(|| "notspecified".to_owned()),
        "license_title": licence.map_or("License not specified".to_owned(), |(title, _)| title.clone()),
        "license_url": licence.map(|(_, url)| url.clone()),
        "isopen": d.classification.opening == pdx_core::OpeningClass::Open,
        "metadata_created": ckan_time(d.created_at),
        "metadata_modified": ckan_time(d.modified_at),
        "owner_org": view.publisher.id.to_string(),
        "organization": organization_dict(&view.publisher, 0),
        "tags": tags,
        "num_tags": d.keywords.len(),
        "groups": groups,
        "resources": resources,
        "num_resources": view.distributions.len(),
        "extras": extras,
        "sharing_class": d.classification.sharing.as_str(),
        "opening_class": d.classification.opening.as_str(),
        "grade": d.classification.grade.as_str(),
        "pdx_status": d.status.as_str(),
    })
}

fn resource_dict(r: &pdx_catalog::model::Distribution, position: usize, base: &str) -> Value {
    let url = match r.kind {
        DistributionKind::Api => r.access_url.clone().unwrap_or_default(),
        DistributionKind::File => format!("{base}/api/v1/distributions/{}/data", r.id),
    };
    json!({
        "id": r.id.to_string(),
        "package_id": r.dataset_id.to_string(),
        "name": r.title,
        "description": r.description.clone().unwrap_or_default(),
        "format": r.format,
        "mimetype": r.media_type,
        "size": r.byte_size,
        "hash": r.sha256.clone().unwrap_or_default(),
        "url": url,
        "url_type": if r.kind == DistributionKind::File { Value::String("upload".into()) } else { Value::Null },
        "created": ckan_time(r.created_at),
        "last_modified": ckan_time(r.modified_at),
        "metadata_modified": ckan_time(r.modified_at),
        "position": position,
        "state": "active",
        "datastore_active": false,
    })
}

async fn licence_map(state: &ApiState) -> Result<HashMap<String, (String, String)>, CkanError> {
    Ok(state
        .catalog
        .licences()
        .await?
        .into_iter()
        .map(|l| (l.id, (l.title, l.url)))
        .collect())
}

/// The CKAN facet fields PDX understands, and what they map to.
const FACET_FIELDS: &[&str] = &[
    "tags",
    "organization",
    "res_format",
    "license_id",
    "groups",
    "opening_class",
    "sharing_class",
    "grade",
];

/// Applies one `field:value` filter of `fq` to the query.
async fn apply_filter(
    state: &ApiState,
    query: &mut SearchQuery,
    field: &str,
    value: String,
) -> Result<bool, CkanError> {
    match field {
        "tags" => query.keyword = Some(value),
        "res_format" => query.format = Some(value),
        "license_id" => query.licence = Some(value),
        "groups" => query.theme = Some(value.to_ascii_uppercase()),
        "opening_class" => query.opening_class = Some(value),
        "sharing_class" => query.sharing_class = Some(value),
        "grade" => query.grade = Some(value),
        "organization" | "owner_org" => match state.catalog.organization_id(&value).await? {
            Some(id) => query.publisher = Some(id.to_string()),
            None => return Ok(false),
        },
        other => {
            return Err(CkanError::validation(format!(
                "fq: the field `{other}` cannot be filtered on; use one of {}",
                FACET_FIELDS.join(", ")
            )));
        }
    }
    Ok(true)
}

/// Splits `fq` (Solr filter syntax, the subset CKAN clients send) into `field:value` terms.
fn fq_terms(fq: &str) -> Result<Vec<(String, String)>, CkanError> {
    let mut terms = Vec::new();
    let mut rest = fq.trim();
    while !rest.is_empty() {
        rest = rest
            .trim_start_matches("AND ")
            .trim_start_matches("+")
            .trim_start();
        let (field, after) = rest.split_once(':').ok_or_else(|| {
            CkanError::validation(format!("fq: expected field:value, got `{rest}`"))
        })?;
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| CkanError::validation("fq: unterminated quote"))?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        terms.push((field.trim().to_owned(), value));
        rest = remaining.trim_start();
    }
    Ok(terms)
}

async fn package_search(state: &ApiState, params: &Params) -> Result<Value, CkanError> {
    let rows = params.int("rows")?.unwrap_or(10).clamp(0, MAX_ROWS);
    let start = params.int("start")?.unwrap_or(0).max(0);
    let sort_param = params
        .str("sort")
        .unwrap_or_else(|| "score desc, metadata_modified desc".to_owned());
    let sort = match sort_param.split(',').next().map(str::trim).unwrap_or("") {
        s if s.starts_with("score") => Sort::Relevance,
        s if s.starts_with("metadata_modified") => Sort::Modified,
        s if s.starts_with("title") || s.starts_with("name") => Sort::Title,
        other => {
            return Err(CkanError::validation(format!(
                "sort: `{other}` is not supported"
            )));
        }
    };
    let q = params
        .str("q")
        .filter(|q| !q.trim().is_empty() && q.trim() != "*:*");
    let mut query = SearchQuery {
        text: q,
        sort,
        offset: start,
        limit: rows,
        facet_limit: params.int("facet.limit")?.unwrap_or(50).clamp(0, 1000),
        ..SearchQuery::default()
    };
    let mut satisfiable = true;
    if let Some(fq) = params.str("fq") {
        for (field, value) in fq_terms(&fq)? {
            satisfiable &= apply_filter(state, &mut query, &field, value).await?;
        }
    }
    let facet_fields: Vec<String> = match params.0.get("facet.field") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| {
            CkanError::validation("facet.field: must be a JSON list of field names")
        })?,
        Some(_) => {
            return Err(CkanError::validation(
                "facet.field: must be a JSON list of field names",
            ));
        }
    };
    for field in &facet_fields {
        if !FACET_FIELDS.contains(&field.as_str()) {
            return Err(CkanError::validation(format!(
                "facet.field: `{field}` is not one of {}",
                FACET_FIELDS.join(", ")
            )));
        }
    }
    let page = PageRequest::new(Some(1), Some(u32::try_from(rows.max(1)).unwrap_or(1)));
    let (views, total, facets) = if satisfiable {
        let found = state.catalog.search(query, page).await?;
        (found.page.items, found.page.total, found.facets)
    } else {
        (Vec::new(), 0, pdx_catalog::search::Facets::default())
    };
    let licences = licence_map(state).await?;
    let base = state.public_base();
    let organizations = organization_names(state, &facets.publisher).await?;
    let mut facet_map = Map::new();
    let mut search_facets = Map::new();
    for field in &facet_fields {
        let (values, title): (Vec<FacetCount>, &str) = match field.as_str() {
            "tags" => (facets.keyword.clone(), "Tags"),
            "organization" => (
                facets
                    .publisher
                    .iter()
                    .filter_map(|f| {
                        organizations.get(&f.value).map(|(slug, _)| FacetCount {
                            value: slug.clone(),
                            count: f.count,
                            name: f.name.clone(),
                        })
                    })
                    .collect(),
                "Organizations",
            ),
            "res_format" => (facets.format.clone(), "Formats"),
            "license_id" => (facets.licence.clone(), "Licenses"),
            "groups" => (
                facets
                    .theme
                    .iter()
                    .map(|f| FacetCount {
                        value: f.value.to_lowercase(),
                        count: f.count,
                        name: f.name.clone(),
                    })
                    .collect(),
                "Groups",
            ),
            "opening_class" => (facets.opening_class.clone(), "Opening class"),
            "grade" => (facets.grade.clone(), "Data grade"),
            _ => (facets.sharing_class.clone(), "Sharing class"),
        };
        facet_map.insert(
            field.clone(),
            Value::Object(
                values
                    .iter()
                    .map(|f| (f.value.clone(), json!(f.count)))
                    .collect(),
            ),
        );
        let items: Vec<Value> = values
            .iter()
            .map(|f| {
                let display = f.name.clone().unwrap_or_else(|| f.value.clone());
                json!({ "name": f.value, "display_name": display, "count": f.count })
            })
            .collect();
        search_facets.insert(field.clone(), json!({ "title": title, "items": items }));
    }
    let results: Vec<Value> = views
        .iter()
        .map(|v| package_dict(v, &base, &licences))
        .collect();
    Ok(json!({
        "count": total,
        "sort": sort_param,
        "facets": facet_map,
        "search_facets": search_facets,
        "results": results,
    }))
}

async fn organization_names(
    state: &ApiState,
    counts: &[FacetCount],
) -> Result<HashMap<String, (String, String)>, CkanError> {
    let mut names = HashMap::new();
    for count in counts {
        if let Ok(org) = state.access.organization(None, &count.value).await {
            names.insert(count.value.clone(), (org.slug, org.name));
        }
    }
    Ok(names)
}

async fn dispatch(
    state: &ApiState,
    principal: Option<&pdx_core::Principal>,
    action: &str,
    params: &Params,
) -> Result<Value, CkanError> {
    match action {
        "status_show" => Ok(json!({
            "ckan_version": CKAN_VERSION,
            "site_url": state.public_base(),
            "site_title": "PDX — Public Data Exchange",
            "site_description": "Catalog, exchange and circulation ledger for public data",
            "locale_default": "zh_Hans_CN",
            "extensions": ["pdx"],
            "pdx_version": env!("CARGO_PKG_VERSION"),
        })),
        "package_list" => {
            let limit = params.int("limit")?.unwrap_or(1000).clamp(0, 10_000);
            let offset = params.int("offset")?.unwrap_or(0).max(0);
            Ok(json!(state.catalog.published_slugs(offset, limit).await?))
        }
        "package_show" => {
            let id = params.required("id")?;
            let view = state.catalog.dataset(principal, &id).await.map_err(|_| CkanError::not_found("Not found"))?;
            Ok(package_dict(&view, &state.public_base(), &licence_map(state).await?))
        }
        "package_search" => package_search(state, params).await,
        "resource_show" => {
            let id = params.required("id")?;
            let id = id.parse().map_err(|_| CkanError::not_found("Resource was not found."))?;
            let (distribution, dataset) = state
                .catalog
                .distribution(principal, id)
                .await
                .map_err(|_| CkanError::not_found("Resource was not found."))?;
            let position = state
                .catalog
                .dataset(principal, &dataset.id.to_string())
                .await?
                .distributions
                .iter()
                .position(|d| d.id == distribution.id)
                .unwrap_or(0);
            Ok(resource_dict(&distribution, position, &state.public_base()))
        }
        "organization_list" => {
            let limit = params.int("limit")?.unwrap_or(1000).clamp(1, 1000);
            let offset = params.int("offset")?.unwrap_or(0).max(0);
            let page = PageRequest::new(Some(u32::try_from(offset / limit + 1).unwrap_or(1)), Some(u32::try_from(limit).unwrap_or(100)));
            let orgs = state.access.list_organizations(None, Some(OrgKind::Agency), Some(true), page).await?;
            if params.bool("all_fields") {
                let counts = state.catalog.published_counts().await?;
                Ok(json!(orgs.items.iter().map(|o| organization_dict(o, counts.get(&o.id.to_string()).copied().unwrap_or(0))).collect::<Vec<_>>()))
            } else {
                Ok(json!(orgs.items.iter().map(|o| o.slug.clone()).collect::<Vec<_>>()))
            }
        }
        "organization_show" => {
            let id = params.required("id")?;
            let org = state.access.organization(None, &id).await.map_err(|_| CkanError::not_found("Organization was not found."))?;
            let counts = state.catalog.published_counts().await?;
            let mut dict = organization_dict(&org, counts.get(&org.id.to_string()).copied().unwrap_or(0));
            if params.bool("include_datasets") {
                let mut query = SearchQuery { publisher: Some(org.id.to_string()), limit: 1000, ..SearchQuery::default() };
                query.sort = Sort::Modified;
                let found = state.catalog.search(query, PageRequest::new(Some(1), Some(100))).await?;
                let licences = licence_map(state).await?;
                let base = state.public_base();
                dict["packages"] = json!(found.page.items.iter().map(|v| package_dict(v, &base, &licences)).collect::<Vec<_>>());
            }
            Ok(dict)
        }
        "license_list" => Ok(json!(state.catalog.licences().await?.into_iter().map(|l| json!({
            "id": l.id, "title": l.title, "url": l.url, "status": "active",
            "od_conformance": if l.open { "approved" } else { "not reviewed" },
            "osd_conformance": "not reviewed", "domain_data": l.open, "domain_content": l.open, "domain_software": false,
        })).collect::<Vec<_>>())),
        "tag_list" => {
            let limit = params.int("limit")?.unwrap_or(1000).clamp(1, 10_000);
            Ok(json!(state.catalog.keywords(params.str("query"), limit).await?))
        }
        "help_show" => {
            let name = params.required("name")?;
            match help_text(&name) {
                Some(text) => Ok(json!(text)),
                None => Err(CkanError {
                    kind: "Not Found Error",
                    message: format!("Action name not known: {name}"),
                    status: StatusCode::NOT_FOUND,
                }),
            }
        }
        other => Err(CkanError {
            kind: "Not Found Error",
            message: format!("Action name not known: {other}"),
            status: StatusCode::BAD_REQUEST,
        }),
    }
}

/// What each action does, as CKAN's `help_show` tells it (every answer's `help` points there).
fn help_text(action: &str) -> Option<&'static str> {
    Some(match action {
        "status_show" => "Return the site's status: CKAN version, site URL, title and extensions.",
        "package_list" => {
            "Return the names (slugs) of the published datasets. :param limit, offset"
        }
        "package_show" => "Return one dataset. :param id: the dataset's id or name",
        "package_search" => {
            "Search the published datasets. :param q, fq, facet.field, rows, start, sort"
        }
        "resource_show" => "Return one resource (distribution). :param id: the resource id",
        "organization_list" => "Return the organisations' names. :param all_fields",
        "organization_show" => "Return one organisation. :param id: its id or name",
        "license_list" => "Return the licences datasets can be published under.",
        "tag_list" => "Return the tags (keywords) in use. :param query, limit",
        "help_show" => "Return the help text of an action. :param name: the action's name",
        "datastore_search" => {
            "Search a resource's rows (ledgered like every data request; declare the purpose in \
             X-PDX-Purpose). :param resource_id, filters, q, fields, sort, limit, offset, \
             include_total"
        }
        _ => return None,
    })
}

async fn respond(
    req: &HttpRequest,
    state: &ApiState,
    principal: Option<&pdx_core::Principal>,
    action: &str,
    body: &[u8],
) -> HttpResponse {
    let help = format!(
        "{}/api/3/action/help_show?name={action}",
        state.public_base()
    );
    let params = parse_params(req, body);
    if action == "datastore_search" {
        let outcome = match params {
            Ok(params) => datastore_search(req, state, &params, &help).await,
            Err(error) => Err(error),
        };
        return outcome.unwrap_or_else(|error| {
            HttpResponse::build(error.status).json(json!({
                "help": help,
                "success": false,
                "error": { "__type": error.kind, "message": error.message },
            }))
        });
    }
    let outcome = match params {
        Ok(params) => dispatch(state, principal, action, &params).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(result) => {
            HttpResponse::Ok().json(json!({ "help": help, "success": true, "result": result }))
        }
        Err(error) => HttpResponse::build(error.status).json(json!({
            "help": help,
            "success": false,
            "error": { "__type": error.kind, "message": error.message },
        })),
    }
}

/// CKAN DataStore's `datastore_search`, answered by the row query data path: the same
/// decision, column rights, masks, metering and ledger entry as `GET …/rows`. Parameters:
/// `resource_id`, `filters` (an object of column to value or list of values), `q` (text),
/// `fields`, `sort` (`"column desc, other"`), `limit` (default 100), `offset`,
/// `include_total` (default true). A refusal keeps its problem+json body and receipt.
async fn datastore_search(
    req: &HttpRequest,
    state: &ApiState,
    params: &Params,
    help: &str,
) -> Result<HttpResponse, CkanError> {
    let resource = params.required("resource_id")?;
    let id: pdx_core::DistributionId = resource
        .parse()
        .map_err(|_| CkanError::not_found("Resource was not found."))?;
    let mut query = pdx_rows::query::RowQuery::default();
    let filters = match params.0.get("filters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(CkanError::validation("filters: must be a JSON object")),
        },
        Some(_) => return Err(CkanError::validation("filters: must be a JSON object")),
    };
    for (column, value) in filters {
        query.filters.push(match value {
            Value::Array(values) => format!("{column}:in:{}", Value::Array(values)),
            Value::String(text) => format!("{column}:eq:{text}"),
            Value::Null => format!("{column}:null"),
            other => format!("{column}:eq:{other}"),
        });
    }
    query.q = params.str("q");
    if let Some(fields) = params.0.get("fields") {
        query.columns = Some(match fields {
            Value::Array(names) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            other => params
                .str("fields")
                .unwrap_or_else(|| other.to_string())
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
        });
    }
    if let Some(sort) = params.str("sort") {
        for key in sort.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let (name, direction) = match key.rsplit_once(' ') {
                Some((name, d)) if d.eq_ignore_ascii_case("desc") => (name.trim(), "-"),
                Some((name, d)) if d.eq_ignore_ascii_case("asc") => (name.trim(), ""),
                _ => (key, ""),
            };
            query
                .sort
                .push(format!("{direction}{}", name.trim_matches('"')));
        }
    }
    let limit = params.int("limit")?.unwrap_or(100);
    if !(0..=i64::try_from(pdx_rows::query::MAX_PAGE).unwrap_or(i64::MAX)).contains(&limit) {
        return Err(CkanError::validation("limit: must be 0 to 10000"));
    }
    query.limit = pdx_rows::query::Limit::Rows(u64::try_from(limit).unwrap_or(0));
    query.offset = u64::try_from(params.int("offset")?.unwrap_or(0))
        .map_err(|_| CkanError::validation("offset: must not be negative"))?;
    query.total = params
        .0
        .get("include_total")
        .is_none_or(|_| params.bool("include_total"));
    let envelope = pdx_rows::render::CkanEnvelope {
        help: help.to_owned(),
        resource_id: id.to_string(),
        start: format!("/api/3/action/datastore_search?resource_id={id}"),
    };
    let served = crate::rows::serve_rows(
        req,
        state,
        id,
        query,
        pdx_rows::render::OutputFormat::Ckan,
        Some(envelope),
    )
    .await
    .map_err(|error| {
        // CKAN answers a validation error with 409.
        let mut error = CkanError::from(error);
        if error.kind == "Validation Error" {
            error.status = StatusCode::CONFLICT;
        }
        error
    })?;
    Ok(match served {
        crate::rows::Served::Rows(answer, seq) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((actix_web::http::header::CONTENT_TYPE, "application/json"));
            crate::rows::body(response, answer, seq)
        }
        crate::rows::Served::Refused(response) => response,
    })
}

/// The actions served, for the API reference.
const ACTIONS: &str = "status_show, package_list, package_show, package_search, resource_show, \
organization_list, organization_show, license_list, tag_list, help_show, datastore_search";

/// A CKAN action with its parameters in the query string, answered in CKAN's envelope.
#[utoipa::path(
    get,
    path = "/api/3/action/{action}",
    tag = "ckan",
    params(("action" = inline(CkanAction), Path, description = ACTIONS)),
    responses(
        (status = 200, description = "`{help, success: true, result}`", body = Object),
        (status = 400, description = "A parameter CKAN's envelope reports as invalid (`{help, success: false, error}`)", body = Object),
        (status = 404, description = "`{help, success: false, error: {__type, message}}`", body = Object),
        (status = 409, description = "Validation error in CKAN's envelope", body = Object),
    )
)]
#[get("/api/3/action/{action}")]
pub(crate) async fn action_v3_get(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> HttpResponse {
    respond(&req, &state, principal.as_ref(), &path, &[]).await
}

/// A CKAN action with its parameters in a JSON (or form) body, answered in CKAN's envelope.
#[utoipa::path(
    post,
    path = "/api/3/action/{action}",
    tag = "ckan",
    params(("action" = inline(CkanAction), Path, description = ACTIONS)),
    request_body(content = Object, description = "The action's parameters"),
    responses(
        (status = 200, description = "`{help, success: true, result}`", body = Object),
        (status = 400, description = "A parameter CKAN's envelope reports as invalid (`{help, success: false, error}`)", body = Object),
        (status = 404, description = "`{help, success: false, error: {__type, message}}`", body = Object),
        (status = 409, description = "Validation error in CKAN's envelope", body = Object),
    )
)]
#[post("/api/3/action/{action}")]
pub(crate) async fn action_v3_post(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    respond(&req, &state, principal.as_ref(), &path, &body).await
}

/// The same as `/api/3/action/{action}` (CKAN's unversioned path).
#[utoipa::path(
    get,
    path = "/api/action/{action}",
    tag = "ckan",
    params(("action" = inline(CkanAction), Path, description = ACTIONS)),
    responses(
        (status = 200, description = "`{help, success: true, result}`", body = Object),
        (status = 400, description = "A parameter CKAN's envelope reports as invalid (`{help, success: false, error}`)", body = Object),
        (status = 404, description = "`{help, success: false, error: {__type, message}}`", body = Object),
        (status = 409, description = "Validation error in CKAN's envelope", body = Object),
    )
)]
#[get("/api/action/{action}")]
pub(crate) async fn action_get(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> HttpResponse {
    respond(&req, &state, principal.as_ref(), &path, &[]).await
}

/// The same as `/api/3/action/{action}` (CKAN's unversioned path).
#[utoipa::path(
    post,
    path = "/api/action/{action}",
    tag = "ckan",
    params(("action" = inline(CkanAction), Path, description = ACTIONS)),
    request_body(content = Object, description = "The action's parameters"),
    responses(
        (status = 200, description = "`{help, success: true, result}`", body = Object),
        (status = 400, description = "A parameter CKAN's envelope reports as invalid (`{help, success: false, error}`)", body = Object),
        (status = 404, description = "`{help, success: false, error: {__type, message}}`", body = Object),
        (status = 409, description = "Validation error in CKAN's envelope", body = Object),
    )
)]
#[post("/api/action/{action}")]
pub(crate) async fn action_post(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    respond(&req, &state, principal.as_ref(), &path, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fq_is_split_into_field_value_terms() {
        let terms =
            fq_terms(r#"tags:bus +res_format:CSV organization:"sz-transport" AND groups:tran"#);
        let Ok(terms) = terms else {
            panic!("parse failed")
        };
        let expected: Vec<(String, String)> = [
            ("tags", "bus"),
            ("res_format", "CSV"),
            ("organization", "sz-transport"),
            ("groups", "tran"),
        ]
        .iter()
        .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(terms, expected);
        assert!(fq_terms("no-colon").is_err());
        assert!(fq_terms(r#"tags:"unterminated"#).is_err());
    }
}
