//! The OAuth 2.0 token endpoint (`password`, `refresh_token`, `client_credentials`), token
//! revocation (RFC 7009), the JWKS and the authorization-server metadata (RFC 8414).

use actix_web::http::header::{self, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pdx_access::keys::Jwk;
use pdx_access::service::TokenGrant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authn::Context;
use crate::error::{ApiError, Problem};
use crate::state::ApiState;

/// Largest token-endpoint body accepted.
const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// A token request, with RFC 6749 field names; form-encoded (standard) or JSON.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    /// `password` grant: the e-mail address.
    pub username: Option<String>,
    /// `password` grant: the password.
    pub password: Option<String>,
    /// `password` grant: the organisation to act for (slug or id), for users in several.
    pub organization: Option<String>,
    /// `refresh_token` grant: the refresh token.
    pub refresh_token: Option<String>,
    /// `client_credentials` grant: the API key's client id (or use HTTP Basic).
    pub client_id: Option<String>,
    /// `client_credentials` grant: the API key's secret (or use HTTP Basic).
    pub client_secret: Option<String>,
    /// Ignored: a token always carries the roles held.
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The access token, an EdDSA-signed JWT.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// A refresh token, rotated on each use (absent for `client_credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The roles granted, space-separated.
    #[schema(example = "admin member")]
    pub scope: String,
}

impl From<TokenGrant> for TokenResponse {
    fn from(grant: TokenGrant) -> Self {
        Self {
            access_token: grant.access_token,
            token_type: grant.token_type.to_owned(),
            expires_in: grant.expires_in,
            refresh_token: grant.refresh_token,
            scope: grant.scope,
        }
    }
}

fn invalid_request(description: &str) -> ApiError {
    ApiError::OAuth {
        status: actix_web::http::StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description: description.to_owned(),
    }
}

/// Parses a form-encoded or JSON body into `T`.
fn parse_body<T: for<'de> Deserialize<'de>>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    if body.len() > TOKEN_BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge {
            limit: TOKEN_BODY_LIMIT,
        });
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| invalid_request(&e.to_string()))
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| invalid_request(&e.to_string()))
    } else {
        Err(ApiError::UnsupportedMediaType {
            expected: "application/x-www-form-urlencoded",
        })
    }
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1), if present.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || ApiError::OAuth {
        status: actix_web::http::StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "the Authorization header must be `Basic base64(client_id:client_secret)`"
            .into(),
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, v)| v)
    };
    match (unescape(id), unescape(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        _ => Err(bad()),
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(&format!("`{name}` is required for this grant type")))
}

/// Issues tokens. `password`: e-mail and password; `refresh_token`: rotates the refresh token;
/// `client_credentials`: exchanges an API key for an access token.
#[utoipa::path(
    tag = "auth",
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type",
         body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_client", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/token")]
pub(crate) async fn issue_token(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Bytes,
    Context(context): Context,
) -> Result<HttpResponse, ApiError> {
    let request: TokenRequest = parse_body(&req, &body)?;
    let grant_type = required(&request.grant_type, "grant_type")?;
    let grant = match grant_type {
        "password" => {
            let username = required(&request.username, "username")?;
            let password = required(&request.password, "password")?;
            state
                .access
                .sign_in(
                    username,
                    password,
                    request.organization.as_deref(),
                    &context,
                )
                .await?
        }
        "refresh_token" => {
            let token = required(&request.refresh_token, "refresh_token")?;
            state.access.refresh(token, &context).await?
        }
        "client_credentials" => {
            let (client_id, client_secret) = match basic_credentials(&req)? {
                Some(credentials) => credentials,
                None => (
                    required(&request.client_id, "client_id")?.to_owned(),
                    required(&request.client_secret, "client_secret")?.to_owned(),
                ),
            };
            state
                .access
                .client_credentials(&client_id, &client_secret, &context)
                .await?
        }
        other => {
            return Err(pdx_access::AccessError::UnsupportedGrantType(other.to_owned()).into());
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse::from(grant)))
}

/// A revocation request (RFC 7009).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// The token to revoke.
    pub token: String,
    /// `refresh_token` (supported) or `access_token` (not revocable: wait for expiry).
    pub token_type_hint: Option<String>,
}

/// Revokes a refresh token and every token rotated from the same sign-in. Unknown tokens are
/// accepted silently, as RFC 7009 requires; access tokens cannot be revoked (they expire).
#[utoipa::path(
    tag = "auth",
    request_body(content(
        (RevokeRequest = "application/x-www-form-urlencoded"),
        (RevokeRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Revoked (or unknown)"),
        (status = 400, description = "unsupported_token_type for access tokens",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/auth/revoke")]
pub(crate) async fn revoke_token(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Bytes,
    Context(context): Context,
) -> Result<HttpResponse, ApiError> {
    let request: RevokeRequest = parse_body(&req, &body)?;
    let looks_like_jwt = request.token.matches('.').count() == 2;
    if request.token_type_hint.as_deref() == Some("access_token") || looks_like_jwt {
        return Err(ApiError::OAuth {
            status: actix_web::http::StatusCode::BAD_REQUEST,
            error: "unsupported_token_type",
            description: "access tokens cannot be revoked; they expire within minutes".into(),
        });
    }
    state
        .access
        .revoke_refresh_token(&request.token, &context)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// A JSON Web Key (RFC 8037, Ed25519).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwkResponse {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// The key id (RFC 7638 thumbprint), as in JWT headers.
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

impl From<Jwk> for JwkResponse {
    fn from(jwk: Jwk) -> Self {
        Self {
            kty: jwk.kty.to_owned(),
            crv: jwk.crv.to_owned(),
            alg: jwk.alg.to_owned(),
            key_use: jwk.key_use.to_owned(),
            kid: jwk.kid,
            x: jwk.x,
        }
    }
}

/// The JWK set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwkSet {
    /// Every key that currently verifies access tokens.
    pub keys: Vec<JwkResponse>,
}

/// The public keys that verify PDX access tokens.
#[utoipa::path(tag = "auth", responses((status = 200, description = "JWK set", body = JwkSet)))]
#[get("/.well-known/jwks.json")]
pub(crate) async fn jwks(state: web::Data<ApiState>) -> HttpResponse {
    let keys = state
        .access
        .tokens()
        .keys()
        .jwks()
        .into_iter()
        .map(JwkResponse::from)
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(JwkSet { keys })
}

/// OAuth 2.0 authorization-server metadata (RFC 8414).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServerMetadata {
    /// The `iss` of PDX tokens.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The revocation endpoint.
    pub revocation_endpoint: String,
    /// The JWK set.
    pub jwks_uri: String,
    /// Supported grants.
    pub grant_types_supported: Vec<String>,
    /// How API keys authenticate at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// No authorization endpoint: empty.
    pub response_types_supported: Vec<String>,
}

/// Where the token endpoints and keys are, for OAuth client libraries.
#[utoipa::path(tag = "auth", responses((status = 200, description = "Metadata", body = ServerMetadata)))]
#[get("/.well-known/oauth-authorization-server")]
pub(crate) async fn server_metadata(state: web::Data<ApiState>) -> web::Json<ServerMetadata> {
    let issuer = state.access.tokens().settings().issuer.clone();
    let base = issuer.trim_end_matches('/');
    web::Json(ServerMetadata {
        token_endpoint: format!("{base}/api/v1/auth/token"),
        revocation_endpoint: format!("{base}/api/v1/auth/revoke"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        grant_types_supported: ["password", "refresh_token", "client_credentials"]
            .map(str::to_owned)
            .to_vec(),
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"]
            .map(str::to_owned)
            .to_vec(),
        response_types_supported: Vec::new(),
        issuer,
    })
}
