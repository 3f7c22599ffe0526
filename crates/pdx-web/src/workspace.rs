//! The signed-in workspaces: each role's landing page with its tasks and figures. The rights
//! are the services' own (the same permission checks as the API); a workspace refuses the
//! wrong role with the 403 page.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use maud::{Markup, html};
use pdx_core::{OrgKind, PageRequest, Principal, Role};
use pdx_licensing::model::{GrantState, RequestStatus};

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::page::{Ctx, frame, ok};

/// Which workspace a principal works in.
fn workspace_of(principal: &Principal) -> Option<&'static str> {
    if oversees(principal) {
        Some("/workspace/audit")
    } else {
        match principal.org_kind {
            OrgKind::Enterprise => Some("/workspace/enterprise"),
            OrgKind::Agency => Some("/workspace/agency"),
            OrgKind::Platform => None,
        }
    }
}

pub(crate) fn to_sign_in(ctx: &Ctx) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/sign-in?{}", ctx.next_query())))
        .finish()
}

/// The signed-in person's workspace, by role.
#[get("/workspace")]
pub(crate) async fn workspace(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let Some(session) = &ctx.session else {
        return to_sign_in(&ctx);
    };
    match workspace_of(&session.principal) {
        Some(path) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, path))
            .finish(),
        None => WebError::Forbidden.page(&ctx),
    }
}

/// Whether a principal is a member of an agency.
pub(crate) fn is_agency(principal: &Principal) -> bool {
    principal.org_kind == OrgKind::Agency
}

/// Whether a principal oversees the platform (auditors and platform admins).
pub(crate) fn oversees(principal: &Principal) -> bool {
    principal.has(Role::Auditor) || principal.has(Role::PlatformAdmin)
}

/// The signed-in principal, or the answer to give instead: sign in first, or not yours.
pub(crate) fn principal_for(
    ctx: &Ctx,
    allowed: impl Fn(&Principal) -> bool,
) -> Result<Principal, Box<HttpResponse>> {
    match &ctx.session {
        None => Err(Box::new(to_sign_in(ctx))),
        Some(session) if allowed(&session.principal) => Ok(session.principal.clone()),
        Some(_) => Err(Box::new(WebError::Forbidden.page(ctx))),
    }
}

pub(crate) fn side_nav(ctx: &Ctx, items: &[(String, String)]) -> Markup {
    html! {
        nav.side aria-label=(ctx.t("workspace-tasks")) {
            ul {
                @for (href, label) in items {
                    li {
                        @if ctx.here == *href {
                            a href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// Who is signed in, and for which organisation they act: for a member of several, a form to
/// choose another.
fn acting_for(ctx: &Ctx) -> Markup {
    let Some(session) = &ctx.session else {
        return html! {};
    };
    html! {
        @if session.memberships.len() > 1 {
            form.inline.act-for method="post" action="/account/organization" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label for="act-for" { (ctx.t("account-acting-for")) }
                " "
                select #act-for name="organization" {
                    @for membership in &session.memberships {
                        @let org = &membership.organization;
                        option value=(org.slug) selected[org.id == session.principal.org] { (org.name) }
                    }
                }
                " "
                button type="submit" { (ctx.t("account-switch")) }
                " · " (session.email)
            }
        } @else {
            p.meta { (session.organization_name) " · " (session.email) }
        }
    }
}

pub(crate) fn shell(ctx: &Ctx, title: &str, nav: Markup, content: Markup) -> HttpResponse {
    ok(frame(
        ctx,
        title,
        html! {
            div.workspace {
                (nav)
                div.work {
                    (acting_for(ctx))
                    h1 { (title) }
                    (content)
                }
            }
        },
    ))
}

/// An enterprise's workspace: its access requests and its grants with usage against quota.
#[get("/workspace/enterprise")]
pub(crate) async fn enterprise(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match principal_for(&ctx, |p| p.org_kind == OrgKind::Enterprise) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let sent = req.query_string().starts_with("sent=");
    finish(enterprise_page(ctx, &state, principal, sent).await)
}

/// Receipts shown on the enterprise's overview.
const RECENT_RECEIPTS: u32 = 10;

async fn enterprise_page(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    sent: bool,
) -> PageResult {
    let fail = |e: pdx_licensing::LicensingError| (ctx.clone(), WebError::from(e));
    let receipts = state
        .ledger
        .entries(
            pdx_circulation::ledger::ReadScope::Organization(principal.org),
            pdx_circulation::ledger::EntryFilter {
                kind: Some("data_access".to_owned()),
                newest_first: true,
                ..Default::default()
            },
            PageRequest::new(Some(1), Some(RECENT_RECEIPTS)),
        )
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    crate::ledger::record_read(
        state,
        &ctx,
        &principal,
        serde_json::json!({ "read": "entries", "via": "portal", "kind": "data_access", "receipts": true }),
    )
    .await
    .map_err(|e| (ctx.clone(), e))?;
    let requests = state
        .licensing
        .requests(&principal, false)
        .await
        .map_err(fail)?;
    let grants = state.licensing.grants(&principal).await.map_err(fail)?;
    let usage = state
        .licensing
        .usage_of(grants.iter().map(|g| g.id).collect())
        .await
        .map_err(fail)?;
    let mut titles = std::collections::HashMap::new();
    for id in requests
        .iter()
        .map(|r| r.dataset_id)
        .chain(grants.iter().map(|g| g.dataset_id))
        .chain(
            receipts
                .items
                .iter()
                .filter_map(|e| e.dataset.as_deref()?.parse().ok()),
        )
    {
        if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(id)
            && let Ok(view) = state
                .catalog
                .dataset(Some(&principal), &id.to_string())
                .await
        {
            let title = crate::page::dataset_title(&ctx, &view.dataset);
            slot.insert((view.dataset.slug, title));
        }
    }
    let lang = ctx.lang;
    let now = state.clock.now();
    let open_requests = requests
        .iter()
        .filter(|r| r.status == RequestStatus::Submitted)
        .count();
    let mut tasks = vec![
        (
            "/workspace/enterprise".to_owned(),
            ctx.t("workspace-overview"),
        ),
        ("/workspace/ledger".to_owned(), ctx.t("ledger-title")),
        ("/workspace/statements".to_owned(), ctx.t("statement-title")),
        ("/workspace/keys".to_owned(), ctx.t("keys-title")),
    ];
    tasks.extend(members_link(&ctx));
    tasks.push(("/datasets".to_owned(), ctx.t("nav-datasets")));
    let nav = side_nav(&ctx, &tasks);
    let csrf = ctx.csrf();
    let content = html! {
        @if sent {
            div.notice.success role="status" { (ctx.t("request-sent")) }
        }
        section aria-labelledby="grants-title" {
            h2 #grants-title { (lang.t_with("workspace-grants", &[("count", Arg::Number(grants.len() as i64))])) }
            @if grants.is_empty() {
                p { (ctx.t("workspace-no-grants")) }
            }
            ul.grants {
                @for (grant, used) in grants.iter().zip(usage.iter()) {
                    @let expired = grant.valid_until <= now;
                    @let (state_key, tone) = match grant.state {
                        GrantState::Active if expired => ("grant-expired", "closed"),
                        GrantState::Active => ("grant-active", "open"),
                        GrantState::Suspended => ("grant-suspended", "conditional"),
                        GrantState::Revoked => ("grant-revoked", "closed"),
                    };
                    li.grant {
                        h3 {
                            @match titles.get(&grant.dataset_id) {
                                Some((slug, title)) => a href={ "/datasets/" (slug) } { (title) },
                                None => (grant.dataset_id),
                            }
                        }
                        p {
                            span.tag.(tone) { (ctx.t(state_key)) }
                            " " (ctx.t("grant-valid")) " "
                            (lang.date(grant.valid_from.date_naive())) " – " (lang.date(grant.valid_until.date_naive()))
                        }
                        (quota(&ctx, "grant-requests", i64::try_from(used.requests).unwrap_or(i64::MAX), grant.max_requests, false))
                        (quota(&ctx, "grant-bytes", i64::try_from(used.bytes).unwrap_or(i64::MAX), grant.max_bytes, true))
                    }
                }
            }
        }
        section aria-labelledby="requests-title" {
            h2 #requests-title { (lang.t_with("workspace-requests", &[("count", Arg::Number(open_requests as i64))])) }
            @if requests.is_empty() {
                p { (ctx.t("workspace-no-requests")) }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("request-dataset")) }
                            th scope="col" { (ctx.t("request-purpose")) }
                            th scope="col" { (ctx.t("request-submitted")) }
                            th scope="col" { (ctx.t("request-state")) }
                        } }
                        tbody {
                            @for request in &requests {
                                @let (key, tone) = match request.status {
                                    RequestStatus::Submitted => ("request-submitted-state", "conditional"),
                                    RequestStatus::Approved => ("request-approved", "open"),
                                    RequestStatus::Rejected => ("request-rejected", "closed"),
                                    RequestStatus::Withdrawn => ("request-withdrawn", "closed"),
                                };
                                tr {
                                    th scope="row" {
                                        @match titles.get(&request.dataset_id) {
                                            Some((slug, title)) => a href={ "/datasets/" (slug) } { (title) },
                                            None => (request.dataset_id),
                                        }
                                    }
                                    td { (crate::words::purpose_name(ctx.lang, &request.purpose)) }
                                    td { (lang.date(request.created_at.date_naive())) }
                                    td {
                                        span.tag.(tone) { (ctx.t(key)) }
                                        @if request.status == RequestStatus::Submitted {
                                            " "
                                            form.inline method="post" action={ "/workspace/enterprise/requests/" (request.id) "/withdraw" } {
                                                input type="hidden" name="csrf" value=(csrf);
                                                button.link-dark type="submit" { (ctx.t("request-withdraw")) }
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
        section aria-labelledby="receipts-title" {
            h2 #receipts-title { (ctx.t("workspace-receipts")) }
            @if receipts.items.is_empty() {
                p { (ctx.t("workspace-no-receipts")) }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { "#" }
                            th scope="col" { (ctx.t("request-dataset")) }
                            th scope="col" { (ctx.t("ledger-decision")) }
                            th scope="col" class="num" { (ctx.t("file-size")) }
                            th scope="col" { (ctx.t("workspace-receipt-proof")) }
                        } }
                        tbody {
                            @for entry in &receipts.items {
                                @let dataset = entry.dataset.as_deref().and_then(|d| d.parse().ok()).and_then(|d| titles.get(&d));
                                tr {
                                    th scope="row" { (entry.seq) }
                                    td { @if let Some((slug, title)) = dataset { a href={ "/datasets/" (slug) } { (title) } } }
                                    td {
                                        span.tag.(if entry.decision == "permit" { "open" } else { "closed" }) {
                                            (ctx.t(&format!("decision-{}", if entry.decision == "permit" { "permit" } else { "deny" })))
                                        }
                                    }
                                    td.num { (lang.bytes(i64::try_from(entry.bytes).unwrap_or(i64::MAX))) }
                                    td { a href={ "/workspace/ledger/" (entry.seq) } { (ctx.t("workspace-verify")) } }
                                }
                            }
                        }
                    }
                }
                p { a href="/workspace/ledger?kind=data_access" { (ctx.t("workspace-all-receipts")) } }
            }
        }
    };
    Ok(shell(
        &ctx,
        &ctx.t("workspace-enterprise-title"),
        nav,
        content,
    ))
}

/// Used against allowed, as a bar with the figures in words beside it.
pub(crate) fn quota(ctx: &Ctx, key: &str, used: i64, allowed: Option<i64>, bytes: bool) -> Markup {
    let lang = ctx.lang;
    let show = |n: i64| if bytes { lang.bytes(n) } else { lang.number(n) };
    match allowed {
        Some(allowed) if allowed > 0 => {
            let percent = (used.saturating_mul(100) / allowed).clamp(0, 100);
            html! {
                div.quota {
                    span.quota-label { (ctx.t(key)) (ctx.lang.colon()) (show(used)) " / " (show(allowed)) }
                    meter min="0" max=(allowed) value=(used.min(allowed)) high=(allowed * 9 / 10) optimum="0" {
                        (percent) "%"
                    }
                }
            }
        }
        _ => html! {
            div.quota { span.quota-label { (ctx.t(key)) (ctx.lang.colon()) (show(used)) " · " (ctx.t("grant-no-limit")) } }
        },
    }
}

/// The tasks of an agency's workspace.
pub(crate) fn agency_nav(ctx: &Ctx) -> Markup {
    let mut tasks = vec![
        ("/workspace/agency".to_owned(), ctx.t("workspace-overview")),
        (
            "/workspace/agency/grants".to_owned(),
            ctx.t("grants-issued"),
        ),
        ("/workspace/ledger".to_owned(), ctx.t("ledger-title")),
        ("/workspace/statements".to_owned(), ctx.t("statement-title")),
        ("/workspace/keys".to_owned(), ctx.t("keys-title")),
    ];
    tasks.extend(members_link(ctx));
    tasks.push(("/datasets".to_owned(), ctx.t("nav-datasets")));
    side_nav(ctx, &tasks)
}

/// The link to the members of the signed-in admin's organisation, if they are its admin.
pub(crate) fn members_link(ctx: &Ctx) -> Option<(String, String)> {
    let principal = &ctx.session.as_ref()?.principal;
    principal.has(Role::Admin).then(|| {
        (
            format!("/workspace/admin/organizations/{}", principal.org),
            ctx.t("admin-members"),
        )
    })
}

/// An agency's workspace: its datasets by state and its review queue.
#[get("/workspace/agency")]
pub(crate) async fn agency(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match principal_for(&ctx, is_agency) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(agency_page(ctx, &state, principal).await)
}

async fn agency_page(ctx: Ctx, state: &WebState, principal: Principal) -> PageResult {
    let datasets = state
        .catalog
        .organization_datasets(&principal, PageRequest::new(Some(1), Some(100)))
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let reviews = principal.roles.contains_any(&[Role::Reviewer, Role::Admin]);
    let queue = if reviews {
        state
            .licensing
            .requests(&principal, true)
            .await
            .map_err(|e| (ctx.clone(), e.into()))?
    } else {
        Vec::new()
    };
    let mut queue_titles = std::collections::HashMap::new();
    for request in &queue {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            queue_titles.entry(request.dataset_id)
            && let Ok(view) = state
                .catalog
                .dataset(Some(&principal), &request.dataset_id.to_string())
                .await
        {
            slot.insert(crate::page::dataset_title(&ctx, &view.dataset));
        }
    }
    let lang = ctx.lang;
    let nav = agency_nav(&ctx);
    let content = html! {
        @if reviews {
            section aria-labelledby="queue-title" {
                h2 #queue-title { (lang.t_with("workspace-queue", &[("count", Arg::Number(queue.len() as i64))])) }
                @if queue.is_empty() {
                    p { (ctx.t("workspace-queue-empty")) }
                } @else {
                    ul.compact {
                        @for request in &queue {
                            li {
                                a href={ "/workspace/agency/requests/" (request.id) } {
                                    (queue_titles.get(&request.dataset_id).cloned().unwrap_or_else(|| request.dataset_id.to_string()))
                                }
                                " · " (crate::words::purpose_name(ctx.lang, &request.purpose)) " · "
                                (lang.date(request.created_at.date_naive()))
                                span.meta { (request.statement.chars().take(140).collect::<String>()) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="datasets-title" {
            h2 #datasets-title { (lang.t_with("workspace-datasets", &[("count", Arg::Number(datasets.total))])) }
            @if principal.roles.contains_any(&[Role::Publisher, Role::Admin]) {
                p { a.button href="/workspace/agency/datasets/new" { (ctx.t("publish-new")) } }
            }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("file-name")) }
                        th scope="col" { (ctx.t("request-state")) }
                        th scope="col" { (ctx.t("meta-modified")) }
                    } }
                    tbody {
                        @for view in &datasets.items {
                            @let d = &view.dataset;
                            tr {
                                th scope="row" { a href=(crate::publish::manage_link(&d.slug)) { (crate::page::dataset_title(&ctx, d)) } }
                                td { span.tag { (ctx.t(&format!("status-{}", d.status.as_str().replace('_', "-")))) } }
                                td { (lang.date(d.modified_at.date_naive())) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(&ctx, &ctx.t("workspace-agency-title"), nav, content))
}

/// The tasks of the auditor's workspace.
pub(crate) fn audit_nav(ctx: &Ctx) -> Markup {
    let mut tasks = vec![
        ("/workspace/audit".to_owned(), ctx.t("workspace-overview")),
        ("/workspace/ledger".to_owned(), ctx.t("ledger-title")),
        ("/workspace/audit/usage".to_owned(), ctx.t("usage-title")),
        (
            "/workspace/audit/anomalies".to_owned(),
            ctx.t("anomalies-title"),
        ),
        ("/workspace/statements".to_owned(), ctx.t("statement-title")),
    ];
    if ctx
        .session
        .as_ref()
        .is_some_and(|s| s.principal.has(Role::PlatformAdmin))
    {
        tasks.push((
            "/workspace/admin/organizations".to_owned(),
            ctx.t("admin-organizations"),
        ));
    }
    tasks.push((
        "/workspace/admin/licences".to_owned(),
        ctx.t("admin-licences"),
    ));
    side_nav(ctx, &tasks)
}

/// The auditor's workspace: the live ledger's verification status.
#[get("/workspace/audit")]
pub(crate) async fn audit(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match principal_for(&ctx, oversees) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(audit_page(ctx, &state, principal).await)
}

async fn audit_page(ctx: Ctx, state: &WebState, _principal: Principal) -> PageResult {
    let status = state
        .ledger
        .status()
        .await
        .map_err(|e| (ctx.clone(), e.into()))?;
    let lang = ctx.lang;
    let nav = audit_nav(&ctx);
    let verified = status.problems.is_empty();
    let content = html! {
        section aria-labelledby="ledger-title" {
            h2 #ledger-title { (ctx.t("audit-ledger")) }
            p {
                span.tag.(if verified { "open" } else { "closed" }) {
                    (ctx.t(if verified { "audit-verified" } else { "audit-problems" }))
                }
            }
            dl.metadata {
                dt { (ctx.t("audit-size")) } dd { (lang.number(i64::try_from(status.size).unwrap_or(i64::MAX))) }
                @if let Some(latest) = &status.latest {
                    dt { (ctx.t("audit-latest")) }
                    dd { (lang.number(i64::try_from(latest.size).unwrap_or(i64::MAX))) }
                }
                dt { (ctx.t("audit-checked")) } dd { (lang.date(status.checked_at.date_naive())) " " (status.checked_at.format("%H:%M:%S UTC")) }
            }
            @if !verified {
                ul { @for problem in &status.problems { li { (problem) } } }
            }
        }
    };
    Ok(shell(&ctx, &ctx.t("workspace-audit-title"), nav, content))
}

/// Withdraws one of the organisation's requests awaiting a decision.
#[actix_web::post("/workspace/enterprise/requests/{id}/withdraw")]
pub(crate) async fn withdraw_request(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, ()) = match crate::session::signed_form(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let Ok(id) = id.parse::<pdx_core::AccessRequestId>() else {
        return WebError::NotFound.page(&ctx);
    };
    match state
        .licensing
        .withdraw(&principal, id, &crate::session::request_context(&req, &ctx))
        .await
    {
        // A request decided meanwhile stays as decided; the list shows its state.
        Ok(_) | Err(pdx_licensing::LicensingError::IllegalTransition { .. }) => {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/workspace/enterprise#requests-title"))
                .finish()
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}
