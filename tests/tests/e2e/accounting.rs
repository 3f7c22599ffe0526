//! Accounting end to end: mixed traffic across a month's end in the accounting time zone,
//! counted by the usage roll-ups and the statements, and recounted from an export by
//! `pdx ledger verify` — the same figures three ways; and who may read them.

use std::collections::BTreeMap;
use std::sync::Arc;

use pdx_core::{ManualClock, OrgKind, Role};
use pdx_tests::{TestServer, header, json};
use reqwest::Method;
use serde_json::{Value, json};

const CSV: &str = "station,level\nA,3.2\nB,2.9\n";
/// The offer's fee: 5 fen a request and 100 fen per started megabyte.
const FEE: u64 = 5 + 100;

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.to_utc(),
        Err(error) => panic!("{text}: {error}"),
    }
}

/// A platform in the last minutes of November in Shanghai (UTC+8): a water agency publishing
/// open and conditional data, a transport agency, two enterprises holding grants.
struct World {
    server: TestServer,
    clock: Arc<ManualClock>,
    water: String,
    transport: String,
    acme: String,
    beta: String,
    water_admin: String,
    transport_clerk: String,
    acme_dev: String,
    beta_dev: String,
    auditor: String,
    open: String,
    levels: String,
    acme_grant: String,
    beta_grant: String,
}

async fn publish(server: &TestServer, admin: &str, slug: &str, opening: &str) -> String {
    let body = json!({
        "slug": slug, "title": slug, "description": "Water levels", "update_frequency": "hourly",
        "languages": ["zh"], "sharing_class": "conditional", "opening_class": opening,
        "grade": "general",
        "licence": if opening == "open" { Value::from("CC-BY-4.0") } else { Value::Null },
    });
    server.publish_dataset(admin, admin, body, CSV).await
}

async fn grant(server: &TestServer, consumer: &str, admin: &str) -> String {
    server.grant(consumer, admin, "levels", Value::Null).await
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(at("2026-11-30T15:50:00Z")));
    let server = TestServer::spawn_at(clock.clone(), |_| {}).await;
    let water = server
        .create_org("water", OrgKind::Agency)
        .await
        .id
        .to_string();
    let transport = server
        .create_org("transport", OrgKind::Agency)
        .await
        .id
        .to_string();
    let acme = server
        .create_org("acme", OrgKind::Enterprise)
        .await
        .id
        .to_string();
    let beta = server
        .create_org("beta", OrgKind::Enterprise)
        .await
        .id
        .to_string();
    let staff = [
        (
            "water",
            "admin@water.test",
            vec![Role::Admin, Role::Publisher, Role::Reviewer],
        ),
        ("transport", "clerk@transport.test", vec![Role::Member]),
        ("acme", "dev@acme.test", vec![Role::Member]),
        ("beta", "dev@beta.test", vec![Role::Member]),
        ("platform", "auditor@pdx.test", vec![Role::Auditor]),
    ];
    for (org, email, roles) in &staff {
        server.create_user(org, email, roles).await;
    }
    let water_admin = server.access_token("admin@water.test").await;
    let open = publish(&server, &water_admin, "open-levels", "open").await;
    let levels = publish(&server, &water_admin, "levels", "conditional").await;
    let offer = server
        .call(
            Method::PUT,
            "/api/v1/datasets/levels/offer",
            Some(&water_admin),
            Some(json!({
                "licence_id": "CC-BY-4.0", "purposes": ["research"], "max_term_days": 30,
                "max_requests": 3, "fee_per_request": 5, "fee_per_mb": 100
            })),
        )
        .await;
    assert_eq!(offer.status(), 200);
    let acme_dev = server.access_token("dev@acme.test").await;
    let beta_dev = server.access_token("dev@beta.test").await;
    let acme_grant = grant(&server, &acme_dev, &water_admin).await;
    let beta_grant = grant(&server, &beta_dev, &water_admin).await;
    World {
        transport_clerk: server.access_token("clerk@transport.test").await,
        auditor: server.access_token("auditor@pdx.test").await,
        server,
        clock,
        water,
        transport,
        acme,
        beta,
        water_admin,
        acme_dev,
        beta_dev,
        open,
        levels,
        acme_grant,
        beta_grant,
    }
}

/// A data request; returns its status.
async fn download(
    w: &World,
    distribution: &str,
    token: Option<&str>,
    idempotency_key: Option<&str>,
) -> u16 {
    let mut request = w.server.client.get(
        w.server
            .url(&format!("/api/v1/distributions/{distribution}/data")),
    );
    if let Some(token) = token {
        request = request
            .bearer_auth(token)
            .header("x-pdx-purpose", "research");
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    match request.send().await {
        Ok(response) => {
            assert!(header(&response, "x-pdx-ledger-seq").is_some());
            response.status().as_u16()
        }
        Err(error) => panic!("download failed: {error}"),
    }
}

/// November's last minutes and December's first in Shanghai: open downloads, an agency's
/// open download and its refused one, grants used up to their quota, a refusal past it, an
/// idempotent retry.
async fn traffic(w: &World) {
    assert_eq!(download(w, &w.open, None, None).await, 200);
    assert_eq!(download(w, &w.open, None, None).await, 200);
    assert_eq!(
        download(w, &w.open, Some(&w.transport_clerk), None).await,
        200
    );
    assert_eq!(
        download(w, &w.levels, Some(&w.transport_clerk), None).await,
        403
    );
    assert_eq!(download(w, &w.levels, Some(&w.acme_dev), None).await, 200);
    assert_eq!(download(w, &w.levels, Some(&w.acme_dev), None).await, 200);
    // One second before midnight in Shanghai, then midnight.
    w.clock.set(at("2026-11-30T15:59:59Z"));
    assert_eq!(download(w, &w.levels, Some(&w.acme_dev), None).await, 200);
    w.clock.set(at("2026-11-30T16:00:00Z"));
    assert_eq!(download(w, &w.levels, Some(&w.acme_dev), None).await, 429);
    assert_eq!(
        download(w, &w.levels, Some(&w.beta_dev), Some("job-1")).await,
        200
    );
    assert_eq!(
        download(w, &w.levels, Some(&w.beta_dev), Some("job-1")).await,
        200
    );
    assert_eq!(download(w, &w.open, None, None).await, 200);
}

async fn get(w: &World, token: &str, path: &str) -> Value {
    let response = w.server.call(Method::GET, path, Some(token), None).await;
    let status = response.status();
    let body = json(response).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn figures(requests: u64, denied: u64, replays: u64, bytes: u64, fee: u64) -> Value {
    json!({
        "requests": requests, "denied": denied, "replays": replays, "bytes": bytes,
        "rows": 0, "fee": fee,
    })
}

/// Waits for a signed checkpoint covering the whole ledger; returns its note and size.
async fn checkpoint(w: &World) -> (String, u64) {
    let size = {
        let Ok(mut conn) = w.server.database.database().conn() else {
            panic!("no connection")
        };
        pdx_circulation::store::size(&mut conn).unwrap_or(u64::MAX)
    };
    for _ in 0..400 {
        let response = w.server.get("/api/v1/ledger/checkpoint").await;
        if response.status() == 200 {
            let signed: u64 = header(&response, "x-pdx-tree-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let note = response.text().await.unwrap_or_default();
            if signed >= size {
                return (note, signed);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no checkpoint covering {size} entries was signed")
}

/// `pdx ledger verify --json` over an export of the checkpoint's entries, in a time zone.
async fn recount(w: &World, zone: &str) -> Value {
    let (note, size) = checkpoint(w).await;
    let export = w
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/export?to={size}"),
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(export.status(), 200);
    let lines = export.bytes().await.unwrap_or_default();
    let key = w
        .server
        .get("/api/v1/ledger/key")
        .await
        .text()
        .await
        .unwrap_or_default();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let file = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        if let Err(error) = std::fs::write(&path, contents) {
            panic!("{error}");
        }
        path.display().to_string()
    };
    let (export, checkpoint, key) = (
        file("ledger.ndjson", &lines),
        file("checkpoint.txt", note.as_bytes()),
        file("ledger.pub", key.as_bytes()),
    );
    use clap::Parser;
    let args = pdx_server::ledger_cli::LedgerArgs::try_parse_from([
        "pdx ledger",
        "verify",
        "--export",
        &export,
        "--checkpoint",
        &checkpoint,
        "--key",
        &key,
        "--time-zone",
        zone,
        "--json",
    ]);
    let Ok(args) = args else {
        panic!("{args:?}");
    };
    match pdx_server::ledger_cli::execute(args.command) {
        Ok(output) => serde_json::from_str(&output).unwrap_or_default(),
        Err(error) => panic!("pdx ledger verify failed: {error}"),
    }
}

/// The usage API's rows by month and one party dimension, keyed by month and organisation.
async fn usage_by(w: &World, dimension: &str, query: &str) -> BTreeMap<(String, String), Value> {
    let usage = get(
        w,
        &w.auditor,
        &format!("/api/v1/accounting/usage?{query}&period=month&group_by={dimension}"),
    )
    .await;
    usage["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| {
            let org = row["key"][dimension].as_str()?.to_owned();
            Some((
                (row["period"].as_str()?.to_owned(), org),
                row["figures"].clone(),
            ))
        })
        .collect()
}

/// The recount's figures of one side, keyed like [`usage_by`].
fn recounted(report: &Value, side: &str) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    for (month, orgs) in report["months"].as_object().into_iter().flatten() {
        for (org, party) in orgs.as_object().into_iter().flatten() {
            let figures = &party[side];
            if figures
                .as_object()
                .is_some_and(|f| f.values().any(|v| v != 0))
            {
                found.insert((month.clone(), org.clone()), figures.clone());
            }
        }
    }
    found
}

#[tokio::test]
async fn usage_statements_and_an_offline_recount_agree_across_a_month_boundary() {
    let w = world().await;
    traffic(&w).await;
    let report = recount(&w, "Asia/Shanghai").await;
    assert_eq!(report["time_zone"], "Asia/Shanghai");

    // The figures, counted by hand: in November three permitted requests of acme's (fee
    // each), then acme's quota is used up; in December beta's request and its retry.
    let (nov, dec) = ("2026-11".to_owned(), "2026-12".to_owned());
    let consumers = recounted(&report, "consumer");
    let size = CSV.len() as u64;
    let expected_consumers = BTreeMap::from([
        (
            (nov.clone(), w.acme.clone()),
            figures(3, 0, 0, 3 * size, 3 * FEE),
        ),
        (
            (nov.clone(), w.transport.clone()),
            figures(1, 1, 0, size, 0),
        ),
        ((dec.clone(), w.acme.clone()), figures(0, 1, 0, 0, 0)),
        ((dec.clone(), w.beta.clone()), figures(1, 0, 1, size, FEE)),
    ]);
    assert_eq!(consumers, expected_consumers);
    let providers = recounted(&report, "provider");
    let expected_providers = BTreeMap::from([
        (
            (nov.clone(), w.water.clone()),
            figures(6, 1, 0, 6 * size, 3 * FEE),
        ),
        (
            (dec.clone(), w.water.clone()),
            figures(2, 1, 1, 2 * size, FEE),
        ),
    ]);
    assert_eq!(providers, expected_providers);

    // The usage API reports exactly the recount: by consumer (anonymous left out, as the
    // recount has no organisation for it) and by provider.
    let range = "from=2026-11&to=2026-12";
    let mut by_consumer = usage_by(&w, "consumer", range).await;
    by_consumer.retain(|(_, org), _| !org.is_empty());
    assert_eq!(by_consumer, expected_consumers);
    assert_eq!(usage_by(&w, "provider", range).await, expected_providers);

    // Statements: each side's total is the recount's figures, every line names its entries.
    for (org, month, side, expected) in [
        (
            &w.acme,
            "2026-11",
            "consumer",
            &expected_consumers[&(nov.clone(), w.acme.clone())],
        ),
        (
            &w.acme,
            "2026-12",
            "consumer",
            &expected_consumers[&(dec.clone(), w.acme.clone())],
        ),
        (
            &w.beta,
            "2026-12",
            "consumer",
            &expected_consumers[&(dec.clone(), w.beta.clone())],
        ),
        (
            &w.water,
            "2026-11",
            "provider",
            &expected_providers[&(nov.clone(), w.water.clone())],
        ),
        (
            &w.water,
            "2026-12",
            "provider",
            &expected_providers[&(dec.clone(), w.water.clone())],
        ),
    ] {
        let statement = get(
            &w,
            &w.auditor,
            &format!("/api/v1/accounting/statements/{org}/{month}"),
        )
        .await;
        assert_eq!(&statement[side]["total"], expected, "{org} {month} {side}");
        assert_eq!(statement[side]["pending_entries"], 0);
        assert_eq!(statement["time_zone"], "Asia/Shanghai");
        let lines = statement[side]["lines"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let entries: u64 = lines
            .iter()
            .flat_map(|l| l["seq_ranges"].as_array().cloned().unwrap_or_default())
            .map(|r| r[1].as_u64().unwrap_or(0) + 1 - r[0].as_u64().unwrap_or(0))
            .sum();
        let counted = ["requests", "denied", "replays"]
            .iter()
            .map(|k| expected[k].as_u64().unwrap_or(0))
            .sum::<u64>();
        assert_eq!(
            entries, counted,
            "{org} {month}: every entry counted is named"
        );
    }
    let november = get(
        &w,
        &w.auditor,
        &format!("/api/v1/accounting/statements/{}/2026-11", w.acme),
    )
    .await;
    assert_eq!(november["start"], "2026-11-01T00:00:00+08:00");
    assert_eq!(november["end"], "2026-12-01T00:00:00+08:00");
    let line = &november["consumer"]["lines"][0];
    assert_eq!(line["counterparty"], w.water.as_str());
    assert_eq!(line["grant"], w.acme_grant.as_str());
    assert_eq!(line["purpose"], "research");
    assert_eq!(line["dataset_title"], "levels");
    let seq = line["seq_ranges"][0][0].as_u64().unwrap_or(u64::MAX);
    let entry = get(&w, &w.auditor, &format!("/api/v1/ledger/entries/{seq}")).await;
    assert_eq!(entry["grant"], w.acme_grant.as_str());
    assert_eq!(entry["provider_org"], w.water.as_str());

    // Denials and replays never count towards quotas or fees.
    for (grant, requests) in [(&w.acme_grant, 3), (&w.beta_grant, 1)] {
        let found = get(&w, &w.water_admin, &format!("/api/v1/grants/{grant}")).await;
        assert_eq!(found["usage"]["requests"], requests, "{found}");
    }

    // By day: one second before Shanghai's midnight is November 30th, midnight December 1st;
    // the days add up to the months.
    let days = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11-30&to=2026-12-01&period=day",
    )
    .await;
    let rows = days["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{days}");
    assert_eq!(rows[0]["period"], "2026-11-30");
    assert_eq!(rows[0]["start"], "2026-11-30T00:00:00+08:00");
    assert_eq!(rows[0]["end"], "2026-12-01T00:00:00+08:00");
    assert_eq!(rows[1]["period"], "2026-12-01");
    let months = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11&to=2026-12",
    )
    .await;
    let month_rows = months["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(month_rows.len(), 2);
    for (day, month) in rows.iter().zip(&month_rows) {
        assert_eq!(day["figures"], month["figures"]);
    }
    assert_eq!(days["total"], months["total"]);
    assert_eq!(months["from"], "2026-11-01T00:00:00+08:00");
    assert_eq!(months["until"], "2027-01-01T00:00:00+08:00");
    // A grant's timeline: acme's, by day, as its holder sees it.
    let timeline = get(
        &w,
        &w.acme_dev,
        &format!(
            "/api/v1/accounting/usage?grant={}&period=day&from=2026-11-30&to=2026-12-01",
            w.acme_grant
        ),
    )
    .await;
    let days: Vec<(&str, &Value)> = timeline["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["period"].as_str()?, &r["figures"])))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-30", &figures(3, 0, 0, 3 * size, 3 * FEE)),
            ("2026-12-01", &figures(0, 1, 0, 0, 0)),
        ]
    );
    // Anonymous requests are in the totals: 3 open downloads besides the parties' 8.
    assert_eq!(months["total"]["requests"], 3 + 3 + 1 + 1);
}

#[tokio::test]
async fn a_time_zone_change_takes_a_rebuild_after_which_every_count_agrees_again() {
    let w = world().await;
    traffic(&w).await;
    let before = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11&to=2026-12&group_by=consumer",
    )
    .await;
    // What `pdx accounting rebuild --time-zone UTC` does, on the server's database.
    let ledger = pdx_server::app::open_ledger(
        &w.server.config,
        w.server.database.database().clone(),
        &w.server.vault(),
        &w.server.base_url,
        Arc::new(pdx_core::SystemClock),
    );
    let Ok(ledger) = ledger else {
        panic!("cannot open the ledger");
    };
    let utc = pdx_circulation::accounting::Calendar::new("UTC").unwrap_or_default();
    let rebuilt = ledger.rebuild_accounting(utc, |_| {}).await;
    let Ok(rebuilt) = rebuilt else {
        panic!("{rebuilt:?}");
    };
    assert_eq!(rebuilt.requests, 11);

    // In UTC every request was on November 30th; the total is unchanged.
    let after = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11&to=2026-12&group_by=consumer",
    )
    .await;
    assert_eq!(after["time_zone"], "UTC");
    assert_eq!(after["from"], "2026-11-01T00:00:00Z");
    assert_eq!(after["total"], before["total"]);
    assert!(
        after["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["period"] == "2026-11")
    );
    let report = recount(&w, "UTC").await;
    let mut by_consumer = usage_by(&w, "consumer", "from=2026-11&to=2026-12").await;
    by_consumer.retain(|(_, org), _| !org.is_empty());
    assert_eq!(by_consumer, recounted(&report, "consumer"));
    assert_eq!(
        usage_by(&w, "provider", "from=2026-11&to=2026-12").await,
        recounted(&report, "provider")
    );

    // New requests are counted in the zone the roll-ups are now kept in: five past midnight
    // in Shanghai is still November 30th in UTC.
    w.clock.set(at("2026-11-30T16:05:00Z"));
    assert_eq!(download(&w, &w.open, None, None).await, 200);
    let days = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11-30&to=2026-12-01&period=day",
    )
    .await;
    let periods: Vec<&str> = days["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["period"].as_str())
        .collect();
    assert_eq!(periods, ["2026-11-30"]);
    assert_eq!(days["total"]["requests"], 3 + 3 + 1 + 1 + 1);

    // A rebuild in the same zone changes nothing.
    let again = ledger.rebuild_accounting(utc, |_| {}).await;
    assert!(again.is_ok());
    let same = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11-30&to=2026-12-01&period=day",
    )
    .await;
    assert_eq!(same["rows"], days["rows"]);
}

#[tokio::test]
async fn each_reader_sees_only_the_accounts_they_may() {
    let w = world().await;
    traffic(&w).await;
    checkpoint(&w).await;
    let path = |org: &str| format!("/api/v1/accounting/statements/{org}/2026-11");
    let status = |token: Option<String>, path: String| {
        let server = &w.server;
        async move {
            let response = server
                .call(Method::GET, &path, token.as_deref(), None)
                .await;
            let status = response.status().as_u16();
            (status, json(response).await)
        }
    };
    // Anonymous: nothing.
    let (code, body) = status(None, path("acme")).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("authentication_required"))
    );
    let (code, _) = status(
        None,
        "/api/v1/accounting/usage?from=2026-11&to=2026-11".into(),
    )
    .await;
    assert_eq!(code, 401);
    // A consumer reads its own statement, by slug or id, and no one else's.
    assert_eq!(status(Some(w.acme_dev.clone()), path("acme")).await.0, 200);
    assert_eq!(status(Some(w.acme_dev.clone()), path(&w.acme)).await.0, 200);
    let (code, body) = status(Some(w.acme_dev.clone()), path("beta")).await;
    assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(body["check"], "read_accounts");
    assert_eq!(status(Some(w.acme_dev.clone()), path("water")).await.0, 403);
    // A provider reads its own, not its consumers'.
    assert_eq!(
        status(Some(w.water_admin.clone()), path("water")).await.0,
        200
    );
    assert_eq!(
        status(Some(w.water_admin.clone()), path("acme")).await.0,
        403
    );
    assert_eq!(
        status(Some(w.transport_clerk.clone()), path("water"))
            .await
            .0,
        403
    );
    // Auditors and platform admins read everyone's.
    w.server
        .create_user("platform", "admin@pdx.test", &[Role::PlatformAdmin])
        .await;
    let platform_admin = w.server.access_token("admin@pdx.test").await;
    for token in [&w.auditor, &platform_admin] {
        for org in ["acme", "beta", "water", "transport"] {
            assert_eq!(status(Some(token.clone()), path(org)).await.0, 200, "{org}");
        }
    }
    // An unknown organisation, a malformed month.
    assert_eq!(status(Some(w.auditor.clone()), path("nobody")).await.0, 404);
    let (code, body) = status(
        Some(w.auditor.clone()),
        "/api/v1/accounting/statements/acme/2026-13".into(),
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("invalid_parameter"))
    );

    // Usage: a member sees only requests its organisation made or served, whatever it asks.
    let usage = |token: &str, query: &str| {
        let (token, path) = (
            token.to_owned(),
            format!("/api/v1/accounting/usage?from=2026-11&to=2026-12&{query}"),
        );
        let w = &w;
        async move { get(w, &token, &path).await }
    };
    let acme = usage(&w.acme_dev, "group_by=consumer,provider").await;
    let parties: Vec<(String, String)> = acme["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["key"]["consumer"].as_str().unwrap_or_default().to_owned(),
                r["key"]["provider"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(!parties.is_empty());
    assert!(parties.iter().all(|(c, _)| c == &w.acme), "{parties:?}");
    let spying = usage(&w.acme_dev, "consumer=beta").await;
    assert_eq!(spying["rows"], json!([]));
    let water = usage(&w.water_admin, "group_by=consumer").await;
    assert_eq!(
        water["total"]["requests"],
        3 + 3 + 1 + 1,
        "the provider sees all its requests"
    );
    let everyone = usage(&w.auditor, "group_by=consumer").await;
    assert_eq!(everyone["total"], water["total"]);

    // Each read is itself in the ledger.
    let reads = get(
        &w,
        &w.auditor,
        "/api/v1/ledger/entries?kind=ledger_read&per_page=100",
    )
    .await;
    let what: Vec<String> = reads["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["detail"]["read"].as_str().map(str::to_owned))
        .collect();
    assert!(what.iter().any(|r| r == "statement"), "{what:?}");
    assert!(what.iter().any(|r| r == "usage"), "{what:?}");
}

#[tokio::test]
async fn bad_usage_and_statement_parameters_are_refused_clearly() {
    let w = world().await;
    let long = format!("from=2026-11&to=2026-12&purpose={}", "x".repeat(300));
    for (query, field) in [
        ("from=2026-11-31&to=2026-12", "from"),
        ("from=2026-11&to=2026-10", "to"),
        ("from=yesterday&to=2026-12", "from"),
        ("from=2020-01-01&to=2026-12-31&period=day", "to"),
        ("from=2026-11&to=2026-12&group_by=colour", "group_by"),
        (long.as_str(), "purpose"),
    ] {
        let response = w
            .server
            .call(
                Method::GET,
                &format!("/api/v1/accounting/usage?{query}"),
                Some(&w.auditor),
                None,
            )
            .await;
        let status = response.status();
        let body = json(response).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{query}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let unknown = w
        .server
        .call(
            Method::GET,
            "/api/v1/accounting/usage?from=2026-11&to=2026-12&colour=red",
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(unknown.status(), 400);
    let missing = w
        .server
        .call(
            Method::GET,
            "/api/v1/accounting/usage",
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(missing.status(), 422);
    // Unknown slugs match nothing rather than failing.
    let none = get(
        &w,
        &w.auditor,
        "/api/v1/accounting/usage?from=2026-11&to=2026-12&consumer=nobody&dataset=nothing",
    )
    .await;
    assert_eq!(none["rows"], json!([]));
}

#[tokio::test]
async fn a_statement_is_csv_when_asked_for() {
    let w = world().await;
    traffic(&w).await;
    checkpoint(&w).await;
    let by_suffix = w
        .server
        .call(
            Method::GET,
            "/api/v1/accounting/statements/water/2026-11.csv",
            Some(&w.water_admin),
            None,
        )
        .await;
    assert_eq!(by_suffix.status(), 200);
    assert_eq!(
        header(&by_suffix, "content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        header(&by_suffix, "content-disposition")
            .is_some_and(|d| d.contains("statement-water-2026-11.csv"))
    );
    let text = by_suffix.text().await.unwrap_or_default();
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(
            |h| h.starts_with("organization,month,time_zone,checkpoint_size,side,line,")
        )
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let total = rows
        .iter()
        .find(|r| r[4] == "provider" && r[5] == "total")
        .cloned()
        .unwrap_or_default();
    // requests, denied, replays, bytes, rows, fee.
    let size = CSV.len() as u64;
    assert_eq!(
        total[12..18],
        [
            "6",
            "1",
            "0",
            &(6 * size).to_string(),
            "0",
            &(3 * FEE).to_string()
        ]
    );
    let by_accept = w
        .server
        .client
        .get(w.server.url("/api/v1/accounting/statements/water/2026-11"))
        .bearer_auth(&w.water_admin)
        .header("accept", "text/csv")
        .send()
        .await;
    let Ok(by_accept) = by_accept else {
        panic!("no answer");
    };
    assert_eq!(by_accept.status(), 200);
    // The same statement; a later checkpoint (the first read is itself an entry) may count it.
    let without_checkpoint = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| *i != 3)
                    .map(|(_, v)| v.to_owned())
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        without_checkpoint(&by_accept.text().await.unwrap_or_default()),
        without_checkpoint(&text)
    );
}

#[tokio::test]
async fn an_auditor_searches_the_ledger_by_any_fact_and_exports_the_result() {
    let w = world().await;
    traffic(&w).await;
    let search = |query: &str| {
        let path = format!("/api/v1/ledger/entries?per_page=100&{query}");
        let w = &w;
        async move { get(w, &w.auditor, &path).await }
    };
    let seqs = |page: &Value| -> Vec<u64> {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["seq"].as_u64())
            .collect()
    };
    // The refusal past acme's quota, by slug of the consumer and the denial's code.
    let quota = search("organization=acme&reason=quota_exhausted").await;
    assert_eq!(quota["total"], 1, "{quota}");
    assert_eq!(quota["items"][0]["decision"], "deny");
    // Every request under a grant; by purpose and provider; by time.
    let under_grant = search(&format!(
        "grant={}&kind=data_access&decision=permit",
        w.acme_grant
    ))
    .await;
    assert_eq!(under_grant["total"], 3);
    let for_water = search("provider=water&purpose=research&kind=data_access").await;
    assert_eq!(for_water["total"], 3 + 1 + 1 + 1 + 1, "{for_water}");
    let december = search("since=2026-11-30T16:00:00Z&kind=data_access").await;
    assert_eq!(
        december["total"], 3,
        "the refusal, beta's request and the open download"
    );
    let nobody = search("provider=nobody").await;
    assert_eq!(nobody["total"], 0);

    // The same search as CSV and as NDJSON holds every matching entry.
    let all = search("provider=water").await;
    let expected = seqs(&all);
    assert!(!expected.is_empty());
    let csv = w
        .server
        .call(
            Method::GET,
            "/api/v1/ledger/entries?provider=water&format=csv",
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(
        header(&csv, "content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let text = csv.text().await.unwrap_or_default();
    let mut rows = text.lines();
    assert!(
        rows.next()
            .is_some_and(|h| h.starts_with("seq,time,kind,decision,reason,"))
    );
    let csv_seqs: Vec<u64> = rows
        .filter_map(|r| r.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(csv_seqs, expected);
    let ndjson = w
        .server
        .client
        .get(w.server.url("/api/v1/ledger/entries?provider=water"))
        .bearer_auth(&w.auditor)
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    let Ok(ndjson) = ndjson else {
        panic!("no answer")
    };
    assert_eq!(ndjson.status(), 200);
    let lines = ndjson.text().await.unwrap_or_default();
    let decoded: Vec<u64> = lines
        .lines()
        .map(|l| match pdx_circulation::Entry::decode(l.as_bytes()) {
            Ok(entry) => {
                assert_eq!(
                    entry.canonical(),
                    l.as_bytes(),
                    "each line is the leaf data"
                );
                entry.seq
            }
            Err(error) => panic!("{error}: {l}"),
        })
        .collect();
    assert_eq!(decoded, expected);
    // An enterprise's export holds only its own entries.
    let own = w
        .server
        .call(
            Method::GET,
            "/api/v1/ledger/entries?format=ndjson",
            Some(&w.acme_dev),
            None,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(!own.is_empty());
    assert!(
        own.lines()
            .all(|l| l.contains(&format!("\"actor_org\":\"{}\"", w.acme)))
    );
    // Filter values are bounded.
    let long = w
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/entries?reason={}", "x".repeat(300)),
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(long.status(), 422);
}

#[tokio::test]
async fn the_live_ledger_reports_its_verification_with_a_checked_consistency_proof() {
    let w = world().await;
    assert_eq!(download(&w, &w.open, None, None).await, 200);
    let (_, first) = checkpoint(&w).await;
    traffic(&w).await;
    let (_, latest) = checkpoint(&w).await;
    assert!(latest > first);
    let status = json(w.server.get("/api/v1/ledger/status").await).await;
    assert_eq!(status["verified"], true, "{status}");
    assert_eq!(status["problems"], json!([]));
    let (old, new) = (&status["previous_checkpoint"], &status["latest_checkpoint"]);
    assert!(new["size"].as_u64() >= Some(latest));
    let proof = &status["consistency_proof"];
    assert_eq!(proof["from"], old["size"]);
    assert_eq!(proof["to"], new["size"]);
    // An auditor checks the proof again offline, as `pdx ledger prove consistency` does.
    let key = w
        .server
        .get("/api/v1/ledger/key")
        .await
        .text()
        .await
        .unwrap_or_default();
    let proof: pdx_circulation::verify::ConsistencyProof =
        match serde_json::from_value(proof.clone()) {
            Ok(proof) => proof,
            Err(error) => panic!("{error}: {proof}"),
        };
    let checked = pdx_circulation::verify::check_consistency(
        &proof,
        old["note"].as_str().unwrap_or_default(),
        new["note"].as_str().unwrap_or_default(),
        key.trim(),
    );
    assert!(checked.is_ok(), "{checked:?}");
}

#[tokio::test]
async fn the_anomaly_report_names_a_used_up_grant_with_its_entries_and_only_auditors_read_it() {
    let w = world().await;
    traffic(&w).await;
    let path = "/api/v1/audit/anomalies?from=2026-11-30&to=2026-12-01";
    let report = get(&w, &w.auditor, path).await;
    assert_eq!(report["time_zone"], "Asia/Shanghai");
    assert_eq!(report["from"], "2026-11-30T00:00:00+08:00");
    assert_eq!(report["thresholds"]["near_quota_percent"], 90);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let near: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "near_quota")
        .collect();
    assert_eq!(near.len(), 1, "{report}");
    assert_eq!(near[0]["grant"], w.acme_grant.as_str());
    assert_eq!(near[0]["organization"], w.acme.as_str());
    assert_eq!(near[0]["figures"]["percent"], 100);
    assert_eq!(near[0]["entries"], 3);
    // Its entries are the grant's permitted requests.
    for seq in near[0]["seqs"].as_array().into_iter().flatten() {
        let entry = get(&w, &w.auditor, &format!("/api/v1/ledger/entries/{seq}")).await;
        assert_eq!(entry["grant"], w.acme_grant.as_str());
        assert_eq!(entry["decision"], "permit");
    }
    // Nothing else in this traffic is anomalous.
    assert_eq!(findings.len(), 1, "{report}");

    let refused = w
        .server
        .call(Method::GET, path, Some(&w.acme_dev), None)
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["check"], "read_audit");
    let anonymous = w.server.call(Method::GET, path, None, None).await;
    assert_eq!(anonymous.status(), 401);
    let long = w
        .server
        .call(
            Method::GET,
            "/api/v1/audit/anomalies?from=2020-01&to=2026-12",
            Some(&w.auditor),
            None,
        )
        .await;
    assert_eq!(long.status(), 422);
}

#[tokio::test]
async fn an_agency_discloses_its_year_and_may_make_the_report_public() {
    let w = world().await;
    traffic(&w).await;
    let path = "/api/v1/organizations/water/disclosures/2026";
    let report = get(&w, &w.water_admin, path).await;
    assert_eq!(report["year"], 2026);
    assert_eq!(report["public"], false);
    assert_eq!(report["start"], "2026-01-01T00:00:00+08:00");
    assert_eq!(report["end"], "2027-01-01T00:00:00+08:00");
    // Two datasets published this year: one open, one conditional, both of general grade.
    let published = &report["datasets"]["published"];
    assert_eq!(published["total"], 2, "{report}");
    assert_eq!(published["by_opening"]["open"]["general"], 1);
    assert_eq!(published["by_opening"]["conditional"]["general"], 1);
    assert_eq!(published["by_sharing"]["conditional"]["general"], 2);
    assert_eq!(report["datasets"]["in_catalog"]["total"], 2);
    // Two requests received and approved at once; two grants issued.
    assert_eq!(report["requests"]["received"], 2);
    assert_eq!(report["requests"]["by_status"]["approved"], 2);
    assert_eq!(report["requests"]["median_decision_seconds"], 0);
    assert_eq!(report["requests"]["grants_issued"], 2);
    // The circulation of its data is the provider side of the year's usage.
    let size = CSV.len() as u64;
    assert_eq!(report["circulation"], figures(8, 2, 1, 8 * size, 4 * FEE));
    assert_eq!(
        report["circulation_by_month"]["2026-11"],
        figures(6, 1, 0, 6 * size, 3 * FEE)
    );

    // Who may read it while it is not public.
    let status = |token: Option<&str>, path: &str| {
        let (token, path) = (token.map(str::to_owned), path.to_owned());
        let server = &w.server;
        async move {
            server
                .call(Method::GET, &path, token.as_deref(), None)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(None, path).await, 401);
    assert_eq!(status(Some(&w.transport_clerk), path).await, 403);
    assert_eq!(status(Some(&w.acme_dev), path).await, 403);
    assert_eq!(status(Some(&w.auditor), path).await, 200);
    assert_eq!(
        status(
            Some(&w.auditor),
            "/api/v1/organizations/acme/disclosures/2026"
        )
        .await,
        404
    );
    assert_eq!(
        status(
            Some(&w.auditor),
            "/api/v1/organizations/water/disclosures/1999"
        )
        .await,
        422
    );

    // Only the agency's admin makes it public; then anyone reads it, and it is listed.
    let publish = |token: &str| {
        let token = token.to_owned();
        let server = &w.server;
        async move {
            server
                .call(
                    Method::PUT,
                    "/api/v1/organizations/water/disclosures/2026/publication",
                    Some(&token),
                    Some(json!({ "public": true })),
                )
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(publish(&w.acme_dev).await, 403);
    assert_eq!(publish(&w.transport_clerk).await, 403);
    assert_eq!(publish(&w.water_admin).await, 200);
    let public = json(w.server.get(path).await).await;
    assert_eq!(public["public"], true);
    assert_eq!(public["circulation"], report["circulation"]);
    let listed = json(w.server.get("/api/v1/disclosures").await).await;
    assert_eq!(listed[0]["organization_slug"], "water");
    assert_eq!(listed[0]["year"], 2026);
    assert_eq!(
        json(
            w.server
                .get("/api/v1/organizations/water/disclosures/2025")
                .await
        )
        .await["code"],
        "authentication_required"
    );
    let csv = w
        .server
        .get("/api/v1/organizations/water/disclosures/2026.csv")
        .await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap_or_default();
    assert!(
        text.starts_with("organization,year,section,item,value\n"),
        "{text}"
    );
    assert!(text.contains("water,2026,requests,received,2\n"), "{text}");
    assert!(
        text.contains(&format!("water,2026,circulation,fee_fen,{}\n", 4 * FEE)),
        "{text}"
    );

    // Publishing and reading were recorded.
    let published = get(
        &w,
        &w.auditor,
        "/api/v1/ledger/entries?kind=disclosure_publication",
    )
    .await;
    assert_eq!(published["total"], 1);
    let reads = get(
        &w,
        &w.auditor,
        "/api/v1/ledger/entries?kind=ledger_read&per_page=100",
    )
    .await;
    let anonymous_reads = reads["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["detail"]["read"] == "disclosure" && e["actor_org"].is_null())
        .count();
    assert!(anonymous_reads >= 2, "{reads}");
}
