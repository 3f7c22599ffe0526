//! The error answers every operation can give, added to the OpenAPI document from what each
//! operation takes: a client reads there every status it may meet, each as problem+json.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds the problem answers an operation can give, where its own documentation does not
/// already name them, and says of headers and raw data what a client may send and receive.
pub fn document(openapi: &mut OpenApi) {
    add_problems(openapi);
    if let Ok(mut value) = serde_json::to_value(&*openapi) {
        tidy(&mut value);
        if let Ok(tidied) = serde_json::from_value(value) {
            *openapi = tidied;
        }
    }
}

/// A header is absent or a string, never JSON `null`: an optional header's schema is its
/// value's. Data served in the distribution's own media type (`*/*`) has no schema.
fn tidy(document: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut().filter_map(Value::as_object_mut))
    {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for parameter in parameters.iter_mut().filter(|p| p["in"] == "header") {
                let schema = &mut parameter["schema"];
                let one_of = schema.get("oneOf").and_then(Value::as_array);
                let types = schema.get("type").and_then(Value::as_array);
                if let Some(value) = one_of.and_then(|i| i.iter().find(|s| s["type"] != "null")) {
                    *schema = value.clone();
                } else if let Some(kind) = types.and_then(|t| t.iter().find(|t| *t != "null")) {
                    schema["type"] = kind.clone();
                }
                if parameter["name"] == "Idempotency-Key" {
                    parameter["schema"]["maxLength"] = 255.into();
                    parameter["schema"]["pattern"] = "^[!-~]+$".into();
                }
            }
        }
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            for response in responses.values_mut() {
                if let Some(any) = response.pointer_mut("/content/*~1*") {
                    *any = Value::Object(serde_json::Map::new());
                }
            }
        }
    }
}

fn add_problems(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            complete(operation);
        }
    }
}

fn complete(operation: &mut Operation) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes = |place: ParameterIn| {
        parameters.iter().any(|p| match p {
            RefOr::T(parameter) => parameter.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let (query, path, body) = (
        takes(ParameterIn::Query),
        takes(ParameterIn::Path),
        operation.request_body.is_some(),
    );
    let mut add = |status: &str, description: &str| {
        if !operation.responses.responses.contains_key(status) {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    };
    add(
        "401",
        "The access token presented is not valid (or one is required)",
    );
    if operation.security.is_some() {
        add("403", "The caller may not do this");
    }
    if path {
        add("404", "Nothing of that id or slug is visible to the caller");
    }
    if query || body {
        add(
            "400",
            "The request cannot be understood (an unknown parameter, malformed JSON)",
        );
        add("422", "A parameter or field has a value it cannot take");
    }
    if body {
        add("413", "The body is larger than the limit");
        add(
            "415",
            "The body is not in a media type the operation accepts",
        );
    }
    add(
        "503",
        "The service or its database is unavailable; retry after `Retry-After` seconds",
    );
}
