//! The foundation over real HTTP: health, readiness, metrics, request ids, problem+json
//! answers and the OpenAPI document and reference page.

use pdx_tests::{TestServer, header, json};

#[tokio::test]
async fn healthz_returns_ok() {
    let server = TestServer::spawn().await;
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_the_migrated_database() {
    let server = TestServer::spawn().await;
    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], server.database.backend().name());
    assert!(
        body["instance_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_api_route_answers_problem_json_404() {
    let server = TestServer::spawn().await;
    let response = server.get("/api/v1/does-not-exist").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/problem+json")
    );
    let request_id = header(&response, "x-request-id");
    let body = json(response).await;
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "urn:pdx:problem:not_found");
    assert_eq!(body["request_id"].as_str(), request_id.as_deref());
}

#[tokio::test]
async fn wrong_method_on_a_known_path_answers_problem_json() {
    let server = TestServer::spawn().await;
    let response = server.client.delete(server.url("/healthz")).send().await;
    let Ok(response) = response else {
        panic!("no response")
    };
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow").as_deref(), Some("GET"));
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(json(response).await["code"], "method_not_allowed");
    let patch = server
        .client
        .patch(server.url("/api/v1/datasets/some-dataset"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(patch.status(), 405);
    let allow = header(&patch, "allow").unwrap_or_default();
    for method in ["GET", "PUT", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }
    let unknown = server
        .client
        .put(server.url("/api/v1/nowhere"))
        .send()
        .await;
    assert_eq!(unknown.map(|r| r.status().as_u16()).ok(), Some(404));
}

#[tokio::test]
async fn request_id_is_echoed_when_safe_and_generated_otherwise() {
    let server = TestServer::spawn().await;
    let echoed = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await;
    let Ok(echoed) = echoed else {
        panic!("no response")
    };
    assert_eq!(
        header(&echoed, "x-request-id").as_deref(),
        Some("trace-abc-123")
    );

    let generated = server.get("/healthz").await;
    let id = header(&generated, "x-request-id").unwrap_or_default();
    assert_eq!(id.len(), 36, "a UUID is generated: {id}");

    let too_long = "x".repeat(200);
    let replaced = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", too_long.as_str())
        .send()
        .await;
    let Ok(replaced) = replaced else {
        panic!("no response")
    };
    assert_ne!(
        header(&replaced, "x-request-id").as_deref(),
        Some(too_long.as_str())
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let server = TestServer::spawn().await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    assert_eq!(server.get("/no-such-page").await.status(), 404);
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/plain")));
    let text = response.text().await.unwrap_or_default();
    let has = |needle: &str| {
        text.lines()
            .any(|line| line.starts_with("pdx_http_requests_total") && line.contains(needle))
    };
    assert!(has("route=\"/healthz\"") && has("status=\"200\""), "{text}");
    assert!(
        has("route=\"unmatched\"") && has("status=\"404\""),
        "{text}"
    );
    assert!(
        text.contains("pdx_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_document_is_served_as_openapi_3_1() {
    let server = TestServer::spawn().await;
    let response = server.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let spec = json(response).await;
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/healthz"]["get"].is_object(), "{spec}");
    assert!(spec["paths"]["/readyz"]["get"].is_object(), "{spec}");
    assert!(
        spec["components"]["schemas"]["Problem"].is_object(),
        "{spec}"
    );
    let committed = pdx_api_spec();
    assert_eq!(spec, committed, "the served document is the committed one");
}

fn pdx_api_spec() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[tokio::test]
async fn api_reference_page_works_without_internet() {
    let server = TestServer::spawn().await;
    let redirect = server.get("/api/docs").await;
    assert!(redirect.status().is_redirection());
    assert_eq!(header(&redirect, "location").as_deref(), Some("/api/docs/"));

    let page = server.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from the internet"
    );

    let initializer = server.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.unwrap_or_default();
    assert!(script.contains("/api/openapi.json"), "{script}");
    let bundle = server.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(
        bundle.status(),
        200,
        "the UI's JavaScript is served locally"
    );
}

fn security_headers_of(response: &reqwest::Response, what: &str) {
    assert_eq!(
        header(response, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(response, "x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        header(response, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    let policy = header(response, "content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_only_over_https() {
    let server = TestServer::spawn().await;
    for (path, what) in [
        ("/healthz", "a JSON answer"),
        ("/api/v1/does-not-exist", "a 404 of the API"),
        (
            "/api/v1/distributions/not-an-id/data",
            "a refusal on the data path",
        ),
        ("/api/openapi.json", "the OpenAPI document"),
    ] {
        let response = server.get(path).await;
        security_headers_of(&response, what);
        assert_eq!(
            header(&response, "content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            "{what}"
        );
        assert!(
            header(&response, "strict-transport-security").is_none(),
            "plain http: {what}"
        );
    }
    let docs = server.get("/api/docs/").await;
    security_headers_of(&docs, "the API reference");
    assert!(
        header(&docs, "content-security-policy").is_some_and(|p| p.contains("script-src 'self'")),
        "the reference page runs its own scripts only"
    );

    let https =
        TestServer::spawn_with(|c| c.public_url = Some("https://data.example.gov".into())).await;
    let response = https.get("/healthz").await;
    assert_eq!(
        header(&response, "strict-transport-security").as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_for_configured_origins_only_and_never_with_cookies() {
    let server = TestServer::spawn_with(|c| {
        c.http.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/api/v1/datasets"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "authorization, x-pdx-purpose",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(header(&allowed, "access-control-allow-credentials").is_none());
    let refused = preflight("https://evil.example")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(header(&refused, "access-control-allow-origin").is_none());
    assert!(refused.status().is_client_error());

    let simple = server
        .client
        .get(server.url("/api/v1/datasets"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        header(&simple, "access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(
        header(&simple, "access-control-expose-headers")
            .is_some_and(|h| h.contains("x-pdx-ledger-seq")),
        "browser apps can read the receipt"
    );

    let default = TestServer::spawn().await;
    let none = default
        .client
        .get(default.url("/api/v1/datasets"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(none.status(), 200, "same answer as without an origin");
    assert!(
        header(&none, "access-control-allow-origin").is_none(),
        "no origin by default"
    );
}

#[tokio::test]
async fn metrics_answer_only_to_the_configured_token() {
    let server =
        TestServer::spawn_with(|c| c.http.metrics_token = Some("scrape-me-4711".into())).await;
    let anonymous = server.get("/metrics").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(json(anonymous).await["code"], "invalid_token");
    let wrong = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth("scrape-me-4712")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status(), 401);
    let right = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth("scrape-me-4711")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .unwrap_or_default()
            .contains("pdx_http_requests_total")
    );
}
