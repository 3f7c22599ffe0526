//! Signing in and out of the portal: the sign-in form, the session cookie (HttpOnly,
//! SameSite=Lax, Secure over https) naming a server-side session, and the CSRF token every
//! form carries — the session's own once signed in, a cookie-bound one on the sign-in form.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use pdx_access::AccessError;
use pdx_access::audit::RequestContext;
use serde::Deserialize;

use crate::WebState;
use crate::error::WebError;
use crate::is_local_path;
use crate::page::{Ctx, frame, respond};

/// The cookie naming the signed-in session.
pub const SESSION_COOKIE: &str = "pdx_session";
/// The cookie binding the sign-in form's token to this browser before there is a session.
pub const FORM_COOKIE: &str = "pdx_form";

fn https(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<WebState>>()
        .is_some_and(|state| state.https)
}

fn cookie<'a>(
    req: &HttpRequest,
    name: &'a str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(https(req))
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// Whether two tokens are equal, in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks the CSRF token of a signed-in form: the refusal page when it does not match.
pub fn form_refusal(ctx: &Ctx, presented: Option<&str>) -> Option<HttpResponse> {
    match &ctx.session {
        Some(session) if same_token(&session.csrf_token, presented.unwrap_or("")) => None,
        _ => Some(form_expired(ctx)),
    }
}

/// A form sent by a signed-in member whom `allowed` admits (the wrong role gets the 403
/// page): as [`signed_form`].
pub(crate) fn signed_form_of<T: serde::de::DeserializeOwned + Default>(
    ctx: &Ctx,
    body: &[u8],
    allowed: impl Fn(&pdx_core::Principal) -> bool,
) -> Result<(pdx_core::Principal, T), Box<HttpResponse>> {
    crate::workspace::principal_for(ctx, allowed)?;
    signed_form(ctx, body)
}

/// A form sent by a signed-in member: its fields and who sent it, once its CSRF token (the
/// `csrf` field) matches the session's; otherwise the answer to give instead (sign in first,
/// or the form has expired). Nothing in the form is acted on before this check.
pub(crate) fn signed_form<T: serde::de::DeserializeOwned + Default>(
    ctx: &Ctx,
    body: &[u8],
) -> Result<(pdx_core::Principal, T), Box<HttpResponse>> {
    let Some(session) = &ctx.session else {
        return Err(Box::new(crate::workspace::to_sign_in(ctx)));
    };
    let token: TokenForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if let Some(refused) = form_refusal(ctx, token.csrf.as_deref()) {
        return Err(Box::new(refused));
    }
    let form = serde_urlencoded::from_bytes(body).unwrap_or_default();
    Ok((session.principal.clone(), form))
}

fn form_expired(ctx: &Ctx) -> HttpResponse {
    let title = ctx.t("form-expired-title");
    respond(
        StatusCode::FORBIDDEN,
        frame(
            ctx,
            &title,
            html! {
                h1 { (title) }
                p.lead { (ctx.t("form-expired-body")) }
                p { a href=(ctx.here) { (ctx.t("form-expired-back")) } }
            },
        ),
    )
}

pub(crate) fn request_context(req: &HttpRequest, ctx: &Ctx) -> RequestContext {
    RequestContext {
        request_id: Some(ctx.request_id.clone()).filter(|id| !id.is_empty()),
        client_address: req
            .connection_info()
            .realip_remote_addr()
            .map(str::to_owned),
    }
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

fn next_of(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n) && !n.starts_with("/sign-"))
        .unwrap_or("/workspace")
        .to_owned()
}

/// The sign-in form.
#[get("/sign-in")]
pub(crate) async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let query: NextQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let next = next_of(query.next.as_deref());
    if ctx.session.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish();
    }
    sign_in_page(&req, &ctx, StatusCode::OK, &next, "", None)
}

fn sign_in_page(
    req: &HttpRequest,
    ctx: &Ctx,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<String>,
) -> HttpResponse {
    let token = form_token(req);
    let title = ctx.t("sign-in-title");
    let content = html! {
        div.narrow {
            @if let Some(error) = &error {
                div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                    h2 #error-summary-title { (ctx.t("form-error-summary")) }
                    ul { li { a href="#email" { (error) } } }
                }
            }
            h1 { (title) }
            form method="post" action="/sign-in" novalidate {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                (field(ctx, "email", "email", "sign-in-email", email, "username", error.is_some()))
                (field(ctx, "password", "password", "sign-in-password", "", "current-password", false))
                button type="submit" { (ctx.t("sign-in-button")) }
            }
            ul.next {
                li { a href="/password-reset" { (ctx.t("sign-in-forgot")) } }
                li { a href="/register" { (ctx.t("sign-in-register")) } }
            }
        }
    };
    with_form_token(req, respond(status, frame(ctx, &title, content)), token)
}

/// The token of a form shown before there is a session: the one this browser already holds
/// in its form cookie, or a new one.
pub(crate) fn form_token(req: &HttpRequest) -> String {
    req.cookie(FORM_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32 && v.len() <= 64)
        .or_else(|| pdx_access::secrets::random_token(24).ok())
        .unwrap_or_default()
}

/// A page carrying a form shown before there is a session, with the form cookie that binds
/// its token to this browser.
pub(crate) fn with_form_token(
    req: &HttpRequest,
    mut response: HttpResponse,
    token: String,
) -> HttpResponse {
    let _ = response.add_cookie(&cookie(req, FORM_COOKIE, token, CookieDuration::hours(2)));
    response
}

/// Checks the token of a form sent before there is a session against this browser's form
/// cookie: the refusal page when they do not match.
pub(crate) fn anonymous_form_refusal(
    req: &HttpRequest,
    ctx: &Ctx,
    presented: &str,
) -> Option<HttpResponse> {
    let bound = req.cookie(FORM_COOKIE).map(|c| c.value().to_owned());
    if same_token(bound.as_deref().unwrap_or(""), presented) {
        None
    } else {
        Some(form_expired(ctx))
    }
}

pub(crate) fn field(
    ctx: &Ctx,
    name: &str,
    kind: &str,
    label: &str,
    value: &str,
    autocomplete: &str,
    invalid: bool,
) -> Markup {
    html! {
        div.field.invalid[invalid] {
            label for=(name) { (ctx.t(label)) }
            input #(name) type=(kind) name=(name) value=(value) autocomplete=(autocomplete)
                required aria-invalid=[invalid.then_some("true")];
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Signs in: checks the form's token, then the password, and opens a session.
#[post("/sign-in")]
pub(crate) async fn sign_in(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: SignInForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let next = next_of(form.next.as_deref());
    let email: String = form.email.trim().chars().take(254).collect();
    let password: String = form.password.chars().take(1024).collect();
    if email.is_empty() || password.is_empty() {
        let error = ctx.t("sign-in-missing");
        return sign_in_page(
            &req,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &next,
            &email,
            Some(error),
        );
    }
    let context = request_context(&req, &ctx);
    match state
        .access
        .open_session(&email, &password, None, &context)
        .await
    {
        Ok(opened) => {
            let ttl = pdx_access::sessions::SESSION_TTL.num_seconds();
            let mut response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .finish();
            let _ = response.add_cookie(&cookie(
                &req,
                SESSION_COOKIE,
                opened.secret,
                CookieDuration::seconds(ttl),
            ));
            let _ = response.add_removal_cookie(&cookie(
                &req,
                FORM_COOKIE,
                String::new(),
                CookieDuration::ZERO,
            ));
            response
        }
        Err(error) => {
            let (status, key) = match &error {
                AccessError::Throttled { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "sign-in-throttled")
                }
                AccessError::EmailUnconfirmed => (StatusCode::FORBIDDEN, "sign-in-unconfirmed"),
                AccessError::NotAMember => (StatusCode::FORBIDDEN, "sign-in-no-organisation"),
                AccessError::InvalidCredentials => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "sign-in-invalid")
                }
                _ => return WebError::from(error).page(&ctx),
            };
            let message = ctx.t(key);
            sign_in_page(&req, &ctx, status, &next, &email, Some(message))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// Signs out: the session is revoked in the database, so its cookie is worthless everywhere.
#[post("/sign-out")]
pub(crate) async fn sign_out(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if ctx.session.is_none() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish();
    }
    if let Some(refused) = form_refusal(&ctx, form.csrf.as_deref()) {
        return refused;
    }
    if let Some(secret) = req.cookie(SESSION_COOKIE)
        && let Err(error) = state
            .access
            .close_session(secret.value(), &request_context(&req, &ctx))
            .await
    {
        return WebError::from(error).page(&ctx);
    }
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish();
    let _ = response.add_removal_cookie(&cookie(
        &req,
        SESSION_COOKIE,
        String::new(),
        CookieDuration::ZERO,
    ));
    response
}

/// Fields of the form that chooses the organisation to act for.
#[derive(Debug, Default, Deserialize)]
struct ActForForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    organization: String,
}

/// Switches the session to act for another of the user's organisations (a member of several
/// chooses here), then opens that organisation's workspace. The switch is in the ledger.
#[post("/account/organization")]
pub(crate) async fn act_for(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: ActForForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if ctx.session.is_none() {
        return crate::workspace::to_sign_in(&ctx);
    }
    if let Some(refused) = form_refusal(&ctx, form.csrf.as_deref()) {
        return refused;
    }
    let Some(secret) = req.cookie(SESSION_COOKIE) else {
        return crate::workspace::to_sign_in(&ctx);
    };
    match state
        .access
        .act_for(
            secret.value(),
            form.organization.trim(),
            &request_context(&req, &ctx),
        )
        .await
    {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/workspace"))
            .finish(),
        Err(AccessError::NotAMember) => WebError::Forbidden.page(&ctx),
        Err(error) => WebError::from(error).page(&ctx),
    }
}
