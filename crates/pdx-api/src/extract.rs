//! Extractor configuration: malformed JSON, bad query strings and bad path segments are
//! answered as problem+json with their own codes, not the framework's plain text.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;

use crate::error::ApiError;

/// Largest JSON body accepted by any endpoint.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// JSON bodies: syntax errors are 400 `malformed_json`, shape errors 422 `invalid_body`.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        .error_handler(|error, _request| ApiError::from(error).into())
}

/// Query strings: a parameter the endpoint does not know is 400 `invalid_query` naming it; a
/// known parameter with a value it cannot take is 422 `invalid_parameter`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| ApiError::from(error).into())
}

/// For `Option<Option<T>>` fields: an absent field stays `None`, an explicit `null` becomes
/// `Some(None)` (clear it), a value `Some(Some(v))`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Path segments that do not parse (a malformed id) name no resource: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| ApiError::from(error).into())
}

impl From<JsonPayloadError> for ApiError {
    fn from(error: JsonPayloadError) -> Self {
        match error {
            JsonPayloadError::Deserialize(inner) if inner.is_data() => {
                Self::InvalidBody(inner.to_string())
            }
            JsonPayloadError::Deserialize(inner) => Self::MalformedJson(inner.to_string()),
            JsonPayloadError::ContentType => Self::UnsupportedMediaType {
                expected: "application/json",
            },
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                Self::PayloadTooLarge { limit }
            }
            other => Self::BadRequest(format!("the request body could not be read: {other}")),
        }
    }
}

impl From<QueryPayloadError> for ApiError {
    fn from(error: QueryPayloadError) -> Self {
        let message = match error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        // serde names an unknown field ("unknown field `x`, expected one of …"); anything else
        // is a value that does not fit its parameter.
        if message.starts_with("unknown field") || message.starts_with("duplicate field") {
            Self::InvalidQuery(message)
        } else {
            Self::Validation {
                code: "invalid_parameter",
                field: "query".into(),
                message,
            }
        }
    }
}

impl From<PathError> for ApiError {
    fn from(_: PathError) -> Self {
        Self::NotFound
    }
}
