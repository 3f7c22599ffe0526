//! Pages that explain: the public annual reports, what PDX is and what each classification
//! means, and the accessibility statement.

use actix_web::{HttpRequest, HttpResponse, get, web};
use maud::html;
use pdx_core::{DataGrade, OpeningClass, SharingClass};

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::page::{Ctx, frame, ok};
use crate::words;

/// The annual disclosure reports agencies have made public.
#[get("/reports")]
pub(crate) async fn reports(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(reports_page(ctx, &state).await)
}

async fn reports_page(ctx: Ctx, state: &WebState) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let public = state
        .ledger
        .public_disclosures()
        .await
        .map_err(|e| fail(e.into()))?;
    let mut rows = Vec::with_capacity(public.len());
    for (org_id, year) in public {
        // An organisation that can no longer be shown is left out, not an error.
        if let Ok(org) = state.access.organization(None, &org_id).await {
            rows.push((org.slug, org.name, year));
        }
    }
    let lang = ctx.lang;
    let content = html! {
        h1 { (ctx.t("reports-title")) }
        p.lead { (ctx.t("reports-lead")) }
        @if rows.is_empty() {
            p { (ctx.t("reports-none")) }
        } @else {
            div.table-wrap {
                table {
                    caption.visually-hidden { (ctx.t("reports-title")) }
                    thead {
                        tr {
                            th scope="col" { (ctx.t("reports-agency")) }
                            th scope="col" { (ctx.t("reports-year")) }
                            th scope="col" { (ctx.t("reports-formats")) }
                        }
                    }
                    tbody {
                        @for (slug, name, year) in &rows {
                            tr {
                                th scope="row" { a href={ "/organizations/" (slug) } { (name) } }
                                td { (lang.t_with("report-year", &[("year", Arg::Number(i64::from(*year)))])) }
                                td {
                                    a href={ "/api/v1/organizations/" (slug) "/disclosures/" (year) } { "JSON" }
                                    " · "
                                    a href={ "/api/v1/organizations/" (slug) "/disclosures/" (year) ".csv" } { "CSV" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, &ctx.t("reports-title"), content)))
}

/// What PDX is, how data is obtained and what each class means.
#[get("/about")]
pub(crate) async fn about(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let lang = ctx.lang;
    let content = html! {
        h1 { (ctx.t("about-title")) }
        p.lead { (ctx.t("about-lead")) }
        h2 { (ctx.t("about-ways")) }
        ul {
            li { (ctx.t("home-how-open")) }
            li { (ctx.t("home-how-conditional")) }
            li { (ctx.t("home-how-ledger")) }
        }
        h2 #classes { (ctx.t("about-classes")) }
        p { (ctx.t("about-classes-lead")) }
        h3 { (ctx.t("class-opening")) }
        dl.classes {
            @for class in [OpeningClass::Open, OpeningClass::Conditional, OpeningClass::Closed] {
                dt { (lang.t(words::opening_key(class))) }
                dd { (lang.t(&format!("{}-about", words::opening_key(class)))) }
            }
        }
        h3 { (ctx.t("class-sharing")) }
        dl.classes {
            @for class in [SharingClass::Unconditional, SharingClass::Conditional, SharingClass::None] {
                dt { (lang.t(words::sharing_key(class))) }
                dd { (lang.t(&format!("{}-about", words::sharing_key(class)))) }
            }
        }
        h3 { (ctx.t("class-grade")) }
        dl.classes {
            @for grade in [DataGrade::General, DataGrade::Important, DataGrade::Core] {
                dt { (lang.t(words::grade_key(grade))) }
                dd { (lang.t(&format!("{}-about", words::grade_key(grade)))) }
            }
        }
        p { (ctx.t("about-grade-rule")) }
    };
    ok(frame(&ctx, &ctx.t("about-title"), content))
}

/// The accessibility statement.
#[get("/accessibility")]
pub(crate) async fn accessibility(req: HttpRequest) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let content = html! {
        h1 { (ctx.t("a11y-title")) }
        p.lead { (ctx.t("a11y-lead")) }
        ul {
            li { (ctx.t("a11y-keyboard")) }
            li { (ctx.t("a11y-no-script")) }
            li { (ctx.t("a11y-contrast")) }
            li { (ctx.t("a11y-languages")) }
        }
        p { (ctx.t("a11y-report")) }
    };
    ok(frame(&ctx, &ctx.t("a11y-title"), content))
}
