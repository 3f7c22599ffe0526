//! Distributions: file uploads (multipart or a raw body, streamed to the blob store with
//! size limit and SHA-256) and external API endpoints, with optional column schemas.

use actix_multipart::Multipart;
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use futures_util::StreamExt;
use pdx_catalog::model::{Column, Distribution, DistributionKind};
use pdx_catalog::service::DistributionInput;
use pdx_core::DistributionId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::{Authenticated, Context, MaybeAuthenticated};
use crate::error::{ApiError, Problem};
use crate::etag;
use crate::state::ApiState;

/// A column of a tabular distribution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSchema {
    /// Column name, as in the file's header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`, `datetime` or `geometry`.
    #[serde(rename = "type")]
    pub column_type: String,
    /// What the column holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it holds personal or otherwise sensitive information.
    #[serde(default)]
    pub sensitive: bool,
}

impl From<ColumnSchema> for Column {
    fn from(c: ColumnSchema) -> Self {
        Self {
            name: c.name,
            column_type: c.column_type,
            description: c.description,
            sensitive: c.sensitive,
        }
    }
}

impl From<Column> for ColumnSchema {
    fn from(c: Column) -> Self {
        Self {
            name: c.name,
            column_type: c.column_type,
            description: c.description,
            sensitive: c.sensitive,
        }
    }
}

/// A distribution as shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DistributionResponse {
    /// Distribution id.
    pub id: String,
    /// Its dataset's id.
    pub dataset_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// `file` or `api`.
    #[schema(value_type = String)]
    pub kind: DistributionKind,
    /// Format, e.g. `CSV`.
    pub format: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes (files).
    pub byte_size: Option<i64>,
    /// SHA-256, hex (files).
    pub sha256: Option<String>,
    /// The endpoint (APIs).
    pub access_url: Option<String>,
    /// Column schema.
    pub columns: Option<Vec<ColumnSchema>>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last modified (RFC 3339).
    pub modified_at: String,
    /// The dataset version it was first published in; `null` while only a draft or a pending
    /// revision holds it (nobody but the owning agency may obtain it then).
    pub published_version: Option<i32>,
}

impl From<Distribution> for DistributionResponse {
    fn from(d: Distribution) -> Self {
        Self {
            id: d.id.to_string(),
            dataset_id: d.dataset_id.to_string(),
            title: d.title,
            description: d.description,
            kind: d.kind,
            format: d.format,
            media_type: d.media_type,
            byte_size: d.byte_size,
            sha256: d.sha256,
            access_url: d.access_url,
            columns: d.columns.map(|cs| cs.into_iter().map(Into::into).collect()),
            created_at: d.created_at.to_rfc3339(),
            modified_at: d.modified_at.to_rfc3339(),
            published_version: d.published_version,
        }
    }
}

/// An external API endpoint as a distribution (sent as JSON).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiDistributionRequest {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// The endpoint URL.
    pub access_url: String,
    /// Format, e.g. `JSON`.
    pub format: Option<String>,
    /// Media type.
    pub media_type: Option<String>,
    /// Column schema of what it returns.
    pub columns: Option<Vec<ColumnSchema>>,
}

/// Metadata of a raw-body upload, in the query string.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Title (the file name when absent).
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Format, e.g. `CSV` (inferred from the media type or file name when absent).
    pub format: Option<String>,
}

/// A multipart upload: metadata fields first, then the file.
#[derive(Debug, ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "documents the multipart form for OpenAPI")]
pub struct MultipartUpload {
    /// Title (the file name when absent).
    title: Option<String>,
    /// Description.
    description: Option<String>,
    /// Format, e.g. `CSV`.
    format: Option<String>,
    /// Column schema as a JSON array of `ColumnSchema`.
    columns: Option<String>,
    /// The file, last.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn file_name_of(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(CONTENT_DISPOSITION)?.to_str().ok()?;
    value.split(';').map(str::trim).find_map(|part| {
        part.strip_prefix("filename=")
            .map(|name| name.trim_matches('"').to_owned())
    })
}

fn parse_columns(raw: &str) -> Result<Vec<Column>, ApiError> {
    let columns: Vec<ColumnSchema> =
        serde_json::from_str(raw).map_err(|e| ApiError::Validation {
            code: "validation_failed",
            field: "columns".into(),
            message: format!("must be a JSON array of columns: {e}"),
        })?;
    Ok(columns.into_iter().map(Into::into).collect())
}

/// What a multipart upload may carry beside the file: boundaries and metadata fields.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

/// Adds a distribution to a draft dataset or to a pending revision (where it is not public, nor
/// obtainable by anyone but the owning agency, until the revision is published). Send a file as `multipart/form-data` (fields
/// `title`, `description`, `format`, `columns` before the `file` part), or as the raw body
/// with its media type (metadata in the query string, the name in `Content-Disposition`),
/// or an external API endpoint as JSON. Files are streamed, checksummed and size-limited.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id or slug"), UploadParams),
    request_body(content(
        (MultipartUpload = "multipart/form-data"),
        (ApiDistributionRequest = "application/json"),
        (String = "application/octet-stream"),
    )),
    responses(
        (status = 201, description = "Added", body = DistributionResponse),
        (status = 403, description = "Not a publisher of the owning agency", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The dataset is not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file exceeds the upload limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid metadata", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/datasets/{id}/distributions")]
pub(crate) async fn create_distribution(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    params: web::Query<UploadParams>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // A body declared larger than the limit is refused before a byte of it is read (a
    // multipart body may carry its metadata fields beside the file).
    let limit = state.catalog.max_upload_bytes();
    let allowance = if essence == "multipart/form-data" {
        MULTIPART_OVERHEAD
    } else {
        0
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit.saturating_add(allowance)) {
        return Err(ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        });
    }
    let distribution = if essence == "multipart/form-data" {
        let mut multipart = Multipart::new(req.headers(), payload);
        let mut input = DistributionInput::default();
        let mut stored = None;
        while let Some(field) = multipart.next().await {
            let mut field = field
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                input.file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(str::to_owned);
                input.media_type = field.content_type().map(ToString::to_string);
                let upload = state.catalog.upload_distribution(
                    &principal,
                    &path,
                    input.clone(),
                    &mut field,
                    &context,
                );
                stored = Some(upload.await?);
                break;
            }
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
                if value.len() + chunk.len() > 64 * 1024 {
                    return Err(ApiError::PayloadTooLarge { limit: 64 * 1024 });
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| ApiError::BadRequest(format!("field `{name}` is not UTF-8")))?;
            match name.as_str() {
                "title" => input.title = Some(value),
                "description" => input.description = Some(value),
                "format" => input.format = Some(value),
                "columns" if value.trim().is_empty() => {}
                "columns" => input.columns = Some(parse_columns(&value)?),
                other => {
                    return Err(ApiError::Validation {
                        code: "validation_failed",
                        field: other.to_owned(),
                        message: "is not a field of an upload (title, description, format, columns, file)".into(),
                    });
                }
            }
        }
        stored.ok_or_else(|| ApiError::Validation {
            code: "validation_failed",
            field: "file".into(),
            message: "a multipart upload needs a `file` part (after the metadata fields)".into(),
        })?
    } else if essence == "application/json" {
        let mut body = web::BytesMut::new();
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if body.len() + chunk.len() > crate::extract::JSON_LIMIT {
                return Err(ApiError::PayloadTooLarge {
                    limit: crate::extract::JSON_LIMIT,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let request: ApiDistributionRequest = serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                ApiError::InvalidBody(e.to_string())
            } else {
                ApiError::MalformedJson(e.to_string())
            }
        })?;
        let input = DistributionInput {
            title: Some(request.title),
            description: request.description,
            format: request.format,
            media_type: request.media_type,
            file_name: None,
            access_url: Some(request.access_url),
            columns: request
                .columns
                .map(|cs| cs.into_iter().map(Into::into).collect()),
        };
        state
            .catalog
            .add_api_distribution(&principal, &path, input, &context)
            .await?
    } else {
        let params = params.into_inner();
        let input = DistributionInput {
            title: params.title,
            description: params.description,
            format: params.format,
            media_type: Some(content_type),
            file_name: file_name_of(&req),
            access_url: None,
            columns: None,
        };
        let mut payload = payload;
        state
            .catalog
            .upload_distribution(&principal, &path, input, &mut payload, &context)
            .await?
    };
    // A tabular file is ingested at once, so its rows can be queried when it is published.
    state
        .rows
        .ingest_upload(&principal, &distribution, &context)
        .await;
    Ok(HttpResponse::Created().json(DistributionResponse::from(distribution)))
}

/// A distribution's metadata (its dataset must be visible to the caller).
#[utoipa::path(
    tag = "catalog",
    params(("id" = String, Path, description = "Distribution id")),
    responses(
        (status = 200, description = "The distribution", body = DistributionResponse),
        (status = 404, description = "No such distribution, or not visible", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}")]
pub(crate) async fn get_distribution(
    req: HttpRequest,
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<DistributionId>,
) -> Result<HttpResponse, ApiError> {
    let (distribution, _) = state
        .catalog
        .distribution(principal.as_ref(), path.into_inner())
        .await?;
    etag::json(&req, &DistributionResponse::from(distribution))
}

/// Changes to a distribution; absent fields stay, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDistributionRequest {
    /// New title.
    #[schema(min_length = 1, max_length = 300)]
    pub title: Option<String>,
    /// New description, or `null`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New column schema, or `null`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Vec<ColumnSchema>>)]
    pub columns: Option<Option<Vec<ColumnSchema>>>,
}

/// Changes a distribution's title, description or column schema (drafts and pending revisions
/// only; for a published distribution the change waits in the revision until it is published).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    request_body = UpdateDistributionRequest,
    responses(
        (status = 200, description = "Updated", body = DistributionResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The dataset is not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid column schema", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/distributions/{id}")]
pub(crate) async fn update_distribution(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<DistributionId>,
    body: web::Json<UpdateDistributionRequest>,
) -> Result<web::Json<DistributionResponse>, ApiError> {
    let body = body.into_inner();
    let columns = body
        .columns
        .map(|c| c.map(|cs| cs.into_iter().map(Into::into).collect()));
    let retyped = columns.is_some();
    let updated = state
        .catalog
        .update_distribution(
            &principal,
            path.into_inner(),
            body.title,
            body.description,
            columns,
            &context,
        )
        .await?;
    // Declared column types apply to the table: a tabular file is ingested again with them.
    if retyped
        && pdx_rows::model::SourceFormat::of_file(
            updated.kind,
            &updated.format,
            &updated.media_type,
        )
        .is_some()
        && let Err(error) = state
            .rows
            .ingest_again(&principal, updated.id, &context)
            .await
    {
        tracing::warn!(%error, distribution = %updated.id, "could not ingest again");
    }
    Ok(web::Json(updated.into()))
}

/// Removes a distribution of a draft dataset (and its file) unless a published version has it.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The dataset is not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Part of a published version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/distributions/{id}")]
pub(crate) async fn delete_distribution(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<DistributionId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state
        .catalog
        .delete_distribution(&principal, id, &context)
        .await?;
    // Its rows go with it.
    if let Err(error) = state.rows.forget(id).await {
        tracing::warn!(%error, distribution = %id, "could not remove a deleted distribution's rows");
    }
    Ok(HttpResponse::NoContent().finish())
}
