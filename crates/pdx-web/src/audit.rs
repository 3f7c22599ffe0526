//! The auditor's figures in the browser: usage over time (a chart of permitted requests per
//! local day, and the period's figures by dataset, provider, consumer or purpose, as tables
//! beside it) and the anomaly report with the ledger entries behind each finding. Auditors and
//! platform admins; every read is a ledger entry, as through the API.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use maud::{Markup, PreEscaped, html};
use pdx_circulation::accounting::{Dimension, Figures, Outcome, Period, UsageQuery};
use pdx_core::Principal;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::ledger::record_read;
use crate::page::Ctx;
use crate::workspace::{audit_nav, shell};

/// The longest period a page covers, in days.
const MAX_DAYS: i64 = 366;
/// The default period: the last this many days.
const DEFAULT_DAYS: i64 = 30;
/// Rows of a "by" table.
const TOP_ROWS: usize = 20;

/// The period form's fields.
#[derive(Debug, Default, Deserialize)]
struct PeriodQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// The local days asked for, bounded; the last [`DEFAULT_DAYS`] by default.
fn period(query: &PeriodQuery, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let day = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
    };
    let to = day(&query.to).unwrap_or(today).min(today);
    let from = day(&query.from)
        .unwrap_or(to - chrono::Duration::days(DEFAULT_DAYS - 1))
        .min(to);
    let from = from.max(to - chrono::Duration::days(MAX_DAYS - 1));
    (from, to)
}

fn period_form(
    ctx: &Ctx,
    action: &str,
    from: NaiveDate,
    to: NaiveDate,
    by: Option<&str>,
) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            div.field {
                label for="from" { (ctx.t("ledger-from")) }
                input #from type="date" name="from" value=(from.to_string());
            }
            div.field {
                label for="to" { (ctx.t("ledger-to")) }
                input #to type="date" name="to" value=(to.to_string());
            }
            @if let Some(by) = by {
                div.field {
                    label for="by" { (ctx.t("usage-by")) }
                    select #by name="by" {
                        @for (value, key) in BY {
                            option value=(value) selected[by == value] { (ctx.t(key)) }
                        }
                    }
                }
            }
            button type="submit" { (ctx.t("ledger-filter")) }
        }
    }
}

/// What usage can be broken down by, with the label of each.
const BY: [(&str, &str); 4] = [
    ("dataset", "request-dataset"),
    ("provider", "entry-provider"),
    ("consumer", "usage-consumer"),
    ("purpose", "request-purpose"),
];

/// Usage over time.
#[get("/workspace/audit/usage")]
pub(crate) async fn usage(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::oversees) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: PeriodQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    finish(usage_page(ctx, &state, principal, query).await)
}

async fn usage_page(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    query: PeriodQuery,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let calendar = state
        .ledger
        .accounting_calendar()
        .await
        .map_err(|e| fail(e.into()))?;
    let (from, to) = period(&query, calendar.day(state.clock.now()));
    let by = query
        .by
        .as_deref()
        .filter(|b| BY.iter().any(|(value, _)| value == b))
        .unwrap_or("dataset");
    let dimension = Dimension::parse(by).unwrap_or(Dimension::Dataset);
    let usage_query = |group_by: Vec<Dimension>| UsageQuery {
        from,
        to,
        period: Period::Day,
        group_by,
        dataset: None,
        provider: None,
        consumer: None,
        grant: None,
        purpose: None,
        decision: Some(Outcome::Permit),
        party: None,
    };
    let (_, daily) = state
        .ledger
        .usage(usage_query(Vec::new()))
        .await
        .map_err(|e| fail(e.into()))?;
    let (_, grouped) = state
        .ledger
        .usage(usage_query(vec![dimension]))
        .await
        .map_err(|e| fail(e.into()))?;
    record_read(
        state,
        &ctx,
        &principal,
        serde_json::json!({ "read": "usage", "via": "portal", "from": from.to_string(), "to": to.to_string(), "group_by": by }),
    )
    .await
    .map_err(fail)?;
    // Every day of the period, those without use at zero.
    let mut days: BTreeMap<NaiveDate, Figures> = BTreeMap::new();
    let mut day = from;
    while day <= to {
        days.insert(day, Figures::default());
        day = day.succ_opt().unwrap_or(to + chrono::Duration::days(1));
    }
    for row in &daily {
        if let Some(figures) = days.get_mut(&row.first_day) {
            figures.merge(&row.figures);
        }
    }
    let mut totals: BTreeMap<String, Figures> = BTreeMap::new();
    for row in &grouped {
        let key = row.key.get(&dimension).cloned().unwrap_or_default();
        totals.entry(key).or_default().merge(&row.figures);
    }
    let mut ranked: Vec<(String, Figures)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(&b.0)));
    let mut names = Vec::new();
    for (key, _) in ranked.iter().take(TOP_ROWS) {
        names.push(name_of(state, &ctx, &principal, dimension, key).await);
    }
    let lang = ctx.lang;
    let labels: Vec<String> = days.keys().map(|d| d.format("%m-%d").to_string()).collect();
    let values: Vec<u64> = days.values().map(|f| f.requests).collect();
    let chart = crate::charts::bars(&labels, &values, &ctx.t("grant-requests"), (760, 300));
    let total: u64 = values.iter().sum();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let title = ctx.t("usage-title");
    let content = html! {
        (period_form(&ctx, "/workspace/audit/usage", from, to, Some(by)))
        p.lead { (lang.t_with("usage-lead", &[("count", Arg::Number(n(total)))])) " · " (ctx.t("ledger-zone")) " " (calendar.name()) }
        @if let Some(svg) = chart {
            figure.chart {
                div role="img" aria-labelledby="chart-caption" { (PreEscaped(svg)) }
                figcaption #chart-caption { (ctx.t("usage-chart")) " " (from.to_string()) " – " (to.to_string()) }
            }
        }
        details {
            summary { (ctx.t("usage-daily-table")) }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("usage-day")) }
                        th scope="col" class="num" { (ctx.t("grant-requests")) }
                        th scope="col" class="num" { (ctx.t("file-size")) }
                        th scope="col" class="num" { (ctx.t("ledger-fee")) }
                    } }
                    tbody {
                        @for (day, figures) in &days {
                            tr {
                                th scope="row" { (lang.date(*day)) }
                                td.num { (lang.number(n(figures.requests))) }
                                td.num { (lang.bytes(n(figures.bytes))) }
                                td.num { (lang.money(n(figures.fee))) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="by-title" {
            h2 #by-title { (ctx.t("usage-by")) " " (ctx.t(BY.iter().find(|(v, _)| *v == by).map_or("request-dataset", |(_, k)| k))) }
            @if ranked.is_empty() {
                p { (ctx.t("statement-empty")) }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("keys-name")) }
                            th scope="col" class="num" { (ctx.t("grant-requests")) }
                            th scope="col" class="num" { (ctx.t("file-size")) }
                            th scope="col" class="num" { (ctx.t("ledger-fee")) }
                        } }
                        tbody {
                            @for ((_, figures), name) in ranked.iter().zip(names.iter()) {
                                tr {
                                    th scope="row" { (name) }
                                    td.num { (lang.number(n(figures.requests))) }
                                    td.num { (lang.bytes(n(figures.bytes))) }
                                    td.num { (lang.money(n(figures.fee))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(&ctx, &title, audit_nav(&ctx), content))
}

/// A key of a usage row in words: a dataset's title, an organisation's name, a purpose.
async fn name_of(
    state: &WebState,
    ctx: &Ctx,
    principal: &Principal,
    dimension: Dimension,
    key: &str,
) -> String {
    if key.is_empty() {
        return ctx.t("ledger-anonymous");
    }
    match dimension {
        Dimension::Dataset => state
            .catalog
            .dataset(Some(principal), key)
            .await
            .map(|v| crate::page::dataset_title(ctx, &v.dataset))
            .unwrap_or_else(|_| key.to_owned()),
        Dimension::Provider | Dimension::Consumer => state
            .access
            .organization(Some(principal), key)
            .await
            .map(|o| o.name)
            .unwrap_or_else(|_| key.to_owned()),
        Dimension::Purpose => crate::words::purpose_name(ctx.lang, key),
        _ => key.to_owned(),
    }
}

/// The anomaly report.
#[get("/workspace/audit/anomalies")]
pub(crate) async fn anomalies(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, crate::workspace::oversees) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: PeriodQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    finish(anomalies_page(ctx, &state, principal, query).await)
}

async fn anomalies_page(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    query: PeriodQuery,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let calendar = state
        .ledger
        .accounting_calendar()
        .await
        .map_err(|e| fail(e.into()))?;
    let (from, to) = period(&query, calendar.day(state.clock.now()));
    let grants = state
        .licensing
        .grants(&principal)
        .await
        .map_err(|e| fail(e.into()))?
        .iter()
        .map(pdx_circulation::anomalies::GrantTerms::from)
        .collect();
    let (_, _, _, findings) = state
        .ledger
        .anomalies(grants, from, to)
        .await
        .map_err(|e| fail(e.into()))?;
    record_read(
        state,
        &ctx,
        &principal,
        serde_json::json!({ "read": "anomalies", "via": "portal", "from": from.to_string(), "to": to.to_string(), "findings": findings.len() }),
    )
    .await
    .map_err(fail)?;
    let mut organizations = BTreeMap::new();
    for finding in &findings {
        if let Some(org) = &finding.organization
            && !organizations.contains_key(org)
        {
            let name = state
                .access
                .organization(Some(&principal), org)
                .await
                .map(|o| o.name)
                .unwrap_or_else(|_| org.clone());
            organizations.insert(org.clone(), name);
        }
    }
    let lang = ctx.lang;
    let title = ctx.t("anomalies-title");
    let content = html! {
        (period_form(&ctx, "/workspace/audit/anomalies", from, to, None))
        p.lead { (lang.t_with("anomalies-count", &[("count", Arg::Number(i64::try_from(findings.len()).unwrap_or(i64::MAX)))])) }
        @for finding in &findings {
            @let rule = format!("rule-{}", finding.rule.replace('_', "-"));
            article.finding {
                h2 { (ctx.t(&rule)) }
                p.small { (ctx.t(&format!("{rule}-about"))) }
                dl.metadata {
                    @if let Some(org) = &finding.organization {
                        dt { (ctx.t("ledger-organization")) }
                        dd { (organizations.get(org).cloned().unwrap_or_default()) }
                    }
                    dt { (ctx.t("ledger-time")) }
                    dd { (crate::ledger::local_time(&calendar, &finding.from.to_rfc3339())) " – " (crate::ledger::local_time(&calendar, &finding.until.to_rfc3339())) }
                    @for (name, value) in &finding.figures {
                        dt { (ctx.t(&format!("figure-{}", name.replace('_', "-")))) }
                        dd {
                            @if name.ends_with("bytes") {
                                (lang.bytes(*value))
                            } @else {
                                (lang.number(*value))
                            }
                        }
                    }
                    dt { (ctx.t("statement-entries")) }
                    dd {
                        (lang.number(i64::try_from(finding.entries).unwrap_or(i64::MAX))) (lang.colon())
                        @for (i, seq) in finding.seqs.iter().take(12).enumerate() {
                            @if i > 0 { " " }
                            a href={ "/workspace/ledger/" (seq) } { (seq) }
                        }
                        @if finding.seqs.len() > 12 { " …" }
                    }
                }
                @if lang == crate::i18n::Lang::En {
                    p { (finding.description) }
                }
            }
        }
    };
    Ok(shell(&ctx, &title, audit_nav(&ctx), content))
}
