//! Conditional reads: JSON answers carry an `ETag` over their bytes, and a request whose
//! `If-None-Match` names it is answered 304 with no body.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Serialises `value` and answers it with an ETag, or 304 if the client already has it.
pub fn json<T: Serialize>(req: &HttpRequest, value: &T) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(bytes(req, body, "application/json"))
}

/// Answers `body` with an ETag, or 304 if the client already has it.
pub fn bytes(req: &HttpRequest, body: Vec<u8>, content_type: &'static str) -> HttpResponse {
    let digest = Sha256::digest(&body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|candidate| {
                let candidate = candidate.trim();
                candidate == "*" || candidate.trim_start_matches("W/") == etag
            })
        });
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag_value))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag_value))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type(content_type)
        .body(body)
}
