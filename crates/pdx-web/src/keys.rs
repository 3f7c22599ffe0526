//! API keys in the browser: the keys a member may see (their own; all of the organisation's
//! for its admins), a new key whose secret is shown once, revocation, and a copy-paste example
//! of calling the data API with a key: a token from the token endpoint, then a download with
//! the purpose declared. The rules are the access service's.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use pdx_access::AccessError;
use pdx_access::api_keys::CreatedApiKey;
use pdx_core::{ApiKeyId, Principal};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::forms::{Problem, error_summary};
use crate::page::{Ctx, crumbs, frame, respond};
use crate::session::{request_context, signed_form};

/// The keys page.
#[get("/workspace/keys")]
pub(crate) async fn keys_view(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let Some(session) = &ctx.session else {
        return crate::workspace::to_sign_in(&ctx);
    };
    let principal = session.principal.clone();
    let origin = origin(&req);
    finish(keys_page(ctx, &state, &principal, &origin, None, &[]).await)
}

/// This site's origin as the visitor reached it, for the example.
fn origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

async fn keys_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    origin: &str,
    created: Option<&CreatedApiKey>,
    problems: &[Problem],
) -> PageResult {
    let keys = state
        .access
        .api_keys(principal)
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let lang = ctx.lang;
    let title = ctx.t("keys-title");
    let csrf = ctx.csrf();
    let invalid = problems.iter().any(|p| p.field == "name");
    let client_id = created.map_or("<client_id>", |c| c.key.client_id.as_str());
    let secret = created.map_or("<client_secret>", |c| c.client_secret.as_str());
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        (error_summary(&ctx, problems))
        h1 { (title) }
        p.lead { (ctx.t("keys-lead")) }
        @if let Some(created) = created {
            div.notice.success role="status" {
                h2 { (ctx.t("keys-created")) }
                p { (ctx.t("keys-created-once")) }
                dl.metadata {
                    dt { "client_id" } dd { code { (created.key.client_id) } }
                    dt { "client_secret" } dd { code.secret { (created.client_secret) } }
                }
            }
        }
        section aria-labelledby="example-title" {
            h2 #example-title { (ctx.t("keys-example")) }
            p { (ctx.t("keys-example-lead")) }
            pre.json { code { (example(origin, client_id, secret)) } }
            p.small { (ctx.t("keys-example-receipt")) " " a href="/api/docs/" { (ctx.t("footer-api-docs")) } }
        }
        section aria-labelledby="list-title" {
            h2 #list-title { (ctx.t("keys-list")) }
            @if keys.is_empty() {
                p { (ctx.t("keys-none")) }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("keys-name")) }
                            th scope="col" { "client_id" }
                            th scope="col" { (ctx.t("keys-created-at")) }
                            th scope="col" { (ctx.t("keys-last-used")) }
                            th scope="col" { (ctx.t("request-state")) }
                            th scope="col" { span.visually-hidden { (ctx.t("keys-actions")) } }
                        } }
                        tbody {
                            @for key in &keys {
                                tr {
                                    th scope="row" { (key.name) }
                                    td { code { (key.client_id) } }
                                    td { (lang.date(key.created_at.date_naive())) }
                                    td { @if let Some(used) = key.last_used_at { (lang.date(used.date_naive())) } @else { "—" } }
                                    td {
                                        @if key.revoked_at.is_some() {
                                            span.tag.closed { (ctx.t("keys-revoked")) }
                                        } @else {
                                            span.tag.open { (ctx.t("grant-active")) }
                                        }
                                    }
                                    td {
                                        @if key.revoked_at.is_none() {
                                            form.inline method="post" action={ "/workspace/keys/" (key.id) "/revoke" } {
                                                input type="hidden" name="csrf" value=(csrf);
                                                button.secondary type="submit" {
                                                    (ctx.t("keys-revoke")) span.visually-hidden { " " (key.name) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-title" {
            h2 #new-title { (ctx.t("keys-new")) }
            form method="post" action="/workspace/keys" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                div.field.invalid[invalid] {
                    label for="name" { (ctx.t("keys-name")) }
                    p.hint #name-hint { (ctx.t("keys-name-hint")) }
                    @for problem in problems.iter().filter(|p| p.field == "name") { p.field-error { (problem.message) } }
                    input #name type="text" name="name" maxlength="200" aria-describedby="name-hint"
                        aria-invalid=[invalid.then_some("true")];
                }
                button type="submit" { (ctx.t("keys-create")) }
            }
        }
    };
    let status = crate::forms::status(problems);
    let mut response = respond(status, frame(&ctx, &title, content));
    if created.is_some() {
        // The secret is on this page only: no cache keeps it.
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
}

/// The example: a token for the key, then a file and a table's rows with the purpose declared.
fn example(origin: &str, client_id: &str, secret: &str) -> Markup {
    html! {
        "TOKEN=$(curl -s -u '" (client_id) ":" (secret) "' \\\n"
        "  -d grant_type=client_credentials \\\n"
        "  " (origin) "/api/v1/auth/token | jq -r .access_token)\n\n"
        "curl -OJ -H \"Authorization: Bearer $TOKEN\" \\\n"
        "  -H 'X-PDX-Purpose: research' \\\n"
        "  " (origin) "/api/v1/distributions/<distribution_id>/data\n\n"
        "curl -H \"Authorization: Bearer $TOKEN\" \\\n"
        "  -H 'X-PDX-Purpose: research' \\\n"
        "  '" (origin) "/api/v1/distributions/<distribution_id>/rows?filter=district:eq:Futian&limit=100'"
    }
}

#[derive(Debug, Default, Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    name: String,
}

/// Creates a key; its secret is shown on the answer, once.
#[post("/workspace/keys")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form::<NewKeyForm>(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let origin = origin(&req);
    let name: String = form.name.trim().chars().take(200).collect();
    match state
        .access
        .create_api_key(&principal, &name, None, None, &request_context(&req, &ctx))
        .await
    {
        Ok(created) => {
            finish(keys_page(ctx, &state, &principal, &origin, Some(&created), &[]).await)
        }
        Err(AccessError::InvalidInput { field: "name", .. }) => {
            let problem = Problem {
                field: "name".into(),
                message: ctx.t("keys-name-invalid"),
            };
            finish(keys_page(ctx.clone(), &state, &principal, &origin, None, &[problem]).await)
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// Revokes a key: tokens issued for it stop working at once.
#[post("/workspace/keys/{id}/revoke")]
pub(crate) async fn revoke(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, ()) = match signed_form::<()>(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let Ok(id) = id.parse::<ApiKeyId>() else {
        return WebError::NotFound.page(&ctx);
    };
    match state
        .access
        .revoke_api_key(&principal, id, &request_context(&req, &ctx))
        .await
    {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/workspace/keys"))
            .finish(),
        Err(AccessError::ApiKeyNotFound) => WebError::NotFound.page(&ctx),
        Err(error) => WebError::from(error).page(&ctx),
    }
}
