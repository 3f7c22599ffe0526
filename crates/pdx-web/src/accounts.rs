//! Accounts in the browser, for people without a session: an enterprise registers itself (the
//! address is confirmed by the link mailed to it, where the password is chosen), a forgotten
//! password is reset by a mailed link, and an invitation to an organisation is accepted. The
//! links in PDX's messages lead to these pages. Every form carries a token bound to the
//! browser's form cookie; the rules (rate limits, password policy, one-time links) are the
//! access service's own.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use pdx_access::AccessError;
use pdx_access::service::EnterpriseRegistration;
use serde::Deserialize;

use crate::WebState;
use crate::error::WebError;
use crate::forms::{Problem, error_summary};
use crate::page::{Ctx, frame, respond};
use crate::session::{anonymous_form_refusal, form_token, request_context, with_form_token};

/// One text field with its label, hint and error.
struct Field<'a> {
    name: &'static str,
    kind: &'static str,
    label: &'static str,
    hint: Option<&'static str>,
    value: &'a str,
    autocomplete: &'static str,
    required: bool,
}

fn field(ctx: &Ctx, f: &Field<'_>, problems: &[Problem]) -> Markup {
    let error = problems.iter().find(|p| p.field == f.name);
    let hint_id = format!("{}-hint", f.name);
    let error_id = format!("{}-error", f.name);
    let described = match (f.hint.is_some(), error.is_some()) {
        (true, true) => Some(format!("{hint_id} {error_id}")),
        (true, false) => Some(hint_id.clone()),
        (false, true) => Some(error_id.clone()),
        (false, false) => None,
    };
    html! {
        div.field.invalid[error.is_some()] {
            label for=(f.name) { (ctx.t(f.label)) }
            @if let Some(hint) = f.hint { p.hint #(hint_id) { (ctx.t(hint)) } }
            @if let Some(error) = error { p.field-error #(error_id) { (error.message) } }
            input #(f.name) type=(f.kind) name=(f.name) value=(f.value) autocomplete=(f.autocomplete)
                required[f.required] aria-describedby=[described]
                aria-invalid=[error.is_some().then_some("true")];
        }
    }
}

/// A page with one form, for a visitor without a session; its token is bound to the browser.
fn form_page(
    req: &HttpRequest,
    ctx: &Ctx,
    status: StatusCode,
    title: &str,
    problems: &[Problem],
    body: impl FnOnce(&str) -> Markup,
) -> HttpResponse {
    let token = form_token(req);
    let content = html! {
        div.narrow {
            (error_summary(ctx, problems))
            h1 { (title) }
            (body(&token))
        }
    };
    with_form_token(req, respond(status, frame(ctx, title, content)), token)
}

/// A page that says what happened and what to do next.
fn message_page(ctx: &Ctx, status: StatusCode, title_key: &str, body: Markup) -> HttpResponse {
    let title = ctx.t(title_key);
    respond(
        status,
        frame(ctx, &title, html! { div.narrow { h1 { (title) } (body) } }),
    )
}

/// What a refusal of the access service means on a page: a field's problem, or a page.
fn problem_of(
    ctx: &Ctx,
    error: AccessError,
    fields: &[&'static str],
) -> Result<Problem, Box<HttpResponse>> {
    let message = |key: &str| ctx.t(key);
    match error {
        AccessError::InvalidInput {
            field,
            message: detail,
        } => {
            let field = fields.iter().copied().find(|f| *f == field).unwrap_or("");
            let key = format!("account-invalid-{}", field.replace('_', "-"));
            Ok(Problem {
                field: field.into(),
                message: if field.is_empty() {
                    detail
                } else {
                    message(&key)
                },
            })
        }
        AccessError::CreditCodeTaken => Ok(Problem {
            field: "credit_code".into(),
            message: message("account-credit-code-taken"),
        }),
        AccessError::SlugTaken => Ok(Problem {
            field: "organization_name".into(),
            message: message("account-name-taken"),
        }),
        AccessError::RateLimited { .. } => Err(Box::new(message_page(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "account-rate-limited-title",
            html! { p.lead { (ctx.t("account-rate-limited")) } },
        ))),
        AccessError::LinkInvalid
        | AccessError::LinkExpired
        | AccessError::LinkUsed
        | AccessError::InvitationNotPending
        | AccessError::AlreadyMember => {
            let key = match error {
                AccessError::LinkExpired => "account-link-expired",
                AccessError::LinkUsed | AccessError::InvitationNotPending => "account-link-used",
                AccessError::AlreadyMember => "account-already-member",
                _ => "account-link-invalid",
            };
            Err(Box::new(message_page(
                ctx,
                StatusCode::GONE,
                "account-link-title",
                html! {
                    p.lead { (ctx.t(key)) }
                    ul.next {
                        li { a href="/password-reset" { (ctx.t("sign-in-forgot")) } }
                        li { a href="/register" { (ctx.t("sign-in-register")) } }
                        li { a href="/sign-in" { (ctx.t("account-sign-in")) } }
                    }
                },
            )))
        }
        other => Err(Box::new(WebError::from(other).page(ctx))),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organization_name: String,
    #[serde(default)]
    credit_code: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    contact_phone: String,
}

/// The registration form of an enterprise.
#[get("/register")]
pub(crate) async fn register_form(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    register_page(&req, &ctx, StatusCode::OK, &RegisterForm::default(), &[])
}

fn register_page(
    req: &HttpRequest,
    ctx: &Ctx,
    status: StatusCode,
    form: &RegisterForm,
    problems: &[Problem],
) -> HttpResponse {
    let title = ctx.t("register-title");
    form_page(req, ctx, status, &title, problems, |token| {
        html! {
            p.lead { (ctx.t("register-lead")) }
            form method="post" action="/register" novalidate {
                input type="hidden" name="csrf" value=(token);
                (field(ctx, &Field { name: "organization_name", kind: "text", label: "register-organization", hint: Some("register-organization-hint"), value: &form.organization_name, autocomplete: "organization", required: true }, problems))
                (field(ctx, &Field { name: "credit_code", kind: "text", label: "register-credit-code", hint: Some("register-credit-code-hint"), value: &form.credit_code, autocomplete: "off", required: true }, problems))
                (field(ctx, &Field { name: "display_name", kind: "text", label: "register-name", hint: None, value: &form.display_name, autocomplete: "name", required: true }, problems))
                (field(ctx, &Field { name: "email", kind: "email", label: "sign-in-email", hint: Some("register-email-hint"), value: &form.email, autocomplete: "email", required: true }, problems))
                (field(ctx, &Field { name: "contact_phone", kind: "tel", label: "register-phone", hint: Some("register-optional"), value: &form.contact_phone, autocomplete: "tel", required: false }, problems))
                button type="submit" { (ctx.t("register-button")) }
            }
            p { (ctx.t("register-have-account")) " " a href="/sign-in" { (ctx.t("account-sign-in")) } }
        }
    })
}

/// Sends the registration: a confirmation link goes to the address.
#[post("/register")]
pub(crate) async fn register(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: RegisterForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let text = |value: &str, most: usize| value.trim().chars().take(most).collect::<String>();
    let mut problems = Vec::new();
    for (name, value, key) in [
        (
            "organization_name",
            &form.organization_name,
            "register-organization-missing",
        ),
        (
            "credit_code",
            &form.credit_code,
            "register-credit-code-missing",
        ),
        ("display_name", &form.display_name, "register-name-missing"),
        ("email", &form.email, "register-email-missing"),
    ] {
        if value.trim().is_empty() {
            problems.push(Problem {
                field: name.into(),
                message: ctx.t(key),
            });
        }
    }
    if !problems.is_empty() {
        return register_page(
            &req,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &problems,
        );
    }
    let registration = EnterpriseRegistration {
        email: text(&form.email, 254),
        display_name: text(&form.display_name, 200),
        organization_name: text(&form.organization_name, 200),
        slug: None,
        credit_code: text(&form.credit_code, 18).to_ascii_uppercase(),
        contact_email: None,
        contact_phone: Some(text(&form.contact_phone, 40)).filter(|p| !p.is_empty()),
    };
    let email = registration.email.clone();
    match state
        .access
        .request_registration(registration, &request_context(&req, &ctx))
        .await
    {
        Ok(()) => message_page(
            &ctx,
            StatusCode::OK,
            "register-sent-title",
            html! {
                p.lead { (ctx.lang.t_with("register-sent", &[("email", crate::i18n::Arg::Text(email))])) }
                p { (ctx.t("register-sent-next")) }
            },
        ),
        Err(error) => match problem_of(
            &ctx,
            error,
            &[
                "organization_name",
                "credit_code",
                "display_name",
                "email",
                "contact_phone",
            ],
        ) {
            Ok(problem) => register_page(
                &req,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &[problem],
            ),
            Err(page) => *page,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    display_name: String,
}

/// A one-time link's token, as the query string carries it (bounded).
fn link_token(req: &HttpRequest) -> String {
    let query: TokenQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    query.token.chars().take(200).collect()
}

/// A page asking for a new password (and, for an invitation, a name), posting to `action`.
fn password_page(
    req: &HttpRequest,
    ctx: &Ctx,
    status: StatusCode,
    (title_key, lead_key, action): (&str, &str, &str),
    link: &str,
    ask_name: Option<&str>,
    problems: &[Problem],
) -> HttpResponse {
    let min_length = req
        .app_data::<web::Data<WebState>>()
        .map_or(0, |state| state.access.password_policy().min_length);
    let title = ctx.t(title_key);
    form_page(req, ctx, status, &title, problems, |token| {
        html! {
            p.lead { (ctx.t(lead_key)) }
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="token" value=(link);
                @if let Some(name) = ask_name {
                    (field(ctx, &Field { name: "display_name", kind: "text", label: "register-name", hint: Some("invitation-name-hint"), value: name, autocomplete: "name", required: false }, problems))
                }
                (field(ctx, &Field { name: "password", kind: "password", label: "account-new-password", hint: Some("account-password-hint"), value: "", autocomplete: "new-password", required: ask_name.is_none() }, problems))
                p.hint { (ctx.lang.t_with("account-password-length", &[("min", crate::i18n::Arg::Number(i64::try_from(min_length).unwrap_or(0)))])) }
                button type="submit" { (ctx.t("account-continue")) }
            }
        }
    })
}

/// The registration's confirmation link: choose the password.
#[get("/confirm")]
pub(crate) async fn confirm_form(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let link = link_token(&req);
    password_page(
        &req,
        &ctx,
        StatusCode::OK,
        ("confirm-title", "confirm-lead", "/confirm"),
        &link,
        None,
        &[],
    )
}

/// Confirms the registration: the enterprise and its first user are created.
#[post("/confirm")]
pub(crate) async fn confirm(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: PasswordForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let password: String = form.password.chars().take(1024).collect();
    match state
        .access
        .confirm_registration(&form.token, &password, &request_context(&req, &ctx))
        .await
    {
        Ok((organization, _)) => message_page(
            &ctx,
            StatusCode::OK,
            "confirm-done-title",
            html! {
                p.lead { (ctx.lang.t_with("confirm-done", &[("organization", crate::i18n::Arg::Text(organization.name))])) }
                p { a.button href="/sign-in" { (ctx.t("account-sign-in")) } }
            },
        ),
        Err(error) => match problem_of(&ctx, error, &["password"]) {
            Ok(problem) => password_page(
                &req,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                ("confirm-title", "confirm-lead", "/confirm"),
                &form.token,
                None,
                &[problem],
            ),
            Err(page) => *page,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// A forgotten password: with a link's token, the new password; without, the address to send
/// the link to.
#[get("/password-reset")]
pub(crate) async fn password_reset_form(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let link = link_token(&req);
    if link.is_empty() {
        return reset_request_page(&req, &ctx, StatusCode::OK, "", &[]);
    }
    password_page(
        &req,
        &ctx,
        StatusCode::OK,
        ("reset-title", "reset-lead", "/password-reset"),
        &link,
        None,
        &[],
    )
}

fn reset_request_page(
    req: &HttpRequest,
    ctx: &Ctx,
    status: StatusCode,
    email: &str,
    problems: &[Problem],
) -> HttpResponse {
    let title = ctx.t("reset-request-title");
    form_page(req, ctx, status, &title, problems, |token| {
        html! {
            p.lead { (ctx.t("reset-request-lead")) }
            form method="post" action="/password-reset/request" novalidate {
                input type="hidden" name="csrf" value=(token);
                (field(ctx, &Field { name: "email", kind: "email", label: "sign-in-email", hint: None, value: email, autocomplete: "email", required: true }, problems))
                button type="submit" { (ctx.t("reset-request-button")) }
            }
        }
    })
}

/// Sends a password-reset link, if the address has an account (the answer is the same).
#[post("/password-reset/request")]
pub(crate) async fn password_reset_request(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: EmailForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let email: String = form.email.trim().chars().take(254).collect();
    if email.is_empty() {
        let problem = Problem {
            field: "email".into(),
            message: ctx.t("register-email-missing"),
        };
        return reset_request_page(
            &req,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &email,
            &[problem],
        );
    }
    match state
        .access
        .request_password_reset(&email, &request_context(&req, &ctx))
        .await
    {
        Ok(()) => message_page(
            &ctx,
            StatusCode::OK,
            "reset-sent-title",
            html! { p.lead { (ctx.lang.t_with("reset-sent", &[("email", crate::i18n::Arg::Text(email))])) } },
        ),
        Err(error) => match problem_of(&ctx, error, &["email"]) {
            Ok(problem) => reset_request_page(
                &req,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &email,
                &[problem],
            ),
            Err(page) => *page,
        },
    }
}

/// Sets the new password of a reset link; every session of the account ends.
#[post("/password-reset")]
pub(crate) async fn password_reset(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: PasswordForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let password: String = form.password.chars().take(1024).collect();
    match state
        .access
        .reset_password(&form.token, &password, &request_context(&req, &ctx))
        .await
    {
        Ok(()) => message_page(
            &ctx,
            StatusCode::OK,
            "reset-done-title",
            html! {
                p.lead { (ctx.t("reset-done")) }
                p { a.button href="/sign-in" { (ctx.t("account-sign-in")) } }
            },
        ),
        Err(error) => match problem_of(&ctx, error, &["password"]) {
            Ok(problem) => password_page(
                &req,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                ("reset-title", "reset-lead", "/password-reset"),
                &form.token,
                None,
                &[problem],
            ),
            Err(page) => *page,
        },
    }
}

/// An invitation's link: a name and password for a new account (none for an existing one).
#[get("/invitations/accept")]
pub(crate) async fn invitation_form(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let link = link_token(&req);
    password_page(
        &req,
        &ctx,
        StatusCode::OK,
        ("invitation-title", "invitation-lead", "/invitations/accept"),
        &link,
        Some(""),
        &[],
    )
}

/// Accepts an invitation.
#[post("/invitations/accept")]
pub(crate) async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let form: PasswordForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) = anonymous_form_refusal(&req, &ctx, &form.csrf) {
        return refused;
    }
    let name: String = form.display_name.trim().chars().take(200).collect();
    let password: String = form.password.chars().take(1024).collect();
    match state
        .access
        .accept_invitation(
            &form.token,
            Some(name.as_str()).filter(|n| !n.is_empty()),
            Some(password.as_str()).filter(|p| !p.is_empty()),
            &request_context(&req, &ctx),
        )
        .await
    {
        Ok(accepted) => message_page(
            &ctx,
            StatusCode::OK,
            "invitation-done-title",
            html! {
                p.lead { (ctx.lang.t_with("invitation-done", &[("organization", crate::i18n::Arg::Text(accepted.organization.name))])) }
                p { a.button href="/sign-in" { (ctx.t("account-sign-in")) } }
            },
        ),
        Err(error) => match problem_of(&ctx, error, &["display_name", "password"]) {
            Ok(problem) => password_page(
                &req,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                ("invitation-title", "invitation-lead", "/invitations/accept"),
                &form.token,
                Some(&name),
                &[problem],
            ),
            Err(page) => *page,
        },
    }
}
