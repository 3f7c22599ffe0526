//! The circulation ledger over HTTP: the verifier key and signed checkpoints (public, in the
//! C2SP formats), inclusion and consistency proofs (public: they reveal hashes only), and the
//! entries and export within the reader's scope — an enterprise its own entries, an agency those
//! it caused or on its datasets, auditors and platform admins everything. Reading entries is
//! itself recorded in the ledger.

use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pdx_circulation::{Entry, EntryFilter, LedgerError, ReadScope};
use pdx_core::{OrgKind, PageRequest, Principal, RequestId, Role, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::Authenticated;
use crate::error::{ApiError, Problem};
use crate::schemas::DecisionName;
use crate::state::ApiState;

/// The tree size an answer is about.
pub const X_PDX_TREE_SIZE: HeaderName = HeaderName::from_static("x-pdx-tree-size");

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::EntryNotFound => Self::ResourceNotFound("ledger entry".into()),
            LedgerError::CheckpointNotFound => Self::ResourceNotFound("checkpoint".into()),
            LedgerError::Range(e) => Self::Validation {
                code: "invalid_range",
                field: "tree_size".into(),
                message: e.to_string(),
            },
            LedgerError::Key(e) => Self::Internal(e.into()),
            LedgerError::Storage(e) => e.into(),
        }
    }
}

fn scope_of(principal: &Principal) -> ReadScope {
    if principal.has(Role::Auditor) || principal.has(Role::PlatformAdmin) {
        ReadScope::All
    } else if principal.org_kind == OrgKind::Agency {
        ReadScope::Agency(principal.org)
    } else {
        ReadScope::Organization(principal.org)
    }
}

pub(crate) async fn record_read(
    state: &ApiState,
    req: &HttpRequest,
    principal: &Principal,
    what: serde_json::Value,
) -> Result<(), ApiError> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    state
        .ledger
        .record_read(
            principal.user.to_string(),
            principal.org.to_string(),
            what,
            request_id,
        )
        .await?;
    Ok(())
}

/// The verifier key of the ledger's checkpoints, in the C2SP signed-note format
/// (`<name>+<key hash hex>+<base64 of 0x01 ‖ Ed25519 public key>`).
#[utoipa::path(
    tag = "ledger",
    responses((status = 200, description = "The verifier key", body = String, content_type = "text/plain"))
)]
#[get("/api/v1/ledger/key")]
pub(crate) async fn get_key(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", state.ledger.verifier_key()))
}

/// Which checkpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointQuery {
    /// The tree size of an earlier checkpoint; the latest when absent.
    pub size: Option<u64>,
}

/// A signed checkpoint in the C2SP `tlog-checkpoint` signed-note format. Every published
/// checkpoint is kept.
#[utoipa::path(
    tag = "ledger",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "The signed note", body = String, content_type = "text/plain"),
        (status = 404, description = "No checkpoint of this size (or none yet)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/checkpoint")]
pub(crate) async fn get_checkpoint(
    state: web::Data<ApiState>,
    query: web::Query<CheckpointQuery>,
) -> Result<HttpResponse, ApiError> {
    let (size, note) = state.ledger.checkpoint(query.size).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((X_PDX_TREE_SIZE, size.to_string()))
        .body(note))
}

/// A published checkpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckpointSummary {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
}

/// The live ledger's verification status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerStatusResponse {
    /// Whether every check passed.
    pub verified: bool,
    /// Entries in the ledger.
    pub size: u64,
    /// Entries recorded since the latest checkpoint (signed within the checkpoint interval).
    pub unsigned_entries: u64,
    /// The latest signed checkpoint: its signature checked with the ledger's key and its
    /// root recomputed from the stored entries.
    pub latest_checkpoint: Option<CheckpointSummary>,
    /// The checkpoint published before it.
    pub previous_checkpoint: Option<CheckpointSummary>,
    /// The consistency proof from the previous checkpoint to the latest, checked by the
    /// server; anyone can check it again with `pdx ledger prove consistency`.
    pub consistency_proof: Option<ConsistencyProofResponse>,
    /// What did not check out; empty when verified.
    pub problems: Vec<String>,
    /// When the checks ran.
    pub checked_at: String,
}

fn summary(checkpoint: pdx_circulation::ledger::SignedCheckpoint) -> CheckpointSummary {
    CheckpointSummary {
        size: checkpoint.size,
        note: checkpoint.note,
        signed_at: Entry::format_time(checkpoint.signed_at),
    }
}

/// The live ledger's verification status: the latest signed checkpoint checked against the
/// ledger's key and against the root of the stored entries, and the consistency proof from
/// the checkpoint before it, checked by the server. Public, like checkpoints and proofs: it
/// reveals sizes and hashes only.
#[utoipa::path(
    tag = "ledger",
    responses((status = 200, description = "The verification status", body = LedgerStatusResponse))
)]
#[get("/api/v1/ledger/status")]
pub(crate) async fn get_status(
    state: web::Data<ApiState>,
) -> Result<web::Json<LedgerStatusResponse>, ApiError> {
    let status = state.ledger.status().await?;
    let signed = status.latest.as_ref().map_or(0, |c| c.size);
    Ok(web::Json(LedgerStatusResponse {
        verified: status.problems.is_empty(),
        size: status.size,
        unsigned_entries: status.size.saturating_sub(signed),
        latest_checkpoint: status.latest.map(summary),
        previous_checkpoint: status.previous.map(summary),
        consistency_proof: status.consistency.map(|p| ConsistencyProofResponse {
            from: p.from,
            to: p.to,
            hashes: p.hashes.iter().map(|h| STANDARD.encode(h)).collect(),
        }),
        problems: status.problems,
        checked_at: Entry::format_time(status.checked_at),
    }))
}

/// Which inclusion proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry's sequence number (its leaf index).
    pub seq: u64,
    /// The size of the tree to prove inclusion in (that of a checkpoint).
    pub tree_size: u64,
}

/// An inclusion proof (RFC 9162 §2.1.3).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProofResponse {
    /// The leaf index (the entry's sequence number).
    pub leaf_index: u64,
    /// The tree size.
    pub tree_size: u64,
    /// The audit path, base64, bottom first.
    pub hashes: Vec<String>,
}

/// The inclusion proof of an entry in the tree of a given size.
#[utoipa::path(
    tag = "ledger",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionProofResponse),
        (status = 422, description = "The entry or size is outside the ledger", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/proof/inclusion")]
pub(crate) async fn get_inclusion_proof(
    state: web::Data<ApiState>,
    query: web::Query<InclusionQuery>,
) -> Result<web::Json<InclusionProofResponse>, ApiError> {
    let proof = state
        .ledger
        .inclusion_proof(query.seq, query.tree_size)
        .await?;
    Ok(web::Json(InclusionProofResponse {
        leaf_index: query.seq,
        tree_size: query.tree_size,
        hashes: proof.hashes.iter().map(|h| STANDARD.encode(h)).collect(),
    }))
}

/// Which consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree size.
    pub from: u64,
    /// The larger tree size.
    pub to: u64,
}

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProofResponse {
    /// The smaller tree size.
    pub from: u64,
    /// The larger tree size.
    pub to: u64,
    /// The proof hashes, base64.
    pub hashes: Vec<String>,
}

/// The proof that the tree of `to` entries extends that of `from` entries.
#[utoipa::path(
    tag = "ledger",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProofResponse),
        (status = 422, description = "The sizes are not 0 < from ≤ to ≤ size", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/proof/consistency")]
pub(crate) async fn get_consistency_proof(
    state: web::Data<ApiState>,
    query: web::Query<ConsistencyQuery>,
) -> Result<web::Json<ConsistencyProofResponse>, ApiError> {
    let proof = state.ledger.consistency_proof(query.from, query.to).await?;
    Ok(web::Json(ConsistencyProofResponse {
        from: query.from,
        to: query.to,
        hashes: proof.hashes.iter().map(|h| STANDARD.encode(h)).collect(),
    }))
}

/// Filters and paging of the entries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Sequence numbers from (inclusive).
    pub from_seq: Option<u64>,
    /// Sequence numbers to (exclusive).
    pub to_seq: Option<u64>,
    /// Recorded at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    /// Recorded before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// Only this dataset (id or slug).
    pub dataset: Option<String>,
    /// Only entries caused by this organisation (id or slug).
    pub organization: Option<String>,
    /// Only this kind, e.g. `data_access`, `data_replay`, `grant_revoked`, `sign_in`.
    pub kind: Option<String>,
    /// Only this decision: `permit`, `deny`, `success`, `failure`.
    #[param(value_type = Option<DecisionName>)]
    pub decision: Option<DecisionName>,
    /// Only this reason: a denial's code (e.g. `quota_exhausted`, `no_grant`) or a permit's
    /// basis (`open`, `owner`, `grant`).
    pub reason: Option<String>,
    /// Only entries relying on this grant (id).
    pub grant: Option<String>,
    /// Only entries declaring this purpose.
    pub purpose: Option<String>,
    /// Only entries on datasets of this provider organisation (id or slug).
    pub provider: Option<String>,
    /// `json` (a page, the default), or every matching entry as `csv` or `ndjson` (one
    /// canonical entry per line); `Accept: text/csv` or `application/x-ndjson` ask the same.
    pub format: Option<EntriesFormat>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, at most 100.
    pub per_page: Option<u32>,
}

/// How a search's entries are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntriesFormat {
    /// A page of entries as JSON.
    Json,
    /// Every matching entry, one CSV row each.
    Csv,
    /// Every matching entry, one canonical line each.
    Ndjson,
}

/// Entries per database read while streaming a search's result.
const EXPORT_BATCH: i64 = 5_000;
/// The longest filter value accepted, in characters.
const MAX_FILTER_CHARS: usize = 200;

/// Refuses a filter value longer than [`MAX_FILTER_CHARS`], naming its parameter.
pub(crate) fn check_filter_lengths(filters: &[(&str, &Option<String>)]) -> Result<(), ApiError> {
    for (field, value) in filters {
        if value
            .as_deref()
            .is_some_and(|v| v.chars().count() > MAX_FILTER_CHARS)
        {
            return Err(ApiError::Validation {
                code: "invalid_parameter",
                field: (*field).into(),
                message: format!("longer than {MAX_FILTER_CHARS} characters"),
            });
        }
    }
    Ok(())
}

/// An id that names nothing, for a slug that names nothing: a filter on it matches nothing.
fn nothing() -> String {
    "00000000-0000-0000-0000-000000000000".to_owned()
}

/// The id of an organisation filter given by id or slug.
pub(crate) async fn organization_id(
    state: &ApiState,
    key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    Ok(Some(match state.access.resolve_organization(&key).await {
        Ok(org) => org.to_string(),
        Err(pdx_access::AccessError::OrganizationNotFound) => nothing(),
        Err(other) => return Err(other.into()),
    }))
}

/// The id of a dataset filter given by id or slug, as the reader may see it.
pub(crate) async fn dataset_id(
    state: &ApiState,
    principal: &Principal,
    key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    Ok(Some(
        match state.catalog.dataset(Some(principal), &key).await {
            Ok(view) => view.dataset.id.to_string(),
            Err(pdx_catalog::CatalogError::DatasetNotFound) => nothing(),
            Err(other) => return Err(other.into()),
        },
    ))
}

/// Whether the request's `Accept` header names a media type (by prefix, parameters aside).
pub(crate) fn accepts(req: &HttpRequest, media: &str) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|p| p.trim().starts_with(media)))
}

/// The format asked for: the `format` parameter, else the `Accept` header.
fn entries_format(req: &HttpRequest, asked: Option<EntriesFormat>) -> EntriesFormat {
    if let Some(format) = asked {
        return format;
    }
    if accepts(req, "text/csv") {
        EntriesFormat::Csv
    } else if accepts(req, "application/x-ndjson") {
        EntriesFormat::Ndjson
    } else {
        EntriesFormat::Json
    }
}

/// The CSV header of a search's result.
const CSV_COLUMNS: [&str; 17] = [
    "seq",
    "time",
    "kind",
    "decision",
    "reason",
    "actor_org",
    "actor_user",
    "provider_org",
    "dataset",
    "distribution",
    "grant",
    "purpose",
    "bytes",
    "rows",
    "fee",
    "request_id",
    "subject",
];

/// Entries as CSV rows (with the header first when `header`).
fn csv_rows(entries: &[Entry], header: bool) -> Result<web::Bytes, std::io::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    if header {
        out.write_record(CSV_COLUMNS)?;
    }
    for e in entries {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        out.write_record([
            e.seq.to_string(),
            e.time.clone(),
            e.kind.clone(),
            e.decision.clone(),
            e.reason.clone(),
            text(&e.actor_org),
            text(&e.actor_user),
            text(&e.provider_org),
            text(&e.dataset),
            text(&e.distribution),
            text(&e.grant),
            text(&e.purpose),
            e.bytes.to_string(),
            e.rows.to_string(),
            e.fee.to_string(),
            text(&e.request_id),
            text(&e.subject),
        ])?;
    }
    out.into_inner()
        .map(web::Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Every entry matching a search, streamed batch after batch in ledger order.
fn stream_entries(
    ledger: pdx_circulation::LedgerService,
    scope: ReadScope,
    filter: EntryFilter,
    format: EntriesFormat,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    let start = filter.from_seq.unwrap_or(0);
    futures_util::stream::unfold(Some((start, true)), move |state| {
        let (ledger, filter) = (ledger.clone(), filter.clone());
        async move {
            let (from, first) = state?;
            let batch = ledger
                .entry_batch(
                    scope,
                    EntryFilter {
                        from_seq: Some(from),
                        ..filter
                    },
                    EXPORT_BATCH,
                )
                .await;
            let entries = match batch {
                Ok(entries) => entries,
                Err(error) => {
                    return Some((
                        Err(actix_web::error::ErrorInternalServerError(
                            error.to_string(),
                        )),
                        None,
                    ));
                }
            };
            if entries.is_empty() && !first {
                return None;
            }
            let next = entries
                .last()
                .map(|e| e.seq + 1)
                .filter(|_| entries.len() as i64 == EXPORT_BATCH);
            let body = match format {
                EntriesFormat::Csv => csv_rows(&entries, first)
                    .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string())),
                _ => {
                    let mut body = Vec::new();
                    for entry in &entries {
                        body.extend_from_slice(&entry.canonical());
                        body.push(b'\n');
                    }
                    Ok(web::Bytes::from(body))
                }
            };
            Some((body, next.map(|n| (n, false))))
        }
    })
}

/// One ledger entry (its canonical bytes are the leaf data of the tree).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryResponse {
    /// Position in the ledger, from 0.
    pub seq: u64,
    /// When it was recorded.
    pub time: String,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// `data_access` or another auditable event's kind.
    pub kind: String,
    /// The acting user (none: anonymous).
    pub actor_user: Option<String>,
    /// The acting organisation (none: anonymous).
    pub actor_org: Option<String>,
    /// The dataset concerned.
    pub dataset: Option<String>,
    /// The distribution concerned.
    pub distribution: Option<String>,
    /// The grant relied on.
    pub grant: Option<String>,
    /// The organisation whose dataset a data request concerned (its provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_org: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// `permit`/`deny` (data access) or `success`/`failure`.
    pub decision: String,
    /// The basis of a permit or the reason code of a denial.
    pub reason: String,
    /// Bytes served.
    pub bytes: u64,
    /// Rows served.
    pub rows: u64,
    /// Fee, in fen.
    pub fee: u64,
    /// What an event was done to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Further facts of an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The entry's canonical line: the leaf data of the tree, exactly as in an export. This
    /// answer, saved as a file, is what `pdx ledger prove inclusion --entry` takes.
    pub canonical: String,
}

impl From<Entry> for LedgerEntryResponse {
    fn from(e: Entry) -> Self {
        let canonical = String::from_utf8_lossy(&e.canonical()).into_owned();
        Self {
            canonical,
            seq: e.seq,
            time: e.time,
            request_id: e.request_id,
            kind: e.kind,
            actor_user: e.actor_user,
            actor_org: e.actor_org,
            dataset: e.dataset,
            distribution: e.distribution,
            grant: e.grant,
            provider_org: e.provider_org,
            purpose: e.purpose,
            decision: e.decision,
            reason: e.reason,
            bytes: e.bytes,
            rows: e.rows,
            fee: e.fee,
            subject: e.subject,
            detail: e.detail,
        }
    }
}

/// A page of ledger entries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryPage {
    /// Entries, in ledger order.
    pub items: Vec<LedgerEntryResponse>,
    /// How many match in all.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// Ledger entries within the caller's scope, in ledger order, filtered and paged — an
/// auditor's search across every organisation, slugs accepted for datasets and organisations.
/// With `format=csv` or `format=ndjson` (or the matching `Accept`) every matching entry is
/// streamed instead of a page. The read is recorded in the ledger.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(EntriesQuery),
    responses(
        (status = 200, description = "A page of entries, or every matching entry as CSV or NDJSON",
            content(
                (LedgerEntryPage = "application/json"),
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            )
        ),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter value that cannot be used", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/entries")]
pub(crate) async fn list_entries(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    query: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    check_filter_lengths(&[
        ("dataset", &query.dataset),
        ("organization", &query.organization),
        ("provider", &query.provider),
        ("kind", &query.kind),
        ("reason", &query.reason),
        ("grant", &query.grant),
        ("purpose", &query.purpose),
    ])?;
    let format = entries_format(&req, query.format);
    let page = PageRequest::new(query.page, query.per_page);
    // Slugs name the same things as ids; one that names nothing matches nothing.
    let dataset = dataset_id(&state, &principal, query.dataset).await?;
    let organization = organization_id(&state, query.organization).await?;
    let provider = organization_id(&state, query.provider).await?;
    let filter = EntryFilter {
        from_seq: query.from_seq,
        to_seq: query.to_seq,
        since: query.since,
        until: query.until,
        dataset,
        organization,
        kind: query.kind,
        decision: query.decision.map(|d| d.as_str().to_owned()),
        reason: query.reason,
        grant: query.grant,
        purpose: query.purpose,
        provider,
        newest_first: false,
    };
    let what = serde_json::json!({
        "read": if format == EntriesFormat::Json { "entries" } else { "entries_export" },
        "format": format, "from_seq": filter.from_seq, "to_seq": filter.to_seq,
        "since": filter.since, "until": filter.until,
        "dataset": filter.dataset, "organization": filter.organization, "kind": filter.kind,
        "decision": filter.decision, "reason": filter.reason, "grant": filter.grant,
        "purpose": filter.purpose, "provider": filter.provider, "page": page.page,
    });
    let scope = scope_of(&principal);
    if format != EntriesFormat::Json {
        record_read(&state, &req, &principal, what).await?;
        let (media, extension) = match format {
            EntriesFormat::Csv => ("text/csv; charset=utf-8", "csv"),
            _ => ("application/x-ndjson", "ndjson"),
        };
        return Ok(HttpResponse::Ok()
            .content_type(media)
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"ledger-entries.{extension}\""),
            ))
            .streaming(stream_entries(state.ledger.clone(), scope, filter, format)));
    }
    let found = state.ledger.entries(scope, filter, page).await?;
    record_read(&state, &req, &principal, what).await?;
    Ok(HttpResponse::Ok().json(LedgerEntryPage {
        total: found.total,
        page: found.page,
        per_page: found.per_page,
        items: found.items.into_iter().map(Into::into).collect(),
    }))
}

/// One ledger entry, if it is within the caller's scope. The read is recorded in the ledger.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("seq" = u64, Path, description = "Sequence number")),
    responses(
        (status = 200, description = "The entry", body = LedgerEntryResponse),
        (status = 404, description = "No such entry in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/entries/{seq}")]
pub(crate) async fn get_entry(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<u64>,
) -> Result<web::Json<LedgerEntryResponse>, ApiError> {
    let seq = path.into_inner();
    let entry = state.ledger.entry(scope_of(&principal), seq).await?;
    record_read(
        &state,
        &req,
        &principal,
        serde_json::json!({ "read": "entry", "seq": seq }),
    )
    .await?;
    Ok(web::Json(entry.into()))
}

/// How much to export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Export entries `[0, to)`; the latest checkpoint's size when absent.
    pub to: Option<u64>,
}

/// The ledger as NDJSON: entries `[0, to)`, each line exactly one entry's canonical bytes (the
/// leaf data of the tree), for `pdx ledger verify` with a checkpoint of that size. Auditors and
/// platform admins; the export is recorded in the ledger.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "NDJSON, one canonical entry per line", body = String, content_type = "application/x-ndjson"),
        (status = 403, description = "Not an auditor or platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`to` is beyond the ledger", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ledger/export")]
pub(crate) async fn export(
    req: HttpRequest,
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    if scope_of(&principal) != ReadScope::All {
        return Err(ApiError::Forbidden {
            check: "export_ledger",
            detail: "only auditors and platform admins export the whole ledger".into(),
        });
    }
    let to = match query.to {
        Some(to) => to,
        None => state.ledger.checkpoint(None).await?.0,
    };
    // The size is checked before anything is streamed.
    if to > 0 {
        state.ledger.inclusion_proof(to - 1, to).await?;
    }
    record_read(
        &state,
        &req,
        &principal,
        serde_json::json!({ "read": "export", "to": to }),
    )
    .await?;
    let pages = futures_util::StreamExt::map(state.ledger.export_ndjson(to), |page| {
        page.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((X_PDX_TREE_SIZE, to.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"ledger-{to}.ndjson\""),
        ))
        .streaming(pages))
}
