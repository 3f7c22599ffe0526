//! The middleware every request passes through: request id, tracing span, metrics, security
//! headers, and the guarantee that every error answer — ours or the framework's — is
//! problem+json.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use pdx_core::RequestId;
use tracing::Instrument;

use crate::edge;
use crate::error::{ApiError, PROBLEM_JSON};

/// The header carrying the request id, in both directions.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The id of the request being served by the current task, if any.
pub fn current_request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Wraps every request: assigns or echoes `X-Request-Id`, opens a span carrying it,
/// records `pdx_http_*` metrics, and turns bodiless error answers into problem+json.
pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    drop_empty_parameters(&mut req);
    let request_id = RequestId::from_client_or_generate(
        req.headers()
            .get(X_REQUEST_ID)
            .and_then(|value| value.to_str().ok()),
    );
    req.extensions_mut().insert(request_id.clone());
    let https = req
        .app_data::<actix_web::web::Data<crate::ApiState>>()
        .is_some_and(|state| state.edge.settings.https);
    let docs = req.path().starts_with("/api/docs");
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %req.path(),
    );
    metrics::gauge!("pdx_http_requests_in_flight").increment(1.0);

    // The response is built inside the scope so that error bodies can quote the request id.
    let outcome = REQUEST_ID
        .scope(
            request_id.clone(),
            async move {
                match next.call(req).await {
                    Ok(response) => {
                        let response = response.map_into_boxed_body();
                        if response.status() == actix_web::http::StatusCode::FORBIDDEN {
                            crate::audit::record_refusal(&response).await;
                        }
                        Ok(as_problem(response))
                    }
                    Err(error) => Err((error.error_response(), error)),
                }
            }
            .instrument(span.clone()),
        )
        .await;
    metrics::gauge!("pdx_http_requests_in_flight").decrement(1.0);

    let header_value = HeaderValue::from_str(request_id.as_str()).ok();
    let (status, route, result) = match outcome {
        Ok(mut response) => {
            if let Some(value) = header_value {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
            edge::decorate(response.headers_mut(), https, docs);
            let route = response.request().match_pattern();
            (response.status(), route, Ok(response))
        }
        Err((mut rendered, error)) => {
            // A service failed without a response; hand the framework the answer we rendered.
            if let Some(value) = header_value {
                rendered.headers_mut().insert(X_REQUEST_ID, value);
            }
            edge::decorate(rendered.headers_mut(), https, docs);
            let status = rendered.status();
            let failure = InternalError::from_response(error.to_string(), rendered);
            (status, None, Err(failure.into()))
        }
    };
    let elapsed = started.elapsed();
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    metrics::counter!(
        "pdx_http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.as_str().to_owned(),
    )
    .increment(1);
    metrics::histogram!(
        "pdx_http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route,
    )
    .record(elapsed.as_secs_f64());

    let _entered = span.enter();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), latency_ms, "request failed");
    } else if status.is_client_error() {
        tracing::info!(status = status.as_u16(), latency_ms, "request refused");
    } else {
        tracing::debug!(status = status.as_u16(), latency_ms, "request served");
    }
    result
}

/// A query parameter given with no value (`?kind=&page=2`) is taken as not given, the same on
/// every endpoint, rather than as an empty value that a number, id or enumeration refuses.
fn drop_empty_parameters(req: &mut ServiceRequest) {
    let Some(query) = req.uri().query() else {
        return;
    };
    let empty = |pair: &&str| pair.is_empty() || pair.ends_with('=');
    if !query.split('&').any(|pair| empty(&pair)) {
        return;
    }
    let kept: Vec<&str> = query.split('&').filter(|pair| !empty(pair)).collect();
    let rebuilt = if kept.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), kept.join("&"))
    };
    if let Ok(uri) = rebuilt.parse() {
        req.head_mut().uri = uri;
    }
}

/// Replaces the body of an error answer that is not already problem+json (a framework default)
/// with the problem body for its status.
fn as_problem(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Our own answers are JSON already (problem+json, or the CKAN API's error envelope) or
    // the portal's error pages.
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(PROBLEM_JSON.as_bytes())
                || value.starts_with(b"application/json")
                || value.starts_with(b"text/html")
        });
    if is_ours {
        return response;
    }
    let Some(error) = ApiError::from_status(status) else {
        return response;
    };
    let (request, original) = response.into_parts();
    let mut replacement = error.error_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(request, replacement)
}
