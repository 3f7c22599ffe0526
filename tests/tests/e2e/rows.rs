//! Data services over real HTTP on the real database: a tabular upload is ingested into a
//! table, rows are queried with filters, sort and paging, a grant's column rules hide and mask
//! columns in every format, and rows are metered into the ledger with row quotas holding.

use diesel::RunQueryDsl;
use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, expect_problem, header, json};
use reqwest::Method;
use serde_json::{Value, json};

fn residents(rows: usize) -> String {
    pdx_tests::residents_csv(rows)
}

/// An agency `org` with one user, `admin@<org>.test`, who is admin, publisher and reviewer;
/// returns that user's token.
async fn agency(server: &TestServer, org: &str) -> String {
    server.create_org(org, OrgKind::Agency).await;
    let email = format!("admin@{org}.test");
    server
        .create_user(org, &email, &[Role::Admin, Role::Publisher, Role::Reviewer])
        .await;
    server.access_token(&email).await
}

/// Creates a dataset from `body` as `token`.
async fn create_dataset(server: &TestServer, token: &str, body: Value) {
    let created = server
        .call(Method::POST, "/api/v1/datasets", Some(token), Some(body))
        .await;
    assert_eq!(created.status(), 201);
}

struct World {
    server: TestServer,
    admin: String,
    enterprise: String,
    distribution: String,
}

async fn wait_ready(server: &TestServer, token: &str, distribution: &str) -> Value {
    wait_ready_for(server, token, distribution, 60).await
}

/// Waits up to `secs` seconds for the distribution's newest ingestion to be ready. Generous:
/// how fast ingestion is, the benchmark measures; on a loaded machine it may take far longer.
async fn wait_ready_for(server: &TestServer, token: &str, distribution: &str, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        let found = json(
            server
                .call(
                    Method::GET,
                    &format!("/api/v1/distributions/{distribution}/ingestions"),
                    Some(token),
                    None,
                )
                .await,
        )
        .await;
        match found[0]["state"].as_str() {
            Some("ready") => return found[0].clone(),
            Some("failed") => panic!("the ingestion failed: {found}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    panic!("the ingestion did not finish within {secs} s")
}

/// An agency publishes `csv` in a conditional dataset with `id_number` marked sensitive and
/// offers it with `offer`; an enterprise is verified.
async fn world(csv: &str, offer: Value) -> World {
    world_with(csv, offer, |_| {}).await
}

/// [`world`] on a server configured by `adjust`.
async fn world_with(
    csv: &str,
    offer: Value,
    adjust: impl FnOnce(&mut pdx_server::config::Config),
) -> World {
    let server = TestServer::spawn_with(adjust).await;
    let admin = agency(&server, "civil").await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    create_dataset(&server, &admin, json!({
                "slug": "residents", "title": "Residents", "description": "Registered residents",
                "update_frequency": "monthly", "languages": ["en"], "sharing_class": "conditional",
                "opening_class": "conditional", "grade": "general",
    }))
    .await;
    let distribution = server.upload_csv(&admin, "residents", csv).await;
    let marked = server
        .call(
            Method::PATCH,
            &format!("/api/v1/distributions/{distribution}"),
            Some(&admin),
            Some(json!({"columns": [
                {"name": "id_number", "type": "string", "sensitive": true},
                {"name": "phone", "type": "string", "sensitive": true},
            ]})),
        )
        .await;
    assert_eq!(marked.status(), 200);
    server.submit_and_publish(&admin, &admin, "residents").await;
    let offered = server
        .call(
            Method::PUT,
            "/api/v1/datasets/residents/offer",
            Some(&admin),
            Some(offer),
        )
        .await;
    assert_eq!(offered.status(), 200, "{}", json(offered).await);
    wait_ready(&server, &admin, &distribution).await;
    World {
        enterprise: server.access_token("dev@acme.test").await,
        server,
        admin,
        distribution,
    }
}

async fn grant(w: &World, approval: Value) -> String {
    grant_to(w, &w.enterprise, approval).await
}

async fn grant_to(w: &World, enterprise: &str, approval: Value) -> String {
    w.server
        .grant(enterprise, &w.admin, "residents", approval)
        .await
}

async fn rows(w: &World, token: Option<&str>, query: &str) -> reqwest::Response {
    rows_of(&w.server, &w.distribution, token, query).await
}

async fn rows_of(
    server: &TestServer,
    distribution: &str,
    token: Option<&str>,
    query: &str,
) -> reqwest::Response {
    let mut request = server.client.get(server.url(&format!(
        "/api/v1/distributions/{distribution}/rows?{query}"
    )));
    if let Some(token) = token {
        request = request
            .bearer_auth(token)
            .header("x-pdx-purpose", "research");
    }
    match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("the row query failed: {error}"),
    }
}

fn offer(max_rows: Option<i64>, rules: Value) -> Value {
    json!({
        "licence_id": "CC-BY-4.0", "purposes": ["research"], "max_term_days": 30,
        "max_rows": max_rows, "column_rules": rules,
    })
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

#[tokio::test]
async fn an_upload_is_ingested_typed_and_its_rows_filtered_sorted_and_paged() {
    let w = world(&residents(500), offer(None, Value::Null)).await;
    let ingestions = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{}/ingestions", w.distribution),
                Some(&w.admin),
                None,
            )
            .await,
    )
    .await;
    let ready = &ingestions[0];
    assert_eq!(ready["rows_loaded"], 500);
    assert_eq!(ready["rows_rejected"], 0);
    assert_eq!(ready["encoding"], "utf8");
    let types: Vec<(&str, &str)> = ready["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("id_number", "string"),
            ("name", "string"),
            ("district", "string"),
            ("born", "date"),
            ("phone", "string"),
            ("amount", "number"),
        ]
    );
    // The publishing agency sees every column, with a filter, a sort and pages.
    let page = rows(
        &w,
        Some(&w.admin),
        "filter=district:eq:Nanshan&filter=amount:gte:100&sort=-amount,name&limit=50&total=true",
    )
    .await;
    assert_eq!(page.status(), 200);
    let receipt: u64 = header(&page, "x-pdx-ledger-seq").unwrap().parse().unwrap();
    let page = json(page).await;
    let expected: usize = (0..500)
        .filter(|i| i % 4 == 2 && (i % 1000) as f64 + 0.5 >= 100.0)
        .count();
    assert_eq!(page["total"], expected);
    let first = page["rows"].as_array().unwrap();
    assert_eq!(first.len(), 50);
    assert!(first.iter().all(|r| r["district"] == "Nanshan"));
    let amounts: Vec<f64> = first
        .iter()
        .map(|r| r["amount"].as_f64().unwrap())
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[0] >= w[1]),
        "sorted descending"
    );
    assert!(
        first[0]["id_number"].is_string(),
        "the owner sees the sensitive column"
    );
    let entry = ledger_entry(&w.server, receipt);
    assert_eq!(entry.decision, "permit");
    assert_eq!(entry.rows, 50);
    assert!(entry.bytes > 0);
    // Following `next` pages through every match exactly once.
    let mut seen = first.len();
    let mut next = page["next"].as_str().map(str::to_owned);
    while let Some(cursor) = next {
        let more = json(
            rows(
                &w,
                Some(&w.admin),
                &format!(
                    "filter=district:eq:Nanshan&filter=amount:gte:100&sort=-amount,name&limit=50&after={cursor}"
                ),
            )
            .await,
        )
        .await;
        seen += more["rows"].as_array().unwrap().len();
        next = more["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, expected);
    // CSV and NDJSON carry the same rows.
    let csv = rows(&w, Some(&w.admin), "filter=name:eq:Resident 7&format=csv").await;
    assert_eq!(
        header(&csv, "content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        csv.text().await.unwrap(),
        "id_number,name,district,born,phone,amount\n110101196708070007,Resident 7,Bao'an,1967-08-17,13800130007,7.5\n"
    );
    let ndjson = rows(
        &w,
        Some(&w.admin),
        "filter=name:in:Resident 7,Resident 8&format=ndjson",
    )
    .await;
    assert_eq!(ndjson.text().await.unwrap().lines().count(), 2);
}

#[tokio::test]
async fn a_grant_never_sees_a_hidden_column_and_masked_ones_follow_their_rule() {
    let rules = json!({
        "allow": ["name", "district", "amount"],
        "masks": {"phone": {"rule": "keep_last", "characters": 4}, "born": {"rule": "month"}}
    });
    let w = world(&residents(200), offer(None, rules)).await;
    grant(&w, Value::Null).await;
    let secret = "110101196708070007";
    for format in ["json", "csv", "ndjson"] {
        for query in [
            format!("format={format}&limit=200"),
            format!("format={format}&q=1101"),
            format!("format={format}&columns=name,phone"),
        ] {
            let answer = rows(&w, Some(&w.enterprise), &query).await;
            assert_eq!(answer.status(), 200, "{query}");
            let text = answer.text().await.unwrap();
            assert!(!text.contains("id_number"), "{query}: {text}");
            assert!(!text.contains(secret), "{query}");
            assert!(
                !text.contains("13800130007"),
                "{query}: the phone is masked"
            );
        }
    }
    let page = json(rows(&w, Some(&w.enterprise), "filter=name:eq:Resident 7").await).await;
    assert_eq!(
        page["rows"][0],
        json!({"name": "Resident 7", "district": "Bao'an", "born": "1967-08", "phone": "*******0007", "amount": 7.5})
    );
    let masks: Vec<Value> = page["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["mask"].clone())
        .collect();
    assert_eq!(
        masks,
        [
            Value::Null,
            Value::Null,
            json!("month"),
            json!("keep_last"),
            Value::Null
        ]
    );
    // Naming the hidden column is like naming no column; a masked one cannot be filtered.
    for query in [
        format!("filter=id_number:eq:{secret}"),
        "sort=id_number".to_owned(),
        "columns=id_number".to_owned(),
    ] {
        expect_problem(
            rows(&w, Some(&w.enterprise), &query).await,
            422,
            "unknown_column",
        )
        .await;
    }
    expect_problem(
        rows(&w, Some(&w.enterprise), "filter=phone:eq:13800130007").await,
        422,
        "masked_column",
    )
    .await;
    // Anonymous callers get nothing from conditional data, and the refusal is logged.
    let anonymous = rows(&w, None, "").await;
    let seq: u64 = header(&anonymous, "x-pdx-ledger-seq")
        .unwrap()
        .parse()
        .unwrap();
    expect_problem(anonymous, 401, "authentication_required").await;
    assert_eq!(ledger_entry(&w.server, seq).decision, "deny");
}

#[tokio::test]
async fn hashed_columns_join_within_a_grant_but_not_across_grants() {
    let rules = json!({"masks": {"id_number": {"rule": "hash"}}});
    let w = world(&residents(20), offer(None, rules)).await;
    grant(&w, Value::Null).await;
    let hashed = |page: &Value| page["rows"][0]["id_number"].as_str().unwrap().to_owned();
    let first = json(rows(&w, Some(&w.enterprise), "filter=name:eq:Resident 3").await).await;
    let again = json(rows(&w, Some(&w.enterprise), "filter=name:eq:Resident 3").await).await;
    assert_eq!(hashed(&first), hashed(&again));
    assert_eq!(hashed(&first).len(), 32);
    assert!(!hashed(&first).contains("110101"));
    // A second enterprise under its own grant sees another hash of the same value.
    w.server.create_org("beta", OrgKind::Enterprise).await;
    w.server
        .create_user("beta", "dev@beta.test", &[Role::Member])
        .await;
    let beta = w.server.access_token("dev@beta.test").await;
    grant_to(&w, &beta, Value::Null).await;
    let theirs = json(rows(&w, Some(&beta), "filter=name:eq:Resident 3").await).await;
    assert_ne!(hashed(&theirs), hashed(&first));
}

#[tokio::test]
async fn a_grant_counts_for_rows_the_moment_it_is_issued_and_not_a_moment_after_it_is_revoked() {
    let w = world(&residents(20), offer(None, Value::Null)).await;
    // Refused without a grant (the facts of this refusal are remembered)…
    let refused = rows(&w, Some(&w.enterprise), "limit=5").await;
    assert_eq!(refused.status(), 403);
    // … yet the grant counts at once.
    let grant = grant(&w, Value::Null).await;
    let granted = rows(&w, Some(&w.enterprise), "limit=5").await;
    assert_eq!(granted.status(), 200);
    let granted = rows(&w, Some(&w.enterprise), "limit=5").await;
    assert_eq!(granted.status(), 200);
    // Revoked, the next query is refused at once, though the permit's facts are remembered.
    let revoked = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/grants/{grant}/revoke"),
            Some(&w.admin),
            Some(json!({"reason": "ended early"})),
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let refused = rows(&w, Some(&w.enterprise), "limit=5").await;
    let seq = header(&refused, "x-pdx-ledger-seq").and_then(|s| s.parse().ok());
    expect_problem(refused, 403, "grant_revoked").await;
    let entry = ledger_entry(&w.server, seq.unwrap_or(u64::MAX));
    assert_eq!((entry.decision.as_str(), entry.rows), ("deny", 0));
}

#[tokio::test]
async fn a_row_quota_holds_exactly_under_concurrent_clients_and_the_ledger_counts_the_rows() {
    let w = world(&residents(300), offer(Some(1_000), Value::Null)).await;
    let grant_id = grant(&w, Value::Null).await;
    let w = std::sync::Arc::new(w);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let w = std::sync::Arc::clone(&w);
        clients.push(tokio::spawn(async move {
            let mut served = Vec::new();
            for _ in 0..4 {
                let answer = rows(&w, Some(&w.enterprise), "limit=30").await;
                let seq: u64 = header(&answer, "x-pdx-ledger-seq")
                    .unwrap()
                    .parse()
                    .unwrap();
                let status = answer.status().as_u16();
                let body = json(answer).await;
                served.push((status, seq, body));
            }
            served
        }));
    }
    let mut delivered = 0u64;
    let mut refused = 0;
    for client in clients {
        for (status, seq, body) in client.await.unwrap() {
            let entry = ledger_entry(&w.server, seq);
            match status {
                200 => {
                    let n = body["rows"].as_array().unwrap().len() as u64;
                    assert_eq!(n, 30);
                    assert_eq!(entry.rows, n);
                    delivered += n;
                }
                429 => {
                    assert_eq!(body["code"], "quota_exhausted");
                    assert_eq!(entry.decision, "deny");
                    assert_eq!(entry.rows, 0);
                    refused += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    assert_eq!(delivered, 990, "33 answers of 30 rows fit a quota of 1,000");
    assert_eq!(refused, 64 - 33);
    let shown = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/grants/{grant_id}"),
                Some(&w.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(shown["usage"]["rows"], 990);
    let over = rows(&w, Some(&w.enterprise), "limit=11").await;
    let problem = expect_problem(over, 429, "quota_exhausted").await;
    assert_eq!(problem["quota"]["rows_remaining"], 10);
    assert_eq!(problem["quota"]["rows_requested"], 11);
    let fits = rows(&w, Some(&w.enterprise), "limit=10&offset=290").await;
    assert_eq!(fits.status(), 200);
    let spent = rows(&w, Some(&w.enterprise), "limit=1").await;
    expect_problem(spent, 429, "quota_exhausted").await;
}

#[tokio::test]
async fn a_gb18030_csv_with_chinese_headers_is_ingested() {
    let server = TestServer::spawn().await;
    let admin = agency(&server, "stats").await;
    create_dataset(&server, &admin, json!({
                "slug": "population", "title": "各区人口", "description": "常住人口",
                "update_frequency": "annual", "languages": ["zh"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    let (encoded, _, _) = encoding_rs::GB18030
        .encode("区县,常住人口,统计日期\n福田区,1553225,2024-12-31\n罗湖区,1098600,2024-12-31\n");
    let upload = server
        .client
        .post(server.url("/api/v1/datasets/population/distributions"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(encoded.into_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let distribution = json(upload).await["id"].as_str().unwrap().to_owned();
    server
        .submit_and_publish(&admin, &admin, "population")
        .await;
    let ready = wait_ready(&server, &admin, &distribution).await;
    assert_eq!(ready["encoding"], "gb18030");
    assert_eq!(ready["columns"][1]["type"], "integer");
    let answer = server
        .client
        .get(server.url(&format!(
            "/api/v1/distributions/{distribution}/rows?filter=区县:eq:罗湖区"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let page = json(answer).await;
    assert_eq!(
        page["rows"],
        json!([{"区县": "罗湖区", "常住人口": 1098600, "统计日期": "2024-12-31"}])
    );
}

#[tokio::test]
async fn ckan_datastore_search_answers_from_the_same_rows_rights_and_ledger() {
    let rules = json!({"allow": ["name", "district", "amount"]});
    let w = world(&residents(50), offer(None, rules)).await;
    grant(&w, Value::Null).await;
    let search = |body: Value| {
        w.server
            .client
            .post(w.server.url("/api/3/action/datastore_search"))
            .bearer_auth(&w.enterprise)
            .header("x-pdx-purpose", "research")
            .json(&body)
            .send()
    };
    let answer = search(json!({
        "resource_id": w.distribution, "filters": {"district": ["Nanshan", "Luohu"]},
        "sort": "amount desc", "limit": 5,
    }))
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    let seq: u64 = header(&answer, "x-pdx-ledger-seq")
        .unwrap()
        .parse()
        .unwrap();
    let text = answer.text().await.unwrap();
    assert!(
        !text.contains("id_number") && !text.contains("phone"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["success"], true);
    let result = &body["result"];
    assert_eq!(result["total"], 25);
    assert_eq!(result["limit"], 5);
    assert_eq!(
        result["fields"],
        json!([{"id": "name", "type": "text"}, {"id": "district", "type": "text"}, {"id": "amount", "type": "float8"}])
    );
    let records = result["records"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(
        records[0],
        json!({"name": "Resident 49", "district": "Luohu", "amount": 49.5})
    );
    assert!(
        result["_links"]["next"]
            .as_str()
            .unwrap()
            .ends_with("&offset=5")
    );
    let entry = ledger_entry(&w.server, seq);
    assert_eq!((entry.decision.as_str(), entry.rows), ("permit", 5));
    assert_eq!(
        entry.bytes,
        text.len() as u64,
        "the entry records the bytes served"
    );
    // The same query through /rows gives the same records.
    let same = json(
        rows(
            &w,
            Some(&w.enterprise),
            "filter=district:in:Nanshan,Luohu&sort=-amount&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(same["rows"], result["records"]);
    // A hidden column in a filter is refused in CKAN's envelope.
    let refused = search(json!({"resource_id": w.distribution, "filters": {"id_number": "1"}}))
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let refused = json(refused).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["error"]["__type"], "Validation Error");
}

/// One row of the large table: the values the test expects back.
struct Big {
    row: usize,
    district: &'static str,
    amount: f64,
    name: String,
}

fn big_table(rows: usize) -> (String, Vec<Big>) {
    let districts = [
        "Futian", "Luohu", "Nanshan", "Bao'an", "Longgang", "Longhua", "Yantian",
    ];
    let mut csv = String::with_capacity(rows * 48);
    csv.push_str("name,district,amount,day\n");
    let mut expected = Vec::with_capacity(rows);
    for i in 0..rows {
        let district = districts[(i * 7 + i / 7) % districts.len()];
        let amount = ((i * 7919) % 100_000) as f64 / 100.0;
        let name = format!("R{:07}", (i * 104_729) % rows);
        csv.push_str(&format!(
            "{name},{district},{amount},2024-{:02}-{:02}\n",
            1 + i % 12,
            1 + i % 28
        ));
        expected.push(Big {
            row: i + 1,
            district,
            amount,
            name,
        });
    }
    (csv, expected)
}

#[tokio::test]
async fn a_million_rows_are_ingested_and_filters_sorts_and_pages_answer_exactly() {
    const ROWS: usize = 1_000_000;
    let (csv, expected) = big_table(ROWS);
    let server = TestServer::spawn().await;
    let admin = agency(&server, "stats").await;
    create_dataset(&server, &admin, json!({
                "slug": "payments", "title": "Payments", "description": "A million payments",
                "update_frequency": "daily", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    let distribution = server.upload_csv(&admin, "payments", &csv).await;
    drop(csv);
    server.submit_and_publish(&admin, &admin, "payments").await;
    let ready = wait_ready_for(&server, &admin, &distribution, 900).await;
    assert_eq!(ready["rows_loaded"], ROWS);
    let get = |query: String| {
        let url = server.url(&format!(
            "/api/v1/distributions/{distribution}/rows?{query}"
        ));
        let client = server.client.clone();
        async move {
            let answer = client.get(url).send().await.unwrap();
            assert_eq!(answer.status(), 200, "{query}");
            json(answer).await
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // An equality filter, a descending sort, a count, and three pages followed by cursor.
    let mut nanshan: Vec<&Big> = expected
        .iter()
        .filter(|b| b.district == "Nanshan")
        .collect();
    nanshan.sort_by(|a, b| b.amount.total_cmp(&a.amount).then(a.row.cmp(&b.row)));
    let first = get("filter=district:eq:Nanshan&sort=-amount&limit=100&total=true".into()).await;
    assert_eq!(first["total"], nanshan.len());
    let mut got = names(&first);
    let mut next = first["next"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let page = get(format!(
            "filter=district:eq:Nanshan&sort=-amount&limit=100&after={next}"
        ))
        .await;
        got.extend(names(&page));
        next = page["next"].as_str().unwrap().to_owned();
    }
    let want: Vec<String> = nanshan.iter().take(300).map(|b| b.name.clone()).collect();
    assert_eq!(got, want);
    // Exports longer than a page: every row in order (read in batches on PostgreSQL), and a
    // long limit that stops exactly where it says.
    let export = |query: &str| {
        let url = server.url(&format!(
            "/api/v1/distributions/{distribution}/rows?{query}"
        ));
        let client = server.client.clone();
        async move {
            let answer = client.get(url).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            answer.text().await.unwrap()
        }
    };
    let csv =
        export("filter=district:eq:Nanshan&sort=-amount&columns=name&format=csv&limit=all").await;
    let exported: Vec<&str> = csv.lines().skip(1).collect();
    let want: Vec<&str> = nanshan.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(exported.len(), want.len());
    assert!(exported == want, "the export differs from the table");
    let ndjson =
        export("filter=district:eq:Nanshan&sort=-amount&columns=name&format=ndjson&limit=25000")
            .await;
    let exported: Vec<String> = ndjson
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(exported, want[..25_000]);
    // A range on a number, sorted by text, with an offset.
    let mut range: Vec<&Big> = expected
        .iter()
        .filter(|b| b.amount >= 500.0 && b.amount < 500.5)
        .collect();
    range.sort_by(|a, b| a.name.cmp(&b.name).then(a.row.cmp(&b.row)));
    let page = get(
        "filter=amount:gte:500&filter=amount:lt:500.5&sort=name&limit=50&offset=20&total=true"
            .into(),
    )
    .await;
    assert_eq!(page["total"], range.len());
    let want: Vec<String> = range
        .iter()
        .skip(20)
        .take(50)
        .map(|b| b.name.clone())
        .collect();
    assert_eq!(names(&page), want);
    // A text search and an in-list.
    let page = get("q=r000012&filter=district:in:Futian,Luohu&sort=name&total=true".into()).await;
    let mut found: Vec<&Big> = expected
        .iter()
        .filter(|b| {
            b.name.to_ascii_lowercase().contains("r000012")
                && (b.district == "Futian" || b.district == "Luohu")
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name).then(a.row.cmp(&b.row)));
    assert_eq!(page["total"], found.len());
    assert_eq!(
        names(&page),
        found
            .iter()
            .take(100)
            .map(|b| b.name.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn open_data_never_shows_a_sensitive_column_and_only_the_publisher_ingests() {
    let server = TestServer::spawn().await;
    let admin = agency(&server, "health").await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    let outsider = server.access_token("dev@acme.test").await;
    create_dataset(&server, &admin, json!({
                "slug": "clinics", "title": "Clinics", "description": "Clinic visits",
                "update_frequency": "daily", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    let distribution = server.upload_csv(&admin, "clinics", &residents(30)).await;
    mark_id_number_sensitive(&server, &admin, &distribution).await;
    server.submit_and_publish(&admin, &admin, "clinics").await;
    wait_ready(&server, &admin, &distribution).await;
    for (token, query) in [
        (None, "format=csv"),
        (None, "format=ndjson&q=1101"),
        (Some(outsider.as_str()), "format=json&limit=30"),
    ] {
        let answer = rows_of(&server, &distribution, token, query).await;
        assert_eq!(answer.status(), 200, "{query}");
        let text = answer.text().await.unwrap();
        assert!(
            !text.contains("id_number") && !text.contains("110101"),
            "{query}: {text}"
        );
    }
    expect_problem(
        rows_of(&server, &distribution, None, "filter=id_number:notnull").await,
        422,
        "unknown_column",
    )
    .await;
    let ckan = server
        .client
        .get(server.url(&format!(
            "/api/3/action/datastore_search?resource_id={distribution}&limit=30"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(ckan.status(), 200);
    assert!(!ckan.text().await.unwrap().contains("110101"));
    // Another organisation cannot ingest or see the ingestions; bad options are refused.
    let path = format!("/api/v1/distributions/{distribution}/ingestions");
    expect_problem(
        server
            .call(Method::POST, &path, Some(&outsider), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        server.call(Method::GET, &path, Some(&outsider), None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        server.call(Method::POST, &path, None, None).await,
        401,
        "authentication_required",
    )
    .await;
    let bad = server
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"types": {"name": "money"}})),
        )
        .await;
    expect_problem(bad, 422, "validation_failed").await;
    let unknown = server
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"types": {"nope": "integer"}})),
        )
        .await;
    let started = json(unknown).await;
    assert_eq!(started["state"], "running");
    // This ingestion by its id: a re-ingestion queued behind it (the schema changed above)
    // may start as it ends and be the newest.
    let this = |list: &Value| {
        list.as_array()
            .and_then(|all| all.iter().find(|i| i["id"] == started["id"]).cloned())
            .unwrap_or_else(|| panic!("the ingestion is listed: {list}"))
    };
    let mut state = Value::from("running");
    for _ in 0..200 {
        let now = this(&json(server.call(Method::GET, &path, Some(&admin), None).await).await);
        state = now["state"].clone();
        if state == "failed" {
            assert!(now["error"].as_str().unwrap().contains("nope"), "{now}");
        }
        if state != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        state, "failed",
        "a type for a column the file lacks fails the ingestion"
    );
    // The table the failed ingestion would have replaced still answers.
    let still = rows_of(&server, &distribution, None, "limit=1").await;
    assert_eq!(still.status(), 200);
}

#[tokio::test]
async fn a_deleted_distribution_takes_its_rows_with_it() {
    let w = world(&residents(10), offer(None, Value::Null)).await;
    let slug = "drafts";
    create_dataset(
        &w.server,
        &w.admin,
        json!({
            "slug": slug, "title": "Draft", "description": "A draft",
            "update_frequency": "monthly", "languages": ["en"], "sharing_class": "conditional",
            "opening_class": "conditional", "grade": "general",
        }),
    )
    .await;
    let distribution = w.server.upload_csv(&w.admin, slug, &residents(5)).await;
    wait_ready(&w.server, &w.admin, &distribution).await;
    let count = |server: &TestServer| -> i64 {
        use diesel::prelude::*;
        let Ok(mut conn) = server.database.database().conn() else {
            panic!("no connection")
        };
        match pdx_storage::schema::ingestions::table
            .filter(pdx_storage::schema::ingestions::distribution_id.eq(&distribution))
            .count()
            .get_result(&mut conn)
        {
            Ok(n) => n,
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(count(&w.server), 1);
    let deleted = w
        .server
        .call(
            Method::DELETE,
            &format!("/api/v1/distributions/{distribution}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(count(&w.server), 0, "its ingestions and tables are gone");
    // The published distribution's rows still answer.
    let still = rows(&w, Some(&w.admin), "limit=1").await;
    assert_eq!(still.status(), 200);
}

#[tokio::test]
async fn json_arrays_and_ndjson_are_ingested_and_types_can_be_declared() {
    let server = TestServer::spawn().await;
    let admin = agency(&server, "env").await;
    create_dataset(&server, &admin, json!({
                "slug": "air", "title": "Air", "description": "Air quality readings",
                "update_frequency": "hourly", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    let upload = |body: &'static str, media_type: &'static str| {
        server
            .client
            .post(server.url("/api/v1/datasets/air/distributions"))
            .bearer_auth(&admin)
            .header("content-type", media_type)
            .body(body)
            .send()
    };
    // A JSON file comes as a multipart upload (a JSON body describes an API distribution).
    let file = reqwest::multipart::Part::text(
        r#"[{"station": "Futian", "pm25": 35, "ok": true, "at": "2026-12-01T08:00:00+08:00"},
            {"station": "Luohu", "pm25": 41.5, "ok": false, "at": "2026-12-01 01:00:00"},
            {"station": "Nanshan", "pm25": null, "extra": {"note": "offline"}},
            "not an object"]"#,
    )
    .file_name("air.json")
    .mime_str("application/json")
    .unwrap();
    let array = server
        .client
        .post(server.url("/api/v1/datasets/air/distributions"))
        .bearer_auth(&admin)
        .multipart(
            reqwest::multipart::Form::new()
                .text("format", "JSON")
                .part("file", file),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(array.status(), 201);
    let array = json(array).await["id"].as_str().unwrap().to_owned();
    let lines = upload(
        "{\"code\": \"007\", \"reading\": 3}\n{\"code\": \"12\", \"reading\": \"high\"}\n",
        "application/x-ndjson",
    )
    .await
    .unwrap();
    assert_eq!(lines.status(), 201);
    let lines = json(lines).await["id"].as_str().unwrap().to_owned();
    server.submit_and_publish(&admin, &admin, "air").await;
    let ready = wait_ready(&server, &admin, &array).await;
    let types: Vec<(&str, &str)> = ready["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("station", "string"),
            ("pm25", "number"),
            ("ok", "boolean"),
            ("at", "datetime"),
            ("extra", "string")
        ]
    );
    assert_eq!(
        (
            ready["rows_loaded"].as_u64(),
            ready["rows_rejected"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(ready["rejects"][0]["row"], 4);
    let page = json(
        rows_of(
            &server,
            &array,
            None,
            "filter=ok:eq:true&columns=station,at,ok",
        )
        .await,
    )
    .await;
    assert_eq!(
        page["rows"],
        json!([{"station": "Futian", "at": "2026-12-01T00:00:00", "ok": true}])
    );
    // The NDJSON file's `reading` is text (one value is not a number); declared an integer,
    // the row that does not fit is rejected and reported.
    let first = wait_ready(&server, &admin, &lines).await;
    assert_eq!(first["columns"][1]["type"], "string");
    assert_eq!(
        first["columns"][0]["type"], "string",
        "a leading zero makes a code, not a number"
    );
    let path = format!("/api/v1/distributions/{lines}/ingestions");
    let again = server
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"types": {"reading": "integer"}})),
        )
        .await;
    assert_eq!(again.status(), 202);
    let mut done = json(server.call(Method::GET, &path, Some(&admin), None).await).await;
    for _ in 0..200 {
        if done[0]["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        done = json(server.call(Method::GET, &path, Some(&admin), None).await).await;
    }
    assert_eq!(done[0]["state"], "ready");
    assert_eq!(done[1]["state"], "replaced");
    assert_eq!(
        (
            done[0]["rows_loaded"].as_u64(),
            done[0]["rows_rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        done[0]["rejects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("reading"),
        "{done}"
    );
    let page = json(rows_of(&server, &lines, None, "").await).await;
    assert_eq!(page["rows"], json!([{"code": "007", "reading": 3}]));
}

#[tokio::test]
async fn a_query_past_its_time_is_stopped_with_a_clear_problem() {
    let server = TestServer::spawn_with(|config| config.rows.query_timeout_ms = 1).await;
    let admin = agency(&server, "stats").await;
    create_dataset(&server, &admin, json!({
                "slug": "payments", "title": "Payments", "description": "Payments",
                "update_frequency": "daily", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    let (csv, _) = big_table(100_000);
    let distribution = server.upload_csv(&admin, "payments", &csv).await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    wait_ready_for(&server, &admin, &distribution, 100).await;
    // Counting what a text search finds among a hundred thousand rows takes far more than a
    // millisecond.
    let answer = rows_of(&server, &distribution, None, "q=zzz&total=true").await;
    expect_problem(answer, 422, "query_too_slow").await;
    // Nor may a search that finds nothing scan on past its time because it delivers no row.
    let answer = rows_of(&server, &distribution, None, "q=zzz").await;
    expect_problem(answer, 422, "query_too_slow").await;
}

/// A server with an agency whose open dataset `payments` awaits its file.
async fn payments() -> (TestServer, String) {
    payments_with(|_| {}).await
}

/// [`payments`] on a server configured by `adjust`.
async fn payments_with(
    adjust: impl FnOnce(&mut pdx_server::config::Config),
) -> (TestServer, String) {
    let server = TestServer::spawn_with(adjust).await;
    let admin = agency(&server, "stats").await;
    create_dataset(&server, &admin, json!({
                "slug": "payments", "title": "Payments", "description": "Payments",
                "update_frequency": "daily", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
    }))
    .await;
    (server, admin)
}

/// [`payments_with`] holding `rows` residents, `id_number` marked sensitive, published and
/// loaded: the server, the agency's token and the file's id.
async fn published_payments(
    adjust: impl FnOnce(&mut pdx_server::config::Config),
    rows: usize,
) -> (TestServer, String, String) {
    let (server, admin) = payments_with(adjust).await;
    let distribution = server
        .upload_csv(&admin, "payments", &residents(rows))
        .await;
    mark_id_number_sensitive(&server, &admin, &distribution).await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    wait_ready(&server, &admin, &distribution).await;
    (server, admin, distribution)
}

/// The address of a table page's "next rows" link, if it has one.
fn next_page(body: &str) -> Option<String> {
    let (before, _) = body.split_once("rel=\"nofollow next\"")?;
    let href = before.rsplit("href=\"").next()?;
    Some(href.split('"').next().unwrap_or("").replace("&amp;", "&"))
}

/// What a database restart does to every connection of this server (on PostgreSQL; a SQLite
/// table file has no server to lose). Only this test's: the tests beside it share the
/// database, each in a schema of its own named by its connections' application_name.
fn drop_server_connections(server: &TestServer) {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    if conn.backend() == pdx_storage::Backend::Postgres {
        let dropped = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name = current_setting('application_name')",
        )
        .execute(&mut *conn);
        assert!(
            dropped.as_ref().is_ok_and(|&n| n > 0),
            "the server's connections were dropped: {dropped:?}"
        );
    }
}

#[tokio::test]
async fn an_ingestion_that_loses_its_connections_still_ends_and_may_run_again() {
    let (server, admin) = payments().await;
    let (csv, _) = big_table(150_000);
    let distribution = server.upload_csv(&admin, "payments", &csv).await;
    let path = format!("/api/v1/distributions/{distribution}/ingestions");
    let newest =
        async || json(server.call(Method::GET, &path, Some(&admin), None).await).await[0].clone();
    // Once the load is under way, the database drops this server's connections (on
    // PostgreSQL; a SQLite table file has no server to lose).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let found = newest().await;
        if found["rows_loaded"].as_u64().unwrap_or(0) > 0 || found["state"] != "running" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the load never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop_server_connections(&server);
    // The ingestion ends, one way or the other, rather than stay `running` for ever…
    let ended = loop {
        // The first calls after the drop may be refused (each lost connection fails once).
        let found = newest().await;
        if found["state"].is_string() && found["state"] != "running" {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {found}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        ended["state"] == "ready" || ended["state"] == "failed",
        "{ended}"
    );
    // …so that the distribution can be ingested again.
    let again = server.call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(
        again.status(),
        202,
        "{}",
        again.text().await.unwrap_or_default()
    );
    let ready = wait_ready_for(&server, &admin, &distribution, 120).await;
    assert_eq!(ready["rows_loaded"], 150_000, "{ready}");
}

#[tokio::test]
async fn row_queries_recover_after_the_database_drops_their_connections() {
    let (server, admin) = payments().await;
    let (csv, _) = big_table(500);
    let distribution = server.upload_csv(&admin, "payments", &csv).await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    wait_ready_for(&server, &admin, &distribution, 100).await;
    let page = rows_of(&server, &distribution, None, "limit=5").await;
    assert_eq!(page.status(), 200);
    // The server's kept row connection is among those dropped.
    drop_server_connections(&server);
    // The first answers may ask to retry shortly (the pool's connections fail once each);
    // then every query answers, none with an internal error.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let page = rows_of(&server, &distribution, None, "limit=5&sort=name").await;
        statuses.push(page.status().as_u16());
        if statuses.len() >= 20 && statuses.iter().rev().take(20).all(|s| *s == 200) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().rev().take(20).all(|s| *s == 200),
        "the server answers again: {statuses:?}"
    );
}

/// The publisher marks the `id_number` column of `distribution` sensitive.
async fn mark_id_number_sensitive(server: &TestServer, admin: &str, distribution: &str) {
    let marked = server
        .call(
            Method::PATCH,
            &format!("/api/v1/distributions/{distribution}"),
            Some(admin),
            Some(json!({"columns": [{"name": "id_number", "type": "string", "sensitive": true}]})),
        )
        .await;
    assert_eq!(marked.status(), 200);
}

/// The portal's view of a table, as an anonymous visitor sees it in `language`.
async fn table_page(server: &TestServer, path: &str, language: &str) -> (u16, String) {
    portal_page(server, path, language, None).await
}

/// A signed-in visitor's GET of a portal page in English: status and body.
async fn signed_in_page(server: &TestServer, session: &str, path: &str) -> (u16, String) {
    portal_page(server, path, "en", Some(session)).await
}

/// A portal page in `language`, with a session or without: status and body. A page of rows
/// must not be kept by caches.
async fn portal_page(
    server: &TestServer,
    path: &str,
    language: &str,
    session: Option<&str>,
) -> (u16, String) {
    let mut request = server
        .client
        .get(server.url(path))
        .header("accept-language", language);
    if let Some(session) = session {
        request = request.header("cookie", format!("pdx_session={session}"));
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("{path}: {error}"),
    };
    let status = response.status().as_u16();
    if path.contains("/rows/") && status == 200 {
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{path}: rows are not kept by caches"
        );
    }
    match response.text().await {
        Ok(body) => (status, body),
        Err(error) => panic!("{path}: {error}"),
    }
}

/// Entries in the server's ledger.
fn ledger_size(server: &TestServer) -> u64 {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    pdx_circulation::store::size(&mut conn).unwrap_or(u64::MAX)
}

/// The ledger entry a table page says it was logged as.
fn receipt(body: &str) -> u64 {
    let after = body
        .split("ledger entry #")
        .nth(1)
        .or_else(|| body.split("账本条目 #").nth(1));
    after
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no receipt on the page: {body}"))
}

#[tokio::test]
async fn the_portal_shows_an_open_table_without_its_sensitive_column_and_logs_each_page() {
    let (server, _, distribution) = published_payments(|_| {}, 120).await;
    let table = format!("/datasets/payments/rows/{distribution}");
    // The dataset page links to the table.
    let (status, dataset) = table_page(&server, "/datasets/payments", "en").await;
    assert_eq!(status, 200);
    assert!(dataset.contains(&format!("href=\"{table}\"")), "{dataset}");
    assert!(dataset.contains("View the rows"));
    // Every page of rows: 50 at a time, the sensitive column never shown, each logged.
    let (mut path, mut seen, mut pages) = (table.clone(), Vec::new(), 0);
    loop {
        let (status, body) = table_page(&server, &path, "en").await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !body.contains("id_number") && !body.contains("110101"),
            "{body}"
        );
        let shown: Vec<String> = body
            .split("<td>Resident ")
            .skip(1)
            .filter_map(|rest| rest.split('<').next().map(str::to_owned))
            .collect();
        let entry = ledger_entry(&server, receipt(&body));
        assert_eq!(entry.kind, "data_access");
        assert_eq!(entry.decision, "permit");
        assert_eq!(entry.distribution.as_deref(), Some(distribution.as_str()));
        assert_eq!(
            entry.rows,
            shown.len() as u64,
            "the entry counts the rows shown"
        );
        assert!(entry.actor_user.is_none(), "an anonymous visitor");
        seen.extend(shown);
        pages += 1;
        match next_page(&body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, 3, "120 rows in pages of 50");
    seen.sort_by_key(|n| n.parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..120).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "every row once");
    // Searched and sorted, in Chinese.
    let (status, body) = table_page(
        &server,
        &format!("{table}?q=Resident+11&sort=-name"),
        "zh-CN",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("数据行") && body.contains("aria-sort=\"descending\""),
        "{body}"
    );
    let found: Vec<&str> = body
        .split("<td>Resident ")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .collect();
    assert_eq!(
        found,
        [
            "119", "118", "117", "116", "115", "114", "113", "112", "111", "110", "11"
        ]
    );
    // A hidden column cannot be sorted on, nor named in the hope of a leak.
    let (status, body) = table_page(&server, &format!("{table}?sort=id_number"), "en").await;
    assert_eq!(status, 422);
    assert!(body.contains("cannot be done on this table") && !body.contains("110101"));
    // Another dataset's file, a malformed id, or a file of no dataset: not found.
    for wrong in [
        format!("/datasets/nope/rows/{distribution}"),
        "/datasets/payments/rows/not-an-id".to_owned(),
        format!(
            "/datasets/payments/rows/{}",
            pdx_core::DistributionId::new()
        ),
    ] {
        assert_eq!(table_page(&server, &wrong, "en").await.0, 404, "{wrong}");
    }
}

/// The names of the rows a table page shows (`Resident <n>`).
fn residents_shown(body: &str) -> Vec<u32> {
    body.split("<td>Resident ")
        .skip(1)
        .filter_map(|rest| rest.split('<').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn the_portal_table_is_filtered_by_the_visitors_conditions_kept_in_every_link() {
    let (server, _, distribution) = published_payments(|_| {}, 120).await;
    let table = format!("/datasets/payments/rows/{distribution}");
    // The add form offers the columns the visitor sees, never the hidden one.
    let (status, body) = table_page(&server, &table, "en").await;
    assert_eq!(status, 200);
    for column in ["name", "district", "born", "phone", "amount"] {
        assert!(
            body.contains(&format!("<option value=\"{column}\">")),
            "{column}"
        );
    }
    assert!(!body.contains("id_number"), "{body}");
    assert!(
        body.contains("Dates are written 2026-12-31.") && !body.contains("T08:30:00"),
        "no column holds dates and times: {body}"
    );
    // One condition added with the form: Nanshan's rows (every fourth), logged as such.
    let (status, body) = table_page(
        &server,
        &format!("{table}?fcol=district&fop=eq&fval=+Nanshan+"),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let shown = residents_shown(&body);
    assert_eq!(shown, (0..120).filter(|i| i % 4 == 2).collect::<Vec<_>>());
    assert_eq!(ledger_entry(&server, receipt(&body)).rows, 30);
    assert!(body.contains("district is “Nanshan”"), "{body}");
    // The condition is carried by the forms and shown in the API's call.
    let kept = "filter=district%3Aeq%3ANanshan";
    assert!(
        body.contains("name=\"filter\" value=\"district:eq:Nanshan\""),
        "{body}"
    );
    assert!(
        body.contains(&format!("/api/v1/distributions/{distribution}/rows?{kept}")),
        "{body}"
    );
    // A second one, added beside it; and the first removed by its link.
    let (status, body) = table_page(
        &server,
        &format!("{table}?{kept}&fcol=amount&fop=lt&fval=20"),
        "zh-CN",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(residents_shown(&body), [2, 6, 10, 14, 18]);
    assert!(body.contains("amount 小于 “20”"), "{body}");
    let remove_first = format!("href=\"{table}?filter=amount%3Alt%3A20\"");
    assert!(body.contains(&remove_first), "{body}");
    let (_, body) = table_page(&server, &format!("{table}?filter=amount%3Alt%3A20"), "en").await;
    assert_eq!(residents_shown(&body), (0..20).collect::<Vec<_>>());
    // Paging keeps the condition: 90 rows outside Nanshan, in pages of 50.
    let (_, body) = table_page(
        &server,
        &format!("{table}?filter=district%3Ane%3ANanshan"),
        "en",
    )
    .await;
    let first = residents_shown(&body);
    assert_eq!(first.len(), 50);
    let next = next_page(&body).unwrap_or_default();
    assert!(next.contains("filter=district%3Ane%3ANanshan"), "{next}");
    let (_, body) = table_page(&server, &next, "en").await;
    let second = residents_shown(&body);
    assert_eq!(second.len(), 40);
    assert!(first.iter().chain(&second).all(|i| i % 4 != 2));
    // A value the column cannot hold: refused with the reason and a way back; the hidden
    // column cannot be filtered on.
    let (status, body) =
        table_page(&server, &format!("{table}?filter=amount%3Alt%3Aabc"), "en").await;
    assert_eq!(status, 422);
    assert!(
        body.contains("cannot be done on this table")
            && body.contains("`abc` is not a value of `amount`"),
        "{body}"
    );
    assert!(
        body.contains(&format!("href=\"{table}\"")),
        "the remove link: {body}"
    );
    // A hidden column is refused as one that does not exist, however the filter is written:
    // nothing tells its name from a made-up one.
    for (probe, said) in [
        ("id_number%3Anotnull", "unknown column `id_number`"),
        ("no_such%3Anotnull", "unknown column `no_such`"),
        (
            "id_number%3Aeq%3Ax%3Aeq%3Ay",
            "unknown column `id_number:eq:x`",
        ),
        ("no_such%3Aeq%3Ax%3Aeq%3Ay", "unknown column `no_such:eq:x`"),
    ] {
        let (status, body) = table_page(&server, &format!("{table}?filter={probe}"), "en").await;
        assert_eq!(status, 422, "{probe}");
        assert!(
            body.contains(said) && !body.contains("masked"),
            "{probe}: {body}"
        );
    }
}

#[tokio::test]
async fn the_portal_table_of_conditional_data_is_refused_to_a_visitor_and_the_refusal_logged() {
    let w = world(&residents(10), offer(None, Value::Null)).await;
    let (status, body) = table_page(
        &w.server,
        &format!("/datasets/residents/rows/{}", w.distribution),
        "en",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("110101") && !body.contains("Resident 1"));
    assert!(
        body.contains("sign in") && !body.contains("/workspace/ledger/"),
        "{body}"
    );
    let entry = ledger_entry(&w.server, receipt_of_refusal(&body));
    assert_eq!(entry.decision, "deny");
    assert_eq!(entry.rows, 0);
    // The dataset page offers no table to a visitor who may not read it.
    let (_, dataset) = table_page(&w.server, "/datasets/residents", "en").await;
    assert!(!dataset.contains("/rows/"), "{dataset}");
    // Its publisher, signed in, is offered the table and reads it whole, sensitive columns
    // included.
    let session = w.server.portal_session("admin@civil.test").await;
    let table = format!("/datasets/residents/rows/{}", w.distribution);
    let (_, dataset) = signed_in_page(&w.server, &session, "/datasets/residents").await;
    assert!(dataset.contains(&format!("href=\"{table}\"")), "{dataset}");
    let (status, body) = signed_in_page(&w.server, &session, &table).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("id_number") && body.contains("<td>110101"),
        "{body}"
    );
    assert_eq!(ledger_entry(&w.server, receipt(&body)).rows, 10);
}

#[tokio::test]
async fn the_portal_table_counts_against_the_same_anonymous_limit_as_the_api() {
    let (server, admin) = payments_with(|c| c.http.anonymous_data_per_minute = 2).await;
    let distribution = server.upload_csv(&admin, "payments", &residents(5)).await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    wait_ready(&server, &admin, &distribution).await;
    let table = format!("/datasets/payments/rows/{distribution}");
    assert_eq!(table_page(&server, &table, "en").await.0, 200);
    assert_eq!(
        rows_of(&server, &distribution, None, "limit=1")
            .await
            .status(),
        200
    );
    // The third anonymous data request of the minute, whichever way it comes, waits.
    let before = ledger_size(&server);
    let sent = server
        .client
        .get(server.url(&table))
        .header("accept-language", "en")
        .send()
        .await;
    let Ok(limited) = sent else {
        panic!("the third request failed")
    };
    assert_eq!(limited.status(), 429);
    assert!(
        header(&limited, "retry-after")
            .is_some_and(|w| w.parse::<u64>().is_ok_and(|w| (1..=60).contains(&w)))
    );
    let Ok(body) = limited.text().await else {
        panic!("no page")
    };
    assert!(body.contains("Too many data requests") && !body.contains("Resident"));
    expect_problem(
        rows_of(&server, &distribution, None, "limit=1").await,
        429,
        "too_many_requests",
    )
    .await;
    assert_eq!(ledger_size(&server), before, "turned away, not logged");
}

#[tokio::test]
async fn the_publisher_reads_its_own_table_whole_and_is_not_counted_as_anonymous() {
    // An anonymous limit of two data requests a minute: the publisher, signed in, is not held
    // to it, and sees the sensitive column its public visitors never do.
    let (server, _, distribution) =
        published_payments(|c| c.http.anonymous_data_per_minute = 2, 60).await;
    let session = server.portal_session("admin@stats.test").await;
    let table = format!("/datasets/payments/rows/{distribution}");
    let (status, dataset) = signed_in_page(&server, &session, "/datasets/payments").await;
    assert_eq!(status, 200);
    assert!(dataset.contains(&format!("href=\"{table}\"")), "{dataset}");
    for _ in 0..4 {
        let (status, body) = signed_in_page(&server, &session, &table).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("id_number") && body.contains("<td>110101"),
            "the publisher sees its sensitive column whole: {body}"
        );
        let entry = ledger_entry(&server, receipt(&body));
        assert_eq!(entry.decision, "permit");
        assert_eq!(entry.rows, 50);
        assert!(entry.actor_user.is_some(), "logged as the signed-in user");
    }
    // The same pages to a visitor without a session: the column is left out, and the limit
    // holds from the third page of the minute.
    for _ in 0..2 {
        let (status, body) = table_page(&server, &table, "en").await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("id_number") && !body.contains("110101"));
    }
    assert_eq!(table_page(&server, &table, "en").await.0, 429);
    // The signed-in publisher is still not held to it.
    assert_eq!(signed_in_page(&server, &session, &table).await.0, 200);
}

#[tokio::test]
async fn refused_table_pages_count_towards_the_run_of_refusals_that_stops_an_address() {
    let w = world_with(&residents(10), offer(None, Value::Null), |c| {
        c.http.failed_data_per_minute = 3;
    })
    .await;
    let table = format!("/datasets/residents/rows/{}", w.distribution);
    for _ in 0..3 {
        let (status, body) = table_page(&w.server, &table, "en").await;
        assert_eq!(status, 403, "each refusal is shown and logged: {body}");
        assert_eq!(
            ledger_entry(&w.server, receipt_of_refusal(&body)).decision,
            "deny"
        );
    }
    // The fourth request from that address, through the portal or the API, waits and is not
    // logged: probing a conditional table page by page is no way around the run limit.
    let before = ledger_size(&w.server);
    let sent = w
        .server
        .client
        .get(w.server.url(&table))
        .header("accept-language", "en")
        .send()
        .await;
    let Ok(stopped) = sent else {
        panic!("the fourth request failed")
    };
    assert_eq!(stopped.status(), 429);
    assert!(header(&stopped, "retry-after").is_some_and(|w| w.parse::<u64>().is_ok()));
    expect_problem(rows(&w, None, "limit=1").await, 429, "too_many_requests").await;
    assert_eq!(ledger_size(&w.server), before, "turned away, not logged");
}

/// The ledger entry a refusal page names.
fn receipt_of_refusal(body: &str) -> u64 {
    body.split("recorded in the ledger as entry #")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("the refusal's receipt: {body}"))
}

#[tokio::test]
async fn a_grant_holder_reads_conditional_rows_in_the_portal_for_a_declared_purpose() {
    let rules = json!({
        "allow": ["name", "district", "amount"],
        "masks": {"phone": {"rule": "keep_last", "characters": 4}},
    });
    let w = world(&residents(60), offer(None, rules)).await;
    let granted = grant(&w, Value::Null).await;
    let session = w.server.portal_session("dev@acme.test").await;
    // The dataset page offers the holder its loaded file's rows, once a purpose is chosen.
    let (status, dataset) = signed_in_page(&w.server, &session, "/datasets/residents").await;
    assert_eq!(status, 200);
    assert!(
        dataset.contains("action=\"/datasets/residents/rows\"")
            && dataset.contains(&format!("value=\"{}\"", w.distribution))
            && dataset.contains("name=\"purpose\""),
        "{dataset}"
    );
    // The form's answer sends the holder on to the file's rows.
    let chosen = w
        .server
        .client
        .get(w.server.url(&format!(
            "/datasets/residents/rows?distribution={}&purpose=research",
            w.distribution
        )))
        .header("cookie", format!("pdx_session={session}"))
        .send()
        .await;
    let Ok(chosen) = chosen else {
        panic!("the form's answer")
    };
    assert_eq!(chosen.status(), 303);
    let table = header(&chosen, "location").unwrap_or_default();
    assert_eq!(
        table,
        format!(
            "/datasets/residents/rows/{}?purpose=research",
            w.distribution
        )
    );
    let (status, body) = signed_in_page(&w.server, &session, &table).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("id_number") && !body.contains("<td>110101"),
        "the grant's hidden column is left out: {body}"
    );
    assert!(
        body.contains("*******0007") && !body.contains("13800130007"),
        "the phone is masked as the grant says"
    );
    assert!(body.contains("X-PDX-Purpose: research"));
    let api_call = body
        .split("<code>GET ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("the API call on the page: {body}"));
    assert!(
        !api_call.contains("purpose"),
        "the API takes the purpose as a header: {api_call}"
    );
    let entry = ledger_entry(&w.server, receipt(&body));
    assert_eq!(entry.decision, "permit");
    assert_eq!(entry.purpose.as_deref(), Some("research"));
    assert_eq!(entry.grant.as_deref(), Some(granted.as_str()));
    assert_eq!(entry.rows, 50);
    // The next page keeps the purpose.
    assert!(
        body.contains("?purpose=research&amp;after="),
        "the next page's link keeps the purpose: {body}"
    );
    // A purpose the vocabulary does not have is a refusal, logged.
    let (status, body) = signed_in_page(&w.server, &session, &format!("{table}x")).await;
    assert_eq!(status, 403, "{body}");
    // A signed-in reader's receipt links to the entry in the ledger browser.
    let seq = body
        .split("href=\"/workspace/ledger/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("the refusal's receipt: {body}"));
    let refused = ledger_entry(&w.server, seq);
    assert_eq!((refused.decision.as_str(), refused.rows), ("deny", 0));
}

/// How many of this test server's PostgreSQL connections wait for a lock.
fn waiting_for_a_lock(conn: &mut pdx_storage::DbConnection) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' \
         AND application_name = current_setting('application_name'))",
    ))
    .get_result(conn)
    .unwrap_or_else(|e| panic!("pg_stat_activity: {e}"))
}

#[tokio::test]
async fn a_row_query_whose_client_went_away_is_stopped_and_frees_its_turn() {
    // One row query at a time, each allowed ten minutes: a query left to run would hold the
    // only turn far longer than this test waits.
    let (server, admin, distribution) = published_payments(
        |c| {
            c.rows.query_timeout_ms = 600_000;
            c.rows.concurrent_queries = Some(1);
        },
        50,
    )
    .await;
    // The test holds a lock on the row table, so that the query waits exactly as long as the
    // test wants. Only PostgreSQL lets a statement be held like that; a SQLite table file's
    // statement is stopped through its deadline, which `pdx-rows`' `watch` tests.
    if server.database.backend() != pdx_storage::Backend::Postgres {
        return;
    }
    let ingestions = json(
        server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{distribution}/ingestions"),
                Some(&admin),
                None,
            )
            .await,
    )
    .await;
    let table = format!(
        "row_table_{}",
        ingestions[0]["id"].as_str().unwrap_or("").replace('-', "")
    );
    let Ok(mut lock) = server.database.database().conn() else {
        panic!("no connection")
    };
    let locked = diesel::connection::SimpleConnection::batch_execute(
        &mut *lock,
        &format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"),
    );
    assert!(locked.is_ok(), "{locked:?}");
    let Ok(mut watcher) = server.database.database().conn() else {
        panic!("no connection")
    };
    assert_eq!(waiting_for_a_lock(&mut watcher), 0);
    let entries = ledger_size(&server);

    // A client asks for rows, and goes away while the query waits.
    let client = server
        .send_get_and_hold(
            &format!("/api/v1/distributions/{distribution}/rows?limit=5"),
            &[],
        )
        .await;
    let waited = wait_for(|| waiting_for_a_lock(&mut watcher) == 1, 60).await;
    assert!(waited, "the row query never reached the locked table");
    drop(client);

    // The server stops the query although the table is still locked…
    let stopped = wait_for(|| waiting_for_a_lock(&mut watcher) == 0, 30).await;
    assert!(stopped, "the abandoned query still waits");
    let metrics = metrics(&server).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pdx_rows_abandoned_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    let committed = diesel::connection::SimpleConnection::batch_execute(&mut *lock, "COMMIT");
    assert!(committed.is_ok(), "{committed:?}");
    // …which delivered nothing, so the ledger has nothing to record…
    assert_eq!(ledger_size(&server), entries);
    // …and its turn is free: the next query answers at once rather than wait its turn out.
    let page = rows_of(&server, &distribution, None, "limit=5").await;
    assert_eq!(page.status(), 200);
    assert_eq!(json(page).await["rows"].as_array().map(Vec::len), Some(5));
    assert_eq!(ledger_size(&server), entries + 1);
}

/// Waits up to `secs` seconds for `done`, looking every 50 ms; whether it came true.
async fn wait_for(mut done: impl FnMut() -> bool, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test]
async fn an_equality_filter_pages_through_one_range_of_its_index_whatever_the_value() {
    // Futian and Luohu alternate; Yantian holds three rows, far apart.
    let rare = [7, 1_999, 3_998];
    let mut csv = String::from("name,district,amount\n");
    let mut by_district: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for i in 0..4_000_usize {
        let district = match i {
            _ if rare.contains(&i) => "Yantian",
            _ if i % 2 == 0 => "Futian",
            _ => "Luohu",
        };
        let name = format!("R{i:05}");
        csv.push_str(&format!("{name},{district},{}\n", (i * 37) % 1_000));
        by_district.entry(district).or_default().push(name);
    }
    let (server, admin) = payments().await;
    let distribution = server.upload_csv(&admin, "payments", &csv).await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    let ready = wait_ready(&server, &admin, &distribution).await;
    let page = |query: String| {
        let (server, admin, distribution) = (&server, &admin, &distribution);
        async move {
            let answer = rows_of(server, distribution, Some(admin), &query).await;
            assert_eq!(answer.status(), 200, "{query}");
            json(answer).await
        }
    };
    let names = |answer: &Value| -> Vec<String> {
        answer["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let none = Vec::new();
    for (district, limit) in [("Futian", 500), ("Yantian", 2), ("Nowhere", 100)] {
        let want = by_district.get(district).unwrap_or(&none);
        let first = format!("filter=district:eq:{district}&columns=name&limit={limit}");
        let mut query = first.clone();
        let mut got = Vec::new();
        loop {
            let answer = page(query).await;
            got.extend(names(&answer));
            // Between pages, a query planned for its values, on the same connections.
            let sorted = page(format!(
                "filter=district:eq:{district}&sort=-amount&limit=1&total=true"
            ))
            .await;
            assert_eq!(sorted["total"], want.len(), "{district}");
            match answer["next"].as_str() {
                Some(next) => query = format!("{first}&after={next}"),
                None => break,
            }
        }
        assert_eq!(&got, want, "{district}, paged by {limit}");
    }
    let luohu = &by_district["Luohu"];
    let answer = page("filter=district:eq:Luohu&columns=name&limit=50&offset=120".into()).await;
    assert_eq!(names(&answer), luohu[120..170]);

    // On PostgreSQL such a page is planned once for every value. That one plan reads the
    // value's range of the district's index: never the table in row order, which for Yantian
    // would read all of it to find three rows.
    if server.database.backend() != pdx_storage::Backend::Postgres {
        return;
    }
    let columns: Vec<pdx_rows::model::TableColumn> =
        serde_json::from_value(ready["columns"].clone()).unwrap();
    let district = columns.iter().position(|c| c.name == "district").unwrap();
    assert!(columns[district].indexed);
    let query = pdx_rows::query::RowQuery {
        filters: vec!["district:eq:Yantian".into()],
        after: Some(pdx_rows::query::cursor(&[], &[], 8)),
        limit: pdx_rows::query::Limit::Rows(3),
        ..Default::default()
    };
    let audience = pdx_rows::mask::Audience::Owner;
    let view = pdx_rows::mask::View::of(&audience, &columns);
    let table = format!(
        "row_table_{}",
        ready["id"].as_str().unwrap_or("").replace('-', "")
    );
    let statement = query
        .plan(&columns, &view)
        .unwrap()
        .select(pdx_storage::Backend::Postgres, &table);
    assert!(statement.fixed_plan, "{}", statement.sql);
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    let prepared = diesel::connection::SimpleConnection::batch_execute(
        &mut *conn,
        &format!(
            "SET plan_cache_mode = force_generic_plan; PREPARE page AS {}",
            statement.sql
        ),
    );
    assert!(prepared.is_ok(), "{prepared:?}");
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: Vec<Line> = diesel::sql_query("EXPLAIN EXECUTE page('Yantian', 8, 3)")
        .load(&mut *conn)
        .unwrap_or_else(|e| panic!("EXPLAIN: {e}"));
    let plan: Vec<String> = plan.into_iter().map(|l| l.line).collect();
    let index = format!("Index Scan using {table}_c{district} on {table}");
    assert!(
        plan.iter().any(|l| l.contains(&index)),
        "not one range of the index: {plan:#?}"
    );
    assert!(
        plan.iter()
            .all(|l| !l.contains("Sort") && !l.contains("Filter")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn the_portal_tables_filter_hint_shows_dates_and_times_where_a_column_holds_them() {
    let (server, admin) = payments().await;
    let distribution = server
        .upload_csv(
            &admin,
            "payments",
            "stop,seen_at\nFutian,2026-03-01T08:30:00\nLuohu,2026-03-02T09:00:00\n",
        )
        .await;
    server.submit_and_publish(&admin, &admin, "payments").await;
    let ready = wait_ready(&server, &admin, &distribution).await;
    assert_eq!(ready["columns"][1]["type"], "datetime", "{ready}");
    let table = format!("/datasets/payments/rows/{distribution}");
    let (status, body) = table_page(&server, &table, "en").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("dates and times 2026-12-31T08:30:00"),
        "{body}"
    );
    let (_, zh) = table_page(&server, &table, "zh-CN").await;
    assert!(zh.contains("日期时间写作 2026-12-31T08:30:00"), "{zh}");
    // Written as the hint says, the value finds its row.
    let (status, body) = table_page(
        &server,
        &format!("{table}?fcol=seen_at&fop=eq&fval=2026-03-02T09:00:00"),
        "en",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Luohu") && !body.contains("<td>Futian"),
        "{body}"
    );
}

/// The server's metrics, as Prometheus reads them.
async fn metrics(server: &TestServer) -> String {
    server
        .get("/metrics")
        .await
        .text()
        .await
        .unwrap_or_default()
}

/// The value of the gauge `name` in the server's metrics (zero until it is first set).
async fn gauge(server: &TestServer, name: &str) -> f64 {
    metrics(server)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Mappings of the server's row table files in this process (the server runs in it).
fn table_files_mapped(server: &TestServer) -> usize {
    let tables = server.config.tables_dir().unwrap_or_else(|e| panic!("{e}"));
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter(|line| line.contains(&*tables.to_string_lossy()))
        .count()
}

/// Connections other than the test's that last ran a statement on the PostgreSQL table
/// `table`: the server's kept row readers of it.
fn pg_connections_reading(server: &TestServer, table: &str) -> usize {
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
         AND query LIKE '%{table}%')"
    )))
    .get_result(&mut *conn)
    .unwrap_or_else(|e| panic!("pg_stat_activity: {e}"));
    usize::try_from(count).unwrap_or(0)
}

#[tokio::test]
async fn row_query_connections_close_once_idle_and_open_again_when_needed() {
    let (server, admin, distribution) =
        published_payments(|config| config.rows.idle_connection_secs = 2, 20).await;
    let ingestion = wait_ready(&server, &admin, &distribution).await["id"]
        .as_str()
        .unwrap_or_default()
        .replace('-', "");
    let table = format!("row_table_{ingestion}");
    // What a kept connection holds: on SQLite the table file mapped into this process (the
    // server runs in it), on PostgreSQL a backend whose last statement read the table.
    let readers = || match server.database.backend() {
        pdx_storage::Backend::Sqlite => table_files_mapped(&server),
        pdx_storage::Backend::Postgres => pg_connections_reading(&server, &table),
    };
    let page = format!("/api/v1/distributions/{distribution}/rows?limit=5");
    let answered = server.get(&page).await;
    assert_eq!(answered.status(), 200);

    // The query's connection is kept for the next one…
    assert!(readers() > 0, "no connection was kept");
    // …and closed once it stayed unused for two seconds.
    assert!(
        wait_for_async(|| async { readers() == 0 }).await,
        "the idle connection was never closed"
    );

    // The next query opens one again.
    let again = server.get(&page).await;
    assert_eq!(again.status(), 200);
    let body = again.text().await.unwrap_or_default();
    assert!(body.contains("Resident 1"), "{body}");
    assert!(readers() > 0, "no connection was kept");
}

/// Polls `check` every 100 ms for up to ten seconds: whether it came true.
async fn wait_for_async<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_page_at_an_offset_starts_after_a_page_served_before_and_holds_the_same_rows() {
    let (server, _, distribution) = published_payments(|_| {}, 1_000).await;
    let page = |query: String| {
        let (server, distribution) = (&server, &distribution);
        async move {
            let response = rows_of(server, distribution, None, &query).await;
            assert_eq!(response.status(), 200, "{query}");
            let body = json(response).await;
            body["rows"].as_array().cloned().unwrap_or_default()
        }
    };
    // Queries whose rows are read in the table's order, by an indexed column's range, sorted
    // with ties, sorted descending, and found by text.
    for query in [
        "filter=district:eq:Nanshan",
        "sort=district,-amount",
        "filter=amount:gte:100&sort=-name",
        "q=resident+1",
    ] {
        let all = page(format!("{query}&limit=1000")).await;
        assert!(all.len() > 100, "{query}: {}", all.len());
        // Each page is the slice of all rows at its offset, whether it is read from the first
        // row or after the end of a page served before (50, 150, 200, 87 …).
        for offset in [0, 100, 37, 150, 200, 230, 5, 240] {
            let got = page(format!("{query}&limit=50&offset={offset}")).await;
            let end = (offset + 50).min(all.len());
            let expected = all.get(offset..end).unwrap_or_default();
            assert_eq!(got, expected, "{query} at offset {offset}");
        }
    }
    assert!(
        gauge(&server, "pdx_rows_pages_resumed_total").await >= 4.0 * 5.0,
        "pages at offsets started after pages served before"
    );
}
