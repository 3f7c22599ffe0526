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
    setup_with(max_requests, |_| {}).await
}

async fn setup_with(
    max_requests: i64,
    adjust: impl FnOnce(&mut pdx_server::config::Config),
) -> Setup {
    let server = TestServer::spawn_with(adjust).await;
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
    let wrong_purpose = download(&s, &s.conditional, Some(&s.enterprise), Some("education")).await;
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
    let mut answer = json(entry).await;
    let canonical = answer
        .as_object_mut()
        .and_then(|fields| fields.remove("canonical"))
        .and_then(|c| c.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no canonical line"));
    let entry: pdx_circulation::Entry = match serde_json::from_value(answer) {
        Ok(entry) => entry,
        Err(e) => panic!("the entry is not a ledger entry: {e}"),
    };
    assert_eq!(
        canonical.as_bytes(),
        entry.canonical(),
        "the line is the entry's canonical bytes"
    );
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

async fn grant_usage(s: &Setup, grant_id: &str) -> Value {
    let path = format!("/api/v1/grants/{grant_id}");
    json(
        s.server
            .call(Method::GET, &path, Some(&s.enterprise), None)
            .await,
    )
    .await["usage"]
        .clone()
}

#[tokio::test]
async fn an_idempotent_retry_repeats_the_first_answer_exactly_and_counts_nothing() {
    let s = setup(3).await;
    let grant_id = grant(&s).await;
    let key = [("idempotency-key", "job-42"), ("range", "bytes=0-4")];
    let first = fetch(&s, &s.conditional, &key).await;
    assert_eq!(first.status(), 206);
    let seq = receipt(&first);
    assert!(header(&first, "x-pdx-replay-seq").is_none());
    assert_eq!(first.text().await.unwrap_or_default(), &CSV[..5]);

    let size = ledger_size(&s.server);
    let retry = fetch(&s, &s.conditional, &key).await;
    assert_eq!(retry.status(), 206, "the same answer");
    assert_eq!(receipt(&retry), seq, "with the same receipt");
    let replay_seq: u64 = header(&retry, "x-pdx-replay-seq")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the retry names its own entry"));
    assert_eq!(
        header(&retry, "content-range").as_deref(),
        Some(format!("bytes 0-4/{}", CSV.len()).as_str())
    );
    assert_eq!(
        retry.text().await.unwrap_or_default(),
        &CSV[..5],
        "the same bytes"
    );
    assert_eq!(ledger_size(&s.server), size + 1, "the retry is recorded");
    let replay = ledger_entry(&s.server, replay_seq);
    assert_eq!(
        (
            replay.kind.as_str(),
            replay.decision.as_str(),
            replay.reason.as_str()
        ),
        ("data_replay", "permit", "replay")
    );
    assert_eq!(
        (replay.bytes, replay.fee),
        (5, 0),
        "served again, charged nothing"
    );
    assert_eq!(replay.grant.as_deref(), Some(grant_id.as_str()));
    assert_eq!(
        replay.detail.as_ref().map(|d| d["original_seq"].clone()),
        Some(json!(seq))
    );
    let usage = grant_usage(&s, &grant_id).await;
    assert_eq!(
        (usage["requests"].clone(), usage["bytes"].clone()),
        (json!(1), json!(5))
    );

    // The same key for anything else is refused, logged, and serves nothing.
    for different in [
        vec![("idempotency-key", "job-42"), ("range", "bytes=0-5")],
        vec![("idempotency-key", "job-42")],
    ] {
        let before = ledger_size(&s.server);
        let refused = fetch(&s, &s.conditional, &different).await;
        let status = refused.status();
        let entry = ledger_entry(&s.server, receipt(&refused));
        let body = json(refused).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "idempotency_key_reused");
        assert_eq!(
            (entry.decision.as_str(), entry.reason.as_str(), entry.bytes),
            ("deny", "idempotency_key_reused", 0)
        );
        assert_eq!(ledger_size(&s.server), before + 1);
    }
    let usage = grant_usage(&s, &grant_id).await;
    assert_eq!(usage["requests"], 1, "refusals count nothing");

    // Once the quota is used up, the key serves no more.
    for other in ["job-43", "job-44"] {
        let served = fetch(&s, &s.conditional, &[("idempotency-key", other)]).await;
        assert_eq!(served.status(), 200);
    }
    let after_quota = fetch(&s, &s.conditional, &key).await;
    assert_eq!(after_quota.status(), 429);
    assert!(
        header(&after_quota, "retry-after").is_none(),
        "waiting does not renew a grant's quota"
    );
    let entry = ledger_entry(&s.server, receipt(&after_quota));
    assert_eq!(
        (entry.decision.as_str(), entry.reason.as_str()),
        ("deny", "quota_exhausted")
    );
    let problem = json(after_quota).await;
    assert_eq!(problem["quota"]["requests_remaining"], 0);
    assert_eq!(problem["quota"]["max_requests"], 3);

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
async fn an_idempotency_key_never_serves_after_its_grant_is_suspended_or_revoked() {
    let s = setup(10).await;
    let grant_id = grant(&s).await;
    let key = [("idempotency-key", "nightly-sync")];
    assert_eq!(fetch(&s, &s.conditional, &key).await.status(), 200);
    for (action, reason) in [("suspend", "grant_suspended"), ("revoke", "grant_revoked")] {
        let changed = s
            .server
            .call(
                Method::POST,
                &format!("/api/v1/grants/{grant_id}/{action}"),
                Some(&s.admin),
                Some(json!({ "reason": "audit" })),
            )
            .await;
        assert_eq!(changed.status(), 200, "{action}");
        let retry = fetch(&s, &s.conditional, &key).await;
        assert_eq!(retry.status(), 403, "{action}");
        assert!(header(&retry, "x-pdx-replay-seq").is_none());
        let entry = ledger_entry(&s.server, receipt(&retry));
        assert_eq!(
            (entry.decision.as_str(), entry.reason.as_str()),
            ("deny", reason)
        );
        assert!(!retry.text().await.unwrap_or_default().contains("station"));
    }
}

#[tokio::test]
async fn a_byte_quota_refuses_a_request_that_would_pass_it_and_says_what_is_left() {
    let s = setup(100).await;
    let offer = s
        .server
        .call(
            Method::PUT,
            "/api/v1/datasets/levels/offer",
            Some(&s.admin),
            Some(json!({
                "licence_id": "CC-BY-4.0", "purposes": ["research"], "max_term_days": 30,
                "max_bytes": CSV.len() + 10, "fee_per_request": 5, "fee_per_mb": 100
            })),
        )
        .await;
    assert_eq!(offer.status(), 200);
    let grant_id = grant(&s).await;
    let whole = fetch(&s, &s.conditional, &[]).await;
    assert_eq!(whole.status(), 200);
    // 10 bytes are left: the whole file again would pass the quota.
    let before = ledger_size(&s.server);
    let over = fetch(&s, &s.conditional, &[]).await;
    assert_eq!(over.status(), 429);
    assert!(header(&over, "retry-after").is_none());
    let entry = ledger_entry(&s.server, receipt(&over));
    assert_eq!(
        (entry.reason.as_str(), entry.bytes, entry.fee),
        ("quota_exhausted", 0, 0)
    );
    let problem = json(over).await;
    assert_eq!(problem["quota"]["bytes_remaining"], 10);
    assert_eq!(problem["quota"]["bytes_requested"], CSV.len());
    assert_eq!(ledger_size(&s.server), before + 1);
    // A range that fits is served, and then nothing more.
    let fits = fetch(&s, &s.conditional, &[("range", "bytes=0-9")]).await;
    assert_eq!(fits.status(), 206);
    let usage = grant_usage(&s, &grant_id).await;
    assert_eq!(
        usage["bytes"],
        CSV.len() + 10,
        "exactly the quota, never more"
    );
    let one_more = fetch(&s, &s.conditional, &[("range", "bytes=0-0")]).await;
    assert_eq!(one_more.status(), 429);
}

#[tokio::test]
async fn a_missing_file_is_refused_and_logged_without_a_permit_or_a_fee() {
    let s = setup(10).await;
    let grant_id = grant(&s).await;
    let key = {
        let Ok(mut conn) = s.server.database.database().conn() else {
            panic!("no connection")
        };
        let id = s.conditional.parse().unwrap_or_else(|_| panic!("an id"));
        pdx_catalog::store::find_distribution(&mut conn, id)
            .unwrap_or_else(|e| panic!("{e}"))
            .storage_key
            .unwrap_or_else(|| panic!("a stored file"))
    };
    let path = s.server.config.data_dir.join("blobs").join(&key);
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let before = ledger_size(&s.server);
    let refused = fetch(&s, &s.conditional, &[]).await;
    assert_eq!(refused.status(), 503);
    let entry = ledger_entry(&s.server, receipt(&refused));
    assert_eq!(
        (
            entry.decision.as_str(),
            entry.reason.as_str(),
            entry.bytes,
            entry.fee
        ),
        ("deny", "data_unavailable", 0, 0)
    );
    assert_eq!(json(refused).await["code"], "data_unavailable");
    assert_eq!(ledger_size(&s.server), before + 1, "one entry, no permit");
    assert_eq!(grant_usage(&s, &grant_id).await["requests"], 0);
}

#[tokio::test]
async fn purposes_outside_the_vocabulary_are_refused_and_never_stored() {
    let s = setup(10).await;
    grant(&s).await;
    let hostile = "research\u{202e}; DROP TABLE grants; --".repeat(20);
    let mut request = s
        .server
        .client
        .get(
            s.server
                .url(&format!("/api/v1/distributions/{}/data", s.conditional)),
        )
        .bearer_auth(&s.enterprise);
    request = request.header("x-pdx-purpose", hostile.replace('\u{202e}', ""));
    let refused = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status(), 422);
    let entry = ledger_entry(&s.server, receipt(&refused));
    assert_eq!(
        (entry.reason.as_str(), entry.purpose),
        ("unknown_purpose", None)
    );
    assert_eq!(json(refused).await["code"], "unknown_purpose");

    let missing = download(&s, &s.conditional, Some(&s.enterprise), None).await;
    assert_eq!(missing.status(), 400);
    let entry = ledger_entry(&s.server, receipt(&missing));
    assert_eq!(entry.reason, "purpose_required");
    assert_eq!(json(missing).await["code"], "purpose_required");
    // Open data needs no purpose.
    assert_eq!(download(&s, &s.open, None, None).await.status(), 200);
}

#[tokio::test]
async fn downloads_are_named_after_their_title_per_rfc_6266() {
    let s = setup(10).await;
    let response = download(&s, &s.open, None, None).await;
    let disposition = header(&response, "content-disposition").unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename=\"open-levels CSV.csv\""),
        "the title, not the id: {disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''open-levels%20CSV.csv"),
        "{disposition}"
    );
    assert!(!disposition.contains(&s.open), "not the id: {disposition}");
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

#[tokio::test]
async fn concurrent_retries_of_one_key_are_served_once_and_replayed_under_its_receipt() {
    let s = setup(100).await;
    let grant_id = grant(&s).await;
    let retries = (0..12).map(|_| fetch(&s, &s.conditional, &[("idempotency-key", "burst")]));
    let answers = futures_util::future::join_all(retries).await;
    let receipts: std::collections::BTreeSet<u64> = answers.iter().map(receipt).collect();
    assert_eq!(receipts.len(), 1, "one receipt for all: {receipts:?}");
    for answer in answers {
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap_or_default(), CSV);
    }
    let usage = grant_usage(&s, &grant_id).await;
    assert_eq!(usage["requests"], 1, "counted once");
    assert_eq!(usage["bytes"], CSV.len());
}

#[tokio::test]
async fn anonymous_floods_and_runs_of_refusals_are_turned_away_per_address_without_growing_the_ledger()
 {
    let s = setup_with(100, |c| {
        c.http.anonymous_data_per_minute = 3;
        c.http.failed_data_per_minute = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(download(&s, &s.open, None, None).await.status(), 200);
    }
    let before = ledger_size(&s.server);
    let flooded = download(&s, &s.open, None, None).await;
    assert_eq!(flooded.status(), 429);
    assert!(
        header(&flooded, "retry-after")
            .is_some_and(|w| w.parse::<u64>().is_ok_and(|w| (1..=60).contains(&w)))
    );
    assert!(header(&flooded, "x-pdx-ledger-seq").is_none());
    assert_eq!(json(flooded).await["code"], "too_many_requests");
    assert_eq!(
        ledger_size(&s.server),
        before,
        "a flood does not grow the ledger"
    );
    // Signed-in requests are not anonymous ones.
    assert_eq!(
        download(&s, &s.open, Some(&s.enterprise), None)
            .await
            .status(),
        200
    );

    // Two refusals (no grant yet), then the address waits, even for a request that would pass.
    for _ in 0..2 {
        let refused = download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await;
        assert_eq!(refused.status(), 403);
    }
    let waiting = download(&s, &s.open, Some(&s.enterprise), None).await;
    assert_eq!(waiting.status(), 429);
    assert!(header(&waiting, "retry-after").is_some());
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    // The test client is the proxy: X-Forwarded-For names the clients it serves.
    let s = setup_with(100, |c| {
        c.http.anonymous_data_per_minute = 1;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let from = |client: &'static str| {
        s.server
            .client
            .get(
                s.server
                    .url(&format!("/api/v1/distributions/{}/data", s.open)),
            )
            .header("x-forwarded-for", client)
            .send()
    };
    assert_eq!(
        from("198.51.100.7").await.map(|r| r.status().as_u16()).ok(),
        Some(200)
    );
    assert_eq!(
        from("198.51.100.8").await.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "another client"
    );
    assert_eq!(
        from("198.51.100.7").await.map(|r| r.status().as_u16()).ok(),
        Some(429),
        "the same client again"
    );

    let untrusted = setup_with(100, |c| c.http.anonymous_data_per_minute = 1).await;
    let forged = |client: &'static str| {
        untrusted
            .server
            .client
            .get(
                untrusted
                    .server
                    .url(&format!("/api/v1/distributions/{}/data", untrusted.open)),
            )
            .header("x-forwarded-for", client)
            .send()
    };
    assert_eq!(
        forged("198.51.100.7")
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        Some(200)
    );
    assert_eq!(
        forged("198.51.100.8")
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        Some(429),
        "a client cannot escape its limit by naming another address"
    );
}

#[tokio::test]
async fn ledger_filters_take_slugs_and_refuse_unknown_parameters_and_values() {
    let s = setup(10).await;
    grant(&s).await;
    assert_eq!(fetch(&s, &s.conditional, &[]).await.status(), 200);
    let entries = |query: String| {
        let server = &s.server;
        let admin = s.admin.clone();
        async move {
            server
                .call(
                    Method::GET,
                    &format!("/api/v1/ledger/entries?{query}"),
                    Some(&admin),
                    None,
                )
                .await
        }
    };
    let by_id =
        json(entries(format!("kind=data_access&dataset={}", dataset_id(&s).await)).await).await;
    let by_slug = json(entries("kind=data_access&dataset=levels".into()).await).await;
    assert!(
        by_slug["total"].as_i64().is_some_and(|t| t >= 1),
        "{by_slug}"
    );
    assert_eq!(by_id["total"], by_slug["total"]);
    let by_org =
        json(entries("kind=data_access&organization=acme&decision=permit".into()).await).await;
    assert_eq!(by_org["total"], 1, "{by_org}");
    let nobody = json(entries("organization=no-such-org".into()).await).await;
    assert_eq!(nobody["total"], 0);
    let entry = &by_slug["items"][0];
    assert!(
        entry["canonical"]
            .as_str()
            .is_some_and(|c| c.starts_with("{\"actor_org\"")),
        "the canonical line comes with the entry: {entry}"
    );

    let unknown = entries("colour=red".into()).await;
    assert_eq!(unknown.status(), 400);
    let problem = json(unknown).await;
    assert_eq!(problem["code"], "invalid_query");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("colour")),
        "{problem}"
    );
    let invalid = entries("decision=maybe".into()).await;
    assert_eq!(invalid.status(), 422);
    assert_eq!(json(invalid).await["code"], "invalid_parameter");
    for (path, status) in [
        ("/api/v1/datasets?colour=red", 400),
        ("/api/v1/datasets?opening_class=secret", 422),
        ("/api/v1/datasets?sort=random", 422),
        ("/api/v1/datasets?page=many", 422),
    ] {
        let response = s.server.get(path).await;
        assert_eq!(response.status(), status, "{path}");
    }
}

async fn dataset_id(s: &Setup) -> String {
    json(
        s.server
            .call(Method::GET, "/api/v1/datasets/levels", Some(&s.admin), None)
            .await,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A TCP forwarder to PostgreSQL that a test can cut and restore, as a network outage would.
struct Outage {
    port: u16,
    upstream: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Outage {
    async fn forward_to(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let outage = Self {
            port,
            upstream,
            tasks: std::sync::Arc::default(),
        };
        outage.serve(listener);
        outage
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks) = (self.upstream, std::sync::Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap_or_else(|e| e.into_inner()).push(pipe);
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(accept);
    }

    /// Refuses new connections and cuts the open ones.
    fn cut(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.serve(listener);
    }
}

/// Downloads open data anonymously and tells how long the answer took.
async fn timed_download(s: &Setup) -> (reqwest::Response, std::time::Duration) {
    let started = std::time::Instant::now();
    let response = download(s, &s.open, None, None).await;
    (response, started.elapsed())
}

#[tokio::test]
async fn while_the_database_is_unreachable_requests_are_refused_at_once_and_serving_resumes_after()
{
    let Ok(url) = std::env::var("PDX_TEST_DATABASE_URL") else {
        // On SQLite there is no network to cut: the unwritable-file test covers it.
        return;
    };
    if !url.starts_with("postgres") {
        return;
    }
    let upstream: std::net::SocketAddr = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.parse().ok())
        .unwrap_or_else(|| panic!("a host:port in {url}"));
    let outage = Outage::forward_to(upstream).await;
    let proxied = format!("127.0.0.1:{}", outage.port);
    let s = setup_with(100, |c| {
        c.database_url = c
            .database_url
            .take()
            .map(|u| u.replacen(&upstream.to_string(), &proxied, 1));
    })
    .await;
    let (served, _) = timed_download(&s).await;
    assert_eq!(served.status(), 200);
    let before = receipt(&served);

    outage.cut();
    // The first requests find the pooled connections cut and the database unreachable.
    let mut refused = 0;
    for _ in 0..50 {
        let (response, _) = timed_download(&s).await;
        assert_ne!(
            response.status(),
            200,
            "nothing is served without its ledger entry"
        );
        if response.status() == 503 && json(response).await["code"] == "database_unreachable" {
            refused += 1;
            if refused == 3 {
                break;
            }
        }
    }
    assert_eq!(refused, 3, "the breaker opened");
    for _ in 0..5 {
        let (response, took) = timed_download(&s).await;
        assert_eq!(response.status(), 503);
        assert!(header(&response, "retry-after").is_some());
        assert!(header(&response, "x-pdx-ledger-seq").is_none());
        assert!(
            took < std::time::Duration::from_secs(1),
            "refused at once, not after the pool's timeout: {took:?}"
        );
        assert_eq!(json(response).await["code"], "database_unreachable");
    }
    let ready = s.server.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(json(ready).await["code"], "database_unreachable");

    outage.restore().await;
    let mut resumed = None;
    for _ in 0..100 {
        let (response, _) = timed_download(&s).await;
        if response.status() == 200 {
            resumed = Some(receipt(&response));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let resumed = resumed.unwrap_or_else(|| panic!("serving did not resume"));
    assert!(resumed > before);
    assert_eq!(s.server.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn while_the_database_file_is_unwritable_requests_are_refused_at_once() {
    use diesel::connection::SimpleConnection;
    let s = setup(10).await;
    let Ok(mut conn) = s.server.database.database().conn() else {
        panic!("no connection")
    };
    if !matches!(&*conn, pdx_storage::DbConnection::Sqlite(_)) {
        return;
    }
    // The test runs as root, which file modes do not stop: the trigger fails every ledger
    // write with SQLite's own error for a read-only database file.
    let sabotage = "CREATE TRIGGER read_only BEFORE INSERT ON ledger_entries \
                    BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END;";
    conn.batch_execute(sabotage)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = ledger_size(&s.server);
    for _ in 0..5 {
        let (response, took) = timed_download(&s).await;
        assert_eq!(response.status(), 503);
        assert!(header(&response, "retry-after").is_some());
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
        assert!(
            !response
                .text()
                .await
                .unwrap_or_default()
                .contains("station")
        );
    }
    assert_eq!(ledger_size(&s.server), before, "nothing half-written");
    conn.batch_execute("DROP TRIGGER read_only;")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut served = false;
    for _ in 0..100 {
        if timed_download(&s).await.0.status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(served, "serving resumes once the file is writable");
}

/// The metadata of a dataset like `publish` makes, with another opening class and title.
fn revised(slug: &str, title: &str, opening: &str) -> Value {
    json!({
        "slug": slug, "title": title, "description": "Water levels, revised", "update_frequency": "hourly",
        "languages": ["zh"], "sharing_class": "conditional", "opening_class": opening, "grade": "general",
        "licence": if opening == "open" { Value::from("CC-BY-4.0") } else { Value::Null },
    })
}

async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let code = json(response).await["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

#[tokio::test]
async fn a_pending_revision_changes_nothing_about_who_may_obtain_the_data_until_it_is_published() {
    let s = setup(100).await;
    grant(&s).await;
    let other = {
        s.server.create_org("rival", OrgKind::Enterprise).await;
        s.server
            .create_user("rival", "dev@rival.test", &[Role::Member])
            .await;
        s.server.access_token("dev@rival.test").await
    };
    // The owner reclassifies the conditional dataset as open and adds a file, in a revision;
    // the open dataset gets a revision too.
    s.server
        .revise_dataset(&s.admin, "levels", revised("levels", "Levels v2", "open"))
        .await;
    let added = s
        .server
        .upload_csv(&s.admin, "levels", "station,level\nC,9.9\n")
        .await;
    s.server
        .revise_dataset(
            &s.admin,
            "open-levels",
            revised("open-levels", "Open v2", "closed"),
        )
        .await;

    // The published classification still decides: nothing opened, nothing closed.
    assert_eq!(
        code_of(download(&s, &s.conditional, None, None).await).await,
        (401, "authentication_required".to_owned()),
        "a reclassification to open in a pending revision opens nothing"
    );
    assert_eq!(
        code_of(download(&s, &s.conditional, Some(&other), Some("research")).await).await,
        (403, "no_grant".to_owned())
    );
    let granted = download(&s, &s.conditional, Some(&s.enterprise), Some("research")).await;
    assert_eq!(
        granted.status(),
        200,
        "the grantee still obtains the published data"
    );
    assert_eq!(granted.text().await.unwrap_or_default(), CSV);
    let open = download(&s, &s.open, None, None).await;
    assert_eq!(
        open.status(),
        200,
        "open data stays open while its revision says closed"
    );
    assert_eq!(open.text().await.unwrap_or_default(), CSV);

    // The file added in the revision is nobody's but the owner's until published.
    for (token, purpose) in [
        (None, None),
        (Some(s.enterprise.as_str()), Some("research")),
        (Some(other.as_str()), Some("research")),
    ] {
        assert_eq!(
            code_of(download(&s, &added, token, purpose).await).await,
            (403, "not_published".to_owned()),
            "{token:?}"
        );
    }
    let access = json(
        s.server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{added}/access?purpose=research"),
                Some(&s.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(access["reason"], "not_published");
    let request = s.server.call(Method::POST, "/api/v1/access-requests", Some(&other), Some(json!({
        "dataset": "levels", "purpose": "research", "statement": "Flood warnings for our routes",
        "term_days": 30, "distributions": [added]
    }))).await;
    assert_eq!(
        request.status(),
        422,
        "an unpublished distribution cannot be requested"
    );
    let own = download(&s, &added, Some(&s.admin), None).await;
    assert_eq!(own.status(), 200, "the owner obtains its revision's file");

    // Publishing the revision replaces the public version, classification included.
    s.server
        .submit_and_publish(&s.admin, &s.admin, "levels")
        .await;
    s.server
        .submit_and_publish(&s.admin, &s.admin, "open-levels")
        .await;
    let opened = download(&s, &s.conditional, None, None).await;
    assert_eq!(opened.status(), 200);
    let added_public = download(&s, &added, None, None).await;
    assert_eq!(added_public.status(), 200);
    assert_eq!(
        added_public.text().await.unwrap_or_default(),
        "station,level\nC,9.9\n"
    );
    assert_eq!(
        code_of(download(&s, &s.open, None, None).await).await,
        (401, "authentication_required".to_owned()),
        "closed once the revision is published"
    );
}

#[tokio::test]
async fn one_agency_cannot_read_another_agencys_ledger_entries() {
    let s = setup(10).await;
    grant(&s).await;
    let served = fetch(&s, &s.conditional, &[]).await;
    assert_eq!(served.status(), 200);
    let seq = receipt(&served);
    s.server.create_org("health", OrgKind::Agency).await;
    s.server
        .create_user("health", "admin@health.test", &[Role::Admin])
        .await;
    let other = s.server.access_token("admin@health.test").await;
    let entry = s
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/entries/{seq}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        entry.status(),
        404,
        "another agency's data request is not in its scope"
    );
    let listed = json(
        s.server
            .call(
                Method::GET,
                "/api/v1/ledger/entries?dataset=levels",
                Some(&other),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(listed["total"], 0, "{listed}");
    let owner = s
        .server
        .call(
            Method::GET,
            &format!("/api/v1/ledger/entries/{seq}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(owner.status(), 200, "the owning agency reads it");
}

/// The anonymous data requests the servers have shared through the database.
fn anonymous_counted(server: &TestServer) -> i64 {
    use diesel::prelude::*;
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let total: Result<Total, _> = diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS total FROM rate_counts \
         WHERE scope = 'anonymous_data'",
    )
    .get_result(&mut conn);
    total.map_or(0, |t| t.total)
}

#[tokio::test]
async fn the_anonymous_limit_holds_for_the_platform_not_for_each_server() {
    let s = setup_with(100, |c| c.http.anonymous_data_per_minute = 4).await;
    let other = s.server.sibling().await;
    // Three downloads through the first server…
    for _ in 0..3 {
        let (served, _) = timed_download(&s).await;
        assert_eq!(served.status(), 200);
    }
    // …are known to the second once the servers have exchanged their counts (each second):
    // the first has written them (a loaded machine may take a few seconds), and the second
    // has read them at its next exchange.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while anonymous_counted(&s.server) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first server never shared its counts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let url = other.url(&format!("/api/v1/distributions/{}/data", s.open));
    let get = || s.server.client.get(&url).send();
    // Knowing the first's three, the second serves one more and refuses the next. The window
    // slides: if a minute boundary passes meanwhile, the three weigh a little less than three
    // and one download more may pass. Knowing nothing, it would serve four.
    let mut served = 0;
    let refused = loop {
        let Ok(answer) = get().await else {
            panic!("a download through the second server failed")
        };
        if answer.status() == 429 {
            break answer;
        }
        assert_eq!(answer.status(), 200);
        served += 1;
        assert!(
            served <= 2,
            "the second server served {served} as if the first's three were not counted"
        );
    };
    assert!(served >= 1, "the fourth in the minute is served");
    assert!(header(&refused, "retry-after").is_some());
}
