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
    server.publish_dataset(publisher, reviewer, body, CSV).await
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

/// Downloads the conditional distribution under the enterprise's grant from `base`; returns
/// the status and the problem code, if any.
async fn download_from(s: &Setup, base: &str) -> (u16, String) {
    let response = s
        .server
        .client
        .get(format!(
            "{base}/api/v1/distributions/{}/data",
            s.conditional
        ))
        .bearer_auth(&s.enterprise)
        .header("x-pdx-purpose", "research")
        .send()
        .await;
    let Ok(response) = response else {
        panic!("download from {base} failed")
    };
    let status = response.status().as_u16();
    let code = if status == 200 {
        String::new()
    } else {
        json(response).await["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (status, code)
}

#[tokio::test]
async fn two_servers_on_one_database_share_a_quota_exactly() {
    let s = setup(4).await;
    grant(&s).await;
    let other = s.server.sibling().await;
    let (a, b) = (s.server.base_url.clone(), other.base_url.clone());
    // Both decide under the grant, so both hold its facts and usage from batch to batch; each
    // must see the other's requests counted.
    for (base, served) in [(&a, 1), (&b, 2), (&a, 3), (&b, 4)] {
        assert_eq!(
            download_from(&s, base).await,
            (200, String::new()),
            "request {served} is within the quota"
        );
    }
    for base in [&a, &b, &a] {
        assert_eq!(
            download_from(&s, base).await,
            (429, "quota_exhausted".to_owned()),
            "the quota of 4 is used up, whichever server is asked"
        );
    }
}

#[tokio::test]
async fn a_grant_revoked_through_one_server_denies_the_next_request_on_another() {
    let s = setup(100).await;
    let grant_id = grant(&s).await;
    let other = s.server.sibling().await;
    let (a, b) = (s.server.base_url.clone(), other.base_url.clone());
    for base in [&a, &b] {
        assert_eq!(download_from(&s, base).await.0, 200);
    }
    let revoke = s
        .server
        .call(
            Method::POST,
            &format!("/api/v1/grants/{grant_id}/revoke"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 200);
    for base in [&b, &a] {
        assert_eq!(
            download_from(&s, base).await,
            (403, "grant_revoked".to_owned())
        );
    }
}

#[tokio::test]
async fn quota_holds_exactly_under_parallel_clients() {
    let s = setup(5).await;
    let grant_id = grant(&s).await;
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

    // An auditor's offline recount from the export matches: 5 permits, 11 quota denials.
    let auditor = auditor(&s).await;
    let (note, size) = checkpoint_covering(&s, before + 16).await;
    let export = export_to(&s, &auditor, size)
        .await
        .text()
        .await
        .unwrap_or_default();
    let key = get_text(&s, "/api/v1/ledger/key").await;
    let report = pdx_circulation::verify::verify_export(export.as_bytes(), &note, &key);
    let Ok(report) = report else {
        panic!("the export does not verify: {report:?}")
    };
    let recount = report.grants.get(&grant_id).copied().unwrap_or_default();
    assert_eq!((recount.requests, recount.denied), (5, 11));
    assert_eq!(recount.bytes, 5 * CSV.len() as u64);
    assert_eq!(recount.fee, 5 * (5 + 100));
}

async fn get_text(s: &Setup, path: &str) -> String {
    match s.server.get(path).await.text().await {
        Ok(text) => text,
        Err(error) => panic!("{path}: {error}"),
    }
}

/// Waits for a signed checkpoint covering at least `size` entries; returns its note and size.
async fn checkpoint_covering(s: &Setup, size: u64) -> (String, u64) {
    for _ in 0..200 {
        let response = s.server.get("/api/v1/ledger/checkpoint").await;
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

fn hashes(proof: &Value) -> Vec<pdx_circulation::Hash> {
    use base64::Engine;
    proof["hashes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap_or_default())
                .unwrap_or_default();
            bytes.try_into().unwrap_or([0; 32])
        })
        .collect()
}

/// The ledger export of entries [0, `size`), as `token` reads it.
async fn export_to(s: &Setup, token: &str, size: u64) -> reqwest::Response {
    s.server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/export?to={size}"),
            Some(token),
            None,
        )
        .await
}

async fn auditor(s: &Setup) -> String {
    s.server
        .create_user("platform", "auditor@pdx.test", &[Role::Auditor])
        .await;
    s.server.access_token("auditor@pdx.test").await
}

#[tokio::test]
async fn a_receipt_is_proven_included_in_a_later_signed_checkpoint() {
    let s = setup(10).await;
    grant(&s).await;
    let served = download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await;
    assert_eq!(served.status(), 200);
    let seq = receipt(&served);

    let key = get_text(&s, "/api/v1/ledger/key").await;
    let verifier = match pdx_circulation::NoteVerifier::parse(key.trim()) {
        Ok(v) => v,
        Err(e) => panic!("the published key does not parse: {e}"),
    };
    let (note, size) = checkpoint_covering(&s, seq + 1).await;
    let checkpoint = match verifier.verify(&note) {
        Ok(c) => c,
        Err(e) => panic!("the checkpoint does not verify: {e}\n{note}"),
    };
    assert_eq!(checkpoint.size, size);
    assert!(checkpoint.origin.ends_with("/ledger"));

    // The consumer reads its own entry and recomputes the leaf from its canonical bytes.
    let entry = s
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/entries/{seq}"),
            Some(&s.enterprise),
            None,
        )
        .await;
    assert_eq!(entry.status(), 200);
    let entry: pdx_circulation::Entry = match serde_json::from_value(json(entry).await) {
        Ok(entry) => entry,
        Err(e) => panic!("the entry is not a ledger entry: {e}"),
    };
    assert_eq!((entry.seq, entry.decision.as_str()), (seq, "permit"));
    let proof = json(
        s.server
            .get(&format!(
                "/api/v1/ledger/proof/inclusion?seq={seq}&tree_size={size}"
            ))
            .await,
    )
    .await;
    assert_eq!(proof["leaf_index"], seq);
    assert_eq!(proof["tree_size"], size);
    let path = hashes(&proof);
    assert_eq!(
        pdx_circulation::merkle::verify_inclusion(
            &entry.leaf(),
            seq,
            size,
            &path,
            &checkpoint.root
        ),
        Ok(()),
        "the receipt's entry is in the signed tree"
    );
    let mut forged = entry.clone();
    forged.bytes += 1;
    assert!(
        pdx_circulation::merkle::verify_inclusion(
            &forged.leaf(),
            seq,
            size,
            &path,
            &checkpoint.root
        )
        .is_err(),
        "an altered entry is not"
    );

    // A later checkpoint extends this one, provably.
    download(&s, &s.open, None, None).await;
    let (later_note, later) = checkpoint_covering(&s, size + 1).await;
    let Ok(later_checkpoint) = verifier.verify(&later_note) else {
        panic!("the later checkpoint does not verify")
    };
    let consistency = json(
        s.server
            .get(&format!(
                "/api/v1/ledger/proof/consistency?from={size}&to={later}"
            ))
            .await,
    )
    .await;
    assert_eq!(
        pdx_circulation::merkle::verify_consistency(
            size,
            later,
            &hashes(&consistency),
            &checkpoint.root,
            &later_checkpoint.root
        ),
        Ok(())
    );
    let kept = s
        .server
        .get(&format!("/api/v1/ledger/checkpoint?size={size}"))
        .await;
    assert_eq!(
        kept.text().await.unwrap_or_default(),
        note,
        "checkpoints are kept"
    );
    let beyond = s
        .server
        .get(&format!(
            "/api/v1/ledger/proof/inclusion?seq=0&tree_size={}",
            later + 1000
        ))
        .await;
    assert_eq!(beyond.status(), 422);
}

#[tokio::test]
async fn readers_see_their_scope_and_the_export_is_the_tree() {
    let s = setup(10).await;
    let grant_id = grant(&s).await;
    let seq = receipt(&download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await);
    let anonymous = receipt(&download(&s, &s.open, None, None).await);
    let auditor = auditor(&s).await;

    let list = |token: String, query: &'static str| {
        let server = &s.server;
        async move {
            json(
                server
                    .call(
                        Method::GET,
                        &format!("/api/v1/ledger/entries?{query}"),
                        Some(&token),
                        None,
                    )
                    .await,
            )
            .await
        }
    };
    let mine = list(s.enterprise.clone(), "kind=data_access&per_page=100").await;
    let seqs: Vec<u64> = mine["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(seqs.contains(&seq), "the enterprise sees its download");
    assert!(!seqs.contains(&anonymous), "but not others'");
    let theirs = s
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/entries/{anonymous}"),
            Some(&s.enterprise),
            None,
        )
        .await;
    assert_eq!(theirs.status(), 404);
    let on_agency = list(
        s.admin.clone(),
        "kind=data_access&decision=permit&per_page=100",
    )
    .await;
    let agency_seqs: Vec<u64> = on_agency["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(
        agency_seqs.contains(&seq) && agency_seqs.contains(&anonymous),
        "the agency sees requests for its datasets: {agency_seqs:?}"
    );
    let grant_events = list(auditor.clone(), "kind=grant_issued").await;
    assert_eq!(grant_events["items"][0]["grant"], grant_id.as_str());
    assert!(
        list(auditor.clone(), "kind=sign_in").await["total"].as_i64() >= Some(3),
        "sign-ins are in the ledger"
    );
    assert!(
        list(auditor.clone(), "kind=ledger_read").await["total"].as_i64() >= Some(4),
        "and so is every read of it"
    );

    let refused = s
        .server
        .call(
            Method::GET,
            "/api/v1/ledger/export",
            Some(&s.enterprise),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
    let (note, size) = checkpoint_covering(&s, anonymous + 1).await;
    let export = export_to(&s, &auditor, size).await;
    assert_eq!(export.status(), 200);
    assert_eq!(
        header(&export, "content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let text = export.text().await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, size);
    let leaves: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let Ok(entry) = pdx_circulation::Entry::decode(line.as_bytes()) else {
                panic!("line {i} is not an entry")
            };
            assert_eq!(entry.seq, i as u64);
            assert_eq!(entry.canonical(), line.as_bytes(), "line {i} is canonical");
            pdx_circulation::merkle::leaf_hash(line.as_bytes())
        })
        .collect();
    let key = get_text(&s, "/api/v1/ledger/key").await;
    let Ok(checkpoint) =
        pdx_circulation::NoteVerifier::parse(key.trim()).and_then(|v| v.verify(&note))
    else {
        panic!("checkpoint")
    };
    assert_eq!(pdx_circulation::merkle::root(&leaves), checkpoint.root);
}

async fn fetch(s: &Setup, distribution: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = s
        .server
        .client
        .get(
            s.server
                .url(&format!("/api/v1/distributions/{distribution}/data")),
        )
        .bearer_auth(&s.enterprise)
        .header("x-pdx-purpose", "research");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("download failed: {error}"),
    }
}

#[tokio::test]
async fn ranges_are_metered_by_the_bytes_served() {
    let s = setup(10).await;
    let grant_id = grant(&s).await;
    let part = fetch(&s, &s.conditional, &[("range", "bytes=8-12")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        header(&part, "content-range").as_deref(),
        Some(format!("bytes 8-12/{}", CSV.len()).as_str())
    );
    let seq = receipt(&part);
    assert_eq!(part.text().await.unwrap_or_default(), &CSV[8..=12]);
    let entry = ledger_entry(&s.server, seq);
    assert_eq!(
        (entry.bytes, entry.grant.as_deref()),
        (5, Some(grant_id.as_str()))
    );

    let tail = fetch(&s, &s.conditional, &[("range", "bytes=-4")]).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(ledger_entry(&s.server, receipt(&tail)).bytes, 4);
    assert_eq!(tail.text().await.unwrap_or_default(), &CSV[CSV.len() - 4..]);

    let outside = fetch(&s, &s.conditional, &[("range", "bytes=9999-")]).await;
    assert_eq!(outside.status(), 416);
    assert_eq!(
        header(&outside, "content-range").as_deref(),
        Some(format!("bytes */{}", CSV.len()).as_str())
    );
    let refused = ledger_entry(&s.server, receipt(&outside));
    assert_eq!(
        (
            refused.decision.as_str(),
            refused.reason.as_str(),
            refused.bytes
        ),
        ("deny", "range_not_satisfiable", 0)
    );
    let usage = json(
        s.server
            .call(
                Method::GET,
                &format!("/api/v1/grants/{grant_id}"),
                Some(&s.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(usage["usage"]["requests"], 2);
    assert_eq!(usage["usage"]["bytes"], 9, "5 + 4 bytes actually served");
}

#[tokio::test]
async fn an_idempotent_retry_gets_the_first_receipt_and_is_counted_once() {
    let s = setup(2).await;
    let grant_id = grant(&s).await;
    let first = fetch(&s, &s.conditional, &[("idempotency-key", "job-42")]).await;
    assert_eq!(first.status(), 200);
    let seq = receipt(&first);
    let size = ledger_size(&s.server);
    let retry = fetch(&s, &s.conditional, &[("idempotency-key", "job-42")]).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(receipt(&retry), seq, "the same receipt");
    assert_eq!(
        retry.text().await.unwrap_or_default(),
        CSV,
        "and the same data"
    );
    assert_eq!(ledger_size(&s.server), size, "nothing new is logged");

    let other = fetch(&s, &s.conditional, &[("idempotency-key", "job-43")]).await;
    assert_eq!(other.status(), 200);
    assert_ne!(receipt(&other), seq);
    // The quota of 2 is used up; a retry of a counted request still gets its receipt.
    let retry_at_limit = fetch(&s, &s.conditional, &[("idempotency-key", "job-42")]).await;
    assert_eq!(retry_at_limit.status(), 200);
    assert_eq!(receipt(&retry_at_limit), seq);

    let exhausted = fetch(&s, &s.conditional, &[]).await;
    assert_eq!(exhausted.status(), 429);
    assert!(header(&exhausted, "retry-after").is_some());
    let problem = json(exhausted).await;
    assert_eq!(problem["code"], "quota_exhausted");
    assert_eq!(problem["quota"]["grant"], grant_id.as_str());
    assert_eq!(problem["quota"]["max_requests"], 2);
    assert_eq!(problem["quota"]["requests_used"], 2);
    let too_long = "k".repeat(300);
    let malformed = fetch(
        &s,
        &s.conditional,
        &[("idempotency-key", too_long.as_str())],
    )
    .await;
    assert_eq!(malformed.status(), 422);
}

#[tokio::test]
async fn nothing_is_served_when_the_ledger_cannot_be_written() {
    use diesel::connection::SimpleConnection;
    let s = setup(10).await;
    let before = ledger_size(&s.server);
    let Ok(mut conn) = s.server.database.database().conn() else {
        panic!("no connection")
    };
    let (sabotage, repair) = match &*conn {
        pdx_storage::DbConnection::Sqlite(_) => (
            "CREATE TRIGGER ledger_full BEFORE INSERT ON ledger_entries \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            "DROP TRIGGER ledger_full;",
        ),
        pdx_storage::DbConnection::Postgres(_) => (
            "CREATE FUNCTION ledger_full() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER ledger_full BEFORE INSERT ON ledger_entries \
             FOR EACH ROW EXECUTE FUNCTION ledger_full();",
            "DROP TRIGGER ledger_full ON ledger_entries; DROP FUNCTION ledger_full();",
        ),
    };
    if let Err(error) = conn.batch_execute(sabotage) {
        panic!("{error}")
    }
    let refused = download(&s, &s.open, None, None).await;
    assert_eq!(refused.status(), 503);
    assert!(header(&refused, "x-pdx-ledger-seq").is_none(), "no receipt");
    assert!(header(&refused, "retry-after").is_some());
    let body = refused.text().await.unwrap_or_default();
    assert!(!body.contains("station"), "no data leaves: {body}");
    assert!(!body.contains("disk full"), "no internal detail: {body}");
    assert_eq!(ledger_size(&s.server), before, "nothing half-written");

    if let Err(error) = conn.batch_execute(repair) {
        panic!("{error}")
    }
    let served = download(&s, &s.open, None, None).await;
    assert_eq!(served.status(), 200, "the appender recovers");
    assert_eq!(receipt(&served), before, "and the sequence has no gap");
}
