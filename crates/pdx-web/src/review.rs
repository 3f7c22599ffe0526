//! The agency reviewer's decision on an access request: the request with the requester, the
//! purpose and statement, the offer's terms, and the two decisions — approve (optionally with
//! tighter terms: a shorter term, smaller quotas), or reject with a reason the requester reads.
//! The rights are licensing's own: only reviewers and admins of the publishing agency decide.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use pdx_core::{AccessRequestId, OrgKind, Principal, Role};
use pdx_licensing::LicensingError;
use pdx_licensing::model::RequestStatus;
use pdx_licensing::service::Tightening;
use pdx_rows::mask::ColumnRules;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::forms::{Problem, error_summary};
use crate::page::{Ctx, crumbs, frame, respond};
use crate::session::{request_context, signed_form_of};
use crate::words;

fn reviewer(principal: &Principal) -> bool {
    principal.org_kind == OrgKind::Agency
        && principal.roles.contains_any(&[Role::Reviewer, Role::Admin])
}

/// A decision form's fields.
#[derive(Debug, Default, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    term_days: String,
    #[serde(default)]
    max_requests: String,
    #[serde(default)]
    max_bytes_mb: String,
    #[serde(default)]
    max_rows: String,
    #[serde(default)]
    reason: String,
}

/// One access request, for its decision.
#[get("/workspace/agency/requests/{id}")]
pub(crate) async fn request_view(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, reviewer) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let Ok(id) = id.parse::<AccessRequestId>() else {
        return WebError::NotFound.page(&ctx);
    };
    finish(request_page(ctx, &state, &principal, id, None, &[]).await)
}

async fn request_page(
    ctx: Ctx,
    state: &WebState,
    principal: &Principal,
    id: AccessRequestId,
    sent: Option<&DecisionForm>,
    errors: &[Problem],
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let request = state
        .licensing
        .request(principal, id)
        .await
        .map_err(|e| fail(e.into()))?;
    let view = state
        .catalog
        .dataset(Some(principal), &request.dataset_id.to_string())
        .await
        .map_err(|e| fail(e.into()))?;
    // Only the publishing agency decides; the requester's own view is their workspace.
    if view.dataset.organization_id != principal.org {
        return Err(fail(WebError::Forbidden));
    }
    let requester = state
        .access
        .organization(Some(principal), &request.organization_id.to_string())
        .await
        .map_err(|e| fail(e.into()))?;
    let offer = state
        .licensing
        .offer(Some(principal), &view.dataset.id.to_string())
        .await
        .map_err(|e| fail(e.into()))?;
    let lang = ctx.lang;
    let csrf = ctx.csrf();
    let title = ctx.t("review-title");
    let field_error = |field: &str| crate::forms::problem_of(errors, field);
    let value = |pick: fn(&DecisionForm) -> &String, default: String| {
        sent.map(|f| pick(f).clone()).unwrap_or(default)
    };
    let term = value(|f| &f.term_days, request.term_days.to_string());
    // A quota starts as the offer's.
    let offered = |quota: fn(&pdx_licensing::model::Offer) -> Option<i64>| {
        offer
            .as_ref()
            .and_then(quota)
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let max_requests = value(|f| &f.max_requests, offered(|o| o.max_requests));
    let max_mb = value(
        |f| &f.max_bytes_mb,
        offered(|o| o.max_bytes.map(|n| n / 1_000_000)),
    );
    let max_rows = value(|f| &f.max_rows, offered(|o| o.max_rows));
    let reason = value(|f| &f.reason, String::new());
    // The grant's column rules start as the offer's, among the columns of the loaded tables.
    let columns = if request.status == RequestStatus::Submitted {
        crate::columns::of_dataset(&state.rows, &view.distributions)
            .await
            .map_err(|e| fail(e.into()))?
    } else {
        Vec::new()
    };
    let (state_key, tone) = match request.status {
        RequestStatus::Submitted => ("request-submitted-state", "conditional"),
        RequestStatus::Approved => ("request-approved", "open"),
        RequestStatus::Rejected => ("request-rejected", "closed"),
        RequestStatus::Withdrawn => ("request-withdrawn", "closed"),
    };
    let base = format!("/workspace/agency/requests/{}", request.id);
    let content = html! {
        (crumbs(&ctx, &[("/workspace/agency", &ctx.t("workspace-agency-title"))]))
        div.narrow {
            (error_summary(&ctx, errors))
            h1 { (title) }
            p { span.tag.(tone) { (ctx.t(state_key)) } }
            dl.metadata {
                dt { (ctx.t("request-dataset")) }
                dd { a href={ "/datasets/" (view.dataset.slug) } { (crate::page::dataset_title(&ctx, &view.dataset)) } }
                dt { (ctx.t("review-requester")) }
                dd {
                    (requester.name)
                    " "
                    @if requester.verified {
                        span.tag.open { (ctx.t("review-verified")) }
                    } @else {
                        span.tag.closed { (ctx.t("review-unverified")) }
                    }
                }
                dt { (ctx.t("request-purpose")) }
                dd { (words::purpose_name(lang, &request.purpose)) }
                dt { (ctx.t("request-term")) }
                dd { (lang.t_with("offer-days", &[("days", crate::i18n::Arg::Number(i64::from(request.term_days)))])) }
                dt { (ctx.t("request-submitted")) }
                dd { (lang.date(request.created_at.date_naive())) }
            }
            h2 { (ctx.t("request-statement")) }
            blockquote.statement {
                @for paragraph in request.statement.split('\n').filter(|p| !p.trim().is_empty()) {
                    p { (paragraph) }
                }
            }
            @if request.status == RequestStatus::Submitted {
                section aria-labelledby="approve-title" {
                    h2 #approve-title { (ctx.t("review-approve-title")) }
                    p.hint { (ctx.t("review-approve-hint")) }
                    form method="post" action={ (base) "/approve" } novalidate {
                        input type="hidden" name="csrf" value=(csrf);
                        (number_field(&ctx, "term_days", "request-term", &term, field_error("term_days")))
                        (number_field(&ctx, "max_requests", "review-max-requests", &max_requests, field_error("max_requests")))
                        (number_field(&ctx, "max_bytes_mb", "review-max-mb", &max_mb, field_error("max_bytes_mb")))
                        (number_field(&ctx, "max_rows", "offer-rows", &max_rows, field_error("max_rows")))
                        @if !columns.is_empty() {
                            (crate::columns::fieldset(&ctx, &columns, offer.as_ref().and_then(|o| o.column_rules.as_ref()), field_error("column_rules")))
                        }
                        button type="submit" { (ctx.t("review-approve")) }
                    }
                }
                section aria-labelledby="reject-title" {
                    h2 #reject-title { (ctx.t("review-reject-title")) }
                    form method="post" action={ (base) "/reject" } novalidate {
                        input type="hidden" name="csrf" value=(csrf);
                        @let invalid = field_error("reason").is_some();
                        div.field.invalid[invalid] {
                            label for="reason" { (ctx.t("review-reason")) }
                            p.hint #reason-hint { (ctx.t("review-reason-hint")) }
                            @if let Some(error) = field_error("reason") { p.field-error { (error.message) } }
                            textarea #reason name="reason" rows="3" maxlength="2000"
                                aria-describedby="reason-hint" aria-invalid=[invalid.then_some("true")] { (reason) }
                        }
                        button.secondary type="submit" { (ctx.t("review-reject")) }
                    }
                }
            } @else if let Some(reason) = &request.decision_reason {
                p { (ctx.t("review-reason")) (lang.colon()) (reason) }
            }
        }
    };
    let status = crate::forms::status(errors);
    Ok(respond(status, frame(&ctx, &title, content)))
}

fn number_field(
    ctx: &Ctx,
    name: &str,
    label: &str,
    value: &str,
    error: Option<&Problem>,
) -> maud::Markup {
    html! {
        div.field.invalid[error.is_some()] {
            label for=(name) { (ctx.t(label)) }
            @if let Some(error) = error { p.field-error { (error.message) } }
            input #(name) type="number" name=(name) min="1" value=(value) inputmode="numeric"
                aria-invalid=[error.is_some().then_some("true")];
        }
    }
}

/// `chosen`, unless it delivers the dataset's columns as the offer's rules do (then the grant
/// keeps the offer's). When that cannot be told, `chosen` stands.
async fn differing_rules(
    state: &WebState,
    principal: &Principal,
    id: AccessRequestId,
    chosen: ColumnRules,
) -> Option<ColumnRules> {
    let offered = async {
        let request = state.licensing.request(principal, id).await.ok()?;
        let dataset = request.dataset_id.to_string();
        let view = state
            .catalog
            .dataset(Some(principal), &dataset)
            .await
            .ok()?;
        let offer = state
            .licensing
            .offer(Some(principal), &dataset)
            .await
            .ok()?;
        let columns = crate::columns::of_dataset(&state.rows, &view.distributions)
            .await
            .ok()?;
        Some((offer.and_then(|o| o.column_rules), columns))
    }
    .await;
    match offered {
        Some((offered, columns))
            if crate::columns::same_effect(offered.as_ref(), Some(&chosen), &columns) =>
        {
            None
        }
        _ => Some(chosen),
    }
}

/// Approves a request, with the terms the form tightens.
#[post("/workspace/agency/requests/{id}/approve")]
pub(crate) async fn approve_request(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    decide(req, state, id, body, true).await
}

/// Rejects a request with a reason.
#[post("/workspace/agency/requests/{id}/reject")]
pub(crate) async fn reject_request(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    decide(req, state, id, body, false).await
}

async fn decide(
    req: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
    approve: bool,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form_of::<DecisionForm>(&ctx, &body, reviewer) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let Ok(id) = id.parse::<AccessRequestId>() else {
        return WebError::NotFound.page(&ctx);
    };
    let context = request_context(&req, &ctx);
    let result = if approve {
        let mut errors = Vec::new();
        let mut number = |field: &'static str, text: &str| match crate::forms::positive_number(text)
        {
            Ok(n) => n,
            Err(()) => {
                errors.push(Problem {
                    field: field.into(),
                    message: ctx.t("review-number-invalid"),
                });
                None
            }
        };
        let tightening = Tightening {
            term_days: number("term_days", &form.term_days).and_then(|n| i32::try_from(n).ok()),
            max_requests: number("max_requests", &form.max_requests),
            max_bytes: number("max_bytes_mb", &form.max_bytes_mb)
                .map(|mb| mb.saturating_mul(1_000_000)),
            max_rows: number("max_rows", &form.max_rows),
            column_rules: match crate::columns::from_form(&body) {
                None => None,
                Some(Err(key)) => {
                    errors.push(Problem {
                        field: "column_rules".into(),
                        message: ctx.t(key),
                    });
                    None
                }
                // Choices that deliver the columns as the offer does leave the offer's rules.
                Some(Ok(chosen)) => differing_rules(&state, &principal, id, chosen).await,
            },
        };
        if !errors.is_empty() {
            return finish(request_page(ctx, &state, &principal, id, Some(&form), &errors).await);
        }
        state
            .licensing
            .approve(&principal, id, tightening, &context)
            .await
            .map(|_| ())
    } else {
        state
            .licensing
            .reject(&principal, id, &form.reason, &context)
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/workspace/agency/requests/{id}")))
            .finish(),
        Err(LicensingError::InvalidInput { field, message }) => {
            let (field, key) = match field {
                "reason" => ("reason", "review-reason-missing"),
                "term_days" => ("term_days", "review-number-invalid"),
                "max_rows" => ("max_rows", "review-number-invalid"),
                "column_rules" => ("column_rules", "columns-invalid"),
                _ => ("", ""),
            };
            let message = if key.is_empty() { message } else { ctx.t(key) };
            let errors = [Problem {
                field: field.into(),
                message,
            }];
            finish(request_page(ctx, &state, &principal, id, Some(&form), &errors).await)
        }
        Err(LicensingError::IllegalTransition { .. }) => {
            let errors = [Problem {
                field: "".into(),
                message: ctx.t("review-already-decided"),
            }];
            finish(request_page(ctx, &state, &principal, id, None, &errors).await)
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}
