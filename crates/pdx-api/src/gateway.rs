//! The API gateway: a publisher configures an API distribution's upstream
//! (`/api/v1/distributions/{id}/upstream`), and consumers call the API through PDX
//! (`/api/v1/distributions/{id}/api/{path}`): each call is decided and logged by the exchange
//! before it is forwarded with the credential PDX holds, and its outcome (the upstream's status,
//! the bytes relayed, the latency) is logged when it ends.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, put, route, web};
use futures_util::StreamExt;
use pdx_catalog::model::DistributionKind;
use pdx_core::{DistributionId, RequestId};
use pdx_gateway::relay::MAX_CALL_BODY;
use pdx_gateway::{CallPath, Credential, Failure, Outbound, Stamp, UpstreamInput, UpstreamView};
use pdx_licensing::exchange::{CallOutcome, DataRequest, Prepared, Refusal, Unready};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authn::{Authenticated, Context};
use crate::error::{ApiError, Problem};
use crate::exchange::{
    admit, identify, ledger_failure, refusal, refused_with_receipt, with_receipt,
};
use crate::schemas::PurposeName;
use crate::state::ApiState;

/// The credential PDX presents to the upstream. It is sealed at rest and never shown again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialBody {
    /// No credential.
    None,
    /// A header, e.g. `X-Api-Key: …`.
    Header {
        /// Header name.
        name: String,
        /// Header value (8 to 4,096 characters).
        value: String,
    },
    /// `Authorization: Bearer …`.
    Bearer {
        /// The token (8 to 4,096 characters).
        token: String,
    },
    /// `Authorization: Basic …`.
    Basic {
        /// User name.
        username: String,
        /// Password (8 to 4,096 characters).
        password: String,
    },
    /// A query parameter, e.g. `?key=…`.
    Query {
        /// Parameter name.
        name: String,
        /// Its value (8 to 4,096 characters).
        value: String,
    },
}

impl From<CredentialBody> for Credential {
    fn from(body: CredentialBody) -> Self {
        match body {
            CredentialBody::None => Self::None,
            CredentialBody::Header { name, value } => Self::Header { name, value },
            CredentialBody::Bearer { token } => Self::Bearer { token },
            CredentialBody::Basic { username, password } => Self::Basic { username, password },
            CredentialBody::Query { name, value } => Self::Query { name, value },
        }
    }
}

/// An API distribution's upstream, as its publisher declares it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBody {
    /// Where calls go: `{base_url}/{path}` (http or https; no user, query or fragment).
    pub base_url: String,
    /// A new credential; left out, the one entered before is kept.
    pub credential: Option<CredentialBody>,
    /// Methods allowed (default `GET`, `HEAD`: read-only).
    pub methods: Option<Vec<String>>,
    /// Path patterns allowed below the base: `/stops` (that path), `/stops/*` (one segment
    /// more), `/positions/**` (anything below). Default `/**`.
    pub paths: Option<Vec<String>>,
    /// Milliseconds the upstream may take to begin its answer, and between two parts of it
    /// (100 to 120,000; default 10,000).
    pub timeout_ms: Option<u32>,
    /// Calls forwarded to the upstream at once by the whole platform, shared out among the
    /// servers running, each forwarding at least one (1 to 1,024; default 16).
    pub max_concurrency: Option<u32>,
}

/// The credential as shown: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialSummary {
    /// `none`, `header`, `bearer`, `basic` or `query`.
    pub kind: String,
    /// The header or parameter it goes under.
    pub name: Option<String>,
    /// When it was entered.
    pub set_at: Option<String>,
}

/// An API distribution's upstream.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamResponse {
    /// The API distribution.
    pub distribution: String,
    /// Where calls go.
    pub base_url: String,
    /// The credential, without its secret.
    pub credential: CredentialSummary,
    /// Methods allowed.
    pub methods: Vec<String>,
    /// Path patterns allowed.
    pub paths: Vec<String>,
    /// Milliseconds the upstream may take.
    pub timeout_ms: u32,
    /// Calls forwarded at once, for the platform: shared out among the servers running.
    pub max_concurrency: u32,
    /// Calls this server forwards at once: its part of `max_concurrency`.
    pub max_concurrency_here: u32,
    /// When the configuration last changed.
    pub updated_at: String,
    /// Where consumers call it.
    pub gateway_path: String,
    /// The circuit breaker as this server sees it (the servers tell each other within a
    /// second): `closed`, `open` (calls held off after repeated failures) or `half_open` (one
    /// call probing).
    pub circuit: String,
    /// Consecutive failures this server counted.
    pub failures: u32,
    /// Calls this server is forwarding now.
    pub in_flight: u32,
}

impl From<UpstreamView> for UpstreamResponse {
    fn from(view: UpstreamView) -> Self {
        Self {
            distribution: view.distribution_id.to_string(),
            gateway_path: format!("/api/v1/distributions/{}/api/", view.distribution_id),
            base_url: view.base_url,
            credential: CredentialSummary {
                kind: view.credential_kind.to_owned(),
                name: view.credential_name,
                set_at: view.credential_set_at.map(|t| t.to_rfc3339()),
            },
            methods: view.methods,
            paths: view.paths,
            timeout_ms: view.timeout_ms,
            max_concurrency: view.max_concurrency,
            max_concurrency_here: view.max_concurrency_here,
            updated_at: view.updated_at.to_rfc3339(),
            circuit: view.circuit.as_str().to_owned(),
            failures: view.failures,
            in_flight: view.in_flight,
        }
    }
}

/// Configures an API distribution's upstream (the dataset's publisher or admin). The
/// credential is sealed at rest and never shown again; leaving it out keeps the one entered
/// before. Logged in the ledger as `api_upstream_configured` (without the secret).
#[utoipa::path(
    tag = "gateway",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id (an API distribution)")),
    request_body = UpstreamBody,
    responses(
        (status = 200, description = "Configured", body = UpstreamResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the dataset's publisher or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The distribution is a file (`not_an_api`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A setting is not acceptable (the field is named)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/distributions/{id}/upstream")]
pub(crate) async fn put_upstream(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<DistributionId>,
    body: web::Json<UpstreamBody>,
) -> Result<web::Json<UpstreamResponse>, ApiError> {
    let body = body.into_inner();
    let input = UpstreamInput {
        base_url: body.base_url,
        credential: body.credential.map(Into::into),
        methods: body.methods,
        paths: body.paths,
        timeout_ms: body.timeout_ms,
        max_concurrency: body.max_concurrency,
    };
    let view = state
        .gateway
        .configure(&principal, path.into_inner(), input, &context)
        .await?;
    Ok(web::Json(view.into()))
}

/// An API distribution's upstream, with its circuit as this server sees it (the dataset's
/// publisher or admin). The credential's secret is never shown.
#[utoipa::path(
    tag = "gateway",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    responses(
        (status = 200, description = "The upstream", body = UpstreamResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the dataset's publisher or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution, or no upstream configured", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The distribution is a file (`not_an_api`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}/upstream")]
pub(crate) async fn get_upstream(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<DistributionId>,
) -> Result<web::Json<UpstreamResponse>, ApiError> {
    let view = state
        .gateway
        .upstream(&principal, path.into_inner())
        .await?;
    Ok(web::Json(view.into()))
}

/// Removes an API distribution's upstream: calls are refused (409 `gateway_not_configured`) until
/// one is configured again. Logged as `api_upstream_removed`.
#[utoipa::path(
    tag = "gateway",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Distribution id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the dataset's publisher or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution, or no upstream configured", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The distribution is a file (`not_an_api`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/distributions/{id}/upstream")]
pub(crate) async fn delete_upstream(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<DistributionId>,
) -> Result<HttpResponse, ApiError> {
    state
        .gateway
        .remove(&principal, path.into_inner(), &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The problem of a call the gateway could not forward or relay.
pub(crate) fn unready(unready: Unready, retry: Option<Duration>) -> ApiError {
    let (status, detail) = match unready {
        Unready::NotConfigured => (
            StatusCode::CONFLICT,
            "this API is not reachable through PDX: its publisher has not configured its upstream",
        ),
        Unready::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "the publisher does not allow this method on this API",
        ),
        Unready::PathNotAllowed => (
            StatusCode::FORBIDDEN,
            "the publisher does not allow this path of this API",
        ),
        Unready::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the API is serving as many calls as it is allowed; retry shortly",
        ),
        Unready::CircuitOpen => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the API failed repeatedly and is left alone for a while; retry later",
        ),
    };
    ApiError::Gateway {
        status,
        code: unready.code(),
        detail: detail.to_owned(),
        retry_after: retry.map(|d| d.as_secs().max(1)),
    }
}

fn failed(failure: Failure) -> ApiError {
    let (status, detail) = match failure {
        Failure::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "the API did not answer in time".to_owned(),
        ),
        Failure::Unreachable => (
            StatusCode::BAD_GATEWAY,
            "the API could not be reached".to_owned(),
        ),
        Failure::ServerError(status) => (
            StatusCode::BAD_GATEWAY,
            format!("the API failed (it answered {status})"),
        ),
        Failure::CredentialRefused => (
            StatusCode::BAD_GATEWAY,
            "the API refused the credential PDX holds for it; its publisher must renew it"
                .to_owned(),
        ),
    };
    ApiError::Gateway {
        status,
        code: failure.code(),
        detail,
        retry_after: None,
    }
}

/// Calls an API distribution through PDX. Open APIs need no token; others need a grant and a
/// declared purpose (`X-PDX-Purpose`). The call is decided and written to the ledger first
/// (`X-PDX-Ledger-Seq` is the receipt), then forwarded to the API's upstream with the
/// credential PDX holds — the caller's token never leaves PDX — and the answer is streamed
/// back; its status, bytes and latency are logged as an `api_result` entry when it ends. The
/// upstream receives `X-PDX-Ledger-Seq`, `X-PDX-Request-Id`, `X-PDX-Consumer` and
/// `X-PDX-Purpose`. Of the caller's headers only content negotiation, conditional and range
/// headers are passed on; of the upstream's, only content, caching and `Location` headers
/// come back.
#[utoipa::path(
    tag = "gateway",
    params(
        ("id" = String, Path, description = "Distribution id (an API distribution)"),
        ("path" = String, Path, description = "The path below the API's base, with its query string"),
        ("X-PDX-Purpose" = Option<PurposeName>, Header, description = "The purpose of the call (needed under a grant)"),
    ),
    responses(
        (status = 200, description = "The API's answer (any status below 500 is relayed as the API gave it)", body = String, content_type = "*/*"),
        (status = 400, description = "A grant needs a purpose and none was declared (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad or missing token (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Refused, with the reason code, or a path the publisher does not allow (`path_not_allowed`) (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
        (status = 405, description = "A method the publisher does not allow (`method_not_allowed`, logged)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The distribution is a file (`not_an_api`), or its publisher has not configured its upstream (`gateway_not_configured`, logged)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A body over 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A path that climbs out of the API or hides a separator (`invalid_path`), or an unknown purpose", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Quota exhausted (logged), or too many refused requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The API failed, could not be reached, or refused PDX's credential (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The API is busy (`upstream_busy`), failing (`upstream_unavailable`, circuit open), or the ledger cannot be written (logged when decided)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The API did not answer in time (`upstream_timeout`, logged)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[route(
    "/api/v1/distributions/{id}/api/{path:.*}",
    method = "GET",
    method = "HEAD",
    method = "POST",
    method = "PUT",
    method = "PATCH",
    method = "DELETE"
)]
pub(crate) async fn call_api(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<(DistributionId, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let address = admit(&req, &state)?;
    let (id, _) = path.into_inner();
    // The path as sent, still percent-encoded: everything after `/{id}/api`.
    let raw = req.uri().path();
    let tail = raw
        .splitn(7, '/')
        .nth(6)
        .map_or(String::new(), |rest| format!("/{rest}"));
    let call_path = CallPath::parse(&tail).map_err(|message| ApiError::Validation {
        code: "invalid_path",
        field: "path".into(),
        message,
    })?;
    let query = req.uri().query().map(str::to_owned);
    if let Some(query) = &query {
        pdx_gateway::paths::check_query(query).map_err(|message| ApiError::Validation {
            code: "invalid_path",
            field: "query".into(),
            message,
        })?;
    }
    let method = req.method().as_str().to_owned();
    let body = read_body(&method, payload).await?;
    let facts = state.catalog.distribution_facts(id).await?;
    if facts.kind != DistributionKind::Api {
        return Err(ApiError::Conflict {
            code: "not_an_api",
            detail: "the distribution is a file: obtain it at …/data".into(),
        });
    }
    let mut request = DataRequest::new(
        None,
        id,
        req.extensions().get::<RequestId>().map(ToString::to_string),
    );
    identify(&req, &state, &mut request);
    // Readied before the decision, so that an upstream that cannot take the call is a logged
    // refusal that charges nothing.
    let logged_path = call_path.logged();
    let readied = match request.refused {
        None => Some(state.gateway.ready(id, &method, &call_path).await),
        Some(_) => None,
    };
    if let Some(readied) = &readied {
        request.prepared = Prepared::Call {
            method: method.clone(),
            path: logged_path.clone(),
            ready: readied.as_ref().map(drop).map_err(|(unready, _)| *unready),
        };
    }
    let (principal, purpose, request_id) = (
        request.principal.clone(),
        request.purpose.clone(),
        request.request_id.clone(),
    );
    let answer = state
        .licensing
        .obtain(request)
        .await
        .map_err(ledger_failure)?;
    let served = match answer.outcome {
        Ok(served) => served,
        Err(refused) => {
            let error = match refused {
                Refusal::Upstream(why) => {
                    let retry = readied.and_then(Result::err).and_then(|(_, wait)| wait);
                    unready(why, retry)
                }
                other => {
                    state.edge.failed(address);
                    refusal(other, answer.quota, 0)
                }
            };
            return Ok(refused_with_receipt(&error, answer.seq));
        }
    };
    let Some(Ok(call)) = readied else {
        return Err(ApiError::Internal(
            "a call was permitted that was not readied".into(),
        ));
    };
    let grant = match served.basis {
        pdx_licensing::decision::Basis::Grant { grant } => Some(grant.to_string()),
        _ => None,
    };
    let outbound = Outbound {
        method: reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ApiError::Internal(Box::new(e)))?,
        path: call_path,
        query,
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body,
        stamp: Stamp {
            ledger_seq: answer.seq,
            request_id: request_id.clone(),
            consumer: principal.as_ref().map(|p| p.org.to_string()),
            purpose: purpose.clone(),
        },
        public_prefix: format!("/api/v1/distributions/{id}/api"),
    };
    let licensing = state.licensing.clone();
    let request_seq = answer.seq;
    let on_end = Box::new(move |result| {
        let outcome = CallOutcome {
            request_seq,
            request_id,
            principal,
            distribution: id,
            grant,
            purpose,
            method,
            path: logged_path,
            result,
        };
        tokio::spawn(async move {
            if let Err(error) = licensing.record_call(outcome).await {
                tracing::error!(%error, request_seq, "the outcome of an API call could not be logged");
            }
        });
    });
    let relayed = match state.gateway.forward(call, outbound, on_end).await {
        Ok(relayed) => relayed,
        Err(failure) => return Ok(refused_with_receipt(&failed(failure), answer.seq)),
    };
    let status = StatusCode::from_u16(relayed.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &relayed.headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response.append_header((*name, value));
        }
    }
    if !relayed
        .headers
        .iter()
        .any(|(name, _)| *name == "cache-control")
    {
        // Data obtained under a grant is the caller's alone.
        response.insert_header((header::CACHE_CONTROL, "private, no-store"));
    }
    let stream = relayed.body;
    let response = match relayed.length {
        Some(length) => response.body(actix_web::body::SizedStream::new(length, stream)),
        None => response.streaming(stream),
    };
    Ok(with_receipt(response, answer.seq))
}

/// The body of a call that may carry one, read whole (at most 10 MiB).
async fn read_body(
    method: &str,
    mut payload: web::Payload,
) -> Result<Option<bytes::Bytes>, ApiError> {
    if matches!(method, "GET" | "HEAD") {
        return Ok(None);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if body.len() + chunk.len() > MAX_CALL_BODY {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_CALL_BODY,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Where an API distribution is called through PDX, when its upstream is configured.
pub(crate) async fn gateway_location(state: &ApiState, id: DistributionId) -> Option<String> {
    state
        .gateway
        .configured(id)
        .await
        .then(|| format!("{}/api/v1/distributions/{id}/api/", state.public_base()))
}

/// Gives each method of the gateway's one handler an operation id of its own
/// (`call_api_get`, …), as OpenAPI requires them unique.
pub(crate) fn name_operations(openapi: &mut utoipa::openapi::OpenApi) {
    if let Some(item) = openapi
        .paths
        .paths
        .get_mut("/api/v1/distributions/{id}/api/{path}")
    {
        for (method, operation) in [
            ("get", &mut item.get),
            ("head", &mut item.head),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ] {
            if let Some(operation) = operation {
                operation.operation_id = Some(format!("call_api_{method}"));
            }
        }
    }
}
