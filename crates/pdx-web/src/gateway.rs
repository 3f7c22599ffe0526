//! The agency's live APIs: adding one to a draft, and the gateway's upstream of each — where
//! calls go, the credential PDX holds for it (never shown again), methods, paths and limits.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use maud::{Markup, html};
use pdx_catalog::model::{Distribution, DistributionKind};
use pdx_catalog::service::DistributionInput;
use pdx_core::{DistributionId, Principal};
use pdx_gateway::breaker::CircuitState;
use pdx_gateway::{Credential, GatewayError, UpstreamInput, UpstreamView};
use serde::Deserialize;

use crate::WebState;
use crate::error::{WebError, finish};
use crate::forms::{Problem, problem_of};
use crate::i18n::Arg;
use crate::page::Ctx;
use crate::session::{request_context, signed_form_of};

/// Methods a publisher may allow.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// Credential kinds, with their labels.
const CREDENTIALS: [(&str, &str); 5] = [
    ("none", "gateway-credential-none"),
    ("header", "gateway-credential-header"),
    ("bearer", "gateway-credential-bearer"),
    ("basic", "gateway-credential-basic"),
    ("query", "gateway-credential-query"),
];

/// The upstream of each API distribution of a dataset the principal's agency edits (`None`
/// where none is configured yet).
pub(crate) async fn upstreams(
    state: &WebState,
    principal: &Principal,
    files: &[Distribution],
) -> Result<Vec<(DistributionId, Option<UpstreamView>)>, WebError> {
    let mut found = Vec::new();
    for file in files.iter().filter(|f| f.kind == DistributionKind::Api) {
        match state.gateway.upstream(principal, file.id).await {
            Ok(view) => found.push((file.id, Some(view))),
            Err(GatewayError::NotConfigured) => found.push((file.id, None)),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(found)
}

/// The form adding a live API to a draft.
pub(crate) fn add_form(ctx: &Ctx, base: &str, problems: &[Problem]) -> Markup {
    let error = |field: &str| problem_of(problems, field);
    let field = |name: &'static str, label: &str, hint: &str, kind: &str| {
        let problem = error(name);
        html! {
            div.field.invalid[problem.is_some()] {
                label for=(name) { (ctx.t(label)) }
                p.hint { (ctx.t(hint)) }
                @if let Some(problem) = problem { p.field-error { (problem.message) } }
                input #(name) type=(kind) name=(name) maxlength="2000" required
                    aria-invalid=[problem.is_some().then_some("true")];
            }
        }
    };
    html! {
        details.add-api open[error("api_title").is_some() || error("access_url").is_some()] {
            summary { (ctx.t("gateway-add")) }
            form method="post" action={ (base) "/apis" } novalidate {
                input type="hidden" name="csrf" value=(ctx.csrf());
                (field("api_title", "publish-file-title", "gateway-title-hint", "text"))
                (field("access_url", "gateway-access-url", "gateway-access-url-hint", "url"))
                button.secondary type="submit" { (ctx.t("gateway-add-submit")) }
            }
        }
    }
}

/// An API distribution's gateway: what it forwards to now, and the form that changes it.
pub(crate) fn upstream_block(
    ctx: &Ctx,
    base: &str,
    file: &Distribution,
    upstream: Option<&UpstreamView>,
    problems: &[Problem],
) -> Markup {
    let lang = ctx.lang;
    let id = file.id;
    let error = |field: &str| problem_of(problems, &field_of(field, id));
    let any_error = problems
        .iter()
        .any(|p| p.field.ends_with(&format!("-{id}")));
    let methods: Vec<String> = upstream.map_or_else(
        || vec!["GET".to_owned(), "HEAD".to_owned()],
        |u| u.methods.clone(),
    );
    let paths = upstream.map_or_else(|| "/**".to_owned(), |u| u.paths.join("\n"));
    let input_id = |name: &str| field_of(name, id);
    let invalid = |name: &str| error(name).map(|p| html! { p.field-error { (p.message) } });
    html! {
        details.gateway-details #{ "gateway-" (id) } open[any_error] {
            summary { (lang.t_with("gateway-of", &[("file", Arg::Text(file.title.clone()))])) }
            @match upstream {
                Some(u) => {
                    p {
                        span.tag.open { (ctx.t("gateway-configured")) }
                        " " (ctx.t("gateway-forwards-to")) " " code { (u.base_url) }
                    }
                    p.gateway-status {
                        @match u.circuit {
                            CircuitState::Closed => { span.tag.open { (ctx.t("gateway-circuit-closed")) } }
                            CircuitState::Open => {
                                span.tag { (ctx.t("gateway-circuit-open")) }
                                " " (ctx.t("gateway-circuit-open-hint"))
                            }
                            CircuitState::HalfOpen => {
                                span.tag.conditional { (ctx.t("gateway-circuit-half-open")) }
                                " " (ctx.t("gateway-circuit-half-open-hint"))
                            }
                        }
                        " " (lang.t_with("gateway-load", &[
                            ("running", Arg::Number(i64::from(u.in_flight))),
                            ("here", Arg::Number(i64::from(u.max_concurrency_here))),
                            ("max", Arg::Number(i64::from(u.max_concurrency))),
                        ]))
                    }
                    @if let Some(at) = u.credential_set_at.filter(|_| u.credential_kind != "none") {
                        p.hint { (lang.t_with("gateway-credential-kept", &[
                            ("kind", Arg::Text(ctx.t(&format!("gateway-credential-{}", u.credential_kind)))),
                            ("date", Arg::Text(lang.date(at.date_naive()))),
                        ])) }
                    }
                }
                None => { p { span.tag.conditional { (ctx.t("gateway-not-configured")) } " " (ctx.t("gateway-not-configured-hint")) } }
            }
            p.hint { (ctx.t("gateway-call-hint")) " " code { "/api/v1/distributions/" (id) "/api/…" } }
            form method="post" action={ (base) "/apis/" (id) "/upstream" } novalidate {
                input type="hidden" name="csrf" value=(ctx.csrf());
                div.field.invalid[error("base_url").is_some()] {
                    label for=(input_id("base_url")) { (ctx.t("gateway-base-url")) }
                    p.hint { (ctx.t("gateway-base-url-hint")) }
                    (invalid("base_url").unwrap_or_default())
                    input #(input_id("base_url")) type="url" name="base_url" maxlength="2000" required
                        value=(upstream.map(|u| u.base_url.as_str()).unwrap_or_default());
                }
                fieldset.field.invalid[error("credential").is_some()] #(input_id("credential")) {
                    legend { (ctx.t("gateway-credential")) }
                    p.hint { (ctx.t("gateway-credential-hint")) }
                    (invalid("credential").unwrap_or_default())
                    div.field {
                        label for=(input_id("credential_kind")) { (ctx.t("gateway-credential-kind")) }
                        select #(input_id("credential_kind")) name="credential_kind" {
                            @if let Some(u) = upstream {
                                option value="keep" selected { (lang.t_with("gateway-credential-keep", &[("kind", Arg::Text(ctx.t(&format!("gateway-credential-{}", u.credential_kind))))])) }
                            }
                            @for (value, key) in CREDENTIALS {
                                option value=(value) selected[upstream.is_none() && value == "none"] { (ctx.t(key)) }
                            }
                        }
                    }
                    div.field {
                        label for=(input_id("credential_name")) { (ctx.t("gateway-credential-name")) }
                        input #(input_id("credential_name")) type="text" name="credential_name" maxlength="200"
                            value=(upstream.and_then(|u| u.credential_name.as_deref()).unwrap_or_default());
                    }
                    div.field {
                        label for=(input_id("credential_username")) { (ctx.t("gateway-credential-username")) }
                        input #(input_id("credential_username")) type="text" name="credential_username" maxlength="200" autocomplete="off";
                    }
                    div.field {
                        label for=(input_id("credential_secret")) { (ctx.t("gateway-credential-secret")) }
                        input #(input_id("credential_secret")) type="password" name="credential_secret" maxlength="4000" autocomplete="new-password";
                    }
                }
                fieldset.field.invalid[error("methods").is_some()] #(input_id("methods")) {
                    legend { (ctx.t("gateway-methods")) }
                    (invalid("methods").unwrap_or_default())
                    @for method in METHODS {
                        div.choice {
                            input type="checkbox" name="methods" value=(method) id={ "method-" (method) "-" (id) }
                                checked[methods.iter().any(|m| m == method)];
                            label for={ "method-" (method) "-" (id) } { code { (method) } }
                        }
                    }
                }
                div.field.invalid[error("paths").is_some()] {
                    label for=(input_id("paths")) { (ctx.t("gateway-paths")) }
                    p.hint { (ctx.t("gateway-paths-hint")) }
                    (invalid("paths").unwrap_or_default())
                    textarea #(input_id("paths")) name="paths" rows="3" maxlength="4000" { (paths) }
                }
                div.field.invalid[error("timeout_ms").is_some()] {
                    label for=(input_id("timeout_ms")) { (ctx.t("gateway-timeout")) }
                    (invalid("timeout_ms").unwrap_or_default())
                    input #(input_id("timeout_ms")) type="number" name="timeout_ms" min="100" inputmode="numeric"
                        value=(upstream.map_or(String::new(), |u| u.timeout_ms.to_string()));
                }
                div.field.invalid[error("max_concurrency").is_some()] {
                    label for=(input_id("max_concurrency")) { (ctx.t("gateway-concurrency")) }
                    p.hint { (ctx.t("gateway-concurrency-hint")) }
                    (invalid("max_concurrency").unwrap_or_default())
                    input #(input_id("max_concurrency")) type="number" name="max_concurrency" min="1" inputmode="numeric"
                        value=(upstream.map_or(String::new(), |u| u.max_concurrency.to_string()));
                }
                button type="submit" { (ctx.t("gateway-save")) }
            }
            @if upstream.is_some() {
                form method="post" action={ (base) "/apis/" (id) "/upstream/remove" } {
                    input type="hidden" name="csrf" value=(ctx.csrf());
                    button.secondary type="submit" { (ctx.t("gateway-remove")) }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AddForm {
    #[serde(default)]
    api_title: String,
    #[serde(default)]
    access_url: String,
}

/// Adds a live API to a draft.
#[post("/workspace/agency/datasets/{slug}/apis")]
pub(crate) async fn add(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) =
        match signed_form_of::<AddForm>(&ctx, &body, crate::workspace::is_agency) {
            Ok(sent) => sent,
            Err(answer) => return *answer,
        };
    let input = DistributionInput {
        title: Some(form.api_title.trim().to_owned()),
        access_url: Some(form.access_url.trim().to_owned()),
        format: Some("JSON".to_owned()),
        ..DistributionInput::default()
    };
    let added = state
        .catalog
        .add_api_distribution(&principal, &slug, input, &request_context(&req, &ctx))
        .await;
    match added {
        Ok(api) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/agency/datasets/{slug}#gateway-{}", api.id),
            ))
            .finish(),
        Err(pdx_catalog::CatalogError::InvalidInput { problems, .. }) => {
            let problems: Vec<Problem> = problems
                .iter()
                .map(|p| {
                    let (field, key) = match p.field {
                        "title" => ("api_title", "gateway-title-missing"),
                        _ => ("access_url", "gateway-access-url-invalid"),
                    };
                    Problem {
                        field: field.into(),
                        message: ctx.t(key),
                    }
                })
                .collect();
            let page =
                crate::publish::manage_page(ctx.clone(), &state, &principal, &slug, &problems);
            finish(page.await)
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

#[derive(Debug, Default, Deserialize)]
struct UpstreamForm {
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    credential_kind: String,
    #[serde(default)]
    credential_name: String,
    #[serde(default)]
    credential_username: String,
    #[serde(default)]
    credential_secret: String,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    paths: String,
    #[serde(default)]
    timeout_ms: String,
    #[serde(default)]
    max_concurrency: String,
}

/// The credential a form enters: `Ok(None)` keeps the one held; `Err` when a part is missing.
fn credential(form: &UpstreamForm) -> Result<Option<Credential>, ()> {
    let secret = form.credential_secret.clone();
    let name = form.credential_name.trim().to_owned();
    let needs_secret = !matches!(form.credential_kind.as_str(), "keep" | "none");
    if needs_secret && secret.is_empty() {
        return Err(());
    }
    Ok(match form.credential_kind.as_str() {
        "keep" => None,
        "none" => Some(Credential::None),
        "header" => Some(Credential::Header {
            name,
            value: secret,
        }),
        "bearer" => Some(Credential::Bearer { token: secret }),
        "basic" => Some(Credential::Basic {
            username: form.credential_username.trim().to_owned(),
            password: secret,
        }),
        "query" => Some(Credential::Query {
            name,
            value: secret,
        }),
        _ => return Err(()),
    })
}

/// An optional whole number of the form.
fn optional_u32(text: &str) -> Result<Option<u32>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| ())
}

/// Sets an API distribution's upstream.
#[post("/workspace/agency/datasets/{slug}/apis/{id}/upstream")]
pub(crate) async fn configure(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, slug, id) = match signed_for_api(&ctx, &state, &body, path.into_inner()).await {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let (form, methods) = crate::forms::with_repeated::<UpstreamForm>(&body, "methods");
    let form = UpstreamForm { methods, ..form };
    let mut problems = Vec::new();
    let problem = |problems: &mut Vec<Problem>, field: &str, key: &str| {
        problems.push(Problem {
            field: field_of(field, id),
            message: ctx.t(key),
        });
    };
    let credential = credential(&form).unwrap_or_else(|()| {
        problem(&mut problems, "credential", "gateway-credential-invalid");
        None
    });
    let timeout_ms = optional_u32(&form.timeout_ms).unwrap_or_else(|()| {
        problem(&mut problems, "timeout_ms", "gateway-timeout-invalid");
        None
    });
    let max_concurrency = optional_u32(&form.max_concurrency).unwrap_or_else(|()| {
        problem(
            &mut problems,
            "max_concurrency",
            "gateway-concurrency-invalid",
        );
        None
    });
    let paths: Vec<String> = form
        .paths
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if problems.is_empty() {
        let input = UpstreamInput {
            base_url: form.base_url.trim().to_owned(),
            credential,
            methods: Some(form.methods.clone()),
            paths: (!paths.is_empty()).then_some(paths),
            timeout_ms,
            max_concurrency,
        };
        match state
            .gateway
            .configure(&principal, id, input, &request_context(&req, &ctx))
            .await
        {
            Ok(_) => {
                return HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/workspace/agency/datasets/{slug}#gateway-{id}"),
                    ))
                    .finish();
            }
            Err(GatewayError::Invalid { field, .. }) => {
                let (field, key) = match field.as_str() {
                    "base_url" => ("base_url", "gateway-url-invalid"),
                    "methods" => ("methods", "gateway-methods-invalid"),
                    "paths" => ("paths", "gateway-paths-invalid"),
                    "timeout_ms" => ("timeout_ms", "gateway-timeout-invalid"),
                    "max_concurrency" => ("max_concurrency", "gateway-concurrency-invalid"),
                    _ => ("credential", "gateway-credential-invalid"),
                };
                problem(&mut problems, field, key);
            }
            Err(error) => return WebError::from(error).page(&ctx),
        }
    }
    finish(crate::publish::manage_page(ctx.clone(), &state, &principal, &slug, &problems).await)
}

/// Stops forwarding an API distribution's calls.
#[post("/workspace/agency/datasets/{slug}/apis/{id}/upstream/remove")]
pub(crate) async fn remove(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, slug, id) = match signed_for_api(&ctx, &state, &body, path.into_inner()).await {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    match state
        .gateway
        .remove(&principal, id, &request_context(&req, &ctx))
        .await
    {
        Ok(()) | Err(GatewayError::NotConfigured) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/agency/datasets/{slug}#gateway-{id}"),
            ))
            .finish(),
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// Who sent an API's form (with its token), the dataset's slug and the API's id; or the answer
/// to give instead (sign in, the form expired, or no such API of the sender's agency).
async fn signed_for_api(
    ctx: &Ctx,
    state: &WebState,
    body: &[u8],
    (slug, id): (String, String),
) -> Result<(Principal, String, DistributionId), Box<HttpResponse>> {
    let (principal, ()) = signed_form_of::<()>(ctx, body, crate::workspace::is_agency)?;
    match own_api(state, &principal, &slug, &id).await {
        Some(id) => Ok((principal, slug, id)),
        None => Err(Box::new(WebError::NotFound.page(ctx))),
    }
}

/// The id of an API distribution of dataset `slug`, when the principal's agency publishes it.
async fn own_api(
    state: &WebState,
    principal: &Principal,
    slug: &str,
    id: &str,
) -> Option<DistributionId> {
    let id = id.parse::<DistributionId>().ok()?;
    let view = state.catalog.dataset(Some(principal), slug).await.ok()?;
    (view.dataset.organization_id == principal.org
        && view
            .distributions
            .iter()
            .any(|d| d.id == id && d.kind == DistributionKind::Api))
    .then_some(id)
}

/// The name a problem of an API's form goes under: its input's id (the field, `-`, the API's
/// id), so the summary links to it and two APIs' forms keep their problems apart.
fn field_of(field: &str, id: DistributionId) -> String {
    format!("{field}-{id}")
}
