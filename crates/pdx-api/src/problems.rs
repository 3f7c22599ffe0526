//! The error answers every operation can give, added to the OpenAPI document from what each
//! operation takes: a client reads there every status it may meet, each as problem+json.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds the problem answers an operation can give, where its own documentation does not
/// already name them.
pub fn document(openapi: &mut OpenApi) {
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
