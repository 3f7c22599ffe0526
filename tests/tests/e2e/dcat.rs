//! DCAT-AP 3 output over real HTTP: every format parses as RDF, the catalog pages with Hydra
//! links and filters, and drafts stay out. (CI also checks the demo catalog with pySHACL.)

use oxrdf::{NamedNode, Triple};
use pdx_tests::{TestServer, header};

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const HYDRA: &str = "http://www.w3.org/ns/hydra/core#";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";

async fn fetch(server: &TestServer, path: &str) -> (String, Vec<u8>) {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let content_type = header(&response, "content-type").unwrap_or_default();
    (
        content_type,
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default(),
    )
}

fn parse(content_type: &str, body: &[u8]) -> Vec<Triple> {
    let triples: Result<Vec<Triple>, String> = if content_type.starts_with("text/turtle") {
        oxttl::TurtleParser::new()
            .for_slice(body)
            .map(|t| t.map_err(|e| e.to_string()))
            .collect()
    } else if content_type.starts_with("application/rdf+xml") {
        oxrdfxml::RdfXmlParser::new()
            .for_slice(body)
            .map(|t| t.map_err(|e| e.to_string()))
            .collect()
    } else {
        oxjsonld::JsonLdParser::new()
            .for_slice(body)
            .map(|q| q.map(Triple::from).map_err(|e| e.to_string()))
            .collect()
    };
    match triples {
        Ok(triples) => triples,
        Err(error) => panic!("{content_type} does not parse: {error}"),
    }
}

fn subjects_of_type(triples: &[Triple], class: &str) -> Vec<String> {
    triples
        .iter()
        .filter(|t| {
            t.predicate.as_str() == RDF_TYPE && t.object.to_string() == format!("<{class}>")
        })
        .map(|t| t.subject.to_string())
        .collect()
}

fn has(triples: &[Triple], subject: &str, predicate: &str) -> bool {
    triples.iter().any(|t| {
        t.subject.to_string() == subject && t.predicate == NamedNode::new_unchecked(predicate)
    })
}

#[tokio::test]
async fn catalog_in_every_format_describes_published_datasets_with_mandatory_properties() {
    let server = TestServer::spawn_demo().await;
    let all = pdx_tests::json(server.get("/api/v1/datasets?per_page=1").await).await;
    let published = usize::try_from(all["total"].as_i64().unwrap_or(0)).unwrap_or(0);
    for format in ["ttl", "rdf", "jsonld"] {
        let (content_type, body) = fetch(&server, &format!("/catalog.{format}?per_page=100")).await;
        let triples = parse(&content_type, &body);
        let datasets = subjects_of_type(&triples, &format!("{DCAT}Dataset"));
        assert_eq!(
            datasets.len(),
            published,
            "{format}: one dcat:Dataset per published dataset"
        );
        for dataset in &datasets {
            for property in ["title", "description", "publisher"] {
                assert!(
                    has(&triples, dataset, &format!("{DCT}{property}")),
                    "{format}: {dataset} lacks dct:{property}"
                );
            }
            assert!(
                has(&triples, dataset, &format!("{DCAT}distribution")),
                "{format}: {dataset} lacks a distribution"
            );
        }
        for distribution in subjects_of_type(&triples, &format!("{DCAT}Distribution")) {
            assert!(
                has(&triples, &distribution, &format!("{DCAT}accessURL")),
                "{distribution} lacks dcat:accessURL"
            );
        }
        assert_eq!(
            subjects_of_type(&triples, &format!("{DCAT}Catalog")).len(),
            1
        );
    }
}

#[tokio::test]
async fn catalog_pages_with_hydra_and_filters_by_text_and_modification_time() {
    let server = TestServer::spawn_demo().await;
    let (content_type, body) = fetch(&server, "/catalog.ttl?per_page=10&page=2").await;
    let triples = parse(&content_type, &body);
    assert_eq!(
        subjects_of_type(&triples, &format!("{DCAT}Dataset")).len(),
        10
    );
    let links: Vec<String> = triples
        .iter()
        .filter(|t| t.predicate.as_str().starts_with(HYDRA))
        .map(|t| {
            format!(
                "{} {}",
                t.predicate.as_str().trim_start_matches(HYDRA),
                t.object
            )
        })
        .collect();
    for expected in ["first", "previous", "next", "last", "totalItems"] {
        assert!(
            links.iter().any(|l| l.starts_with(expected)),
            "hydra:{expected} missing from {links:?}"
        );
    }
    assert!(
        links
            .iter()
            .any(|l| l.starts_with("next") && l.contains("page=3")),
        "{links:?}"
    );

    let (content_type, body) = fetch(&server, "/catalog.ttl?q=%E5%85%AC%E4%BA%A4").await;
    let found = subjects_of_type(&parse(&content_type, &body), &format!("{DCAT}Dataset"));
    assert!(
        !found.is_empty() && found.len() < 10,
        "{} datasets about 公交",
        found.len()
    );

    let (content_type, body) = fetch(&server, "/catalog.ttl?modified_since=2999-01-01").await;
    assert!(subjects_of_type(&parse(&content_type, &body), &format!("{DCAT}Dataset")).is_empty());
    let bad = server.get("/catalog.ttl?modified_since=yesterday").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn single_datasets_are_served_and_drafts_are_not() {
    let server = TestServer::spawn_demo().await;
    for format in ["ttl", "rdf", "jsonld"] {
        let (content_type, body) = fetch(&server, &format!("/dataset/bus-stops.{format}")).await;
        let triples = parse(&content_type, &body);
        assert_eq!(
            subjects_of_type(&triples, &format!("{DCAT}Dataset")).len(),
            1,
            "{format}"
        );
        assert_eq!(
            subjects_of_type(&triples, &format!("{DCAT}Distribution")).len(),
            2,
            "{format}"
        );
    }
    assert_eq!(server.get("/dataset/schools.ttl").await.status(), 404);
    assert_eq!(server.get("/dataset/bus-stops.xml").await.status(), 404);
}

/// A server with an agency whose open dataset `water` is published, then revised (new title,
/// a second file) without the revision being published.
async fn revised_water() -> (TestServer, String) {
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
        serde_json::json!({
            "slug": "water", "title": title, "description": "River levels", "update_frequency": "hourly",
            "languages": ["zh"], "sharing_class": "unconditional", "opening_class": "open",
            "grade": "general", "licence": "CC-BY-4.0",
        })
    };
    server
        .publish_dataset(&admin, &admin, body("Published levels"), "a\n1\n")
        .await;
    server
        .revise_dataset(&admin, "water", body("Pending embargoed levels"))
        .await;
    server.upload_csv(&admin, "water", "a\n2\n").await;
    (server, admin)
}

#[tokio::test]
async fn a_dataset_under_revision_is_described_as_published() {
    let (server, admin) = revised_water().await;
    let titles = |triples: &[Triple]| -> Vec<String> {
        triples
            .iter()
            .filter(|t| t.predicate.as_str() == format!("{DCT}title"))
            .map(|t| t.object.to_string())
            .collect()
    };
    for path in [
        "/dataset/water.ttl",
        "/catalog.ttl",
        "/catalog.ttl?q=levels",
    ] {
        let (content_type, body) = fetch(&server, path).await;
        let triples = parse(&content_type, &body);
        assert_eq!(
            subjects_of_type(&triples, &format!("{DCAT}Dataset")).len(),
            1,
            "{path}"
        );
        assert_eq!(
            subjects_of_type(&triples, &format!("{DCAT}Distribution")).len(),
            1,
            "{path}: the revision's file is not described"
        );
        let titles = titles(&triples);
        assert!(
            titles.iter().any(|t| t.contains("Published levels")),
            "{path}: {titles:?}"
        );
        assert!(
            !titles.iter().any(|t| t.contains("embargoed")),
            "{path}: the revision's title leaked: {titles:?}"
        );
    }
    let (content_type, body) = fetch(&server, "/catalog.ttl?q=embargoed").await;
    assert!(subjects_of_type(&parse(&content_type, &body), &format!("{DCAT}Dataset")).is_empty());
    // Once published, the revision is what is described.
    server.submit_and_publish(&admin, &admin, "water").await;
    let (content_type, body) = fetch(&server, "/dataset/water.ttl").await;
    let triples = parse(&content_type, &body);
    assert!(titles(&triples).iter().any(|t| t.contains("embargoed")));
    assert_eq!(
        subjects_of_type(&triples, &format!("{DCAT}Distribution")).len(),
        2
    );
}
