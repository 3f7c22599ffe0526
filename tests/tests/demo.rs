//! The demo catalog a newcomer meets: agencies, enterprises and some forty datasets in
//! several states, searchable in Chinese and English, with demo accounts that sign in.

use pdx_tests::{TestServer, json};
use reqwest::Method;

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
