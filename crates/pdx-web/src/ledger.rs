//! The ledger in the browser: the entries a member may read (auditors and platform admins all,
//! an agency its own and those on its datasets, others their own) with filters, each entry with
//! its canonical JSON and its inclusion proof checked against the latest signed checkpoint, and
//! an organisation's monthly statement with its CSV. Every read is itself a ledger entry, as
//! through the API.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use maud::{Markup, html};
use pdx_circulation::accounting::{Calendar, Side};
use pdx_circulation::entry::Entry;
use pdx_circulation::ledger::{EntryFilter, ReadScope};
use pdx_circulation::verify::{InclusionProof, check_inclusion, encode_hash};
use pdx_core::{OrgKind, PageRequest, Principal};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageResult, WebError, finish};
use crate::i18n::Arg;
use crate::page::{Ctx, crumbs, frame, ok};
use crate::workspace::oversees;

/// What a principal may read of the ledger: the API's scopes.
fn scope_of(principal: &Principal) -> ReadScope {
    if oversees(principal) {
        ReadScope::All
    } else if principal.org_kind == OrgKind::Agency {
        ReadScope::Agency(principal.org)
    } else {
        ReadScope::Organization(principal.org)
    }
}

/// Records that `principal` read the ledger or a report drawn from it: reading is itself an
/// auditable act.
pub(crate) async fn record_read(
    state: &WebState,
    ctx: &Ctx,
    principal: &Principal,
    what: serde_json::Value,
) -> Result<(), WebError> {
    state
        .ledger
        .record_read(
            principal.user.to_string(),
            principal.org.to_string(),
            what,
            Some(ctx.request_id.clone()).filter(|id| !id.is_empty()),
        )
        .await?;
    Ok(())
}

/// Names of organisations and datasets by id, looked up once each, as far as the reader may
/// see them.
#[derive(Default)]
struct Names(HashMap<String, Option<(String, String)>>);

impl Names {
    /// The slug and name of an organisation.
    async fn organization(
        &mut self,
        state: &WebState,
        principal: &Principal,
        id: &str,
    ) -> Option<(String, String)> {
        if let Some(found) = self.0.get(id) {
            return found.clone();
        }
        let found = state
            .access
            .organization(Some(principal), id)
            .await
            .ok()
            .map(|o| (o.slug, o.name));
        self.0.insert(id.to_owned(), found.clone());
        found
    }

    /// The slug and title of a dataset: in the reader's language where it has a translation
    /// (`ctx`), or its own (none: documents such as the statement's CSV, which are the API's).
    async fn dataset(
        &mut self,
        state: &WebState,
        ctx: Option<&Ctx>,
        principal: &Principal,
        id: &str,
    ) -> Option<(String, String)> {
        if let Some(found) = self.0.get(id) {
            return found.clone();
        }
        let found = state
            .catalog
            .dataset(Some(principal), id)
            .await
            .ok()
            .map(|v| {
                let title = match ctx {
                    Some(ctx) => crate::page::dataset_title(ctx, &v.dataset),
                    None => v.dataset.title,
                };
                (v.dataset.slug, title)
            });
        self.0.insert(id.to_owned(), found.clone());
        found
    }

    fn name(&self, id: &str) -> Option<String> {
        self.0.get(id).cloned().flatten().map(|(_, name)| name)
    }
}

/// A recorded time in the accounting time zone: `2026-12-02 13:05:12 +08:00`.
pub(crate) fn local_time(calendar: &Calendar, rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(time) => {
            let local = calendar.local(time.with_timezone(&chrono::Utc));
            match local.split_once('T') {
                Some((day, rest)) => {
                    let (clock, offset) = rest.split_at(rest.len().min(8));
                    let offset = if offset == "Z" { "+00:00" } else { offset };
                    format!("{day} {clock} {offset}")
                }
                None => local,
            }
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// The filters of the ledger browser, as the form sends them.
#[derive(Debug, Default, Deserialize)]
struct LedgerQuery {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

/// Kinds offered in the filter.
const KINDS: [&str; 4] = [
    "data_access",
    "data_replay",
    "ledger_read",
    "access_refused",
];
/// Decisions offered in the filter.
const DECISIONS: [&str; 4] = ["permit", "deny", "success", "failure"];
/// Entries per page.
const PER_PAGE: u32 = 50;

/// A filter's value: trimmed, bounded, empty as none.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
}

/// The ledger browser.
#[get("/workspace/ledger")]
pub(crate) async fn browse(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, |_| true) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: LedgerQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    finish(browse_page(ctx, &state, principal, query).await)
}

async fn browse_page(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    query: LedgerQuery,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let calendar = state
        .ledger
        .accounting_calendar()
        .await
        .map_err(|e| fail(e.into()))?;
    let day = |text: &Option<String>| {
        given(text).and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
    };
    let (from, to) = (day(&query.from), day(&query.to));
    // Slugs name what ids name; one that names nothing matches nothing.
    let nothing = || "-".to_owned();
    let organization = match given(&query.organization) {
        Some(key) => Some(
            state
                .access
                .resolve_organization(&key)
                .await
                .map(|id| id.to_string())
                .unwrap_or_else(|_| nothing()),
        ),
        None => None,
    };
    let dataset = match given(&query.dataset) {
        Some(key) => Some(
            state
                .catalog
                .dataset(Some(&principal), &key)
                .await
                .map(|v| v.dataset.id.to_string())
                .unwrap_or_else(|_| nothing()),
        ),
        None => None,
    };
    let filter = EntryFilter {
        since: from.map(|d| calendar.start(d)),
        until: to.map(|d| calendar.start(d + chrono::Duration::days(1))),
        dataset,
        organization,
        kind: given(&query.kind).filter(|k| KINDS.contains(&k.as_str())),
        decision: given(&query.decision).filter(|d| DECISIONS.contains(&d.as_str())),
        purpose: given(&query.purpose)
            .filter(|p| pdx_licensing::model::PURPOSES.contains(&p.as_str())),
        newest_first: true,
        ..EntryFilter::default()
    };
    let page = PageRequest::new(query.page, Some(PER_PAGE));
    let what = serde_json::json!({
        "read": "entries", "via": "portal", "kind": filter.kind, "decision": filter.decision,
        "organization": filter.organization, "dataset": filter.dataset,
        "purpose": filter.purpose, "since": filter.since, "until": filter.until,
        "page": page.page,
    });
    let found = state
        .ledger
        .entries(scope_of(&principal), filter, page)
        .await
        .map_err(|e| fail(e.into()))?;
    record_read(state, &ctx, &principal, what)
        .await
        .map_err(fail)?;
    let mut names = Names::default();
    for entry in &found.items {
        for org in [&entry.actor_org, &entry.provider_org]
            .into_iter()
            .flatten()
        {
            names.organization(state, &principal, org).await;
        }
        if let Some(dataset) = &entry.dataset {
            names.dataset(state, Some(&ctx), &principal, dataset).await;
        }
    }
    let lang = ctx.lang;
    let title = ctx.t("ledger-title");
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let pages = (found.total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE);
    let current = i64::from(page.page);
    let page_link = |n: i64| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, value) in [
            ("kind", &query.kind),
            ("decision", &query.decision),
            ("organization", &query.organization),
            ("dataset", &query.dataset),
            ("purpose", &query.purpose),
            ("from", &query.from),
            ("to", &query.to),
        ] {
            if let Some(value) = given(value) {
                pairs.push((name, value));
            }
        }
        pairs.push(("page", n.to_string()));
        format!(
            "/workspace/ledger?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        h1 { (title) }
        p.lead { (ctx.t(if oversees(&principal) { "ledger-lead-all" } else { "ledger-lead-own" })) }
        form.filters method="get" action="/workspace/ledger" {
            div.field {
                label for="kind" { (ctx.t("ledger-kind")) }
                select #kind name="kind" {
                    option value="" { (ctx.t("ledger-any")) }
                    @for kind in KINDS {
                        option value=(kind) selected[selected(&query.kind, kind)] { (ctx.t(&format!("kind-{}", kind.replace('_', "-")))) }
                    }
                }
            }
            div.field {
                label for="decision" { (ctx.t("ledger-decision")) }
                select #decision name="decision" {
                    option value="" { (ctx.t("ledger-any")) }
                    @for decision in DECISIONS {
                        option value=(decision) selected[selected(&query.decision, decision)] { (ctx.t(&format!("decision-{decision}"))) }
                    }
                }
            }
            @if oversees(&principal) {
                div.field {
                    label for="organization" { (ctx.t("ledger-organization")) }
                    input #organization type="text" name="organization" value=(query.organization.as_deref().unwrap_or("")) maxlength="200";
                }
            }
            div.field {
                label for="dataset" { (ctx.t("request-dataset")) }
                input #dataset type="text" name="dataset" value=(query.dataset.as_deref().unwrap_or("")) maxlength="200";
            }
            div.field {
                label for="purpose" { (ctx.t("request-purpose")) }
                select #purpose name="purpose" {
                    option value="" { (ctx.t("ledger-any")) }
                    @for purpose in pdx_licensing::model::PURPOSES {
                        option value=(purpose) selected[selected(&query.purpose, purpose)] { (crate::words::purpose_name(lang, purpose)) }
                    }
                }
            }
            div.field {
                label for="from" { (ctx.t("ledger-from")) }
                input #from type="date" name="from" value=(from.map(|d| d.to_string()).unwrap_or_default());
            }
            div.field {
                label for="to" { (ctx.t("ledger-to")) }
                input #to type="date" name="to" value=(to.map(|d| d.to_string()).unwrap_or_default());
            }
            button type="submit" { (ctx.t("ledger-filter")) }
        }
        p #entry-count { (lang.t_with("ledger-count", &[("count", Arg::Number(found.total))])) " · " (ctx.t("ledger-zone")) " " (calendar.name()) }
        @if !found.items.is_empty() {
            div.table-wrap {
                table.ledger {
                    thead { tr {
                        th scope="col" { "#" }
                        th scope="col" { (ctx.t("ledger-time")) }
                        th scope="col" { (ctx.t("ledger-kind")) }
                        th scope="col" { (ctx.t("ledger-organization")) }
                        th scope="col" { (ctx.t("request-dataset")) }
                        th scope="col" { (ctx.t("ledger-decision")) }
                        th scope="col" class="num" { (ctx.t("file-size")) }
                        th scope="col" class="num" { (ctx.t("ledger-fee")) }
                    } }
                    tbody {
                        @for entry in &found.items {
                            tr {
                                th scope="row" { a href={ "/workspace/ledger/" (entry.seq) } { (entry.seq) } }
                                td { (local_time(&calendar, &entry.time)) }
                                td { (kind_name(&ctx, &entry.kind)) }
                                td { (entry.actor_org.as_deref().and_then(|o| names.name(o)).unwrap_or_else(|| ctx.t("ledger-anonymous"))) }
                                td { (entry.dataset.as_deref().and_then(|d| names.name(d)).unwrap_or_default()) }
                                td { (decision_tag(&ctx, entry)) }
                                td.num { @if entry.bytes > 0 { (lang.bytes(i64::try_from(entry.bytes).unwrap_or(i64::MAX))) } }
                                td.num { @if entry.fee > 0 { (lang.money(i64::try_from(entry.fee).unwrap_or(i64::MAX))) } }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label=(ctx.t("pager-label")) {
                @if current > 1 { a rel="prev" href=(page_link(current - 1)) { (ctx.t("pager-previous")) } }
                span { (lang.t_with("ledger-page", &[("page", Arg::Number(current)), ("pages", Arg::Number(pages))])) }
                @if current < pages { a rel="next" href=(page_link(current + 1)) { (ctx.t("pager-next")) } }
            }
        }
    };
    Ok(ok(frame(&ctx, &title, content)))
}

fn kind_name(ctx: &Ctx, kind: &str) -> String {
    if KINDS.contains(&kind) {
        ctx.t(&format!("kind-{}", kind.replace('_', "-")))
    } else {
        kind.to_owned()
    }
}

fn decision_tag(ctx: &Ctx, entry: &Entry) -> Markup {
    let tone = match entry.decision.as_str() {
        "permit" | "success" => "open",
        _ => "closed",
    };
    let decision = if DECISIONS.contains(&entry.decision.as_str()) {
        ctx.t(&format!("decision-{}", entry.decision))
    } else {
        entry.decision.clone()
    };
    html! {
        span.tag.(tone) { (decision) }
        @if !entry.reason.is_empty() { " " code.small { (entry.reason) } }
    }
}

/// One entry: its fields, its canonical JSON, and its inclusion proof checked here against
/// the latest signed checkpoint with the ledger's published key.
#[get("/workspace/ledger/{seq}")]
pub(crate) async fn entry_view(
    req: HttpRequest,
    state: web::Data<WebState>,
    seq: web::Path<String>,
) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, |_| true) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let Ok(seq) = seq.parse::<u64>() else {
        return WebError::NotFound.page(&ctx);
    };
    finish(entry_page(ctx, &state, principal, seq).await)
}

/// What checking an entry's inclusion found.
enum ProofStatus {
    /// In the tree the checkpoint signs.
    Verified {
        size: u64,
        root: String,
        path: Vec<String>,
        note: String,
    },
    /// Recorded after the latest checkpoint.
    Pending { size: u64 },
    /// No checkpoint has been signed yet.
    NoCheckpoint,
    /// The proof did not check out.
    Failed(String),
}

async fn entry_page(ctx: Ctx, state: &WebState, principal: Principal, seq: u64) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let found = match state.ledger.entry(scope_of(&principal), seq).await {
        Ok(entry) => entry,
        Err(pdx_circulation::LedgerError::EntryNotFound) => return Err(fail(WebError::NotFound)),
        Err(e) => return Err(fail(e.into())),
    };
    let status = match state.ledger.checkpoint(None).await {
        Err(pdx_circulation::LedgerError::CheckpointNotFound) => ProofStatus::NoCheckpoint,
        Err(e) => return Err(fail(e.into())),
        Ok((size, _)) if seq >= size => ProofStatus::Pending { size },
        Ok((size, note)) => {
            let proof = state
                .ledger
                .inclusion_proof(seq, size)
                .await
                .map_err(|e| fail(e.into()))?;
            let proof = InclusionProof {
                leaf_index: seq,
                tree_size: size,
                hashes: proof.hashes,
            };
            match check_inclusion(
                &proof,
                &found.canonical(),
                &note,
                &state.ledger.verifier_key(),
            ) {
                Ok(checkpoint) => ProofStatus::Verified {
                    size,
                    root: encode_hash(&checkpoint.root),
                    path: proof.hashes.iter().map(encode_hash).collect(),
                    note,
                },
                Err(error) => ProofStatus::Failed(error.to_string()),
            }
        }
    };
    record_read(
        state,
        &ctx,
        &principal,
        serde_json::json!({ "read": "entry", "via": "portal", "seq": seq }),
    )
    .await
    .map_err(fail)?;
    let calendar = state
        .ledger
        .accounting_calendar()
        .await
        .map_err(|e| fail(e.into()))?;
    let mut names = Names::default();
    let mut org_names = Vec::new();
    for org in [&found.actor_org, &found.provider_org] {
        org_names.push(match org {
            Some(id) => names.organization(state, &principal, id).await,
            None => None,
        });
    }
    let dataset = match &found.dataset {
        Some(id) => names.dataset(state, Some(&ctx), &principal, id).await,
        None => None,
    };
    let lang = ctx.lang;
    let canonical = String::from_utf8_lossy(&found.canonical()).into_owned();
    let pretty = serde_json::from_str::<serde_json::Value>(&canonical)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| canonical.clone());
    let title = lang.t_with(
        "entry-title",
        &[("seq", Arg::Number(i64::try_from(seq).unwrap_or(i64::MAX)))],
    );
    let content = html! {
        (crumbs(&ctx, &[("/workspace/ledger", &ctx.t("ledger-title"))]))
        h1 { (title) }
        @match &status {
            ProofStatus::Verified { size, .. } => {
                div.proof.verified role="status" {
                    p { strong { (ctx.t("entry-verified")) } }
                    p { (lang.t_with("entry-verified-detail", &[
                        ("seq", Arg::Number(i64::try_from(seq).unwrap_or(i64::MAX))),
                        ("size", Arg::Number(i64::try_from(*size).unwrap_or(i64::MAX))),
                    ])) }
                }
            }
            ProofStatus::Pending { size } => {
                div.proof.pending role="status" {
                    p { strong { (ctx.t("entry-pending")) } }
                    p { (lang.t_with("entry-pending-detail", &[("size", Arg::Number(i64::try_from(*size).unwrap_or(i64::MAX)))])) }
                }
            }
            ProofStatus::NoCheckpoint => {
                div.proof.pending role="status" { p { strong { (ctx.t("entry-no-checkpoint")) } } }
            }
            ProofStatus::Failed(why) => {
                div.proof.failed role="alert" {
                    p { strong { (ctx.t("entry-failed")) } }
                    p { code { (why) } }
                }
            }
        }
        dl.metadata {
            dt { (ctx.t("ledger-time")) } dd { (local_time(&calendar, &found.time)) }
            dt { (ctx.t("ledger-kind")) } dd { (kind_name(&ctx, &found.kind)) }
            dt { (ctx.t("ledger-decision")) } dd { (decision_tag(&ctx, &found)) }
            dt { (ctx.t("ledger-organization")) }
            dd { (org_names[0].as_ref().map(|(_, n)| n.clone()).unwrap_or_else(|| ctx.t("ledger-anonymous"))) }
            @if let Some((_, provider)) = &org_names[1] {
                dt { (ctx.t("entry-provider")) } dd { (provider) }
            }
            @if let Some((slug, title)) = &dataset {
                dt { (ctx.t("request-dataset")) } dd { a href={ "/datasets/" (slug) } { (title) } }
            }
            @if let Some(purpose) = &found.purpose {
                dt { (ctx.t("request-purpose")) } dd { (crate::words::purpose_name(lang, purpose)) }
            }
            @if found.bytes > 0 {
                dt { (ctx.t("file-size")) } dd { (lang.bytes(i64::try_from(found.bytes).unwrap_or(i64::MAX))) }
            }
            dt { (ctx.t("ledger-fee")) } dd { (lang.money(i64::try_from(found.fee).unwrap_or(i64::MAX))) }
        }
        h2 { (ctx.t("entry-canonical")) }
        p.hint { (ctx.t("entry-canonical-hint")) }
        pre.json { code { (pretty) } }
        @if let ProofStatus::Verified { root, path, note, size } = &status {
            h2 { (ctx.t("entry-proof")) }
            dl.metadata {
                dt { (ctx.t("entry-tree-size")) } dd { (lang.number(i64::try_from(*size).unwrap_or(i64::MAX))) }
                dt { (ctx.t("entry-root")) } dd { code.hash { (root) } }
                dt { (ctx.t("entry-path")) }
                dd { ol.hashes { @for hash in path { li { code.hash { (hash) } } } } }
            }
            h3 { (ctx.t("entry-checkpoint")) }
            pre.json { code { (note) } }
            p.small {
                (ctx.t("entry-check-yourself")) " "
                a href={ "/api/v1/ledger/entries/" (seq) "/proof?tree_size=" (size) } { (ctx.t("entry-proof-api")) }
                " · " a href="/api/v1/ledger/key" { (ctx.t("footer-ledger-key")) }
            }
        }
    };
    Ok(ok(frame(&ctx, &title, content)))
}

/// The statement form's fields.
#[derive(Debug, Default, Deserialize)]
struct StatementQuery {
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    month: Option<String>,
}

/// The organisation and month a statement is asked for, when the reader may read it.
async fn statement_target(
    state: &WebState,
    principal: &Principal,
    query: &StatementQuery,
) -> Result<(pdx_access::model::Organization, chrono::NaiveDate), WebError> {
    let organization = match given(&query.organization) {
        Some(key) => state.access.resolve_organization(&key).await?,
        None => principal.org,
    };
    pdx_access::permissions::read_accounts(principal, organization)?;
    let organization = state
        .access
        .organization(Some(principal), &organization.to_string())
        .await?;
    let calendar = state.ledger.accounting_calendar().await?;
    let month = given(&query.month)
        .and_then(|m| chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .unwrap_or_else(|| {
            pdx_circulation::accounting::month_start(calendar.day(state.clock.now()))
        });
    Ok((organization, month))
}

/// A statement as read for the browser: the organisation, the month, the lines, and the names
/// of the parties and datasets on them. The read is recorded in the ledger.
struct ReadStatement {
    organization: pdx_access::model::Organization,
    month: String,
    statement: pdx_circulation::ledger::Statement,
    names: Names,
}

async fn read_statement(
    ctx: &Ctx,
    state: &WebState,
    principal: &Principal,
    query: &StatementQuery,
    format: &str,
) -> Result<ReadStatement, WebError> {
    let (organization, month) = statement_target(state, principal, query).await?;
    let org = organization.id.to_string();
    let statement = state
        .ledger
        .statement(org.clone(), vec![Side::Consumer, Side::Provider], month)
        .await?;
    let month = month.format("%Y-%m").to_string();
    record_read(
        state,
        ctx,
        principal,
        serde_json::json!({
            "read": "statement", "via": "portal", "organization": org, "month": month,
            "checkpoint": statement.checkpoint.as_ref().map(|(size, _)| size), "format": format,
        }),
    )
    .await?;
    let mut names = Names::default();
    for (_, part) in &statement.sides {
        for line in &part.lines {
            names
                .organization(state, principal, &line.counterparty)
                .await;
            // The CSV is the API's document, with the datasets' own titles.
            let reader = (format != "csv").then_some(ctx);
            names.dataset(state, reader, principal, &line.dataset).await;
        }
    }
    Ok(ReadStatement {
        organization,
        month,
        statement,
        names,
    })
}

/// An organisation's statement for a month, in the browser.
#[get("/workspace/statements")]
pub(crate) async fn statement_view(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, |_| true) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: StatementQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    finish(statement_page(ctx, &state, principal, query).await)
}

async fn statement_page(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    query: StatementQuery,
) -> PageResult {
    let ReadStatement {
        organization,
        month: month_text,
        statement: found,
        names,
    } = read_statement(&ctx, state, &principal, &query, "html")
        .await
        .map_err(|e| (ctx.clone(), e))?;
    let lang = ctx.lang;
    let title = ctx.t("statement-title");
    let csv_link = format!(
        "/workspace/statements.csv?{}",
        serde_urlencoded::to_string([
            ("organization", organization.slug.as_str()),
            ("month", &month_text)
        ])
        .unwrap_or_default()
    );
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let content = html! {
        (crumbs(&ctx, &[("/workspace", &ctx.t("account-workspace"))]))
        h1 { (title) }
        p.lead { (organization.name) " · " (month_text) " · " (ctx.t("ledger-zone")) " " (found.calendar.name()) }
        form.filters method="get" action="/workspace/statements" {
            @if oversees(&principal) {
                div.field {
                    label for="organization" { (ctx.t("ledger-organization")) }
                    input #organization type="text" name="organization" value=(organization.slug) maxlength="200";
                }
            }
            div.field {
                label for="month" { (ctx.t("statement-month")) }
                input #month type="month" name="month" value=(month_text);
            }
            button type="submit" { (ctx.t("ledger-filter")) }
        }
        p {
            @match &found.checkpoint {
                Some((size, _)) => { (lang.t_with("statement-checkpoint", &[("size", Arg::Number(n(*size)))])) }
                None => { (ctx.t("entry-no-checkpoint")) }
            }
            " "
            a.button.secondary href=(csv_link) download { (ctx.t("statement-csv")) }
        }
        @for (side, part) in &found.sides {
            @let side_key = match side { Side::Consumer => "statement-consumer", Side::Provider => "statement-provider" };
            section aria-labelledby=(side_key) {
                h2 #(side_key) { (ctx.t(side_key)) }
                @if part.lines.is_empty() {
                    p { (ctx.t("statement-empty")) }
                } @else {
                    div.table-wrap {
                        table.statement {
                            thead { tr {
                                th scope="col" { (ctx.t("statement-counterparty")) }
                                th scope="col" { (ctx.t("request-dataset")) }
                                th scope="col" { (ctx.t("request-purpose")) }
                                th scope="col" class="num" { (ctx.t("grant-requests")) }
                                th scope="col" class="num" { (ctx.t("statement-denied")) }
                                th scope="col" class="num" { (ctx.t("file-size")) }
                                th scope="col" class="num" { (ctx.t("ledger-fee")) }
                                th scope="col" { (ctx.t("statement-entries")) }
                            } }
                            tbody {
                                @for line in &part.lines {
                                    tr {
                                        td { (names.name(&line.counterparty).unwrap_or_else(|| ctx.t("ledger-anonymous"))) }
                                        td { (names.name(&line.dataset).unwrap_or_else(|| line.dataset.clone())) }
                                        td { @if !line.purpose.is_empty() { (crate::words::purpose_name(lang, &line.purpose)) } }
                                        td.num { (lang.number(n(line.figures.requests))) }
                                        td.num { (lang.number(n(line.figures.denied))) }
                                        td.num { (lang.bytes(n(line.figures.bytes))) }
                                        td.num { (lang.money(n(line.figures.fee))) }
                                        td {
                                            @for (i, (a, b)) in line.seq_ranges.iter().take(6).enumerate() {
                                                @if i > 0 { " " }
                                                a href={ "/workspace/ledger/" (a) } { (a) }
                                                @if a != b { "–" a href={ "/workspace/ledger/" (b) } { (b) } }
                                            }
                                            @if line.seq_ranges.len() > 6 { " …" }
                                        }
                                    }
                                }
                            }
                            tfoot { tr {
                                th scope="row" colspan="3" { (ctx.t("statement-total")) }
                                td.num { (lang.number(n(part.total.requests))) }
                                td.num { (lang.number(n(part.total.denied))) }
                                td.num { (lang.bytes(n(part.total.bytes))) }
                                td.num { strong { (lang.money(n(part.total.fee))) } }
                                td {}
                            } }
                        }
                    }
                }
                @if part.pending > 0 {
                    p.small { (lang.t_with("statement-pending", &[("count", Arg::Number(n(part.pending)))])) }
                }
            }
        }
    };
    Ok(ok(frame(&ctx, &title, content)))
}

/// The statement as CSV, the same rows as the API's.
#[get("/workspace/statements.csv")]
pub(crate) async fn statement_csv(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let ctx = Ctx::load(&req).await;
    let principal = match crate::workspace::principal_for(&ctx, |_| true) {
        Ok(principal) => principal,
        Err(answer) => return *answer,
    };
    let query: StatementQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    finish(statement_csv_answer(ctx, &state, principal, query).await)
}

async fn statement_csv_answer(
    ctx: Ctx,
    state: &WebState,
    principal: Principal,
    query: StatementQuery,
) -> PageResult {
    let fail = |e: WebError| (ctx.clone(), e);
    let ReadStatement {
        organization,
        month: month_text,
        statement: found,
        names,
    } = read_statement(&ctx, state, &principal, &query, "csv")
        .await
        .map_err(fail)?;
    let org = organization.id.to_string();
    let body = found
        .to_csv(&org, &|id| names.name(id))
        .map_err(|e| fail(WebError::Internal(e.to_string())))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"statement-{}-{month_text}.csv\"",
                organization.slug
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
