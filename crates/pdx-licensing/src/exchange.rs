//! The authorise-meter-log step of every data request, run by the ledger's group-commit
//! appender: each batch decides its requests in order with grant usage read under the ledger
//! lock (and updated as the batch goes), resolves byte ranges, honours idempotency keys, and
//! appends one entry per request — permit or deny, with its reason — in the batch's single
//! transaction. Nothing is served unless its entry is committed.

use std::collections::HashMap;

use pdx_catalog::model::{Dataset, Distribution, DistributionKind};
use pdx_circulation::store::{self as ledger, Receipt};
use pdx_circulation::{AppendError, Batch, Entry};
use pdx_core::{Clock, DatasetId, DistributionId, OrganizationId, Principal, Timestamp};
use pdx_storage::{DbConnection, StorageError};
use std::sync::Arc;

use crate::decision::{self, AccessDecision, Basis, DenyReason, Facts, GrantFacts, Requester};
use crate::error::LicensingError;
use crate::model::Grant;
use crate::store::{self, GrantScope};

/// The bytes a client asked for (`Range: bytes=…`, one range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// From `start` to `end` inclusive (to the end when absent).
    From {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: Option<u64>,
    },
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header value. `None` when it is not a single byte range, in which case
    /// HTTP lets the server send the whole representation.
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (start, end) = spec.split_once('-')?;
        let number = |s: &str| s.trim().parse::<u64>().ok();
        match (start.trim().is_empty(), end.trim().is_empty()) {
            (true, false) => number(end).map(Self::Suffix),
            (false, true) => number(start).map(|start| Self::From { start, end: None }),
            (false, false) => {
                let (start, end) = (number(start)?, number(end)?);
                (start <= end).then_some(Self::From {
                    start,
                    end: Some(end),
                })
            }
            (true, true) => None,
        }
    }

    /// The first and last byte (inclusive) of a representation of `size` bytes, or `None` when
    /// the range cannot be satisfied.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Self::From { start, end } => {
                (start < size).then(|| (start, end.map_or(size - 1, |e| e.min(size - 1))))
            }
            Self::Suffix(0) => None,
            Self::Suffix(n) => (size > 0).then(|| (size.saturating_sub(n), size - 1)),
        }
    }
}

/// Why a data request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The licensing decision refused it.
    Decision(DenyReason),
    /// The presented access token is not valid.
    InvalidToken,
    /// The declared purpose is not in the purposes vocabulary.
    UnknownPurpose,
    /// The requested byte range lies outside the data.
    RangeNotSatisfiable,
    /// The idempotency key was first used for a different request.
    IdempotencyKeyReused,
    /// The data could not be read, so nothing was served.
    DataUnavailable,
    /// The gateway could not forward the call to the API's upstream.
    Upstream(Unready),
}

/// Why the gateway cannot forward a permitted call to an API distribution's upstream; decided
/// before the call is logged, so that its entry is a refusal and charges nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unready {
    /// The publisher has not configured an upstream for the API.
    NotConfigured,
    /// The method is not among those the publisher allows.
    MethodNotAllowed,
    /// The path is not among those the publisher allows.
    PathNotAllowed,
    /// The upstream is already serving as many calls as it is allowed.
    Busy,
    /// The upstream failed repeatedly: calls are held off for a while.
    CircuitOpen,
}

impl Unready {
    /// The reason code written to the ledger.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotConfigured => "gateway_not_configured",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PathNotAllowed => "path_not_allowed",
            Self::Busy => "upstream_busy",
            Self::CircuitOpen => "upstream_unavailable",
        }
    }
}

impl Refusal {
    /// The reason code written to the ledger.
    pub fn code(self) -> &'static str {
        match self {
            Self::Decision(reason) => reason.code(),
            Self::InvalidToken => "invalid_token",
            Self::UnknownPurpose => "unknown_purpose",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::DataUnavailable => "data_unavailable",
            Self::Upstream(unready) => unready.code(),
        }
    }
}

/// What the edge opened of a file distribution before the request was decided, so that a
/// permit is written only for data that is about to be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Nothing to open: an API distribution, or a request refused before any decision.
    Nothing,
    /// The file under this storage key is open and holds `size` bytes.
    File {
        /// The storage key opened.
        key: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A row query's answer, written whole: it holds `rows` rows in `bytes` bytes, prepared
    /// for a reader with this basis (the columns shown depend on it); no basis when the query
    /// was refused before any answer was prepared.
    Rows {
        /// Rows in the answer.
        rows: u64,
        /// Its size.
        bytes: u64,
        /// The basis the answer was prepared for.
        basis: Option<Basis>,
    },
    /// A call to an API distribution, about to be forwarded to its upstream (or why it cannot
    /// be); the method and path are logged with the decision.
    Call {
        /// The HTTP method.
        method: String,
        /// The path below the API's base, without the query string.
        path: String,
        /// Whether the upstream can take the call now.
        ready: Result<(), Unready>,
    },
    /// The file is missing or unreadable, or its answer cannot be built.
    Unavailable,
}

impl Prepared {
    /// What the edge prepared of `distribution`'s file: the file, when it was opened.
    pub fn of(distribution: &Distribution, opened: bool) -> Self {
        match (opened, &distribution.storage_key) {
            (true, Some(key)) => Prepared::File {
                key: key.clone(),
                size: distribution
                    .byte_size
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
            },
            _ => Prepared::Unavailable,
        }
    }
}

/// One data request, as the HTTP edge hands it over.
#[derive(Debug, Clone)]
pub struct DataRequest {
    /// Who asks (none: anonymous).
    pub principal: Option<Principal>,
    /// What they ask for.
    pub distribution: DistributionId,
    /// The declared purpose (a value of the purposes vocabulary).
    pub purpose: Option<String>,
    /// The request id, for the ledger.
    pub request_id: Option<String>,
    /// A client's idempotency key: a retry under the same grant gets the first answer again.
    pub idempotency_key: Option<String>,
    /// The bytes asked for.
    pub range: Option<ByteRange>,
    /// What the edge opened of the data.
    pub prepared: Prepared,
    /// Set when the edge refused the request before any decision (a bad token).
    pub refused: Option<Refusal>,
}

impl DataRequest {
    /// A request for `distribution` by `principal` (none: anonymous), under the edge's request
    /// id, with no purpose, key or range declared, nothing opened and nothing refused yet.
    pub fn new(
        principal: Option<Principal>,
        distribution: DistributionId,
        request_id: Option<String>,
    ) -> Self {
        Self {
            principal,
            distribution,
            purpose: None,
            request_id,
            idempotency_key: None,
            range: None,
            prepared: Prepared::Nothing,
            refused: None,
        }
    }
}

/// A grant's quota as a refusal reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaState {
    /// The grant.
    pub grant: String,
    /// Most requests allowed.
    pub max_requests: Option<i64>,
    /// Requests used.
    pub requests_used: u64,
    /// Most bytes allowed.
    pub max_bytes: Option<i64>,
    /// Bytes used.
    pub bytes_used: u64,
    /// The bytes this request asked for.
    pub bytes_requested: u64,
    /// Most rows allowed.
    pub max_rows: Option<i64>,
    /// Rows used.
    pub rows_used: u64,
    /// The rows this request's answer holds.
    pub rows_requested: u64,
    /// When the grant ends.
    pub valid_until: Timestamp,
}

impl QuotaState {
    /// Requests left, when they are limited.
    pub fn requests_remaining(&self) -> Option<u64> {
        self.max_requests.map(|max| {
            u64::try_from(max)
                .unwrap_or(0)
                .saturating_sub(self.requests_used)
        })
    }

    /// Rows left, when they are limited.
    pub fn rows_remaining(&self) -> Option<u64> {
        self.max_rows.map(|max| {
            u64::try_from(max)
                .unwrap_or(0)
                .saturating_sub(self.rows_used)
        })
    }

    /// Bytes left, when they are limited.
    pub fn bytes_remaining(&self) -> Option<u64> {
        self.max_bytes.map(|max| {
            u64::try_from(max)
                .unwrap_or(0)
                .saturating_sub(self.bytes_used)
        })
    }
}

/// What is served: the basis, the bytes (inclusive range when partial) and, for an idempotent
/// retry, the receipt of the first answer it repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Why it is allowed.
    pub basis: Basis,
    /// The first and last byte served, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// For a retry under an idempotency key: the first answer's receipt (this request's own
    /// entry is a `data_replay` that counts nothing).
    pub replay_of: Option<u64>,
}

/// The answer to a data request: its receipt and what to do.
#[derive(Debug, Clone)]
pub struct DataAnswer {
    /// The ledger sequence number of the request's entry.
    pub seq: u64,
    /// The distribution.
    pub distribution: Distribution,
    /// Served, or refused and why.
    pub outcome: Result<Served, Refusal>,
    /// The quota, when it is the reason for a refusal.
    pub quota: Option<QuotaState>,
}

/// What became of a call the gateway forwarded under a permit: recorded after the answer was
/// relayed (or failed), as an `api_result` entry next to the permit's.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The sequence number of the permit the call was made under.
    pub request_seq: u64,
    /// The request id.
    pub request_id: Option<String>,
    /// Who called (none: anonymous).
    pub principal: Option<Principal>,
    /// The API distribution.
    pub distribution: DistributionId,
    /// The grant relied on.
    pub grant: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path below the API's base.
    pub path: String,
    /// How the call ended.
    pub result: CallResult,
}

/// How a forwarded call ended, as the gateway reports it once.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// The upstream's status, when it answered.
    pub status: Option<u16>,
    /// Whether the upstream's answer was relayed whole (the outcome's decision).
    pub relayed: bool,
    /// What happened: `answered`, or why the call failed.
    pub reason: &'static str,
    /// Bytes of the answer's body relayed to the caller.
    pub bytes: u64,
    /// Milliseconds until the upstream's answer began (or the call failed).
    pub latency_ms: u64,
    /// Milliseconds until the call ended.
    pub duration_ms: u64,
}

/// What the data path's appender is handed: a request to decide, or a call's outcome to log.
#[derive(Debug)]
pub(crate) enum Submission {
    Request(DataRequest),
    Outcome(CallOutcome),
}

/// What the appender answers: a decided request, or the sequence number of an outcome.
#[derive(Debug)]
pub(crate) enum Appended {
    Answer(Box<DataAnswer>),
    Outcome(u64),
}

/// What one request became inside a batch, before its entry is appended.
enum Pending {
    Failed(LicensingError),
    Log {
        entry: Box<Entry>,
        answer: Box<DataAnswer>,
        /// An idempotency key to remember with this answer's receipt.
        remember: Option<Box<(String, String, Receipt)>>,
    },
    Outcome {
        entry: Box<Entry>,
        seq: u64,
    },
}

/// The batch work of the data path (see the module docs).
pub(crate) struct ExchangeBatch {
    clock: Arc<dyn Clock>,
    facts: FactCache,
}

impl ExchangeBatch {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            facts: FactCache::default(),
        }
    }
}

/// Most distributions, and most requester–dataset pairs, whose facts are kept between batches;
/// beyond either the cache starts over.
const CACHED_FACTS: usize = 1_024;

/// The facts requests are decided on, read under the ledger lock and kept from batch to batch:
/// distributions with their datasets, organisations' verification, grants with their usage, and
/// licence policies. They stay valid while the state generations they were read under have not
/// moved (any catalog, organisation or licensing write, by any server process, moves one), and
/// the usage while the ledger has grown only by this appender's own batches, which keep it up
/// to date as they decide.
#[derive(Default)]
struct FactCache {
    /// The state generations the facts were read under.
    generations: Vec<i64>,
    /// The ledger's size after this appender's last committed batch, when the usage is its own.
    ledger_end: Option<u64>,
    distributions: HashMap<DistributionId, Arc<(Distribution, Dataset)>>,
    verified: HashMap<OrganizationId, bool>,
    grants: HashMap<(OrganizationId, DatasetId), Vec<GrantFacts>>,
    policies: HashMap<String, serde_json::Value>,
}

impl FactCache {
    /// Drops what is no longer known to be current, given the generations and the ledger's size
    /// read under the lock of the batch that starts.
    fn revalidate(&mut self, generations: Vec<i64>, ledger_size: u64) {
        if generations != self.generations
            || self.distributions.len() > CACHED_FACTS
            || self.grants.len() > CACHED_FACTS
        {
            self.distributions.clear();
            self.verified.clear();
            self.grants.clear();
            self.policies.clear();
            self.generations = generations;
        } else if self.ledger_end != Some(ledger_size) {
            // Another process (or an event outside the appender) wrote to the ledger: usage
            // may have moved.
            self.grants.clear();
        }
        self.ledger_end = None;
    }
}

/// The facts of one batch: the cache, the receipts given to idempotency keys so far, and the
/// sequence number the next entry of the batch will get.
struct Memo<'a> {
    facts: &'a mut FactCache,
    receipts: HashMap<(String, String), Receipt>,
    next_seq: u64,
}

impl Batch for ExchangeBatch {
    type Request = Submission;
    type Answer = Appended;
    type Error = LicensingError;

    fn run(
        &mut self,
        conn: &mut DbConnection,
        requests: Vec<Submission>,
    ) -> Result<Vec<Result<Appended, LicensingError>>, StorageError> {
        let now = self.clock.now();
        let mut head = ledger::lock(conn)?;
        self.facts
            .revalidate(pdx_storage::generation::snapshot(conn)?, head.size());
        let mut memo = Memo {
            facts: &mut self.facts,
            receipts: HashMap::new(),
            next_seq: head.size(),
        };
        let mut pending = Vec::with_capacity(requests.len());
        for submission in requests {
            let prepared = match submission {
                Submission::Request(request) => prepare(conn, &mut memo, request, now),
                Submission::Outcome(outcome) => outcome_entry(conn, &mut memo, outcome),
            };
            let item = match prepared {
                Ok(item) => item,
                Err(LicensingError::Storage(e)) => return Err(e),
                Err(e) => Pending::Failed(e),
            };
            if !matches!(item, Pending::Failed(_)) {
                memo.next_seq += 1;
            }
            pending.push(item);
        }
        let mut entries: Vec<Entry> = pending
            .iter_mut()
            .filter_map(|p| match p {
                Pending::Log { entry, .. } | Pending::Outcome { entry, .. } => {
                    Some(std::mem::replace(entry.as_mut(), Entry::data_access()))
                }
                Pending::Failed(_) => None,
            })
            .collect();
        let mut seqs = ledger::append_at(conn, &mut head, &mut entries, now)?;
        let mut answers = Vec::with_capacity(pending.len());
        for item in pending {
            answers.push(match item {
                Pending::Failed(e) => Err(e),
                Pending::Outcome { seq, .. } => Ok(Appended::Outcome(foreseen(&mut seqs, seq)?)),
                Pending::Log {
                    answer, remember, ..
                } => {
                    foreseen(&mut seqs, answer.seq)?;
                    if let Some(remembered) = remember {
                        let (grant, key, receipt) = &*remembered;
                        ledger::remember_receipt(conn, grant, key, receipt)?;
                    }
                    Ok(Appended::Answer(answer))
                }
            });
        }
        // The usage cached is this batch's; it holds once the batch commits (`rolled_back`
        // says when it does not).
        self.facts.ledger_end = Some(head.size());
        Ok(answers)
    }

    fn rolled_back(&mut self) {
        self.facts = FactCache::default();
    }
}

/// The next sequence number the append gave, which must be the one the batch foresaw.
fn foreseen(seqs: &mut std::ops::Range<u64>, expected: u64) -> Result<u64, StorageError> {
    let seq = seqs
        .next()
        .ok_or_else(|| StorageError::Task("a ledger entry went missing".into()))?;
    if seq != expected {
        return Err(StorageError::Task(
            "a ledger entry got another sequence number than foreseen".into(),
        ));
    }
    Ok(seq)
}

/// The request an idempotency key stands for: distribution, the range asked for, purpose and
/// the file's digest. A retry must match it exactly.
fn fingerprint(request: &DataRequest, distribution: &Distribution) -> String {
    format!(
        "{}|{:?}|{}|{}",
        request.distribution,
        request.range,
        request.purpose.as_deref().unwrap_or(""),
        distribution.sha256.as_deref().unwrap_or(""),
    )
}

/// A distribution with its dataset, from the batch's facts or read.
fn distribution_facts(
    conn: &mut DbConnection,
    memo: &mut Memo<'_>,
    id: DistributionId,
) -> Result<Arc<(Distribution, Dataset)>, LicensingError> {
    if let Some(found) = memo.facts.distributions.get(&id) {
        return Ok(Arc::clone(found));
    }
    let distribution = pdx_catalog::store::find_distribution(conn, id)?;
    let dataset = pdx_catalog::store::find_dataset(conn, &distribution.dataset_id.to_string())?;
    let found = Arc::new((distribution, dataset));
    memo.facts.distributions.insert(id, Arc::clone(&found));
    Ok(found)
}

/// The `api_result` entry of a call's outcome.
fn outcome_entry(
    conn: &mut DbConnection,
    memo: &mut Memo<'_>,
    outcome: CallOutcome,
) -> Result<Pending, LicensingError> {
    let found = distribution_facts(conn, memo, outcome.distribution)?;
    let dataset = &found.1;
    let mut entry = Entry::data_access();
    entry.kind = pdx_circulation::API_RESULT.into();
    entry.request_id = outcome.request_id;
    entry.actor_user = outcome.principal.as_ref().map(|p| p.user.to_string());
    entry.actor_org = outcome.principal.as_ref().map(|p| p.org.to_string());
    entry.dataset = Some(dataset.id.to_string());
    entry.provider_org = Some(dataset.organization_id.to_string());
    entry.distribution = Some(outcome.distribution.to_string());
    entry.grant = outcome.grant;
    entry.purpose = outcome.purpose;
    let result = outcome.result;
    entry.decision = if result.relayed { "success" } else { "failure" }.into();
    entry.reason = result.reason.into();
    entry.bytes = result.bytes;
    entry.detail = Some(serde_json::json!({
        "request_seq": outcome.request_seq,
        "method": outcome.method,
        "path": outcome.path,
        "status": result.status,
        "latency_ms": result.latency_ms,
        "duration_ms": result.duration_ms,
    }));
    Ok(Pending::Outcome {
        entry: Box::new(entry),
        seq: memo.next_seq,
    })
}

fn prepare(
    conn: &mut DbConnection,
    memo: &mut Memo<'_>,
    request: DataRequest,
    now: Timestamp,
) -> Result<Pending, LicensingError> {
    let found = distribution_facts(conn, memo, request.distribution)?;
    let (distribution, dataset) = (&found.0, &found.1);
    let seq = memo.next_seq;
    let mut entry = Entry::data_access();
    entry.request_id.clone_from(&request.request_id);
    entry.actor_user = request.principal.as_ref().map(|p| p.user.to_string());
    entry.actor_org = request.principal.as_ref().map(|p| p.org.to_string());
    entry.dataset = Some(dataset.id.to_string());
    entry.provider_org = Some(dataset.organization_id.to_string());
    entry.distribution = Some(distribution.id.to_string());
    entry.purpose.clone_from(&request.purpose);
    if let Prepared::Call { method, path, .. } = &request.prepared {
        entry.detail = Some(serde_json::json!({ "method": method, "path": path }));
    }
    let refuse = |mut entry: Entry, refusal: Refusal, quota: Option<QuotaState>, grant| {
        entry.decision = "deny".into();
        entry.reason = refusal.code().into();
        entry.grant = grant;
        Pending::Log {
            entry: Box::new(entry),
            answer: Box::new(DataAnswer {
                seq,
                distribution: distribution.clone(),
                outcome: Err(refusal),
                quota,
            }),
            remember: None,
        }
    };
    if let Some(refusal) = request.refused {
        return Ok(refuse(entry, refusal, None, None));
    }
    let principal = request.principal.as_ref();
    let grants_key = principal.map(|p| (p.org, dataset.id));
    if let (Some(p), Some(key)) = (principal, grants_key) {
        if let std::collections::hash_map::Entry::Vacant(slot) = memo.facts.verified.entry(p.org) {
            slot.insert(pdx_access::store::find_organization(conn, p.org)?.verified);
        }
        if !memo.facts.grants.contains_key(&key) {
            let facts = grant_facts(conn, &mut memo.facts.policies, p.org, dataset.id)?;
            memo.facts.grants.insert(key, facts);
        }
    }
    // What would be served: the file the edge opened (its size), or the range of it asked for.
    let size = match (&request.prepared, distribution.kind) {
        (Prepared::File { size, .. }, DistributionKind::File) => *size,
        _ => 0,
    };
    let range = match (request.range, distribution.kind) {
        (Some(range), DistributionKind::File) => Some(range.resolve(size)),
        _ => None,
    };
    let (rows, prepared_basis) = match request.prepared {
        Prepared::Rows { rows, basis, .. } => (Some(rows), Some(basis)),
        _ => (None, None),
    };
    let bytes = match (range, distribution.kind, &request.prepared) {
        (_, _, Prepared::Rows { bytes, .. }) => *bytes,
        (Some(Some((first, last))), _, _) => last - first + 1,
        (Some(None), _, _) | (None, DistributionKind::Api, _) => 0,
        (None, DistributionKind::File, _) => size,
    };
    let empty = Vec::new();
    let grants = grants_key
        .and_then(|k| memo.facts.grants.get(&k))
        .unwrap_or(&empty);
    let mut facts = Facts {
        requester: Requester {
            principal,
            verified: principal.is_some_and(|p| memo.facts.verified.get(&p.org) == Some(&true)),
        },
        owner: dataset.organization_id,
        // The dataset as stored is the published version while a revision is pending; a
        // distribution only that revision holds is not published yet.
        published: pdx_catalog::permissions::in_published_catalog(dataset, distribution),
        classification: dataset.classification,
        grants,
        distribution: distribution.id,
        purpose: request.purpose.as_deref(),
        bytes,
        rows,
        now,
    };
    let mut decision = decision::decide(&facts);
    // The grant the answer concerns: the one relied on, or the one whose refusal is reported.
    let concerned_grant = |decision: AccessDecision| match decision {
        AccessDecision::Permit(Basis::Grant { grant }) => Some(grant),
        AccessDecision::Deny(reason) if grant_reason(reason) => grants
            .iter()
            .max_by_key(|g| g.grant.created_at)
            .map(|g| g.grant.id),
        _ => None,
    };
    // An idempotency key under the grant relied on (or out of quota): a retry of an earlier
    // request repeats its answer when nothing about it differs and the grant still allows it.
    let keyed = match (&request.idempotency_key, decision) {
        (
            Some(key),
            AccessDecision::Permit(Basis::Grant { .. })
            | AccessDecision::Deny(DenyReason::QuotaExhausted),
        ) => concerned_grant(decision).map(|grant| (grant.to_string(), key.clone())),
        _ => None,
    };
    let fingerprint = fingerprint(&request, distribution);
    let mut replay_of = None;
    if let Some(key) = &keyed {
        let earlier = match memo.receipts.get(key) {
            Some(receipt) => Some(receipt.clone()),
            None => ledger::receipt(conn, &key.0, &key.1)?,
        };
        if let Some(earlier) = earlier {
            let served = range.flatten();
            if earlier.fingerprint.as_deref() != Some(fingerprint.as_str())
                || earlier.range != served
            {
                let grant = Some(key.0.clone());
                return Ok(refuse(entry, Refusal::IdempotencyKeyReused, None, grant));
            }
            // A retry counts nothing: it is decided as a request for no more bytes.
            facts.bytes = 0;
            decision = decision::decide(&facts);
            replay_of = Some(earlier.seq);
        }
    }
    let concerned_id = concerned_grant(decision);
    let concerned: Option<&GrantFacts> =
        concerned_id.and_then(|id| grants.iter().find(|g| g.grant.id == id));
    let grant_id = concerned_id.map(|g| g.to_string());
    let basis = match decision {
        AccessDecision::Deny(reason) => {
            let quota = (reason == DenyReason::QuotaExhausted)
                .then(|| concerned.map(|g| quota_state(g, bytes, rows.unwrap_or(0))))
                .flatten();
            return Ok(refuse(entry, Refusal::Decision(reason), quota, grant_id));
        }
        AccessDecision::Permit(basis) => basis,
    };
    let served_range = match range {
        Some(None) => return Ok(refuse(entry, Refusal::RangeNotSatisfiable, None, grant_id)),
        Some(Some(r)) => Some(r),
        None => None,
    };
    // An answer prepared for another basis shows other columns: it is not served.
    if prepared_basis.is_some_and(|b| b != Some(basis)) {
        return Ok(refuse(entry, Refusal::DataUnavailable, None, grant_id));
    }
    if let (
        Prepared::Call {
            ready: Err(unready),
            ..
        },
        DistributionKind::Api,
    ) = (&request.prepared, distribution.kind)
    {
        return Ok(refuse(entry, Refusal::Upstream(*unready), None, grant_id));
    }
    let opened = match (&request.prepared, distribution.kind) {
        (Prepared::Call { .. } | Prepared::Nothing, DistributionKind::Api) => true,
        (Prepared::Rows { .. }, DistributionKind::File) => true,
        (Prepared::File { key, .. }, DistributionKind::File) => {
            distribution.storage_key.as_deref() == Some(key.as_str())
        }
        _ => false,
    };
    if !opened {
        return Ok(refuse(entry, Refusal::DataUnavailable, None, grant_id));
    }
    entry.decision = "permit".into();
    entry.bytes = bytes;
    entry.rows = rows.unwrap_or(0);
    entry.grant.clone_from(&grant_id);
    let remember = match replay_of {
        Some(original) => {
            // Served again under the first answer's receipt; no quota or fee is counted.
            entry.kind = pdx_circulation::DATA_REPLAY.into();
            entry.reason = "replay".into();
            entry.detail = Some(serde_json::json!({ "original_seq": original }));
            None
        }
        None => {
            entry.reason = match basis {
                Basis::Open => "open",
                Basis::Owner => "owner",
                Basis::Grant { .. } => "grant",
            }
            .into();
            if let Some(facts) = concerned {
                let megabytes = bytes.div_ceil(1_000_000);
                entry.fee = u64::try_from(facts.grant.fee_per_request).unwrap_or(0)
                    + u64::try_from(facts.grant.fee_per_mb).unwrap_or(0) * megabytes;
            }
            // Later requests of this batch see this one's usage.
            if let (Some(key), Some(grant)) = (grants_key, concerned_id)
                && let Some(facts) = memo
                    .facts
                    .grants
                    .get_mut(&key)
                    .and_then(|all| all.iter_mut().find(|g| g.grant.id == grant))
            {
                facts.usage.requests += 1;
                facts.usage.bytes = facts.usage.bytes.saturating_add(bytes);
                facts.usage.rows = facts.usage.rows.saturating_add(rows.unwrap_or(0));
            }
            keyed
                .filter(|_| matches!(basis, Basis::Grant { .. }))
                .map(|(grant, key)| {
                    let receipt = Receipt {
                        seq,
                        fingerprint: Some(fingerprint),
                        range: served_range,
                    };
                    // A retry later in this batch gets this request's answer.
                    memo.receipts
                        .insert((grant.clone(), key.clone()), receipt.clone());
                    Box::new((grant, key, receipt))
                })
        }
    };
    Ok(Pending::Log {
        entry: Box::new(entry),
        answer: Box::new(DataAnswer {
            seq,
            distribution: distribution.clone(),
            outcome: Ok(Served {
                basis,
                range: served_range,
                replay_of,
            }),
            quota: None,
        }),
        remember,
    })
}

/// Whether a refusal is about the requester's grant (so the entry names it).
fn grant_reason(reason: DenyReason) -> bool {
    matches!(
        reason,
        DenyReason::GrantNotYetValid
            | DenyReason::GrantExpired
            | DenyReason::GrantSuspended
            | DenyReason::GrantRevoked
            | DenyReason::PurposeNotAllowed
            | DenyReason::QuotaExhausted
            | DenyReason::PolicyDenied
            | DenyReason::DistributionNotCovered
    )
}

fn quota_state(facts: &GrantFacts, bytes_requested: u64, rows_requested: u64) -> QuotaState {
    QuotaState {
        grant: facts.grant.id.to_string(),
        max_requests: facts.grant.max_requests,
        requests_used: facts.usage.requests,
        max_bytes: facts.grant.max_bytes,
        bytes_used: facts.usage.bytes,
        bytes_requested,
        max_rows: facts.grant.max_rows,
        rows_used: facts.usage.rows,
        rows_requested,
        valid_until: facts.grant.valid_until,
    }
}

/// The requester organisation's grants for a dataset, with usage and policies.
pub(crate) fn grant_facts(
    conn: &mut DbConnection,
    policies: &mut HashMap<String, serde_json::Value>,
    org: OrganizationId,
    dataset: DatasetId,
) -> Result<Vec<GrantFacts>, LicensingError> {
    let grants: Vec<Grant> = store::list_grants(conn, GrantScope::Consumer(org), Some(dataset))?;
    let ids: Vec<String> = grants.iter().map(|g| g.id.to_string()).collect();
    let usage = ledger::usage(conn, &ids)?;
    let mut facts = Vec::with_capacity(grants.len());
    for (grant, id) in grants.into_iter().zip(ids) {
        let policy = match policies.get(&grant.licence_id) {
            Some(policy) => policy.clone(),
            None => {
                let policy = store::licence_policy(conn, &grant.licence_id)?;
                policies.insert(grant.licence_id.clone(), policy.clone());
                policy
            }
        };
        facts.push(GrantFacts {
            usage: usage.get(&id).copied().unwrap_or_default().into(),
            grant,
            policy,
        });
    }
    Ok(facts)
}

/// Maps an appender failure to the licensing error the edge reports (503 for the ledger).
pub(crate) fn appender_failure(error: AppendError<LicensingError>) -> LicensingError {
    match error {
        AppendError::Request(e) => e,
        AppendError::Storage(e) => LicensingError::Storage(e),
        AppendError::Overloaded => LicensingError::Storage(StorageError::Overloaded),
        AppendError::Stopped => {
            LicensingError::Storage(StorageError::Task("the ledger appender has stopped".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve_as_rfc_9110_says() {
        let r = |s: &str| ByteRange::parse(s);
        assert_eq!(
            r("bytes=0-99"),
            Some(ByteRange::From {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(
            r("bytes=100-"),
            Some(ByteRange::From {
                start: 100,
                end: None
            })
        );
        assert_eq!(r("bytes=-10"), Some(ByteRange::Suffix(10)));
        assert_eq!(r("bytes=5-1"), None, "backwards");
        assert_eq!(
            r("bytes=0-1,4-5"),
            None,
            "several ranges: the whole is sent"
        );
        assert_eq!(r("items=0-1"), None);
        assert_eq!(r("bytes=-"), None);
        let size = 1000;
        assert_eq!(r("bytes=0-99").and_then(|x| x.resolve(size)), Some((0, 99)));
        assert_eq!(
            r("bytes=990-2000").and_then(|x| x.resolve(size)),
            Some((990, 999))
        );
        assert_eq!(
            r("bytes=-10").and_then(|x| x.resolve(size)),
            Some((990, 999))
        );
        assert_eq!(
            r("bytes=-5000").and_then(|x| x.resolve(size)),
            Some((0, 999))
        );
        assert_eq!(r("bytes=1000-").and_then(|x| x.resolve(size)), None);
        assert_eq!(r("bytes=-0").and_then(|x| x.resolve(size)), None);
        assert_eq!(r("bytes=0-").and_then(|x| x.resolve(0)), None);
    }
}
