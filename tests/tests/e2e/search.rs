//! Catalog search over real HTTP: relevance in English and Chinese, phrases, typos, facets and
//! highlights from the search engine, suggestions for the search box, the same answers on
//! either database, and the index of a second server process following the first's writes
//! through the database.

use std::time::{Duration, Instant};

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, expect_problem, json, urlencode};
use reqwest::Method;
use serde_json::{Value, json};

/// A dataset to publish: slug, title, description, keywords, theme, opening class.
struct Seed {
    slug: &'static str,
    title: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    theme: &'static str,
    opening: &'static str,
    /// The file's format: `CSV` or `JSON`.
    format: &'static str,
}

const fn seed(
    slug: &'static str,
    title: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    theme: &'static str,
) -> Seed {
    Seed {
        slug,
        title,
        description,
        keywords,
        theme,
        opening: "open",
        format: "CSV",
    }
}

/// The transport bureau's datasets, then the health commission's.
const TRANSPORT: &[Seed] = &[
    seed(
        "bus-routes",
        "Bus routes 公交线路",
        "Every bus route of the city with the stops it serves.",
        &["bus", "公交"],
        "TRAN",
    ),
    seed(
        "bus-stops",
        "Bus stops 公交站点",
        "Locations of bus stops.",
        &["bus"],
        "TRAN",
    ),
    Seed {
        format: "JSON",
        ..seed(
            "parking",
            "Parking 停车场",
            "Car parks and their capacity.",
            &["parking", "停车"],
            "TRAN",
        )
    },
    seed(
        "traffic-counts",
        "Traffic counts 交通流量",
        "Vehicle counts near parking garages and on main roads.",
        &["traffic"],
        "TRAN",
    ),
    seed(
        "business-registrations",
        "Business registrations 企业登记",
        "Companies registered in the city.",
        &["business", "企业"],
        "ECON",
    ),
    seed(
        "city-parks",
        "City parks 城市公园",
        "Parks and gardens with their opening hours.",
        &["parks", "公园"],
        "ENVI",
    ),
    seed(
        "air-quality",
        "Air quality 空气质量",
        "Hourly readings of monitoring stations.",
        &["air", "空气"],
        "ENVI",
    ),
    seed(
        "water-quality",
        "Water quality 水质监测",
        "Quality of river water, with the air temperature at sampling.",
        &["water"],
        "ENVI",
    ),
];

const HEALTH: &[Seed] = &[
    seed(
        "hospitals",
        "Hospitals 医院名录",
        "Public hospitals with their departments.",
        &["health", "医院"],
        "HEAL",
    ),
    Seed {
        opening: "conditional",
        ..seed(
            "hospital-beds",
            "Hospital beds 医院床位",
            "Beds in use per hospital, daily.",
            &["health"],
            "HEAL",
        )
    },
];

struct Catalog {
    server: TestServer,
    health: String,
}

fn body(seed: &Seed) -> Value {
    let open = seed.opening == "open";
    json!({
        "slug": seed.slug,
        "title": seed.title,
        "description": seed.description,
        "keywords": seed.keywords,
        "themes": [seed.theme],
        "spatial": "深圳市 Shenzhen",
        "update_frequency": "daily",
        "languages": ["zh", "en"],
        "sharing_class": if open { "unconditional" } else { "conditional" },
        "opening_class": seed.opening,
        "grade": "general",
        "licence": if open { Some("CC-BY-4.0") } else { None },
    })
}

async fn publish(server: &TestServer, token: &str, seed: &Seed) {
    let created = server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(token),
            Some(body(seed)),
        )
        .await;
    if created.status() != 201 {
        panic!(
            "{}: {}",
            seed.slug,
            created.text().await.unwrap_or_default()
        );
    }
    let (content, media) = if seed.format == "CSV" {
        ("id,name\n1,a\n", "text/csv")
    } else {
        ("[{\"id\":1}]", "application/octet-stream")
    };
    let upload = server
        .client
        .post(server.url(&format!(
            "/api/v1/datasets/{}/distributions?format={}",
            seed.slug, seed.format
        )))
        .bearer_auth(token)
        .header("content-type", media)
        .body(content)
        .send()
        .await;
    let Ok(upload) = upload else {
        panic!("upload failed")
    };
    if upload.status() != 201 {
        panic!("{}: {}", seed.slug, upload.text().await.unwrap_or_default());
    }
    server.submit_and_publish(token, token, seed.slug).await;
}

/// Two agencies and their published datasets, and a draft that must never be found.
async fn catalog() -> Catalog {
    let server = TestServer::spawn().await;
    let roles = [Role::Admin, Role::Publisher, Role::Reviewer];
    server.create_org("transport", OrgKind::Agency).await;
    server.create_org("health", OrgKind::Agency).await;
    server
        .create_user("transport", "admin@transport.test", &roles)
        .await;
    server
        .create_user("health", "admin@health.test", &roles)
        .await;
    let transport = server.access_token("admin@transport.test").await;
    let health = server.access_token("admin@health.test").await;
    for seed in TRANSPORT {
        publish(&server, &transport, seed).await;
    }
    for seed in HEALTH {
        publish(&server, &health, seed).await;
    }
    let draft = seed(
        "bus-depot-plans",
        "Bus depot plans 公交车场规划",
        "Plans for new bus depots, not yet public.",
        &["bus"],
        "TRAN",
    );
    let created = server
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&transport),
            Some(body(&draft)),
        )
        .await;
    assert_eq!(created.status(), 201);
    Catalog { server, health }
}

async fn search_at(base: &str, query: &str) -> Value {
    let response = reqwest::get(format!("{base}/api/v1/datasets?{query}")).await;
    let Ok(response) = response else {
        panic!("search failed: {query}")
    };
    assert_eq!(response.status(), 200, "{query}");
    json(response).await
}

async fn search(server: &TestServer, query: &str) -> Value {
    search_at(&server.base_url, query).await
}

fn slugs(found: &Value) -> Vec<String> {
    found["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["slug"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn find(server: &TestServer, text: &str) -> Vec<String> {
    slugs(&search(server, &format!("q={}", urlencode(text))).await)
}

fn position(found: &[String], slug: &str) -> usize {
    match found.iter().position(|s| s == slug) {
        Some(at) => at,
        None => panic!("{slug} not found in {found:?}"),
    }
}

#[tokio::test]
async fn english_words_find_each_other_in_any_inflection_and_rank_titles_first() {
    let c = catalog().await;
    let singular = find(&c.server, "hospital").await;
    assert_eq!(singular, ["hospitals", "hospital-beds"], "title word first");
    let plural = find(&c.server, "hospitals").await;
    assert_eq!(plural.len(), 2, "{plural:?}");
    assert!(plural.contains(&"hospital-beds".to_owned()));

    // "bus" is a word of its own: bus datasets come before anything merely starting with it.
    let bus = find(&c.server, "bus").await;
    assert!(
        position(&bus, "bus-routes") < 2 && position(&bus, "bus-stops") < 2,
        "{bus:?}"
    );
    if let Some(business) = bus.iter().position(|s| s == "business-registrations") {
        assert!(business >= 2, "{bus:?}");
    }
    let exact = find(&c.server, "bus routes").await;
    assert_eq!(exact, ["bus-routes"]);

    // A title match ranks above a description match. (English stemming makes "parking" and
    // "parks" one word, as search engines do, so both titles match.)
    let parking = find(&c.server, "parking").await;
    assert_eq!(parking.len(), 3, "{parking:?}");
    assert!(
        position(&parking, "parking") < 2 && position(&parking, "city-parks") < 2,
        "{parking:?}"
    );
    assert_eq!(
        parking.last().map(String::as_str),
        Some("traffic-counts"),
        "{parking:?}"
    );

    // A typo is forgiven in a short query.
    assert_eq!(find(&c.server, "hospitl").await.len(), 2);
    assert_eq!(find(&c.server, "quallity").await.len(), 2);
    assert!(find(&c.server, "hospitl registrations").await.is_empty());

    // Words typed without quotes may stand apart; quoted, they must stand together.
    let loose = find(&c.server, "air quality").await;
    assert_eq!(loose.first().map(String::as_str), Some("air-quality"));
    assert!(loose.contains(&"water-quality".to_owned()), "{loose:?}");
    assert_eq!(find(&c.server, "\"air quality\"").await, ["air-quality"]);
    // Stop words alone match nothing rather than everything.
    assert!(find(&c.server, "the of").await.is_empty());
}

#[tokio::test]
async fn chinese_words_find_their_datasets_and_not_others_sharing_a_character() {
    let c = catalog().await;
    let bus = find(&c.server, "公交").await;
    assert_eq!(bus.len(), 2, "{bus:?}");
    assert!(bus.contains(&"bus-routes".to_owned()) && bus.contains(&"bus-stops".to_owned()));
    assert_eq!(find(&c.server, "城市公园").await, ["city-parks"]);
    assert_eq!(
        find(&c.server, "公园").await,
        ["city-parks"],
        "公 is shared with 公交"
    );
    assert_eq!(find(&c.server, "医院").await.len(), 2);
    assert_eq!(find(&c.server, "空气质量").await, ["air-quality"]);
    assert_eq!(
        find(&c.server, "质量").await.first().map(String::as_str),
        Some("air-quality"),
        "质量 is inside 空气质量"
    );
    // Mixed: both words must match.
    let mixed = find(&c.server, "公交 stops").await;
    assert_eq!(
        mixed.first().map(String::as_str),
        Some("bus-stops"),
        "{mixed:?}"
    );
    assert!(!mixed.contains(&"city-parks".to_owned()), "{mixed:?}");
    // The publisher's place and theme labels are searchable too.
    assert_eq!(
        find(&c.server, "深圳").await.len(),
        TRANSPORT.len() + HEALTH.len()
    );
    assert_eq!(
        find(&c.server, "交通").await.len(),
        4,
        "the TRAN theme's label"
    );
}

#[tokio::test]
async fn drafts_never_appear_and_highlights_mark_the_matched_words() {
    let c = catalog().await;
    for text in ["depot", "公交车场", "bus depot plans"] {
        assert!(find(&c.server, text).await.is_empty(), "{text}");
    }
    let found = search(&c.server, "q=hospital").await;
    let id = found["items"][0]["id"].as_str().unwrap_or_default();
    let highlight = &found["highlights"][id];
    assert_eq!(
        highlight["title"], "<mark>Hospitals</mark> 医院名录",
        "{found}"
    );
    assert_eq!(
        highlight["description"],
        "Public <mark>hospitals</mark> with their departments."
    );
    let traffic = search(&c.server, "q=parking&theme=TRAN").await;
    assert_eq!(slugs(&traffic), ["parking", "traffic-counts"]);
    let id = traffic["items"][1]["id"].as_str().unwrap_or_default();
    assert_eq!(
        traffic["highlights"][id]["title"], "Traffic counts 交通流量",
        "no word of the title matched: it is shown as it is"
    );
    // Without text there is nothing to highlight.
    let all = search(&c.server, "theme=HEAL").await;
    assert!(all.get("highlights").is_none(), "{all}");
}

#[tokio::test]
async fn facets_filters_sorting_and_paging_come_from_the_engine() {
    let c = catalog().await;
    let count = |found: &Value, facet: &str, value: &str| {
        found["facets"][facet]
            .as_array()
            .and_then(|values| values.iter().find(|v| v["value"] == value))
            .and_then(|v| v["count"].as_i64())
            .unwrap_or(0)
    };
    let all = search(&c.server, "per_page=3").await;
    assert_eq!(all["total"], 10);
    assert_eq!(slugs(&all).len(), 3);
    assert_eq!(count(&all, "theme", "TRAN"), 4);
    assert_eq!(count(&all, "theme", "ENVI"), 3);
    assert_eq!(count(&all, "format", "CSV"), 9);
    assert_eq!(count(&all, "format", "JSON"), 1);
    assert_eq!(count(&all, "opening_class", "open"), 9);
    assert_eq!(count(&all, "opening_class", "conditional"), 1);
    assert_eq!(count(&all, "grade", "general"), 10);
    assert_eq!(count(&all, "keyword", "bus"), 2);
    assert_eq!(count(&all, "licence", "CC-BY-4.0"), 9);
    let publisher = &all["facets"]["publisher"];
    assert_eq!(publisher[0]["count"], 8);
    assert_eq!(publisher[0]["name"], "Organisation transport");

    let json_parking = search(&c.server, "q=parking&format=JSON").await;
    assert_eq!(slugs(&json_parking), ["parking"]);
    assert_eq!(count(&json_parking, "theme", "TRAN"), 1);
    let conditional = search(&c.server, "opening_class=conditional&grade=general").await;
    assert_eq!(slugs(&conditional), ["hospital-beds"]);
    let health = search(&c.server, "publisher=health&sort=title").await;
    assert_eq!(slugs(&health), ["hospital-beds", "hospitals"]);

    let by_title = search(&c.server, "sort=title&per_page=100").await;
    let titles: Vec<&str> = by_title["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["title"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = titles.clone();
    sorted.sort_unstable();
    assert_eq!(titles, sorted);
    let newest = search(&c.server, "sort=modified&per_page=1").await;
    assert_eq!(slugs(&newest), ["hospital-beds"], "published last");

    // Pages do not overlap and together hold every match.
    let mut seen = Vec::new();
    for page in 1..=4 {
        let found = search(&c.server, &format!("sort=title&per_page=3&page={page}")).await;
        seen.extend(slugs(&found));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (10, 10));
    assert!(slugs(&search(&c.server, "per_page=3&page=5").await).is_empty());
}

/// A query, the slugs it finds in order, and the counts of its theme facet.
type Expected = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, i64)],
);

/// The answers both databases must give for the same seeded catalog, in order: each query
/// with the slugs it finds and the counts of its theme facet.
#[tokio::test]
async fn the_same_catalog_gives_the_same_answers_on_either_database() {
    let c = catalog().await;
    let expected: &[Expected] = &[
        (
            "q=hospital",
            &["hospitals", "hospital-beds"],
            &[("HEAL", 2)],
        ),
        (
            "q=%E5%85%AC%E4%BA%A4&sort=title",
            &["bus-routes", "bus-stops"],
            &[("TRAN", 2)],
        ),
        (
            "q=quality&sort=title",
            &["air-quality", "water-quality"],
            &[("ENVI", 2)],
        ),
        (
            "theme=ENVI&sort=title",
            &["air-quality", "city-parks", "water-quality"],
            &[("ENVI", 3)],
        ),
        (
            "q=parking",
            &["city-parks", "parking", "traffic-counts"],
            &[("TRAN", 2), ("ENVI", 1)],
        ),
        ("q=nothing-like-this", &[], &[]),
    ];
    for (query, slugs_expected, themes) in expected {
        let found = search(&c.server, query).await;
        assert_eq!(slugs(&found), *slugs_expected, "{query}");
        assert_eq!(found["total"], slugs_expected.len(), "{query}");
        let counted: Vec<(String, i64)> = found["facets"]["theme"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .map(|v| {
                        (
                            v["value"].as_str().unwrap_or_default().to_owned(),
                            v["count"].as_i64().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let themes: Vec<(String, i64)> =
            themes.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect();
        assert_eq!(counted, themes, "{query}");
    }
}

#[tokio::test]
async fn suggestions_complete_titles_and_keywords_in_both_languages() {
    let c = catalog().await;
    let suggest = |q: &str| {
        let url = c
            .server
            .url(&format!("/api/v1/datasets/suggest?q={}", urlencode(q)));
        async move {
            let response = reqwest::get(url).await;
            let Ok(response) = response else {
                panic!("suggest failed")
            };
            assert_eq!(response.status(), 200);
            json(response).await
        }
    };
    let hosp = suggest("hosp").await;
    let titles: Vec<&str> = hosp["datasets"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["slug"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(titles.len(), 2, "{hosp}");
    assert!(titles.contains(&"hospitals"), "{hosp}");
    assert!(
        hosp["datasets"][0]["highlight"]
            .as_str()
            .is_some_and(|h| h.contains("<mark>Hospital")),
        "{hosp}"
    );
    let bu = suggest("bu").await;
    let keywords: Vec<&str> = bu["keywords"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keywords, ["bus", "business"], "{bu}");
    let chinese = suggest("公").await;
    let found: Vec<&str> = chinese["datasets"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["slug"].as_str()).collect())
        .unwrap_or_default();
    for slug in ["bus-routes", "bus-stops", "city-parks"] {
        assert!(found.contains(&slug), "{slug}: {chinese}");
    }
    assert!(!found.contains(&"bus-depot-plans"), "a draft: {chinese}");
    let none = suggest("zzzz").await;
    assert_eq!(none["datasets"], json!([]));

    let limited = json(c.server.get("/api/v1/datasets/suggest?q=bus&limit=1").await).await;
    assert_eq!(
        limited["datasets"].as_array().map(Vec::len),
        Some(1),
        "{limited}"
    );
    for bad in ["bus&limit=0", "bus&limit=21", "bus&limit=x"] {
        let response = c
            .server
            .get(&format!("/api/v1/datasets/suggest?q={bad}"))
            .await;
        expect_problem(response, 422, "invalid_parameter").await;
    }
    for nothing in ["", "?q=", "?q=%20%20"] {
        let empty = json(
            c.server
                .get(&format!("/api/v1/datasets/suggest{nothing}"))
                .await,
        )
        .await;
        assert_eq!(empty, json!({"datasets": [], "keywords": []}), "{nothing}");
    }
    let unknown = c.server.get("/api/v1/datasets/suggest?q=bus&x=1").await;
    expect_problem(unknown, 400, "invalid_query").await;
}

#[tokio::test]
async fn hostile_queries_get_a_clear_error_or_an_empty_answer() {
    let c = catalog().await;
    let long = "a".repeat(501);
    expect_problem(
        c.server.get(&format!("/api/v1/datasets?q={long}")).await,
        422,
        "invalid_parameter",
    )
    .await;
    expect_problem(
        c.server
            .get(&format!("/api/v1/datasets/suggest?q={long}"))
            .await,
        422,
        "invalid_parameter",
    )
    .await;
    for odd in [
        "\"",
        "\"\"\"",
        "*",
        "(bus OR",
        "bus:stops",
        "'; DROP TABLE datasets; --",
        "%00",
        "🚌",
        "bus~2",
    ] {
        let response = c
            .server
            .get(&format!("/api/v1/datasets?q={}", urlencode(odd)))
            .await;
        assert_eq!(response.status(), 200, "{odd}");
    }
    // Many words make one bounded query, not an error.
    let many = vec!["bus"; 80].join(" ");
    assert_eq!(find(&c.server, &many).await.len(), 2);
}

/// Polls `base`'s search for `query` until `done` holds, for at most `within`.
async fn eventually(
    base: &str,
    query: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let found = search_at(base, query).await;
        if done(&found) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{query} on {base} did not change within {within:?}: {found}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_write_on_one_server_reaches_the_search_of_another_within_moments() {
    // The follower reads the change feed every 250 ms; the margin is for a loaded test machine.
    const FOLLOW: Duration = Duration::from_secs(3);
    let c = catalog().await;
    let sibling = c.server.sibling().await;
    let base = sibling.url("");
    let base = base.trim_end_matches('/');
    // The sibling built its own index from the database when it started.
    let all = search_at(base, "").await;
    assert_eq!(all["total"], 10, "{all}");
    assert_eq!(slugs(&search_at(base, "q=hospital").await).len(), 2);

    let published = seed(
        "ambulance-stations",
        "Ambulance stations 急救站",
        "Where ambulances wait.",
        &["health"],
        "HEAL",
    );
    publish(&c.server, &c.health, &published).await;
    eventually(base, "q=ambulance", FOLLOW, |f| {
        slugs(f) == ["ambulance-stations"]
    })
    .await;

    let withdrawn = c
        .server
        .call(
            Method::POST,
            "/api/v1/datasets/ambulance-stations/withdraw",
            Some(&c.health),
            None,
        )
        .await;
    assert_eq!(withdrawn.status(), 200);
    eventually(base, "q=ambulance", FOLLOW, |f| f["total"] == 0).await;

    // An organisation's new name is searchable on both, with every one of its datasets.
    let renamed = c
        .server
        .call(
            Method::PATCH,
            "/api/v1/organizations/health",
            Some(&c.health),
            Some(json!({"name": "Health Commission 卫生健康委员会"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    eventually(base, "q=commission", FOLLOW, |f| f["total"] == 2).await;
    assert_eq!(find(&c.server, "卫生健康委员会").await.len(), 2);
}

#[tokio::test]
async fn the_index_renders_a_dataset_exactly_as_the_database_read_does() {
    let c = catalog().await;
    // An outsider's read is answered from the database; an anonymous one from the index.
    let outsider = c.server.access_token("admin@health.test").await;
    for slug in ["bus-routes", "parking", "hospital-beds"] {
        let path = format!("/api/v1/datasets/{slug}");
        let anonymous = c.server.get(&path).await;
        assert_eq!(anonymous.status(), 200);
        let anonymous_etag = pdx_tests::header(&anonymous, "etag");
        let anonymous = anonymous.bytes().await.unwrap_or_default();
        let database = c
            .server
            .call(Method::GET, &path, Some(&outsider), None)
            .await;
        assert_eq!(database.status(), 200);
        assert_eq!(
            pdx_tests::header(&database, "etag"),
            anonymous_etag,
            "{slug}"
        );
        let database = database.bytes().await.unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&anonymous),
            String::from_utf8_lossy(&database),
            "{slug}"
        );
    }
    // The search page holds the same renderings.
    let page = search(&c.server, "q=parking&theme=TRAN").await;
    let read = json(c.server.get("/api/v1/datasets/parking").await).await;
    assert_eq!(page["items"][0], read);
    // Drafts are not in the index and stay invisible to anonymous readers.
    expect_problem(
        c.server.get("/api/v1/datasets/bus-depot-plans").await,
        404,
        "not_found",
    )
    .await;
}
