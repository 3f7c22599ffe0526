//! A table's rows in the browser: a page of a loaded file's rows, searched, sorted and paged,
//! with the visitor's column rights. Each page is a row query on the data path of the API's
//! `…/rows` — decided, metered and written to the ledger — so looking is as traceable as
//! downloading.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use maud::{Markup, html};
use pdx_catalog::model::Distribution;
use pdx_core::{OpeningClass, RequestId};
use pdx_licensing::exchange::DataRequest;
use pdx_licensing::rows::{RowsRequestError, RowsServed};
use pdx_rows::RowsError;
use pdx_rows::model::{ColumnType, SourceFormat};
use pdx_rows::query::{Limit, OPERATORS, RowQuery};
use pdx_rows::render::{OutputFormat, Spool};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::page::{Ctx, crumbs, frame};

/// Rows on one page.
const PAGE_ROWS: u64 = 50;
/// Seconds to wait when too many row queries are running (the API's figure).
const BUSY_RETRY_SECS: u64 = 1;
/// Characters of a value shown in a cell; the rest is cut (the API gives it whole).
const CELL_CHARS: usize = 200;

/// What the visitor asked of the table.
#[derive(Debug, Clone, Default, Deserialize)]
struct TableForm {
    /// Text to find in the text columns.
    #[serde(default)]
    q: String,
    /// A column to sort by, `-` first for descending.
    #[serde(default)]
    sort: String,
    /// The cursor of the previous page's last row.
    #[serde(default)]
    after: String,
    /// The purpose a grant holder reads conditional rows for (the purposes vocabulary).
    #[serde(default)]
    purpose: String,
    /// Filters in the API's form, `column:operator[:value]` (each a `filter` parameter).
    #[serde(skip)]
    filters: Vec<String>,
    /// A filter being added: its column …
    #[serde(default)]
    fcol: String,
    /// … its operator …
    #[serde(default)]
    fop: String,
    /// … and its value.
    #[serde(default)]
    fval: String,
}

/// Filters the add form offers to go up to (an address may carry as many as the API takes,
/// and more are refused with the API's reason, never dropped).
const MAX_FILTERS: usize = 8;

/// Operators that take no value.
const VALUELESS: [&str; 2] = ["null", "notnull"];

impl TableForm {
    /// The form of a query string: its fields, every `filter` parameter, and the filter being
    /// added as one more.
    fn parse(query: &str) -> Self {
        let mut form = serde_urlencoded::from_str::<Self>(query).unwrap_or_default();
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
        for (key, value) in pairs {
            let value = value.trim();
            if key == "filter" && !value.is_empty() && !form.filters.iter().any(|f| f == value) {
                form.filters.push(value.to_owned());
            }
        }
        if let Some(added) = form.added()
            && !form.filters.contains(&added)
        {
            form.filters.push(added);
        }
        form
    }

    /// The filter the add fields describe, if they describe one.
    fn added(&self) -> Option<String> {
        let (column, op) = (self.fcol.trim(), self.fop.trim());
        if column.is_empty() || !OPERATORS.contains(&op) {
            return None;
        }
        Some(if VALUELESS.contains(&op) {
            format!("{column}:{op}")
        } else {
            format!("{column}:{op}:{}", self.fval.trim())
        })
    }

    fn query(&self) -> RowQuery {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        RowQuery {
            q: text(&self.q),
            filters: self.filters.clone(),
            sort: text(&self.sort).into_iter().collect(),
            after: text(&self.after),
            limit: Limit::Rows(PAGE_ROWS),
            ..RowQuery::default()
        }
    }

    /// This form without its `i`th filter, from the first page.
    fn without(&self, i: usize) -> String {
        let mut fewer = self.clone();
        fewer.filters.remove(i);
        fewer.with(self.sort.trim(), None)
    }

    /// The query string of this search with `sort` and `after` replaced.
    fn with(&self, sort: &str, after: Option<&str>) -> String {
        let mut pairs = Vec::new();
        if !self.purpose.trim().is_empty() {
            pairs.push(("purpose", self.purpose.trim()));
        }
        if !self.q.trim().is_empty() {
            pairs.push(("q", self.q.trim()));
        }
        for filter in &self.filters {
            pairs.push(("filter", filter));
        }
        if !sort.is_empty() {
            pairs.push(("sort", sort));
        }
        if let Some(after) = after {
            pairs.push(("after", after));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A page of rows as the JSON answer holds it.
#[derive(Debug, Deserialize)]
struct RowsPage {
    columns: Vec<ColumnShown>,
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    next: Option<String>,
}

/// A column as the answer describes it.
#[derive(Debug, Deserialize)]
struct ColumnShown {
    name: String,
    #[serde(rename = "type", default)]
    column_type: String,
    #[serde(default)]
    mask: Option<String>,
}

/// The rows of a dataset's loaded file.
#[get("/datasets/{slug}/rows/{distribution}")]
pub(crate) async fn rows(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form = TableForm::parse(req.query_string());
    let (slug, distribution) = path.into_inner();
    finish(rows_page(&req, ctx, &state, &slug, &distribution, form).await)
}

async fn rows_page(
    req: &HttpRequest,
    ctx: Ctx,
    state: &WebState,
    slug: &str,
    distribution: &str,
    form: TableForm,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    // Admitted first, as the API admits its data requests: looking up what is not there
    // counts too.
    if let Err(wait) = state.admission.admit(req, ctx.session.is_none()) {
        return Ok(crate::exchange::too_many(&ctx, wait));
    }
    let (view, file) = crate::exchange::dataset_file(state, slug, distribution)
        .await
        .map_err(fail)?;
    if !tabular(&file) {
        return Err(fail(WebError::NotFound));
    }
    let mut request = DataRequest::new(
        ctx.session.as_ref().map(|s| s.principal.clone()),
        file.id,
        req.extensions().get::<RequestId>().map(ToString::to_string),
    );
    // A grant holder's purpose, as the download form takes it: one of the vocabulary, or a
    // refusal in the ledger.
    let purpose = form.purpose.trim();
    if !purpose.is_empty() {
        if pdx_licensing::model::PURPOSES.contains(&purpose) {
            request.purpose = Some(purpose.to_owned());
        } else {
            request.refused = Some(pdx_licensing::exchange::Refusal::UnknownPurpose);
        }
    }
    let served = state
        .licensing
        .serve_rows(
            &state.catalog,
            &state.rows,
            request,
            form.query(),
            OutputFormat::Json,
            None,
        )
        .await;
    let title = ctx
        .lang
        .t_with("table-title", &[("file", Arg::Text(file.title.clone()))]);
    let dataset_page = format!("/datasets/{}", view.dataset.slug);
    let here = format!("/datasets/{}/rows/{}", view.dataset.slug, file.id);
    // The columns a filter may name: those the reader sees unmasked on this page.
    let mut filterable: Vec<String> = Vec::new();
    // Whether one of them holds dates and times, whose values the hint then shows too.
    let mut with_times = false;
    let (status, body) = match served {
        Ok(RowsServed {
            seq,
            outcome: Ok(answer),
            ..
        }) => {
            let bytes = match answer.body {
                Spool::Memory(bytes) => bytes,
                spool @ Spool::File(..) => web::block(move || spool.into_bytes())
                    .await
                    .map_err(|e| fail(WebError::Internal(e.to_string())))?
                    .map_err(|e| fail(WebError::Internal(e.to_string())))?,
            };
            let page: RowsPage = serde_json::from_slice(&bytes)
                .map_err(|e| fail(WebError::Internal(format!("a row answer: {e}"))))?;
            filterable = page
                .columns
                .iter()
                .filter(|c| c.mask.is_none())
                .map(|c| c.name.clone())
                .collect();
            with_times = page
                .columns
                .iter()
                .any(|c| c.mask.is_none() && c.column_type == ColumnType::Datetime.as_str());
            (StatusCode::OK, table(&ctx, &form, &here, &page, seq))
        }
        Ok(RowsServed {
            seq,
            outcome: Err(refusal),
            ..
        }) => {
            state.admission.failed(req);
            return Ok(crate::exchange::refused_page(&ctx, &view, refusal, seq));
        }
        Err(RowsRequestError::Rows(error)) => match problem(&error) {
            Some((status, key)) => {
                // What was wrong with the query, in the API's words: the visitor's own input.
                let detail = matches!(
                    error,
                    RowsError::UnknownColumn { .. }
                        | RowsError::MaskedColumn { .. }
                        | RowsError::InvalidQuery { .. }
                )
                .then(|| error.to_string());
                (
                    status,
                    html! {
                        div.notice role="alert" {
                            p { (ctx.t(key)) }
                            @if let Some(detail) = detail { p.small { code { (detail) } } }
                        }
                    },
                )
            }
            None => return Err(fail(error.into())),
        },
        Err(RowsRequestError::Licensing(error)) => return Err(fail(error.into())),
        Err(error @ RowsRequestError::NotPrepared) => {
            return Err(fail(WebError::Internal(error.to_string())));
        }
    };
    // The API's URL of these very rows; a link only for open data, which a browser may read
    // without a token.
    // The API takes the purpose as a header (shown beside the call), not as a parameter.
    let after = Some(form.after.trim()).filter(|a| !a.is_empty());
    let api_form = TableForm {
        purpose: String::new(),
        ..form.clone()
    };
    let api = format!(
        "/api/v1/distributions/{}/rows?{}",
        file.id,
        [
            api_form.with(form.sort.trim(), after),
            format!("limit={PAGE_ROWS}")
        ]
        .iter()
        .filter(|part| !part.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("&")
    );
    let open = view.dataset.classification.opening == OpeningClass::Open;
    let purpose_read =
        Some(purpose.to_owned()).filter(|p| pdx_licensing::model::PURPOSES.contains(&p.as_str()));
    let content = html! {
        (crumbs(&ctx, &[
            ("/datasets", &ctx.t("nav-datasets")),
            (&dataset_page, &crate::page::dataset_title(&ctx, &view.dataset)),
        ]))
        h1 { (title) }
        p.lead { (ctx.t("table-lead")) }
        @if let Some(purpose) = &purpose_read {
            p { (ctx.lang.t_with("table-purpose", &[("purpose", Arg::Text(crate::words::purpose_name(ctx.lang, purpose)))])) }
        }
        form.search method="get" action=(here) role="search" {
            label for="table-q" { (ctx.t("table-search")) }
            div.search-row {
                input #table-q type="search" name="q" value=(form.q.trim()) maxlength="200";
                (kept(&form))
                button type="submit" { (ctx.t("table-search-button")) }
            }
        }
        (filters(&ctx, &form, &here, &filterable, with_times))
        (body)
        section aria-labelledby="table-machines" {
            h2 #table-machines { (ctx.t("dataset-machines")) }
            p { (ctx.t("table-api-hint")) }
            ul.links {
                @if open {
                    li { a href=(api) rel="nofollow" { code { "GET " (api) } } }
                    li { a href={ (api) "&format=csv" } rel="nofollow" { (ctx.t("table-csv")) } }
                } @else {
                    li {
                        code { "GET " (api) }
                        @if let Some(purpose) = &purpose_read {
                            br; code { "X-PDX-Purpose: " (purpose) }
                        }
                    }
                }
            }
        }
    };
    Ok(response(status).body(frame(&ctx, &title, content).into_string()))
}

/// How a table page with `status` is sent: never kept by caches, and when too many row
/// queries were running, with the moment to wait that the API's answer gives too.
fn response(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .content_type(actix_web::http::header::ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Accept-Language, Cookie"));
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.insert_header((header::RETRY_AFTER, BUSY_RETRY_SECS.to_string()));
    }
    response
}

/// Which file's rows to look at, and for what purpose: the grant holder's form on the dataset
/// page, which cannot put the file in the path.
#[derive(Debug, Default, Deserialize)]
struct ChooseForm {
    #[serde(default)]
    distribution: String,
    #[serde(default)]
    purpose: String,
}

/// Sends the grant holder's choice on to that file's rows (`303 See Other`).
#[get("/datasets/{slug}/rows")]
pub(crate) async fn choose(req: HttpRequest, slug: web::Path<String>) -> HttpResponse {
    let form = serde_urlencoded::from_str::<ChooseForm>(req.query_string()).unwrap_or_default();
    let purpose =
        serde_urlencoded::to_string([("purpose", form.purpose.trim())]).unwrap_or_default();
    let to = format!(
        "/datasets/{}/rows/{}?{purpose}",
        crate::catalog::urlencode(&slug),
        crate::catalog::urlencode(form.distribution.trim())
    );
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Whether a distribution is a file whose rows may be loaded.
pub(crate) fn tabular(d: &Distribution) -> bool {
    SourceFormat::of_file(d.kind, &d.format, &d.media_type).is_some()
}

/// A query the visitor can fix: its status and the words for it.
fn problem(error: &RowsError) -> Option<(StatusCode, &'static str)> {
    Some(match error {
        RowsError::NotIngested | RowsError::IngestionRunning => {
            (StatusCode::CONFLICT, "table-not-loaded")
        }
        RowsError::UnknownColumn { .. }
        | RowsError::MaskedColumn { .. }
        | RowsError::InvalidQuery { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "table-bad-query"),
        RowsError::TooSlow => (StatusCode::UNPROCESSABLE_ENTITY, "table-too-slow"),
        RowsError::Busy => (StatusCode::TOO_MANY_REQUESTS, "table-busy"),
        _ => return None,
    })
}

/// The rows, with sort links on the headers and the next page's link.
fn table(ctx: &Ctx, form: &TableForm, here: &str, page: &RowsPage, seq: u64) -> Markup {
    let sort = form.sort.trim();
    html! {
        @if page.rows.is_empty() {
            p.notice role="status" { (ctx.t("table-no-rows")) }
        } @else {
            div.table-wrap.rows-table {
                table {
                    caption.visually-hidden { (ctx.t("table-caption")) }
                    thead { tr {
                        @for column in &page.columns {
                            @let (next_sort, state) = if sort == column.name {
                                (format!("-{}", column.name), Some("ascending"))
                            } else if sort.strip_prefix('-') == Some(column.name.as_str()) {
                                (column.name.clone(), Some("descending"))
                            } else {
                                (column.name.clone(), None)
                            };
                            th scope="col" aria-sort=[state] {
                                @if let Some(mask) = &column.mask {
                                    // A masked column is read, not sorted on.
                                    (column.name)
                                    br; span.small.tag { (ctx.t(&format!("table-mask-{mask}"))) }
                                } @else {
                                    a href={ (here) "?" (form.with(&next_sort, None)) } rel="nofollow" {
                                        (column.name)
                                        span.visually-hidden { " " (ctx.t("table-sort")) }
                                    }
                                }
                            }
                        }
                    } }
                    tbody {
                        @for row in &page.rows {
                            tr {
                                @for column in &page.columns {
                                    td { (cell(row.get(&column.name))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.small {
            (ctx.lang.t_with("table-shown", &[("count", Arg::Number(i64::try_from(page.rows.len()).unwrap_or(0)))]))
            " " (ctx.lang.t_with("table-receipt", &[("seq", Arg::Text(seq.to_string()))]))
        }
        nav.pager aria-label=(ctx.t("table-pages")) {
            @if !form.after.trim().is_empty() {
                a href={ (here) "?" (form.with(sort, None)) } rel="nofollow" { (ctx.t("table-first")) }
            }
            @if let Some(next) = &page.next {
                " " a href={ (here) "?" (form.with(sort, Some(next))) } rel="nofollow next" { (ctx.t("table-next")) }
            }
        }
    }
}

/// The filters in force, each with a link that removes it, and a form that adds one on a
/// column the reader sees unmasked (none while the query is refused: remove a filter first).
fn filters(
    ctx: &Ctx,
    form: &TableForm,
    here: &str,
    columns: &[String],
    with_times: bool,
) -> Markup {
    html! {
        @if !form.filters.is_empty() || !columns.is_empty() {
            section aria-labelledby="table-filters" {
                h2 #table-filters { (ctx.t("table-filters")) }
                @if !form.filters.is_empty() {
                    ul.links {
                        @for (i, filter) in form.filters.iter().enumerate() {
                            @let shown = filter_words(ctx, filter, columns);
                            li {
                                span { (shown) }
                                " "
                                @let rest = form.without(i);
                                a href={ (here) @if !rest.is_empty() { "?" (rest) } } rel="nofollow" {
                                    (ctx.t("table-filter-remove"))
                                    span.visually-hidden { ": " (shown) }
                                }
                            }
                        }
                    }
                }
                @if !columns.is_empty() && form.filters.len() < MAX_FILTERS {
                    form.filters method="get" action=(here) {
                        @if !form.q.trim().is_empty() {
                            input type="hidden" name="q" value=(form.q.trim());
                        }
                        (kept(form))
                        div.field {
                            label for="table-fcol" { (ctx.t("table-filter-column")) }
                            select #table-fcol name="fcol" {
                                @for column in columns { option value=(column) { (column) } }
                            }
                        }
                        div.field {
                            label for="table-fop" { (ctx.t("table-filter-op")) }
                            select #table-fop name="fop" {
                                @for op in OPERATORS {
                                    option value=(op) { (ctx.t(&format!("table-op-{op}"))) }
                                }
                            }
                        }
                        div.field {
                            label for="table-fval" { (ctx.t("table-filter-value")) }
                            input #table-fval type="text" name="fval" maxlength="200" aria-describedby="table-fval-hint";
                        }
                        div.field {
                            button type="submit" { (ctx.t("table-filter-add")) }
                        }
                        p.small #table-fval-hint {
                            (ctx.t(if with_times { "table-filter-hint-times" } else { "table-filter-hint" }))
                        }
                    }
                }
            }
        }
    }
}

/// What a form on the table page carries on besides its own fields: the sort, the purpose
/// and the filters in force.
fn kept(form: &TableForm) -> Markup {
    let (sort, purpose) = (form.sort.trim(), form.purpose.trim());
    html! {
        @if !sort.is_empty() { input type="hidden" name="sort" value=(sort); }
        @if !purpose.is_empty() { input type="hidden" name="purpose" value=(purpose); }
        @for filter in &form.filters { input type="hidden" name="filter" value=(filter); }
    }
}

/// A filter as words: the column, the operator in the visitor's language, the value. The
/// split is the API's: the first `:` followed by an operator, preferring a known column.
fn filter_words(ctx: &Ctx, filter: &str, columns: &[String]) -> String {
    match pdx_rows::query::split_filter(filter, |name| columns.iter().any(|c| c == name)) {
        Some((name, op, value)) => {
            let op = ctx.t(&format!("table-op-{op}"));
            let value = value.unwrap_or_default();
            if value.is_empty() {
                format!("{name} {op}")
            } else {
                format!("{name} {op} “{value}”")
            }
        }
        None => filter.to_owned(),
    }
}

/// A value as a cell shows it: text cut to its first characters, nothing for no value.
fn cell(value: Option<&serde_json::Value>) -> String {
    let text = match value {
        None | Some(serde_json::Value::Null) => return String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    match text.char_indices().nth(CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The link to a loaded file's rows, for the dataset page.
pub(crate) fn link(ctx: &Ctx, slug: &str, file: &Distribution) -> Markup {
    html! {
        a href={ "/datasets/" (slug) "/rows/" (file.id) } rel="nofollow" {
            (ctx.t("table-view"))
            span.visually-hidden { " " (file.title) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_cut_on_a_character_and_no_value_shows_nothing() {
        let long = "路".repeat(CELL_CHARS + 5);
        let shown = cell(Some(&serde_json::Value::String(long)));
        assert_eq!(shown.chars().count(), CELL_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(cell(Some(&serde_json::Value::Null)), "");
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some(&serde_json::json!(12.5))), "12.5");
    }

    #[test]
    fn the_links_keep_the_search_and_replace_the_sort_and_the_cursor() {
        let form = TableForm {
            q: " 站 ".into(),
            sort: "name".into(),
            after: "abc".into(),
            ..TableForm::default()
        };
        assert_eq!(form.with("-name", None), "q=%E7%AB%99&sort=-name");
        assert_eq!(
            form.with("name", Some("c&d")),
            "q=%E7%AB%99&sort=name&after=c%26d"
        );
        let query = form.query();
        assert_eq!(query.q.as_deref(), Some("站"));
        assert_eq!(query.sort, ["name"]);
        assert_eq!(query.after.as_deref(), Some("abc"));
        assert!(TableForm::default().query().sort.is_empty());
    }

    #[test]
    fn filters_come_from_the_address_and_the_add_fields_and_stay_in_every_link() {
        let form = TableForm::parse(
            "filter=route%3Aeq%3A12&filter=route%3Aeq%3A12&filter=+&q=bus\
             &fcol=stop%3Aname&fop=in&fval=+A%2CB+&sort=-route&after=xyz",
        );
        assert_eq!(form.filters, ["route:eq:12", "stop:name:in:A,B"]);
        assert_eq!(form.query().filters, form.filters);
        assert_eq!(
            form.with("-route", None),
            "q=bus&filter=route%3Aeq%3A12&filter=stop%3Aname%3Ain%3AA%2CB&sort=-route"
        );
        assert_eq!(
            form.without(0),
            "q=bus&filter=stop%3Aname%3Ain%3AA%2CB&sort=-route"
        );
        // An operator that takes no value takes none; an unknown one adds nothing.
        let empty = TableForm::parse("fcol=stop&fop=null&fval=ignored");
        assert_eq!(empty.filters, ["stop:null"]);
        assert!(
            TableForm::parse("fcol=stop&fop=like&fval=x")
                .filters
                .is_empty()
        );
        let many: Vec<String> = (0..20).map(|i| format!("filter=c%3Aeq%3A{i}")).collect();
        // None is dropped: too many is refused by the query, not answered less filtered.
        assert_eq!(TableForm::parse(&many.join("&")).filters.len(), 20);
    }

    #[test]
    fn a_busy_table_says_when_to_come_back_and_no_page_is_kept() {
        let Some((status, key)) = problem(&RowsError::Busy) else {
            panic!("a busy table is the visitor's to retry")
        };
        assert_eq!((status, key), (StatusCode::TOO_MANY_REQUESTS, "table-busy"));
        let busy = response(status).finish();
        let header = |response: &HttpResponse, name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header(&busy, header::RETRY_AFTER).as_deref(), Some("1"));
        assert_eq!(
            header(&busy, header::CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
        let fine = response(StatusCode::OK).finish();
        assert_eq!(header(&fine, header::RETRY_AFTER), None);
        assert_eq!(
            header(&fine, header::CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
    }
}
