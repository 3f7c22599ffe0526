//! The demo a newcomer meets: agencies, enterprises and some forty datasets in several states,
//! searchable in Chinese and English, with demo accounts that sign in; licences, offers,
//! requests and grants in every state, a pending registration, and three months of
//! circulation that verify offline; and the README's path from request to download.

use std::collections::BTreeSet;

use pdx_tests::{TestServer, header, json};
use reqwest::Method;
use serde_json::{Value, json};

/// The purposes vocabulary (`pdx_licensing::model::PURPOSES`), as the API accepts it.
const PURPOSES: [&str; 6] = [
    "research",
    "public_service",
    "product_development",
    "education",
    "journalism",
    "statistics",
];

async fn get_as(server: &TestServer, token: &str, path: &str) -> Value {
    let response = server.call(Method::GET, path, Some(token), None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    json(response).await
}

fn texts<'a>(items: &'a Value, field: &str) -> BTreeSet<&'a str> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str())
        .collect()
}

#[tokio::test]
async fn demo_catalog_is_searchable_and_its_accounts_sign_in() {
    let server = TestServer::spawn_demo().await;
    assert!(server.demo_accounts.len() >= 20);

    let all = json(server.get("/api/v1/datasets?per_page=100").await).await;
    let published = all["total"].as_i64().unwrap_or(0);
    assert!(published >= 35, "{published} published datasets");
    let themes = all["facets"]["theme"].as_array().map(Vec::len).unwrap_or(0);
    assert!(themes >= 8, "{themes} themes");
    let opening: Vec<&str> = all["facets"]["opening_class"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["value"].as_str())
        .collect();
    assert!(
        opening.contains(&"open") && opening.contains(&"conditional"),
        "{opening:?}"
    );

    for (query, slug) in [
        ("公交", "bus-stops"),
        ("charging", "ev-charging-piles"),
        ("空气质量", "air-quality-futian"),
    ] {
        let found = json(
            server
                .get(&format!(
                    "/api/v1/datasets?q={}",
                    pdx_tests::urlencode(query)
                ))
                .await,
        )
        .await;
        let slugs: Vec<&str> = found["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["slug"].as_str())
            .collect();
        assert!(slugs.contains(&slug), "{query}: {slugs:?}");
    }
    let bus = json(server.get("/api/v1/datasets/bus-stops").await).await;
    let formats: Vec<&str> = bus["distributions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["format"].as_str())
        .collect();
    assert_eq!(formats, vec!["GeoJSON", "CSV"]);
    assert!(bus["distributions"][0]["byte_size"].as_i64().unwrap_or(0) > 1000);
    // Its CSV was loaded into a table with the demo: anyone may query the open rows.
    let csv = bus["distributions"][1]["id"].as_str().unwrap();
    let rows = json(
        server
            .get(&format!("/api/v1/distributions/{csv}/rows?limit=5"))
            .await,
    )
    .await;
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(5), "{rows}");
    assert!(rows["next"].is_string(), "more pages: {rows}");

    // The draft stays inside its agency; the withdrawn one is out of search.
    assert_eq!(server.get("/api/v1/datasets/schools").await.status(), 404);
    let statistics = server.access_token("reviewer@sz-statistics.demo.pdx").await;
    let own = server
        .call(
            Method::GET,
            "/api/v1/datasets/schools",
            Some(&statistics),
            None,
        )
        .await;
    assert_eq!(own.status(), 200);
    let withdrawn = json(server.get("/api/v1/datasets?q=2024&keyword=business").await).await;
    assert_eq!(withdrawn["total"], 0);

    let auditor = server.access_token("auditor@demo.pdx").await;
    let trail = json(
        server
            .call(
                Method::GET,
                "/api/v1/audit-events?kind=dataset_published",
                Some(&auditor),
                None,
            )
            .await,
    )
    .await;
    assert!(trail["total"].as_i64().unwrap_or(0) >= 35);
}

/// The README's newcomer path, step for step: an enterprise member signs in and requests a
/// conditional dataset, an agency reviewer approves it, and the member downloads the data with
/// a bearer token and a purpose from the vocabulary.
#[tokio::test]
async fn a_newcomer_requests_conditional_data_and_downloads_it_once_approved() {
    let server = TestServer::spawn_demo().await;
    let member = server
        .access_token("member@pengcheng-mobility.demo.pdx")
        .await;
    let dataset = json(
        server
            .get("/api/v1/datasets/5g-base-stations-pingshan")
            .await,
    )
    .await;
    assert_eq!(dataset["opening_class"], "conditional");
    let distribution = dataset["distributions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = format!("/api/v1/distributions/{distribution}/data");
    let fetch = |token: String| {
        server
            .client
            .get(server.url(&data))
            .bearer_auth(token)
            .header("X-PDX-Purpose", "product_development")
            .send()
    };

    let refused = fetch(member.clone()).await.unwrap();
    assert_eq!(refused.status(), 403, "no grant yet");
    assert_eq!(json(refused).await["code"], "no_grant");

    let submitted = server
        .call(
            Method::POST,
            "/api/v1/access-requests",
            Some(&member),
            Some(json!({
                "dataset": "5g-base-stations-pingshan",
                "purpose": "product_development",
                "statement": "Coverage-aware routing for our ride-hailing app in Pingshan.",
                "term_days": 90
            })),
        )
        .await;
    assert_eq!(submitted.status(), 201);
    let request = json(submitted).await;
    assert_eq!(request["status"], "submitted");
    let request_id = request["id"].as_str().unwrap();

    let reviewer = server.access_token("reviewer@sz-miit.demo.pdx").await;
    let approved = server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{request_id}/approve"),
            Some(&reviewer),
            None,
        )
        .await;
    assert_eq!(approved.status(), 200);
    let approval = json(approved).await;
    assert_eq!(approval["request"]["status"], "approved");
    assert_eq!(approval["grant"]["status"], "active");
    assert_eq!(approval["grant"]["licence_id"], "sz-dev-use-1.0");

    let served = fetch(member).await.unwrap();
    assert_eq!(served.status(), 200);
    assert!(header(&served, "x-pdx-ledger-seq").is_some());
    let body = served.text().await.unwrap();
    assert!(body.starts_with("station_id,"), "{body:.80}");
}

/// Requests in every state, grants active, suspended and expired (with the ledger saying when
/// each thing happened), an offer on every dataset obtained through requests, and an
/// enterprise awaiting verification.
#[tokio::test]
async fn the_demo_has_requests_grants_and_offers_in_every_state() {
    let server = TestServer::spawn_demo().await;
    let accounts: Vec<&str> = server
        .demo_accounts
        .iter()
        .map(|a| a.email.as_str())
        .collect();
    for email in [
        "platform-admin@demo.pdx",
        "admin@sz-data-bureau.demo.pdx",
        "admin@futian-smart-logistics.demo.pdx",
    ] {
        assert!(accounts.contains(&email), "{email} is printed");
    }

    let mut statuses = BTreeSet::new();
    for member in [
        "member@pengcheng-mobility.demo.pdx",
        "member@qianhai-analytics.demo.pdx",
    ] {
        let token = server.access_token(member).await;
        let requests = get_as(&server, &token, "/api/v1/access-requests").await;
        statuses.extend(texts(&requests, "status").into_iter().map(str::to_owned));
    }
    assert_eq!(
        statuses,
        BTreeSet::from(["approved", "rejected", "submitted", "withdrawn"].map(str::to_owned))
    );
    let bureau = server.access_token("admin@sz-data-bureau.demo.pdx").await;
    let queue = get_as(&server, &bureau, "/api/v1/access-requests?queue=true").await;
    assert!(texts(&queue, "status").contains("submitted"), "{queue}");

    let auditor = server.access_token("auditor@demo.pdx").await;
    let grants = get_as(&server, &auditor, "/api/v1/grants").await;
    let grant_statuses = texts(&grants, "status");
    for status in ["active", "suspended", "expired"] {
        assert!(grant_statuses.contains(status), "{grant_statuses:?}");
    }
    let now = chrono::Utc::now();
    for grant in grants.as_array().unwrap() {
        let valid_until: chrono::DateTime<chrono::Utc> =
            grant["valid_until"].as_str().unwrap().parse().unwrap();
        let valid_from: chrono::DateTime<chrono::Utc> =
            grant["valid_from"].as_str().unwrap().parse().unwrap();
        assert!(valid_from < now, "every grant began in the past");
        match grant["status"].as_str().unwrap() {
            "expired" => assert!(valid_until < now),
            "suspended" => assert!(grant["status_reason"].as_str().is_some()),
            _ => assert!(valid_until > now),
        }
        let used = grant["usage"]["requests"].as_i64().unwrap();
        if let Some(quota) = grant["max_requests"].as_i64() {
            assert!(used <= quota, "{grant}");
        }
    }
    assert!(
        grants.as_array().unwrap().iter().any(|g| {
            g["status"] == "active" && g["usage"]["requests"].as_i64() == g["max_requests"].as_i64()
        }),
        "one active grant has used its whole request quota"
    );
    // Each expiry and suspension is in the ledger, dated when it happened.
    for (kind, status) in [
        ("grant_expired", "expired"),
        ("grant_suspended", "suspended"),
    ] {
        let events = get_as(
            &server,
            &auditor,
            &format!("/api/v1/audit-events?kind={kind}"),
        )
        .await;
        assert_eq!(events["total"], 1, "{kind}");
        let event = &events["items"][0];
        let grant = grants
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["status"] == status)
            .unwrap();
        assert_eq!(event["subject"], grant["id"]);
        let at: chrono::DateTime<chrono::Utc> =
            event["occurred_at"].as_str().unwrap().parse().unwrap();
        assert!(at < now - chrono::Duration::days(7), "{kind} at {at}");
        if kind == "grant_expired" {
            let until: chrono::DateTime<chrono::Utc> =
                grant["valid_until"].as_str().unwrap().parse().unwrap();
            assert!(at >= until && at < until + chrono::Duration::minutes(1));
        }
    }

    // Every published dataset obtained through requests has an offer within the vocabulary,
    // under a licence whose policy is published.
    let all = json(server.get("/api/v1/datasets?per_page=100").await).await;
    let mut offered = 0;
    for dataset in all["items"].as_array().unwrap() {
        if dataset["opening_class"] != "conditional" && dataset["sharing_class"] != "conditional" {
            continue;
        }
        let slug = dataset["slug"].as_str().unwrap();
        let response = server.get(&format!("/api/v1/datasets/{slug}/offer")).await;
        assert_eq!(response.status(), 200, "{slug} has an offer");
        let offer = json(response).await;
        let purposes: Vec<&str> = offer["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(!purposes.is_empty(), "{slug}");
        assert!(
            purposes.iter().all(|p| PURPOSES.contains(p)),
            "{purposes:?}"
        );
        assert!(offer["max_term_days"].as_i64().unwrap() >= 30);
        assert!(
            offer["max_requests"].as_i64().is_some(),
            "{slug} has a quota"
        );
        let licence = offer["licence_id"].as_str().unwrap();
        let policy = json(
            server
                .get(&format!("/api/v1/licences/{licence}/policy"))
                .await,
        )
        .await;
        assert!(policy["permission"].as_array().is_some(), "{policy}");
        offered += 1;
    }
    assert!(offered >= 16, "{offered} datasets with offers");

    let platform = server.access_token("platform-admin@demo.pdx").await;
    let pending = get_as(
        &server,
        &platform,
        "/api/v1/organizations?verified=false&per_page=100",
    )
    .await;
    let slugs = texts(&pending["items"], "slug");
    assert_eq!(
        slugs,
        BTreeSet::from(["futian-smart-logistics"]),
        "{pending}"
    );
    let applicant = server
        .access_token("admin@futian-smart-logistics.demo.pdx")
        .await;
    let me = get_as(&server, &applicant, "/api/v1/me").await;
    assert!(me.to_string().contains("futian-smart-logistics"), "{me}");
}

/// Three months of data requests, permitted and denied, dated in story order before the load's
/// `demo_loaded` entry; the export verifies offline and its recount equals every grant's usage.
#[tokio::test]
async fn ninety_days_of_circulation_verify_and_recount_to_grant_usage() {
    let server = TestServer::spawn_demo().await;
    let auditor = server.access_token("auditor@demo.pdx").await;
    let count = |filter: &'static str| {
        let (server, auditor) = (&server, &auditor);
        async move {
            let page = get_as(
                server,
                auditor,
                &format!("/api/v1/ledger/entries?kind=data_access{filter}&per_page=1"),
            )
            .await;
            page["total"].as_u64().unwrap()
        }
    };
    let (all, permits, denials) = (
        count("").await,
        count("&decision=permit").await,
        count("&decision=deny").await,
    );
    assert!(all >= 2_000, "{all} data requests");
    assert_eq!(permits + denials, all);
    assert!(denials >= 100 && permits >= 1_500, "{permits} / {denials}");

    // The export: wait for a checkpoint covering everything so far, then verify it offline.
    let mut signed = None;
    for _ in 0..200 {
        let response = server.get("/api/v1/ledger/checkpoint").await;
        if response.status() == 200 {
            let size: u64 = header(&response, "x-pdx-tree-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if size >= all {
                signed = Some((response.text().await.unwrap(), size));
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let (note, size) = signed.expect("a checkpoint covering the demo is signed");
    let export = server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/export?to={size}"),
            Some(&auditor),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    let key = server.get("/api/v1/ledger/key").await.text().await.unwrap();
    let report = match pdx_circulation::verify::verify_export(export.as_bytes(), &note, &key) {
        Ok(report) => report,
        Err(error) => panic!("the demo's ledger does not verify: {error}"),
    };
    assert_eq!(report.entries, size);

    // Story order: after the load's demo_loaded entry, the history's entries are dated before
    // it and never go back in time; what the server records later is dated after it.
    let entries: Vec<pdx_circulation::Entry> = export
        .lines()
        .map(|line| pdx_circulation::Entry::decode(line.as_bytes()).unwrap())
        .collect();
    let marker = entries
        .iter()
        .position(|e| e.kind == "demo_loaded")
        .expect("the load says what it wrote");
    let loaded_at = entries[marker].time.clone();
    let history: Vec<&pdx_circulation::Entry> = entries[marker + 1..]
        .iter()
        .take_while(|e| e.time < loaded_at)
        .collect();
    assert!(history.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(
        entries[marker + 1 + history.len()..]
            .iter()
            .all(|e| e.time >= loaded_at)
    );
    let data: Vec<&&pdx_circulation::Entry> =
        history.iter().filter(|e| e.kind == "data_access").collect();
    assert_eq!(data.len() as u64, all, "every data request is history");
    let first: chrono::DateTime<chrono::Utc> = data[0].time.parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = data[data.len() - 1].time.parse().unwrap();
    assert!(
        last - first >= chrono::Duration::days(80),
        "{first} .. {last}"
    );
    let days: BTreeSet<&str> = data.iter().map(|e| &e.time[..10]).collect();
    assert!(days.len() >= 80, "{} days with requests", days.len());
    let reasons: BTreeSet<&str> = data
        .iter()
        .filter(|e| e.decision == "deny")
        .map(|e| e.reason.as_str())
        .collect();
    for reason in [
        "no_grant",
        "quota_exhausted",
        "grant_expired",
        "grant_suspended",
        "authentication_required",
        "purpose_not_allowed",
        "purpose_required",
    ] {
        assert!(reasons.contains(reason), "{reason} in {reasons:?}");
    }
    let bases: BTreeSet<&str> = data
        .iter()
        .filter(|e| e.decision == "permit")
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(bases, BTreeSet::from(["grant", "open", "owner"]));
    assert!(
        data.iter()
            .any(|e| e.reason == "grant" && e.bytes > 0 && e.fee > 0),
        "grant downloads carry bytes and fees"
    );

    // The usage kept with the grants is the recount of the entries.
    let grants = get_as(&server, &auditor, "/api/v1/grants").await;
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    let mut used = 0;
    for grant in grants.as_array().unwrap() {
        let id = grant["id"].as_str().unwrap();
        let recount = report.grants.get(id).copied().unwrap_or_default();
        assert_eq!(grant["usage"]["requests"].as_u64(), Some(recount.requests));
        assert_eq!(grant["usage"]["bytes"].as_u64(), Some(recount.bytes));
        let kept = pdx_circulation::store::grant_usage(&mut conn, id).unwrap();
        assert_eq!(kept.fee, recount.fee, "{id}");
        used += u64::from(recount.requests > 0);
    }
    assert!(used >= 8, "{used} grants used");
}
