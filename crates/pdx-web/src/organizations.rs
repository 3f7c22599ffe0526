//! Organisation pages: the publishing agencies with their dataset counts, and one agency's
//! page with its datasets and its public annual reports.

use actix_web::{HttpRequest, HttpResponse, get, web};
use maud::html;
use pdx_catalog::search::{SearchQuery, Sort};
use pdx_core::{OrgKind, PageRequest};

use crate::WebState;
use crate::catalog::cards;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::page::{Ctx, crumbs, frame, ok};
use crate::words;

/// The publishing agencies.
#[get("/organizations")]
pub(crate) async fn list_organizations(
    req: HttpRequest,
    state: web::Data<WebState>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(organizations_page(ctx, &state).await)
}

async fn organizations_page(ctx: Ctx, state: &WebState) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let agencies = state
        .access
        .list_organizations(
            None,
            Some(OrgKind::Agency),
            Some(true),
            PageRequest::new(Some(1), Some(100)),
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let counts = state
        .catalog
        .published_counts()
        .await
        .map_err(|e| fail(e.into()))?;
    let lang = ctx.lang;
    let content = html! {
        h1 { (ctx.t("orgs-title")) }
        p.lead { (ctx.t("orgs-lead")) }
        ul.org-list {
            @for org in &agencies.items {
                @let count = counts.get(&org.id.to_string()).copied().unwrap_or(0);
                li {
                    h2 { a href={ "/organizations/" (org.slug) } { (org.name) } }
                    p.meta { (lang.t_with("search-count", &[("count", Arg::Number(count))])) }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, &ctx.t("orgs-title"), content)))
}

/// One organisation.
#[get("/organizations/{slug}")]
pub(crate) async fn organization(
    req: HttpRequest,
    state: web::Data<WebState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    finish(organization_page(ctx, &state, &slug).await)
}

async fn organization_page(ctx: Ctx, state: &WebState, slug: &str) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let org = state
        .access
        .organization(None, slug)
        .await
        .map_err(|e| fail(e.into()))?;
    let page = PageRequest::new(Some(1), Some(50));
    let query = SearchQuery {
        publisher: Some(org.id.to_string()),
        sort: Sort::Title,
        offset: page.offset(),
        limit: page.limit(),
        facet_limit: 20,
        ..SearchQuery::default()
    };
    let found = state
        .catalog
        .search_rendered(query, page)
        .await
        .map_err(|e| fail(e.into()))?;
    let reports: Vec<i32> = state
        .ledger
        .public_disclosures()
        .await
        .map_err(|e| fail(e.into()))?
        .into_iter()
        .filter(|(id, _)| *id == org.id.to_string())
        .map(|(_, year)| year)
        .collect();
    let lang = ctx.lang;
    let datasets = cards(&found.page.items);
    let content = html! {
        (crumbs(&ctx, &[("/organizations", &ctx.t("nav-organizations"))]))
        h1 { (org.name) }
        p.meta {
            (ctx.t(match org.kind {
                OrgKind::Agency => "org-kind-agency",
                OrgKind::Enterprise => "org-kind-enterprise",
                OrgKind::Platform => "org-kind-platform",
            }))
            @if let Some(email) = &org.contact_email {
                " · " a href={ "mailto:" (email) } { (email) }
            }
        }
        div.columns.wide-left {
            section aria-labelledby="org-datasets" {
                h2 #org-datasets { (lang.t_with("org-datasets", &[("count", Arg::Number(found.page.total))])) }
                @if datasets.is_empty() {
                    p { (ctx.t("org-no-datasets")) }
                } @else {
                    ul.compact {
                        @for card in &datasets {
                            li {
                                a href={ "/datasets/" (card.slug) } { (card.title(lang)) }
                                span.meta {
                                    @if let Some(opening) = words::opening_from(&card.opening_class) {
                                        (ctx.t(words::opening_key(opening)))
                                    }
                                }
                            }
                        }
                    }
                    @if found.page.total > datasets.len() as i64 {
                        p { a href={ "/datasets?publisher=" (org.slug) } { (ctx.t("org-all-datasets")) } }
                    }
                }
            }
            section aria-labelledby="org-reports" {
                h2 #org-reports { (ctx.t("org-reports")) }
                @if reports.is_empty() {
                    p { (ctx.t("org-no-reports")) }
                } @else {
                    ul.compact {
                        @for year in &reports {
                            li {
                                (lang.t_with("report-year", &[("year", Arg::Number(i64::from(*year)))])) " · "
                                a href={ "/api/v1/organizations/" (org.slug) "/disclosures/" (year) } { "JSON" } " · "
                                a href={ "/api/v1/organizations/" (org.slug) "/disclosures/" (year) ".csv" } { "CSV" }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, &org.name, content)))
}
