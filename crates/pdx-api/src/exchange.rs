//! The data path: `GET /api/v1/distributions/{id}/data`. The request is authenticated (or
//! anonymous), decided, and written to the circulation ledger — permit or deny, with its
//! reason — before any byte of data is sent; the answer carries the entry's sequence number.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use pdx_catalog::FileBody;
use pdx_catalog::model::{Distribution, DistributionKind};
use pdx_core::{DistributionId, RequestId};
use pdx_licensing::decision::DenyReason;
use pdx_licensing::exchange::{ByteRange, DataRequest, Prepared, QuotaState, Refusal};
use pdx_licensing::model::PURPOSES;
use pdx_storage::StorageError;

use crate::error::{ApiError, Problem, Quota};
use crate::schemas::PurposeName;
use crate::state::ApiState;

/// The receipt: the ledger sequence number of this request's entry.
pub const X_PDX_LEDGER_SEQ: HeaderName = HeaderName::from_static("x-pdx-ledger-seq");
/// The declared purpose of a data request.
pub const X_PDX_PURPOSE: HeaderName = HeaderName::from_static("x-pdx-purpose");
/// On an idempotent retry: the sequence number of the retry's own `data_replay` entry.
pub const X_PDX_REPLAY_SEQ: HeaderName = HeaderName::from_static("x-pdx-replay-seq");

/// A client's idempotency key: a retry under the same grant gets the first receipt.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub(crate) fn with_receipt(mut response: HttpResponse, seq: u64) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&seq.to_string()) {
        response.headers_mut().insert(X_PDX_LEDGER_SEQ, value);
    }
    response
}

/// A problem answer with the receipt of the request's ledger entry.
pub(crate) fn refused_with_receipt(error: &ApiError, seq: u64) -> HttpResponse {
    with_receipt(actix_web::ResponseError::error_response(error), seq)
}

pub(crate) fn refusal(refusal: Refusal, quota: Option<QuotaState>, size: u64) -> ApiError {
    match refusal {
        Refusal::InvalidToken => ApiError::invalid_token("the access token is not valid"),
        Refusal::UnknownPurpose => ApiError::Validation {
            code: "unknown_purpose",
            field: "X-PDX-Purpose".into(),
            message: format!("must be one of: {}", PURPOSES.join(", ")),
        },
        Refusal::RangeNotSatisfiable => ApiError::RangeNotSatisfiable { size },
        Refusal::IdempotencyKeyReused => ApiError::Validation {
            code: "idempotency_key_reused",
            field: "Idempotency-Key".into(),
            message: "was first used for a different request (distribution, range, purpose or \
                      data); use a new key for a new request"
                .into(),
        },
        Refusal::DataUnavailable => ApiError::DataUnavailable,
        Refusal::Upstream(unready) => crate::gateway::unready(unready, None),
        Refusal::Decision(DenyReason::AuthenticationRequired) => {
            ApiError::authentication_required("an access token is required for this data")
        }
        Refusal::Decision(DenyReason::PurposeRequired) => ApiError::Required {
            code: "purpose_required",
            field: "X-PDX-Purpose".into(),
            message: format!(
                "this data is obtained under a grant: declare the purpose in X-PDX-Purpose ({})",
                PURPOSES.join(", ")
            ),
        },
        Refusal::Decision(DenyReason::QuotaExhausted) => ApiError::QuotaExhausted {
            quota: quota.map(|q| {
                Box::new(Quota {
                    requests_remaining: q.requests_remaining(),
                    bytes_remaining: q.bytes_remaining(),
                    rows_remaining: q.rows_remaining(),
                    grant: q.grant,
                    max_requests: q.max_requests,
                    requests_used: q.requests_used,
                    max_bytes: q.max_bytes,
                    bytes_used: q.bytes_used,
                    bytes_requested: q.bytes_requested,
                    max_rows: q.max_rows,
                    rows_used: q.rows_used,
                    rows_requested: q.rows_requested,
                    valid_until: q.valid_until.to_rfc3339(),
                })
            }),
        },
        Refusal::Decision(reason) => ApiError::AccessDenied(reason.code()),
    }
}

/// A file answer made ready before the decision: what a permit would serve.
struct Ready {
    body: FileBody,
    content_type: HeaderValue,
    disposition: HeaderValue,
}

/// Opens the file (or the part asked for) and builds the answer's headers, so that a permit is
/// logged only for data about to be served. `None` when the file is missing, unreadable, of
/// another size than recorded, or its headers cannot be built.
async fn open_file(
    state: &ApiState,
    distribution: &Arc<Distribution>,
    range: Option<ByteRange>,
) -> Option<Ready> {
    let size = distribution.byte_size.and_then(|s| u64::try_from(s).ok())?;
    let (content_type, disposition) = answer_headers(distribution)?;
    let part = range.and_then(|r| r.resolve(size));
    let body = state.catalog.open_file(distribution, part).await?;
    Some(Ready {
        body,
        content_type,
        disposition,
    })
}

/// Distributions whose answer headers were built, with the catalog's facts they were built
/// from: they are reused while the catalog hands out the same facts (it replaces them when the
/// distribution changes), so each is built once, not on every download.
type PreparedHeaders =
    quick_cache::sync::Cache<DistributionId, (Arc<Distribution>, HeaderValue, HeaderValue)>;

/// A distribution's `Content-Type` and `Content-Disposition` values; `None` when they cannot
/// be built.
fn answer_headers(distribution: &Arc<Distribution>) -> Option<(HeaderValue, HeaderValue)> {
    static PREPARED: OnceLock<PreparedHeaders> = OnceLock::new();
    let prepared = PREPARED.get_or_init(|| PreparedHeaders::new(4_096));
    if let Some((facts, content_type, disposition)) = prepared.get(&distribution.id)
        && Arc::ptr_eq(&facts, distribution)
    {
        return Some((content_type, disposition));
    }
    let content_type = HeaderValue::from_str(&distribution.media_type).ok()?;
    let disposition = HeaderValue::from_str(&distribution.content_disposition()).ok()?;
    prepared.insert(
        distribution.id,
        (
            Arc::clone(distribution),
            content_type.clone(),
            disposition.clone(),
        ),
    );
    Some((content_type, disposition))
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
        ("X-PDX-Purpose" = Option<PurposeName>, Header, description = "The purpose the data is obtained for (needed for data obtained under a grant)"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key under the same grant return the same receipt and are counted once"),
    ),
    responses(
        (status = 200, description = "The data, in the distribution's media type; `X-PDX-Ledger-Seq` is the receipt", body = String,
         content_type = "*/*"),
        (status = 206, description = "The requested range of the data", body = String,
         content_type = "*/*"),
        (status = 303, description = "An API distribution: go to where it is called (through PDX's gateway when configured)"),
        (status = 401, description = "Bad or missing token (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Refused, with the reason code (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range lies outside the data (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "A grant needs a purpose and none was declared (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed or reused idempotency key, or a purpose outside the vocabulary (logged unless malformed)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota exhausted, with what is left in the body (logged); or too many anonymous or refused requests from this address (with `Retry-After`, not logged)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger cannot be written, or the file cannot be read (logged as `data_unavailable`): nothing is served or charged", body = Problem,
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
    let address = admit(&req, &state)?;
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
        purpose: None,
        request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
        idempotency_key,
        range: text(header::RANGE).and_then(ByteRange::parse),
        prepared: Prepared::Nothing,
        refused: None,
    };
    identify(&req, &state, &mut request);
    let facts = state
        .catalog
        .distribution_facts(request.distribution)
        .await?;
    let mut ready = None;
    if request.refused.is_none() && facts.kind == DistributionKind::File {
        ready = open_file(&state, &facts, request.range).await;
        request.prepared = Prepared::of(&facts, ready.is_some());
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
            state.edge.failed(address);
            let error = refusal(refused, answer.quota, size);
            return Ok(refused_with_receipt(&error, answer.seq));
        }
    };
    let mut response = match (distribution.kind, ready) {
        (DistributionKind::Api, _) => {
            // Through the gateway when the publisher configured it; else the API's own address.
            let location = match crate::gateway::gateway_location(&state, distribution.id).await {
                Some(gateway) => gateway,
                None => distribution.access_url.unwrap_or_default(),
            };
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish()
        }
        (DistributionKind::File, Some(ready)) => {
            let mut response = match served.range {
                Some(_) => HttpResponse::PartialContent(),
                None => HttpResponse::Ok(),
            };
            response
                .insert_header((header::CONTENT_TYPE, ready.content_type))
                .insert_header((header::CONTENT_DISPOSITION, ready.disposition))
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
            match ready.body {
                FileBody::Memory(bytes) => response.body(bytes),
                FileBody::Stream(stream) => {
                    let stream = stream
                        .map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError));
                    response.body(actix_web::body::SizedStream::new(length, stream))
                }
            }
        }
        // The batch permits a file only when the edge opened it.
        (DistributionKind::File, None) => {
            return Err(ApiError::Internal(
                "a file was permitted that was not opened".into(),
            ));
        }
    };
    // A retry answers with the first answer's receipt; its own entry is named beside it.
    if let Some(first) = served.replay_of {
        if let Ok(value) = HeaderValue::from_str(&answer.seq.to_string()) {
            response.headers_mut().insert(X_PDX_REPLAY_SEQ, value);
        }
        return Ok(with_receipt(response, first));
    }
    Ok(with_receipt(response, answer.seq))
}

/// Admits a data request from its client address: a run of refusals, or a flood of anonymous
/// requests, waits. Such turned-away requests are counted in metrics, not the ledger, so a
/// flood cannot grow it. Returns the address.
pub(crate) fn admit(req: &HttpRequest, state: &ApiState) -> Result<Option<IpAddr>, ApiError> {
    let address = state.edge.client_address(req);
    let anonymous = !req.headers().contains_key(header::AUTHORIZATION);
    if let Err(wait) = state.edge.admit_data(address, anonymous) {
        metrics::counter!("pdx_data_requests_limited_total").increment(1);
        return Err(ApiError::TooManyRequests {
            retry_after: wait.as_secs().max(1),
            detail: "too many data requests from this address; retry later".into(),
        });
    }
    Ok(address)
}

/// Reads who asks and for what purpose into `request`. Only a value of the vocabulary reaches
/// the ledger; anything else is refused, and logged without the text the client chose. A token
/// that is not valid is refused (and logged) too.
pub(crate) fn identify(req: &HttpRequest, state: &ApiState, request: &mut DataRequest) {
    let headers = req.headers();
    match headers
        .get(X_PDX_PURPOSE)
        .map(|v| v.to_str().map(str::trim))
    {
        None | Some(Ok("")) => {}
        Some(Ok(purpose)) if PURPOSES.contains(&purpose) => {
            request.purpose = Some(purpose.to_owned());
        }
        Some(_) => request.refused = Some(Refusal::UnknownPurpose),
    }
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
}

/// A failure to decide or log: if the ledger cannot be written, the request fails closed.
pub(crate) fn ledger_failure(error: pdx_licensing::LicensingError) -> ApiError {
    match error {
        pdx_licensing::LicensingError::Storage(StorageError::Unreachable(_)) => {
            ApiError::DatabaseUnreachable
        }
        pdx_licensing::LicensingError::Storage(storage) => ApiError::Unavailable(Box::new(storage)),
        other => other.into(),
    }
}
