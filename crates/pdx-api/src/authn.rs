//! Extractors that turn a request into who is asking: a bearer JWT verified against the key
//! ring (401 when absent or bad), and the request context that audit records carry.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use pdx_access::RequestContext;
use pdx_core::{Principal, RequestId};

use crate::error::ApiError;
use crate::state::ApiState;

/// The bearer token of a request, if it has an `Authorization: Bearer` header.
fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid_token("the Authorization header is not readable"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::invalid_token(
            "the Authorization header must be `Bearer <access token>`",
        )),
    }
}

/// The caller a request's bearer token names, if it carries a valid one.
pub(crate) fn principal_of(req: &HttpRequest) -> Option<Principal> {
    verify(req, true).ok().flatten()
}

fn verify(req: &HttpRequest, allow_pending_password: bool) -> Result<Option<Principal>, ApiError> {
    let Some(token) = bearer(req)? else {
        return Ok(None);
    };
    let state = req
        .app_data::<web::Data<ApiState>>()
        .ok_or_else(|| ApiError::Internal("ApiState is not registered".into()))?;
    let verified = state.access.authenticate(token)?;
    if verified.password_change_required && !allow_pending_password {
        return Err(ApiError::PasswordChangeRequired);
    }
    Ok(Some(verified.principal))
}

/// A caller with a valid access token (and no pending one-time password).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(verify(req, false).and_then(|principal| {
            principal
                .map(Self)
                .ok_or_else(|| ApiError::authentication_required("an access token is required"))
        }))
    }
}

/// A caller with a valid access token, even one that must still change its password: only
/// for `/api/v1/me` and the password change itself.
#[derive(Debug, Clone)]
pub struct AuthenticatedForPasswordChange(pub Principal);

impl FromRequest for AuthenticatedForPasswordChange {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(verify(req, true).and_then(|principal| {
            principal
                .map(Self)
                .ok_or_else(|| ApiError::authentication_required("an access token is required"))
        }))
    }
}

/// A caller who may be anonymous; a token, if presented, must be valid.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(verify(req, false).map(Self))
    }
}

/// The request id and client address, for audit records.
#[derive(Debug, Clone)]
pub struct Context(pub RequestContext);

impl FromRequest for Context {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The peer address; X-Forwarded-For only from a trusted proxy (any client can forge it).
        let address = match req.app_data::<web::Data<ApiState>>() {
            Some(state) => state.edge.client_address(req),
            None => req.peer_addr().map(|addr| addr.ip()),
        };
        ready(Ok(Self(RequestContext {
            request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
            client_address: address.map(|ip| ip.to_string()),
        })))
    }
}
