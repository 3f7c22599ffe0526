//! Accounting from the ledger: usage rolled up by local day in the platform's time zone, kept
//! by every append in the same transaction as its entries and rebuilt from the entries alone,
//! and monthly statements computed from the entries below a signed checkpoint. Every figure is
//! a pure function of committed entries, so an auditor holding an export recounts it exactly
//! (`pdx ledger verify`).
//!
//! Only data requests count: `data_access` entries, permitted or denied, and `data_replay`
//! entries (an idempotent retry served again). Bytes, rows and fees are those of permitted
//! `data_access` entries; denials and replays are counted apart and never charged.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use diesel::prelude::*;
use pdx_core::Timestamp;
use pdx_storage::schema::{
    datasets, ledger_entries, ledger_rollup_deltas, ledger_rollup_state, ledger_rollups,
    ledger_rollups_current,
};
use pdx_storage::{DbConnection, StorageError};
use serde::Serialize;

use crate::entry::{DATA_ACCESS, DATA_REPLAY, Entry};

/// The time zone of accounting periods unless configured otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: give an IANA name such as Asia/Shanghai or Europe/Berlin")]
pub struct UnknownZone(pub String);

/// The time zone accounting periods are in: which local day and month an instant falls in,
/// and when a local day starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    zone: Tz,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            zone: chrono_tz::Asia::Shanghai,
        }
    }
}

impl Calendar {
    /// The calendar of an IANA time zone.
    pub fn new(name: &str) -> Result<Self, UnknownZone> {
        name.parse::<Tz>()
            .map(|zone| Self { zone })
            .map_err(|_| UnknownZone(name.to_owned()))
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.zone.name()
    }

    /// The local day an instant falls in.
    pub fn day(&self, time: Timestamp) -> NaiveDate {
        time.with_timezone(&self.zone).date_naive()
    }

    /// The first instant of a local day. Where a clock change skips midnight, the day starts
    /// at its first local time that exists.
    pub fn start(&self, day: NaiveDate) -> Timestamp {
        let mut local = day.and_time(NaiveTime::MIN);
        // No zone has skipped more than a day; a quarter of an hour is the finest offset step.
        for _ in 0..(24 * 4) {
            match self.zone.from_local_datetime(&local) {
                LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => {
                    return time.to_utc();
                }
                LocalResult::None => local += Duration::minutes(15),
            }
        }
        day.and_time(NaiveTime::MIN).and_utc()
    }

    /// An instant as the zone's local time, with its offset (RFC 3339).
    pub fn local(&self, time: Timestamp) -> String {
        time.with_timezone(&self.zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// The first day of the month a day is in.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first day of the month after the one a day is in.
pub fn next_month(day: NaiveDate) -> NaiveDate {
    let first = month_start(day);
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

/// What became of a data request, as the roll-ups count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Permitted and served.
    Permit,
    /// Denied.
    Deny,
    /// An idempotent retry, served again under the first answer's receipt.
    Replay,
}

impl Outcome {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permit => "permit",
            Self::Deny => "deny",
            Self::Replay => "replay",
        }
    }

    /// The outcome of a name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Permit, Self::Deny, Self::Replay]
            .into_iter()
            .find(|o| o.as_str() == name)
    }

    /// The outcome of an entry, if it is a data request.
    pub fn of(entry: &Entry) -> Option<Self> {
        Self::of_kind(&entry.kind, &entry.decision)
    }

    /// The outcome of an entry's kind and decision, if it is a data request.
    pub fn of_kind(kind: &str, decision: &str) -> Option<Self> {
        match (kind, decision) {
            (DATA_ACCESS, "permit") => Some(Self::Permit),
            (DATA_ACCESS, "deny") => Some(Self::Deny),
            (DATA_REPLAY, _) => Some(Self::Replay),
            _ => None,
        }
    }
}

/// Counts and sums of data requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Permitted requests (replays not included).
    pub requests: u64,
    /// Denied requests.
    pub denied: u64,
    /// Idempotent retries served again; never counted towards quotas or fees.
    pub replays: u64,
    /// Bytes served by permitted requests.
    pub bytes: u64,
    /// Rows served by permitted requests.
    pub rows: u64,
    /// Fees of permitted requests, in fen.
    pub fee: u64,
}

impl Figures {
    /// Counts `n` requests of an outcome with their sums.
    pub fn count(&mut self, outcome: Outcome, n: u64, bytes: u64, rows: u64, fee: u64) {
        match outcome {
            Outcome::Permit => {
                self.requests += n;
                self.bytes = self.bytes.saturating_add(bytes);
                self.rows = self.rows.saturating_add(rows);
                self.fee = self.fee.saturating_add(fee);
            }
            Outcome::Deny => self.denied += n,
            Outcome::Replay => self.replays += n,
        }
    }

    /// Adds other figures.
    pub fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.denied += other.denied;
        self.replays += other.replays;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.rows = self.rows.saturating_add(other.rows);
        self.fee = self.fee.saturating_add(other.fee);
    }
}

/// The key of a roll-up row: a local day and the request's parties and terms (empty when
/// absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    day: String,
    dataset: String,
    provider: String,
    consumer: String,
    grant: String,
    purpose: String,
    outcome: Outcome,
}

/// What a roll-up row adds up.
#[derive(Debug, Clone, Copy)]
struct Sums {
    requests: u64,
    bytes: u64,
    rows: u64,
    fee: u64,
    first_seq: u64,
    last_seq: u64,
}

/// Roll-up rows to add, gathered from entries in ledger order.
#[derive(Debug, Default)]
pub struct Deltas(HashMap<Key, Sums>);

impl Deltas {
    /// Counts an entry recorded on `day`, if it is a data request.
    pub fn add(&mut self, day: NaiveDate, entry: &Entry) {
        let Some(outcome) = Outcome::of(entry) else {
            return;
        };
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let key = Key {
            day: day.format("%Y-%m-%d").to_string(),
            dataset: text(&entry.dataset),
            provider: text(&entry.provider_org),
            consumer: text(&entry.actor_org),
            grant: text(&entry.grant),
            purpose: text(&entry.purpose),
            outcome,
        };
        let charged = outcome == Outcome::Permit;
        let (bytes, rows, fee) = if charged {
            (entry.bytes, entry.rows, entry.fee)
        } else {
            (0, 0, 0)
        };
        self.0
            .entry(key)
            .and_modify(|sums| {
                sums.requests += 1;
                sums.bytes = sums.bytes.saturating_add(bytes);
                sums.rows = sums.rows.saturating_add(rows);
                sums.fee = sums.fee.saturating_add(fee);
                sums.last_seq = entry.seq;
            })
            .or_insert(Sums {
                requests: 1,
                bytes,
                rows,
                fee,
                first_seq: entry.seq,
                last_seq: entry.seq,
            });
    }

    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows as columns, for PostgreSQL's `unnest`.
    pub(crate) fn columns(&self) -> Result<Columns, StorageError> {
        let mut columns = Columns::default();
        for (key, add) in &self.0 {
            let texts = [
                &key.day,
                &key.dataset,
                &key.provider,
                &key.consumer,
                &key.grant,
                &key.purpose,
                &key.outcome.as_str().to_owned(),
            ];
            for (column, value) in columns.keys.iter_mut().zip(texts) {
                column.push(value.clone());
            }
            let values = [
                add.requests,
                add.bytes,
                add.rows,
                add.fee,
                add.first_seq,
                add.last_seq,
            ];
            for (column, value) in columns.sums.iter_mut().zip(values) {
                column.push(to_i64(value)?);
            }
        }
        Ok(columns)
    }

    /// Records the rows as deltas in the caller's transaction (an append's): inserts only, so
    /// that no append waits on or rewrites a day row another append also counts in. [`fold`]
    /// moves them into the day rows later.
    pub fn record(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let mut rows = Vec::with_capacity(self.0.len());
        for (key, add) in &self.0 {
            rows.push((
                ledger_rollup_deltas::day.eq(&key.day),
                ledger_rollup_deltas::dataset_id.eq(&key.dataset),
                ledger_rollup_deltas::provider_id.eq(&key.provider),
                ledger_rollup_deltas::consumer_id.eq(&key.consumer),
                ledger_rollup_deltas::grant_id.eq(&key.grant),
                ledger_rollup_deltas::purpose.eq(&key.purpose),
                ledger_rollup_deltas::outcome.eq(key.outcome.as_str()),
                ledger_rollup_deltas::requests.eq(to_i64(add.requests)?),
                ledger_rollup_deltas::bytes.eq(to_i64(add.bytes)?),
                ledger_rollup_deltas::rows_served.eq(to_i64(add.rows)?),
                ledger_rollup_deltas::fee.eq(to_i64(add.fee)?),
                ledger_rollup_deltas::first_seq.eq(to_i64(add.first_seq)?),
                ledger_rollup_deltas::last_seq.eq(to_i64(add.last_seq)?),
            ));
        }
        // 13 parameters a row; SQLite allows 32,766 in one statement.
        for chunk in rows.chunks(2_000) {
            let insert = diesel::insert_into(ledger_rollup_deltas::table).values(chunk);
            match conn {
                DbConnection::Sqlite(sqlite) => insert.execute(sqlite)?,
                DbConnection::Postgres(pg) => insert.execute(pg)?,
            };
        }
        Ok(())
    }

    /// Adds the rows to the day rows themselves, in the caller's transaction (a rebuild's).
    fn add_to_day_rows(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        use diesel::sql_types::{BigInt, Text};
        for (key, add) in &self.0 {
            diesel::sql_query(format!("INSERT INTO ledger_rollups {ROLLUP_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {ROLLUP_CONFLICT}"))
                .bind::<Text, _>(&key.day)
                .bind::<Text, _>(&key.dataset)
                .bind::<Text, _>(&key.provider)
                .bind::<Text, _>(&key.consumer)
                .bind::<Text, _>(&key.grant)
                .bind::<Text, _>(&key.purpose)
                .bind::<Text, _>(key.outcome.as_str())
                .bind::<BigInt, _>(to_i64(add.requests)?)
                .bind::<BigInt, _>(to_i64(add.bytes)?)
                .bind::<BigInt, _>(to_i64(add.rows)?)
                .bind::<BigInt, _>(to_i64(add.fee)?)
                .bind::<BigInt, _>(to_i64(add.first_seq)?)
                .bind::<BigInt, _>(to_i64(add.last_seq)?)
                .execute(conn)?;
        }
        Ok(())
    }
}

/// Advisory-lock key that serialises folds and rebuilds of the roll-ups across the server
/// processes of one PostgreSQL database (SQLite has one writer at a time anyway).
const ROLLUP_LOCK_KEY: i64 = 0x5044_585f_524f_4c4c; // "PDX_ROLL"

/// Takes the roll-ups' lock until the caller's transaction ends (PostgreSQL only).
fn lock_rollups(conn: &mut DbConnection) -> Result<(), StorageError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(ROLLUP_LOCK_KEY)
            .execute(pg)?;
    }
    Ok(())
}

/// Moves the recorded deltas into the day rows, in the caller's write transaction; returns
/// how many delta rows it folded. Appends may record more meanwhile: the fold takes those
/// up to the highest sequence number it saw first, which on PostgreSQL covers every delta
/// committed before it (an append holds the ledger's lock until it commits, so deltas commit
/// in sequence order) and none committed after. Readers see the day rows and the deltas in
/// one statement ([`ledger_rollups_current`]), so the figures are the same before and after.
pub fn fold(conn: &mut DbConnection) -> Result<u64, StorageError> {
    lock_rollups(conn)?;
    let upto: Option<i64> = ledger_rollup_deltas::table
        .select(diesel::dsl::max(ledger_rollup_deltas::first_seq))
        .first(conn)?;
    let Some(upto) = upto else {
        return Ok(0);
    };
    diesel::sql_query(format!(
        "INSERT INTO ledger_rollups {ROLLUP_COLUMNS} \
         SELECT day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome, \
           CAST(SUM(requests) AS BIGINT), CAST(SUM(bytes) AS BIGINT), \
           CAST(SUM(rows_served) AS BIGINT), CAST(SUM(fee) AS BIGINT), \
           MIN(first_seq), MAX(last_seq) \
         FROM ledger_rollup_deltas WHERE first_seq <= $1 \
         GROUP BY day, dataset_id, provider_id, consumer_id, grant_id, purpose, outcome \
         {ROLLUP_CONFLICT}"
    ))
    .bind::<diesel::sql_types::BigInt, _>(upto)
    .execute(conn)?;
    let folded = diesel::delete(ledger_rollup_deltas::table)
        .filter(ledger_rollup_deltas::first_seq.le(upto))
        .execute(conn)?;
    Ok(folded as u64)
}

/// Roll-up rows as columns: the keys (day, dataset, provider, consumer, grant, purpose,
/// outcome) and the sums (requests, bytes, rows, fee, first and last seq).
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub(crate) keys: [Vec<String>; 7],
    pub(crate) sums: [Vec<i64>; 6],
}

/// The roll-up's columns in the order inserts give them.
pub(crate) const ROLLUP_COLUMNS: &str = "(day, dataset_id, provider_id, consumer_id, grant_id, \
    purpose, outcome, requests, bytes, rows_served, fee, first_seq, last_seq)";

/// How an insert adds to an existing roll-up row. Entries are counted in ledger order, so the
/// row's first entry stays and its last is the new one's.
pub(crate) const ROLLUP_CONFLICT: &str = "ON CONFLICT (day, dataset_id, provider_id, \
    consumer_id, grant_id, purpose, outcome) DO UPDATE SET \
    requests = ledger_rollups.requests + excluded.requests, \
    bytes = ledger_rollups.bytes + excluded.bytes, \
    rows_served = ledger_rollups.rows_served + excluded.rows_served, \
    fee = ledger_rollups.fee + excluded.fee, \
    last_seq = excluded.last_seq";

fn to_i64(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::CorruptRow("figure out of range".into()))
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The time zone the roll-ups are kept in, if they have been built.
pub fn kept_in(conn: &mut DbConnection) -> Result<Option<Calendar>, StorageError> {
    let zone: Option<String> = ledger_rollup_state::table
        .find(1)
        .select(ledger_rollup_state::time_zone)
        .first(conn)
        .optional()?;
    zone.map(|name| {
        Calendar::new(&name)
            .map_err(|e| StorageError::CorruptRow(format!("ledger_rollup_state: {e}")))
    })
    .transpose()
}

/// What a rebuild of the roll-ups did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    /// How far into the ledger the rebuild read: one past the last data request counted.
    pub entries: u64,
    /// Data requests counted.
    pub requests: u64,
    /// Roll-up rows written.
    pub rows: u64,
}

/// Entries read from the database at a time while rebuilding.
const REBUILD_BATCH: i64 = 20_000;

/// Rebuilds the roll-ups from the ledger's entries in `calendar`'s time zone, in the caller's
/// write transaction; it takes the ledger's write lock, so no entry is appended meanwhile.
/// `progress` hears the entries read so far.
pub fn rebuild(
    conn: &mut DbConnection,
    calendar: Calendar,
    now: Timestamp,
    mut progress: impl FnMut(u64),
) -> Result<Rebuilt, StorageError> {
    crate::store::lock(conn)?;
    lock_rollups(conn)?;
    diesel::delete(ledger_rollups::table).execute(conn)?;
    diesel::delete(ledger_rollup_deltas::table).execute(conn)?;
    let mut done = Rebuilt {
        entries: 0,
        requests: 0,
        rows: 0,
    };
    let mut written: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let mut from = 0_i64;
    loop {
        let bodies: Vec<(i64, String)> = ledger_entries::table
            .filter(ledger_entries::seq.ge(from))
            .filter(ledger_entries::kind.eq_any([DATA_ACCESS, DATA_REPLAY]))
            .order(ledger_entries::seq.asc())
            .limit(REBUILD_BATCH)
            .select((ledger_entries::seq, ledger_entries::body))
            .load(conn)?;
        let Some(&(last, _)) = bodies.last() else {
            break;
        };
        let mut deltas = Deltas::default();
        for (seq, body) in &bodies {
            let entry = Entry::decode(body.as_bytes())
                .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")))?;
            let time = chrono::DateTime::parse_from_rfc3339(&entry.time)
                .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq} time: {e}")))?;
            deltas.add(calendar.day(time.to_utc()), &entry);
            done.requests += 1;
        }
        written.extend(deltas.0.keys().cloned());
        deltas.add_to_day_rows(conn)?;
        done.entries = u64::try_from(last + 1).unwrap_or(0);
        progress(done.entries);
        from = last + 1;
    }
    done.rows = written.len() as u64;
    diesel::delete(ledger_rollup_state::table).execute(conn)?;
    diesel::insert_into(ledger_rollup_state::table)
        .values((
            ledger_rollup_state::singleton.eq(1),
            ledger_rollup_state::time_zone.eq(calendar.name()),
            ledger_rollup_state::rebuilt_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(done)
}

/// How long a usage period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A local day.
    Day,
    /// A local calendar month.
    Month,
}

/// What usage can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The dataset asked for.
    Dataset,
    /// The organisation that published it.
    Provider,
    /// The organisation that asked (none: anonymous).
    Consumer,
    /// The grant relied on.
    Grant,
    /// The declared purpose.
    Purpose,
    /// Permitted, denied or replayed.
    Decision,
}

impl Dimension {
    /// Every dimension, in the order of a row's key.
    pub const ALL: [Self; 6] = [
        Self::Dataset,
        Self::Provider,
        Self::Consumer,
        Self::Grant,
        Self::Purpose,
        Self::Decision,
    ];

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dataset => "dataset",
            Self::Provider => "provider",
            Self::Consumer => "consumer",
            Self::Grant => "grant",
            Self::Purpose => "purpose",
            Self::Decision => "decision",
        }
    }

    /// The dimension of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// Which usage to count and how to group it.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    /// The first local day counted.
    pub from: NaiveDate,
    /// The last local day counted (inclusive).
    pub to: NaiveDate,
    /// Days or months.
    pub period: Period,
    /// The dimensions each row is keyed by besides its period.
    pub group_by: Vec<Dimension>,
    /// Only this dataset (id).
    pub dataset: Option<String>,
    /// Only data of this provider (organisation id).
    pub provider: Option<String>,
    /// Only requests of this consumer (organisation id).
    pub consumer: Option<String>,
    /// Only requests under this grant (id).
    pub grant: Option<String>,
    /// Only requests declaring this purpose.
    pub purpose: Option<String>,
    /// Only requests of this outcome.
    pub decision: Option<Outcome>,
    /// Only requests in which this organisation (id) is the consumer or the provider: what a
    /// reader who is not an auditor may see.
    pub party: Option<String>,
}

/// One period's figures for one combination of the grouped dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    /// The period's first day.
    pub first_day: NaiveDate,
    /// The grouped dimensions' values (an empty string: none, e.g. an anonymous consumer).
    pub key: BTreeMap<Dimension, String>,
    /// The figures.
    pub figures: Figures,
    /// The first ledger entry counted.
    pub first_seq: u64,
    /// The last ledger entry counted.
    pub last_seq: u64,
}

type RollupRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// Usage from the roll-ups, in period order and then by key.
pub fn usage(conn: &mut DbConnection, query: &UsageQuery) -> Result<Vec<UsageRow>, StorageError> {
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let mut select = ledger_rollups_current::table
        .filter(ledger_rollups_current::day.ge(day(query.from)))
        .filter(ledger_rollups_current::day.le(day(query.to)))
        .into_boxed();
    if let Some(v) = &query.dataset {
        select = select.filter(ledger_rollups_current::dataset_id.eq(v.clone()));
    }
    if let Some(v) = &query.provider {
        select = select.filter(ledger_rollups_current::provider_id.eq(v.clone()));
    }
    if let Some(v) = &query.consumer {
        select = select.filter(ledger_rollups_current::consumer_id.eq(v.clone()));
    }
    if let Some(v) = &query.grant {
        select = select.filter(ledger_rollups_current::grant_id.eq(v.clone()));
    }
    if let Some(v) = &query.purpose {
        select = select.filter(ledger_rollups_current::purpose.eq(v.clone()));
    }
    if let Some(v) = query.decision {
        select = select.filter(ledger_rollups_current::outcome.eq(v.as_str()));
    }
    if let Some(v) = &query.party {
        select = select.filter(
            ledger_rollups_current::consumer_id
                .eq(v.clone())
                .or(ledger_rollups_current::provider_id.eq(v.clone())),
        );
    }
    let rows: Vec<RollupRow> = select
        .select((
            ledger_rollups_current::day,
            ledger_rollups_current::dataset_id,
            ledger_rollups_current::provider_id,
            ledger_rollups_current::consumer_id,
            ledger_rollups_current::grant_id,
            ledger_rollups_current::purpose,
            ledger_rollups_current::outcome,
            ledger_rollups_current::requests,
            ledger_rollups_current::bytes,
            ledger_rollups_current::rows_served,
            ledger_rollups_current::fee,
            ledger_rollups_current::first_seq,
            ledger_rollups_current::last_seq,
        ))
        .load(conn)?;
    let mut grouped: BTreeMap<(String, Vec<String>), UsageRow> = BTreeMap::new();
    for row in rows {
        let (day_text, dataset, provider, consumer, grant, purpose, outcome_text) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
        let Some(outcome) = Outcome::parse(&outcome_text) else {
            return Err(StorageError::CorruptRow(format!(
                "ledger_rollups.outcome {outcome_text:?}"
            )));
        };
        let first = NaiveDate::parse_from_str(&day_text, "%Y-%m-%d")
            .map_err(|_| StorageError::CorruptRow(format!("ledger_rollups.day {day_text:?}")))?;
        let (period, first_day) = match query.period {
            Period::Day => (day_text, first),
            Period::Month => (first.format("%Y-%m").to_string(), month_start(first)),
        };
        let value = |d: Dimension| match d {
            Dimension::Dataset => dataset.clone(),
            Dimension::Provider => provider.clone(),
            Dimension::Consumer => consumer.clone(),
            Dimension::Grant => grant.clone(),
            Dimension::Purpose => purpose.clone(),
            Dimension::Decision => outcome.as_str().to_owned(),
        };
        let key: BTreeMap<Dimension, String> =
            query.group_by.iter().map(|&d| (d, value(d))).collect();
        let (first_seq, last_seq) = (to_u64(row.11), to_u64(row.12));
        let slot = grouped
            .entry((period.clone(), key.values().cloned().collect()))
            .or_insert_with(|| UsageRow {
                period,
                first_day,
                key,
                figures: Figures::default(),
                first_seq,
                last_seq,
            });
        slot.figures.count(
            outcome,
            to_u64(row.7),
            to_u64(row.8),
            to_u64(row.9),
            to_u64(row.10),
        );
        slot.first_seq = slot.first_seq.min(first_seq);
        slot.last_seq = slot.last_seq.max(last_seq);
    }
    Ok(grouped.into_values().collect())
}

/// Which side of its data requests a statement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// What an organisation received and owes.
    Consumer,
    /// What an organisation delivered and earns.
    Provider,
}

/// One line of a statement: the requests of one month under the same grant, dataset, purpose
/// and counterparty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    /// The other party: the provider on a consumer's statement, the consumer on a
    /// provider's (empty: anonymous).
    pub counterparty: String,
    /// The dataset (id).
    pub dataset: String,
    /// The grant relied on (id; empty: none, open data or the provider's own).
    pub grant: String,
    /// The declared purpose (empty: none).
    pub purpose: String,
    /// The figures.
    pub figures: Figures,
    /// The ledger entries counted, as ranges of consecutive sequence numbers.
    pub seq_ranges: Vec<(u64, u64)>,
}

/// A month's lines for one side of one organisation, computed from the entries below a
/// checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLines {
    /// The lines, by counterparty, dataset, grant and purpose.
    pub lines: Vec<StatementLine>,
    /// Their sum.
    pub total: Figures,
    /// Entries of the month recorded at or after the checkpoint's size, not counted yet.
    pub pending: u64,
}

/// The statement lines of `organization` (id) on `side` for the entries recorded in
/// `[start, end)` below ledger size `below`.
pub fn statement(
    conn: &mut DbConnection,
    organization: &str,
    side: Side,
    start: Timestamp,
    end: Timestamp,
    below: u64,
) -> Result<StatementLines, StorageError> {
    let mut select = ledger_entries::table
        .filter(ledger_entries::recorded_at.ge(start.naive_utc()))
        .filter(ledger_entries::recorded_at.lt(end.naive_utc()))
        .filter(ledger_entries::kind.eq_any([DATA_ACCESS, DATA_REPLAY]))
        .into_boxed();
    select = match side {
        Side::Consumer => {
            select.filter(ledger_entries::organization_id.eq(organization.to_owned()))
        }
        Side::Provider => select.filter(
            ledger_entries::dataset_id.eq_any(
                datasets::table
                    .filter(datasets::organization_id.eq(organization.to_owned()))
                    .select(datasets::id.nullable()),
            ),
        ),
    };
    let bodies: Vec<(i64, String)> = select
        .order(ledger_entries::seq.asc())
        .select((ledger_entries::seq, ledger_entries::body))
        .load(conn)?;
    let mut lines: BTreeMap<(String, String, String, String), StatementLine> = BTreeMap::new();
    let mut total = Figures::default();
    let mut pending = 0;
    for (seq, body) in bodies {
        let entry = Entry::decode(body.as_bytes())
            .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")))?;
        let Some(outcome) = Outcome::of(&entry) else {
            continue;
        };
        let ours = match side {
            Side::Consumer => entry.actor_org.as_deref() == Some(organization),
            Side::Provider => entry.provider_org.as_deref() == Some(organization),
        };
        if !ours {
            continue;
        }
        if entry.seq >= below {
            pending += 1;
            continue;
        }
        let counterparty = match side {
            Side::Consumer => entry.provider_org.clone(),
            Side::Provider => entry.actor_org.clone(),
        };
        let text = |v: Option<String>| v.unwrap_or_default();
        let key = (
            text(counterparty),
            text(entry.dataset.clone()),
            text(entry.grant.clone()),
            text(entry.purpose.clone()),
        );
        let line = lines.entry(key.clone()).or_insert_with(|| StatementLine {
            counterparty: key.0,
            dataset: key.1,
            grant: key.2,
            purpose: key.3,
            figures: Figures::default(),
            seq_ranges: Vec::new(),
        });
        let mut one = Figures::default();
        one.count(outcome, 1, entry.bytes, entry.rows, entry.fee);
        line.figures.merge(&one);
        total.merge(&one);
        match line.seq_ranges.last_mut() {
            Some((_, last)) if *last + 1 == entry.seq => *last = entry.seq,
            _ => line.seq_ranges.push((entry.seq, entry.seq)),
        }
    }
    Ok(StatementLines {
        lines: lines.into_values().collect(),
        total,
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn an_instant_falls_in_the_local_day_of_the_zone() {
        let shanghai = Calendar::default();
        // Midnight in Shanghai is 16:00 UTC the day before.
        assert_eq!(shanghai.day(at("2026-11-30T15:59:59Z")), date("2026-11-30"));
        assert_eq!(shanghai.day(at("2026-11-30T16:00:00Z")), date("2026-12-01"));
        assert_eq!(
            shanghai.start(date("2026-12-01")),
            at("2026-11-30T16:00:00Z")
        );
        assert_eq!(
            shanghai.local(at("2026-11-30T16:00:00Z")),
            "2026-12-01T00:00:00+08:00"
        );
        let utc = Calendar::new("UTC").unwrap_or_default();
        assert_eq!(utc.day(at("2026-11-30T16:00:00Z")), date("2026-11-30"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_hour() {
        // Santiago de Chile moved its clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago = Calendar::new("America/Santiago").unwrap_or_default();
        assert_eq!(
            santiago.start(date("2022-09-11")),
            at("2022-09-11T04:00:00Z")
        );
        assert_eq!(santiago.day(at("2022-09-11T04:00:00Z")), date("2022-09-11"));
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(Calendar::new("Mars/Olympus").is_err());
        assert!(Calendar::new("").is_err());
    }

    #[test]
    fn months_roll_over_years() {
        assert_eq!(next_month(date("2026-12-31")), date("2027-01-01"));
        assert_eq!(month_start(date("2026-02-17")), date("2026-02-01"));
    }

    #[test]
    fn only_permitted_requests_are_charged() {
        let mut figures = Figures::default();
        figures.count(Outcome::Permit, 1, 100, 2, 30);
        figures.count(Outcome::Deny, 1, 100, 2, 30);
        figures.count(Outcome::Replay, 1, 100, 2, 30);
        assert_eq!(
            figures,
            Figures {
                requests: 1,
                denied: 1,
                replays: 1,
                bytes: 100,
                rows: 2,
                fee: 30
            }
        );
    }
}
