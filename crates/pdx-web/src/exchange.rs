//! Obtaining conditional data in the browser: where a signed-in member stands with a dataset
//! (publisher, grant holder, request pending, may request, may not), the request-access form,
//! and the download of data held under a grant — the same decision, metering and ledger entry
//! as the API's data path, authorised by the session and a CSRF-checked form.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use pdx_catalog::model::{DatasetStatus, DistributionKind};
use pdx_catalog::{DatasetView, FileBody};
use pdx_core::{DistributionId, OpeningClass, Principal, RequestId};
use pdx_licensing::LicensingError;
use pdx_licensing::decision::DenyReason;
use pdx_licensing::exchange::{DataRequest, Prepared, Refusal};
use pdx_licensing::model::{AccessRequest, Grant, GrantState, Offer, RequestStatus};
use pdx_licensing::service::RequestInput;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::forms::{Problem, error_summary};
use crate::page::{Ctx, crumbs, frame, respond};
use crate::session::{request_context, signed_form};
use crate::words;

/// Where a signed-in member stands with a dataset that is not open.
#[derive(Debug)]
pub(crate) enum Standing {
    /// Their organisation publishes it.
    Publisher,
    /// They hold grants in force for it.
    Granted(Vec<Grant>),
    /// Their organisation's request awaits a decision.
    Pending(Box<AccessRequest>),
    /// They may request it.
    Requestable,
    /// Its classification does not allow their organisation to obtain it.
    NotForThem,
}

/// The standing of `principal` with the dataset of `view`.
pub(crate) async fn standing(
    state: &WebState,
    principal: &Principal,
    view: &DatasetView,
) -> Result<Standing, WebError> {
    let dataset = &view.dataset;
    if dataset.organization_id == principal.org {
        return Ok(Standing::Publisher);
    }
    let now = state.clock.now();
    let grants: Vec<Grant> = state
        .licensing
        .grants(principal)
        .await?
        .into_iter()
        .filter(|g| {
            g.dataset_id == dataset.id
                && g.organization_id == principal.org
                && g.state == GrantState::Active
                && g.valid_from <= now
                && now < g.valid_until
        })
        .collect();
    if !grants.is_empty() {
        return Ok(Standing::Granted(grants));
    }
    let pending = state
        .licensing
        .requests(principal, false)
        .await?
        .into_iter()
        .find(|r| r.dataset_id == dataset.id && r.status == RequestStatus::Submitted);
    if let Some(request) = pending {
        return Ok(Standing::Pending(Box::new(request)));
    }
    let allowed =
        pdx_licensing::decision::requestable(dataset.classification, principal.org_kind).is_ok();
    Ok(if allowed && dataset.status == DatasetStatus::Published {
        Standing::Requestable
    } else {
        Standing::NotForThem
    })
}

/// The distributions a grant covers (all of the dataset's files when it names none).
fn covered<'a>(
    view: &'a DatasetView,
    grants: &[Grant],
) -> Vec<&'a pdx_catalog::model::Distribution> {
    view.distributions
        .iter()
        .filter(|d| d.kind == DistributionKind::File)
        .filter(|d| {
            grants
                .iter()
                .any(|g| g.distributions.is_empty() || g.distributions.contains(&d.id))
        })
        .collect()
}

/// The "how to get it" box for a signed-in member.
pub(crate) fn standing_box(
    ctx: &Ctx,
    view: &DatasetView,
    standing: &Standing,
    tables: &[pdx_core::DistributionId],
) -> Markup {
    let lang = ctx.lang;
    let slug = &view.dataset.slug;
    let (key, tone) = match standing {
        Standing::Publisher => ("get-publisher", "open"),
        Standing::Granted(_) => ("get-granted", "open"),
        Standing::Pending(_) => ("get-pending", "conditional"),
        Standing::Requestable => ("get-requestable", "conditional"),
        Standing::NotForThem => ("get-not-for-you", "closed"),
    };
    let csrf = &ctx.csrf();
    html! {
        aside.get.(tone) aria-labelledby="get-title" {
            h2 #get-title { (ctx.t("get-title")) }
            p.get-answer { strong { (ctx.t(key)) } }
            @match standing {
                Standing::Publisher => {
                    p { a href="/workspace/agency" { (ctx.t("get-publisher-workspace")) } }
                }
                Standing::Granted(grants) => {
                    @let until = grants.iter().map(|g| g.valid_until).max();
                    @if let Some(until) = until {
                        p { (ctx.t("get-granted-until")) " " (lang.date(until.date_naive())) }
                    }
                    @let files = covered(view, grants);
                    @let mut purposes: Vec<&String> = grants.iter().flat_map(|g| g.purposes.iter()).collect();
                    @if files.is_empty() {
                        p { (ctx.t("dataset-no-files")) }
                    } @else {
                        form.download method="post" action={ "/datasets/" (slug) "/download" } {
                            input type="hidden" name="csrf" value=(csrf);
                            div.field {
                                label for="distribution" { (ctx.t("get-file")) }
                                select #distribution name="distribution" {
                                    @for file in &files {
                                        option value=(file.id) { (file.title) " (" (file.format) ")" }
                                    }
                                }
                            }
                            div.field {
                                label for="purpose" { (ctx.t("request-purpose")) }
                                select #purpose name="purpose" {
                                    @for purpose in { purposes.sort(); purposes.dedup(); &purposes } {
                                        option value=(purpose) { (words::purpose_name(lang, purpose)) }
                                    }
                                }
                            }
                            button type="submit" { (ctx.t("get-download")) }
                        }
                        @let readable: Vec<_> = files.iter().filter(|f| tables.contains(&f.id)).collect();
                        @if !readable.is_empty() {
                            // A GET form: reading rows changes nothing but the ledger, and the
                            // page of rows may be bookmarked.
                            form.rows method="get" action={ "/datasets/" (slug) "/rows" } {
                                p { (ctx.t("get-granted-table")) }
                                div.field {
                                    label for="table-file" { (ctx.t("get-file")) }
                                    select #table-file name="distribution" {
                                        @for file in &readable {
                                            option value=(file.id) { (file.title) " (" (file.format) ")" }
                                        }
                                    }
                                }
                                div.field {
                                    label for="table-purpose" { (ctx.t("request-purpose")) }
                                    select #table-purpose name="purpose" {
                                        @for purpose in &purposes {
                                            option value=(purpose) { (words::purpose_name(lang, purpose)) }
                                        }
                                    }
                                }
                                button type="submit" { (ctx.t("table-view")) }
                            }
                        }
                        p.small { (ctx.t("get-granted-ledger")) }
                    }
                }
                Standing::Pending(request) => {
                    p { (ctx.t("get-pending-detail")) " " (lang.date(request.created_at.date_naive())) }
                    p { a href="/workspace/enterprise#requests-title" { (ctx.t("get-pending-link")) } }
                }
                Standing::Requestable => {
                    p { (ctx.t("get-requestable-detail")) }
                    a.button href={ "/datasets/" (slug) "/request" } { (ctx.t("get-request")) }
                }
                Standing::NotForThem => {
                    p { (ctx.t(&format!("{}-detail", match view.dataset.classification.opening {
                        OpeningClass::Closed => "get-closed",
                        _ => "get-not-for-you",
                    }))) }
                }
            }
        }
    }
}

/// Fields of the request-access form, as sent.
#[derive(Debug, Default, Deserialize)]
struct RequestForm {
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    term_days: String,
}

/// The request-access form.
#[get("/datasets/{slug}/request")]
pub(crate) async fn request_form(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(request_page(ctx, &state, &slug, None, &[]).await)
}

/// Sends the request-access form.
#[post("/datasets/{slug}/request")]
pub(crate) async fn send_request(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form::<RequestForm>(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let term_days = match form.term_days.trim().parse::<i32>() {
        Ok(days) => days,
        Err(_) => {
            let error = Problem {
                field: "term_days".into(),
                message: ctx.t("request-term-invalid"),
            };
            return finish(request_page(ctx, &state, &slug, Some(&form), &[error]).await);
        }
    };
    let input = RequestInput {
        dataset: slug.to_string(),
        purpose: form.purpose.clone(),
        statement: form.statement.clone(),
        term_days,
        distributions: Vec::new(),
    };
    match state
        .licensing
        .submit_request(&principal, input, &request_context(&req, &ctx))
        .await
    {
        Ok(request) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/workspace/enterprise?sent={}#requests-title", request.id),
            ))
            .finish(),
        Err(LicensingError::InvalidInput { field, message }) => {
            let message = match field {
                "purpose" => ctx.t("request-purpose-invalid"),
                "statement" => ctx.t("request-statement-invalid"),
                "term_days" => format!("{} ({message})", ctx.t("request-term-invalid")),
                _ => message,
            };
            let error = Problem {
                field: field.into(),
                message,
            };
            finish(request_page(ctx, &state, &slug, Some(&form), &[error]).await)
        }
        Err(LicensingError::OrganizationNotVerified) => {
            let error = Problem {
                field: "".into(),
                message: ctx.t("request-not-verified"),
            };
            finish(request_page(ctx, &state, &slug, Some(&form), &[error]).await)
        }
        Err(LicensingError::ClassificationForbids(_)) => {
            let error = Problem {
                field: "".into(),
                message: ctx.t("get-not-for-you-detail"),
            };
            finish(request_page(ctx, &state, &slug, Some(&form), &[error]).await)
        }
        Err(error) => WebError::from(error).page(&ctx),
    }
}

async fn request_page(
    ctx: Ctx,
    state: &WebState,
    slug: &str,
    sent: Option<&RequestForm>,
    errors: &[Problem],
) -> PageResult {
    let Some(session) = &ctx.session else {
        return Ok(crate::workspace::to_sign_in(&ctx));
    };
    let principal = session.principal.clone();
    let fail = |e: WebError| (ctx.clone(), e);
    let view = state
        .catalog
        .dataset(None, slug)
        .await
        .map_err(|e| fail(e.into()))?;
    let standing = standing(state, &principal, &view).await.map_err(fail)?;
    if !matches!(standing, Standing::Requestable) {
        // Nothing to request: the dataset page says where the member stands.
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/datasets/{}", view.dataset.slug)))
            .finish());
    }
    let offer = state
        .licensing
        .offer(Some(&principal), slug)
        .await
        .map_err(|e| fail(e.into()))?;
    let licence = match offer.as_ref() {
        Some(offer) => state.licence_title(&offer.licence_id).await.map_err(fail)?,
        None => None,
    };
    // A stored policy that no longer parses denies every request; the page then names the
    // licence without its terms.
    let policy = match offer.as_ref() {
        Some(offer) => state.licensing.licence_policy(&offer.licence_id).await.ok(),
        None => None,
    };
    let lang = ctx.lang;
    let d = &view.dataset;
    let title = ctx.t("request-title");
    let purposes: Vec<String> = offer.as_ref().map_or_else(
        || {
            pdx_licensing::model::PURPOSES
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        },
        |o| o.purposes.clone(),
    );
    let max_term = offer.as_ref().map_or(365, |o| o.max_term_days);
    let purpose = sent.map(|f| f.purpose.as_str()).unwrap_or("");
    let statement = sent.map(|f| f.statement.as_str()).unwrap_or("");
    let term = sent
        .map(|f| f.term_days.clone())
        .unwrap_or_else(|| max_term.to_string());
    let error_of = |field: &str| crate::forms::problem_of(errors, field);
    let dataset_page = format!("/datasets/{}", d.slug);
    let dataset_title = crate::page::dataset_title(&ctx, d);
    let csrf = session.csrf_token.clone();
    let status = crate::forms::status(errors);
    let content = html! {
        (crumbs(&ctx, &[("/datasets", &ctx.t("nav-datasets")), (&dataset_page, &dataset_title)]))
        div.narrow {
            (error_summary(&ctx, errors))
            h1 { (title) }
            p.lead { (dataset_title) " · " (view.publisher.name) }
            @if let Some(offer) = &offer {
                (offer_terms(&ctx, offer, licence.as_deref(), policy.as_ref()))
            }
            form method="post" action={ "/datasets/" (d.slug) "/request" } novalidate {
                input type="hidden" name="csrf" value=(csrf);
                @let invalid = error_of("purpose").is_some();
                fieldset.field.invalid[invalid] {
                    legend { (ctx.t("request-purpose")) }
                    @if let Some(error) = error_of("purpose") { p.field-error #purpose-error { (error.message) } }
                    @for (i, p) in purposes.iter().enumerate() {
                        div.choice {
                            input type="radio" name="purpose" value=(p) id={ "purpose-" (i) }
                                checked[purpose == p || (purpose.is_empty() && i == 0)];
                            label for={ "purpose-" (i) } { (words::purpose_name(lang, p)) }
                        }
                    }
                }
                @let invalid = error_of("statement").is_some();
                div.field.invalid[invalid] {
                    label for="statement" { (ctx.t("request-statement")) }
                    p.hint #statement-hint { (ctx.t("request-statement-hint")) }
                    @if let Some(error) = error_of("statement") { p.field-error #statement-error { (error.message) } }
                    textarea #statement name="statement" rows="6" maxlength="5000" required
                        aria-describedby={ "statement-hint" @if invalid { " statement-error" } }
                        aria-invalid=[invalid.then_some("true")] { (statement) }
                }
                @let invalid = error_of("term_days").is_some();
                div.field.invalid[invalid] {
                    label for="term_days" { (ctx.t("request-term")) }
                    p.hint #term-hint { (lang.t_with("request-term-hint", &[("days", crate::i18n::Arg::Number(i64::from(max_term)))])) }
                    @if let Some(error) = error_of("term_days") { p.field-error #term_days-error { (error.message) } }
                    input #term_days type="number" name="term_days" min="1" max=(max_term) value=(term)
                        inputmode="numeric" aria-describedby="term-hint" aria-invalid=[invalid.then_some("true")];
                }
                button type="submit" { (ctx.t("request-send")) }
            }
        }
    };
    Ok(respond(status, frame(&ctx, &title, content)))
}

/// The terms the publishing agency offers, in words.
fn offer_terms(
    ctx: &Ctx,
    offer: &Offer,
    licence: Option<&str>,
    policy: Option<&pdx_licensing::Policy>,
) -> Markup {
    let lang = ctx.lang;
    let limit = |value: Option<i64>, bytes: bool| match value {
        Some(n) if bytes => lang.bytes(n),
        Some(n) => lang.number(n),
        None => ctx.t("grant-no-limit"),
    };
    html! {
        section.terms aria-labelledby="terms-title" {
            h2 #terms-title { (ctx.t("offer-title")) }
            dl.metadata {
                dt { (ctx.t("meta-licence")) }
                dd { (licence.unwrap_or(&offer.licence_id)) }
                @if let Some(policy) = policy {
                    dt { (ctx.t("admin-licence-terms")) }
                    dd { (crate::words::policy(lang, policy)) }
                }
                dt { (ctx.t("offer-term")) }
                dd { (lang.t_with("offer-days", &[("days", crate::i18n::Arg::Number(i64::from(offer.max_term_days)))])) }
                dt { (ctx.t("offer-requests")) }
                dd { (limit(offer.max_requests, false)) }
                dt { (ctx.t("offer-bytes")) }
                dd { (limit(offer.max_bytes, true)) }
                dt { (ctx.t("offer-fees")) }
                dd {
                    @if offer.fee_per_request == 0 && offer.fee_per_mb == 0 {
                        (ctx.t("offer-free"))
                    } @else {
                        (lang.t_with("offer-fee-amounts", &[
                            ("request", crate::i18n::Arg::Text(lang.money(offer.fee_per_request))),
                            ("mb", crate::i18n::Arg::Text(lang.money(offer.fee_per_mb))),
                        ]))
                    }
                }
            }
        }
    }
}

/// Fields of the download form.
#[derive(Debug, Default, Deserialize)]
struct DownloadForm {
    #[serde(default)]
    distribution: String,
    #[serde(default)]
    purpose: String,
}

/// Downloads a file held under a grant: decided, metered and written to the ledger like the
/// API's data path, with the ledger entry's number as `X-PDX-Ledger-Seq`. A refusal is a page
/// saying why in words, and is in the ledger too.
#[post("/datasets/{slug}/download")]
pub(crate) async fn download(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let (principal, form) = match signed_form::<DownloadForm>(&ctx, &body) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    finish(download_answer(&req, ctx.clone(), &state, principal, &slug, form).await)
}

async fn download_answer(
    req: &HttpRequest,
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    slug: &str,
    form: DownloadForm,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    if let Err(wait) = state.admission.admit(req, false) {
        return Ok(too_many(&ctx, wait));
    }
    let (view, distribution) = dataset_file(state, slug, &form.distribution)
        .await
        .map_err(fail)?;
    let distribution = distribution.id;
    let facts = state
        .catalog
        .distribution_facts(distribution)
        .await
        .map_err(|e| fail(e.into()))?;
    let purpose = Some(form.purpose.trim().to_owned())
        .filter(|p| pdx_licensing::model::PURPOSES.contains(&p.as_str()));
    let mut request = DataRequest::new(
        Some(principal),
        distribution,
        req.extensions().get::<RequestId>().map(ToString::to_string),
    );
    request.purpose = purpose;
    if !form.purpose.trim().is_empty() && request.purpose.is_none() {
        request.refused = Some(Refusal::UnknownPurpose);
    }
    let mut body = None;
    if request.refused.is_none() && facts.kind == DistributionKind::File {
        body = state.catalog.open_file(&facts, None).await;
        request.prepared = Prepared::of(&facts, body.is_some());
    }
    let answer = state
        .licensing
        .obtain(request)
        .await
        .map_err(|e| fail(e.into()))?;
    if let Err(refusal) = answer.outcome {
        state.admission.failed(req);
        return Ok(refused_page(&ctx, &view, refusal, answer.seq));
    }
    let (Some(body), DistributionKind::File) = (body, facts.kind) else {
        return Err(fail(WebError::Internal(
            "a file was permitted that was not opened".into(),
        )));
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, facts.media_type.as_str()))
        .insert_header((header::CONTENT_DISPOSITION, facts.content_disposition()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-PDX-Ledger-Seq", answer.seq.to_string()));
    Ok(match body {
        FileBody::Memory(bytes) => response.body(bytes),
        FileBody::Stream(stream) => {
            use futures_util::StreamExt;
            let size = facts
                .byte_size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0);
            let stream =
                stream.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError));
            response.body(actix_web::body::SizedStream::new(size, stream))
        }
    })
}

/// A data request turned away by the per-address limits: wait and try again.
pub(crate) fn too_many(ctx: &Ctx, wait: std::time::Duration) -> HttpResponse {
    let title = ctx.t("limited-title");
    let mut response = respond(
        StatusCode::TOO_MANY_REQUESTS,
        frame(
            ctx,
            &title,
            html! {
                div.narrow {
                    h1 { (title) }
                    p.lead { (ctx.t("limited-detail")) }
                }
            },
        ),
    );
    if let Ok(value) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The published dataset `slug` and its file named by `distribution`, a well-formed id of one
/// of its files; anything else is not found.
pub(crate) async fn dataset_file(
    state: &WebState,
    slug: &str,
    distribution: &str,
) -> Result<(DatasetView, pdx_catalog::model::Distribution), WebError> {
    let view = state.catalog.dataset(None, slug).await?;
    let file = distribution
        .parse::<DistributionId>()
        .ok()
        .and_then(|id| view.distributions.iter().find(|d| d.id == id))
        .cloned()
        .ok_or(WebError::NotFound)?;
    Ok((view, file))
}

/// Why a download was refused, in words, with the receipt of the refusal.
pub(crate) fn refused_page(
    ctx: &Ctx,
    view: &DatasetView,
    refusal: Refusal,
    seq: u64,
) -> HttpResponse {
    let key = match refusal {
        Refusal::Decision(DenyReason::QuotaExhausted) => "refused-quota",
        Refusal::Decision(DenyReason::PurposeRequired) | Refusal::UnknownPurpose => {
            "refused-purpose"
        }
        Refusal::DataUnavailable => "refused-unavailable",
        Refusal::Decision(DenyReason::AuthenticationRequired) => "refused-sign-in",
        Refusal::Decision(_) => "refused-no-grant",
        _ => "refused-other",
    };
    let status = match refusal {
        Refusal::Decision(DenyReason::QuotaExhausted) => StatusCode::TOO_MANY_REQUESTS,
        Refusal::DataUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    let title = ctx.t("refused-title");
    let dataset_page = format!("/datasets/{}", view.dataset.slug);
    respond(
        status,
        frame(
            ctx,
            &title,
            html! {
                (crumbs(ctx, &[("/datasets", &ctx.t("nav-datasets")), (&dataset_page, &crate::page::dataset_title(ctx, &view.dataset))]))
                div.narrow {
                    h1 { (title) }
                    p.lead { (ctx.t(key)) }
                    p {
                        (ctx.t("refused-ledger")) " "
                        @if ctx.session.is_some() {
                            a href={ "/workspace/ledger/" (seq) } { "#" (seq) }
                        } @else {
                            "#" (seq)
                        }
                    }
                    p { a href=(dataset_page) { (ctx.t("refused-back")) } }
                }
            },
        ),
    )
}
