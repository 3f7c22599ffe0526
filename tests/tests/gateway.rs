//! The API gateway over real HTTP, against a real upstream HTTP server started by the test: a
//! permitted call is forwarded with the credential PDX holds and logged with its outcome; a
//! refused call never reaches the upstream; an upstream that is slow, failing or unreachable
//! gives 504 or 502 (then 503 while its circuit is open), each in the ledger; and the
//! credential appears in no response, ledger entry, stored row or log line.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pdx_core::{OrgKind, Role};
use pdx_tests::upstream::{BIG, TestUpstream};
use pdx_tests::{TestServer, expect_problem, header, json};
use reqwest::Method;
use serde_json::{Value, json};

/// The credential the agency gives PDX for its upstream.
const SECRET: &str = "upstream-secret-7f3a9c";

/// Every log line the servers of this test binary write, at debug level.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Captured(Arc::clone(&writer)))
            .with_ansi(false)
            .finish();
        // Another test of this binary may have installed it first; the buffer is shared.
        drop(tracing::subscriber::set_global_default(subscriber));
        buffer
    })
    .clone()
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    server: TestServer,
    upstream: TestUpstream,
    admin: String,
    enterprise: String,
    /// The enterprise organisation's id.
    acme: String,
    distribution: String,
}

/// An agency publishes a conditional dataset whose distribution is its live bus API, offers it
/// for research, configures the upstream with a header credential, and grants an enterprise.
async fn world() -> World {
    world_with(|_| {}).await
}

/// [`world`] on a server whose configuration `adjust` changed.
async fn world_with(adjust: impl FnOnce(&mut pdx_server::config::Config)) -> World {
    log();
    let upstream = TestUpstream::start().await;
    let server = TestServer::spawn_with(|config| {
        config.gateway.allow_private_networks = true;
        adjust(config);
    })
    .await;
    server.create_org("transit", OrgKind::Agency).await;
    server
        .create_user(
            "transit",
            "admin@transit.test",
            &[Role::Admin, Role::Publisher, Role::Reviewer],
        )
        .await;
    let admin = server.access_token("admin@transit.test").await;
    let acme = server
        .create_org("acme", OrgKind::Enterprise)
        .await
        .id
        .to_string();
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    server
        .create_user("platform", "auditor@pdx.test", &[Role::Auditor])
        .await;
    let distribution = api_dataset(&server, &admin, "bus-positions").await;
    server
        .submit_and_publish(&admin, &admin, "bus-positions")
        .await;
    let offered = server
        .call(
            Method::PUT,
            "/api/v1/datasets/bus-positions/offer",
            Some(&admin),
            Some(json!({
                "licence_id": "CC-BY-4.0", "purposes": ["research"], "max_term_days": 30,
            })),
        )
        .await;
    assert_eq!(offered.status(), 200);
    let configured = configure(
        &server,
        &admin,
        &distribution,
        json!({
            "base_url": format!("{}/v1", upstream.base_url),
            "credential": {"kind": "header", "name": "X-Api-Key", "value": SECRET},
            "paths": ["/stops/*", "/slow", "/fail", "/unauthorised", "/big", "/redirect",
                      "/away", "/cookie", "/echo-headers", "/items/**"],
            "timeout_ms": 500,
        }),
    )
    .await;
    assert_eq!(configured.status(), 200);
    let enterprise = server.access_token("dev@acme.test").await;
    server
        .grant(&enterprise, &admin, "bus-positions", json!({}))
        .await;
    World {
        server,
        upstream,
        admin,
        enterprise,
        acme,
        distribution,
    }
}

/// Creates the conditional dataset `slug` as `admin` with one API distribution (its public
/// address only, no upstream yet); returns the distribution's id.
async fn api_dataset(server: &TestServer, admin: &str, slug: &str) -> String {
    let created = server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(admin),
            Some(json!({
                "slug": slug, "title": "Bus positions", "description": "Live positions",
                "update_frequency": "continuous", "languages": ["en"],
                "sharing_class": "conditional", "opening_class": "conditional", "grade": "general",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let added = server
        .call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/distributions"),
            Some(admin),
            Some(json!({
                "title": "Live API", "access_url": "https://api.transit.example.gov/",
                "format": "JSON",
            })),
        )
        .await;
    assert_eq!(added.status(), 201);
    json(added).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn configure(
    server: &TestServer,
    token: &str,
    distribution: &str,
    body: Value,
) -> reqwest::Response {
    server
        .call(
            Method::PUT,
            &format!("/api/v1/distributions/{distribution}/upstream"),
            Some(token),
            Some(body),
        )
        .await
}

/// Calls `path` below the API as `token` (with the purpose `research`).
async fn call(w: &World, method: Method, token: Option<&str>, path: &str) -> reqwest::Response {
    call_at(w, &w.server.base_url, method, token, path).await
}

/// [`call`] through the server at `base`.
async fn call_at(
    w: &World,
    base: &str,
    method: Method,
    token: Option<&str>,
    path: &str,
) -> reqwest::Response {
    let url = format!("{base}/api/v1/distributions/{}/api{path}", w.distribution);
    let mut request = w.server.client.request(method, url);
    if let Some(token) = token {
        request = request
            .bearer_auth(token)
            .header("x-pdx-purpose", "research");
    }
    match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("the call failed: {error}"),
    }
}

fn receipt(response: &reqwest::Response) -> u64 {
    header(response, "x-pdx-ledger-seq")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no receipt: {response:?}"))
}

fn entry(server: &TestServer, seq: u64) -> Option<pdx_circulation::Entry> {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    pdx_circulation::store::entry(&mut conn, seq).ok()
}

/// The `api_result` entry of the call whose permit is `request_seq` (it is appended when the
/// call ends).
async fn result_of(server: &TestServer, request_seq: u64) -> pdx_circulation::Entry {
    for _ in 0..100 {
        let mut seq = request_seq + 1;
        while let Some(found) = entry(server, seq) {
            if found.kind == "api_result"
                && found.detail.as_ref().map(|d| d["request_seq"].clone())
                    == Some(json!(request_seq))
            {
                return found;
            }
            seq += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no api_result for entry {request_seq}")
}

#[tokio::test]
async fn a_permitted_call_is_forwarded_with_the_credential_and_logged() {
    let w = world().await;
    let answer = call(
        &w,
        Method::GET,
        Some(&w.enterprise),
        "/stops/12?lang=zh&key=mine",
    )
    .await;
    assert_eq!(answer.status(), 200);
    let seq = receipt(&answer);
    assert_eq!(
        header(&answer, "cache-control").as_deref(),
        Some("max-age=5")
    );
    let body = answer.bytes().await.unwrap_or_default();
    let served: Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(served["path"], "/v1/stops/12");
    assert_eq!(served["query"], "lang=zh&key=mine");

    let received = w.upstream.recorded();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(
        got.header("x-api-key"),
        Some(SECRET),
        "the credential PDX holds"
    );
    assert_eq!(
        got.header("authorization"),
        None,
        "the caller's token stays with PDX"
    );
    assert_eq!(
        got.header("x-pdx-ledger-seq"),
        Some(seq.to_string().as_str())
    );
    assert_eq!(got.header("x-pdx-purpose"), Some("research"));
    let acme = Some(w.acme.clone());
    assert_eq!(got.header("x-pdx-consumer").map(str::to_owned), acme);

    let permit = entry(&w.server, seq).unwrap_or_else(|| panic!("no entry {seq}"));
    assert_eq!(
        (
            permit.kind.as_str(),
            permit.decision.as_str(),
            permit.reason.as_str()
        ),
        ("data_access", "permit", "grant")
    );
    assert_eq!(
        permit.detail,
        Some(json!({"method": "GET", "path": "/stops/12"}))
    );
    assert_eq!(permit.actor_org, acme);
    let outcome = result_of(&w.server, seq).await;
    assert_eq!(outcome.decision, "success");
    assert_eq!(outcome.reason, "answered");
    assert_eq!(outcome.bytes, body.len() as u64);
    assert_eq!(outcome.grant, permit.grant);
    let detail = outcome.detail.unwrap_or_default();
    assert_eq!(detail["status"], 200);
    assert_eq!(detail["method"], "GET");
    assert!(detail["latency_ms"].as_u64().is_some());

    // A long answer is streamed through whole and its bytes recorded.
    let big = call(&w, Method::GET, Some(&w.enterprise), "/big").await;
    let seq = receipt(&big);
    assert_eq!(big.bytes().await.map(|b| b.len()).ok(), Some(BIG));
    assert_eq!(result_of(&w.server, seq).await.bytes, BIG as u64);

    // Calls count against the grant's requests like downloads.
    let grants = json(
        w.server
            .call(Method::GET, "/api/v1/grants", Some(&w.enterprise), None)
            .await,
    )
    .await;
    assert_eq!(grants[0]["usage"]["requests"], 2, "{grants}");

    // The publisher sees the configuration, never the secret.
    let shown = w
        .server
        .call(
            Method::GET,
            &format!("/api/v1/distributions/{}/upstream", w.distribution),
            Some(&w.admin),
            None,
        )
        .await;
    let shown = json(shown).await;
    assert_eq!(shown["credential"]["kind"], "header");
    assert_eq!(shown["credential"]["name"], "X-Api-Key");
    assert_eq!(shown["circuit"], "closed");
    assert!(!shown.to_string().contains(SECRET));
    // Reconfiguring without a credential keeps it.
    let kept = configure(
        &w.server,
        &w.admin,
        &w.distribution,
        json!({"base_url": format!("{}/v1", w.upstream.base_url), "timeout_ms": 800}),
    )
    .await;
    assert_eq!(kept.status(), 200);
    let again = call(&w, Method::GET, Some(&w.enterprise), "/stops/13").await;
    assert_eq!(again.status(), 200);
    let last = w.upstream.recorded().pop();
    assert_eq!(
        last.as_ref().and_then(|r| r.header("x-api-key")),
        Some(SECRET)
    );
    // … and the default paths (everything below the base) and methods (reading) now apply.
    let posted = call(&w, Method::POST, Some(&w.enterprise), "/stops/13").await;
    expect_problem(posted, 405, "method_not_allowed").await;

    // A GET of the data path of an API distribution leads to the gateway.
    let data = w
        .server
        .client
        .get(
            w.server
                .url(&format!("/api/v1/distributions/{}/data", w.distribution)),
        )
        .bearer_auth(&w.enterprise)
        .header("x-pdx-purpose", "research")
        .send()
        .await;
    let location = data.ok().and_then(|d| header(&d, "location"));
    assert_eq!(
        location,
        Some(
            w.server
                .url(&format!("/api/v1/distributions/{}/api/", w.distribution))
        )
    );
}

#[tokio::test]
async fn a_refused_call_never_reaches_the_upstream() {
    let w = world().await;
    // Anonymous, on a dataset under grants.
    let anonymous = call(&w, Method::GET, None, "/stops/1").await;
    let seq = receipt(&anonymous);
    expect_problem(anonymous, 401, "authentication_required").await;
    let logged = entry(&w.server, seq).unwrap_or_else(|| panic!("no entry"));
    assert_eq!(
        (logged.decision.as_str(), logged.reason.as_str()),
        ("deny", "authentication_required")
    );
    assert_eq!(
        logged.detail,
        Some(json!({"method": "GET", "path": "/stops/1"}))
    );
    // Another enterprise, without a grant.
    w.server.create_org("other", OrgKind::Enterprise).await;
    w.server
        .create_user("other", "dev@other.test", &[Role::Member])
        .await;
    let other = w.server.access_token("dev@other.test").await;
    let refused = call(&w, Method::GET, Some(&other), "/stops/1").await;
    assert_eq!(refused.status(), 403);
    // A bad token.
    let forged = call(&w, Method::GET, Some("not-a-token"), "/stops/1").await;
    expect_problem(forged, 401, "invalid_token").await;
    // A path the publisher does not allow, and a method.
    let path = call(&w, Method::GET, Some(&w.enterprise), "/admin/users").await;
    let seq = receipt(&path);
    expect_problem(path, 403, "path_not_allowed").await;
    assert_eq!(
        entry(&w.server, seq).map(|e| e.reason),
        Some("path_not_allowed".into())
    );
    let deleted = call(&w, Method::DELETE, Some(&w.enterprise), "/stops/1").await;
    expect_problem(deleted, 405, "method_not_allowed").await;
    // Paths that would climb out of the API's base, however encoded.
    // (`%2e%2e` alone the client itself resolves; the unit tests send it raw.)
    for climbing in [
        "/stops/..%2F..%2Fadmin",
        "/stops/%2e%2e%2fadmin",
        "/items/a%2Fb",
        "/items//x",
        "/items/a%5cb",
    ] {
        let refused = call(&w, Method::GET, Some(&w.enterprise), climbing).await;
        expect_problem(refused, 422, "invalid_path").await;
    }
    // The purpose is required under a grant.
    let url = w.server.url(&format!(
        "/api/v1/distributions/{}/api/stops/1",
        w.distribution
    ));
    let no_purpose = w
        .server
        .client
        .get(url)
        .bearer_auth(&w.enterprise)
        .send()
        .await;
    let Ok(no_purpose) = no_purpose else {
        panic!("no answer")
    };
    expect_problem(no_purpose, 400, "purpose_required").await;
    assert!(
        w.upstream.recorded().is_empty(),
        "{:?}",
        w.upstream.recorded()
    );

    // Nobody but the publisher may see or change the upstream.
    for token in [&w.enterprise, &other] {
        let read = w
            .server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{}/upstream", w.distribution),
                Some(token),
                None,
            )
            .await;
        assert!(
            matches!(read.status().as_u16(), 403 | 404),
            "{}",
            read.status()
        );
        let changed = configure(
            &w.server,
            token,
            &w.distribution,
            json!({"base_url": "https://evil.example/"}),
        )
        .await;
        assert!(
            matches!(changed.status().as_u16(), 403 | 404),
            "{}",
            changed.status()
        );
    }
    // Removed, the API answers no more.
    let removed = w
        .server
        .call(
            Method::DELETE,
            &format!("/api/v1/distributions/{}/upstream", w.distribution),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let gone = call(&w, Method::GET, Some(&w.enterprise), "/stops/1").await;
    expect_problem(gone, 409, "gateway_not_configured").await;
    assert!(w.upstream.recorded().is_empty());
}

#[tokio::test]
async fn a_failing_upstream_gives_504_or_502_logged_and_its_circuit_opens() {
    let w = world().await;
    let slow = call(&w, Method::GET, Some(&w.enterprise), "/slow").await;
    let seq = receipt(&slow);
    let problem = expect_problem(slow, 504, "upstream_timeout").await;
    assert!(!problem.to_string().contains("127.0.0.1"), "{problem}");
    let outcome = result_of(&w.server, seq).await;
    assert_eq!(
        (outcome.decision.as_str(), outcome.reason.as_str()),
        ("failure", "upstream_timeout")
    );
    assert_eq!(
        entry(&w.server, seq).map(|e| e.decision),
        Some("permit".into())
    );

    // A server error's body (here with a password in it) is not relayed.
    let failed = call(&w, Method::GET, Some(&w.enterprise), "/fail").await;
    let seq = receipt(&failed);
    let problem = expect_problem(failed, 502, "upstream_error").await;
    assert!(!problem.to_string().contains("hunter2"));
    let outcome = result_of(&w.server, seq).await;
    assert_eq!(outcome.reason, "upstream_error");
    assert_eq!(outcome.detail.unwrap_or_default()["status"], 500);

    // The upstream refusing PDX's credential is the publisher's problem, told as such.
    let refused = call(&w, Method::GET, Some(&w.enterprise), "/unauthorised").await;
    expect_problem(refused, 502, "upstream_refused_credential").await;

    // Five failures in a row open the circuit: calls are held off at once, and logged as
    // refusals that charge nothing.
    for _ in 0..3 {
        let failed = call(&w, Method::GET, Some(&w.enterprise), "/fail").await;
        assert_eq!(failed.status(), 502);
    }
    let reached = w.upstream.recorded().len();
    let held = call(&w, Method::GET, Some(&w.enterprise), "/stops/1").await;
    let seq = receipt(&held);
    assert!(header(&held, "retry-after").is_some());
    expect_problem(held, 503, "upstream_unavailable").await;
    assert_eq!(w.upstream.recorded().len(), reached, "held off, not sent");
    let logged = entry(&w.server, seq).unwrap_or_else(|| panic!("no entry"));
    assert_eq!(
        (logged.decision.as_str(), logged.reason.as_str()),
        ("deny", "upstream_unavailable")
    );
    let shown = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{}/upstream", w.distribution),
                Some(&w.admin),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(shown["circuit"], "open");

    // An upstream that is not there: 502, logged.
    let lost = configure(
        &w.server,
        &w.admin,
        &w.distribution,
        json!({"base_url": "http://127.0.0.1:9/v1"}),
    )
    .await;
    assert_eq!(lost.status(), 200);
    let unreachable = call(&w, Method::GET, Some(&w.enterprise), "/stops/1").await;
    let seq = receipt(&unreachable);
    expect_problem(unreachable, 502, "upstream_unreachable").await;
    assert_eq!(
        result_of(&w.server, seq).await.reason,
        "upstream_unreachable"
    );
}

/// The upstream's configuration as the server at `base` sees it.
async fn upstream_seen_by(w: &World, base: &str) -> Value {
    let url = format!("{base}/api/v1/distributions/{}/upstream", w.distribution);
    let response = w.server.client.get(url).bearer_auth(&w.admin).send().await;
    match response {
        Ok(response) if response.status() == 200 => json(response).await,
        other => panic!("the upstream could not be read: {other:?}"),
    }
}

/// Waits until the server at `base` sees `field` of the upstream at `value` (the servers
/// exchange what they know every second).
async fn until_seen(w: &World, base: &str, field: &str, value: Value) {
    for _ in 0..100 {
        if upstream_seen_by(w, base).await[field] == value {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{base} never saw {field} = {value}");
}

/// Two servers on one database, each with a data directory of its own, are one gateway: an
/// upstream's calls at once are shared out between them, a circuit one of them opens holds
/// calls off on the other, and a probe that gets through on one closes it on both.
#[tokio::test]
async fn two_servers_share_an_upstreams_calls_at_once_and_its_circuit() {
    let w = world_with(|config| config.gateway.circuit_cool_down_secs = 3).await;
    let configured = configure(
        &w.server,
        &w.admin,
        &w.distribution,
        json!({
            "base_url": format!("{}/v1", w.upstream.base_url),
            "paths": ["/hold", "/fail", "/stops/*"],
            "timeout_ms": 2000,
            "max_concurrency": 2,
        }),
    )
    .await;
    assert_eq!(configured.status(), 200);
    let other = w.server.sibling().await;
    let here = w.server.base_url.clone();
    for base in [&here, &other.base_url] {
        until_seen(&w, base, "max_concurrency_here", json!(1)).await;
    }

    // Three calls at once on each server: each forwards one at a time (the second after the
    // first, the third finds no room in time), so the upstream never holds more than two.
    let calls = (0..6).map(|i| {
        let base = if i % 2 == 0 { &here } else { &other.base_url };
        let (w, token) = (&w, w.enterprise.as_str());
        async move {
            call_at(w, base, Method::GET, Some(token), "/hold")
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(calls).await;
    statuses.sort_unstable();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 2,
        "{statuses:?}"
    );
    assert_eq!(
        w.upstream.most_held_at_once(),
        2,
        "both servers forwarded, never more than max_concurrency at once"
    );

    // Five failures in a row through this server open the circuit; the other server holds
    // calls off too, without calling the upstream.
    for _ in 0..5 {
        let failed = call(&w, Method::GET, Some(&w.enterprise), "/fail").await;
        assert_eq!(failed.status(), 502);
    }
    until_seen(&w, &other.base_url, "circuit", json!("open")).await;
    let reached = w.upstream.recorded().len();
    let held = call_at(
        &w,
        &other.base_url,
        Method::GET,
        Some(&w.enterprise),
        "/stops/1",
    )
    .await;
    expect_problem(held, 503, "upstream_unavailable").await;
    assert_eq!(w.upstream.recorded().len(), reached, "held off, not sent");
    // The agency's workspace on the other server says so.
    let session = w.server.portal_session("admin@transit.test").await;
    let page = w
        .server
        .client
        .get(other.url("/workspace/agency/datasets/bus-positions"))
        .header("cookie", format!("pdx_session={session}"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap_or_default();
    assert!(
        page.contains("Held off") && page.contains("failed five times in a row"),
        "{page}"
    );

    // Once the cool-down is over, a call through this server probes the upstream and gets
    // through: the other server closes its circuit without having called.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let probe = call(&w, Method::GET, Some(&w.enterprise), "/stops/1").await;
    assert_eq!(probe.status(), 200);
    until_seen(&w, &other.base_url, "circuit", json!("closed")).await;
    assert_eq!(w.upstream.recorded().len(), reached + 1, "only the probe");
}

#[tokio::test]
async fn a_caller_that_goes_away_before_the_upstream_answers_is_logged_as_gone() {
    let w = world().await;
    // The upstream may take ten seconds; `/slow` answers in three.
    let patient = configure(
        &w.server,
        &w.admin,
        &w.distribution,
        json!({
            "base_url": format!("{}/v1", w.upstream.base_url),
            "credential": {"kind": "header", "name": "X-Api-Key", "value": SECRET},
            "paths": ["/slow"],
            "timeout_ms": 10_000,
        }),
    )
    .await;
    assert_eq!(patient.status(), 200);
    let Ok(mut conn) = w.server.database.database().conn() else {
        panic!("no connection")
    };
    let before = pdx_circulation::store::size(&mut conn).unwrap_or(u64::MAX);
    drop(conn);

    // A caller asks, and hangs up once the call has reached the upstream.
    let bearer = format!("Bearer {}", w.enterprise);
    let client = w
        .server
        .send_get_and_hold(
            &format!("/api/v1/distributions/{}/api/slow", w.distribution),
            &[("Authorization", &bearer), ("X-PDX-Purpose", "research")],
        )
        .await;
    let mut reached = false;
    for _ in 0..200 {
        reached = w.upstream.recorded().iter().any(|r| r.path == "/v1/slow");
        if reached {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(reached, "the call never reached the upstream");
    drop(client);

    // The permit was logged when the call was decided; its outcome follows at once, as a
    // caller gone before the upstream answered (not when the upstream's answer comes).
    let permit = (before..before + 4)
        .filter_map(|seq| entry(&w.server, seq))
        .find(|e| e.decision == "permit")
        .unwrap_or_else(|| panic!("no permit after entry {before}"));
    let outcome = result_of(&w.server, permit.seq).await;
    assert_eq!(
        (outcome.decision.as_str(), outcome.reason.as_str()),
        ("failure", "caller_gone")
    );
    assert_eq!(outcome.bytes, 0);
    let detail = outcome.detail.unwrap_or_default();
    // No status: logged when the caller went, not when the upstream's answer came.
    assert_eq!(detail["status"], Value::Null, "{detail}");
}

#[tokio::test]
async fn the_credential_never_appears_in_a_response_the_ledger_a_row_or_the_log() {
    let w = world().await;
    // An upstream that echoes what it is sent: the answer is cut before the credential.
    // (The caller sees the answer break off, or no answer at all.)
    let url = w.server.url(&format!(
        "/api/v1/distributions/{}/api/echo-headers",
        w.distribution
    ));
    let echoed = w
        .server
        .client
        .get(url)
        .bearer_auth(&w.enterprise)
        .header("x-pdx-purpose", "research")
        .send()
        .await;
    if let Ok(echoed) = echoed {
        let text = echoed.bytes().await.unwrap_or_default();
        assert!(!String::from_utf8_lossy(&text).contains(SECRET));
    }
    let mut cut = None;
    for _ in 0..100 {
        cut = (0..200)
            .filter_map(|seq| entry(&w.server, seq))
            .find(|e| e.kind == "api_result" && e.reason == "credential_in_answer");
        if cut.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cut = cut.unwrap_or_else(|| panic!("the cut answer is not logged"));
    assert_eq!(cut.decision, "failure");
    assert_eq!(cut.detail.unwrap_or_default()["path"], "/echo-headers");

    // Cookies and internal headers stay behind; a redirect into the upstream leads into the
    // gateway, one elsewhere is dropped.
    let cookie = call(&w, Method::GET, Some(&w.enterprise), "/cookie").await;
    assert_eq!(header(&cookie, "set-cookie"), None);
    assert_eq!(header(&cookie, "x-internal-host"), None);
    assert_eq!(header(&cookie, "etag").as_deref(), Some("\"v1\""));
    let redirect = call(&w, Method::GET, Some(&w.enterprise), "/redirect").await;
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        header(&redirect, "location"),
        Some(format!(
            "/api/v1/distributions/{}/api/stops/1",
            w.distribution
        ))
    );
    let away = call(&w, Method::GET, Some(&w.enterprise), "/away").await;
    assert_eq!(header(&away, "location"), None);

    // Entered as a query parameter, the credential replaces the caller's own of that name.
    let query = configure(
        &w.server,
        &w.admin,
        &w.distribution,
        json!({
            "base_url": format!("{}/v1", w.upstream.base_url),
            "credential": {"kind": "query", "name": "key", "value": SECRET},
        }),
    )
    .await;
    assert_eq!(query.status(), 200);
    assert!(!json(query).await.to_string().contains(SECRET));
    let answer = call(
        &w,
        Method::GET,
        Some(&w.enterprise),
        "/cookie?key=mine&lang=en",
    )
    .await;
    assert_eq!(answer.status(), 200);
    let received = w
        .upstream
        .recorded()
        .pop()
        .unwrap_or_else(|| panic!("not received"));
    assert_eq!(received.query, format!("lang=en&key={SECRET}"));
    assert!(!answer.text().await.unwrap_or_default().contains(SECRET));

    // Nowhere in the ledger (export) …
    let auditor = w.server.access_token("auditor@pdx.test").await;
    let export = w
        .server
        .call(Method::GET, "/api/v1/ledger/export", Some(&auditor), None)
        .await;
    assert_eq!(export.status(), 200);
    let export = export.text().await.unwrap_or_default();
    assert!(
        export.contains("api_upstream_configured"),
        "the change is logged"
    );
    assert!(!export.contains(SECRET));
    // … nor in any stored row (the credential is sealed) …
    if let pdx_storage::DatabaseUrl::Sqlite(path) = w.server.database.url() {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(!bytes.windows(SECRET.len()).any(|b| b == SECRET.as_bytes()));
    }
    let Ok(mut conn) = w.server.database.database().conn() else {
        panic!("no connection")
    };
    let sealed: Vec<String> = {
        use diesel::prelude::*;
        pdx_storage::schema::api_upstreams::table
            .select(pdx_storage::schema::api_upstreams::credential_sealed.assume_not_null())
            .load(&mut conn)
            .unwrap_or_default()
    };
    assert_eq!(sealed.len(), 1);
    assert!(!sealed[0].contains(SECRET));
    // … nor in the log.
    let log = log();
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(!log.is_empty(), "the log is captured");
    assert!(!String::from_utf8_lossy(&log).contains(SECRET));
}

#[tokio::test]
async fn an_installation_keeps_its_private_networks_from_publishers() {
    let server = TestServer::spawn().await;
    server.create_org("transit", OrgKind::Agency).await;
    server
        .create_user(
            "transit",
            "admin@transit.test",
            &[Role::Admin, Role::Publisher],
        )
        .await;
    let admin = server.access_token("admin@transit.test").await;
    let distribution = api_dataset(&server, &admin, "bus").await;
    for private in [
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/",
        "http://[::1]/",
    ] {
        let refused = configure(&server, &admin, &distribution, json!({"base_url": private})).await;
        let problem = expect_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["field"], "base_url");
    }
    for (body, field) in [
        (
            json!({"base_url": "https://api.example.gov/", "methods": ["TRACE"]}),
            "methods",
        ),
        (
            json!({"base_url": "https://api.example.gov/", "paths": ["/a/**/b"]}),
            "paths",
        ),
        (
            json!({"base_url": "https://api.example.gov/", "timeout_ms": 0}),
            "timeout_ms",
        ),
        (
            json!({"base_url": "https://api.example.gov/",
                   "credential": {"kind": "header", "name": "Host", "value": "long-enough"}}),
            "credential.name",
        ),
        (
            json!({"base_url": "https://api.example.gov/",
                   "credential": {"kind": "bearer", "token": "short"}}),
            "credential.token",
        ),
    ] {
        let refused = configure(&server, &admin, &distribution, body).await;
        let problem = expect_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["field"], field);
    }
    // A file is not an API.
    let file = server.upload_csv(&admin, "bus", "a,b\n1,2\n").await;
    let refused = configure(
        &server,
        &admin,
        &file,
        json!({"base_url": "https://api.example.gov/"}),
    )
    .await;
    expect_problem(refused, 409, "not_an_api").await;
}
