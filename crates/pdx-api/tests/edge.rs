//! The HTTP edge inside the real actix service stack: extractor failures and readiness
//! answer problem+json with the right status and code.

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use pdx_api::{ApiState, Problem};
use pdx_storage::testing::TestDatabase;

#[derive(serde::Deserialize)]
struct Greeting {
    #[allow(dead_code, reason = "only deserialised")]
    name: String,
}

async fn accept_greeting(_: web::Json<Greeting>) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

fn state(database: &TestDatabase) -> web::Data<ApiState> {
    let Ok(keys) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let access =
        pdx_access::testing::test_service(database.database().clone(), &keys.path().join("jwt"));
    let Ok(blobs) = pdx_storage::BlobStore::local(&keys.path().join("blobs")) else {
        panic!("blobs")
    };
    let catalog = pdx_catalog::CatalogService::new(
        database.database().clone(),
        std::sync::Arc::new(pdx_core::SystemClock),
        blobs,
        1 << 20,
        match pdx_catalog::search::SearchIndex::in_memory(std::sync::Arc::new(
            pdx_api::render::DatasetJson::new(),
        )) {
            Ok(search) => std::sync::Arc::new(search),
            Err(error) => panic!("search index: {error}"),
        },
    );
    let rows = pdx_rows::RowService::new(
        database.database().clone(),
        catalog.clone(),
        std::sync::Arc::new(pdx_core::SystemClock),
        keys.path().join("tables"),
        pdx_access::secrets::SecretHasher::from_key([5; 32]),
        pdx_rows::QueryLimits::default(),
    );
    let gateway = match pdx_gateway::GatewayService::new(
        database.database().clone(),
        catalog.clone(),
        std::sync::Arc::new(pdx_core::SystemClock),
        pdx_gateway::Sealer::from_key([6; 32]),
        pdx_gateway::GatewaySettings::default(),
    ) {
        Ok(gateway) => gateway,
        Err(e) => panic!("{e}"),
    };
    web::Data::new(ApiState {
        database: database.database().clone(),
        access,
        rows,
        gateway,
        licensing: pdx_licensing::LicensingService::new(
            database.database().clone(),
            std::sync::Arc::new(pdx_core::SystemClock),
        ),
        catalog,
        ledger: pdx_circulation::LedgerService::new(
            database.database().clone(),
            match pdx_circulation::ledger::load_or_create_key(
                &keys.path().join("ledger.pem"),
                "pdx.test/ledger",
            ) {
                Ok(key) => key,
                Err(e) => panic!("{e}"),
            },
            std::sync::Arc::new(pdx_core::SystemClock),
        ),
        metrics: pdx_api::metrics::handle(),
        edge: std::sync::Arc::default(),
    })
}

async fn post_json(body: &'static str, content_type: &'static str) -> (StatusCode, Problem) {
    let database = TestDatabase::new();
    let app = test::init_service(
        pdx_api::mount(
            App::new()
                .app_data(state(&database))
                .route("/greetings", web::post().to(accept_greeting)),
        )
        .wrap(from_fn(pdx_api::observe)),
    )
    .await;
    let request = test::TestRequest::post()
        .uri("/greetings")
        .insert_header(("content-type", content_type))
        .set_payload(body)
        .to_request();
    let response = test::call_service(&app, request).await;
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: Problem = test::read_body_json(response).await;
    (status, problem)
}

#[actix_web::test]
async fn malformed_json_body_is_400_malformed_json() {
    let (status, problem) = post_json("{\"name\": ", "application/json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem.code, "malformed_json");
    assert!(problem.request_id.is_some());
}

#[actix_web::test]
async fn json_of_the_wrong_shape_is_422_invalid_body() {
    let (status, problem) = post_json("{\"nom\": \"x\"}", "application/json").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem.code, "invalid_body");
    assert!(problem.detail.is_some_and(|d| d.contains("name")));
}

#[actix_web::test]
async fn non_json_content_type_is_415() {
    let (status, problem) = post_json("name=x", "application/x-www-form-urlencoded").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem.code, "unsupported_media_type");
}

#[actix_web::test]
async fn readyz_on_an_unmigrated_database_is_503_with_retry_after() {
    let database = TestDatabase::empty();
    let app = test::init_service(
        pdx_api::mount(App::new().app_data(state(&database))).wrap(from_fn(pdx_api::observe)),
    )
    .await;
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Problem = test::read_body_json(response).await;
    assert_eq!(problem.code, "service_unavailable");
    let detail = problem.detail.unwrap_or_default();
    assert!(
        !detail.contains("instance"),
        "no internal detail leaks: {detail}"
    );
}
