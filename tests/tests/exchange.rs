//! The data path over real HTTP: every request — permitted or refused — is written to the
//! circulation ledger before the answer, the answer carries the receipt, quotas hold under
//! concurrency, and refusals serve no data.

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, header, json};
use reqwest::Method;
use serde_json::{Value, json};

fn ledger_size(server: &TestServer) -> u64 {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    pdx_circulation::store::size(&mut conn).unwrap_or(u64::MAX)
}

fn ledger_entry(server: &TestServer, seq: u64) -> pdx_circulation::Entry {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    match pdx_circulation::store::entry(&mut conn, seq) {
        Ok(entry) => entry,
        Err(error) => panic!("no ledger entry {seq}: {error}"),
    }
}

const CSV: &str = "station,level\nA,3.2\nB,2.9\n";

struct Setup {
    server: TestServer,
    enterprise: String,
    admin: String,
    open: String,
    conditional: String,
}

async fn publish(
    server: &TestServer,
    publisher: &str,
    reviewer: &str,
    slug: &str,
    opening: &str,
) -> String {
    let body = json!({
        "slug": slug, "title": slug, "description": "Water levels", "update_frequency": "hourly", "languages": ["zh"],
        "sharing_class": "conditional", "opening_class": opening, "grade": "general",
        "licence": if opening == "open" { Value::from("CC-BY-4.0") } else { Value::Null },
    });
    server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(publisher),
            Some(body),
        )
        .await;
    let upload = server
        .client
        .post(server.url(&format!("/api/v1/datasets/{slug}/distributions")))
        .bearer_auth(publisher)
        .header("content-type", "text/csv")
        .body(CSV)
        .send()
        .await;
    let Ok(upload) = upload else { panic!() };
    let id = json(upload).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server
        .call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/submit"),
            Some(publisher),
            None,
        )
        .await;
    server
        .call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/publish"),
            Some(reviewer),
            None,
        )
        .await;
    id
}

async fn setup(max_requests: i64) -> Setup {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user(
            "water",
            "admin@water.test",
            &[Role::Admin, Role::Publisher, Role::Reviewer],
        )
        .await;
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    let admin = server.access_token("admin@water.test").await;
    let open = publish(&server, &admin, &admin, "open-levels", "open").await;
    let conditional = publish(&server, &admin, &admin, "levels", "conditional").await;
    let offer = server.call(Method::PUT, "/api/v1/datasets/levels/offer", Some(&admin), Some(json!({
        "licence_id": "CC-BY-4.0", "purposes": ["research"], "max_term_days": 30, "max_requests": max_requests,
        "fee_per_request": 5, "fee_per_mb": 100
    }))).await;
    assert_eq!(offer.status(), 200);
    Setup {
        enterprise: server.access_token("dev@acme.test").await,
        server,
        admin,
        open,
        conditional,
    }
}

async fn grant(s: &Setup) -> String {
    let request = s.server.call(Method::POST, "/api/v1/access-requests", Some(&s.enterprise), Some(json!({
        "dataset": "levels", "purpose": "research", "statement": "Flood warnings for our routes", "term_days": 30
    }))).await;
    let id = json(request).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let approved = json(
        s.server
            .call(
                Method::POST,
                &format!("/api/v1/access-requests/{id}/approve"),
                Some(&s.admin),
                None,
            )
            .await,
    )
    .await;
    approved["grant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn download(
    s: &Setup,
    distribution: &str,
    token: Option<&str>,
    purpose: Option<&str>,
) -> reqwest::Response {
    let mut request = s.server.client.get(
        s.server
            .url(&format!("/api/v1/distributions/{distribution}/data")),
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(purpose) = purpose {
        request = request.header("x-pdx-purpose", purpose);
    }
    match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("download failed: {error}"),
    }
}

fn receipt(response: &reqwest::Response) -> u64 {
    header(response, "x-pdx-ledger-seq")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no receipt"))
}

#[tokio::test]
async fn anonymous_download_of_open_data_is_served_and_logged_as_anonymous() {
    let s = setup(10).await;
    let before = ledger_size(&s.server);
    let response = download(&s, &s.open, None, None).await;
    assert_eq!(response.status(), 200);
    let seq = receipt(&response);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/csv")
    );
    assert_eq!(
        header(&response, "content-length").as_deref(),
        Some(CSV.len().to_string().as_str())
    );
    assert!(header(&response, "content-disposition").is_some_and(|d| d.contains("attachment")));
    assert_eq!(response.text().await.unwrap_or_default(), CSV);
    assert_eq!(ledger_size(&s.server), before + 1);
    let entry = ledger_entry(&s.server, seq);
    assert_eq!(
        (entry.decision.as_str(), entry.reason.as_str()),
        ("permit", "open")
    );
    assert_eq!((entry.actor_user, entry.actor_org), (None, None));
    assert_eq!(entry.bytes, CSV.len() as u64);
    assert_eq!(entry.distribution.as_deref(), Some(s.open.as_str()));
}

#[tokio::test]
async fn every_denial_is_logged_once_and_serves_no_data() {
    let s = setup(10).await;
    let cases: Vec<(Option<String>, Option<&str>, u16, &str)> = vec![
        (None, Some("research"), 401, "authentication_required"),
        (
            Some("not-a-token".to_owned()),
            Some("research"),
            401,
            "invalid_token",
        ),
        (
            Some(s.enterprise.clone()),
            Some("research"),
            403,
            "no_grant",
        ),
    ];
    for (token, purpose, status, reason) in cases {
        let before = ledger_size(&s.server);
        let response = download(&s, &s.conditional, token.as_deref(), purpose).await;
        assert_eq!(response.status(), status, "{reason}");
        let seq = receipt(&response);
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some("application/problem+json")
        );
        assert!(
            !response
                .text()
                .await
                .unwrap_or_default()
                .contains("station"),
            "no data leaves"
        );
        assert_eq!(
            ledger_size(&s.server),
            before + 1,
            "{reason}: exactly one entry"
        );
        let entry = ledger_entry(&s.server, seq);
        assert_eq!(
            (entry.decision.as_str(), entry.reason.as_str()),
            ("deny", reason)
        );
        assert_eq!(entry.bytes, 0);
    }

    let grant_id = grant(&s).await;
    let wrong_purpose = download(&s, &s.conditional, Some(&s.enterprise), Some("marketing")).await;
    assert_eq!(wrong_purpose.status(), 403);
    assert_eq!(
        ledger_entry(&s.server, receipt(&wrong_purpose)).reason,
        "purpose_not_allowed"
    );

    let served = download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await;
    assert_eq!(served.status(), 200);
    let entry = ledger_entry(&s.server, receipt(&served));
    assert_eq!(
        (entry.decision.as_str(), entry.grant.as_deref()),
        ("permit", Some(grant_id.as_str()))
    );
    assert_eq!(entry.fee, 5 + 100, "per request plus one started megabyte");
    assert_eq!(entry.purpose.as_deref(), Some("research"));

    s.server
        .call(
            Method::POST,
            &format!("/api/v1/grants/{grant_id}/revoke"),
            Some(&s.admin),
            None,
        )
        .await;
    let revoked = download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await;
    assert_eq!(revoked.status(), 403);
    assert_eq!(json(revoked).await["code"], "grant_revoked");
}

#[tokio::test]
async fn quota_holds_exactly_under_parallel_clients() {
    let s = setup(5).await;
    grant(&s).await;
    let before = ledger_size(&s.server);
    let attempts = (0..16).map(|_| {
        let client = s.server.client.clone();
        let url = s
            .server
            .url(&format!("/api/v1/distributions/{}/data", s.conditional));
        let token = s.enterprise.clone();
        tokio::spawn(async move {
            let response = client
                .get(url)
                .bearer_auth(token)
                .header("x-pdx-purpose", "research")
                .send()
                .await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap_or(0));
    }
    let permitted = statuses.iter().filter(|s| **s == 200).count();
    let exhausted = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((permitted, exhausted), (5, 11), "{statuses:?}");
    assert_eq!(
        ledger_size(&s.server),
        before + 16,
        "every request has its entry"
    );
    let permits = (before..before + 16)
        .filter(|seq| ledger_entry(&s.server, *seq).decision == "permit")
        .count();
    assert_eq!(permits, 5);
    let access = json(
        s.server
            .call(
                Method::GET,
                &format!(
                    "/api/v1/distributions/{}/access?purpose=research",
                    s.conditional
                ),
                Some(&s.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        access["reason"], "quota_exhausted",
        "usage is counted from the ledger"
    );
    let grants = json(
        s.server
            .call(Method::GET, "/api/v1/grants", Some(&s.enterprise), None)
            .await,
    )
    .await;
    assert_eq!(
        grants[0]["usage"]["requests"], 5,
        "the consumer sees its usage so far"
    );
    assert_eq!(grants[0]["usage"]["bytes"], 5 * CSV.len() as u64);
    let owner_view = json(
        s.server
            .call(Method::GET, "/api/v1/grants", Some(&s.admin), None)
            .await,
    )
    .await;
    assert_eq!(
        owner_view[0]["usage"]["requests"], 5,
        "so does the owning agency"
    );
}
