//! Data services over HTTP: ingesting a tabular distribution and following its progress, and
//! `GET /api/v1/distributions/{id}/rows` — rows with the caller's column rights, decided,
//! metered (rows and bytes) and written to the circulation ledger before any row is sent.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use pdx_core::{DistributionId, RequestId};
use pdx_licensing::exchange::DataRequest;
use pdx_licensing::rows::RowsRequestError;
use pdx_rows::RowAnswer;
use pdx_rows::model::{ColumnType, Encoding, IngestOptions, Ingestion, SourceFormat};
use pdx_rows::query::{Limit, MAX_PAGE, RowQuery};
use pdx_rows::render::{CkanEnvelope, OutputFormat, Spool};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::{Authenticated, Context};
use crate::error::{ApiError, Problem};
use crate::exchange::X_PDX_LEDGER_SEQ;
use crate::state::ApiState;

/// Rows in an answer.
pub const X_PDX_ROWS: HeaderName = HeaderName::from_static("x-pdx-rows");
/// Every matching row, when counted.
pub const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// How to read a file; anything left out is detected.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// `csv`, `json` (one array of objects) or `ndjson` (default: from the distribution's
    /// format).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "csv")]
    pub format: Option<SourceFormat>,
    /// `detect` (UTF-8 when the file is valid UTF-8, else GB18030), `utf8` or `gb18030`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "detect")]
    pub encoding: Option<Encoding>,
    /// A CSV file's delimiter (default: the most frequent of `,` `;` tab `|` in its header).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Column types that replace the inferred ones, by column name: `string`, `integer`,
    /// `number`, `boolean`, `date` or `datetime`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub types: std::collections::BTreeMap<String, String>,
}

/// A column of an ingested table.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TableColumnResponse {
    /// Its name in the file.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub column_type: String,
    /// Marked sensitive in the distribution's column schema.
    pub sensitive: bool,
    /// Whether filters and sorts on it use an index.
    pub indexed: bool,
}

/// A row that was not loaded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RejectedRowResponse {
    /// Its number among the data rows (the first is 1).
    pub row: u64,
    /// Why.
    pub reason: String,
}

/// An ingestion and its progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestionResponse {
    /// Its id.
    pub id: String,
    /// The distribution.
    pub distribution_id: String,
    /// `running`, `ready` (its table answers row queries), `failed` or `replaced`.
    pub state: String,
    /// The file's SHA-256.
    pub sha256: String,
    /// The layout read (`csv`, `json`, `ndjson`).
    pub format: Option<String>,
    /// The encoding read (`utf8` or `gb18030` once detected).
    pub encoding: String,
    /// The CSV delimiter used.
    pub delimiter: Option<String>,
    /// The table's columns (once the file has been read through).
    pub columns: Vec<TableColumnResponse>,
    /// Bytes of the file read in the current pass.
    pub bytes_read: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// Rows loaded.
    pub rows_loaded: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// The first rejected rows and why.
    pub rejects: Vec<RejectedRowResponse>,
    /// Why it failed.
    pub error: Option<String>,
    /// Started (RFC 3339).
    pub started_at: String,
    /// Ended (RFC 3339).
    pub finished_at: Option<String>,
}

fn quoted<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<Ingestion> for IngestionResponse {
    fn from(i: Ingestion) -> Self {
        Self {
            id: i.id.to_string(),
            distribution_id: i.distribution_id.to_string(),
            state: i.state.as_str().to_owned(),
            sha256: i.sha256,
            format: i.options.format.map(|f| quoted(&f)),
            encoding: quoted(&i.options.encoding),
            delimiter: i.options.delimiter.map(String::from),
            columns: i
                .columns
                .into_iter()
                .map(|c| TableColumnResponse {
                    name: c.name,
                    column_type: c.column_type.as_str().to_owned(),
                    sensitive: c.sensitive,
                    indexed: c.indexed,
                })
                .collect(),
            bytes_read: i.bytes_read,
            bytes_total: i.bytes_total,
            rows_loaded: i.rows_loaded,
            rows_rejected: i.rows_rejected,
            rejects: i
                .rejects
                .into_iter()
                .map(|r| RejectedRowResponse {
                    row: r.row,
                    reason: r.reason,
                })
                .collect(),
            error: i.error,
            started_at: i.started_at.to_rfc3339(),
            finished_at: i.finished_at.map(|t| t.to_rfc3339()),
        }
    }
}

fn options(request: IngestRequest) -> Result<IngestOptions, ApiError> {
    let delimiter = match request.delimiter.as_deref() {
        None => None,
        Some("\\t" | "tab") => Some('\t'),
        Some(text) => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(ApiError::Validation {
                        code: "validation_failed",
                        field: "delimiter".into(),
                        message: "must be one character (or `tab`)".into(),
                    });
                }
            }
        }
    };
    let mut types = std::collections::BTreeMap::new();
    for (name, type_name) in request.types {
        let column_type = ColumnType::parse(&type_name).ok_or_else(|| ApiError::Validation {
            code: "validation_failed",
            field: format!("types.{name}"),
            message: "must be string, integer, number, boolean, date or datetime".into(),
        })?;
        types.insert(name, column_type);
    }
    Ok(IngestOptions {
        format: request.format,
        encoding: request.encoding.unwrap_or_default(),
        delimiter,
        types,
    })
}

/// Starts (re-)ingesting a tabular distribution's file (CSV, JSON array or NDJSON) into a
/// queryable table, for the dataset's publisher or admin. Uploading a tabular file starts
/// one by itself; this one reads it again, with the options given (for instance column types
/// that replace the inferred ones). Readers keep the previous table until the new one is
/// complete.
#[utoipa::path(
    tag = "data services",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    request_body(content = IngestRequest, description = "How to read the file (all optional)"),
    responses(
        (status = 202, description = "Started; follow its progress at GET …/ingestions", body = IngestionResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the dataset's publisher or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a tabular file (`not_tabular`), or an ingestion of it is already running (`ingestion_running`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid options", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/distributions/{id}/ingestions")]
pub(crate) async fn start_ingestion(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<DistributionId>,
    body: Option<web::Json<IngestRequest>>,
) -> Result<HttpResponse, ApiError> {
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    let options = options(request)?;
    let started = state
        .rows
        .ingest(&principal, path.into_inner(), options, &context)
        .await?;
    Ok(HttpResponse::Accepted().json(IngestionResponse::from(started)))
}

/// A distribution's ingestions, newest first, with a running one's progress (the dataset's
/// publisher or admin only).
#[utoipa::path(
    tag = "data services",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    responses(
        (status = 200, description = "Newest first", body = [IngestionResponse]),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the dataset's publisher or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}/ingestions")]
pub(crate) async fn list_ingestions(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<DistributionId>,
) -> Result<web::Json<Vec<IngestionResponse>>, ApiError> {
    let found = state.rows.ingestions(&principal, path.into_inner()).await?;
    Ok(web::Json(found.into_iter().map(Into::into).collect()))
}

/// The parameters of a row query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RowsParams {
    /// Columns wanted, comma-separated, in order (default: every column you receive).
    pub columns: Option<String>,
    /// A filter `column:operator[:value]`; repeat for several (all must hold). Operators:
    /// `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `in` (comma-separated values, or a JSON array),
    /// `null`, `notnull`. Only columns you receive as they are (not masked) can be filtered.
    pub filter: Option<Vec<String>>,
    /// Text that must occur in one of the text columns you receive as they are (ASCII letters
    /// match in either case).
    pub q: Option<String>,
    /// Sort columns, comma-separated; `-` before a name sorts descending. Ties are broken by
    /// the row's position in the file.
    pub sort: Option<String>,
    /// Rows wanted: 1–10,000 (default 100); for `csv` and `ndjson` also `all`, an export.
    pub limit: Option<String>,
    /// Rows to skip (at most 10,000; follow `next` beyond).
    pub offset: Option<u64>,
    /// The `next` cursor of the previous page (with the same filters and sort).
    pub after: Option<String>,
    /// `true` to count every matching row (`total`, or the `X-Total-Count` header).
    pub total: Option<bool>,
    /// `json` (default), `csv` or `ndjson`; or say it in `Accept`.
    pub format: Option<String>,
}

/// Reads the query string's parameters, keeping repeated `filter`s.
fn row_query(req: &HttpRequest) -> Result<(RowQuery, OutputFormat), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    let mut query = RowQuery::default();
    let mut format = None;
    let mut limit = None;
    let invalid = |field: &str, message: &str| ApiError::Validation {
        code: "invalid_row_query",
        field: field.into(),
        message: message.into(),
    };
    for (name, value) in pairs {
        match name.as_str() {
            "columns" => {
                query.columns = Some(
                    value
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect(),
                );
            }
            "filter" => query.filters.push(value),
            "q" => query.q = Some(value),
            "sort" => {
                query.sort = value
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect();
            }
            "limit" => limit = Some(value),
            "offset" => {
                query.offset = value
                    .parse()
                    .map_err(|_| invalid("offset", "must be a whole number"))?;
            }
            "after" => query.after = Some(value),
            "total" => {
                query.total = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("total", "must be true or false")),
                };
            }
            "format" => {
                format = Some(
                    OutputFormat::parse(&value)
                        .ok_or_else(|| invalid("format", "must be json, csv or ndjson"))?,
                );
            }
            other => {
                return Err(ApiError::InvalidQuery(format!(
                    "unknown parameter `{}`; expected columns, filter, q, sort, limit, offset, \
                     after, total or format",
                    other.chars().take(50).collect::<String>()
                )));
            }
        }
    }
    let format = format.unwrap_or_else(|| {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("text/csv") {
            OutputFormat::Csv
        } else if accept.contains("ndjson") {
            OutputFormat::Ndjson
        } else {
            OutputFormat::Json
        }
    });
    query.limit = match limit.as_deref() {
        None => Limit::Rows(pdx_rows::query::DEFAULT_LIMIT),
        Some("all") if format != OutputFormat::Json => Limit::All,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Limit::Rows(n),
            Ok(n) if n > MAX_PAGE && format != OutputFormat::Json => Limit::Rows(n),
            _ => {
                return Err(invalid(
                    "limit",
                    "must be 1 to 10000 (for csv and ndjson any number, or `all`)",
                ));
            }
        },
    };
    Ok((query, format))
}

/// Reads the distribution's rows — the columns you may see, masked as your grant says —
/// decided, metered and logged like a download: the ledger entry records the rows and bytes
/// of the answer before it is sent (`X-PDX-Ledger-Seq`), and a grant's row quota holds
/// exactly. Open data shows every column not marked sensitive; the publishing agency sees all.
#[utoipa::path(
    tag = "data services",
    params(
        ("id" = String, Path, description = "Distribution id"),
        RowsParams,
        ("X-PDX-Purpose" = Option<crate::schemas::PurposeName>, Header, description = "The purpose (needed under a grant)"),
    ),
    responses(
        (status = 200, description = "The rows: JSON `{columns, rows, total?, limit, offset, next}`, CSV (`Link: <…>; rel=\"next\"`) or NDJSON; `X-PDX-Rows` and `X-PDX-Ledger-Seq` on each",
         content(
            (Object = "application/json"),
            (String = "text/csv"),
            (String = "application/x-ndjson"),
         )),
        (status = 400, description = "An unknown parameter (`invalid_query`), or a grant's data asked for without a purpose (`purpose_required`, logged)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad or missing token (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Refused, with the reason code (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not tabular (`not_tabular`), or its rows are not loaded yet (`rows_not_loaded`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is wrong: an unknown or hidden column (`unknown_column`), a masked one in a filter, sort or search (`masked_column`), or a malformed value (`invalid_row_query`); or the query ran past its time limit (`query_too_slow`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The grant's row, byte or request quota would be passed (logged, with what is left); or too many queries right now (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger cannot be written: nothing is served", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}/rows")]
pub(crate) async fn get_rows(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<DistributionId>,
) -> Result<HttpResponse, ApiError> {
    let (query, format) = row_query(&req)?;
    let (answer, seq) =
        match serve_rows(&req, &state, path.into_inner(), query, format, None).await? {
            Served::Rows(answer, seq) => (answer, seq),
            Served::Refused(response) => return Ok(response),
        };
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CONTENT_TYPE, answer.format.media_type()));
    if let Some(total) = answer.total {
        response.insert_header((X_TOTAL_COUNT, total.to_string()));
    }
    if let Some(next) = &answer.next {
        let link = next_link(&req, next);
        if let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")) {
            response.insert_header((header::LINK, value));
        }
    }
    Ok(body(response, answer, seq))
}

/// A row query's outcome: the answer and its receipt, or the refusal to send (with its
/// receipt when it was logged).
pub(crate) enum Served {
    /// The answer, permitted and logged under this sequence number.
    Rows(RowAnswer, u64),
    /// The refusal.
    Refused(HttpResponse),
}

/// Decides, reads, meters and logs a row query: the one data path of `…/rows` and CKAN's
/// `datastore_search`.
pub(crate) async fn serve_rows(
    req: &HttpRequest,
    state: &ApiState,
    id: DistributionId,
    query: RowQuery,
    format: OutputFormat,
    ckan: Option<CkanEnvelope>,
) -> Result<Served, ApiError> {
    let address = crate::exchange::admit(req, state)?;
    let mut request = DataRequest::new(
        None,
        id,
        req.extensions().get::<RequestId>().map(ToString::to_string),
    );
    crate::exchange::identify(req, state, &mut request);
    let served = state
        .licensing
        .serve_rows(&state.catalog, &state.rows, request, query, format, ckan)
        .await
        .map_err(|error| match error {
            RowsRequestError::Rows(rows) => rows.into(),
            RowsRequestError::Licensing(licensing) => crate::exchange::ledger_failure(licensing),
            RowsRequestError::NotPrepared => ApiError::Internal(error.to_string().into()),
        })?;
    match served.outcome {
        Ok(answer) => Ok(Served::Rows(answer, served.seq)),
        Err(refused) => {
            state.edge.failed(address);
            let error = crate::exchange::refusal(refused, served.quota, 0);
            Ok(Served::Refused(crate::exchange::refused_with_receipt(
                &error, served.seq,
            )))
        }
    }
}

/// The answer's body and the headers every row answer carries.
pub(crate) fn body(
    mut response: actix_web::HttpResponseBuilder,
    answer: RowAnswer,
    seq: u64,
) -> HttpResponse {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((X_PDX_ROWS, answer.rows.to_string()))
        .insert_header((X_PDX_LEDGER_SEQ, seq.to_string()));
    match answer.body {
        Spool::Memory(bytes) => response.body(bytes),
        Spool::File(file, length) => {
            response.body(actix_web::body::SizedStream::new(length, file_stream(file)))
        }
    }
}

/// The path and query of the next page: the same query with `after` set.
fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let mut kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(name, _)| name != "after" && name != "offset")
        .collect();
    kept.push(("after".into(), cursor.to_owned()));
    format!(
        "{}?{}",
        req.path(),
        serde_urlencoded::to_string(&kept).unwrap_or_default()
    )
}

/// Streams a spooled answer's file in chunks, read off the async executor.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buffer = vec![0u8; 256 * 1024];
            let n = file.read(&mut buffer)?;
            buffer.truncate(n);
            Ok::<_, std::io::Error>((buffer, file))
        })
        .await;
        match read {
            Ok(Ok((buffer, _))) if buffer.is_empty() => None,
            Ok(Ok((buffer, file))) => Some((Ok(web::Bytes::from(buffer)), Some(file))),
            Ok(Err(e)) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    })
}
