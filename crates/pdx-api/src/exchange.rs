//! The data path: `GET /api/v1/distributions/{id}/data`. The request is authenticated (or
//! anonymous), decided, and written to the circulation ledger — permit or deny, with its
//! reason — before any byte of data is sent; the answer carries the entry's sequence number.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use pdx_catalog::model::DistributionKind;
use pdx_core::{DistributionId, RequestId};
use pdx_licensing::decision::DenyReason;
use pdx_licensing::exchange::{ByteRange, DataRequest, QuotaState, Refusal};

use crate::error::{ApiError, Problem, Quota};
use crate::state::ApiState;

/// The receipt: the ledger sequence number of this request's entry.
pub const X_PDX_LEDGER_SEQ: HeaderName = HeaderName::from_static("x-pdx-ledger-seq");
/// The declared purpose of a data request.
pub const X_PDX_PURPOSE: HeaderName = HeaderName::from_static("x-pdx-purpose");

/// A client's idempotency key: a retry under the same grant gets the first receipt.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

fn with_receipt(mut response: HttpResponse, seq: u64) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&seq.to_string()) {
        response.headers_mut().insert(X_PDX_LEDGER_SEQ, value);
    }
    response
}

fn refusal(refusal: Refusal, quota: Option<QuotaState>, size: u64) -> ApiError {
    match refusal {
        Refusal::InvalidToken => ApiError::Unauthorized("the access token is not valid".into()),
        Refusal::RangeNotSatisfiable => ApiError::RangeNotSatisfiable { size },
        Refusal::Decision(DenyReason::AuthenticationRequired) => {
            ApiError::Unauthorized("an access token is required for this data".into())
        }
        Refusal::Decision(DenyReason::QuotaExhausted) => ApiError::QuotaExhausted {
            retry_after: quota
                .as_ref()
                .map_or(3600, |q| seconds_until(q.valid_until)),
            quota: quota.map(|q| Quota {
                grant: q.grant,
                max_requests: q.max_requests,
                requests_used: q.requests_used,
                max_bytes: q.max_bytes,
                bytes_used: q.bytes_used,
                valid_until: q.valid_until.to_rfc3339(),
            }),
        },
        Refusal::Decision(reason) => ApiError::AccessDenied(reason.code()),
    }
}

/// A quota lasts as long as its grant: a retry can succeed only under a new grant.
fn seconds_until(until: pdx_core::Timestamp) -> u64 {
    u64::try_from((until - chrono::Utc::now()).num_seconds())
        .unwrap_or(0)
        .max(1)
}

/// Obtains a distribution's data. Open data needs no token; other data needs a grant and a
/// declared purpose (`X-PDX-Purpose`). Every request, permitted or refused, is written to the
/// circulation ledger first; `X-PDX-Ledger-Seq` is the receipt. If the ledger cannot be
/// written, nothing is served (503). A single `Range` is honoured (and metered by the bytes
/// served); an `Idempotency-Key` makes a retry under the same grant return the first receipt,
/// counted once.
#[utoipa::path(
    tag = "exchange",
    params(
        ("id" = String, Path, description = "Distribution id"),
        ("X-PDX-Purpose" = Option<String>, Header, description = "The purpose the data is obtained for"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key under the same grant return the same receipt and are counted once"),
    ),
    responses(
        (status = 200, description = "The data; `X-PDX-Ledger-Seq` is the receipt", body = String,
         content_type = "application/octet-stream"),
        (status = 206, description = "The requested range of the data", body = String,
         content_type = "application/octet-stream"),
        (status = 303, description = "An API distribution: go to its endpoint"),
        (status = 401, description = "Bad or missing token (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Refused, with the reason code (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range lies outside the data (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed idempotency key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota exhausted, with the quota in the body (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger cannot be written: nothing is served", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}/data")]
pub(crate) async fn get_data(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<DistributionId>,
) -> Result<HttpResponse, ApiError> {
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let idempotency_key = match text(IDEMPOTENCY_KEY) {
        Some(key) if key.len() > MAX_IDEMPOTENCY_KEY || !key.is_ascii() => {
            return Err(ApiError::Validation {
                code: "validation_failed",
                field: "Idempotency-Key".into(),
                message: "must be at most 255 visible ASCII characters".into(),
            });
        }
        key => key.map(str::to_owned),
    };
    let mut request = DataRequest {
        principal: None,
        distribution: path.into_inner(),
        purpose: text(X_PDX_PURPOSE).map(str::to_owned),
        request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
        idempotency_key,
        range: text(header::RANGE).and_then(ByteRange::parse),
        refused: None,
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match token.map(|t| state.access.authenticate(t)) {
            Some(Ok(verified)) if !verified.password_change_required => {
                request.principal = Some(verified.principal);
            }
            _ => request.refused = Some(Refusal::InvalidToken),
        }
    }
    let answer = state
        .licensing
        .obtain(request)
        .await
        .map_err(ledger_failure)?;
    let distribution = answer.distribution;
    let size = distribution
        .byte_size
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0);
    let served = match answer.outcome {
        Ok(served) => served,
        Err(refused) => {
            let error = refusal(refused, answer.quota, size);
            return Ok(with_receipt(
                actix_web::ResponseError::error_response(&error),
                answer.seq,
            ));
        }
    };
    match distribution.kind {
        DistributionKind::Api => {
            let location = distribution.access_url.unwrap_or_default();
            Ok(with_receipt(
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish(),
                answer.seq,
            ))
        }
        DistributionKind::File => {
            let key = distribution.storage_key.clone().ok_or(ApiError::NotFound)?;
            let blobs = state.catalog.blobs();
            let blob_failure = |e| ApiError::from(pdx_catalog::CatalogError::from(e));
            // Small files are served from memory; larger ones are streamed from the store.
            let body = if size <= pdx_storage::SMALL_BLOB {
                let bytes = blobs.read_small(&key).await.map_err(blob_failure)?;
                let part = match served.range {
                    Some((first, last)) => {
                        let end =
                            usize::try_from(last + 1).map_or(bytes.len(), |e| e.min(bytes.len()));
                        let start = usize::try_from(first).map_or(end, |s| s.min(end));
                        bytes.slice(start..end)
                    }
                    None => bytes,
                };
                futures_util::stream::once(std::future::ready(Ok(part))).boxed()
            } else {
                match served.range {
                    Some((first, last)) => blobs.stream_range(&key, first..last + 1).await,
                    None => blobs.stream(&key).await,
                }
                .map_err(blob_failure)?
            };
            let name = key.rsplit('/').next().unwrap_or("data").to_owned();
            let extension = distribution.format.to_lowercase();
            let mut response = match served.range {
                Some(_) => HttpResponse::PartialContent(),
                None => HttpResponse::Ok(),
            };
            response
                .insert_header((header::CONTENT_TYPE, distribution.media_type.clone()))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{extension}\""),
                ))
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            if let Some(sha256) = &distribution.sha256 {
                response.insert_header((header::ETAG, format!("\"{sha256}\"")));
            }
            let length = match served.range {
                Some((first, last)) => {
                    response.insert_header((
                        header::CONTENT_RANGE,
                        format!("bytes {first}-{last}/{size}"),
                    ));
                    last - first + 1
                }
                None => size,
            };
            let stream =
                body.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError));
            let response = response.body(actix_web::body::SizedStream::new(length, stream));
            Ok(with_receipt(response, answer.seq))
        }
    }
}

/// A failure to decide or log: if the ledger cannot be written, the request fails closed.
fn ledger_failure(error: pdx_licensing::LicensingError) -> ApiError {
    match error {
        pdx_licensing::LicensingError::Storage(storage) => ApiError::Unavailable(Box::new(storage)),
        other => other.into(),
    }
}
