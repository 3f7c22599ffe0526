//! The grants an agency has issued on its datasets: who holds each, its term, its use against
//! its quotas, and — for the agency's admins — suspending, resuming and revoking it with a
//! reason. The rules are licensing's: only admins of the owning agency change a grant, and
//! revoked or expired grants are final.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use pdx_core::{GrantId, Principal, Role};
use pdx_licensing::LicensingError;
use pdx_licensing::model::{GrantState, GrantStatus};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::page::Ctx;
use crate::session::{request_context, signed_form_of};
use crate::workspace::{agency_nav, quota, shell};

/// The grants issued on the agency's datasets.
#[get("/workspace/agency/grants")]
pub(crate) async fn issued(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::is_agency) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    finish(issued_page(ctx, &state, principal).await)
}

async fn issued_page(ctx: Ctx, state: &WebState, principal: Principal) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let all = state
        .licensing
        .grants(&principal)
        .await
        .map_err(|e| fail(e.into()))?;
    // Titles of the agency's own datasets; grants on others' datasets are the agency's own use.
    let mut titles = std::collections::HashMap::new();
    let mut grants = Vec::new();
    for grant in all {
        if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(grant.dataset_id) {
            let found = state
                .catalog
                .dataset(Some(&principal), &grant.dataset_id.to_string())
                .await
                .ok()
                .filter(|v| v.dataset.organization_id == principal.org)
                .map(|v| {
                    let title = crate::page::dataset_title(&ctx, &v.dataset);
                    (v.dataset.slug, title)
                });
            slot.insert(found);
        }
        if matches!(titles.get(&grant.dataset_id), Some(Some(_))) {
            grants.push(grant);
        }
    }
    let usage = state
        .licensing
        .usage_of(grants.iter().map(|g| g.id).collect())
        .await
        .map_err(|e| fail(e.into()))?;
    let mut holders = std::collections::HashMap::new();
    for grant in &grants {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            holders.entry(grant.organization_id)
        {
            let name = state
                .access
                .organization(Some(&principal), &grant.organization_id.to_string())
                .await
                .map(|o| o.name)
                .unwrap_or_else(|_| grant.organization_id.to_string());
            slot.insert(name);
        }
    }
    let admin = principal.has(Role::Admin);
    let now = state.clock.now();
    let lang = ctx.lang;
    let csrf = ctx.csrf();
    let nav = agency_nav(&ctx);
    let content = html! {
        @if grants.is_empty() {
            p { (ctx.t("grants-none")) }
        }
        ul.grants {
            @for (grant, used) in grants.iter().zip(usage.iter()) {
                @let status = grant.status(now);
                @let (key, tone) = match status {
                    GrantStatus::Active => ("grant-active", "open"),
                    GrantStatus::Suspended => ("grant-suspended", "conditional"),
                    GrantStatus::Revoked => ("grant-revoked", "closed"),
                    GrantStatus::Expired => ("grant-expired", "closed"),
                };
                li.grant {
                    h3 {
                        @if let Some(Some((slug, title))) = titles.get(&grant.dataset_id) {
                            a href={ "/datasets/" (slug) } { (title) }
                        }
                    }
                    p {
                        (holders.get(&grant.organization_id).cloned().unwrap_or_default()) " · "
                        span.tag.(tone) { (ctx.t(key)) }
                        " " (ctx.t("grant-valid")) " "
                        (lang.date(grant.valid_from.date_naive())) " – " (lang.date(grant.valid_until.date_naive()))
                    }
                    @if let Some(reason) = &grant.status_reason {
                        p.small { (ctx.t("review-reason")) (lang.colon()) (reason) }
                    }
                    (quota(&ctx, "grant-requests", i64::try_from(used.requests).unwrap_or(i64::MAX), grant.max_requests, false))
                    (quota(&ctx, "grant-bytes", i64::try_from(used.bytes).unwrap_or(i64::MAX), grant.max_bytes, true))
                    @if admin && matches!(status, GrantStatus::Active | GrantStatus::Suspended) {
                        form.grant-change method="post" action={ "/workspace/agency/grants/" (grant.id) } {
                            input type="hidden" name="csrf" value=(csrf);
                            div.field {
                                label for={ "reason-" (grant.id) } { (ctx.t("review-reason")) }
                                input id={ "reason-" (grant.id) } type="text" name="reason" maxlength="500";
                            }
                            @if status == GrantStatus::Active {
                                button.secondary type="submit" name="to" value="suspended" { (ctx.t("grants-suspend")) }
                            } @else {
                                button.secondary type="submit" name="to" value="active" { (ctx.t("grants-resume")) }
                            }
                            " "
                            button.secondary type="submit" name="to" value="revoked" { (ctx.t("grants-revoke")) }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(&ctx, &ctx.t("grants-issued"), nav, content))
}

#[derive(Debug, Default, Deserialize)]
struct ChangeForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// Suspends, resumes or revokes a grant.
#[post("/workspace/agency/grants/{id}")]
pub(crate) async fn change(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) =
        match signed_form_of::<ChangeForm>(&ctx, &body, crate::workspace::is_agency) {
            Ok(sent) => sent,
            Err(answer) => return *answer,
        };
    let Ok(id) = id.parse::<GrantId>() else {
        return WebError::NotFound.page(&ctx);
    };
    let to = match form.to.as_str() {
        "suspended" => GrantState::Suspended,
        "active" => GrantState::Active,
        "revoked" => GrantState::Revoked,
        _ => return WebError::NotFound.page(&ctx),
    };
    let reason =
        Some(form.reason.trim().chars().take(500).collect::<String>()).filter(|r| !r.is_empty());
    match state
        .licensing
        .change_grant(&principal, id, to, reason, &request_context(&req, &ctx))
        .await
    {
        // An illegal change (a revoked grant resumed by a stale page) changes nothing.
        Ok(_) | Err(LicensingError::IllegalTransition { .. }) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/workspace/agency/grants"))
            .finish(),
        Err(error) => WebError::from(error).page(&ctx),
    }
}
