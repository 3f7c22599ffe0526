//! Accounting over HTTP: usage by period and party from the ledger's daily roll-ups, and each
//! organisation's monthly statement (what it received and owes, what it delivered and earns)
//! as JSON or CSV, computed from the entries below a signed checkpoint. Periods are local to
//! the accounting time zone, and every answer states their boundaries. Auditors and platform
//! admins read every organisation's figures; anyone else those of their own organisation, as
//! consumer or provider. Every read is recorded in the ledger.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, put, web};
use chrono::NaiveDate;
use pdx_access::permissions;
use pdx_circulation::accounting::{
    self, Calendar, Dimension, Figures, Outcome, Period, Side, StatementLines, UsageQuery,
};
use pdx_core::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::Authenticated;
use crate::error::{ApiError, Problem};
use crate::ledger::{accepts, check_filter_lengths, dataset_id, organization_id, record_read};
use crate::state::ApiState;

/// Most days a daily usage answer spans.
const MAX_DAYS: i64 = 366;
/// Most months a monthly usage answer spans.
const MAX_MONTHS: i64 = 120;

/// How long a usage period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodName {
    /// A local day.
    Day,
    /// A local calendar month.
    Month,
}

/// What became of a data request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    /// Permitted and served.
    Permit,
    /// Denied.
    Deny,
    /// An idempotent retry served again (never charged).
    Replay,
}

impl From<OutcomeName> for Outcome {
    fn from(name: OutcomeName) -> Self {
        match name {
            OutcomeName::Permit => Self::Permit,
            OutcomeName::Deny => Self::Deny,
            OutcomeName::Replay => Self::Replay,
        }
    }
}

/// Which usage, how grouped.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// The first local day (`YYYY-MM-DD`) or month (`YYYY-MM`) counted.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub from: String,
    /// The last local day or month counted (inclusive).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub to: String,
    /// Rows per `day` or per `month` (default).
    pub period: Option<PeriodName>,
    /// Comma-separated dimensions each row is keyed by: `dataset`, `provider`, `consumer`,
    /// `grant`, `purpose`, `decision`. None: one row per period.
    pub group_by: Option<String>,
    /// Only this dataset (id or slug).
    pub dataset: Option<String>,
    /// Only data of this provider organisation (id or slug).
    pub provider: Option<String>,
    /// Only requests of this consumer organisation (id or slug).
    pub consumer: Option<String>,
    /// Only requests under this grant (id).
    pub grant: Option<String>,
    /// Only requests declaring this purpose.
    pub purpose: Option<String>,
    /// Only requests of this outcome.
    pub decision: Option<OutcomeName>,
}

/// Counts and sums of data requests. Only permitted requests are charged; denials and replays
/// are counted apart and never count towards quotas or fees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FiguresResponse {
    /// Permitted requests (replays not included).
    pub requests: u64,
    /// Denied requests.
    pub denied: u64,
    /// Idempotent retries served again.
    pub replays: u64,
    /// Bytes served.
    pub bytes: u64,
    /// Rows served.
    pub rows: u64,
    /// Fees, in fen.
    pub fee: u64,
}

impl From<Figures> for FiguresResponse {
    fn from(f: Figures) -> Self {
        Self {
            requests: f.requests,
            denied: f.denied,
            replays: f.replays,
            bytes: f.bytes,
            rows: f.rows,
            fee: f.fee,
        }
    }
}

/// One period's figures for one combination of the grouped dimensions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageReportRow {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    /// The period's first instant, in the accounting time zone.
    pub start: String,
    /// The next period's first instant.
    pub end: String,
    /// The grouped dimensions' values: ids, a purpose or an outcome; null for none (an
    /// anonymous consumer, a request under no grant).
    pub key: BTreeMap<String, Option<String>>,
    /// The figures.
    pub figures: FiguresResponse,
    /// The first ledger entry counted.
    pub first_seq: u64,
    /// The last ledger entry counted.
    pub last_seq: u64,
}

/// Usage by period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The IANA time zone the periods are in.
    pub time_zone: String,
    /// Days or months.
    pub period: PeriodName,
    /// The first instant counted.
    pub from: String,
    /// The first instant after those counted.
    pub until: String,
    /// The dimensions rows are keyed by.
    pub group_by: Vec<String>,
    /// Rows in period order, then by key; periods without requests are left out.
    pub rows: Vec<UsageReportRow>,
    /// The sum of the rows.
    pub total: FiguresResponse,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation {
        code: "invalid_parameter",
        field: field.into(),
        message: message.into(),
    }
}

/// A local day from `YYYY-MM-DD`, or from `YYYY-MM` its month's first day (`last`: its last).
fn parse_day(field: &str, text: &str, last: bool) -> Result<NaiveDate, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day);
    }
    let month = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 7)
        .ok_or_else(|| invalid(field, "a day (YYYY-MM-DD) or a month (YYYY-MM)"))?;
    Ok(if last {
        accounting::next_month(month).pred_opt().unwrap_or(month)
    } else {
        month
    })
}

/// The local days `[from, to]` a pair of parameters names, a day or a month each.
fn parse_days(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let (from, to) = (parse_day("from", from, false)?, parse_day("to", to, true)?);
    if to < from {
        return Err(invalid("to", "before `from`"));
    }
    Ok((from, to))
}

fn parse_dimensions(text: Option<&str>) -> Result<Vec<Dimension>, ApiError> {
    let mut dimensions = BTreeSet::new();
    for name in text.unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let dimension = Dimension::parse(name).ok_or_else(|| {
            invalid(
                "group_by",
                format!(
                    "unknown dimension {name:?}: dataset, provider, consumer, grant, purpose or decision"
                ),
            )
        })?;
        dimensions.insert(dimension);
    }
    Ok(dimensions.into_iter().collect())
}

/// The period's first instant and the next period's.
fn bounds(calendar: Calendar, period: Period, first_day: NaiveDate) -> (String, String) {
    let next = match period {
        Period::Day => first_day.succ_opt().unwrap_or(first_day),
        Period::Month => accounting::next_month(first_day),
    };
    (
        calendar.local(calendar.start(first_day)),
        calendar.local(calendar.start(next)),
    )
}

/// Usage of data requests by local day or month, grouped by any of dataset, provider,
/// consumer, grant, purpose and decision, from the roll-ups the ledger keeps in the same
/// transaction as its entries. An auditor or platform admin reads everyone's; anyone else
/// the requests their organisation made or served. The read is recorded in the ledger.
#[utoipa::path(
    tag = "accounting",
    security(("bearer" = [])),
    params(UsageParams),
    responses(
        (status = 200, description = "Usage by period", body = UsageReport),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day, month, dimension or range that cannot be used", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/accounting/usage")]
pub(crate) async fn get_usage(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    params: web::Query<UsageParams>,
) -> Result<web::Json<UsageReport>, ApiError> {
    let params = params.into_inner();
    let period = match params.period.unwrap_or(PeriodName::Month) {
        PeriodName::Day => Period::Day,
        PeriodName::Month => Period::Month,
    };
    let (from, to) = parse_days(&params.from, &params.to)?;
    let span = (to - from).num_days() + 1;
    match period {
        Period::Day if span > MAX_DAYS => {
            return Err(invalid(
                "to",
                format!("at most {MAX_DAYS} days per answer by day; ask by month for longer"),
            ));
        }
        Period::Month if span > MAX_MONTHS * 31 => {
            return Err(invalid(
                "to",
                format!("at most {MAX_MONTHS} months per answer"),
            ));
        }
        _ => {}
    }
    let group_by = parse_dimensions(params.group_by.as_deref())?;
    check_filter_lengths(&[
        ("dataset", &params.dataset),
        ("provider", &params.provider),
        ("consumer", &params.consumer),
        ("grant", &params.grant),
        ("purpose", &params.purpose),
    ])?;
    let query = UsageQuery {
        from,
        to,
        period,
        group_by: group_by.clone(),
        dataset: dataset_id(&state, &principal, params.dataset).await?,
        provider: organization_id(&state, params.provider).await?,
        consumer: organization_id(&state, params.consumer).await?,
        grant: params.grant,
        purpose: params.purpose,
        decision: params.decision.map(Outcome::from),
        party: (!permissions::read_all_accounts(&principal)).then(|| principal.org.to_string()),
    };
    let what = serde_json::json!({
        "read": "usage", "from": from.to_string(), "to": to.to_string(),
        "period": params.period.unwrap_or(PeriodName::Month),
        "group_by": group_by.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "dataset": query.dataset, "provider": query.provider, "consumer": query.consumer,
        "grant": query.grant, "purpose": query.purpose, "party": query.party,
    });
    let (calendar, rows) = state.ledger.usage(query).await?;
    record_read(&state, &req, &principal, what).await?;
    let mut total = Figures::default();
    let rows = rows
        .into_iter()
        .map(|row| {
            let (start, end) = bounds(calendar, period, row.first_day);
            total.merge(&row.figures);
            let figures = FiguresResponse::from(row.figures);
            UsageReportRow {
                period: row.period,
                start,
                end,
                key: row
                    .key
                    .into_iter()
                    .map(|(d, v)| (d.as_str().to_owned(), Some(v).filter(|v| !v.is_empty())))
                    .collect(),
                figures,
                first_seq: row.first_seq,
                last_seq: row.last_seq,
            }
        })
        .collect();
    let until = to.succ_opt().unwrap_or(to);
    Ok(web::Json(UsageReport {
        time_zone: calendar.name().to_owned(),
        period: params.period.unwrap_or(PeriodName::Month),
        from: calendar.local(calendar.start(from)),
        until: calendar.local(calendar.start(until)),
        group_by: group_by.iter().map(|d| d.as_str().to_owned()).collect(),
        rows,
        total: total.into(),
    }))
}

/// Which side of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideName {
    /// What the organisation received and owes.
    Consumer,
    /// What the organisation delivered and earns.
    Provider,
}

/// Which parts of a statement.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    /// Only this side; both when absent.
    pub side: Option<SideName>,
}

/// One line of a statement: a month's requests under the same counterparty, dataset, grant
/// and purpose.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementLineResponse {
    /// The other party (organisation id): the provider on the consumer side, the consumer on
    /// the provider side; null for an anonymous consumer.
    pub counterparty: Option<String>,
    /// The other party's name, where it can be shown.
    pub counterparty_name: Option<String>,
    /// The dataset (id).
    pub dataset: String,
    /// The dataset's title, where it can be shown.
    pub dataset_title: Option<String>,
    /// The grant relied on (id); null for open data or the provider's own.
    pub grant: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The figures.
    pub figures: FiguresResponse,
    /// The ledger entries counted, as ranges `[first, last]` of sequence numbers; each one
    /// can be read and proven against the checkpoint.
    pub seq_ranges: Vec<[u64; 2]>,
}

/// One side of a statement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementSideResponse {
    /// The lines, by counterparty, dataset, grant and purpose.
    pub lines: Vec<StatementLineResponse>,
    /// Their sum; its `fee` is what the organisation owes (consumer side) or earns (provider
    /// side), in fen.
    pub total: FiguresResponse,
    /// Entries of the month recorded after the checkpoint, not on this statement yet.
    pub pending_entries: u64,
}

/// The checkpoint a statement was computed against.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementCheckpoint {
    /// Its tree size: the statement counts entries below it.
    pub size: u64,
    /// The signed note, as `GET /api/v1/ledger/checkpoint?size=` serves it.
    pub note: String,
}

/// An organisation's statement for a month.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementResponse {
    /// The organisation (id).
    pub organization: String,
    /// Its name.
    pub organization_name: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The IANA time zone of the month.
    pub time_zone: String,
    /// The month's first instant.
    pub start: String,
    /// The next month's first instant.
    pub end: String,
    /// The checkpoint the statement counts up to; null before the ledger's first.
    pub checkpoint: Option<StatementCheckpoint>,
    /// What the organisation received and owes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<StatementSideResponse>,
    /// What the organisation delivered and earns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<StatementSideResponse>,
}

/// Display names of organisations and datasets, as far as the reader may see them.
#[derive(Debug, Default)]
struct Names {
    organizations: BTreeMap<String, Option<String>>,
    datasets: BTreeMap<String, Option<String>>,
}

impl Names {
    async fn organization(
        &mut self,
        state: &ApiState,
        principal: &Principal,
        id: &str,
    ) -> Option<String> {
        if id.is_empty() {
            return None;
        }
        if let Some(name) = self.organizations.get(id) {
            return name.clone();
        }
        let name = state
            .access
            .organization(Some(principal), id)
            .await
            .ok()
            .map(|org| org.name);
        self.organizations.insert(id.to_owned(), name.clone());
        name
    }

    async fn dataset(
        &mut self,
        state: &ApiState,
        principal: &Principal,
        id: &str,
    ) -> Option<String> {
        if id.is_empty() {
            return None;
        }
        if let Some(title) = self.datasets.get(id) {
            return title.clone();
        }
        let title = state
            .catalog
            .dataset(Some(principal), id)
            .await
            .ok()
            .map(|view| view.dataset.title);
        self.datasets.insert(id.to_owned(), title.clone());
        title
    }
}

async fn statement_side(
    state: &ApiState,
    principal: &Principal,
    names: &mut Names,
    found: &StatementLines,
) -> StatementSideResponse {
    let mut lines = Vec::with_capacity(found.lines.len());
    for line in &found.lines {
        lines.push(StatementLineResponse {
            counterparty: Some(line.counterparty.clone()).filter(|c| !c.is_empty()),
            counterparty_name: names
                .organization(state, principal, &line.counterparty)
                .await,
            dataset: line.dataset.clone(),
            dataset_title: names.dataset(state, principal, &line.dataset).await,
            grant: Some(line.grant.clone()).filter(|g| !g.is_empty()),
            purpose: Some(line.purpose.clone()).filter(|p| !p.is_empty()),
            figures: line.figures.into(),
            seq_ranges: line.seq_ranges.iter().map(|&(a, b)| [a, b]).collect(),
        });
    }
    StatementSideResponse {
        lines,
        total: found.total.into(),
        pending_entries: found.pending,
    }
}

/// Whether the client asked for CSV: a `.csv` path or `Accept: text/csv`.
fn wants_csv(req: &HttpRequest, month: &str) -> bool {
    month.ends_with(".csv") || accepts(req, "text/csv")
}

/// An organisation's statement for a local month: as consumer, what it received under which
/// grant and what it owes; as provider, what it delivered and earns — each line traceable to
/// its ledger entries, computed from the entries below the latest signed checkpoint, which
/// the statement carries. JSON, or CSV with `Accept: text/csv` or a month ending in `.csv`.
/// Its own members, auditors and platform admins; the read is recorded in the ledger.
#[utoipa::path(
    tag = "accounting",
    security(("bearer" = [])),
    params(
        ("organization" = String, Path, description = "The organisation's id or slug"),
        ("month" = String, Path, description = "`YYYY-MM`, or `YYYY-MM.csv` for CSV", pattern = "^[0-9]{4}-(0[1-9]|1[0-2])(\\.csv)?$"),
        StatementParams,
    ),
    responses(
        (status = 200, description = "The statement (as JSON; CSV with one row per line and a total row per side when asked for)",
            content(
                (StatementResponse = "application/json"),
                (String = "text/csv"),
            )
        ),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another organisation's statement", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a month", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/accounting/statements/{organization}/{month}")]
pub(crate) async fn get_statement(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<(String, String)>,
    params: web::Query<StatementParams>,
) -> Result<HttpResponse, ApiError> {
    let (key, month_text) = path.into_inner();
    let csv = wants_csv(&req, &month_text);
    let month_name = month_text.trim_end_matches(".csv");
    let month = NaiveDate::parse_from_str(&format!("{month_name}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| month_name.len() == 7)
        .ok_or_else(|| invalid("month", "a month, YYYY-MM"))?;
    let org_id = state.access.resolve_organization(&key).await?;
    permissions::read_accounts(&principal, org_id)?;
    let organization = state
        .access
        .organization(Some(&principal), &org_id.to_string())
        .await?;
    let org = org_id.to_string();
    let mut names = Names::default();
    let sides = match params.side {
        Some(SideName::Consumer) => vec![Side::Consumer],
        Some(SideName::Provider) => vec![Side::Provider],
        None => vec![Side::Consumer, Side::Provider],
    };
    let statement = state.ledger.statement(org.clone(), sides, month).await?;
    let calendar = statement.calendar;
    let mut response = StatementResponse {
        organization: org.clone(),
        organization_name: organization.name.clone(),
        month: month.format("%Y-%m").to_string(),
        time_zone: calendar.name().to_owned(),
        start: calendar.local(statement.start),
        end: calendar.local(statement.end),
        checkpoint: statement
            .checkpoint
            .clone()
            .map(|(size, note)| StatementCheckpoint { size, note }),
        consumer: None,
        provider: None,
    };
    for (side, found) in &statement.sides {
        let part = statement_side(&state, &principal, &mut names, found).await;
        match side {
            Side::Consumer => response.consumer = Some(part),
            Side::Provider => response.provider = Some(part),
        }
    }
    record_read(
        &state,
        &req,
        &principal,
        serde_json::json!({
            "read": "statement", "organization": org, "month": response.month,
            "side": params.side, "checkpoint": response.checkpoint.as_ref().map(|c| c.size),
            "format": if csv { "csv" } else { "json" },
        }),
    )
    .await?;
    if csv {
        let name_of = |id: &str| {
            names
                .organizations
                .get(id)
                .or_else(|| names.datasets.get(id))
                .cloned()
                .flatten()
        };
        let body = statement
            .to_csv(&org, &name_of)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"statement-{}-{}.csv\"",
                    organization.slug, response.month
                ),
            ))
            .body(body));
    }
    Ok(HttpResponse::Ok().json(response))
}

/// Which period to look for anomalies in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnomalyParams {
    /// The first local day (`YYYY-MM-DD`) or month (`YYYY-MM`) looked at.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub from: String,
    /// The last local day or month looked at (inclusive).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub to: String,
}

/// One anomaly, with the ledger entries behind it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnomalyResponse {
    /// The rule: `denial_burst`, `near_quota`, `use_before_end`, `unverified_use`,
    /// `dormant_grant` or `volume_spike`.
    pub rule: String,
    /// What happened.
    pub description: String,
    /// The organisation concerned (id).
    pub organization: Option<String>,
    /// The user concerned (id).
    pub user: Option<String>,
    /// The grant concerned (id).
    pub grant: Option<String>,
    /// When it began, in the accounting time zone.
    pub from: String,
    /// When it ended.
    pub until: String,
    /// The figures the rule weighed, by name.
    pub figures: BTreeMap<String, i64>,
    /// The ledger entries behind it (at most a hundred), each readable and provable.
    pub seqs: Vec<u64>,
    /// How many entries are behind it.
    pub entries: u64,
}

/// The anomaly report of a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnomalyReport {
    /// The IANA time zone of the period.
    pub time_zone: String,
    /// The first instant looked at.
    pub from: String,
    /// The first instant after it.
    pub until: String,
    /// The thresholds the rules used (configuration `[accounting.anomalies]`).
    #[schema(value_type = Object)]
    pub thresholds: serde_json::Value,
    /// The findings, by rule and time.
    pub findings: Vec<AnomalyResponse>,
}

/// Anomalies in the circulation of a period: bursts of refusals by one principal, grants at
/// or near their quota, use just before a grant's expiry or revocation, use by an
/// organisation whose verification was withdrawn, use of a long-dormant grant, and days far
/// above a grant's usual volume — each with its rule, its figures and the ledger entries
/// behind it. Auditors and platform admins; the read is recorded in the ledger.
#[utoipa::path(
    tag = "accounting",
    security(("bearer" = [])),
    params(AnomalyParams),
    responses(
        (status = 200, description = "The findings", body = AnomalyReport),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day or month that cannot be used", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/audit/anomalies")]
pub(crate) async fn get_anomalies(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    params: web::Query<AnomalyParams>,
) -> Result<web::Json<AnomalyReport>, ApiError> {
    permissions::read_audit(&principal)?;
    let (from, to) = parse_days(&params.from, &params.to)?;
    if (to - from).num_days() >= MAX_DAYS {
        return Err(invalid("to", format!("at most {MAX_DAYS} days per report")));
    }
    let grants = state
        .licensing
        .grants(&principal)
        .await?
        .iter()
        .map(pdx_circulation::anomalies::GrantTerms::from)
        .collect();
    let (calendar, start, end, findings) = state.ledger.anomalies(grants, from, to).await?;
    record_read(
        &state,
        &req,
        &principal,
        serde_json::json!({
            "read": "anomalies", "from": from.to_string(), "to": to.to_string(),
            "findings": findings.len(),
        }),
    )
    .await?;
    Ok(web::Json(AnomalyReport {
        time_zone: calendar.name().to_owned(),
        from: calendar.local(start),
        until: calendar.local(end),
        thresholds: serde_json::to_value(state.ledger.anomaly_thresholds()).unwrap_or_default(),
        findings: findings
            .into_iter()
            .map(|f| AnomalyResponse {
                rule: f.rule.to_owned(),
                description: f.description,
                organization: f.organization,
                user: f.user,
                grant: f.grant,
                from: calendar.local(f.from),
                until: calendar.local(f.until),
                figures: f
                    .figures
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                seqs: f.seqs,
                entries: f.entries,
            })
            .collect(),
    }))
}

/// The requests part of a disclosure report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisclosureRequests {
    /// Access requests for the agency's datasets submitted in the year.
    pub received: u64,
    /// Of those, by their state now: `submitted`, `approved`, `rejected`, `withdrawn`.
    pub by_status: BTreeMap<String, u64>,
    /// Of those, decided automatically (inter-agency sharing without review).
    pub decided_automatically: u64,
    /// The median time from submission to decision, in seconds.
    pub median_decision_seconds: Option<i64>,
    /// Grants issued on the agency's datasets in the year.
    pub grants_issued: u64,
}

/// An agency's annual disclosure report: the datasets it opened and shared, the requests it
/// received and how it decided them, the grants it issued, and the circulation of its data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisclosureReport {
    /// The agency (id).
    pub organization: String,
    /// Its slug.
    pub organization_slug: String,
    /// Its name.
    pub organization_name: String,
    /// The calendar year.
    pub year: i32,
    /// The IANA time zone of the year.
    pub time_zone: String,
    /// The year's first instant.
    pub start: String,
    /// The next year's first instant.
    pub end: String,
    /// Whether the agency has made the report public.
    pub public: bool,
    /// Datasets first published in the year (`published`) and in the catalog at its end
    /// (`in_catalog`), each by opening class and by sharing class, then grade.
    #[schema(value_type = Object)]
    pub datasets: serde_json::Value,
    /// Requests received and their decisions, and grants issued.
    pub requests: DisclosureRequests,
    /// Data requests for the agency's datasets in the year: volumes and fees.
    pub circulation: FiguresResponse,
    /// The same by month (`YYYY-MM`).
    pub circulation_by_month: BTreeMap<String, FiguresResponse>,
}

/// A year of a disclosure path: `2026` or `2026.csv`.
fn parse_year(text: &str) -> Result<i32, ApiError> {
    text.trim_end_matches(".csv")
        .parse::<i32>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| invalid("year", "a year from 2000 to 2100"))
}

/// The CSV form of a disclosure report: one `section,item,value` row per figure.
fn disclosure_csv(report: &DisclosureReport) -> Result<String, ApiError> {
    let failed = |e: csv::Error| ApiError::Internal(Box::new(e));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["organization", "year", "section", "item", "value"])
        .map_err(failed)?;
    let mut row = |section: &str, item: &str, value: String| {
        out.write_record([
            report.organization_slug.as_str(),
            &report.year.to_string(),
            section,
            item,
            &value,
        ])
    };
    for (part, counts) in report.datasets.as_object().into_iter().flatten() {
        row(
            &format!("datasets_{part}"),
            "total",
            counts["total"].to_string(),
        )
        .map_err(failed)?;
        for by in ["by_opening", "by_sharing"] {
            for (class, grades) in counts[by].as_object().into_iter().flatten() {
                for (grade, n) in grades.as_object().into_iter().flatten() {
                    row(
                        &format!("datasets_{part}_{by}"),
                        &format!("{class}/{grade}"),
                        n.to_string(),
                    )
                    .map_err(failed)?;
                }
            }
        }
    }
    let requests = &report.requests;
    row("requests", "received", requests.received.to_string()).map_err(failed)?;
    for (status, n) in &requests.by_status {
        row("requests_by_status", status, n.to_string()).map_err(failed)?;
    }
    row(
        "requests",
        "decided_automatically",
        requests.decided_automatically.to_string(),
    )
    .map_err(failed)?;
    row(
        "requests",
        "median_decision_seconds",
        requests
            .median_decision_seconds
            .map(|s| s.to_string())
            .unwrap_or_default(),
    )
    .map_err(failed)?;
    row("grants", "issued", requests.grants_issued.to_string()).map_err(failed)?;
    let figures = |f: &FiguresResponse| {
        [
            ("requests", f.requests),
            ("denied", f.denied),
            ("replays", f.replays),
            ("bytes", f.bytes),
            ("rows", f.rows),
            ("fee_fen", f.fee),
        ]
    };
    for (item, value) in figures(&report.circulation) {
        row("circulation", item, value.to_string()).map_err(failed)?;
    }
    for (month, f) in &report.circulation_by_month {
        for (item, value) in figures(f) {
            row(&format!("circulation_{month}"), item, value.to_string()).map_err(failed)?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// An agency's annual disclosure report for a calendar year in the accounting time zone:
/// datasets opened and shared by class and grade, access requests received and how they were
/// decided (with the median decision time), grants issued, and the volumes and fees of the
/// requests for its data. JSON, or CSV with a year ending in `.csv` or `Accept: text/csv`.
/// The agency's members, auditors and platform admins read it; anyone once the agency has
/// made it public. The read is recorded in the ledger.
#[utoipa::path(
    tag = "accounting",
    params(
        ("organization" = String, Path, description = "The agency's id or slug"),
        ("year" = String, Path, description = "The year, e.g. `2026`, or `2026.csv` for CSV", pattern = "^(20[0-9]{2}|2100)(\\.csv)?$"),
    ),
    responses(
        (status = 200, description = "The report",
            content(
                (DisclosureReport = "application/json"),
                (String = "text/csv"),
            )
        ),
        (status = 401, description = "Not public, and not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not public, and another organisation's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agency", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a year", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organizations/{organization}/disclosures/{year}")]
pub(crate) async fn get_disclosure(
    req: HttpRequest,
    state: web::Data<ApiState>,
    crate::authn::MaybeAuthenticated(principal): crate::authn::MaybeAuthenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (key, year_text) = path.into_inner();
    let csv = wants_csv(&req, &year_text);
    let year = parse_year(&year_text)?;
    let organization = state
        .access
        .organization(principal.as_ref(), &key)
        .await
        .ok()
        .filter(|org| org.kind == pdx_core::OrgKind::Agency)
        .ok_or_else(|| ApiError::ResourceNotFound("no such agency".into()))?;
    let org = organization.id.to_string();
    let public = state.ledger.disclosure_public(org.clone(), year).await?;
    if !public {
        match &principal {
            None => {
                return Err(ApiError::authentication_required(
                    "this disclosure report is not public: sign in",
                ));
            }
            Some(p) => permissions::read_accounts(p, organization.id)?,
        }
    }
    let calendar = state.ledger.accounting_calendar().await?;
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let last = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or_default();
    let (start, end) = (
        calendar.start(first),
        calendar.start(last.succ_opt().unwrap_or(last)),
    );
    let catalog = state
        .catalog
        .disclosure(organization.id, start, end)
        .await?;
    let requests = state
        .licensing
        .disclosure(catalog.datasets.clone(), start, end)
        .await?;
    let (_, months) = state
        .ledger
        .usage(UsageQuery {
            from: first,
            to: last,
            period: Period::Month,
            group_by: Vec::new(),
            dataset: None,
            provider: Some(org.clone()),
            consumer: None,
            grant: None,
            purpose: None,
            decision: None,
            party: None,
        })
        .await?;
    let mut total = Figures::default();
    let mut by_month = BTreeMap::new();
    for row in months {
        total.merge(&row.figures);
        by_month.insert(row.period, FiguresResponse::from(row.figures));
    }
    let report = DisclosureReport {
        organization: org.clone(),
        organization_slug: organization.slug.clone(),
        organization_name: organization.name.clone(),
        year,
        time_zone: calendar.name().to_owned(),
        start: calendar.local(start),
        end: calendar.local(end),
        public,
        datasets: serde_json::to_value(&catalog).unwrap_or_default(),
        requests: DisclosureRequests {
            received: requests.received,
            by_status: requests.by_status,
            decided_automatically: requests.decided_automatically,
            median_decision_seconds: requests.median_decision_seconds,
            grants_issued: requests.grants_issued,
        },
        circulation: total.into(),
        circulation_by_month: by_month,
    };
    let request_id = req
        .extensions()
        .get::<pdx_core::RequestId>()
        .map(ToString::to_string);
    state
        .ledger
        .record_report_read(
            principal
                .as_ref()
                .map(|p| (p.user.to_string(), p.org.to_string())),
            serde_json::json!({
                "read": "disclosure", "organization": org, "year": year,
                "format": if csv { "csv" } else { "json" },
            }),
            request_id,
        )
        .await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"disclosure-{}-{year}.csv\"",
                    organization.slug
                ),
            ))
            .body(disclosure_csv(&report)?));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Whether a disclosure report is public.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosurePublication {
    /// `true`: anyone may read it; `false`: only the agency, auditors and platform admins.
    pub public: bool,
}

/// Makes an agency's disclosure report of a year public (or private again). The agency's
/// admins and platform admins; recorded in the ledger.
#[utoipa::path(
    tag = "accounting",
    security(("bearer" = [])),
    params(
        ("organization" = String, Path, description = "The agency's id or slug"),
        ("year" = i32, Path, description = "The year", minimum = 2000, maximum = 2100),
    ),
    request_body = DisclosurePublication,
    responses(
        (status = 200, description = "Changed", body = DisclosurePublication),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the agency's admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agency", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a year", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/organizations/{organization}/disclosures/{year}/publication")]
pub(crate) async fn put_disclosure_publication(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<DisclosurePublication>,
) -> Result<web::Json<DisclosurePublication>, ApiError> {
    let (key, year_text) = path.into_inner();
    let year = parse_year(&year_text)?;
    let organization = state
        .access
        .organization(Some(&principal), &key)
        .await
        .ok()
        .filter(|org| org.kind == pdx_core::OrgKind::Agency)
        .ok_or_else(|| ApiError::ResourceNotFound("no such agency".into()))?;
    permissions::edit_organization(&principal, organization.id)?;
    let request_id = req
        .extensions()
        .get::<pdx_core::RequestId>()
        .map(ToString::to_string);
    state
        .ledger
        .set_disclosure_public(
            organization.id.to_string(),
            year,
            body.public,
            (principal.user.to_string(), principal.org.to_string()),
            request_id,
        )
        .await?;
    Ok(web::Json(DisclosurePublication {
        public: body.public,
    }))
}

/// A public disclosure report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicDisclosure {
    /// The agency (id).
    pub organization: String,
    /// Its slug.
    pub organization_slug: String,
    /// Its name.
    pub organization_name: String,
    /// The year.
    pub year: i32,
    /// Where the report is.
    pub href: String,
}

/// The disclosure reports agencies have made public, newest year first. Anyone.
#[utoipa::path(
    tag = "accounting",
    responses((status = 200, description = "The public reports", body = Vec<PublicDisclosure>))
)]
#[get("/api/v1/disclosures")]
pub(crate) async fn list_public_disclosures(
    state: web::Data<ApiState>,
) -> Result<web::Json<Vec<PublicDisclosure>>, ApiError> {
    let mut found = Vec::new();
    for (org, year) in state.ledger.public_disclosures().await? {
        let Ok(organization) = state.access.organization(None, &org).await else {
            continue;
        };
        found.push(PublicDisclosure {
            href: format!(
                "/api/v1/organizations/{}/disclosures/{year}",
                organization.slug
            ),
            organization: org,
            organization_slug: organization.slug,
            organization_name: organization.name,
            year,
        });
    }
    Ok(web::Json(found))
}
