//! The catalog over real HTTP: the publishing workflow, uploads, search in English and
//! Chinese with facets, visibility of drafts, versions, classification rules and ETags.

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, header, json};
use reqwest::Method;
use serde_json::{Value, json};

fn dataset(slug: &str, title: &str, description: &str) -> Value {
    json!({
        "slug": slug,
        "title": title,
        "description": description,
        "keywords": ["bus", "公交"],
        "themes": ["TRAN"],
        "contact_name": "Data Office",
        "contact_email": "data@transport.test",
        "spatial": "深圳市 Shenzhen",
        "temporal_start": "2024-01-01",
        "temporal_end": "2024-12-31",
        "update_frequency": "daily",
        "languages": ["zh", "en"],
        "resource_code": "SZ-TRAN-0001",
        "sharing_class": "unconditional",
        "opening_class": "open",
        "grade": "general",
        "licence": "CC-BY-4.0",
        "landing_page": "https://transport.test/bus-stops"
    })
}

struct Agency {
    server: TestServer,
    publisher: String,
    reviewer: String,
}

async fn agency() -> Agency {
    let server = TestServer::spawn().await;
    server.create_org("transport", OrgKind::Agency).await;
    server.create_org("health", OrgKind::Agency).await;
    server
        .create_user("transport", "pub@transport.test", &[Role::Publisher])
        .await;
    server
        .create_user("transport", "rev@transport.test", &[Role::Reviewer])
        .await;
    server
        .create_user("health", "pub@health.test", &[Role::Publisher, Role::Admin])
        .await;
    let publisher = server.access_token("pub@transport.test").await;
    let reviewer = server.access_token("rev@transport.test").await;
    Agency {
        server,
        publisher,
        reviewer,
    }
}

async fn upload_csv(server: &TestServer, token: &str, dataset: &str, body: &'static str) -> Value {
    let response = server
        .client
        .post(server.url(&format!(
            "/api/v1/datasets/{dataset}/distributions?title=Stops%20CSV"
        )))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .header("content-disposition", "attachment; filename=\"stops.csv\"")
        .body(body)
        .send()
        .await;
    let Ok(response) = response else {
        panic!("upload failed")
    };
    assert_eq!(response.status(), 201);
    json(response).await
}

async fn publish(a: &Agency, slug: &str, title: &str, description: &str) -> Value {
    let created = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(dataset(slug, title, description)),
        )
        .await;
    assert_eq!(created.status(), 201);
    upload_csv(&a.server, &a.publisher, slug, "stop_id,name\n1,Futian\n").await;
    let submitted = a
        .server
        .call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/submit"),
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(submitted.status(), 200);
    let published = a
        .server
        .call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/publish"),
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(published.status(), 200);
    json(published).await
}

#[tokio::test]
async fn publisher_creates_uploads_submits_reviewer_publishes_and_anyone_finds_it() {
    let a = agency().await;
    let created = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(dataset(
                "bus-stops",
                "深圳市公交站点 Shenzhen bus stops",
                "All bus stops of the city, 每日更新.",
            )),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created = json(created).await;
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 0);

    // Multipart upload with a column schema, and a raw-body upload.
    let form = reqwest::multipart::Form::new()
        .text("title", "Bus stops (GeoJSON)")
        .text(
            "columns",
            r#"[{"name":"stop_id","type":"string"},{"name":"geometry","type":"geometry"}]"#,
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
            )
            .file_name("stops.geojson")
            .mime_str("application/geo+json")
            .unwrap_or_else(|_| panic!()),
        );
    let multipart = a
        .server
        .client
        .post(a.server.url("/api/v1/datasets/bus-stops/distributions"))
        .bearer_auth(&a.publisher)
        .multipart(form)
        .send()
        .await;
    let Ok(multipart) = multipart else { panic!() };
    assert_eq!(multipart.status(), 201);
    let geojson = json(multipart).await;
    assert_eq!(geojson["format"], "GeoJSON");
    assert_eq!(geojson["columns"][1]["type"], "geometry");
    assert_eq!(geojson["byte_size"], 42);
    let csv = upload_csv(
        &a.server,
        &a.publisher,
        "bus-stops",
        "stop_id,name\n1,Futian\n",
    )
    .await;
    assert_eq!(csv["format"], "CSV");
    assert_eq!(csv["media_type"], "text/csv");
    assert_eq!(csv["byte_size"], 22);
    assert_eq!(csv["sha256"], sha256_hex(b"stop_id,name\n1,Futian\n"));

    // Not yet public.
    assert_eq!(
        a.server
            .call(Method::GET, "/api/v1/datasets/bus-stops", None, None)
            .await
            .status(),
        404
    );
    let early = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/bus-stops/publish",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(
        early.status(),
        409,
        "a draft cannot be published before submission"
    );

    let submitted = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/bus-stops/submit",
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(json(submitted).await["status"], "in_review");
    let self_publish = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/bus-stops/publish",
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(self_publish.status(), 403, "a publisher cannot approve");
    let published = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/bus-stops/publish",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(published.status(), 200);
    let published = json(published).await;
    assert_eq!(published["status"], "published");
    assert_eq!(published["version"], 1);

    for query in ["shenzhen", "Bus", "公交", "站点", "公"] {
        let found = json(
            a.server
                .call(
                    Method::GET,
                    &format!("/api/v1/datasets?q={}", pdx_tests::urlencode(query)),
                    None,
                    None,
                )
                .await,
        )
        .await;
        assert_eq!(found["total"], 1, "query {query}: {found}");
        assert_eq!(found["items"][0]["slug"], "bus-stops");
    }
    let nothing = json(
        a.server
            .call(Method::GET, "/api/v1/datasets?q=hospital", None, None)
            .await,
    )
    .await;
    assert_eq!(nothing["total"], 0);

    let faceted = json(
        a.server
            .call(Method::GET, "/api/v1/datasets?q=bus", None, None)
            .await,
    )
    .await;
    let facets = &faceted["facets"];
    assert_eq!(
        facets["theme"],
        json!([{ "value": "TRAN", "count": 1, "name": "交通运输 Transport" }])
    );
    assert_eq!(
        facets["format"],
        json!([{ "value": "CSV", "count": 1 }, { "value": "GeoJSON", "count": 1 }])
    );
    assert_eq!(
        facets["opening_class"],
        json!([{ "value": "open", "count": 1 }])
    );
    assert_eq!(
        facets["licence"],
        json!([{ "value": "CC-BY-4.0", "count": 1, "name": "Creative Commons Attribution 4.0 International" }])
    );
    assert_eq!(facets["publisher"][0]["count"], 1);
    let filtered = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?format=CSV&theme=TRAN&publisher=transport",
                None,
                None,
            )
            .await,
    )
    .await;
    assert_eq!(filtered["total"], 1);
    let excluded = json(
        a.server
            .call(Method::GET, "/api/v1/datasets?theme=HEAL", None, None)
            .await,
    )
    .await;
    assert_eq!(excluded["total"], 0);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn facet_counts_cover_every_match_and_withdrawal_removes_from_search() {
    let a = agency().await;
    publish(&a, "stops-a", "Bus stops A 公交站点", "Stops of district A").await;
    publish(&a, "stops-b", "Bus stops B 公交站点", "Stops of district B").await;
    let both = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?q=公交&per_page=1",
                None,
                None,
            )
            .await,
    )
    .await;
    assert_eq!(both["total"], 2);
    assert_eq!(both["items"].as_array().map(Vec::len), Some(1), "paged");
    assert_eq!(
        both["facets"]["theme"],
        json!([{ "value": "TRAN", "count": 2, "name": "交通运输 Transport" }])
    );
    assert_eq!(
        both["facets"]["publisher"][0]["name"], "Organisation transport",
        "publishers are named beside their ids"
    );
    assert_eq!(
        both["facets"]["keyword"],
        json!([{ "value": "bus", "count": 2 }, { "value": "公交", "count": 2 }])
    );

    let withdrawn = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/stops-a/withdraw",
            Some(&a.reviewer),
            Some(json!({ "comment": "superseded" })),
        )
        .await;
    assert_eq!(json(withdrawn).await["status"], "withdrawn");
    let after = json(
        a.server
            .call(Method::GET, "/api/v1/datasets?q=公交", None, None)
            .await,
    )
    .await;
    assert_eq!(after["total"], 1);
    assert_eq!(after["items"][0]["slug"], "stops-b");
    assert_eq!(
        after["facets"]["theme"],
        json!([{ "value": "TRAN", "count": 1, "name": "交通运输 Transport" }])
    );
    // The withdrawn record and its versions stay readable.
    let record = json(
        a.server
            .call(Method::GET, "/api/v1/datasets/stops-a", None, None)
            .await,
    )
    .await;
    assert_eq!(record["status"], "withdrawn");
}

#[tokio::test]
async fn drafts_never_leak_to_other_organisations_or_the_public() {
    let a = agency().await;
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(dataset("secret-draft", "Draft 草稿 bus", "not yet public")),
        )
        .await;
    let other = a.server.access_token("pub@health.test").await;
    for token in [None, Some(other.as_str())] {
        assert_eq!(
            a.server
                .call(Method::GET, "/api/v1/datasets/secret-draft", token, None)
                .await
                .status(),
            404
        );
        assert_eq!(
            a.server
                .call(
                    Method::GET,
                    "/api/v1/datasets/secret-draft/versions",
                    token,
                    None
                )
                .await
                .status(),
            404
        );
        let search = json(
            a.server
                .call(Method::GET, "/api/v1/datasets?q=draft", token, None)
                .await,
        )
        .await;
        assert_eq!(search["total"], 0);
    }
    let theirs = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?mine=true",
                Some(&other),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(theirs["total"], 0);
    let ours = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?mine=true",
                Some(&a.reviewer),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(ours["total"], 1);
    assert_eq!(ours["items"][0]["status"], "draft");
    let edit = a
        .server
        .call(
            Method::PUT,
            "/api/v1/datasets/secret-draft",
            Some(&other),
            Some(dataset("secret-draft", "Hijack", "x")),
        )
        .await;
    assert_eq!(edit.status(), 404);
    let upload = a
        .server
        .client
        .post(a.server.url("/api/v1/datasets/secret-draft/distributions"))
        .bearer_auth(&other)
        .header("content-type", "text/csv")
        .body("a\n1\n")
        .send()
        .await;
    assert_eq!(upload.map(|r| r.status().as_u16()).ok(), Some(404));
}

#[tokio::test]
async fn invalid_classifications_are_rejected_naming_the_rule() {
    let a = agency().await;
    let cases = [
        (
            "unconditional",
            "closed",
            "core",
            "core_sharing_must_be_conditional_or_none",
        ),
        ("none", "conditional", "core", "core_opening_must_be_closed"),
        (
            "conditional",
            "open",
            "important",
            "important_opening_must_not_be_open",
        ),
    ];
    for (sharing, opening, grade, rule) in cases {
        let mut body = dataset(&format!("bad-{rule}").replace('_', "-"), "Bad", "bad");
        body["sharing_class"] = json!(sharing);
        body["opening_class"] = json!(opening);
        body["grade"] = json!(grade);
        let response = a
            .server
            .call(
                Method::POST,
                "/api/v1/datasets",
                Some(&a.publisher),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), 422, "{rule}");
        let problem = json(response).await;
        assert_eq!(problem["code"], "classification_rejected");
        assert_eq!(problem["rule"], rule);
    }
    let mut unlicensed = dataset("open-unlicensed", "Open", "no licence");
    unlicensed["licence"] = Value::Null;
    let response = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(unlicensed),
        )
        .await;
    assert_eq!(json(response).await["rule"], "open_data_requires_licence");
    let mine = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?mine=true",
                Some(&a.publisher),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(mine["total"], 0, "nothing was saved");
}

#[tokio::test]
async fn republishing_increments_the_version_and_keeps_history_and_audits_reclassification() {
    let a = agency().await;
    publish(&a, "air", "Air quality 空气质量", "Hourly readings").await;
    let revised = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/air/revise",
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(json(revised).await["status"], "draft");
    let mut changed = dataset(
        "air",
        "Air quality 空气质量 v2",
        "Hourly readings, corrected",
    );
    changed["opening_class"] = json!("conditional");
    let updated = a
        .server
        .call(
            Method::PUT,
            "/api/v1/datasets/air",
            Some(&a.publisher),
            Some(changed),
        )
        .await;
    assert_eq!(updated.status(), 200);
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets/air/submit",
            Some(&a.publisher),
            None,
        )
        .await;
    let no_comment = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/air/return",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(no_comment.status(), 422);
    let returned = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/air/return",
            Some(&a.reviewer),
            Some(json!({ "comment": "add the station list" })),
        )
        .await;
    let returned = json(returned).await;
    assert_eq!(
        (
            returned["status"].as_str(),
            returned["review_comment"].as_str()
        ),
        (Some("draft"), Some("add the station list"))
    );
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets/air/submit",
            Some(&a.publisher),
            None,
        )
        .await;
    let v2 = json(
        a.server
            .call(
                Method::POST,
                "/api/v1/datasets/air/publish",
                Some(&a.reviewer),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(v2["version"], 2);

    let versions = json(
        a.server
            .call(Method::GET, "/api/v1/datasets/air/versions", None, None)
            .await,
    )
    .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(
        versions[1]["snapshot"]["dataset"]["title"],
        "Air quality 空气质量"
    );
    assert_eq!(
        versions[1]["snapshot"]["distributions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let auditor = {
        a.server
            .create_user("platform", "audit@pdx.test", &[Role::Auditor])
            .await;
        a.server.access_token("audit@pdx.test").await
    };
    for kind in [
        "dataset_published",
        "classification_changed",
        "dataset_returned",
    ] {
        let events = json(
            a.server
                .call(
                    Method::GET,
                    &format!("/api/v1/audit-events?kind={kind}"),
                    Some(&auditor),
                    None,
                )
                .await,
        )
        .await;
        assert!(
            events["total"].as_i64().unwrap_or(0) >= 1,
            "{kind}: {events}"
        );
    }
}

#[tokio::test]
async fn oversized_upload_is_refused_and_leaves_nothing() {
    let server = TestServer::spawn_with(|c| c.catalog.max_upload_bytes = 16).await;
    server.create_org("transport", OrgKind::Agency).await;
    server
        .create_user("transport", "pub@transport.test", &[Role::Publisher])
        .await;
    let token = server.access_token("pub@transport.test").await;
    server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&token),
            Some(dataset("big", "Big", "big")),
        )
        .await;
    let response = server
        .client
        .post(server.url("/api/v1/datasets/big/distributions"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body("x".repeat(1000))
        .send()
        .await;
    let Ok(response) = response else { panic!() };
    assert_eq!(response.status(), 413);
    assert_eq!(json(response).await["code"], "payload_too_large");
    let record = json(
        server
            .call(Method::GET, "/api/v1/datasets/big", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(record["distributions"], json!([]));
    let blobs = server.config.data_dir.join("blobs");
    let files = walk(&blobs);
    assert!(files.is_empty(), "no blob left behind: {files:?}");
}

#[tokio::test]
async fn an_upload_declared_too_large_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::spawn_with(|c| c.catalog.max_upload_bytes = 1024).await;
    server.create_org("transport", OrgKind::Agency).await;
    server
        .create_user("transport", "pub@transport.test", &[Role::Publisher])
        .await;
    let token = server.access_token("pub@transport.test").await;
    server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&token),
            Some(dataset("big", "Big", "big")),
        )
        .await;
    // Headers announcing 10 GB, then nothing: the answer must not wait for the body.
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /api/v1/datasets/big/distributions HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Content-Length: 10000000000\r\n\r\nstation,level\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("the server waited for a body it will refuse"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    assert!(walk(&server.config.data_dir.join("blobs")).is_empty());
}

#[tokio::test]
async fn formats_and_media_types_that_would_break_headers_or_file_names_are_refused() {
    let server = TestServer::spawn().await;
    server.create_org("transport", OrgKind::Agency).await;
    server
        .create_user("transport", "pub@transport.test", &[Role::Publisher])
        .await;
    let token = server.access_token("pub@transport.test").await;
    server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&token),
            Some(dataset("odd", "Odd", "odd")),
        )
        .await;
    for (query, content_type, field) in [
        ("format=..%2F..%2Fetc", "text/csv", "format"),
        (
            "format=CSV%0D%0ASet-Cookie%3A%20a%3Db",
            "text/csv",
            "format",
        ),
        ("format=CSV", "html", "media_type"),
        ("format=CSV", "text/<script>", "media_type"),
    ] {
        let response = server
            .client
            .post(server.url(&format!("/api/v1/datasets/odd/distributions?{query}")))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body("a,b\n1,2\n")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(json(response).await["field"], field, "{query}");
    }
    assert!(
        walk(&server.config.data_dir.join("blobs")).is_empty(),
        "nothing kept"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn reads_carry_an_etag_and_answer_304_when_unchanged() {
    let a = agency().await;
    publish(&a, "parking", "Parking 停车场", "Occupancy").await;
    let first = a.server.get("/api/v1/datasets/parking").await;
    let Some(etag) = header(&first, "etag") else {
        panic!("no ETag")
    };
    let again = a
        .server
        .client
        .get(a.server.url("/api/v1/datasets/parking"))
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(again.map(|r| r.status().as_u16()).ok(), Some(304));
    let search = a.server.get("/api/v1/datasets?q=parking").await;
    let Some(search_etag) = header(&search, "etag") else {
        panic!("no ETag on search")
    };
    let cached = a
        .server
        .client
        .get(a.server.url("/api/v1/datasets?q=parking"))
        .header("if-none-match", &search_etag)
        .send()
        .await;
    assert_eq!(cached.map(|r| r.status().as_u16()).ok(), Some(304));
}

#[tokio::test]
async fn themes_and_licences_are_served() {
    let server = TestServer::spawn().await;
    let themes = json(server.get("/api/v1/themes").await).await;
    assert!(themes.as_array().is_some_and(|t| {
        t.iter()
            .any(|t| t["code"] == "TRAN" && t["label_zh"] == "交通运输")
    }));
    let licences = json(server.get("/api/v1/licences").await).await;
    let ids: Vec<&str> = licences
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["CC-BY-4.0", "CC0-1.0", "ODbL-1.0"]);
}

#[tokio::test]
async fn a_renamed_publisher_shows_in_cached_dataset_views() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user(
            "water",
            "admin@water.test",
            &[Role::Admin, Role::Publisher, Role::Reviewer],
        )
        .await;
    let admin = server.access_token("admin@water.test").await;
    server
        .publish_dataset(
            &admin,
            &admin,
            dataset("levels", "River levels", "Hourly river levels"),
            "station,level\nA,3.2\n",
        )
        .await;
    let publisher = |view: &Value| {
        view["publisher"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let before = json(server.get("/api/v1/datasets/levels").await).await;
    assert_eq!(
        publisher(&before),
        "Organisation water",
        "the view is now cached"
    );

    let renamed = server
        .call(
            Method::PATCH,
            "/api/v1/organizations/water",
            Some(&admin),
            Some(json!({"name": "Water Authority"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    // Cached catalog reads trust the catalog generation for a moment; the new name must show
    // once that has passed, in the dataset view and in search results.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let view = json(server.get("/api/v1/datasets/levels").await).await;
        let found = json(server.get("/api/v1/datasets?q=river").await).await;
        if publisher(&view) == "Water Authority"
            && publisher(&found["items"][0]) == "Water Authority"
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rename never reached the cached views: {view} / {found}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// GETs `path` with an optional token and returns the status and JSON body.
async fn read(a: &Agency, path: &str, token: Option<&str>) -> (u16, Value) {
    let response = a.server.call(Method::GET, path, token, None).await;
    let status = response.status().as_u16();
    (status, json(response).await)
}

#[tokio::test]
async fn a_revision_under_way_keeps_the_published_version_public_and_the_owner_sees_both() {
    let a = agency().await;
    publish(&a, "air", "Air quality 空气质量", "Hourly readings").await;
    let mut revision = dataset("air", "Secret draft 机密草案 title", "Unreleased notes");
    revision["opening_class"] = json!("conditional");
    revision["keywords"] = json!(["embargoed"]);
    let owners = a.server.revise_dataset(&a.publisher, "air", revision).await;
    assert_eq!(owners["status"], "draft");
    let added = a
        .server
        .upload_csv(&a.publisher, "air", "station,pm25\nFutian,12\n")
        .await;
    let geojson = a
        .server
        .client
        .post(
            a.server
                .url("/api/v1/datasets/air/distributions?format=GeoJSON"),
        )
        .bearer_auth(&a.publisher)
        .header("content-type", "application/geo+json")
        .body(r#"{"type":"FeatureCollection","features":[]}"#)
        .send()
        .await;
    assert_eq!(geojson.map(|r| r.status().as_u16()).ok(), Some(201));
    let other = a.server.access_token("pub@health.test").await;

    // Everyone else reads, searches and lists exactly what was published.
    for token in [None, Some(other.as_str())] {
        let (status, public) = read(&a, "/api/v1/datasets/air", token).await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                public["status"].as_str(),
                public["title"].as_str(),
                public["opening_class"].as_str(),
                public["version"].as_i64()
            ),
            (
                Some("published"),
                Some("Air quality 空气质量"),
                Some("open"),
                Some(1)
            )
        );
        assert_eq!(public["distributions"].as_array().map(Vec::len), Some(1));
        assert!(public.get("published_version").is_none(), "{public}");
        let (_, found) = read(&a, "/api/v1/datasets?q=air", token).await;
        assert_eq!(found["total"], 1);
        assert_eq!(found["items"][0]["title"], "Air quality 空气质量");
        assert_eq!(
            found["items"][0]["distributions"].as_array().map(Vec::len),
            Some(1)
        );
        for hidden in ["Secret", "机密", "Unreleased", "embargoed"] {
            let (_, found) = read(
                &a,
                &format!("/api/v1/datasets?q={}", pdx_tests::urlencode(hidden)),
                token,
            )
            .await;
            assert_eq!(found["total"], 0, "the draft's {hidden:?} leaked");
        }
        assert_eq!(
            found["facets"]["format"],
            json!([{ "value": "CSV", "count": 1 }]),
            "the revision's formats are not counted"
        );
        let (_, by_format) = read(&a, "/api/v1/datasets?format=GeoJSON", token).await;
        assert_eq!(
            by_format["total"], 0,
            "the revision's formats are not searchable"
        );
        let (_, closed) = read(&a, "/api/v1/datasets?opening_class=conditional", token).await;
        assert_eq!(closed["total"], 0, "the draft's classification leaked");
        let (status, _) = read(&a, &format!("/api/v1/distributions/{added}"), token).await;
        assert_eq!(status, 404, "a distribution of the revision is not public");
        let (_, versions) = read(&a, "/api/v1/datasets/air/versions", token).await;
        assert_eq!(versions.as_array().map(Vec::len), Some(1));
    }

    // The owning agency sees the revision, with the published version beside it.
    let (_, mine) = read(&a, "/api/v1/datasets/air", Some(&a.reviewer)).await;
    assert_eq!(
        (
            mine["status"].as_str(),
            mine["title"].as_str(),
            mine["opening_class"].as_str()
        ),
        (
            Some("draft"),
            Some("Secret draft 机密草案 title"),
            Some("conditional")
        )
    );
    let distributions = mine["distributions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(distributions.len(), 3);
    assert_eq!(distributions[0]["published_version"], 1);
    assert_eq!(distributions[1]["id"], added.as_str());
    assert_eq!(distributions[1]["published_version"], Value::Null);
    let published = &mine["published_version"];
    assert_eq!(
        (
            published["status"].as_str(),
            published["title"].as_str(),
            published["version"].as_i64()
        ),
        (Some("published"), Some("Air quality 空气质量"), Some(1))
    );
    assert_eq!(published["distributions"].as_array().map(Vec::len), Some(1));
    let (_, listed) = read(&a, "/api/v1/datasets?mine=true", Some(&a.publisher)).await;
    assert_eq!(listed["items"][0]["title"], "Secret draft 机密草案 title");
    let (status, _) = read(
        &a,
        &format!("/api/v1/distributions/{added}"),
        Some(&a.publisher),
    )
    .await;
    assert_eq!(status, 200);

    // A second revision cannot start beside the first.
    let again = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/air/revise",
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        json(again).await["detail"],
        "cannot start a second revision of a dataset that is draft"
    );

    // Review and return keep the published version public.
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets/air/submit",
            Some(&a.publisher),
            None,
        )
        .await;
    let returned = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/air/return",
            Some(&a.reviewer),
            Some(json!({ "comment": "cite the stations" })),
        )
        .await;
    let returned = json(returned).await;
    assert_eq!(
        (
            returned["status"].as_str(),
            returned["review_comment"].as_str()
        ),
        (Some("draft"), Some("cite the stations"))
    );
    let (_, public) = read(&a, "/api/v1/datasets/air", None).await;
    assert_eq!(
        (public["status"].as_str(), public["title"].as_str()),
        (Some("published"), Some("Air quality 空气质量"))
    );

    // Publishing the revision replaces the public version.
    a.server
        .submit_and_publish(&a.publisher, &a.reviewer, "air")
        .await;
    let (_, public) = read(&a, "/api/v1/datasets/air", None).await;
    assert_eq!(
        (
            public["status"].as_str(),
            public["title"].as_str(),
            public["opening_class"].as_str(),
            public["version"].as_i64()
        ),
        (
            Some("published"),
            Some("Secret draft 机密草案 title"),
            Some("conditional"),
            Some(2)
        )
    );
    assert_eq!(public["distributions"].as_array().map(Vec::len), Some(3));
    assert_eq!(public["distributions"][1]["published_version"], 2);
    let (_, found) = read(&a, "/api/v1/datasets?q=机密", None).await;
    assert_eq!(found["total"], 1);
    let (_, found) = read(&a, "/api/v1/datasets?q=Hourly", None).await;
    assert_eq!(found["total"], 0, "the old version left search");
    let (_, mine) = read(&a, "/api/v1/datasets/air", Some(&a.publisher)).await;
    assert!(mine.get("published_version").is_none(), "{mine}");
    let (_, versions) = read(&a, "/api/v1/datasets/air/versions", None).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(
        versions[1]["snapshot"]["dataset"]["title"],
        "Air quality 空气质量"
    );
    assert_eq!(
        versions[0]["snapshot"]["distributions"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn a_distribution_edited_in_a_revision_keeps_its_published_metadata_until_publication() {
    let a = agency().await;
    publish(&a, "stops", "Bus stops 公交站点", "All stops").await;
    let (_, published) = read(&a, "/api/v1/datasets/stops", None).await;
    let id = published["distributions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    a.server
        .revise_dataset(
            &a.publisher,
            "stops",
            dataset("stops", "Bus stops 公交站点", "All stops"),
        )
        .await;
    let patched = a
        .server
        .call(
            Method::PATCH,
            &format!("/api/v1/distributions/{id}"),
            Some(&a.publisher),
            Some(json!({ "title": "Renamed in the revision" })),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(json(patched).await["title"], "Renamed in the revision");
    let (_, public) = read(&a, &format!("/api/v1/distributions/{id}"), None).await;
    assert_eq!(public["title"], "Stops CSV");
    let (_, public) = read(&a, "/api/v1/datasets/stops", None).await;
    assert_eq!(public["distributions"][0]["title"], "Stops CSV");
    let (_, mine) = read(&a, "/api/v1/datasets/stops", Some(&a.publisher)).await;
    assert_eq!(mine["distributions"][0]["title"], "Renamed in the revision");
    let deleted = a
        .server
        .call(
            Method::DELETE,
            &format!("/api/v1/distributions/{id}"),
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 409, "a published distribution stays");
    assert_eq!(json(deleted).await["code"], "distribution_published");

    a.server
        .submit_and_publish(&a.publisher, &a.reviewer, "stops")
        .await;
    let (_, public) = read(&a, &format!("/api/v1/distributions/{id}"), None).await;
    assert_eq!(public["title"], "Renamed in the revision");
}

#[tokio::test]
async fn a_withdrawn_dataset_stays_withdrawn_while_a_revision_is_pending() {
    let a = agency().await;
    publish(&a, "old", "Old stops 旧站点", "Superseded stops").await;
    a.server
        .revise_dataset(
            &a.publisher,
            "old",
            dataset("old", "New stops 新站点", "Current"),
        )
        .await;
    let withdrawn = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/old/withdraw",
            Some(&a.reviewer),
            Some(json!({ "comment": "errors found" })),
        )
        .await;
    assert_eq!(
        withdrawn.status(),
        200,
        "withdrawal is not held up by a revision"
    );
    let owners = json(withdrawn).await;
    assert_eq!(
        (
            owners["status"].as_str(),
            owners["published_version"]["status"].as_str()
        ),
        (Some("draft"), Some("withdrawn"))
    );
    let (_, public) = read(&a, "/api/v1/datasets/old", None).await;
    assert_eq!(
        (public["status"].as_str(), public["title"].as_str()),
        (Some("withdrawn"), Some("Old stops 旧站点"))
    );
    for q in ["stops", "New"] {
        let (_, found) = read(&a, &format!("/api/v1/datasets?q={q}"), None).await;
        assert_eq!(found["total"], 0, "{q}");
    }
    // Submitting the revision does not bring it back; publishing it does.
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets/old/submit",
            Some(&a.publisher),
            None,
        )
        .await;
    let (_, public) = read(&a, "/api/v1/datasets/old", None).await;
    assert_eq!(public["status"], "withdrawn");
    let published = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/old/publish",
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(published.status(), 200);
    let (_, public) = read(&a, "/api/v1/datasets/old", None).await;
    assert_eq!(
        (
            public["status"].as_str(),
            public["title"].as_str(),
            public["version"].as_i64()
        ),
        (Some("published"), Some("New stops 新站点"), Some(2))
    );
}

#[tokio::test]
async fn catalog_changes_are_audit_entries_in_the_ledger() {
    let a = agency().await;
    let created = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(dataset("audited", "Audited 审计", "x")),
        )
        .await;
    let dataset_id = json(created).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    a.server
        .call(
            Method::PUT,
            "/api/v1/datasets/audited",
            Some(&a.publisher),
            Some(dataset("audited", "Audited 审计 v2", "y")),
        )
        .await;
    let distribution = a.server.upload_csv(&a.publisher, "audited", "a\n1\n").await;
    let patched = a
        .server
        .call(
            Method::PATCH,
            &format!("/api/v1/distributions/{distribution}"),
            Some(&a.publisher),
            Some(json!({ "title": "Renamed" })),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let removed = a
        .server
        .call(
            Method::DELETE,
            &format!("/api/v1/distributions/{distribution}"),
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let deleted = a
        .server
        .call(
            Method::DELETE,
            "/api/v1/datasets/audited",
            Some(&a.publisher),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    publish(&a, "revised", "Revised 修订", "z").await;
    a.server
        .call(
            Method::POST,
            "/api/v1/datasets/revised/revise",
            Some(&a.publisher),
            None,
        )
        .await;

    a.server
        .create_user("platform", "audit@pdx.test", &[Role::Auditor])
        .await;
    let auditor = a.server.access_token("audit@pdx.test").await;
    for kind in [
        "dataset_created",
        "dataset_updated",
        "distribution_added",
        "distribution_updated",
        "distribution_deleted",
        "dataset_deleted",
    ] {
        let (_, events) = read(
            &a,
            &format!("/api/v1/audit-events?kind={kind}"),
            Some(&auditor),
        )
        .await;
        let items = events["items"].as_array().cloned().unwrap_or_default();
        assert!(
            items.iter().any(|e| e["subject"] == dataset_id.as_str()),
            "{kind}: {events}"
        );
        if kind.starts_with("distribution") {
            assert!(
                items
                    .iter()
                    .any(|e| e["detail"]["distribution"] == distribution.as_str()),
                "{kind} names the distribution: {events}"
            );
        }
    }
    let (_, revised) = read(
        &a,
        "/api/v1/audit-events?kind=dataset_revised",
        Some(&auditor),
    )
    .await;
    assert_eq!(revised["total"], 1, "{revised}");
    // The agency reads them as ledger entries on its datasets.
    let (_, entries) = read(
        &a,
        "/api/v1/ledger/entries?kind=dataset_revised",
        Some(&a.reviewer),
    )
    .await;
    assert_eq!(entries["total"], 1, "{entries}");
}

/// A dataset's title and description in another language: refused when the language is
/// unknown, the dataset's own, or the title empty; stored, found by a search in that language,
/// and served as language-tagged DCAT literals and CKAN's multilingual fields.
#[tokio::test]
async fn translations_are_checked_stored_found_and_served_to_machines() {
    let a = agency().await;
    let mut body = dataset(
        "ferries",
        "轮渡时刻表",
        "蛇口和福永码头的轮渡班次，每周更新。",
    );
    for (translations, why) in [
        (json!({"xx": {"title": "Ferries"}}), "not a supported"),
        (json!({"zh": {"title": "轮渡"}}), "own language"),
        (json!({"en": {"title": "  "}}), "must be 1-300"),
    ] {
        body["translations"] = translations;
        let refused = a
            .server
            .call(
                Method::POST,
                "/api/v1/datasets",
                Some(&a.publisher),
                Some(body.clone()),
            )
            .await;
        assert_eq!(refused.status(), 422);
        let problem = json(refused).await;
        assert_eq!(problem["field"], "translations");
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains(why),
            "{problem}"
        );
    }
    body["translations"] = json!({"en": {
        "title": "Ferry timetables",
        "description": "Departures of the ferries of Shekou and Fuyong, updated weekly."
    }});
    let created = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(body),
        )
        .await;
    assert_eq!(created.status(), 201);
    upload_csv(
        &a.server,
        &a.publisher,
        "ferries",
        "pier,departure\nShekou,07:30\n",
    )
    .await;
    for (step, token) in [("submit", &a.publisher), ("publish", &a.reviewer)] {
        let done = a
            .server
            .call(
                Method::POST,
                &format!("/api/v1/datasets/ferries/{step}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(done.status(), 200, "{step}");
    }
    let shown = json(a.server.get("/api/v1/datasets/ferries").await).await;
    assert_eq!(shown["title"], "轮渡时刻表");
    assert_eq!(shown["translations"]["en"]["title"], "Ferry timetables");

    // "timetables" and "Fuyong" are only in the translation.
    let found = json(a.server.get("/api/v1/datasets?q=timetables%20fuyong").await).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["slug"], "ferries");
    // The words are marked in the translation, where they are; the own title has none.
    let marks = &found["highlights"][shown["id"].as_str().unwrap_or_default()];
    assert_eq!(marks["title"], "轮渡时刻表", "{found}");
    assert_eq!(
        marks["translations"]["en"]["title"],
        "Ferry <mark>timetables</mark>"
    );
    assert_eq!(
        marks["translations"]["en"]["description"],
        "Departures of the ferries of Shekou and <mark>Fuyong</mark>, updated weekly."
    );

    let turtle = a
        .server
        .get(&format!(
            "/dataset/{}.ttl",
            shown["id"].as_str().unwrap_or_default()
        ))
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(turtle.contains("\"Ferry timetables\"@en"), "{turtle}");
    assert!(turtle.contains("\"轮渡时刻表\"@zh"), "{turtle}");

    let package = json(a.server.get("/api/3/action/package_show?id=ferries").await).await;
    assert_eq!(
        package["result"]["title_translated"]["en"],
        "Ferry timetables"
    );
    assert_eq!(package["result"]["title_translated"]["zh"], "轮渡时刻表");
    assert_eq!(
        package["result"]["notes_translated"]["en"],
        "Departures of the ferries of Shekou and Fuyong, updated weekly."
    );
}

/// A dataset with several mistakes is refused once with all of them: each field found wrong
/// and the classification rule broken, in `errors`; nothing is saved.
#[tokio::test]
async fn every_mistake_of_a_dataset_is_reported_at_once() {
    let a = agency().await;
    let mut body = dataset("many-mistakes", "  ", "");
    body["themes"] = json!(["NOPE"]);
    body["update_frequency"] = json!("sometimes");
    body["contact_email"] = json!("not-an-address");
    body["licence"] = Value::Null;
    let refused = a
        .server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&a.publisher),
            Some(body),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let problem = json(refused).await;
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(problem["field"], "title", "the first field found wrong");
    let errors: Vec<(String, Option<String>)> = problem["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["rule"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "title",
            "description",
            "themes",
            "update_frequency",
            "contact_email",
            "classification"
        ],
        "{problem}"
    );
    assert_eq!(
        errors.last().and_then(|(_, rule)| rule.as_deref()),
        Some("open_data_requires_licence")
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("themes: `NOPE` is not a theme"), "{detail}");
    let mine = json(
        a.server
            .call(
                Method::GET,
                "/api/v1/datasets?mine=true",
                Some(&a.publisher),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(mine["total"], 0, "nothing was saved");
}
