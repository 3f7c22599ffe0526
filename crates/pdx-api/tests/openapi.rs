//! The committed `openapi/openapi.json` must be exactly what the code generates.

#[test]
fn committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = match pdx_api::openapi_json() {
        Ok(json) => json,
        Err(error) => panic!("the OpenAPI document does not serialise: {error}"),
    };
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi` and commit it"
    );
}

#[test]
fn every_operation_documents_its_responses_and_has_an_id() {
    let spec = pdx_api::openapi();
    assert!(!spec.paths.paths.is_empty());
    for (path, item) in &spec.paths.paths {
        let operations = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
        for operation in operations.into_iter().flatten() {
            assert!(
                operation.operation_id.is_some(),
                "{path} lacks an operationId"
            );
            assert!(
                !operation.responses.responses.is_empty(),
                "{path} lacks responses"
            );
            assert!(operation.summary.is_some(), "{path} lacks a summary");
        }
    }
}
