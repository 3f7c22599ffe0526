//! The one error type of the HTTP edge and its RFC 9457 `application/problem+json` form.
//! Each variant has a stable machine `code`; a 5xx never shows its cause, which goes to the log.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use pdx_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::observe;

/// Marks an answer refused by a permission check, for the ledger (see `audit::record_refusals`).
#[derive(Debug, Clone, Copy)]
pub struct RefusedBy(pub &'static str);

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECS: u32 = 1;

/// An RFC 9457 problem details body, as every PDX error is answered.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:pdx:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:pdx:problem:not_found")]
    pub problem_type: String,
    /// A short, human-readable summary of the problem type.
    #[schema(example = "Not found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// What went wrong with this request, for a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable machine-readable code; clients branch on this.
    #[schema(example = "not_found")]
    pub code: String,
    /// The request id, as in the `X-Request-Id` header; quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation failures: the offending field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For classification failures: the rule broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For 403 answers: the permission check that refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// For validation failures: every field found wrong (`field` and `detail` name the
    /// first, or all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For the token endpoints: the OAuth 2.0 error code (RFC 6749 §5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For the token endpoints: the OAuth 2.0 error description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// For `quota_exhausted`: the grant's quota and what has been used of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// One field of a refused input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// The field (`classification` for a classification rule).
    #[schema(example = "title")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "must be 1-300 characters")]
    pub message: String,
    /// For the classification: the rule broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A grant's quota and its use, as a `quota_exhausted` refusal reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Quota {
    /// The grant.
    pub grant: String,
    /// Most requests allowed (none: unlimited).
    pub max_requests: Option<i64>,
    /// Requests used.
    pub requests_used: u64,
    /// Most bytes allowed (none: unlimited).
    pub max_bytes: Option<i64>,
    /// Bytes used.
    pub bytes_used: u64,
    /// Requests left (none: unlimited).
    pub requests_remaining: Option<u64>,
    /// Bytes left (none: unlimited): a request, or a `Range` of it, for at most this many
    /// bytes can still be served.
    pub bytes_remaining: Option<u64>,
    /// The bytes this request asked for.
    pub bytes_requested: u64,
    /// Most rows allowed (none: unlimited).
    #[serde(default)]
    pub max_rows: Option<i64>,
    /// Rows used.
    #[serde(default)]
    pub rows_used: u64,
    /// Rows left (none: unlimited): a row query whose answer holds at most this many rows can
    /// still be served.
    #[serde(default)]
    pub rows_remaining: Option<u64>,
    /// The rows this request's answer held.
    #[serde(default)]
    pub rows_requested: u64,
    /// When the grant ends (RFC 3339). Waiting does not renew a quota: only a new grant does.
    pub valid_until: String,
}

/// Everything the API can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No resource at this path.
    #[error("the requested resource does not exist")]
    NotFound,
    /// The path exists but not with this method.
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed {
        /// The methods it supports.
        allowed: Vec<actix_web::http::Method>,
    },
    /// The body is not syntactically valid JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but does not have the expected shape.
    #[error("the request body does not match the expected schema: {0}")]
    InvalidBody(String),
    /// The request cannot be understood (headers, encoding or framing).
    #[error("{0}")]
    BadRequest(String),
    /// The query string cannot be understood.
    #[error("the query string is invalid: {0}")]
    InvalidQuery(String),
    /// The body is not in a media type this endpoint accepts.
    #[error("the request body must be sent as {expected}")]
    UnsupportedMediaType {
        /// The media type the endpoint accepts.
        expected: &'static str,
    },
    /// The body exceeds the endpoint's limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No valid credentials were presented: `authentication_required` when none were,
    /// `invalid_token` when they were not valid.
    #[error("{detail}")]
    Unauthorized {
        /// The stable code (the data path writes the same code to the ledger).
        code: &'static str,
        /// Why, for a human.
        detail: String,
    },
    /// The caller is known but may not do this.
    #[error("{detail}")]
    Forbidden {
        /// The permission check that refused.
        check: &'static str,
        /// Why, for a human.
        detail: String,
    },
    /// A data request refused by the access decision; the code is the reason.
    #[error("access to this data is refused: {0}")]
    AccessDenied(&'static str),
    /// A quota of the grant is used up, or too little of it is left for this request.
    #[error("a quota of the grant does not allow this request")]
    QuotaExhausted {
        /// The quota and its use.
        quota: Option<Box<Quota>>,
    },
    /// A required part of the request is missing.
    #[error("{message}")]
    Required {
        /// The stable code.
        code: &'static str,
        /// The missing field or header.
        field: String,
        /// What is missing, for a human.
        message: String,
    },
    /// The data could not be read; nothing was served or charged.
    #[error("the data cannot be read right now; nothing was served or charged")]
    DataUnavailable,
    /// The requested byte range lies outside the data.
    #[error("the requested range lies outside the data's {size} bytes")]
    RangeNotSatisfiable {
        /// The size of the data.
        size: u64,
    },
    /// The account must change its one-time password first.
    #[error(
        "the password must be changed (POST /api/v1/me/password) before the account can be used"
    )]
    PasswordChangeRequired,
    /// A named thing does not exist (or is not visible to the caller).
    #[error("{0}")]
    ResourceNotFound(String),
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// The stable code.
        code: &'static str,
        /// Why, for a human.
        detail: String,
    },
    /// What the request refers to existed but is gone for good (a used or expired link).
    #[error("{detail}")]
    Gone {
        /// The stable code.
        code: &'static str,
        /// Why, for a human.
        detail: String,
    },
    /// A field of the request is not acceptable.
    #[error("{field}: {message}")]
    Validation {
        /// The stable code.
        code: &'static str,
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Submitted values are not acceptable: each field found wrong (and the classification
    /// rule broken, if one is).
    #[error("{detail}")]
    Invalid {
        /// Every problem, for a human.
        detail: String,
        /// Each field found wrong.
        errors: Vec<FieldError>,
    },
    /// The classification breaks a rule.
    #[error("{message}")]
    ClassificationRejected {
        /// The rule's stable name.
        rule: &'static str,
        /// The rule, for a human.
        message: String,
    },
    /// Too many attempts; retry after the given number of seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
        /// Why, for a human.
        detail: String,
    },
    /// An OAuth 2.0 token-endpoint error (RFC 6749 §5.2), as problem+json with `error`.
    #[error("{description}")]
    OAuth {
        /// 400 or 401.
        status: StatusCode,
        /// The OAuth error code: `invalid_request`, `invalid_grant`, `invalid_client`, ….
        error: &'static str,
        /// Why, for a human.
        description: String,
    },
    /// The gateway could not forward a call, or its upstream failed.
    #[error("{detail}")]
    Gateway {
        /// 403, 405, 502, 503 or 504.
        status: StatusCode,
        /// The reason code, as logged.
        code: &'static str,
        /// Why, for a human.
        detail: String,
        /// Seconds to wait, when retrying later may help.
        retry_after: Option<u64>,
    },
    /// A dependency the server needs is not available right now; retry later.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database is known to be unreachable: refused at once, nothing done.
    #[error("the database is unreachable; nothing was done, please retry shortly")]
    DatabaseUnreachable,
    /// A bug or an unexpected failure; details only in the log.
    #[error("an internal error occurred")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidBody(_) => "invalid_body",
            Self::BadRequest(_) => "bad_request",
            Self::InvalidQuery(_) => "invalid_query",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unauthorized { code, .. } | Self::Required { code, .. } => code,
            Self::DataUnavailable => "data_unavailable",
            Self::Gateway { code, .. } => code,
            Self::Forbidden { .. } => "forbidden",
            Self::PasswordChangeRequired => "password_change_required",
            Self::AccessDenied(reason) => reason,
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::ResourceNotFound(_) => "not_found",
            Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::Validation { code, .. } => code,
            Self::Invalid { .. } => "validation_failed",
            Self::ClassificationRejected { .. } => "classification_rejected",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::OAuth { error, .. } => error,
            Self::Unavailable(_) => "service_unavailable",
            Self::DatabaseUnreachable => "database_unreachable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// A short title for the problem type.
    fn title(&self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::MalformedJson(_) => "Malformed JSON",
            Self::InvalidBody(_) => "Invalid request body",
            Self::BadRequest(_) => "Bad request",
            Self::InvalidQuery(_) => "Invalid query string",
            Self::UnsupportedMediaType { .. } => "Unsupported media type",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Required { .. } => "Required",
            Self::DataUnavailable => "Data unavailable",
            Self::Forbidden { .. } => "Forbidden",
            Self::PasswordChangeRequired => "Password change required",
            Self::AccessDenied(_) => "Access denied",
            Self::QuotaExhausted { .. } => "Quota exhausted",
            Self::RangeNotSatisfiable { .. } => "Range not satisfiable",
            Self::ResourceNotFound(_) => "Not found",
            Self::Conflict { .. } => "Conflict",
            Self::Gone { .. } => "Gone",
            Self::Validation { .. } | Self::Invalid { .. } => "Validation failed",
            Self::ClassificationRejected { .. } => "Classification rejected",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::OAuth { .. } => "Token request refused",
            Self::Unavailable(_) => "Service unavailable",
            Self::DatabaseUnreachable => "Database unreachable",
            Self::Gateway { .. } => "API call not relayed",
            Self::Internal(_) => "Internal error",
        }
    }

    /// A 401 for a request that presented no credentials.
    pub fn authentication_required(detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code: "authentication_required",
            detail: detail.into(),
        }
    }

    /// A 401 for credentials that are not valid.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code: "invalid_token",
            detail: detail.into(),
        }
    }

    /// Wraps an unexpected failure; its message reaches the log only.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    /// The problem body for this error. A 5xx carries no detail from its cause.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            Self::Unavailable(_) => Some("Please retry shortly.".to_owned()),
            Self::Internal(_) => None,
            other => Some(other.to_string()),
        };
        let mut problem = Problem {
            problem_type: format!("urn:pdx:problem:{}", self.code()),
            title: self.title().to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            request_id: observe::current_request_id().map(|id| id.to_string()),
            field: None,
            rule: None,
            check: None,
            error: None,
            error_description: None,
            quota: None,
            errors: None,
        };
        match self {
            Self::Validation { field, .. } | Self::Required { field, .. } => {
                problem.field = Some(field.clone());
            }
            Self::Invalid { errors, .. } => {
                problem.field = errors.first().map(|e| e.field.clone());
                problem.errors = Some(errors.clone());
            }
            Self::Forbidden { check, .. } => problem.check = Some((*check).to_owned()),
            Self::QuotaExhausted { quota, .. } => problem.quota = quota.as_deref().cloned(),
            Self::ClassificationRejected { rule, .. } => {
                problem.rule = Some((*rule).to_owned());
                problem.field = Some("classification".to_owned());
            }
            Self::OAuth {
                error, description, ..
            } => {
                problem.error = Some((*error).to_owned());
                problem.error_description = Some(description.clone());
            }
            _ => {}
        }
        problem
    }

    /// Writes the hidden cause of a 5xx to the log, within the request's span.
    pub fn log_cause(&self) {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %Chain(cause.as_ref()), "internal error")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %Chain(cause.as_ref()), "service unavailable")
            }
            _ => {}
        }
    }

    /// The error a bare status stands for, used when a framework answer has no body of ours.
    pub fn from_status(status: StatusCode) -> Option<Self> {
        match status {
            StatusCode::BAD_REQUEST => Some(Self::BadRequest(
                "the request could not be understood".to_owned(),
            )),
            StatusCode::NOT_FOUND => Some(Self::NotFound),
            StatusCode::METHOD_NOT_ALLOWED => Some(Self::MethodNotAllowed {
                allowed: Vec::new(),
            }),
            StatusCode::PAYLOAD_TOO_LARGE => Some(Self::PayloadTooLarge { limit: 0 }),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Some(Self::UnsupportedMediaType {
                expected: "application/json",
            }),
            StatusCode::SERVICE_UNAVAILABLE => {
                Some(Self::Unavailable("the framework answered 503".into()))
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                Some(Self::Internal("the framework answered 500".into()))
            }
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson(_)
            | Self::BadRequest(_)
            | Self::InvalidQuery(_)
            | Self::Required { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::PasswordChangeRequired | Self::AccessDenied(_) => {
                StatusCode::FORBIDDEN
            }
            Self::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Gone { .. } => StatusCode::GONE,
            Self::Validation { .. }
            | Self::Invalid { .. }
            | Self::ClassificationRejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } | Self::QuotaExhausted { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::OAuth { status, .. } | Self::Gateway { status, .. } => *status,
            Self::Unavailable(_) | Self::DataUnavailable | Self::DatabaseUnreachable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_cause();
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::Unavailable(_) | Self::DatabaseUnreachable => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            Self::TooManyRequests { retry_after, .. }
            | Self::Gateway {
                retry_after: Some(retry_after),
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, *retry_after));
            }
            Self::MethodNotAllowed { allowed } if !allowed.is_empty() => {
                let allow: Vec<&str> = allowed
                    .iter()
                    .map(actix_web::http::Method::as_str)
                    .collect();
                response.insert_header((header::ALLOW, allow.join(", ")));
            }
            Self::RangeNotSatisfiable { size } => {
                response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            Self::Unauthorized {
                code: "invalid_token",
                detail,
            } => {
                let reason = detail.replace('"', "'");
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"pdx\", error=\"invalid_token\", error_description=\"{reason}\""),
                ));
            }
            Self::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"pdx\""));
            }
            Self::OAuth {
                error: "invalid_client",
                ..
            } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"pdx\""));
            }
            Self::OAuth { .. } => {
                response.insert_header((header::CACHE_CONTROL, "no-store"));
            }
            _ => {}
        }
        let mut response = response.body(body);
        if let Self::Forbidden { check, .. } = self {
            response.extensions_mut().insert(RefusedBy(check));
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound => Self::NotFound,
            StorageError::Unreachable(_) => Self::DatabaseUnreachable,
            transient if transient.is_transient() => Self::Unavailable(Box::new(transient)),
            other => Self::internal(other),
        }
    }
}

/// Formats an error with its chain of sources, for the log.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<pdx_access::AccessError> for ApiError {
    fn from(error: pdx_access::AccessError) -> Self {
        use pdx_access::AccessError as E;
        let oauth = |status, error, description: String| Self::OAuth {
            status,
            error,
            description,
        };
        match error {
            E::InvalidInput { field, message } => Self::Validation {
                code: "validation_failed",
                field: field.to_owned(),
                message,
            },
            E::RoleNotAllowed { .. } => Self::Validation {
                code: "role_not_allowed",
                field: "roles".to_owned(),
                message: error.to_string(),
            },
            E::EmailTaken => Self::Conflict {
                code: "email_taken",
                detail: error.to_string(),
            },
            E::SlugTaken => Self::Conflict {
                code: "slug_taken",
                detail: error.to_string(),
            },
            E::CreditCodeTaken => Self::Conflict {
                code: "credit_code_taken",
                detail: error.to_string(),
            },
            E::LastAdmin => Self::Conflict {
                code: "last_admin",
                detail: error.to_string(),
            },
            E::AlreadyMember => Self::Conflict {
                code: "already_member",
                detail: error.to_string(),
            },
            E::InvitationNotPending => Self::Conflict {
                code: "invitation_not_pending",
                detail: error.to_string(),
            },
            E::LinkInvalid => Self::Validation {
                code: "link_invalid",
                field: "token".to_owned(),
                message: error.to_string(),
            },
            E::LinkExpired => Self::Gone {
                code: "link_expired",
                detail: error.to_string(),
            },
            E::LinkUsed => Self::Gone {
                code: "link_used",
                detail: error.to_string(),
            },
            E::EmailUnconfirmed => {
                oauth(StatusCode::BAD_REQUEST, "invalid_grant", error.to_string())
            }
            E::RateLimited { retry_after } => Self::TooManyRequests {
                retry_after: retry_after.as_secs().max(1),
                detail: error.to_string(),
            },
            E::OrganizationNotFound
            | E::UserNotFound
            | E::ApiKeyNotFound
            | E::InvitationNotFound => Self::ResourceNotFound(error.to_string()),
            E::InvalidCredentials
            | E::NotAMember
            | E::InvalidRefreshToken
            | E::RefreshTokenReused => {
                oauth(StatusCode::BAD_REQUEST, "invalid_grant", error.to_string())
            }
            E::InvalidClient => oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                error.to_string(),
            ),
            E::UnsupportedGrantType(_) => oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                error.to_string(),
            ),
            E::Throttled { retry_after } => Self::TooManyRequests {
                retry_after: retry_after.as_secs().max(1),
                detail: error.to_string(),
            },
            E::InvalidToken(reason) => {
                Self::invalid_token(format!("invalid access token: {reason}"))
            }
            E::Forbidden { check } => Self::Forbidden {
                check,
                detail: format!("not permitted ({check})"),
            },
            E::PasswordChangeRequired => Self::PasswordChangeRequired,
            E::Keys(_) => Self::internal(error),
            E::Storage(storage) => storage.into(),
        }
    }
}

impl From<pdx_catalog::CatalogError> for ApiError {
    fn from(error: pdx_catalog::CatalogError) -> Self {
        use pdx_catalog::CatalogError as E;
        use pdx_storage::BlobError;
        match error {
            E::InvalidInput {
                problems,
                classification: Some(violation),
            } if problems.is_empty() => Self::ClassificationRejected {
                rule: violation.rule(),
                message: violation.to_string(),
            },
            E::InvalidInput {
                ref problems,
                ref classification,
            } => {
                let mut errors: Vec<FieldError> = problems
                    .iter()
                    .map(|p| FieldError {
                        field: p.field.to_owned(),
                        message: p.message.clone(),
                        rule: None,
                    })
                    .collect();
                if let Some(violation) = classification {
                    errors.push(FieldError {
                        field: "classification".to_owned(),
                        message: violation.to_string(),
                        rule: Some(violation.rule().to_owned()),
                    });
                }
                Self::Invalid {
                    detail: error.to_string(),
                    errors,
                }
            }
            E::DatasetNotFound | E::DistributionNotFound => {
                Self::ResourceNotFound(error.to_string())
            }
            E::SlugTaken => Self::Conflict {
                code: "slug_taken",
                detail: error.to_string(),
            },
            E::IllegalTransition { .. } => Self::Conflict {
                code: "illegal_transition",
                detail: error.to_string(),
            },
            E::DistributionPublished => Self::Conflict {
                code: "distribution_published",
                detail: error.to_string(),
            },
            E::Forbidden { check } => Self::Forbidden {
                check,
                detail: format!("not permitted ({check})"),
            },
            E::TooLarge { limit } => Self::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            E::Blob(BlobError::Interrupted(detail)) => {
                Self::BadRequest(format!("the upload was interrupted: {detail}"))
            }
            E::Blob(BlobError::TooLarge { limit }) => Self::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            E::Blob(BlobError::NotFound) => Self::ResourceNotFound("the file is missing".into()),
            E::Blob(other) => Self::Unavailable(Box::new(other)),
            E::Access(access) => access.into(),
            E::Storage(storage) => storage.into(),
            search @ E::Search(_) => Self::Internal(Box::new(search)),
        }
    }
}

impl From<pdx_rows::RowsError> for ApiError {
    fn from(error: pdx_rows::RowsError) -> Self {
        use pdx_rows::RowsError as E;
        let detail = error.to_string();
        match error {
            E::NotTabular => Self::Conflict {
                code: "not_tabular",
                detail,
            },
            E::NotIngested => Self::Conflict {
                code: "rows_not_loaded",
                detail: format!(
                    "{detail}: the publisher ingests the file (POST …/ingestions) and its \
                     progress is shown there"
                ),
            },
            E::IngestionRunning => Self::Conflict {
                code: "ingestion_running",
                detail,
            },
            E::Unreadable(message) => Self::Validation {
                code: "unreadable_file",
                field: "file".into(),
                message,
            },
            E::UnknownColumn { parameter, .. } => Self::Validation {
                code: "unknown_column",
                field: parameter.into(),
                message: detail,
            },
            E::MaskedColumn { parameter, .. } => Self::Validation {
                code: "masked_column",
                field: parameter.into(),
                message: detail,
            },
            E::InvalidQuery { parameter, message } => Self::Validation {
                code: "invalid_row_query",
                field: parameter.into(),
                message,
            },
            E::InvalidOptions { field, message } => Self::Validation {
                code: "validation_failed",
                field,
                message,
            },
            E::TooSlow => Self::Validation {
                code: "query_too_slow",
                field: "query".into(),
                message: detail,
            },
            // Nobody is left to answer; should one be, the server stopped the work.
            E::Abandoned => Self::Unavailable(Box::new(E::Abandoned)),
            E::Busy => Self::TooManyRequests {
                retry_after: 1,
                detail: "too many row queries are running; retry shortly".into(),
            },
            E::Catalog(catalog) => catalog.into(),
            E::Blob(pdx_storage::BlobError::NotFound) => {
                Self::ResourceNotFound("the file is missing".into())
            }
            E::Blob(other) => Self::Unavailable(Box::new(other)),
            E::Storage(storage) => storage.into(),
        }
    }
}

impl From<pdx_gateway::GatewayError> for ApiError {
    fn from(error: pdx_gateway::GatewayError) -> Self {
        use pdx_gateway::GatewayError as E;
        let detail = error.to_string();
        match error {
            E::Invalid { field, message } => Self::Validation {
                code: "validation_failed",
                field,
                message,
            },
            E::NotApi => Self::Conflict {
                code: "not_an_api",
                detail,
            },
            E::NotConfigured => Self::ResourceNotFound(detail),
            E::Sealed => Self::internal(E::Sealed),
            E::Catalog(catalog) => catalog.into(),
            E::Storage(storage) => storage.into(),
        }
    }
}

impl From<pdx_licensing::LicensingError> for ApiError {
    fn from(error: pdx_licensing::LicensingError) -> Self {
        use pdx_licensing::LicensingError as E;
        match error {
            E::InvalidInput { field, message } => Self::Validation {
                code: "validation_failed",
                field: field.to_owned(),
                message,
            },
            E::Policy(policy) => Self::Validation {
                code: "policy_rejected",
                field: policy.path.clone(),
                message: policy.to_string(),
            },
            E::ClassificationForbids(_) => Self::Validation {
                code: "classification_forbids",
                field: "dataset".to_owned(),
                message: error.to_string(),
            },
            E::RequestNotFound | E::GrantNotFound | E::LicenceNotFound => {
                Self::ResourceNotFound(error.to_string())
            }
            E::LicenceTaken => Self::Conflict {
                code: "licence_taken",
                detail: error.to_string(),
            },
            E::IllegalTransition { .. } => Self::Conflict {
                code: "illegal_transition",
                detail: error.to_string(),
            },
            E::Forbidden { check } => Self::Forbidden {
                check,
                detail: format!("not permitted ({check})"),
            },
            E::OrganizationNotVerified => Self::AccessDenied("organization_not_verified"),
            E::Catalog(catalog) => catalog.into(),
            E::Access(access) => access.into(),
            E::Storage(storage) => storage.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_problem_hides_its_cause() {
        let error = ApiError::internal(std::io::Error::other("disk /srv/secret failed"));
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.code, "internal_error");
        assert!(problem.detail.is_none());
        let body = serde_json::to_string(&problem).unwrap_or_default();
        assert!(!body.contains("secret"), "{body}");
    }

    #[test]
    fn transient_storage_errors_become_503_and_missing_rows_404() {
        let busy = ApiError::from(StorageError::PoolExhausted);
        assert_eq!(busy.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ApiError::from(StorageError::NotFound).status_code(),
            StatusCode::NOT_FOUND
        );
        let broken = ApiError::from(StorageError::CorruptRow("x".into()));
        assert_eq!(broken.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn unavailable_response_carries_retry_after() {
        let response = ApiError::Unavailable("down".into()).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(PROBLEM_JSON)
        );
    }
}
