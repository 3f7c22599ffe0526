//! The data path: `GET /api/v1/distributions/{id}/data`. The request is authenticated (or
//! anonymous), decided, and written to the circulation ledger — permit or deny, with its
//! reason — before any byte of data is sent; the answer carries the entry's sequence number.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use pdx_catalog::model::DistributionKind;
use pdx_core::{DistributionId, RequestId};
use pdx_licensing::decision::{AccessDecision, DenyReason};

use crate::error::{ApiError, Problem};
use crate::state::ApiState;

/// The receipt: the ledger sequence number of this request's entry.
pub const X_PDX_LEDGER_SEQ: HeaderName = HeaderName::from_static("x-pdx-ledger-seq");
/// The declared purpose of a data request.
pub const X_PDX_PURPOSE: HeaderName = HeaderName::from_static("x-pdx-purpose");

fn with_receipt(mut response: HttpResponse, seq: u64) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&seq.to_string()) {
        response.headers_mut().insert(X_PDX_LEDGER_SEQ, value);
    }
    response
}

fn refusal(reason: DenyReason) -> ApiError {
    let detail = format!("the request was refused: {}", reason.code());
    match reason {
        DenyReason::AuthenticationRequired => {
            ApiError::Unauthorized("an access token is required for this data".into())
        }
        DenyReason::QuotaExhausted => ApiError::TooManyRequests {
            retry_after: 3600,
            detail,
        },
        _ => ApiError::AccessDenied(reason.code()),
    }
}

/// Obtains a distribution's data. Open data needs no token; other data needs a grant and a
/// declared purpose (`X-PDX-Purpose`). Every request, permitted or refused, is written to the
/// circulation ledger first; `X-PDX-Ledger-Seq` is the receipt. If the ledger cannot be
/// written, nothing is served (503).
#[utoipa::path(
    tag = "exchange",
    params(
        ("id" = String, Path, description = "Distribution id"),
        ("X-PDX-Purpose" = Option<String>, Header, description = "The purpose the data is obtained for"),
    ),
    responses(
        (status = 200, description = "The data; `X-PDX-Ledger-Seq` is the receipt", body = String,
         content_type = "application/octet-stream"),
        (status = 303, description = "An API distribution: go to its endpoint"),
        (status = 401, description = "Bad or missing token (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Refused, with the reason code (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota exhausted (logged)", body = Problem, content_type = "application/problem+json"),
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
    let distribution_id = path.into_inner();
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let principal = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            match token.map(|t| state.access.authenticate(t)) {
                Some(Ok(verified)) if !verified.password_change_required => {
                    Some(verified.principal)
                }
                _ => {
                    let seq = state
                        .licensing
                        .log_refusal(distribution_id, "invalid_token", request_id.as_deref())
                        .await
                        .map_err(ledger_failure)?;
                    let response = actix_web::ResponseError::error_response(
                        &ApiError::Unauthorized("the access token is not valid".into()),
                    );
                    return Ok(with_receipt(response, seq));
                }
            }
        }
    };
    let purpose = req
        .headers()
        .get(X_PDX_PURPOSE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let (decision, seq, distribution) = state
        .licensing
        .authorize_and_log(
            principal.as_ref(),
            distribution_id,
            purpose,
            request_id.as_deref(),
        )
        .await
        .map_err(ledger_failure)?;
    if let AccessDecision::Deny(reason) = decision {
        return Ok(with_receipt(
            actix_web::ResponseError::error_response(&refusal(reason)),
            seq,
        ));
    }
    match distribution.kind {
        DistributionKind::Api => {
            let location = distribution.access_url.unwrap_or_default();
            Ok(with_receipt(
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish(),
                seq,
            ))
        }
        DistributionKind::File => {
            let key = distribution.storage_key.clone().ok_or(ApiError::NotFound)?;
            let body = state
                .catalog
                .blobs()
                .stream(&key)
                .await
                .map_err(|e| ApiError::from(pdx_catalog::CatalogError::from(e)))?;
            let name = key.rsplit('/').next().unwrap_or("data").to_owned();
            let extension = distribution.format.to_lowercase();
            let mut response = HttpResponse::Ok();
            response
                .insert_header((header::CONTENT_TYPE, distribution.media_type.clone()))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{extension}\""),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            if let Some(sha256) = &distribution.sha256 {
                response.insert_header((header::ETAG, format!("\"{sha256}\"")));
            }
            let size = distribution
                .byte_size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0);
            let stream =
                body.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError));
            let response = response.body(actix_web::body::SizedStream::new(size, stream));
            Ok(with_receipt(response, seq))
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
