//! The CKAN-compatible Action API against the demo catalog: CKAN's envelope, parameters,
//! facets and errors, over GET and POST, on both `/api/3/action` and `/api/action`.

use pdx_tests::{TestServer, json};
use serde_json::{Value, json};

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let response = server.get(path).await;
    let status = response.status().as_u16();
    (status, json(response).await)
}

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .json(&body)
        .send()
        .await;
    let Ok(response) = response else {
        panic!("POST {path} failed")
    };
    let status = response.status().as_u16();
    (status, json(response).await)
}

#[tokio::test]
async fn ckan_actions_answer_in_the_ckan_envelope() {
    let server = TestServer::spawn_demo().await;

    let (status, body) = get(&server, "/api/3/action/status_show").await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert!(
        body["help"]
            .as_str()
            .is_some_and(|h| h.contains("help_show?name=status_show"))
    );
    assert!(
        body["result"]["ckan_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2."))
    );

    let (_, list) = get(&server, "/api/3/action/package_list").await;
    let names: Vec<&str> = list["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&"bus-stops") && !names.contains(&"schools"),
        "drafts are not listed"
    );

    let (_, search) = post(&server, "/api/action/package_search", json!({
        "q": "公交", "rows": 5, "facet.field": ["tags", "organization", "res_format", "groups"], "facet.limit": 10,
    })).await;
    let result = &search["result"];
    assert!(result["count"].as_i64().unwrap_or(0) >= 2, "{result}");
    let first = &result["results"][0];
    for field in [
        "id",
        "name",
        "title",
        "notes",
        "organization",
        "tags",
        "resources",
        "license_id",
        "metadata_modified",
        "num_resources",
    ] {
        assert!(!first[field].is_null(), "package dicts carry `{field}`");
    }
    assert_eq!(
        result["search_facets"]["organization"]["items"][0]["name"],
        "sz-transport"
    );
    assert!(
        result["facets"]["res_format"]["GeoJSON"]
            .as_i64()
            .unwrap_or(0)
            >= 1,
        "{}",
        result["facets"]
    );
    assert!(result["facets"]["groups"]["tran"].as_i64().unwrap_or(0) >= 2);

    let (_, filtered) = get(
        &server,
        "/api/3/action/package_search?fq=res_format:GeoJSON%20organization:sz-health&rows=50",
    )
    .await;
    let filtered = &filtered["result"];
    assert!(filtered["count"].as_i64().unwrap_or(0) >= 1);
    for package in filtered["results"].as_array().into_iter().flatten() {
        assert_eq!(package["organization"]["name"], "sz-health");
        assert!(
            package["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["format"] == "GeoJSON")
        );
    }
    let (_, paged) = get(
        &server,
        "/api/3/action/package_search?rows=2&start=2&sort=title_string%20asc",
    )
    .await;
    assert_eq!(paged["result"]["results"].as_array().map(Vec::len), Some(2));

    let (_, show) = get(&server, "/api/3/action/package_show?id=bus-stops").await;
    let package = &show["result"];
    assert_eq!(package["name"], "bus-stops");
    assert_eq!(package["license_id"], "CC-BY-4.0");
    assert_eq!(package["num_resources"], 2);
    let resource_id = package["resources"][1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, resource) = get(
        &server,
        &format!("/api/3/action/resource_show?id={resource_id}"),
    )
    .await;
    assert_eq!(resource["result"]["format"], "CSV");
    assert_eq!(resource["result"]["position"], 1);

    let (_, orgs) = get(&server, "/api/3/action/organization_list").await;
    let orgs: Vec<&str> = orgs["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        orgs.contains(&"sz-transport") && orgs.len() >= 5,
        "{orgs:?}"
    );
    let (_, org) = get(
        &server,
        "/api/3/action/organization_show?id=sz-transport&include_datasets=true",
    )
    .await;
    assert!(org["result"]["package_count"].as_i64().unwrap_or(0) >= 5);
    assert!(
        org["result"]["packages"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );

    let (_, licences) = get(&server, "/api/3/action/license_list").await;
    assert!(
        licences["result"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["id"] == "CC-BY-4.0"))
    );
    let (_, tags) = get(&server, "/api/3/action/tag_list?query=bu").await;
    assert!(
        tags["result"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "bus")),
        "{tags}"
    );
}

#[tokio::test]
async fn ckan_errors_use_the_ckan_error_types() {
    let server = TestServer::spawn_demo().await;
    let (status, missing) = get(&server, "/api/3/action/package_show?id=no-such-dataset").await;
    assert_eq!(status, 404);
    assert_eq!(missing["success"], false);
    assert_eq!(missing["error"]["__type"], "Not Found Error");
    let (status, draft) = get(&server, "/api/3/action/package_show?id=schools").await;
    assert_eq!(
        (status, draft["error"]["__type"].as_str()),
        (404, Some("Not Found Error")),
        "drafts do not leak"
    );
    let (status, no_id) = get(&server, "/api/3/action/package_show").await;
    assert_eq!(status, 409);
    assert_eq!(no_id["error"]["__type"], "Validation Error");
    let (status, bad_fq) = get(&server, "/api/3/action/package_search?fq=author:x").await;
    assert_eq!(
        (status, bad_fq["error"]["__type"].as_str()),
        (409, Some("Validation Error"))
    );
    let (status, unknown) = get(&server, "/api/3/action/package_create").await;
    assert_eq!(status, 400);
    assert_eq!(unknown["success"], false);
}

#[tokio::test]
async fn ckan_shows_the_published_version_of_a_dataset_under_revision() {
    use pdx_core::{OrgKind, Role};
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
    let body = |title: &str| {
        json!({
            "slug": "water", "title": title, "description": "River levels", "update_frequency": "hourly",
            "languages": ["zh"], "sharing_class": "unconditional", "opening_class": "open",
            "grade": "general", "licence": "CC-BY-4.0", "keywords": ["river"],
        })
    };
    server
        .publish_dataset(&admin, &admin, body("Published levels"), "a\n1\n")
        .await;
    let mut pending = body("Pending embargoed levels");
    pending["keywords"] = json!(["embargoed"]);
    pending["opening_class"] = json!("conditional");
    pending["licence"] = Value::Null;
    server.revise_dataset(&admin, "water", pending).await;
    let added = server.upload_csv(&admin, "water", "a\n2\n").await;

    let (status, shown) = get(&server, "/api/3/action/package_show?id=water").await;
    assert_eq!(status, 200);
    let package = &shown["result"];
    assert_eq!(package["title"], "Published levels");
    assert_eq!(package["isopen"], true);
    assert_eq!(package["num_resources"], 1);
    assert_eq!(package["tags"][0]["name"], "river");
    let (_, found) = get(&server, "/api/3/action/package_search?q=levels").await;
    assert_eq!(found["result"]["count"], 1);
    assert_eq!(found["result"]["results"][0]["title"], "Published levels");
    let (_, hidden) = get(&server, "/api/3/action/package_search?q=embargoed").await;
    assert_eq!(hidden["result"]["count"], 0);
    let (_, tags) = get(&server, "/api/3/action/tag_list").await;
    assert_eq!(tags["result"], json!(["river"]));
    let (status, _) = get(&server, &format!("/api/3/action/resource_show?id={added}")).await;
    assert_eq!(status, 404, "the revision's file is not a resource yet");

    server.submit_and_publish(&admin, &admin, "water").await;
    let (_, shown) = get(&server, "/api/3/action/package_show?id=water").await;
    assert_eq!(shown["result"]["title"], "Pending embargoed levels");
    assert_eq!(shown["result"]["num_resources"], 2);
    assert_eq!(shown["result"]["isopen"], false);
}
