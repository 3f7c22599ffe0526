//! The portal over real HTTP on the demo: pages in both languages, the language switch, search
//! with facets and highlights, the dataset page's "can I have it", error pages, and what a
//! hostile query string does.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions: a failed unwrap is a failed assertion"
)]

use pdx_tests::{TestServer, header, hidden, set_cookie};

async fn page(server: &TestServer, path: &str, language: Option<&str>) -> (u16, String) {
    let mut request = server.client.get(server.url(path));
    if let Some(language) = language {
        request = request.header("accept-language", language);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    if status < 300 {
        let content_type = header(&response, "content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "GET {path}: {content_type}"
        );
    }
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn home_answers_in_chinese_by_default_and_in_english_when_asked() {
    let server = TestServer::spawn_demo().await;
    let (status, zh) = page(&server, "/", None).await;
    assert_eq!(status, 200);
    assert!(zh.contains(r#"<html lang="zh-CN">"#));
    assert!(zh.contains("查找和使用本市公共数据"));
    assert!(zh.contains("按主题浏览"));
    assert!(!zh.contains("[["), "a translation is missing");

    let (status, en) = page(&server, "/", Some("en-GB,en;q=0.9,zh;q=0.5")).await;
    assert_eq!(status, 200);
    assert!(en.contains(r#"<html lang="en">"#));
    assert!(en.contains("Find and use the city"));
    assert!(en.contains("Browse by theme"));
    // The newest datasets are listed, with links to their pages.
    assert!(en.contains(r#"href="/datasets/"#));
}

#[tokio::test]
async fn language_switch_is_remembered_and_returns_only_to_local_pages() {
    let server = TestServer::spawn().await;
    let switched = server.get("/lang/en?next=/datasets%3Fq%3Dbus").await;
    assert_eq!(switched.status(), 303);
    assert_eq!(header(&switched, "location").unwrap(), "/datasets?q=bus");
    let cookie = header(&switched, "set-cookie").unwrap();
    assert!(cookie.starts_with("pdx_lang=en"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let page = server
        .client
        .get(server.url("/datasets"))
        .header("cookie", "pdx_lang=en")
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<html lang="en">"#), "the cookie wins");

    for hostile in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let next = pdx_tests::urlencode(hostile);
        let switched = server.get(&format!("/lang/zh?next={next}")).await;
        assert_eq!(switched.status(), 303);
        assert_eq!(header(&switched, "location").unwrap(), "/", "{hostile}");
    }
    let (status, _) = page_status(&server, "/lang/fr").await;
    assert_eq!(status, 404);
}

async fn page_status(server: &TestServer, path: &str) -> (u16, String) {
    let response = server.get(path).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn search_in_chinese_finds_datasets_with_highlights_facets_and_paging() {
    let server = TestServer::spawn_demo().await;
    let (status, body) = page(&server, "/datasets?q=%E5%85%AC%E4%BA%A4", None).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"href="/datasets/bus-stops""#), "{body}");
    assert!(
        body.contains("<mark>公交</mark>"),
        "matched words are marked"
    );
    assert!(body.contains("与“公交”相关的数据集"));
    // Facets are links that add a filter, keeping the query.
    assert!(
        body.contains("/datasets?q=%E5%85%AC%E4%BA%A4&amp;theme=TRAN"),
        "{body}"
    );

    let (_, filtered) = page(&server, "/datasets?q=%E5%85%AC%E4%BA%A4&theme=TRAN", None).await;
    assert!(
        filtered.contains(r#"aria-current="true""#),
        "the chosen facet is marked"
    );
    let (_, elsewhere) = page(&server, "/datasets?q=%E5%85%AC%E4%BA%A4&theme=HEAL", None).await;
    assert!(elsewhere.contains("没有找到符合条件的数据集"));

    // All datasets, page 2, sorted by title, in English.
    let (status, paged) = page(&server, "/datasets?sort=title&page=2", Some("en")).await;
    assert_eq!(status, 200);
    assert!(paged.contains(r#"rel="prev""#));
    assert!(paged.contains(r#"<span aria-current="page">2</span>"#));
}

#[tokio::test]
async fn dataset_page_says_who_can_have_the_data_and_how() {
    let server = TestServer::spawn_demo().await;
    let (status, open) = page(&server, "/datasets/bus-stops", Some("en")).await;
    assert_eq!(status, 200);
    assert!(open.contains("Yes — download it now."));
    assert!(
        open.contains("/data\" download"),
        "a download link for the open file"
    );
    assert!(open.contains("Open data"));
    assert!(
        open.contains("/dataset/") && open.contains(".ttl"),
        "DCAT link"
    );
    assert!(open.contains("package_show?id=bus-stops"), "CKAN link");
    assert!(!open.contains(">open<"), "no internal codes on screen");

    let (_, conditional) = page(&server, "/datasets/taxi-trips-2024", Some("en")).await;
    assert!(conditional.contains("Yes, on request."));
    assert!(conditional.contains("/sign-in?next=/datasets/taxi-trips-2024"));
    assert!(
        !conditional.contains("/data\" download"),
        "no download link"
    );

    let (_, agencies) = page(&server, "/datasets/infectious-disease-weekly", None).await;
    assert!(agencies.contains("仅限政务部门获取。"));
    let (_, closed) = page(&server, "/datasets/inpatient-records", None).await;
    assert!(closed.contains("暂不提供。"));
    assert!(closed.contains("核心数据"));
}

#[tokio::test]
async fn unknown_pages_get_a_friendly_page_and_unknown_api_paths_a_problem() {
    let server = TestServer::spawn().await;
    let response = server
        .client
        .get(server.url("/no-such-page"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let request_id = header(&response, "x-request-id").unwrap();
    let body = response.text().await.unwrap();
    assert!(body.contains("Page not found"));
    assert!(body.contains(&request_id), "the request id is on the page");

    let (status, body) = page(&server, "/datasets/no-such-dataset", None).await;
    assert_eq!(status, 404);
    assert!(body.contains("页面不存在"));

    let api = server.get("/api/v1/no-such-thing").await;
    assert_eq!(api.status(), 404);
    assert_eq!(
        header(&api, "content-type").unwrap(),
        "application/problem+json"
    );
}

#[tokio::test]
async fn drafts_datasets_in_review_and_withdrawn_ones_are_not_shown_to_the_public() {
    let server = TestServer::spawn_demo().await;
    // The demo leaves these in the draft and in-review states.
    for slug in ["schools", "energy-consumption"] {
        let (status, _) = page_status(&server, &format!("/datasets/{slug}")).await;
        assert_eq!(status, 404, "{slug}");
        let (_, organisation) = page(&server, "/organizations/sz-statistics", None).await;
        assert!(
            !organisation.contains(&format!("/datasets/{slug}\"")),
            "{slug}"
        );
    }
    let (_, results) = page(&server, "/datasets?q=%E4%B8%AD%E5%B0%8F%E5%AD%A6", None).await;
    assert!(
        !results.contains("/datasets/schools\""),
        "the draft is not found by search"
    );
    // A withdrawn dataset keeps its page, says so, and offers no data.
    let (status, withdrawn) =
        page(&server, "/datasets/business-registrations-2024", Some("en")).await;
    assert_eq!(status, 200);
    assert!(withdrawn.contains("The publisher has withdrawn this dataset"));
    assert!(!withdrawn.contains("/data\" download"));
    assert!(!withdrawn.contains("Can I have this data?"));
    // A published one for contrast.
    let (status, _) = page_status(&server, "/datasets/population-by-district").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn hostile_query_strings_are_escaped_bounded_and_harmless() {
    let server = TestServer::spawn_demo().await;
    let script = pdx_tests::urlencode("<script>alert(1)</script>\"'");
    let (status, body) = page(&server, &format!("/datasets?q={script}"), None).await;
    assert_eq!(status, 200);
    assert!(!body.contains("<script>alert(1)"), "the query is escaped");
    assert!(body.contains("&lt;script&gt;"));

    let long = "公".repeat(5_000);
    let (status, body) = page(
        &server,
        &format!("/datasets?q={}", pdx_tests::urlencode(&long)),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !body.contains(&"公".repeat(201)),
        "the query is cut to 200 characters"
    );

    for query in [
        "page=999999999",
        "page=-3",
        "page=abc",
        "sort=%00",
        "theme=%ff%fe",
        "q=%22unclosed",
    ] {
        let (status, _) = page(&server, &format!("/datasets?{query}"), None).await;
        assert_eq!(status, 200, "{query}");
    }
    let (status, _) = page(&server, "/organizations/%3Cscript%3E", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn pages_allow_their_own_stylesheet_and_forms_and_nothing_else() {
    let server = TestServer::spawn().await;
    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    let policy = header(&response, "content-security-policy").unwrap();
    assert!(policy.contains("style-src 'self'"), "{policy}");
    assert!(policy.contains("form-action 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let body = response.text().await.unwrap();
    let stylesheet = body
        .split(r#"rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let css = server.get(&stylesheet).await;
    assert_eq!(css.status(), 200);
    assert!(header(&css, "cache-control").unwrap().contains("immutable"));
    assert!(
        header(&css, "content-type")
            .unwrap()
            .starts_with("text/css")
    );
    let (status, _) = page_status(&server, "/static/pdx-000000000000.css").await;
    assert_eq!(status, 404);

    // The API keeps its own policy.
    let api = server.get("/api/v1/themes").await;
    let policy = header(&api, "content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"));
    assert!(policy.contains("form-action 'none'"));
}

#[tokio::test]
async fn organisation_pages_list_agencies_and_their_datasets() {
    let server = TestServer::spawn_demo().await;
    let (status, list) = page(&server, "/organizations", Some("en")).await;
    assert_eq!(status, 200);
    assert!(list.contains(r#"href="/organizations/sz-transport""#));
    let (status, transport) = page(&server, "/organizations/sz-transport", Some("en")).await;
    assert_eq!(status, 200);
    assert!(transport.contains(r#"href="/datasets/bus-stops""#));
    assert!(transport.contains("Annual reports"));
    let (status, _) = page(&server, "/reports", None).await;
    assert_eq!(status, 200);
    for path in ["/about", "/accessibility"] {
        let (status, body) = page(&server, path, Some("en")).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains("[["), "{path} misses a translation");
    }
}

/// Signs in through the form; returns the session cookie.
async fn sign_in(server: &TestServer, email: &str) -> String {
    server.portal_session(email).await
}

async fn get_with(server: &TestServer, path: &str, session: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .header("cookie", format!("pdx_session={session}"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_form_posted_without_its_token_is_refused_and_changes_nothing() {
    let server = TestServer::spawn_demo().await;
    // Sign-in without the form's token, or with a token of another browser.
    let refused = server
        .client
        .post(server.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=member%40pengcheng-mobility.demo.pdx&password=pdx-demo-2026")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(set_cookie(&refused, "pdx_session").is_none());
    let forged = server
        .client
        .post(server.url("/sign-in"))
        .header("cookie", "pdx_form=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&email=member%40pengcheng-mobility.demo.pdx&password=pdx-demo-2026")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("表单已失效"));

    // Sign-out without the session's token leaves the session alive.
    let session = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let refused = server
        .client
        .post(server.url("/sign-out"))
        .header("cookie", format!("pdx_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        get_with(&server, "/workspace/enterprise", &session)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn signing_out_revokes_the_session_on_the_server() {
    let server = TestServer::spawn_demo().await;
    let session = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let workspace = get_with(&server, "/workspace", &session).await;
    assert_eq!(workspace.status(), 303);
    assert_eq!(
        header(&workspace, "location").unwrap(),
        "/workspace/enterprise"
    );
    let page = get_with(&server, "/workspace/enterprise", &session).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("grants of access"), "the enterprise's grants");
    assert!(body.contains("<meter"), "usage against quota as bars");
    let token = hidden(&body, "csrf");

    let signed_out = server
        .client
        .post(server.url("/sign-out"))
        .header("cookie", format!("pdx_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(set_cookie(&signed_out, "pdx_session").as_deref(), Some(""));
    // The old cookie, replayed, is worth nothing: the session was revoked in the database.
    let replayed = get_with(&server, "/workspace/enterprise", &session).await;
    assert_eq!(replayed.status(), 303);
    assert!(
        header(&replayed, "location")
            .unwrap()
            .starts_with("/sign-in")
    );
    // A sibling process sharing the database refuses it too.
    let sibling = server.sibling().await;
    let elsewhere = server
        .client
        .get(sibling.url("/workspace/enterprise"))
        .header("cookie", format!("pdx_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 303);
}

#[tokio::test]
async fn each_workspace_refuses_the_wrong_role() {
    let server = TestServer::spawn_demo().await;
    let enterprise = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let agency = sign_in(&server, "reviewer@sz-miit.demo.pdx").await;
    let auditor = sign_in(&server, "auditor@demo.pdx").await;
    for (session, own, others) in [
        (
            &enterprise,
            "/workspace/enterprise",
            ["/workspace/agency", "/workspace/audit"],
        ),
        (
            &agency,
            "/workspace/agency",
            ["/workspace/enterprise", "/workspace/audit"],
        ),
        (
            &auditor,
            "/workspace/audit",
            ["/workspace/enterprise", "/workspace/agency"],
        ),
    ] {
        let page = get_with(&server, own, session).await;
        assert_eq!(page.status(), 200, "{own}");
        let body = page.text().await.unwrap();
        assert!(!body.contains("[["), "{own} misses a translation");
        for other in others {
            let refused = get_with(&server, other, session).await;
            assert_eq!(refused.status(), 403, "{own} user at {other}");
            assert!(
                refused
                    .text()
                    .await
                    .unwrap()
                    .contains("You cannot see this page")
            );
        }
    }
    // Signed out, a workspace asks to sign in first and comes back after.
    let anonymous = server.get("/workspace/audit").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        header(&anonymous, "location").unwrap(),
        "/sign-in?next=%2Fworkspace%2Faudit"
    );
    // The auditor sees the ledger verified; the reviewer sees the review queue.
    let audit = get_with(&server, "/workspace/audit", &auditor)
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("Verified"), "{audit}");
    let review = get_with(&server, "/workspace/agency", &agency)
        .await
        .text()
        .await
        .unwrap();
    assert!(review.contains("Review queue"));
}

#[tokio::test]
async fn a_wrong_password_is_said_next_to_the_form_without_saying_which_part() {
    let server = TestServer::spawn_demo().await;
    let form = server.get("/sign-in?next=//evil.example").await;
    let bound = set_cookie(&form, "pdx_form").unwrap();
    let body = form.text().await.unwrap();
    assert_eq!(
        hidden(&body, "next"),
        "/workspace",
        "only local pages after sign-in"
    );
    let token = hidden(&body, "csrf");
    let wrong = server
        .client
        .post(server.url("/sign-in"))
        .header("cookie", format!("pdx_form={bound}"))
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pdx_tests::form_encode(&[
            ("csrf", &token),
            ("email", "member@pengcheng-mobility.demo.pdx"),
            ("password", "not-the-password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(set_cookie(&wrong, "pdx_session").is_none());
    let body = wrong.text().await.unwrap();
    assert!(body.contains("The e-mail address or password is not right."));
    assert!(body.contains(r#"class="error-summary""#));
    assert!(
        body.contains("member@pengcheng-mobility.demo.pdx"),
        "the address is kept"
    );
    assert!(
        !body.contains("not-the-password"),
        "the password is never echoed"
    );
}

/// The `href`s of a page, unescaped.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn crawling_the_demo_portal_in_both_languages_finds_no_broken_link_or_missing_text() {
    let server = TestServer::spawn_demo().await;
    for language in ["zh-CN", "en"] {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue = std::collections::VecDeque::from(["/".to_owned()]);
        let mut pages = 0;
        while let Some(path) = queue.pop_front() {
            if !seen.insert(path.clone()) || pages >= 400 {
                continue;
            }
            let response = server
                .client
                .get(server.url(&path))
                .header("accept-language", language)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = header(&response, "content-type").unwrap_or_default();
            // Language switches and sign-in redirect; everything else answers.
            assert!(
                status == 200 || status == 303,
                "{language} {path}: {status}"
            );
            // The API's own documents (its reference, JSON, DCAT) are checked to answer, not
            // crawled.
            if !content_type.starts_with("text/html") || pdx_api::owns_path(&path) {
                continue;
            }
            pages += 1;
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("[["),
                "{language} {path} misses a translation"
            );
            assert_eq!(body.matches("<h1").count(), 1, "{language} {path}: one h1");
            assert!(body.contains("<main"), "{language} {path}: a main landmark");
            for link in links(&body) {
                if link.starts_with("http")
                    || link.starts_with("mailto:")
                    || link.starts_with("data:")
                    || link.starts_with('#')
                {
                    continue;
                }
                // Downloads are ledgered and checked elsewhere; the API documents are
                // checked once, not crawled.
                if link.ends_with("/data") {
                    continue;
                }
                // A table's first page is crawled; its searches, sorts and further pages are
                // ledgered row queries of their own, checked in the rows tests.
                if link.contains("/rows") && link.contains('?') {
                    continue;
                }
                let link = link.split('#').next().unwrap_or("").to_owned();
                if !link.is_empty() && !seen.contains(&link) {
                    queue.push_back(link);
                }
            }
        }
        assert!(pages > 60, "{language}: the crawl reached {pages} pages");
    }
}

async fn post_form(
    server: &TestServer,
    path: &str,
    session: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("cookie", format!("pdx_session={session}"))
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pdx_tests::form_encode(pairs))
        .send()
        .await
        .unwrap()
}

/// The ledger's entries on a dataset, newest first, as the auditor reads them through the API.
async fn ledger_entries(server: &TestServer, dataset: &str) -> Vec<serde_json::Value> {
    ledger_items(
        server,
        &format!("dataset={dataset}&kind=data_access&per_page=100"),
    )
    .await
}

/// The ledger entries the auditor finds with a query string.
async fn ledger_items(server: &TestServer, query: &str) -> Vec<serde_json::Value> {
    let auditor = server.access_token("auditor@demo.pdx").await;
    let listed = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/ledger/entries?{query}"),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(listed.status(), 200);
    pdx_tests::json(listed).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn requests_decisions_and_downloads_need_the_session_token_and_the_right_party() {
    let server = TestServer::spawn_demo().await;
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let statement = "Congestion forecasts for our journey planner in Luohu.";

    // Without the session's token: refused, nothing requested.
    let forged = post_form(
        &server,
        "/datasets/traffic-flow-luohu/request",
        &member,
        &[
            ("purpose", "research"),
            ("statement", statement),
            ("term_days", "30"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let page = get_with(&server, "/datasets/traffic-flow-luohu", &member).await;
    let body = page.text().await.unwrap();
    assert!(
        body.contains("/datasets/traffic-flow-luohu/request"),
        "still requestable"
    );
    let token = hidden(&body, "csrf");

    // With it, but a purpose outside the offer and a term beyond it: the form again, with
    // the messages, and nothing requested.
    let invalid = post_form(
        &server,
        "/datasets/traffic-flow-luohu/request",
        &member,
        &[
            ("csrf", &token),
            ("purpose", "journalism"),
            ("statement", statement),
            ("term_days", "30"),
        ],
    )
    .await;
    assert_eq!(invalid.status(), 422);
    let form_again = invalid.text().await.unwrap();
    assert!(form_again.contains("Choose one of the purposes the agency offers"));
    // The form says what the offer's licence permits and prohibits, in words.
    assert!(form_again.contains("What it permits and prohibits"));
    assert!(form_again.contains("Any use, when the declared purpose is"));
    let beyond = post_form(
        &server,
        "/datasets/traffic-flow-luohu/request",
        &member,
        &[
            ("csrf", &token),
            ("purpose", "research"),
            ("statement", statement),
            ("term_days", "9999"),
        ],
    )
    .await;
    assert_eq!(beyond.status(), 422);
    assert!(
        beyond
            .text()
            .await
            .unwrap()
            .contains(r##"href="#term_days""##)
    );

    // Downloading before any grant: refused in words, and the refusal is in the ledger.
    let before = ledger_entries(&server, "traffic-flow-luohu").await.len();
    let page = get_with(&server, "/datasets/traffic-flow-luohu", &member).await;
    assert_eq!(page.status(), 200);
    let api = server
        .access_token("member@pengcheng-mobility.demo.pdx")
        .await;
    let dataset = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                "/api/v1/datasets/traffic-flow-luohu",
                Some(&api),
                None,
            )
            .await,
    )
    .await;
    let file = dataset["distributions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = post_form(
        &server,
        "/datasets/traffic-flow-luohu/download",
        &member,
        &[
            ("csrf", &token),
            ("distribution", &file),
            ("purpose", "research"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let seq = header(&refused, "x-pdx-ledger-seq");
    assert!(seq.is_none(), "the refusal page is not a data answer");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("holds no grant in force")
    );
    let after = ledger_entries(&server, "traffic-flow-luohu").await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap()["decision"], "deny");
    // Without the token, no decision is taken at all.
    let forged = post_form(
        &server,
        "/datasets/traffic-flow-luohu/download",
        &member,
        &[("distribution", &file), ("purpose", "research")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(
        ledger_entries(&server, "traffic-flow-luohu").await.len(),
        before + 1
    );
    // A distribution of another dataset, through this dataset's form: not found.
    let other = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                "/api/v1/datasets/bus-stops",
                None,
                None,
            )
            .await,
    )
    .await;
    let foreign = other["distributions"][0]["id"].as_str().unwrap().to_owned();
    let crossed = post_form(
        &server,
        "/datasets/traffic-flow-luohu/download",
        &member,
        &[
            ("csrf", &token),
            ("distribution", &foreign),
            ("purpose", "research"),
        ],
    )
    .await;
    assert_eq!(crossed.status(), 404);

    // The request is sent.
    let sent = post_form(
        &server,
        "/datasets/traffic-flow-luohu/request",
        &member,
        &[
            ("csrf", &token),
            ("purpose", "research"),
            ("statement", statement),
            ("term_days", "30"),
        ],
    )
    .await;
    assert_eq!(sent.status(), 303);
    let location = header(&sent, "location").unwrap();
    let id = location
        .strip_prefix("/workspace/enterprise?sent=")
        .and_then(|rest| rest.split('#').next())
        .unwrap()
        .to_owned();
    let review = format!("/workspace/agency/requests/{id}");

    // The member cannot decide it; another agency's reviewer cannot see it; the publishing
    // agency's reviewer can, but not without the token.
    assert_eq!(get_with(&server, &review, &member).await.status(), 403);
    let approve = format!("{review}/approve");
    assert_eq!(
        post_form(&server, &approve, &member, &[("csrf", &token)])
            .await
            .status(),
        403
    );
    let stranger = sign_in(&server, "reviewer@sz-health.demo.pdx").await;
    assert_eq!(get_with(&server, &review, &stranger).await.status(), 404);
    let reviewer = sign_in(&server, "reviewer@sz-transport.demo.pdx").await;
    let page = get_with(&server, &review, &reviewer).await;
    assert_eq!(page.status(), 200);
    let reviewer_token = hidden(&page.text().await.unwrap(), "csrf");
    let forged = post_form(&server, &approve, &reviewer, &[("max_requests", "3")]).await;
    assert_eq!(forged.status(), 403);
    // A rejection needs a reason; a quota must be a number.
    let reject = format!("{review}/reject");
    let bare = post_form(
        &server,
        &reject,
        &reviewer,
        &[("csrf", &reviewer_token), ("reason", " ")],
    )
    .await;
    assert_eq!(bare.status(), 422);
    let bad = post_form(
        &server,
        &approve,
        &reviewer,
        &[("csrf", &reviewer_token), ("max_requests", "many")],
    )
    .await;
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Enter a whole number greater than zero")
    );
    let approved = post_form(
        &server,
        &approve,
        &reviewer,
        &[("csrf", &reviewer_token), ("max_requests", "1")],
    )
    .await;
    assert_eq!(approved.status(), 303);
    // Deciding twice is refused in words.
    let twice = post_form(
        &server,
        &reject,
        &reviewer,
        &[("csrf", &reviewer_token), ("reason", "late")],
    )
    .await;
    assert_eq!(twice.status(), 422);
    assert!(twice.text().await.unwrap().contains("already been decided"));

    // The grant allows one request: the first download is served with its receipt, the second
    // is refused for the quota — both in the ledger.
    let served = post_form(
        &server,
        "/datasets/traffic-flow-luohu/download",
        &member,
        &[
            ("csrf", &token),
            ("distribution", &file),
            ("purpose", "research"),
        ],
    )
    .await;
    assert_eq!(served.status(), 200);
    assert!(
        header(&served, "content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let receipt: u64 = header(&served, "x-pdx-ledger-seq")
        .unwrap()
        .parse()
        .unwrap();
    assert!(!served.bytes().await.unwrap().is_empty());
    let second = post_form(
        &server,
        "/datasets/traffic-flow-luohu/download",
        &member,
        &[
            ("csrf", &token),
            ("distribution", &file),
            ("purpose", "research"),
        ],
    )
    .await;
    assert_eq!(second.status(), 429);
    assert!(second.text().await.unwrap().contains("quota is used up"));
    let entries = ledger_entries(&server, "traffic-flow-luohu").await;
    let permit = entries.iter().find(|e| e["seq"] == receipt).unwrap();
    assert_eq!(permit["decision"], "permit");
    assert_eq!(permit["purpose"], "research");
    assert_eq!(entries.last().unwrap()["reason"], "quota_exhausted");

    // The member reads its own receipt, not another organisation's entries or statement.
    let own = get_with(&server, &format!("/workspace/ledger/{receipt}"), &member).await;
    assert_eq!(own.status(), 200);
    let qianhai = sign_in(&server, "member@qianhai-analytics.demo.pdx").await;
    let theirs = get_with(&server, &format!("/workspace/ledger/{receipt}"), &qianhai).await;
    assert_eq!(theirs.status(), 404);
    let statement = get_with(
        &server,
        "/workspace/statements?organization=pengcheng-mobility",
        &qianhai,
    )
    .await;
    assert_eq!(statement.status(), 403);
    let csv = get_with(
        &server,
        "/workspace/statements.csv?organization=pengcheng-mobility",
        &qianhai,
    )
    .await;
    assert_eq!(csv.status(), 403);
    // Anonymous visitors are sent to sign in.
    let anonymous = server.get("/workspace/ledger").await;
    assert_eq!(anonymous.status(), 303);
}

#[tokio::test]
async fn the_portal_statement_csv_is_the_api_statement_csv() {
    let server = TestServer::spawn_demo().await;
    let auditor = sign_in(&server, "auditor@demo.pdx").await;
    // Statements count the entries below the latest signed checkpoint: wait for the first
    // one after the demo's months (later entries are all in December).
    let token = server.access_token("auditor@demo.pdx").await;
    for _ in 0..100 {
        let checkpoint = server
            .call(
                reqwest::Method::GET,
                "/api/v1/ledger/checkpoint",
                None,
                None,
            )
            .await;
        if checkpoint.status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let portal = get_with(
        &server,
        "/workspace/statements.csv?organization=pengcheng-mobility&month=2026-11",
        &auditor,
    )
    .await;
    assert_eq!(portal.status(), 200);
    assert!(
        header(&portal, "content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let portal = portal.text().await.unwrap();
    let api = server
        .call(
            reqwest::Method::GET,
            "/api/v1/accounting/statements/pengcheng-mobility/2026-11.csv",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(api.status(), 200);
    let api = api.text().await.unwrap();
    assert!(portal.lines().count() > 2, "{portal}");
    // The same rows; only the checkpoint each was counted against may have moved on between
    // the two reads (a November statement's lines do not change with it).
    let without_checkpoint = |csv: &str| -> Vec<String> {
        csv.lines()
            .map(|line| {
                let mut fields: Vec<&str> = line.split(',').collect();
                fields.remove(3);
                fields.join(",")
            })
            .collect()
    };
    assert_eq!(without_checkpoint(&portal), without_checkpoint(&api));
}

/// Opens the form at `page` as a visitor without a session and posts it to `action` with the
/// form's token and cookie, as a browser does.
async fn post_anonymous(
    server: &TestServer,
    page: &str,
    action: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    let form = server
        .client
        .get(server.url(page))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200, "GET {page}");
    let bound = set_cookie(&form, "pdx_form").expect("the form's cookie");
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let mut all = vec![("csrf", token.as_str())];
    all.extend_from_slice(pairs);
    server
        .client
        .post(server.url(action))
        .header("cookie", format!("pdx_form={bound}"))
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pdx_tests::form_encode(&all))
        .send()
        .await
        .unwrap()
}

/// The path and query of a link in a message (the part after the server's base URL).
fn link_path(server: &TestServer, body: &str) -> String {
    body.split_whitespace()
        .find(|word| word.contains("token="))
        .and_then(|link| link.strip_prefix(&server.base_url))
        .expect("a link to the portal with a token")
        .to_owned()
}

async fn portal_sign_in_status(server: &TestServer, email: &str, password: &str) -> u16 {
    post_anonymous(
        server,
        "/sign-in",
        "/sign-in",
        &[("email", email), ("password", password)],
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn an_enterprise_registers_confirms_by_mail_and_signs_in_in_the_browser() {
    let server = TestServer::spawn().await;
    // Empty fields and a credit code with a wrong check character: said beside each field.
    let empty = post_anonymous(&server, "/register", "/register", &[]).await;
    assert_eq!(empty.status(), 422);
    let body = empty.text().await.unwrap();
    assert!(body.contains(r##"href="#credit_code""##), "{body}");
    assert!(body.contains("Enter your e-mail address"));
    let fields = [
        ("organization_name", "Nanshan Robotics"),
        ("credit_code", "91440300MA5F000008"),
        ("display_name", "Chen Jing"),
        ("email", "chen@robotics.test"),
    ];
    let wrong = post_anonymous(&server, "/register", "/register", &fields).await;
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Enter a valid unified social credit code")
    );
    // Without the form's token: refused, nothing sent.
    let forged = server
        .client
        .post(server.url("/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pdx_tests::form_encode(&fields))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let mut fields = fields;
    fields[1].1 = "91440300MA5F000007";
    let sent = post_anonymous(&server, "/register", "/register", &fields).await;
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await.unwrap().contains("Check your e-mail"));
    let mail = server
        .wait_for_mail("chen@robotics.test", "Confirm", 1)
        .await;
    let link = link_path(&server, &mail.body);
    assert!(link.starts_with("/confirm?token="), "{link}");
    // The link leads to a page, where the password is chosen.
    let token = mail.token();
    let short = post_anonymous(
        &server,
        &link,
        "/confirm",
        &[("token", &token), ("password", "short")],
    )
    .await;
    assert_eq!(short.status(), 422);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains(r##"href="#password""##)
    );
    let confirmed = post_anonymous(
        &server,
        &link,
        "/confirm",
        &[("token", &token), ("password", pdx_tests::PASSWORD)],
    )
    .await;
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("Nanshan Robotics is registered")
    );
    // The link works once.
    let again = post_anonymous(
        &server,
        &link,
        "/confirm",
        &[("token", &token), ("password", pdx_tests::PASSWORD)],
    )
    .await;
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("already been used"));
    assert_eq!(
        portal_sign_in_status(&server, "chen@robotics.test", pdx_tests::PASSWORD).await,
        303
    );
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_the_mailed_link() {
    let server = TestServer::spawn().await;
    server
        .create_org("harbour", pdx_core::OrgKind::Agency)
        .await;
    server
        .create_user(
            "harbour",
            "clerk@harbour.test",
            &[pdx_core::Role::Publisher],
        )
        .await;
    let page = server.get("/sign-in").await;
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(r#"href="/password-reset""#)
    );
    // The same answer for an address without an account; a message only to the real one.
    let unknown = post_anonymous(
        &server,
        "/password-reset",
        "/password-reset/request",
        &[("email", "nobody@harbour.test")],
    )
    .await;
    assert_eq!(unknown.status(), 200);
    let sent = post_anonymous(
        &server,
        "/password-reset",
        "/password-reset/request",
        &[("email", "clerk@harbour.test")],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let mail = server.wait_for_mail("clerk@harbour.test", "Reset", 1).await;
    assert!(server.mail_to("nobody@harbour.test", "Reset").is_empty());
    let link = link_path(&server, &mail.body);
    assert!(link.starts_with("/password-reset?token="), "{link}");
    let form = server.get(&link).await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains(r#"name="token""#));
    let reset = post_anonymous(
        &server,
        &link,
        "/password-reset",
        &[
            ("token", &mail.token()),
            ("password", "a new and long passphrase"),
        ],
    )
    .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        portal_sign_in_status(&server, "clerk@harbour.test", pdx_tests::PASSWORD).await,
        422
    );
    assert_eq!(
        portal_sign_in_status(&server, "clerk@harbour.test", "a new and long passphrase").await,
        303
    );
    // A made-up link: a page that says so.
    let forged = post_anonymous(
        &server,
        "/password-reset?token=pdxo_made_up",
        "/password-reset",
        &[
            ("token", "pdxo_made_up"),
            ("password", "a new and long passphrase"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 410);
}

#[tokio::test]
async fn an_invitation_is_accepted_in_the_browser() {
    let server = TestServer::spawn().await;
    server.create_org("water", pdx_core::OrgKind::Agency).await;
    server
        .create_user("water", "admin@water.test", &[pdx_core::Role::Admin])
        .await;
    let admin = server.access_token("admin@water.test").await;
    let invited = server
        .call(
            reqwest::Method::POST,
            "/api/v1/organizations/water/members",
            Some(&admin),
            Some(serde_json::json!({ "email": "new@water.test", "roles": ["publisher"] })),
        )
        .await;
    assert_eq!(invited.status(), 202);
    let mail = server
        .wait_for_mail("new@water.test", "You are invited", 1)
        .await;
    let link = link_path(&server, &mail.body);
    assert!(link.starts_with("/invitations/accept?token="), "{link}");
    let token = mail.token();
    let nameless = post_anonymous(
        &server,
        &link,
        "/invitations/accept",
        &[("token", &token), ("password", pdx_tests::PASSWORD)],
    )
    .await;
    assert_eq!(nameless.status(), 422);
    assert!(
        nameless
            .text()
            .await
            .unwrap()
            .contains(r##"href="#display_name""##)
    );
    let accepted = post_anonymous(
        &server,
        &link,
        "/invitations/accept",
        &[
            ("token", &token),
            ("display_name", "New Clerk"),
            ("password", pdx_tests::PASSWORD),
        ],
    )
    .await;
    assert_eq!(accepted.status(), 200);
    assert!(
        accepted
            .text()
            .await
            .unwrap()
            .contains("You are now a member of")
    );
    assert_eq!(
        portal_sign_in_status(&server, "new@water.test", pdx_tests::PASSWORD).await,
        303
    );
}

#[tokio::test]
async fn a_member_creates_an_api_key_sees_its_secret_once_and_revokes_it() {
    let server = TestServer::spawn_demo().await;
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let page = get_with(&server, "/workspace/keys", &member).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("/api/v1/auth/token"), "the example");
    let token = hidden(&body, "csrf");
    // Without the token: nothing is created.
    let forged = post_form(&server, "/workspace/keys", &member, &[("name", "import")]).await;
    assert_eq!(forged.status(), 403);
    let nameless = post_form(
        &server,
        "/workspace/keys",
        &member,
        &[("csrf", &token), ("name", " ")],
    )
    .await;
    assert_eq!(nameless.status(), 422);
    let created = post_form(
        &server,
        "/workspace/keys",
        &member,
        &[("csrf", &token), ("name", "nightly import")],
    )
    .await;
    assert_eq!(created.status(), 200);
    assert_eq!(
        header(&created, "cache-control").as_deref(),
        Some("no-store")
    );
    let body = created.text().await.unwrap();
    let value_after = |label: &str| -> String {
        let at = body.find(&format!("<dt>{label}</dt><dd><code")).unwrap();
        let rest = &body[at..];
        let start = rest.find('>').unwrap();
        let rest = &rest[start + 1..];
        let rest = &rest[rest.find("<code").unwrap()..];
        let rest = &rest[rest.find('>').unwrap() + 1..];
        rest[..rest.find('<').unwrap()].to_owned()
    };
    let (client_id, secret) = (value_after("client_id"), value_after("client_secret"));
    assert!(
        body.contains(&format!("-u '{client_id}:{secret}'")),
        "the example uses the key"
    );
    // The key works.
    let exchanged = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(exchanged.status(), 200);
    // Shown once: the list names it but never shows the secret again.
    let listed = get_with(&server, "/workspace/keys", &member)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("nightly import"));
    assert!(!listed.contains(&secret));
    let revoke = listed
        .split("action=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with("/revoke"))
        .unwrap()
        .to_owned();
    // Another organisation's member cannot revoke it.
    let qianhai = sign_in(&server, "member@qianhai-analytics.demo.pdx").await;
    let their_page = get_with(&server, "/workspace/keys", &qianhai)
        .await
        .text()
        .await
        .unwrap();
    let their_token = hidden(&their_page, "csrf");
    let foreign = post_form(&server, &revoke, &qianhai, &[("csrf", &their_token)]).await;
    assert_eq!(foreign.status(), 404);
    let revoked = post_form(&server, &revoke, &member, &[("csrf", &token)]).await;
    assert_eq!(revoked.status(), 303);
    let refused = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn an_agency_admin_suspends_resumes_and_revokes_a_grant_it_issued() {
    let server = TestServer::spawn_demo().await;
    let admin = sign_in(&server, "admin@sz-transport.demo.pdx").await;
    let page = get_with(&server, "/workspace/agency/grants", &admin).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Road traffic flow, Futian"),
        "the grant to Pengcheng"
    );
    assert!(body.contains("<meter"), "its use against quota");
    let token = hidden(&body, "csrf");
    // The Futian grant's form: the first change form after its title.
    let after = &body[body.find("Road traffic flow, Futian").unwrap()..];
    let action = after
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(action.starts_with("/workspace/agency/grants/"), "{action}");
    let grant = action.rsplit('/').next().unwrap().to_owned();

    // A reviewer of the agency sees the grants but may not change them; an enterprise may
    // not see the page at all.
    let reviewer = sign_in(&server, "reviewer@sz-transport.demo.pdx").await;
    let their_page = get_with(&server, "/workspace/agency/grants", &reviewer).await;
    assert_eq!(their_page.status(), 200);
    let their_body = their_page.text().await.unwrap();
    assert!(!their_body.contains("name=\"to\""), "no change forms");
    let their_token = hidden(&their_body, "csrf");
    let refused = post_form(
        &server,
        &action,
        &reviewer,
        &[("csrf", &their_token), ("to", "revoked")],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/agency/grants", &member)
            .await
            .status(),
        403
    );
    // Without the token: nothing changes.
    let forged = post_form(&server, &action, &admin, &[("to", "suspended")]).await;
    assert_eq!(forged.status(), 403);

    assert_eq!(grant_state(&server, &grant).await, "active");
    let suspended = post_form(
        &server,
        &action,
        &admin,
        &[
            ("csrf", &token),
            ("to", "suspended"),
            ("reason", "quarterly audit"),
        ],
    )
    .await;
    assert_eq!(suspended.status(), 303);
    assert_eq!(grant_state(&server, &grant).await, "suspended");
    let page = get_with(&server, "/workspace/agency/grants", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("quarterly audit"));
    let resumed = post_form(
        &server,
        &action,
        &admin,
        &[("csrf", &token), ("to", "active")],
    )
    .await;
    assert_eq!(resumed.status(), 303);
    assert_eq!(grant_state(&server, &grant).await, "active");
    let revoked = post_form(
        &server,
        &action,
        &admin,
        &[("csrf", &token), ("to", "revoked")],
    )
    .await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(grant_state(&server, &grant).await, "revoked");
    // Revocation is final: a resume from a stale page changes nothing.
    let stale = post_form(
        &server,
        &action,
        &admin,
        &[("csrf", &token), ("to", "active")],
    )
    .await;
    assert_eq!(stale.status(), 303);
    assert_eq!(grant_state(&server, &grant).await, "revoked");
}

/// A grant's state, as its agency's admin reads it through the API.
async fn grant_state(server: &TestServer, grant: &str) -> String {
    let token = server.access_token("admin@sz-transport.demo.pdx").await;
    let found = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/grants/{grant}"),
            Some(&token),
            None,
        )
        .await;
    pdx_tests::json(found).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_auditor_reads_usage_charts_and_anomalies_and_each_read_is_ledgered() {
    let server = TestServer::spawn_demo().await;
    let auditor = sign_in(&server, "auditor@demo.pdx").await;
    let before = server.access_token("auditor@demo.pdx").await;
    let count_reads = |token: String| {
        let server = &server;
        async move {
            let listed = server
                .call(
                    reqwest::Method::GET,
                    "/api/v1/ledger/entries?kind=ledger_read&per_page=1",
                    Some(&token),
                    None,
                )
                .await;
            pdx_tests::json(listed).await["total"].as_i64().unwrap()
        }
    };
    let reads = count_reads(before.clone()).await;
    let usage = get_with(&server, "/workspace/audit/usage?by=purpose", &auditor).await;
    assert_eq!(usage.status(), 200);
    let body = usage.text().await.unwrap();
    assert!(body.contains("<svg"), "the chart");
    assert!(
        body.contains("Product development"),
        "usage by purpose, in words"
    );
    // Thirty days, each a row of the table beside the chart.
    assert!(body.matches("<th scope=\"row\">").count() >= 30);
    let anomalies = get_with(
        &server,
        "/workspace/audit/anomalies?from=2026-09-01&to=2026-12-31",
        &auditor,
    )
    .await;
    assert_eq!(anomalies.status(), 200);
    let body = anomalies.text().await.unwrap();
    // A finding of the demo's quota denials (the words "no findings" alone would not do).
    assert!(body.contains(r#"<article class="finding">"#), "{body}");
    // Each read is in the ledger: the API's read of the count is one more.
    let after = count_reads(before).await;
    assert!(after >= reads + 3, "{reads} → {after}");
    // Not for others.
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/audit/usage", &member)
            .await
            .status(),
        403
    );
    assert_eq!(
        get_with(&server, "/workspace/audit/anomalies", &member)
            .await
            .status(),
        403
    );
    assert_eq!(server.get("/workspace/audit/usage").await.status(), 303);
}

#[tokio::test]
async fn only_the_owning_agency_works_on_its_datasets_and_uploads_need_the_token() {
    let server = TestServer::spawn_demo().await;
    let publisher = sign_in(&server, "publisher@sz-transport.demo.pdx").await;
    let page = get_with(&server, "/workspace/agency/datasets/bus-stops", &publisher).await;
    assert_eq!(page.status(), 200);
    // Another agency's publisher: not found; an enterprise: not its workspace.
    let other = sign_in(&server, "publisher@sz-health.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/agency/datasets/bus-stops", &other)
            .await
            .status(),
        404
    );
    assert_eq!(
        get_with(&server, "/workspace/agency/datasets/bus-stops/edit", &other)
            .await
            .status(),
        404
    );
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/agency/datasets/new", &member)
            .await
            .status(),
        403
    );
    // A new draft, then an upload without the token in its address: refused before the file
    // is read; with it, the file is added.
    let form = get_with(&server, "/workspace/agency/datasets/new", &publisher).await;
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let created = post_form(
        &server,
        "/workspace/agency/datasets/new",
        &publisher,
        &[
            ("csrf", &token),
            ("title", "Ferry piers"),
            ("description", "Where the ferries leave from."),
            ("themes", "TRAN"),
            ("themes", "GOVE"),
            ("update_frequency", "annual"),
            ("opening", "conditional"),
            ("sharing", "conditional"),
            ("grade", "general"),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let manage = header(&created, "location").unwrap();
    let upload = |path: String| {
        let server = &server;
        let publisher = publisher.clone();
        async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(b"pier\nShekou\n".to_vec())
                    .file_name("piers.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
            server
                .client
                .post(server.url(&path))
                .header("cookie", format!("pdx_session={publisher}"))
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    let forged = upload(format!("{manage}/files")).await;
    assert_eq!(forged.status(), 403);
    let uploaded = upload(format!("{manage}/files?csrf={token}")).await;
    assert_eq!(uploaded.status(), 303);
    let body = get_with(&server, &manage, &publisher)
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("piers.csv"), "the file is listed");
    // The CSV is loaded into a table: the page says when its rows can be queried, and shows
    // the columns read and where the rows are read through the API.
    let mut body = body;
    for _ in 0..100 {
        if body.contains("Queryable") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        body = get_with(&server, &manage, &publisher)
            .await
            .text()
            .await
            .unwrap();
    }
    assert!(body.contains("Queryable"), "the rows are loaded: {body}");
    assert!(
        body.contains("1 row<") || body.contains("1 row "),
        "one row: {body}"
    );
    assert!(body.contains("Columns of “piers.csv”"));
    assert!(body.contains("<code>pier</code>"), "the column is listed");
    assert!(
        body.contains("/rows</code>"),
        "the API of the rows is named"
    );
    // Both themes were kept (a repeated field).
    let api = server.access_token("publisher@sz-transport.demo.pdx").await;
    let slug = manage.rsplit('/').next().unwrap();
    let dataset = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/datasets/{slug}"),
                Some(&api),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(dataset["themes"], serde_json::json!(["GOVE", "TRAN"]));
    // The offer: purposes are required, fees are yuan to the fen; then it is set.
    let offer = format!("{manage}/offer");
    let page = get_with(&server, &manage, &publisher)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No offer yet"));
    let none = post_form(
        &server,
        &offer,
        &publisher,
        &[
            ("csrf", &token),
            ("licence_id", "CC-BY-4.0"),
            ("max_term_days", "90"),
        ],
    )
    .await;
    assert_eq!(none.status(), 422);
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("Choose at least one purpose")
    );
    let bad_fee = post_form(
        &server,
        &offer,
        &publisher,
        &[
            ("csrf", &token),
            ("licence_id", "CC-BY-4.0"),
            ("purposes", "research"),
            ("max_term_days", "90"),
            ("fee_per_request", "0.505"),
        ],
    )
    .await;
    assert_eq!(bad_fee.status(), 422);
    let set = post_form(
        &server,
        &offer,
        &publisher,
        &[
            ("csrf", &token),
            ("licence_id", "CC-BY-4.0"),
            ("purposes", "research"),
            ("purposes", "public_service"),
            ("max_term_days", "90"),
            ("max_requests", "500"),
            ("max_mb", "20"),
            ("fee_per_request", "0.5"),
            ("fee_per_mb", ""),
        ],
    )
    .await;
    assert_eq!(set.status(), 303);
    let stored = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/datasets/{slug}/offer"),
                Some(&api),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        stored["purposes"],
        serde_json::json!(["research", "public_service"])
    );
    assert_eq!(stored["max_bytes"], 20_000_000);
    assert_eq!(stored["fee_per_request"], 50);
    assert_eq!(stored["fee_per_mb"], 0);
    // Another agency cannot set it.
    let other_page = get_with(&server, "/workspace/agency", &other)
        .await
        .text()
        .await
        .unwrap();
    let other_token = hidden(&other_page, "csrf");
    let foreign = post_form(
        &server,
        &offer,
        &other,
        &[
            ("csrf", &other_token),
            ("licence_id", "CC-BY-4.0"),
            ("purposes", "research"),
            ("max_term_days", "9"),
        ],
    )
    .await;
    assert!(
        foreign.status() == 404 || foreign.status() == 403,
        "{}",
        foreign.status()
    );
    // The publisher cannot publish its own submission: that is the reviewers'.
    let submitted = post_form(
        &server,
        &format!("{manage}/lifecycle"),
        &publisher,
        &[("csrf", &token), ("action", "submit")],
    )
    .await;
    assert_eq!(submitted.status(), 303);
    let published = post_form(
        &server,
        &format!("{manage}/lifecycle"),
        &publisher,
        &[("csrf", &token), ("action", "publish")],
    )
    .await;
    assert_eq!(published.status(), 403);
}

#[tokio::test]
async fn the_data_bureau_verifies_enterprises_and_adds_agencies_and_admins_manage_members() {
    let server = TestServer::spawn_demo().await;
    let bureau = sign_in(&server, "platform-admin@demo.pdx").await;
    let page = get_with(&server, "/workspace/admin/organizations", &bureau).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("check digit correct"));
    let token = hidden(&body, "csrf");
    // The pending enterprise: its verify form.
    let pending = body
        .split("<form")
        .find(|form| form.contains(r#"name="verified" value="true""#))
        .and_then(|form| form.split("action=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("an enterprise awaiting verification")
        .to_owned();
    let slug = pending
        .trim_start_matches("/workspace/admin/organizations/")
        .trim_end_matches("/verification")
        .to_owned();
    let forged = post_form(&server, &pending, &bureau, &[("verified", "true")]).await;
    assert_eq!(forged.status(), 403);
    let verified = post_form(
        &server,
        &pending,
        &bureau,
        &[("csrf", &token), ("verified", "true")],
    )
    .await;
    assert_eq!(verified.status(), 303);
    let org = pdx_tests::json(server.get(&format!("/api/v1/organizations/{slug}")).await).await;
    assert_eq!(org["verified"], true, "{org}");

    // A new agency: a wrong credit code is said beside the field; then it is added.
    let wrong = post_form(
        &server,
        "/workspace/admin/organizations",
        &bureau,
        &[
            ("csrf", &token),
            ("name", "Shenzhen Water Bureau"),
            ("credit_code", "11440300MB2C00009X"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Enter a valid unified social credit code")
    );
    let added = post_form(
        &server,
        "/workspace/admin/organizations",
        &bureau,
        &[
            ("csrf", &token),
            ("name", "Shenzhen Water Bureau"),
            ("slug", "sz-water"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    assert_eq!(
        header(&added, "location").unwrap(),
        "/workspace/admin/organizations/sz-water"
    );

    // Not for others.
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/admin/organizations", &member)
            .await
            .status(),
        403
    );

    // An enterprise's admin manages its members, not another organisation's.
    let admin = sign_in(&server, "admin@pengcheng-mobility.demo.pdx").await;
    let own = get_with(
        &server,
        "/workspace/admin/organizations/pengcheng-mobility",
        &admin,
    )
    .await;
    assert_eq!(own.status(), 200);
    let body = own.text().await.unwrap();
    let token = hidden(&body, "csrf");
    assert_eq!(
        get_with(
            &server,
            "/workspace/admin/organizations/qianhai-analytics",
            &admin
        )
        .await
        .status(),
        403
    );
    let roleless = post_form(
        &server,
        "/workspace/admin/organizations/pengcheng-mobility/invitations",
        &admin,
        &[("csrf", &token), ("email", "analyst@pengcheng.test")],
    )
    .await;
    assert_eq!(roleless.status(), 422);
    let invited = post_form(
        &server,
        "/workspace/admin/organizations/pengcheng-mobility/invitations",
        &admin,
        &[
            ("csrf", &token),
            ("email", "analyst@pengcheng.test"),
            ("roles", "member"),
        ],
    )
    .await;
    assert_eq!(invited.status(), 303);
    server
        .wait_for_mail("analyst@pengcheng.test", "You are invited", 1)
        .await;
    // The admin cannot leave the organisation without an admin.
    assert!(body.contains("Save roles"), "{body}");
    // Every other admin is made a member; the last one cannot be.
    let action_of = |row: &str| -> String {
        row.split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let is_admin = |row: &str| {
        row.split("<input")
            .any(|input| input.contains(r#"value="admin""#) && input.contains("checked"))
    };
    let rows: Vec<&str> = body.split("<tr>").skip(2).collect();
    for row in rows
        .iter()
        .filter(|row| is_admin(row) && !row.contains("admin@pengcheng-mobility.demo.pdx"))
    {
        let demoted = post_form(
            &server,
            &action_of(row),
            &admin,
            &[("csrf", &token), ("roles", "member")],
        )
        .await;
        assert_eq!(demoted.status(), 303);
    }
    let own_row = rows
        .iter()
        .find(|row| row.contains("admin@pengcheng-mobility.demo.pdx"))
        .unwrap();
    let orphaned = post_form(
        &server,
        &action_of(own_row),
        &admin,
        &[("csrf", &token), ("roles", "member")],
    )
    .await;
    assert_eq!(orphaned.status(), 422);
    assert!(
        orphaned
            .text()
            .await
            .unwrap()
            .contains("at least one administrator")
    );
}

/// The policies in words on a page, for a failed assertion's message.
fn policies_of(body: &str) -> String {
    body.split(r#"<dl class="policy">"#)
        .skip(1)
        .filter_map(|rest| rest.split("</dl>").next())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn licences_are_listed_with_their_policies_and_the_bureau_adds_one() {
    let server = TestServer::spawn_demo().await;
    let bureau = sign_in(&server, "platform-admin@demo.pdx").await;
    let page = get_with(&server, "/workspace/admin/licences", &bureau).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("Development use") && body.contains("Open licence"));
    // Each development-use policy in words, and as ODRL JSON for machines.
    for words in [
        "Any use, when all of these hold:",
        "the declared purpose is one of Product development, Research, Public service, Education, Statistics",
        "the time since the grant began is at most 365 days",
        "Any use, when the declared purpose is Journalism.",
        "Any use, when the declared purpose is Product development.",
    ] {
        assert!(body.contains(words), "{words} in {}", policies_of(&body));
    }
    assert!(
        body.contains("&quot;permission") || body.contains("\"permission"),
        "a policy shown"
    );
    let chinese = server
        .client
        .get(server.url("/workspace/admin/licences"))
        .header("cookie", format!("pdx_session={bureau}; pdx_lang=zh"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for words in [
        "任何使用，条件是同时满足以下各项：",
        "申报的用途为以下之一：产品开发、科学研究",
        "自授权开始起的时间不超过 365 天",
        "任何使用，条件是申报的用途为新闻报道。",
    ] {
        assert!(
            chinese.contains(words),
            "{words} in {}",
            policies_of(&chinese)
        );
    }
    let token = hidden(&body, "csrf");
    let post = |pairs: Vec<(&'static str, String)>| {
        let server = &server;
        let bureau = bureau.clone();
        let token = token.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
            all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            post_form(server, "/workspace/admin/licences", &bureau, &all).await
        }
    };
    let fields = |policy: &str| {
        vec![
            ("id", "SZ-ANALYTICS-1.0".to_owned()),
            ("title", "Shenzhen analytics licence 1.0".to_owned()),
            ("url", "https://data.demo.pdx/licences/analytics".to_owned()),
            ("policy", policy.to_owned()),
        ]
    };
    let not_json = post(fields("{ permissions")).await;
    assert_eq!(not_json.status(), 422);
    assert!(not_json.text().await.unwrap().contains("not valid JSON"));
    let outside = post(fields(
        r#"{ "permissions": [{ "action": "use", "constraint": { "leftOperand": "spatial", "operator": "eq", "rightOperand": "x" } }] }"#,
    ))
    .await;
    assert_eq!(outside.status(), 422);
    assert!(
        outside
            .text()
            .await
            .unwrap()
            .contains("unknown left operand")
    );
    let added = post(fields(
        r#"{ "permissions": [{ "action": "use", "constraint": { "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research"] } }] }"#,
    ))
    .await;
    assert_eq!(added.status(), 303);
    let listed = get_with(&server, "/workspace/admin/licences", &bureau)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Shenzhen analytics licence 1.0"));
    let again = post(fields(r#"{ "permissions": [{ "action": "use" }] }"#)).await;
    assert_eq!(again.status(), 422);
    // The auditor reads them but adds none; a member may not see the page.
    let auditor = sign_in(&server, "auditor@demo.pdx").await;
    let read = get_with(&server, "/workspace/admin/licences", &auditor).await;
    assert_eq!(read.status(), 200);
    let auditor_page = read.text().await.unwrap();
    assert!(!auditor_page.contains(r#"action="/workspace/admin/licences""#));
    let auditor_token = hidden(&auditor_page, "csrf");
    let refused = post_form(
        &server,
        "/workspace/admin/licences",
        &auditor,
        &[
            ("csrf", &auditor_token),
            ("id", "X"),
            ("title", "X"),
            ("url", "https://x.test"),
            ("policy", "{}"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    assert_eq!(
        get_with(&server, "/workspace/admin/licences", &member)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_member_withdraws_a_request_awaiting_a_decision() {
    let server = TestServer::spawn_demo().await;
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let page = get_with(&server, "/workspace/enterprise", &member)
        .await
        .text()
        .await
        .unwrap();
    let token = hidden(&page, "csrf");
    let action = page
        .split("action=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with("/withdraw"))
        .expect("a request awaiting a decision")
        .to_owned();
    let id = action.split('/').nth(4).unwrap().to_owned();
    // Without the token, or by another organisation: nothing changes.
    assert_eq!(
        post_form(&server, &action, &member, &[]).await.status(),
        403
    );
    let qianhai = sign_in(&server, "member@qianhai-analytics.demo.pdx").await;
    let their_page = get_with(&server, "/workspace/enterprise", &qianhai)
        .await
        .text()
        .await
        .unwrap();
    let their_token = hidden(&their_page, "csrf");
    assert_eq!(
        post_form(&server, &action, &qianhai, &[("csrf", &their_token)])
            .await
            .status(),
        404
    );
    let api = server
        .access_token("member@pengcheng-mobility.demo.pdx")
        .await;
    assert_eq!(request_status(&server, &api, &id).await, "submitted");
    let withdrawn = post_form(&server, &action, &member, &[("csrf", &token)]).await;
    assert_eq!(withdrawn.status(), 303);
    assert_eq!(request_status(&server, &api, &id).await, "withdrawn");
}

/// An access request's status, as its organisation reads it through the API.
async fn request_status(server: &TestServer, token: &str, id: &str) -> String {
    let found = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/access-requests/{id}"),
            Some(token),
            None,
        )
        .await;
    pdx_tests::json(found).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A dataset's title and description in the reader's language: the demo's datasets are
/// described in Chinese with an English translation; an English reader meets the translation
/// on the home page, in results and on the dataset page, a Chinese reader the original, and
/// the publisher writes the translation in the editor.
#[tokio::test]
async fn titles_and_descriptions_are_shown_in_the_readers_language() {
    let server = TestServer::spawn_demo().await;
    let (_, zh) = page(&server, "/datasets/bus-stops", Some("zh-CN")).await;
    assert!(zh.contains("<h1>深圳市公交站点</h1>"), "{zh}");
    assert!(zh.contains("全市公交站点位置与名称，每日更新。"));
    assert!(!zh.contains("Location and name of every bus stop"));
    let (_, en) = page(&server, "/datasets/bus-stops", Some("en")).await;
    assert!(en.contains("<h1>Shenzhen bus stops</h1>"), "{en}");
    assert!(
        en.contains("<title>Shenzhen bus stops"),
        "the window title too"
    );
    assert!(en.contains("Location and name of every bus stop in the city, updated daily."));
    assert!(!en.contains("全市公交站点位置与名称"));

    // An English search finds it by its English title and shows that title and description,
    // the words searched for marked in them.
    let (_, results) = page(&server, "/datasets?q=bus%20stops", Some("en")).await;
    assert!(
        results.contains(">Shenzhen <mark>bus</mark> <mark>stops</mark></a>"),
        "{results}"
    );
    assert!(results.contains("every <mark>bus</mark> <mark>stop</mark> in the city"));
    let (_, results) = page(&server, "/datasets?q=%E5%85%AC%E4%BA%A4", Some("zh-CN")).await;
    assert!(
        results.contains("<mark>公交</mark>"),
        "the original is highlighted"
    );

    // The editor: an English description without an English title is said beside the field;
    // with both, the English reader sees them.
    let publisher = sign_in(&server, "publisher@sz-transport.demo.pdx").await;
    let form = get_with(&server, "/workspace/agency/datasets/new", &publisher).await;
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let post = |title_en: &'static str| {
        let (server, publisher, token) = (&server, publisher.clone(), token.clone());
        async move {
            let fields = [
                ("csrf", token.as_str()),
                ("title", "轮渡码头"),
                ("description", "轮渡码头的位置。"),
                ("title_en", title_en),
                ("description_en", "Where the ferries leave from."),
                ("themes", "TRAN"),
                ("update_frequency", "annual"),
                ("opening", "conditional"),
                ("sharing", "conditional"),
                ("grade", "general"),
            ];
            post_form(
                server,
                "/workspace/agency/datasets/new",
                &publisher,
                &fields,
            )
            .await
        }
    };
    let refused = post("").await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("An English description needs an English title."),
        "{body}"
    );
    let created = post("Ferry piers").await;
    assert_eq!(created.status(), 303);
    let manage = header(&created, "location").unwrap();
    let edit = get_with(&server, &format!("{manage}/edit"), &publisher)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        edit.contains(r#"value="Ferry piers""#),
        "the editor shows the translation"
    );
    assert!(edit.contains("Where the ferries leave from."));
}

/// An organisation's admin withdraws an invitation and removes a member in the browser: the
/// invitation's link and the member's session stop working, and a second withdrawal is said
/// in words.
#[tokio::test]
async fn an_admin_withdraws_an_invitation_and_removes_a_member() {
    let server = TestServer::spawn_demo().await;
    let admin = sign_in(&server, "admin@pengcheng-mobility.demo.pdx").await;
    let member = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let members = "/workspace/admin/organizations/pengcheng-mobility";
    let page = get_with(&server, members, &admin)
        .await
        .text()
        .await
        .unwrap();
    let token = hidden(&page, "csrf");
    let invited = post_form(
        &server,
        &format!("{members}/invitations"),
        &admin,
        &[
            ("csrf", &token),
            ("email", "analyst@pengcheng.test"),
            ("roles", "member"),
        ],
    )
    .await;
    assert_eq!(invited.status(), 303);
    let mail = server
        .wait_for_mail("analyst@pengcheng.test", "You are invited", 1)
        .await;
    let link = link_path(&server, &mail.body);
    let page = get_with(&server, members, &admin)
        .await
        .text()
        .await
        .unwrap();
    let row = page
        .split("<tr>")
        .find(|row| row.contains("analyst@pengcheng.test"))
        .expect("the invitation is listed");
    let withdraw = row
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(withdraw.ends_with("/withdraw"), "{withdraw}");
    let withdrawn = post_form(&server, &withdraw, &admin, &[("csrf", &token)]).await;
    assert_eq!(withdrawn.status(), 303);
    let page = get_with(&server, members, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("analyst@pengcheng.test"), "no longer listed");
    let again = post_form(&server, &withdraw, &admin, &[("csrf", &token)]).await;
    assert_eq!(again.status(), 422);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already accepted, withdrawn or has expired")
    );
    // The withdrawn link admits nobody.
    let accepted = post_anonymous(
        &server,
        &link,
        "/invitations/accept",
        &[
            ("token", &mail.token()),
            ("name", "Analyst"),
            ("password", pdx_tests::PASSWORD),
        ],
    )
    .await;
    assert_ne!(accepted.status(), 303, "a withdrawn invitation is refused");
    assert_eq!(
        portal_sign_in_status(&server, "analyst@pengcheng.test", pdx_tests::PASSWORD).await,
        422,
        "no account was made"
    );

    // Another organisation's admin cannot withdraw or remove here.
    let other = sign_in(&server, "admin@sz-transport.demo.pdx").await;
    let other_page = get_with(
        &server,
        "/workspace/admin/organizations/sz-transport",
        &other,
    )
    .await
    .text()
    .await
    .unwrap();
    let other_token = hidden(&other_page, "csrf");
    let row = page
        .split("<tr>")
        .find(|row| row.contains("member@pengcheng-mobility.demo.pdx"))
        .expect("the member is listed");
    let remove = row
        .split("action=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with("/remove"))
        .unwrap()
        .to_owned();
    let refused = post_form(&server, &remove, &other, &[("csrf", &other_token)]).await;
    assert_eq!(refused.status(), 403);

    // The member's session works until the member is removed, and not after.
    assert_eq!(
        get_with(&server, "/workspace/keys", &member).await.status(),
        200
    );
    let removed = post_form(&server, &remove, &admin, &[("csrf", &token)]).await;
    assert_eq!(removed.status(), 303);
    let page = get_with(&server, members, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("member@pengcheng-mobility.demo.pdx"));
    let after = get_with(&server, "/workspace/keys", &member).await;
    assert_ne!(
        after.status(),
        200,
        "the removed member's session no longer works"
    );
}

#[tokio::test]
async fn a_member_of_two_organisations_chooses_which_one_to_act_for() {
    let server = TestServer::spawn_demo().await;
    // The enterprise's member is invited into the transport agency too, and accepts with the
    // account they have.
    let agency_admin = server.access_token("admin@sz-transport.demo.pdx").await;
    let invited = server
        .call(
            reqwest::Method::POST,
            "/api/v1/organizations/sz-transport/members",
            Some(&agency_admin),
            Some(serde_json::json!({
                "email": "member@pengcheng-mobility.demo.pdx", "roles": ["publisher"]
            })),
        )
        .await;
    assert_eq!(invited.status(), 202);
    let token = server
        .wait_for_mail(
            "member@pengcheng-mobility.demo.pdx",
            "You are invited to join",
            1,
        )
        .await
        .token();
    let accepted = server
        .call(
            reqwest::Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(serde_json::json!({ "token": token })),
        )
        .await;
    assert_eq!(accepted.status(), 200);

    let session = sign_in(&server, "member@pengcheng-mobility.demo.pdx").await;
    let page = get_with(&server, "/workspace/enterprise", &session).await;
    assert_eq!(page.status(), 200, "acts for the enterprise first");
    let body = page.text().await.unwrap();
    assert!(
        body.contains(r#"action="/account/organization""#),
        "a choice"
    );
    assert!(body.contains(r#"<option value="sz-transport""#), "{body}");
    let token = hidden(&body, "csrf");
    let act_for = |organization: &'static str, csrf: Option<&str>| {
        let (server, session) = (&server, session.clone());
        let mut form = vec![("organization", organization.to_owned())];
        form.extend(csrf.map(|t| ("csrf", t.to_owned())));
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(server, "/account/organization", &session, &pairs).await
        }
    };
    let enterprise_status = || async {
        get_with(&server, "/workspace/enterprise", &session)
            .await
            .status()
    };

    // Without the form's token, or for an organisation the user is not in: nothing changes.
    assert_eq!(act_for("sz-transport", None).await.status(), 403);
    assert_eq!(act_for("platform", Some(&token)).await.status(), 403);
    assert_eq!(enterprise_status().await, 200);

    // Choosing the agency: its workspace, with the roles held there, and the enterprise's
    // workspace is no longer this session's.
    let switched = act_for("sz-transport", Some(&token)).await;
    assert_eq!(switched.status(), 303);
    assert_eq!(header(&switched, "location").as_deref(), Some("/workspace"));
    let home = get_with(&server, "/workspace", &session).await;
    assert_eq!(
        header(&home, "location").as_deref(),
        Some("/workspace/agency")
    );
    let agency = get_with(&server, "/workspace/agency", &session).await;
    assert_eq!(agency.status(), 200);
    let agency = agency.text().await.unwrap();
    assert!(
        agency.contains(r#"<option value="sz-transport" selected"#),
        "{agency}"
    );
    assert_eq!(enterprise_status().await, 403);
    // The switch is in the ledger.
    let entries = ledger_items(&server, "kind=organization_switched").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    // And back again.
    assert_eq!(
        act_for("pengcheng-mobility", Some(&token)).await.status(),
        303
    );
    assert_eq!(enterprise_status().await, 200);
}

#[tokio::test]
async fn column_rules_chosen_in_the_portal_are_what_a_grant_reads() {
    let server = TestServer::spawn_demo().await;
    let slug = "traffic-flow-longgang";
    let manage = format!("/workspace/agency/datasets/{slug}");
    let admin = sign_in(&server, "admin@sz-transport.demo.pdx").await;
    let page = get_with(&server, &manage, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Columns a grant"),
        "the column rules are offered"
    );
    for column in ["hour", "road_id", "vehicles", "mean_speed_kmh"] {
        assert!(
            page.contains(&format!(r#"name="rule_column" value="{column}""#)),
            "{column} can be ruled"
        );
    }
    let token = hidden(&page, "csrf");
    let offer = |rules: &'static [(&'static str, &'static str, &'static str)]| {
        let mut pairs = vec![
            ("csrf", token.as_str()),
            ("licence_id", "CC-BY-4.0"),
            ("purposes", "research"),
            ("max_term_days", "90"),
            ("max_rows", "1000"),
        ];
        for (column, rule, characters) in rules {
            pairs.extend([
                ("rule_column", *column),
                ("rule", *rule),
                ("rule_characters", *characters),
            ]);
        }
        let server = &server;
        let admin = admin.clone();
        let manage = manage.clone();
        async move { post_form(server, &format!("{manage}/offer"), &admin, &pairs).await }
    };
    // A rule the platform does not know, or too many characters kept: the form again.
    let unknown = offer(&[("road_id", "reveal", "")]).await;
    assert_eq!(unknown.status(), 422);
    let too_many = offer(&[("road_id", "keep_last", "40")]).await;
    assert_eq!(too_many.status(), 422);
    assert!(
        too_many
            .text()
            .await
            .unwrap()
            .contains("Keep 1 to 16 characters")
    );
    let set = offer(&[
        ("hour", "month", ""),
        ("road_id", "hash", ""),
        ("vehicles", "plain", ""),
        ("mean_speed_kmh", "drop", ""),
    ])
    .await;
    assert_eq!(set.status(), 303);
    let api = server.access_token("admin@sz-transport.demo.pdx").await;
    let stored = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/datasets/{slug}/offer"),
                Some(&api),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(stored["max_rows"], 1000);
    assert_eq!(
        stored["column_rules"]["allow"],
        serde_json::json!(["vehicles"])
    );
    assert_eq!(stored["column_rules"]["masks"]["road_id"]["rule"], "hash");
    assert_eq!(stored["column_rules"]["masks"]["hour"]["rule"], "month");
    // The page shows the rules as stored.
    let page = get_with(&server, &manage, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<option value="hash" selected>"#), "{page}");

    // An enterprise asks; the reviewer sees the offer's rules and keeps only the last two
    // characters of the road instead of its hash.
    let member = server
        .access_token("member@pengcheng-mobility.demo.pdx")
        .await;
    let request = server
        .call(
            reqwest::Method::POST,
            "/api/v1/access-requests",
            Some(&member),
            Some(serde_json::json!({
                "dataset": slug, "purpose": "research",
                "statement": "Congestion research", "term_days": 30
            })),
        )
        .await;
    assert_eq!(request.status(), 201);
    let id = pdx_tests::json(request).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let review = format!("/workspace/agency/requests/{id}");
    let page = get_with(&server, &review, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<option value="hash" selected>"#),
        "the offer's rules are shown"
    );
    assert!(page.contains(r#"name="max_rows""#));
    let approved = post_form(
        &server,
        &format!("{review}/approve"),
        &admin,
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("max_rows", "50"),
            ("rule_column", "hour"),
            ("rule", "month"),
            ("rule_characters", ""),
            ("rule_column", "road_id"),
            ("rule", "keep_last"),
            ("rule_characters", "2"),
            ("rule_column", "vehicles"),
            ("rule", "plain"),
            ("rule_characters", ""),
            ("rule_column", "mean_speed_kmh"),
            ("rule", "drop"),
            ("rule_characters", ""),
        ],
    )
    .await;
    assert_eq!(approved.status(), 303);

    // The rows the grant reads follow the reviewer's rules.
    let distribution = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/datasets/{slug}"),
                Some(&member),
                None,
            )
            .await,
    )
    .await["distributions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = server
        .client
        .get(server.url(&format!(
            "/api/v1/distributions/{distribution}/rows?limit=5"
        )))
        .bearer_auth(&member)
        .header("x-pdx-purpose", "research")
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), 200);
    let rows = pdx_tests::json(rows).await;
    for row in rows["rows"].as_array().unwrap() {
        let road = row["road_id"].as_str().unwrap();
        assert!(road.starts_with("**") && road.len() == 4, "{road}");
        // Date-times are kept in UTC: the first hours of June (+08:00) are still May.
        let month = row["hour"].as_str().unwrap();
        assert!(month == "2025-05" || month == "2025-06", "{month}");
        assert!(row["vehicles"].is_number());
        assert!(row.get("mean_speed_kmh").is_none(), "{row}");
    }
    // The row quota is the reviewer's: 50 rows, not the offer's 1,000.
    let grants = pdx_tests::json(
        server
            .call(reqwest::Method::GET, "/api/v1/grants", Some(&member), None)
            .await,
    )
    .await;
    let grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["request_id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the grant is listed: {grants}"));
    assert_eq!(grant["max_rows"], 50, "{grant}");
}

#[tokio::test]
async fn an_agency_adds_a_live_api_and_sets_its_gateway_in_the_portal() {
    const SECRET: &str = "portal-upstream-secret-51c2";
    let upstream = pdx_tests::upstream::TestUpstream::start().await;
    let server =
        TestServer::spawn_demo_with(|config| config.gateway.allow_private_networks = true).await;
    let admin = sign_in(&server, "admin@sz-transport.demo.pdx").await;
    let form = get_with(&server, "/workspace/agency/datasets/new", &admin).await;
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let created = post_form(
        &server,
        "/workspace/agency/datasets/new",
        &admin,
        &[
            ("csrf", &token),
            ("title", "Bus positions, live"),
            ("description", "Where each bus is, every few seconds."),
            ("themes", "TRAN"),
            ("update_frequency", "continuous"),
            ("opening", "open"),
            ("sharing", "unconditional"),
            ("grade", "general"),
            ("licence", "CC-BY-4.0"),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let manage = header(&created, "location").unwrap();
    let slug = manage.rsplit('/').next().unwrap().to_owned();

    // The API is added to the draft; its gateway is not configured yet.
    let untitled = post_form(
        &server,
        &format!("{manage}/apis"),
        &admin,
        &[
            ("csrf", &token),
            ("api_title", " "),
            ("access_url", "https://transit.example.gov/docs"),
        ],
    )
    .await;
    assert_eq!(untitled.status(), 422);
    assert!(
        untitled
            .text()
            .await
            .unwrap()
            .contains("Give the API a title")
    );
    let added = post_form(
        &server,
        &format!("{manage}/apis"),
        &admin,
        &[
            ("csrf", &token),
            ("api_title", "Bus positions"),
            ("access_url", "https://transit.example.gov/docs"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let location = header(&added, "location").unwrap();
    let id = location.rsplit("#gateway-").next().unwrap().to_owned();
    let page = get_with(&server, &manage, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Gateway of “Bus positions”"));
    assert!(page.contains("Not configured"));

    let upstream_form = format!("{manage}/apis/{id}/upstream");
    let configure = |pairs: Vec<(&'static str, String)>| {
        let server = &server;
        let admin = admin.clone();
        let path = upstream_form.clone();
        let token = token.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
            all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            post_form(server, &path, &admin, &all).await
        }
    };
    // An address that is not http(s), or a header credential without its secret: the form
    // again, the problem said next to the field, nothing stored.
    let ftp = configure(vec![
        ("base_url", "ftp://transit.example.gov/".into()),
        ("credential_kind", "none".into()),
        ("methods", "GET".into()),
    ])
    .await;
    assert_eq!(ftp.status(), 422);
    assert!(
        ftp.text()
            .await
            .unwrap()
            .contains("Enter the service's http or https address")
    );
    let secretless = configure(vec![
        ("base_url", format!("{}/v1", upstream.base_url)),
        ("credential_kind", "header".into()),
        ("credential_name", "X-Api-Key".into()),
        ("methods", "GET".into()),
    ])
    .await;
    assert_eq!(secretless.status(), 422);
    assert!(
        secretless
            .text()
            .await
            .unwrap()
            .contains("This credential is incomplete")
    );
    let set = configure(vec![
        ("base_url", format!("{}/v1", upstream.base_url)),
        ("credential_kind", "header".into()),
        ("credential_name", "X-Api-Key".into()),
        ("credential_secret", SECRET.into()),
        ("methods", "GET".into()),
        ("paths", "/stops/*\n/lines/**".into()),
        ("timeout_ms", "2000".into()),
        ("max_concurrency", "4".into()),
    ])
    .await;
    assert_eq!(set.status(), 303);
    let page = get_with(&server, &manage, &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Forwarding"));
    assert!(page.contains(&format!("{}/v1", upstream.base_url)));
    assert!(
        page.contains("is held by PDX"),
        "the credential's date is said"
    );
    assert!(!page.contains(SECRET), "the secret is never shown again");
    // Another agency cannot touch it.
    let stranger = sign_in(&server, "admin@sz-health.demo.pdx").await;
    let stranger_page = get_with(&server, "/workspace/agency", &stranger)
        .await
        .text()
        .await
        .unwrap();
    let hijack = post_form(
        &server,
        &upstream_form,
        &stranger,
        &[
            ("csrf", &hidden(&stranger_page, "csrf")),
            ("base_url", "https://evil.example/"),
            ("credential_kind", "keep"),
            ("methods", "GET"),
        ],
    )
    .await;
    assert_eq!(hijack.status(), 404);

    // Published, the API is called through the gateway with the credential PDX holds, on the
    // paths allowed only.
    let api = server.access_token("admin@sz-transport.demo.pdx").await;
    server.submit_and_publish(&api, &api, &slug).await;
    let call = |path: &str| {
        server
            .client
            .get(server.url(&format!("/api/v1/distributions/{id}/api{path}")))
            .send()
    };
    let answer = call("/stops/1024").await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    assert!(body.contains("/v1/stops/1024"), "{body}");
    assert!(!body.contains(SECRET));
    let received = upstream.recorded();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("x-api-key"), Some(SECRET));
    let refused = call("/admin").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        upstream.recorded().len(),
        1,
        "a refused call never reaches the upstream"
    );

    // Keeping the credential while changing the paths; then forwarding stops.
    let kept = configure(vec![
        ("base_url", format!("{}/v1", upstream.base_url)),
        ("credential_kind", "keep".into()),
        ("methods", "GET".into()),
        ("paths", "/**".into()),
    ])
    .await;
    assert_eq!(kept.status(), 303);
    assert_eq!(call("/admin").await.unwrap().status(), 200);
    assert_eq!(upstream.recorded()[1].header("x-api-key"), Some(SECRET));
    let removed = post_form(
        &server,
        &format!("{upstream_form}/remove"),
        &admin,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(call("/stops/1").await.unwrap().status(), 409);
    assert_eq!(upstream.recorded().len(), 2);
}
