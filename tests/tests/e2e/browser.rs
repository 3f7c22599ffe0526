//! The portal in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`), on the demo. Screenshots of every page visited are saved under
//! `target/tmp/portal-screenshots/<test>/`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions: a failed unwrap is a failed assertion"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use pdx_tests::TestServer;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium under its own chromedriver; both stop when it is dropped.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    taken: usize,
}

impl Browser {
    async fn start(test: &str, language: &str, width: u32, height: u32) -> Self {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: the portal's browser tests need Debian's chromium and \
                 chromium-driver (apt-get install chromium chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--lang={language}"),
                ],
                "prefs": { "intl.accept_languages": language },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut client = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(connected) => {
                    client = Some(connected);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("chromedriver answers within 10 s");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("portal-screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            client,
            driver,
            shots,
            taken: 0,
        }
    }

    async fn shot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks what leads to another page and waits until that page has replaced this one, so
    /// that nothing looked for afterwards is found on the page that was left (which may have
    /// the same element: a second error summary, a state tag).
    async fn follow(&self, css: &str) {
        let left = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        for _ in 0..100 {
            match left.tag_name().await {
                Err(e) if e.is_stale_element_reference() => return,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("{css} does not lead to another page within 5 s");
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} does not appear: {e}"))
    }

    /// Whether the page is wider than the window.
    async fn scrolls_sideways(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap()
            == serde_json::Value::Bool(true)
    }

    async fn close(mut self) {
        self.client.clone().close().await.unwrap();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn a_visitor_searches_in_chinese_finds_a_dataset_and_reads_it_in_english() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("anonymous-visitor", "zh-CN", 1280, 900).await;
    let c = browser.client.clone();

    c.goto(&server.url("/")).await.unwrap();
    assert_eq!(browser.text("h1").await, "查找和使用本市公共数据");
    browser.shot("home-zh").await;

    // Type into the search box and submit with the keyboard.
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("公交站点").await.unwrap();
    // The suggestions appear under the box.
    let suggestion = browser.wait_for("#q-suggestions a").await;
    assert!(suggestion.text().await.unwrap().contains("公交"));
    browser.shot("suggestions").await;
    browser.follow("form.search button[type=submit]").await;
    browser.wait_for("#result-count").await;
    assert!(browser.text("h1").await.contains("公交站点"));
    let first = c.find(Locator::Css("ol.cards li.card h3 a")).await.unwrap();
    assert!(first.html(true).await.unwrap().contains("<mark>"));
    browser.shot("results-zh").await;

    // Narrow by a facet, then open the bus stops.
    browser.follow(".facets a[href*='theme=TRAN']").await;
    browser.wait_for(".facets a.on").await;
    browser.follow("a[href='/datasets/bus-stops']").await;
    browser.wait_for("aside.get").await;
    assert!(
        browser
            .text("aside.get")
            .await
            .contains("可以，现在就能下载")
    );
    browser.shot("dataset-zh").await;

    // Switch to English: the same page, in English, remembered on the next page.
    browser.follow("a[hreflang='en']").await;
    browser.wait_for("html[lang='en']").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/datasets/bus-stops");
    assert!(
        browser
            .text("aside.get")
            .await
            .contains("Yes — download it now.")
    );
    browser.shot("dataset-en").await;

    // Its stops as a table, searched, in English and then in Chinese.
    browser.follow("a[href^='/datasets/bus-stops/rows/']").await;
    browser.wait_for(".rows-table table").await;
    assert!(browser.text("h1").await.starts_with("Rows of"));
    let rows = c.current_url().await.unwrap().path().to_owned();
    browser.shot("table-en").await;
    // Filtered with the form to the first stop's district: every row shown is in it.
    let district = browser
        .text(".rows-table tbody tr:first-child td:nth-child(3)")
        .await;
    c.find(Locator::Css("#table-fcol"))
        .await
        .unwrap()
        .select_by_value("district")
        .await
        .unwrap();
    c.find(Locator::Css("#table-fval"))
        .await
        .unwrap()
        .send_keys(&district)
        .await
        .unwrap();
    browser.follow("form.filters button").await;
    browser.wait_for(".rows-table table").await;
    let districts = c
        .find_all(Locator::Css(".rows-table tbody td:nth-child(3)"))
        .await
        .unwrap();
    assert!(!districts.is_empty());
    for cell in districts {
        assert_eq!(cell.text().await.unwrap(), district);
    }
    assert!(
        browser
            .text("#table-filters + ul")
            .await
            .contains(&district)
    );
    browser.shot("table-filtered-en").await;
    // The same filtered rows in Chinese.
    browser.follow("a[hreflang='zh-CN']").await;
    browser.wait_for("html[lang='zh-CN']").await;
    assert!(browser.text("h1").await.contains("数据行"));
    assert!(
        browser
            .text("#table-filters + ul")
            .await
            .contains(&format!("district 等于 “{district}”"))
    );
    browser.shot("table-zh").await;
    c.goto(&server.url(&format!("/lang/en?next={rows}")))
        .await
        .unwrap();
    browser.wait_for("html[lang='en']").await;
    c.goto(&server.url("/datasets?q=air%20quality"))
        .await
        .unwrap();
    assert!(browser.text("h1").await.contains("air quality"));
    browser.shot("results-en").await;

    // A page that does not exist: the friendly page, with the request id.
    c.goto(&server.url("/datasets/no-such-dataset"))
        .await
        .unwrap();
    assert_eq!(browser.text("h1").await, "Page not found");
    assert!(!browser.text(".request-id code").await.is_empty());
    browser.shot("not-found-en").await;
    browser.close().await;
}

#[tokio::test]
async fn pages_work_on_a_phone_and_with_the_keyboard_alone() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("phone", "en", 390, 844).await;
    let c = browser.client.clone();
    c.goto(&server.url("/datasets/taxi-trips-2024"))
        .await
        .unwrap();
    // Nothing is wider than the screen.
    assert!(
        !browser.scrolls_sideways().await,
        "the page scrolls sideways"
    );
    assert!(browser.text("aside.get").await.contains("Yes, on request."));
    browser.shot("dataset-phone").await;

    // The first Tab reaches the skip link, which moves the focus to the main content.
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("skip")
    );
    browser.shot("skip-link").await;
    focused.send_keys("\u{E007}").await.unwrap();
    let hash = c
        .execute("return window.location.hash;", vec![])
        .await
        .unwrap();
    assert_eq!(hash, serde_json::Value::String("#main".to_owned()));
    c.goto(&server.url("/")).await.unwrap();
    browser.shot("home-phone").await;
    // A table of rows scrolls inside its frame; the page does not scroll sideways.
    let bus = pdx_tests::json(server.get("/api/v1/datasets/bus-stops").await).await;
    let csv = bus["distributions"][1]["id"].as_str().unwrap();
    c.goto(&server.url(&format!("/datasets/bus-stops/rows/{csv}")))
        .await
        .unwrap();
    browser.wait_for(".rows-table table").await;
    assert!(
        !browser.scrolls_sideways().await,
        "the table page scrolls sideways"
    );
    browser.shot("table-phone").await;
    // The registration form fits the phone too, its errors beside the fields.
    c.goto(&server.url("/register")).await.unwrap();
    browser.follow("form[action='/register'] button").await;
    browser.wait_for(".error-summary").await;
    assert!(!browser.scrolls_sideways().await);
    browser.shot("register-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn a_member_signs_in_sees_the_workspace_and_signs_out() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("sign-in", "zh-CN", 1280, 900).await;
    let c = browser.client.clone();
    c.goto(&server.url("/datasets/taxi-trips-2024"))
        .await
        .unwrap();
    browser.follow("aside.get a.button").await;
    browser.wait_for("form[action='/sign-in']").await;
    browser.shot("sign-in-zh").await;
    // A wrong password: the error summary, focused on the field.
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("member@pengcheng-mobility.demo.pdx")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("wrong")
        .await
        .unwrap();
    browser
        .follow("form[action='/sign-in'] button[type=submit]")
        .await;
    browser.wait_for(".error-summary").await;
    assert!(
        browser
            .text(".error-summary")
            .await
            .contains("电子邮箱或密码不正确")
    );
    browser.shot("sign-in-error-zh").await;
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("pdx-demo-2026")
        .await
        .unwrap();
    browser
        .follow("form[action='/sign-in'] button[type=submit]")
        .await;
    // Back on the dataset the member came from, signed in.
    browser.wait_for("aside.get").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/datasets/taxi-trips-2024"
    );
    browser.follow("a[href='/workspace']").await;
    browser.wait_for("ul.grants, .work").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/workspace/enterprise"
    );
    assert!(browser.text("h1").await.contains("本单位的数据使用"));
    browser.shot("workspace-enterprise-zh").await;
    browser.follow("form[action='/sign-out'] button").await;
    browser.wait_for("a[href^='/sign-in']").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    browser.shot("signed-out").await;
    browser.close().await;
}

impl Browser {
    async fn type_into(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn sign_in(&mut self, server: &TestServer, email: &str) {
        self.client.goto(&server.url("/sign-in")).await.unwrap();
        self.type_into("email", email).await;
        self.type_into("password", "pdx-demo-2026").await;
        self.follow("form[action='/sign-in'] button[type=submit]")
            .await;
        self.wait_for("a[href='/workspace']").await;
    }

    async fn sign_out(&mut self) {
        self.follow("form[action='/sign-out'] button").await;
        self.wait_for("a[href^='/sign-in']").await;
    }

    /// Opens `path` until `css` appears on it (the page is reloaded every 200 ms, for 10 s).
    async fn open_until(&self, server: &TestServer, path: &str, css: &str) {
        for _ in 0..50 {
            self.client.goto(&server.url(path)).await.unwrap();
            if self.client.find(Locator::Css(css)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{css} does not appear on {path}");
    }
}

/// The whole story on the demo, in Chinese: a visitor finds conditional data; an enterprise
/// member signs in and requests it; the agency's reviewer approves with tighter terms; the
/// member sees the grant and downloads; the auditor finds the download in the ledger, sees its
/// inclusion proof verified against the signed checkpoint, and finds it on the month's
/// statement, which downloads as CSV.
#[tokio::test]
async fn a_request_is_approved_used_and_found_by_the_auditor_in_the_ledger() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("story", "zh-CN", 1280, 900).await;
    let c = browser.client.clone();

    // A visitor searches in Chinese and finds the traffic flow of Luohu: on request.
    c.goto(&server.url("/")).await.unwrap();
    browser.type_into("q", "罗湖 交通流量").await;
    browser.follow("form.search button[type=submit]").await;
    browser.wait_for("#result-count").await;
    browser.shot("search").await;
    browser
        .follow("ol.cards a[href='/datasets/traffic-flow-luohu']")
        .await;
    browser.wait_for("aside.get").await;
    assert!(browser.text("aside.get").await.contains("可以，需提出申请"));
    browser.shot("dataset-anonymous").await;

    // The enterprise member signs in and requests access.
    browser
        .sign_in(&server, "member@pengcheng-mobility.demo.pdx")
        .await;
    c.goto(&server.url("/datasets/traffic-flow-luohu"))
        .await
        .unwrap();
    browser.shot("dataset-member").await;
    browser
        .follow("aside.get a[href='/datasets/traffic-flow-luohu/request']")
        .await;
    browser.wait_for("form[action$='/request']").await;
    // Too short a statement: the error summary, and the message beside the field.
    browser.type_into("statement", "短").await;
    browser.follow("form[action$='/request'] button").await;
    browser.wait_for(".error-summary").await;
    assert!(
        browser
            .text(".error-summary")
            .await
            .contains("请用 10 至 5000 字说明用途")
    );
    browser.shot("request-error").await;
    browser
        .type_into(
            "statement",
            "用于罗湖区出行App的实时路况预测。Congestion forecasts for our journey planner in Luohu.",
        )
        .await;
    browser.type_into("term_days", "90").await;
    browser.follow("form[action$='/request'] button").await;
    browser.wait_for(".notice.success").await;
    browser.shot("request-sent").await;
    let row = c
        .find(Locator::XPath(
            "//section[h2[@id='requests-title']]//tr[th/a[@href='/datasets/traffic-flow-luohu']]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("待审核"), "{row}");
    browser.sign_out().await;

    // The transport bureau's reviewer approves it with a smaller request quota.
    browser
        .sign_in(&server, "reviewer@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url("/workspace/agency")).await.unwrap();
    browser.shot("review-queue").await;
    browser
        .follow("#queue-title ~ ul a[href^='/workspace/agency/requests/']")
        .await;
    browser.wait_for("form[action$='/approve']").await;
    assert!(browser.text(".narrow").await.contains("鹏城"));
    browser.shot("review-request").await;
    browser.type_into("max_requests", "25").await;
    browser.follow("form[action$='/approve'] button").await;
    browser.wait_for(".tag.open").await;
    assert!(browser.text(".narrow .tag").await.contains("已批准"));
    browser.shot("review-approved").await;
    browser.sign_out().await;

    // The member sees the grant with its quota and downloads a file under it.
    browser
        .sign_in(&server, "member@pengcheng-mobility.demo.pdx")
        .await;
    c.goto(&server.url("/workspace/enterprise")).await.unwrap();
    let grants = browser.text("ul.grants").await;
    assert!(grants.contains("罗湖区道路交通流量"), "{grants}");
    assert!(grants.contains("0 / 25"), "{grants}");
    browser.shot("workspace-grant").await;
    c.goto(&server.url("/datasets/traffic-flow-luohu"))
        .await
        .unwrap();
    assert!(browser.text("aside.get").await.contains("已获使用授权"));
    browser.shot("dataset-granted").await;
    browser.click("form.download button[type=submit]").await;
    // The receipt appears among the member's receipts.
    browser
        .open_until(
            &server,
            "/workspace/enterprise",
            "#receipts-title ~ div table tbody tr td a[href='/datasets/traffic-flow-luohu']",
        )
        .await;
    let receipt = c
        .find(Locator::XPath(
            "//section[h2[@id='receipts-title']]//tr[td/a[@href='/datasets/traffic-flow-luohu']]/th",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seq: u64 = receipt.trim().parse().unwrap();
    assert!(browser.text("ul.grants").await.contains("1 / 25"));
    browser.shot("workspace-receipt").await;
    browser.sign_out().await;

    // The auditor finds the download in the ledger browser …
    browser.sign_in(&server, "auditor@demo.pdx").await;
    c.goto(
        &server
            .url("/workspace/ledger?kind=data_access&dataset=traffic-flow-luohu&decision=permit"),
    )
    .await
    .unwrap();
    let first = browser.text("table.ledger tbody tr th").await;
    assert_eq!(first.trim(), seq.to_string());
    browser.shot("ledger-browser").await;
    // … sees its inclusion proof verified against the latest signed checkpoint …
    browser
        .open_until(
            &server,
            &format!("/workspace/ledger/{seq}"),
            ".proof.verified",
        )
        .await;
    assert!(browser.text(".proof").await.contains("已验证"));
    assert!(
        browser
            .text("pre.json code")
            .await
            .contains("\"kind\": \"data_access\"")
    );
    browser.shot("ledger-entry").await;
    // … and finds it on the enterprise's statement for the month.
    c.goto(&server.url("/workspace/statements?organization=pengcheng-mobility"))
        .await
        .unwrap();
    browser
        .wait_for(&format!(
            "table.statement a[href='/workspace/ledger/{seq}']"
        ))
        .await;
    let row = c
        .find(Locator::XPath(&format!(
            "//tr[td/a[@href='/workspace/ledger/{seq}']]"
        )))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("罗湖区道路交通流量"), "{row}");
    browser.shot("statement").await;
    let csv_link = c
        .find(Locator::Css("a[href^='/workspace/statements.csv']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    c.goto(&server.url("/workspace/audit/usage?by=consumer"))
        .await
        .unwrap();
    browser.wait_for("figure.chart svg").await;
    assert!(browser.text("#by-title ~ div table").await.contains("鹏城"));
    browser.shot("usage").await;
    c.goto(&server.url("/workspace/audit/anomalies"))
        .await
        .unwrap();
    browser.shot("anomalies").await;
    let session = c.get_named_cookie("pdx_session").await.unwrap();
    browser.close().await;

    // The CSV has the same line, with the entry's number.
    let csv = server
        .client
        .get(server.url(&csv_link))
        .header("cookie", format!("pdx_session={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let body = csv.text().await.unwrap();
    let line = body
        .lines()
        .find(|l| l.contains("罗湖区道路交通流量"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(line.contains(&seq.to_string()), "{line}");
}

/// axe-core, vendored (see `tests/vendor/axe-core/README.md`).
const AXE: &str = include_str!("../../vendor/axe-core/axe.min.js");

impl Browser {
    /// Runs axe-core's WCAG 2.1 A and AA rules on the current page; returns the violations
    /// (rule, impact and up to five elements each), none when the page passes.
    async fn accessibility_violations(&self) -> Vec<String> {
        self.client.execute(AXE, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag',
                     values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                   .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' +
                       v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(found).unwrap()
    }

    /// Opens each path and collects its violations, as `path: violation`.
    async fn check_pages(&self, server: &TestServer, paths: &[String], failures: &mut Vec<String>) {
        for path in paths {
            self.client.goto(&server.url(path)).await.unwrap();
            for violation in self.accessibility_violations().await {
                failures.push(format!("{path}: {violation}"));
            }
        }
    }
}

/// A grant holder chooses a loaded file and a purpose on the dataset page and reads its rows
/// with the columns the grant allows, in Chinese and then in English.
#[tokio::test]
async fn a_grant_holder_reads_a_tables_rows_for_a_purpose_in_both_languages() {
    let server = TestServer::spawn_demo().await;
    let member = "member@pengcheng-mobility.demo.pdx";
    let slug = "traffic-flow-luohu";
    // The member holds a grant for the offer's first purpose (granted through the API: the
    // story test goes through the request and the review in the browser).
    let token = server.access_token(member).await;
    let offer = pdx_tests::json(
        server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/datasets/{slug}/offer"),
                Some(&token),
                None,
            )
            .await,
    )
    .await;
    let purpose = offer["purposes"][0].as_str().unwrap().to_owned();
    let request = server
        .call(
            reqwest::Method::POST,
            "/api/v1/access-requests",
            Some(&token),
            Some(serde_json::json!({
                "dataset": slug, "purpose": purpose,
                "statement": "Congestion forecasts for our journey planner", "term_days": 30,
            })),
        )
        .await;
    assert_eq!(request.status(), 201);
    let request = pdx_tests::json(request).await;
    let reviewer = server.access_token("reviewer@sz-transport.demo.pdx").await;
    let approved = server
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/access-requests/{}/approve",
                request["id"].as_str().unwrap()
            ),
            Some(&reviewer),
            None,
        )
        .await;
    assert_eq!(approved.status(), 200);

    let mut browser = Browser::start("grant-holder-table", "zh-CN", 1280, 900).await;
    let c = browser.client.clone();
    browser.sign_in(&server, member).await;
    c.goto(&server.url(&format!("/datasets/{slug}")))
        .await
        .unwrap();
    browser.wait_for("form.rows").await;
    browser.shot("dataset-granted-zh").await;
    browser.follow("form.rows button[type=submit]").await;
    browser.wait_for(".rows-table table").await;
    assert!(browser.text("main").await.contains("用途："));
    assert!(
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap()
            .contains("purpose=")
    );
    browser.shot("table-zh").await;
    browser.follow("a[hreflang='en']").await;
    browser.wait_for("html[lang='en']").await;
    browser.wait_for(".rows-table table").await;
    assert!(browser.text("main").await.contains("Read for the purpose"));
    browser.shot("table-en").await;
    // On a phone: the table scrolls in its frame, the page does not; so does the dataset
    // page with the grant's form.
    let table = c.current_url().await.unwrap();
    c.set_window_size(390, 844).await.unwrap();
    c.goto(table.as_str()).await.unwrap();
    browser.wait_for(".rows-table table").await;
    assert!(
        !browser.scrolls_sideways().await,
        "the table page scrolls sideways"
    );
    browser.shot("table-phone-en").await;
    c.goto(&server.url(&format!("/datasets/{slug}")))
        .await
        .unwrap();
    browser.wait_for("form.rows").await;
    assert!(
        !browser.scrolls_sideways().await,
        "the dataset page scrolls sideways"
    );
    browser.shot("dataset-granted-phone-en").await;
    browser.close().await;
}

#[tokio::test]
async fn every_kind_of_page_passes_the_automated_accessibility_check_in_both_languages() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("accessibility", "zh-CN", 1280, 900).await;
    let c = browser.client.clone();
    let public: Vec<String> = [
        "/",
        "/datasets?q=%E5%85%AC%E4%BA%A4",
        "/datasets?q=bus&theme=TRAN&page=2",
        "/datasets/bus-stops",
        "/datasets/traffic-flow-luohu",
        "/organizations",
        "/organizations/sz-transport",
        "/reports",
        "/about",
        "/accessibility",
        "/sign-in",
        "/register",
        "/password-reset",
        "/invitations/accept?token=x",
        "/no-such-page",
    ]
    .map(str::to_owned)
    .to_vec();
    // The bus stops' table, whose file has an id of this run.
    let bus = pdx_tests::json(server.get("/api/v1/datasets/bus-stops").await).await;
    let csv = bus["distributions"][1]["id"].as_str().unwrap();
    let mut public = public;
    public.push(format!("/datasets/bus-stops/rows/{csv}"));
    // The check finds what it should: an image without a text alternative.
    c.goto(&server.url("/about")).await.unwrap();
    c.execute(
        "const img = document.createElement('img'); img.src = 'data:,'; document.querySelector('main').appendChild(img);",
        vec![],
    )
    .await
    .unwrap();
    let planted = browser.accessibility_violations().await;
    assert!(
        planted.iter().any(|v| v.starts_with("image-alt")),
        "{planted:?}"
    );
    let mut failures = Vec::new();
    for language in ["zh", "en"] {
        c.goto(&server.url(&format!("/lang/{language}?next=/")))
            .await
            .unwrap();
        browser.check_pages(&server, &public, &mut failures).await;
    }
    // The pages of each role, in both languages.
    let roles = [
        (
            "member@pengcheng-mobility.demo.pdx",
            vec![
                "/workspace/enterprise",
                "/datasets/traffic-flow-luohu/request",
                "/datasets/traffic-flow-futian",
                "/workspace/ledger",
                "/workspace/statements",
                "/workspace/keys",
            ],
        ),
        (
            "reviewer@sz-environment.demo.pdx",
            vec!["/workspace/agency"],
        ),
        (
            "platform-admin@demo.pdx",
            vec![
                "/workspace/admin/organizations",
                "/workspace/admin/organizations/sz-transport",
                "/workspace/admin/licences",
            ],
        ),
        (
            "admin@sz-transport.demo.pdx",
            vec![
                "/workspace/agency/grants",
                "/workspace/agency/datasets/new",
                "/workspace/agency/datasets/bus-stops",
                "/workspace/agency/datasets/bus-stops/edit",
                "/workspace/agency/datasets/traffic-flow-luohu",
            ],
        ),
        (
            "auditor@demo.pdx",
            vec![
                "/workspace/audit",
                "/workspace/ledger?kind=data_access",
                "/workspace/statements?organization=pengcheng-mobility",
                "/workspace/audit/usage",
                "/workspace/audit/usage?by=purpose",
                "/workspace/audit/anomalies",
            ],
        ),
    ];
    for (email, paths) in roles {
        browser.sign_in(&server, email).await;
        let mut paths: Vec<String> = paths.into_iter().map(str::to_owned).collect();
        if email.starts_with("reviewer") {
            // A request awaiting the reviewer's decision.
            c.goto(&server.url("/workspace/agency")).await.unwrap();
            let request = c
                .find(Locator::Css("a[href^='/workspace/agency/requests/']"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            paths.push(request);
        }
        if email.starts_with("auditor") {
            c.goto(&server.url("/workspace/ledger")).await.unwrap();
            let entry = c
                .find(Locator::Css("table.ledger tbody a"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            paths.push(entry);
        }
        for language in ["zh", "en"] {
            c.goto(&server.url(&format!("/lang/{language}?next=/")))
                .await
                .unwrap();
            browser.check_pages(&server, &paths, &mut failures).await;
        }
        browser.sign_out().await;
    }
    browser.shot("last-page").await;
    browser.close().await;
    assert!(
        failures.is_empty(),
        "accessibility violations:\n{}",
        failures.join("\n")
    );
}

/// An agency publishes in the browser, in English: the publisher describes a dataset (told
/// beside the fields what is missing and which classification rule a choice breaks), uploads
/// its file with the progress bar, and submits it; the reviewer returns it with a comment,
/// then publishes the corrected version; the public finds it.
#[tokio::test]
async fn a_publisher_describes_uploads_and_submits_and_the_reviewer_publishes() {
    let server = TestServer::spawn_demo().await;
    let mut browser = Browser::start("publishing", "en", 1280, 900).await;
    let c = browser.client.clone();
    c.goto(&server.url("/lang/en?next=/")).await.unwrap();
    browser
        .sign_in(&server, "publisher@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url("/workspace/agency")).await.unwrap();
    browser
        .follow("a[href='/workspace/agency/datasets/new']")
        .await;
    browser
        .wait_for("form[action='/workspace/agency/datasets/new']")
        .await;
    // Open data without a title or licence: both said, beside their fields.
    browser.click("#opening-open").await;
    browser
        .follow("form[action='/workspace/agency/datasets/new'] > button[type=submit]")
        .await;
    browser.wait_for(".error-summary").await;
    browser.shot("editor-errors").await;
    let summary = browser.text(".error-summary").await;
    assert!(
        summary.contains("Open data must name its licence"),
        "the classification rule: {summary}"
    );
    let listed = c
        .find_all(Locator::Css(".error-summary li"))
        .await
        .unwrap()
        .len();
    assert!(
        listed >= 3,
        "title, description and licence at once: {summary}"
    );
    browser
        .type_into("title", "Ferry timetables 轮渡时刻表")
        .await;
    browser
        .type_into(
            "description",
            "Departures of the ferries of Shekou and Fuyong, updated weekly.",
        )
        .await;
    browser.type_into("keywords", "ferry, 轮渡").await;
    browser.click("#theme-TRAN").await;
    browser.click("#opening-open").await;
    browser.click("#sharing-unconditional").await;
    browser.click("#grade-general").await;
    browser
        .follow("form[action='/workspace/agency/datasets/new'] > button[type=submit]")
        .await;
    browser.wait_for(".error-summary").await;
    assert!(
        browser
            .text(".error-summary")
            .await
            .contains("Open data must name its licence")
    );
    let licence = c
        .find(Locator::Css("#licence option[value]:not([value=''])"))
        .await
        .unwrap();
    licence.click().await.unwrap();
    browser
        .follow("form[action='/workspace/agency/datasets/new'] > button[type=submit]")
        .await;
    browser.wait_for("form.upload").await;
    let manage = c.current_url().await.unwrap().path().to_owned();
    assert!(
        manage.starts_with("/workspace/agency/datasets/ferry-timetables"),
        "{manage}"
    );
    browser.shot("draft").await;

    // Upload a file, with the progress bar.
    let file = std::env::temp_dir().join(format!("ferry-{}.csv", std::process::id()));
    std::fs::write(&file, "pier,departure\nShekou,07:30\nFuyong,08:15\n").unwrap();
    c.find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    browser.type_into("file-title", "Timetable CSV").await;
    browser.click("form.upload button[type=submit]").await;
    browser
        .open_until(&server, &manage, "#files-title ~ div table tbody tr")
        .await;
    assert!(
        browser
            .text("#files-title ~ div table")
            .await
            .contains("Timetable CSV")
    );
    let _ = std::fs::remove_file(&file);
    browser.shot("uploaded").await;
    browser.follow("form.lifecycle button").await;
    browser.wait_for(".tag").await;
    assert!(
        browser.text("h1 + p .tag").await.contains("review"),
        "submitted"
    );
    browser.sign_out().await;

    // The reviewer returns it with a comment, and the publisher sees it.
    browser
        .sign_in(&server, "reviewer@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url(&manage)).await.unwrap();
    browser.shot("review").await;
    browser
        .type_into("comment-return", "Say which piers are covered.")
        .await;
    browser
        .follow("form.lifecycle:has(input[value='return']) button")
        .await;
    browser.wait_for(".notice").await;
    assert!(browser.text(".notice").await.contains("Say which piers"));
    browser.sign_out().await;
    browser
        .sign_in(&server, "publisher@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url(&format!("{manage}/edit")))
        .await
        .unwrap();
    browser
        .type_into(
            "description",
            "Departures of the ferries of Shekou and Fuyong piers, updated weekly.",
        )
        .await;
    browser
        .follow("form[action$='/edit'] > button[type=submit]")
        .await;
    browser.wait_for("form.lifecycle").await;
    browser.follow("form.lifecycle button").await;
    browser.wait_for(".tag").await;
    browser.sign_out().await;
    browser
        .sign_in(&server, "reviewer@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url(&manage)).await.unwrap();
    browser
        .follow("form.lifecycle:has(input[value='publish']) button")
        .await;
    browser
        .wait_for("a[href^='/datasets/ferry-timetables']")
        .await;
    browser.shot("published").await;
    browser.sign_out().await;

    // The public finds it.
    c.goto(&server.url("/datasets?q=ferry")).await.unwrap();
    browser
        .follow("ol.cards a[href^='/datasets/ferry-timetables']")
        .await;
    browser.wait_for("aside.get").await;
    assert!(browser.text("aside.get").await.contains("download it now"));
    browser.shot("public").await;
    browser.close().await;
}

/// An agency clerk adds a live API to a draft and sets the gateway's upstream in the browser
/// (a refused form first); once published, a visitor opens the service from the dataset page
/// and is answered by the upstream through PDX, which adds the credential it holds.
#[tokio::test]
async fn a_clerk_sets_a_live_apis_gateway_and_a_visitor_is_answered_through_pdx() {
    const SECRET: &str = "browser-upstream-secret-7d1e";
    let upstream = pdx_tests::upstream::TestUpstream::start().await;
    let server =
        TestServer::spawn_demo_with(|config| config.gateway.allow_private_networks = true).await;
    // The draft is described through the API: the publishing test covers the editor.
    let api = server.access_token("admin@sz-transport.demo.pdx").await;
    let created = server
        .call(
            reqwest::Method::POST,
            "/api/v1/datasets",
            Some(&api),
            Some(serde_json::json!({
                "slug": "bus-positions-live", "title": "Bus positions, live",
                "description": "Where each bus is, every few seconds.",
                "update_frequency": "continuous", "languages": ["zh", "en"], "themes": ["TRAN"],
                "sharing_class": "unconditional", "opening_class": "open", "grade": "general",
                "licence": "CC-BY-4.0",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let manage = "/workspace/agency/datasets/bus-positions-live";

    let mut browser = Browser::start("gateway", "en", 1280, 1000).await;
    let c = browser.client.clone();
    c.goto(&server.url("/lang/en?next=/")).await.unwrap();
    browser
        .sign_in(&server, "admin@sz-transport.demo.pdx")
        .await;
    c.goto(&server.url(manage)).await.unwrap();
    browser.click("details.add-api summary").await;
    browser.type_into("api_title", "Bus positions").await;
    browser
        .type_into("access_url", "https://transit.example.gov/docs")
        .await;
    browser.follow("details.add-api button[type=submit]").await;
    let details = browser.wait_for("details.gateway-details").await;
    let id = details
        .attr("id")
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("gateway-")
        .to_owned();
    let block = format!("#gateway-{id}");
    browser.click(&format!("{block} > summary")).await;
    assert!(browser.text(&block).await.contains("Not configured"));
    browser.shot("api-added").await;

    // A header credential without its secret: the form again, the problem beside the field.
    let base = format!("{}/v1", upstream.base_url);
    fill_gateway(&browser, &id, &base, None).await;
    browser
        .wait_for(&format!("{block}[open] .field-error"))
        .await;
    assert!(
        browser
            .text(&format!("{block} .field-error"))
            .await
            .contains("This credential is incomplete")
    );
    browser.shot("gateway-refused").await;
    fill_gateway(&browser, &id, &base, Some(SECRET)).await;
    browser.wait_for(&format!("{block} .tag.open")).await;
    browser.click(&format!("{block} > summary")).await;
    let shown = browser.text(&block).await;
    assert!(shown.contains("Forwarding"), "{shown}");
    // Its state as the gateway sees it: answering, and how many calls at once it takes.
    assert!(shown.contains("Answering"), "{shown}");
    assert!(
        shown.contains(
            "0 of the 16 calls this server forwards at once are running (16 for the platform"
        ),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("{}/v1", upstream.base_url)),
        "{shown}"
    );
    assert!(
        !c.source().await.unwrap().contains(SECRET),
        "the secret is never shown again"
    );
    browser.shot("gateway-set").await;
    c.goto(&server.url(&format!("/lang/zh?next={manage}")))
        .await
        .unwrap();
    browser.click(&format!("{block} > summary")).await;
    let shown = browser.text(&block).await;
    assert!(
        shown.contains("正在转发") && shown.contains("正常应答"),
        "{shown}"
    );
    browser.shot("gateway-set-zh").await;
    // On a phone the block's settings and its state wrap within the page.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&server.url(manage)).await.unwrap();
    browser.click(&format!("{block} > summary")).await;
    assert!(browser.text(&block).await.contains("正常应答"));
    assert!(
        !browser.scrolls_sideways().await,
        "the agency's gateway block scrolls sideways on a phone"
    );
    c.execute(
        &format!("document.getElementById('gateway-{id}').scrollIntoView();"),
        vec![],
    )
    .await
    .unwrap();
    browser.shot("gateway-set-phone-zh").await;
    c.set_window_size(1280, 1000).await.unwrap();
    browser.sign_out().await;

    // Published, the service is opened from the public dataset page: PDX forwards the call
    // with the credential it holds and logs it.
    server
        .submit_and_publish(&api, &api, "bus-positions-live")
        .await;
    c.goto(&server.url("/lang/en?next=/datasets/bus-positions-live"))
        .await
        .unwrap();
    let open = format!("a[href='/api/v1/distributions/{id}/data']");
    browser.wait_for(&open).await;
    assert!(browser.text(&open).await.contains("Open the service"));
    assert!(
        browser
            .text("aside.get")
            .await
            .contains("Yes — use the service now."),
        "a service is called, not downloaded"
    );
    let row = browser.text("#files-title ~ div table tbody").await;
    assert!(
        row.contains(&format!("/api/v1/distributions/{id}/api/")),
        "where programs call it: {row}"
    );
    browser.shot("public-dataset").await;
    // On a phone the files and services stack and the call address wraps, in both languages:
    // the page never scrolls sideways.
    let page = c.current_url().await.unwrap();
    c.set_window_size(390, 844).await.unwrap();
    let in_chinese = server.url(&format!("/lang/zh?next={}", page.path()));
    for (address, shot) in [
        (page.as_str(), "public-dataset-phone"),
        (in_chinese.as_str(), "public-dataset-phone-zh"),
    ] {
        c.goto(address).await.unwrap();
        browser.wait_for(&open).await;
        assert!(
            !browser.scrolls_sideways().await,
            "{shot}: the public page of a live API scrolls sideways on a phone"
        );
        c.execute(
            "document.getElementById('files-title').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        browser.shot(shot).await;
    }
    browser.follow(&open).await;
    let answered = browser.text("body").await;
    assert!(answered.contains("\"path\":\"/v1/\""), "{answered}");
    browser.shot("answered-through-pdx").await;
    let received = upstream.recorded();
    assert_eq!(received.len(), 1, "one call reached the upstream");
    assert_eq!(received[0].header("x-api-key"), Some(SECRET));
    browser.close().await;
}

/// Fills the gateway form of API `id` with a header credential (its secret when given) and
/// sends it.
async fn fill_gateway(browser: &Browser, id: &str, base: &str, secret: Option<&str>) {
    browser.type_into(&format!("base_url-{id}"), base).await;
    browser
        .click(&format!("#credential_kind-{id} option[value='header']"))
        .await;
    browser
        .type_into(&format!("credential_name-{id}"), "X-Api-Key")
        .await;
    if let Some(secret) = secret {
        browser
            .type_into(&format!("credential_secret-{id}"), secret)
            .await;
    }
    browser.type_into(&format!("timeout_ms-{id}"), "2000").await;
    browser
        .follow(&format!(
            "#gateway-{id} form[action$='/upstream'] button[type=submit]"
        ))
        .await;
}

/// Every workspace page of every role fits a phone's screen in both languages: nothing
/// scrolls the page sideways (wide tables scroll within their own box).
#[tokio::test]
async fn every_workspace_page_fits_a_phone_in_both_languages() {
    let server = TestServer::spawn_demo().await;
    let mut failures = Vec::new();
    for language in ["zh-CN", "en"] {
        let mut browser =
            Browser::start(&format!("workspace-phone-{language}"), language, 390, 844).await;
        for email in [
            "member@pengcheng-mobility.demo.pdx",
            "reviewer@sz-transport.demo.pdx",
            "admin@sz-transport.demo.pdx",
            "auditor@demo.pdx",
            "platform-admin@demo.pdx",
        ] {
            browser.sign_in(&server, email).await;
            browser
                .client
                .goto(&server.url("/workspace"))
                .await
                .unwrap();
            let mut pages = vec![
                browser
                    .client
                    .current_url()
                    .await
                    .unwrap()
                    .path()
                    .to_owned(),
            ];
            for link in browser
                .client
                .find_all(Locator::Css("nav.side a"))
                .await
                .unwrap()
            {
                if let Some(href) = link.attr("href").await.unwrap()
                    && !pages.contains(&href)
                {
                    pages.push(href);
                }
            }
            assert!(pages.len() > 1, "{email} has workspace pages: {pages:?}");
            // A dataset's page, with its loaded table's columns unfolded; one obtained on
            // request, at its offer and the column rules of its grants.
            let dataset = "/workspace/agency/datasets/bus-stops";
            let offered = "/workspace/agency/datasets/traffic-flow-futian";
            if email.starts_with("admin@") {
                pages.push(dataset.to_owned());
                pages.push(offered.to_owned());
            }
            for path in pages {
                browser.client.goto(&server.url(&path)).await.unwrap();
                if path == dataset {
                    browser
                        .client
                        .execute(
                            "document.querySelectorAll('details').forEach(d => d.open = true);
                             document.querySelector('details').scrollIntoView();",
                            vec![],
                        )
                        .await
                        .unwrap();
                }
                if path == offered {
                    browser
                        .client
                        .execute(
                            "document.querySelector('.column-rules').scrollIntoView();",
                            vec![],
                        )
                        .await
                        .unwrap();
                }
                let overflow = browser
                    .client
                    .execute(
                        "return document.documentElement.scrollWidth - window.innerWidth;",
                        vec![],
                    )
                    .await
                    .unwrap()
                    .as_i64()
                    .unwrap_or(i64::MAX);
                if overflow > 1 {
                    // What sticks out, outside the boxes that scroll on their own.
                    let wide = browser
                        .client
                        .execute(
                            "const w = window.innerWidth; const out = [];
                             for (const e of document.querySelectorAll('body *')) {
                               const r = e.getBoundingClientRect();
                               if (r.right > w + 1)
                                 out.push(e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(r.right) + ' in ' + (e.parentElement.closest('.table-wrap') ? 'wrap' : 'page'));
                             }
                             return out.slice(0, 6).join(', ');",
                            vec![],
                        )
                        .await
                        .unwrap();
                    failures.push(format!(
                        "{language} {email} {path}: {overflow} px too wide ({wide})"
                    ));
                }
                let name = format!(
                    "{}{}",
                    email.split('@').next().unwrap_or("page"),
                    path.replace('/', "-")
                );
                browser.shot(&name).await;
            }
            browser.sign_out().await;
        }
        browser.close().await;
    }
    assert!(
        failures.is_empty(),
        "pages wider than a phone:\n{}",
        failures.join("\n")
    );
}
