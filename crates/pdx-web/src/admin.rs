//! The data bureau's pages: organisations (create agencies, verify enterprises with their
//! credit code checked), an organisation's members with their roles and invitations, and the
//! licences with their policies. The rights are the access and licensing services' own:
//! platform admins manage organisations; an organisation's admins manage its members.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use pdx_access::AccessError;
use pdx_access::model::CreditCode;
use pdx_access::service::OrganizationInput;
use pdx_core::{OrgKind, PageRequest, Principal, Role, UserId};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::forms::{Problem, error_summary};
use crate::page::{Ctx, crumbs, frame, respond};
use crate::session::{request_context, signed_form, signed_form_of};

fn platform_admin(principal: &Principal) -> bool {
    principal.has(Role::PlatformAdmin)
}

/// The organisations on the platform.
#[get("/workspace/admin/organizations")]
pub(crate) async fn organizations_view(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, platform_admin) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(organizations_page(ctx, &state, &principal, &CreateForm::default(), &[]).await)
}

async fn organizations_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    form: &CreateForm,
    problems: &[Problem],
) -> PageResult {
    let found = state
        .access
        .list_organizations(
            Some(principal),
            None,
            None,
            PageRequest::new(Some(1), Some(100)),
        )
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let lang = ctx.lang;
    let csrf = ctx.csrf();
    let title = ctx.t("admin-organizations");
    let error = |field: &str| crate::forms::problem_of(problems, field);
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        (error_summary(&ctx, problems))
        h1 { (title) }
        p.lead { (lang.t_with("admin-organizations-count", &[("count", crate::i18n::Arg::Number(found.total))])) }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (ctx.t("ledger-organization")) }
                    th scope="col" { (ctx.t("admin-kind")) }
                    th scope="col" { (ctx.t("register-credit-code")) }
                    th scope="col" { (ctx.t("request-state")) }
                    th scope="col" { span.visually-hidden { (ctx.t("keys-actions")) } }
                } }
                tbody {
                    @for org in &found.items {
                        tr {
                            th scope="row" { a href={ "/workspace/admin/organizations/" (org.slug) } { (org.name) } }
                            td { (ctx.t(&format!("org-kind-{}", org.kind.as_str()))) }
                            td {
                                @if let Some(code) = &org.credit_code {
                                    code { (code) } " "
                                    @if CreditCode::parse(code).is_ok() {
                                        span.tag.open { (ctx.t("admin-code-valid")) }
                                    } @else {
                                        span.tag.closed { (ctx.t("admin-code-invalid")) }
                                    }
                                }
                            }
                            td {
                                @if org.verified {
                                    span.tag.open { (ctx.t("review-verified")) }
                                } @else {
                                    span.tag.conditional { (ctx.t("review-unverified")) }
                                }
                            }
                            td {
                                @if org.kind == OrgKind::Enterprise {
                                    form.inline method="post" action={ "/workspace/admin/organizations/" (org.slug) "/verification" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="verified" value=(if org.verified { "false" } else { "true" });
                                        button.secondary type="submit" {
                                            (ctx.t(if org.verified { "admin-unverify" } else { "admin-verify" }))
                                            span.visually-hidden { " " (org.name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-agency-title" {
            h2 #new-agency-title { (ctx.t("admin-new-agency")) }
            form method="post" action="/workspace/admin/organizations" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                @for (name, label, value) in [("name", "admin-agency-name", &form.name), ("slug", "admin-slug", &form.slug), ("credit_code", "register-credit-code", &form.credit_code), ("contact_email", "publish-contact-email", &form.contact_email)] {
                    @let problem = error(name);
                    div.field.invalid[problem.is_some()] {
                        label for=(name) { (ctx.t(label)) }
                        @if let Some(problem) = problem { p.field-error { (problem.message) } }
                        input #(name) type="text" name=(name) value=(value) aria-invalid=[problem.is_some().then_some("true")];
                    }
                }
                button type="submit" { (ctx.t("admin-create-agency")) }
            }
        }
    };
    let status = crate::forms::status(problems);
    Ok(respond(status, frame(&ctx, &title, content)))
}

#[derive(Debug, Default, Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    credit_code: String,
    #[serde(default)]
    contact_email: String,
}

/// Creates an agency.
#[post("/workspace/admin/organizations")]
pub(crate) async fn create_agency(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form_of::<CreateForm>(&ctx, &body, platform_admin) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let input = OrganizationInput {
        name: form.name.trim().to_owned(),
        slug: text(&form.slug),
        kind: OrgKind::Agency,
        credit_code: text(&form.credit_code).map(|c| c.to_ascii_uppercase()),
        contact_email: text(&form.contact_email),
        contact_phone: None,
    };
    match state
        .access
        .create_organization(&principal, input, &request_context(&req, &ctx))
        .await
    {
        Ok(created) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/admin/organizations/{}", created.slug),
            ))
            .finish(),
        Err(error) => {
            let problem = match error {
                AccessError::InvalidInput { field, .. } => {
                    let field = ["name", "slug", "credit_code", "contact_email"]
                        .into_iter()
                        .find(|f| *f == field)
                        .unwrap_or("name");
                    Problem {
                        field: field.into(),
                        message: ctx.t(&format!("admin-invalid-{}", field.replace('_', "-"))),
                    }
                }
                AccessError::SlugTaken => Problem {
                    field: "slug".into(),
                    message: ctx.t("account-name-taken"),
                },
                AccessError::CreditCodeTaken => Problem {
                    field: "credit_code".into(),
                    message: ctx.t("admin-code-taken"),
                },
                other => return WebError::from(other).page(&ctx),
            };
            finish(organizations_page(ctx.clone(), &state, &principal, &form, &[problem]).await)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct VerificationForm {
    #[serde(default)]
    verified: String,
}

/// Verifies an enterprise, or withdraws its verification.
#[post("/workspace/admin/organizations/{slug}/verification")]
pub(crate) async fn verification(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form_of::<VerificationForm>(&ctx, &body, platform_admin) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let org = match state.access.resolve_organization(&slug).await {
        Ok(org) => org,
        Err(error) => return WebError::from(error).page(&ctx),
    };
    match state
        .access
        .set_verified(
            &principal,
            org,
            form.verified == "true",
            &request_context(&req, &ctx),
        )
        .await
    {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/workspace/admin/organizations"))
            .finish(),
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// An organisation's members, their roles, and invitations: for its admins and platform
/// admins.
#[get("/workspace/admin/organizations/{slug}")]
pub(crate) async fn members_view(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let Some(session) = &ctx.session else {
        return crate::workspace::to_sign_in(&ctx);
    };
    let principal = session.principal.clone();
    finish(members_page(ctx, &state, &principal, &slug, &[]).await)
}

async fn members_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    slug: &str,
    problems: &[Problem],
) -> PageResult {
    let fail = |e: AccessError| (ctx.clone(), WebError::from(e));
    let org_id = state
        .access
        .resolve_organization(slug)
        .await
        .map_err(fail)?;
    let members = state
        .access
        .members(principal, org_id)
        .await
        .map_err(fail)?;
    let org = state
        .access
        .organization(Some(principal), &org_id.to_string())
        .await
        .map_err(fail)?;
    let manages = pdx_access::permissions::manage_members(principal, org_id).is_ok();
    let invitations: Vec<pdx_access::service_accounts::Invitation> = if manages {
        state
            .access
            .invitations(principal, org_id)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|i| i.status == pdx_access::one_time::Status::Pending)
            .collect()
    } else {
        Vec::new()
    };
    let lang = ctx.lang;
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| r.allowed_in(org.kind))
        .collect();
    let csrf = ctx.csrf();
    let error = |field: &str| crate::forms::problem_of(problems, field);
    let base = format!("/workspace/admin/organizations/{}", org.slug);
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        (error_summary(&ctx, problems))
        h1 { (org.name) }
        p.meta { (ctx.t(&format!("org-kind-{}", org.kind.as_str()))) }
        h2 { (ctx.t("admin-members")) }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (ctx.t("register-name")) }
                    th scope="col" { (ctx.t("sign-in-email")) }
                    th scope="col" { (ctx.t("admin-roles")) }
                    @if manages { th scope="col" { span.visually-hidden { (ctx.t("admin-remove")) } } }
                } }
                tbody {
                    @for member in &members {
                        tr {
                            th scope="row" { (member.user.display_name) }
                            td { (member.user.email) }
                            td {
                                @if manages {
                                    form.roles method="post" action={ (base) "/members/" (member.user.id) } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        @for role in &roles {
                                            @let id = format!("role-{}-{}", member.user.id, role.as_str());
                                            span.choice {
                                                input type="checkbox" name="roles" value=(role.as_str()) id=(id) checked[member.roles.contains(*role)];
                                                label for=(id) { (ctx.t(&format!("role-{}", role.as_str().replace('_', "-")))) }
                                            }
                                        }
                                        button.secondary type="submit" { (ctx.t("admin-save-roles")) span.visually-hidden { " " (member.user.display_name) } }
                                    }
                                } @else {
                                    (member.roles.iter().map(|r| ctx.t(&format!("role-{}", r.as_str().replace('_', "-")))).collect::<Vec<_>>().join(", "))
                                }
                            }
                            @if manages {
                                td {
                                    form method="post" action={ (base) "/members/" (member.user.id) "/remove" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.secondary type="submit" { (ctx.t("admin-remove")) span.visually-hidden { " " (member.user.display_name) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manages {
            section aria-labelledby="invitations-title" {
                h2 #invitations-title { (ctx.t("admin-invitations")) }
                @if invitations.is_empty() {
                    p { (ctx.t("admin-no-invitations")) }
                } @else {
                    div.table-wrap {
                        table {
                            thead { tr {
                                th scope="col" { (ctx.t("sign-in-email")) }
                                th scope="col" { (ctx.t("admin-roles")) }
                                th scope="col" { (ctx.t("admin-invitation-expires")) }
                                th scope="col" { span.visually-hidden { (ctx.t("admin-withdraw-invitation")) } }
                            } }
                            tbody {
                                @for invitation in &invitations {
                                    tr {
                                        th scope="row" { (invitation.email) }
                                        td { (invitation.roles.iter().map(|r| ctx.t(&format!("role-{}", r.as_str().replace('_', "-")))).collect::<Vec<_>>().join(", ")) }
                                        td { (lang.date(invitation.expires_at.date_naive())) }
                                        td {
                                            form method="post" action={ (base) "/invitations/" (invitation.id) "/withdraw" } {
                                                input type="hidden" name="csrf" value=(csrf);
                                                button.secondary type="submit" { (ctx.t("admin-withdraw-invitation")) span.visually-hidden { " " (invitation.email) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="invite-title" {
                h2 #invite-title { (ctx.t("admin-invite")) }
                p.hint { (ctx.t("admin-invite-hint")) }
                form method="post" action={ (base) "/invitations" } novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field.invalid[error("email").is_some()] {
                        label for="email" { (ctx.t("sign-in-email")) }
                        @if let Some(problem) = error("email") { p.field-error { (problem.message) } }
                        input #email type="email" name="email" aria-invalid=[error("email").is_some().then_some("true")];
                    }
                    fieldset.field.invalid[error("roles").is_some()] {
                        legend { (ctx.t("admin-roles")) }
                        @if let Some(problem) = error("roles") { p.field-error { (problem.message) } }
                        @for role in &roles {
                            div.choice {
                                input type="checkbox" name="roles" value=(role.as_str()) id={ "invite-" (role.as_str()) };
                                label for={ "invite-" (role.as_str()) } { (ctx.t(&format!("role-{}", role.as_str().replace('_', "-")))) }
                            }
                        }
                    }
                    button type="submit" { (ctx.t("admin-send-invitation")) }
                }
            }
        }
    };
    let status = crate::forms::status(problems);
    Ok(respond(status, frame(&ctx, &org.name, content)))
}

/// The roles a form posts (repeated `roles` fields), and the e-mail address if any.
fn roles_of(body: &[u8]) -> (Vec<Role>, String) {
    let (form, roles) = crate::forms::with_repeated::<EmailField>(body, "roles");
    let roles = roles
        .iter()
        .filter_map(|v| Role::ALL.into_iter().find(|r| r.as_str() == v))
        .collect();
    (roles, form.email.trim().to_owned())
}

#[derive(Debug, Default, Deserialize)]
struct EmailField {
    #[serde(default)]
    email: String,
}

/// Sets a member's roles.
#[post("/workspace/admin/organizations/{slug}/members/{user}")]
pub(crate) async fn set_roles(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, principal, org) = match members_form(&req, &state, &path.0, &body).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    let (slug, user) = path.into_inner();
    let Ok(user) = user.parse::<UserId>() else {
        return WebError::NotFound.page(&ctx);
    };
    let (roles, _) = roles_of(&body);
    match state
        .access
        .set_member_roles(&principal, org, user, roles, &request_context(&req, &ctx))
        .await
    {
        Ok(_) => members_at(&slug),
        Err(
            error @ (AccessError::LastAdmin
            | AccessError::InvalidInput { .. }
            | AccessError::RoleNotAllowed { .. }),
        ) => {
            let key = match error {
                AccessError::LastAdmin => "admin-last-admin",
                _ => "admin-roles-invalid",
            };
            members_refusal(ctx, &state, &principal, &slug, key).await
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// A form posted to an organisation's members page: the page's context, the signed-in
/// principal (the form's token checked) and the organisation the address names.
async fn members_form(
    req: &HttpRequest,
    state: &WebState,
    slug: &str,
    body: &[u8],
) -> Result<(Ctx, Principal, pdx_core::OrganizationId), Box<HttpResponse>> {
    let ctx = Ctx::load(req).await;
    let (principal, ()) = signed_form::<()>(&ctx, body)?;
    match state.access.resolve_organization(slug).await {
        Ok(org) => Ok((ctx, principal, org)),
        Err(error) => Err(Box::new(WebError::from(error).page(&ctx))),
    }
}

/// The members page again, with a refusal (a translation key) at its top.
async fn members_refusal(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    slug: &str,
    key: &str,
) -> HttpResponse {
    let problems = [Problem {
        field: "".into(),
        message: ctx.t(key),
    }];
    finish(members_page(ctx.clone(), state, principal, slug, &problems).await)
}

/// Where an organisation's members page is, for a redirect after a change.
fn members_at(slug: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/workspace/admin/organizations/{slug}"),
        ))
        .finish()
}

/// Removes a member from the organisation: their roles there go, their tokens and sessions
/// there stop working. The last admin stays.
#[post("/workspace/admin/organizations/{slug}/members/{user}/remove")]
pub(crate) async fn remove_member(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, principal, org) = match members_form(&req, &state, &path.0, &body).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    let (slug, user) = path.into_inner();
    let Ok(user) = user.parse::<UserId>() else {
        return WebError::NotFound.page(&ctx);
    };
    match state
        .access
        .remove_member(&principal, org, user, &request_context(&req, &ctx))
        .await
    {
        Ok(()) => members_at(&slug),
        Err(AccessError::LastAdmin) => {
            members_refusal(ctx, &state, &principal, &slug, "admin-last-admin").await
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// Withdraws a pending invitation: its link stops working.
#[post("/workspace/admin/organizations/{slug}/invitations/{id}/withdraw")]
pub(crate) async fn withdraw_invitation(
    req: HttpRequest,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, principal, org) = match members_form(&req, &state, &path.0, &body).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    let (slug, id) = path.into_inner();
    match state
        .access
        .revoke_invitation(&principal, org, &id, &request_context(&req, &ctx))
        .await
    {
        Ok(()) => members_at(&slug),
        Err(AccessError::InvitationNotPending) => {
            members_refusal(
                ctx,
                &state,
                &principal,
                &slug,
                "admin-invitation-not-pending",
            )
            .await
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

/// Invites someone to the organisation by e-mail.
#[post("/workspace/admin/organizations/{slug}/invitations")]
pub(crate) async fn invite(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, ()) = match signed_form::<()>(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let org = match state.access.resolve_organization(&slug).await {
        Ok(org) => org,
        Err(error) => return WebError::from(error).page(&ctx),
    };
    let (roles, email) = roles_of(&body);
    let problem = |field: &'static str, key: &str| Problem {
        field: field.into(),
        message: ctx.t(key),
    };
    let found = if roles.is_empty() {
        Some(problem("roles", "admin-roles-missing"))
    } else {
        match state
            .access
            .invite_member(&principal, org, &email, roles, &request_context(&req, &ctx))
            .await
        {
            Ok(_) => None,
            Err(AccessError::InvalidInput { field: "email", .. }) => {
                Some(problem("email", "account-invalid-email"))
            }
            Err(AccessError::AlreadyMember) => Some(problem("email", "admin-already-member")),
            Err(AccessError::InvalidInput { .. } | AccessError::RoleNotAllowed { .. }) => {
                Some(problem("roles", "admin-roles-invalid"))
            }
            Err(error) => return WebError::from(error).page(&ctx),
        }
    };
    match found {
        None => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/admin/organizations/{slug}?invited=1#invite-title"),
            ))
            .finish(),
        Some(problem) => {
            finish(members_page(ctx.clone(), &state, &principal, &slug, &[problem]).await)
        }
    }
}

/// The licences: open licences for open data, and the development-use licences whose ODRL
/// policies decide data requests under grants. Platform admins add development-use licences.
#[get("/workspace/admin/licences")]
pub(crate) async fn licences_view(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::oversees) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(licences_page(ctx, &state, &principal, &LicenceForm::default(), &[]).await)
}

#[derive(Debug, Default, Deserialize)]
struct LicenceForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    policy: String,
}

async fn licences_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    form: &LicenceForm,
    problems: &[Problem],
) -> PageResult {
    let licences = state
        .catalog
        .licences()
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let mut policies = Vec::with_capacity(licences.len());
    for licence in &licences {
        let policy = if licence.open {
            None
        } else {
            state
                .licensing
                .licence_document(&licence.id)
                .await
                .ok()
                .map(|doc| {
                    let parsed = pdx_licensing::Policy::parse(&doc).ok();
                    (
                        parsed,
                        serde_json::to_string_pretty(&doc).unwrap_or_default(),
                    )
                })
        };
        policies.push(policy);
    }
    let creates = principal.has(Role::PlatformAdmin);
    let csrf = ctx.csrf();
    let title = ctx.t("admin-licences");
    let error = |field: &str| crate::forms::problem_of(problems, field);
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        (error_summary(&ctx, problems))
        h1 { (title) }
        p.lead { (ctx.t("admin-licences-lead")) }
        @for (licence, policy) in licences.iter().zip(policies.iter()) {
            article.finding {
                h2 { (licence.title) }
                p {
                    code { (licence.id) } " "
                    @if licence.open {
                        span.tag.open { (ctx.t("admin-licence-open")) }
                    } @else {
                        span.tag.conditional { (ctx.t("admin-licence-development")) }
                    }
                    " " a href=(licence.url) rel="noopener" { (ctx.t("admin-licence-text")) }
                }
                @if let Some((parsed, json)) = policy {
                    @if let Some(parsed) = parsed {
                        h3 { (ctx.t("admin-licence-terms")) }
                        (crate::words::policy(ctx.lang, parsed))
                    }
                    details {
                        summary { (ctx.t("admin-licence-odrl")) }
                        pre.json { code { (json) } }
                    }
                }
            }
        }
        @if creates {
            section aria-labelledby="new-licence-title" {
                h2 #new-licence-title { (ctx.t("admin-new-licence")) }
                p.hint { (ctx.t("admin-new-licence-hint")) }
                form method="post" action="/workspace/admin/licences" novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    @for (name, label, value) in [("id", "admin-licence-id", &form.id), ("title", "publish-title", &form.title), ("url", "admin-licence-url", &form.url)] {
                        @let problem = error(name);
                        div.field.invalid[problem.is_some()] {
                            label for=(name) { (ctx.t(label)) }
                            @if let Some(problem) = problem { p.field-error { (problem.message) } }
                            input #(name) type="text" name=(name) value=(value) aria-invalid=[problem.is_some().then_some("true")];
                        }
                    }
                    @let problem = error("policy");
                    div.field.invalid[problem.is_some()] {
                        label for="policy" { (ctx.t("admin-licence-policy")) }
                        @if let Some(problem) = problem { p.field-error { (problem.message) } }
                        textarea #policy name="policy" rows="10" spellcheck="false" { (form.policy) }
                    }
                    button type="submit" { (ctx.t("admin-create-licence")) }
                }
            }
        }
    };
    Ok(respond(
        crate::forms::status(problems),
        frame(&ctx, &title, content),
    ))
}

/// Adds a development-use licence with its policy.
#[post("/workspace/admin/licences")]
pub(crate) async fn create_licence(
    req: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form_of::<LicenceForm>(&ctx, &body, platform_admin) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let policy = match serde_json::from_str::<serde_json::Value>(&form.policy) {
        Ok(policy) => policy,
        Err(error) => {
            let problem = Problem {
                field: "policy".into(),
                message: format!("{} ({error})", ctx.t("admin-policy-json")),
            };
            return finish(licences_page(ctx.clone(), &state, &principal, &form, &[problem]).await);
        }
    };
    let created = state
        .licensing
        .create_licence(
            &principal,
            &form.id,
            &form.title,
            form.url.trim(),
            policy,
            &request_context(&req, &ctx),
        )
        .await;
    let result = match created {
        Ok(()) => Ok(()),
        Err(pdx_licensing::LicensingError::Policy(error)) => Err(Problem {
            field: "policy".into(),
            message: format!(
                "{} {}: {}",
                ctx.t("admin-policy-rejected"),
                error.path,
                error.message
            ),
        }),
        Err(pdx_licensing::LicensingError::InvalidInput { field, .. }) => Err(Problem {
            field: ["id", "title", "url"]
                .into_iter()
                .find(|f| *f == field)
                .unwrap_or("id")
                .into(),
            message: ctx.t(&format!("admin-licence-invalid-{field}")),
        }),
        Err(pdx_licensing::LicensingError::LicenceTaken) => Err(Problem {
            field: "id".into(),
            message: ctx.t("admin-licence-taken"),
        }),
        Err(other) => return WebError::from(other).page(&ctx),
    };
    match result {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/workspace/admin/licences"))
            .finish(),
        Err(problem) => {
            finish(licences_page(ctx.clone(), &state, &principal, &form, &[problem]).await)
        }
    }
}
