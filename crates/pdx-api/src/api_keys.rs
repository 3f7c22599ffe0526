//! API keys for machine clients: create (the secret is shown once), list, revoke.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use pdx_access::api_keys::ApiKey;
use pdx_core::{ApiKeyId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authn::{Authenticated, Context};
use crate::error::{ApiError, Problem};
use crate::schemas::RoleName;
use crate::state::ApiState;

/// An API key (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyResponse {
    /// The key id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The client id to present with the secret.
    #[schema(example = "pdxk_3f9a1c0e5b7d2a64")]
    pub client_id: String,
    /// The organisation it acts for.
    pub organization_id: String,
    /// The user who created it; its tokens act as this user.
    pub user_id: String,
    /// The roles it may use.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Expires (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// Last exchanged for a token (RFC 3339).
    pub last_used_at: Option<String>,
    /// Revoked (RFC 3339).
    pub revoked_at: Option<String>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name,
            client_id: key.client_id,
            organization_id: key.organization_id.to_string(),
            user_id: key.user_id.to_string(),
            roles: key.roles.iter().collect(),
            created_at: key.created_at.to_rfc3339(),
            expires_at: key.expires_at.map(|t| t.to_rfc3339()),
            last_used_at: key.last_used_at.map(|t| t.to_rfc3339()),
            revoked_at: key.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A name to recognise it by.
    #[schema(example = "nightly sync", min_length = 1, max_length = 200)]
    pub name: String,
    /// Roles it may use, a subset of the creator's; all of them when absent.
    #[schema(value_type = Option<Vec<RoleName>>, min_items = 1)]
    pub roles: Option<Vec<Role>>,
    /// When it stops working (RFC 3339); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key with its secret, shown only in this response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    /// The secret: store it now, it cannot be shown again.
    pub client_secret: String,
}

/// Creates an API key for the caller's organisation. Exchange it for an access token with
/// `grant_type=client_credentials`. Keys cannot create keys.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; the secret is in this response only", body = CreatedApiKeyResponse),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with a key-derived token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid roles or expiry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/api-keys")]
pub(crate) async fn create_api_key(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    body: web::Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let expires_at = body.expires_at.map(|t| t.trunc_subsecs_micros());
    let created = state
        .access
        .create_api_key(&principal, &body.name, body.roles, expires_at, &context)
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKeyResponse {
        key: created.key.into(),
        client_secret: created.client_secret,
    }))
}

trait TruncMicros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        use chrono::SubsecRound;
        self.trunc_subsecs(6)
    }
}

/// The caller's API keys; an organisation admin sees all of the organisation's.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys, newest first", body = Vec<ApiKeyResponse>),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/api-keys")]
pub(crate) async fn list_api_keys(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
) -> Result<web::Json<Vec<ApiKeyResponse>>, ApiError> {
    let keys = state.access.api_keys(&principal).await?;
    Ok(web::Json(keys.into_iter().map(Into::into).collect()))
}

/// Revokes an API key (its creator or an organisation admin); tokens already issued with it
/// stay valid until they expire.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in the caller's organisation", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/api-keys/{id}")]
pub(crate) async fn revoke_api_key(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    state
        .access
        .revoke_api_key(&principal, path.into_inner(), &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
