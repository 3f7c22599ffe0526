//! Appending to the ledger and reading it back. An append locks the head row, so sequence
//! numbers are contiguous and totally ordered even across server processes, and it keeps the
//! running usage of every grant in the same transaction, so usage always equals a recount of
//! the committed entries.

use std::collections::HashMap;

use diesel::prelude::*;
use pdx_core::Timestamp;
use pdx_storage::schema::{ledger_entries, ledger_head, ledger_idempotency, ledger_usage};
use pdx_storage::{DbConnection, StorageError};

use crate::accounting::{Calendar, Deltas, ROLLUP_COLUMNS};
use crate::entry::{DATA_ACCESS, Entry};

/// What has been served under a grant: permitted data requests and their sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Permitted requests.
    pub requests: u64,
    /// Bytes served.
    pub bytes: u64,
    /// Rows served.
    pub rows: u64,
    /// Fees charged, in fen.
    pub fee: u64,
}

impl Usage {
    /// Adds one permitted request's figures.
    pub fn add(&mut self, entry: &Entry) {
        self.requests += 1;
        self.bytes = self.bytes.saturating_add(entry.bytes);
        self.rows = self.rows.saturating_add(entry.rows);
        self.fee = self.fee.saturating_add(entry.fee);
    }
}

fn to_i64(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::CorruptRow(format!("{what} out of range")))
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The ledger's head, locked for the rest of the transaction that [`lock`] took it in.
#[derive(Debug)]
pub struct Head {
    size: u64,
    /// The time zone the usage roll-ups are kept in; none before they are first built.
    calendar: Option<Calendar>,
}

impl Head {
    /// The ledger's size: the sequence number the next entry gets.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Takes the ledger's write lock for the rest of the caller's transaction and returns its head.
/// A decision that depends on usage must take it before reading usage, so that concurrent
/// requests are decided one after another and quotas cannot overshoot.
pub fn lock(conn: &mut DbConnection) -> Result<Head, StorageError> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        size: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        time_zone: Option<String>,
    }
    const HEAD: &str = "SELECT h.size, s.time_zone FROM ledger_head h \
        LEFT JOIN ledger_rollup_state s ON s.singleton = 1 WHERE h.singleton = 1";
    let locked: Locked = match conn {
        // SQLite: the caller's BEGIN IMMEDIATE already holds the database's write lock.
        DbConnection::Sqlite(sqlite) => diesel::sql_query(HEAD).get_result(sqlite)?,
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("{HEAD} FOR UPDATE OF h")).get_result(pg)?
        }
    };
    let size = u64::try_from(locked.size)
        .map_err(|_| StorageError::CorruptRow("ledger_head.size".into()))?;
    let calendar = locked
        .time_zone
        .map(|zone| {
            Calendar::new(&zone)
                .map_err(|e| StorageError::CorruptRow(format!("ledger_rollup_state: {e}")))
        })
        .transpose()?;
    Ok(Head { size, calendar })
}

type EntryRow = (
    i64,
    chrono::NaiveDateTime,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

/// Appends entries inside the caller's transaction, stamping each with its sequence number and
/// `now`; returns their sequence numbers. Usage of the grants that permitted data requests
/// relied on is updated with them.
pub fn append(
    conn: &mut DbConnection,
    entries: &mut [Entry],
    now: Timestamp,
) -> Result<Vec<u64>, StorageError> {
    let mut head = lock(conn)?;
    Ok(append_at(conn, &mut head, entries, now)?.collect())
}

/// [`append`] at a head the caller has locked in this transaction; the head moves past the new
/// entries. Returns their sequence numbers.
pub fn append_at(
    conn: &mut DbConnection,
    head: &mut Head,
    entries: &mut [Entry],
    now: Timestamp,
) -> Result<std::ops::Range<u64>, StorageError> {
    let first = head.size;
    if entries.is_empty() {
        return Ok(first..first);
    }
    let time = Entry::format_time(now);
    let mut rows: Vec<EntryRow> = Vec::with_capacity(entries.len());
    let mut usage: HashMap<String, Usage> = HashMap::new();
    let mut rollups = Deltas::default();
    let today = head.calendar.map(|calendar| calendar.day(now));
    for (next, entry) in (first..).zip(entries.iter_mut()) {
        entry.seq = next;
        entry.time.clone_from(&time);
        let body = String::from_utf8(entry.canonical())
            .map_err(|_| StorageError::CorruptRow("ledger body".into()))?;
        let leaf = hex::encode(crate::merkle::leaf_hash(body.as_bytes()));
        if entry.kind == DATA_ACCESS
            && entry.decision == "permit"
            && let Some(grant) = &entry.grant
        {
            usage.entry(grant.clone()).or_default().add(entry);
        }
        if let Some(day) = today {
            rollups.add(day, entry);
        }
        rows.push((
            to_i64(next, "seq")?,
            now.naive_utc(),
            entry.kind.clone(),
            entry.decision.clone(),
            entry.actor_org.clone(),
            entry.dataset.clone(),
            entry.grant.clone(),
            to_i64(entry.bytes, "bytes")?,
            body,
            leaf,
            entry.actor_user.clone(),
            entry.reason.clone(),
            entry.purpose.clone(),
        ));
    }
    let end = first + entries.len() as u64;
    let sqlite = match conn {
        DbConnection::Postgres(pg) => {
            append_postgres(pg, &rows, to_i64(end, "size")?, &usage, &rollups)?;
            head.size = end;
            return Ok(first..end);
        }
        DbConnection::Sqlite(sqlite) => sqlite,
    };
    // One row a statement: its SQL is the same for every batch, so SQLite parses and plans it
    // once per connection (diesel keeps it prepared); a statement of all the batch's rows is
    // new text for every batch size and was parsed afresh each time.
    for r in &rows {
        diesel::insert_into(ledger_entries::table)
            .values((
                ledger_entries::seq.eq(r.0),
                ledger_entries::recorded_at.eq(r.1),
                ledger_entries::kind.eq(&r.2),
                ledger_entries::decision.eq(&r.3),
                ledger_entries::organization_id.eq(&r.4),
                ledger_entries::dataset_id.eq(&r.5),
                ledger_entries::grant_id.eq(&r.6),
                ledger_entries::bytes.eq(r.7),
                ledger_entries::body.eq(&r.8),
                ledger_entries::leaf_hash.eq(&r.9),
                ledger_entries::actor_user_id.eq(&r.10),
                ledger_entries::reason.eq(&r.11),
                ledger_entries::purpose.eq(&r.12),
            ))
            .execute(sqlite)?;
    }
    diesel::update(ledger_head::table.find(1))
        .set(ledger_head::size.eq(to_i64(end, "size")?))
        .execute(conn)?;
    for (grant, add) in usage {
        diesel::sql_query(
            "INSERT INTO ledger_usage (grant_id, requests, bytes, rows_served, fee) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO UPDATE SET \
             requests = ledger_usage.requests + excluded.requests, \
             bytes = ledger_usage.bytes + excluded.bytes, \
             rows_served = ledger_usage.rows_served + excluded.rows_served, \
             fee = ledger_usage.fee + excluded.fee",
        )
        .bind::<diesel::sql_types::Text, _>(grant)
        .bind::<diesel::sql_types::BigInt, _>(to_i64(add.requests, "requests")?)
        .bind::<diesel::sql_types::BigInt, _>(to_i64(add.bytes, "bytes")?)
        .bind::<diesel::sql_types::BigInt, _>(to_i64(add.rows, "rows")?)
        .bind::<diesel::sql_types::BigInt, _>(to_i64(add.fee, "fee")?)
        .execute(conn)?;
    }
    rollups.record(conn)?;
    head.size = end;
    Ok(first..end)
}

/// The PostgreSQL append in one statement, one round trip: the rows as arrays, the head and the
/// usage moved in the same statement's data-modifying CTEs.
fn append_postgres(
    pg: &mut diesel::PgConnection,
    rows: &[EntryRow],
    end: i64,
    usage: &HashMap<String, Usage>,
    rollups: &Deltas,
) -> Result<(), StorageError> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
    fn column<T: Clone>(rows: &[EntryRow], field: impl Fn(&EntryRow) -> &T) -> Vec<T> {
        rows.iter().map(|row| field(row).clone()).collect()
    }
    let mut grants = Vec::with_capacity(usage.len());
    let mut sums: [Vec<i64>; 4] = Default::default();
    for (grant, add) in usage {
        grants.push(grant.clone());
        for (sum, value) in sums
            .iter_mut()
            .zip([add.requests, add.bytes, add.rows, add.fee])
        {
            sum.push(to_i64(value, "usage")?);
        }
    }
    let [requests, bytes, rows_served, fee] = sums;
    let columns = rollups.columns()?;
    let [day, dataset, provider, consumer, grant, purpose, outcome] = columns.keys;
    let [r_requests, r_bytes, r_rows, r_fee, first_seq, last_seq] = columns.sums;
    diesel::sql_query(format!(
        "WITH rollups AS (INSERT INTO ledger_rollup_deltas {ROLLUP_COLUMNS} \
           SELECT * FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], \
             $22::text[], $23::text[], $24::text[], $25::bigint[], $26::bigint[], \
             $27::bigint[], $28::bigint[], $29::bigint[], $30::bigint[])), \
         appended AS (\
           INSERT INTO ledger_entries (seq, recorded_at, kind, decision, organization_id, \
             dataset_id, grant_id, bytes, body, leaf_hash, actor_user_id, reason, purpose) \
           SELECT * FROM unnest($1::bigint[], $2::timestamp[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], \
             $11::text[], $31::text[], $32::text[])), \
         head AS (UPDATE ledger_head SET size = $12 WHERE singleton = 1) \
         INSERT INTO ledger_usage (grant_id, requests, bytes, rows_served, fee) \
         SELECT * FROM unnest($13::text[], $14::bigint[], $15::bigint[], $16::bigint[], \
           $17::bigint[]) \
         ON CONFLICT (grant_id) DO UPDATE SET \
           requests = ledger_usage.requests + excluded.requests, \
           bytes = ledger_usage.bytes + excluded.bytes, \
           rows_served = ledger_usage.rows_served + excluded.rows_served, \
           fee = ledger_usage.fee + excluded.fee",
    ))
    .bind::<Array<BigInt>, _>(column(rows, |r| &r.0))
    .bind::<Array<Timestamp>, _>(column(rows, |r| &r.1))
    .bind::<Array<Text>, _>(column(rows, |r| &r.2))
    .bind::<Array<Text>, _>(column(rows, |r| &r.3))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| &r.4))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| &r.5))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| &r.6))
    .bind::<Array<BigInt>, _>(column(rows, |r| &r.7))
    .bind::<Array<Text>, _>(column(rows, |r| &r.8))
    .bind::<Array<Text>, _>(column(rows, |r| &r.9))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| &r.10))
    .bind::<BigInt, _>(end)
    .bind::<Array<Text>, _>(grants)
    .bind::<Array<BigInt>, _>(requests)
    .bind::<Array<BigInt>, _>(bytes)
    .bind::<Array<BigInt>, _>(rows_served)
    .bind::<Array<BigInt>, _>(fee)
    .bind::<Array<Text>, _>(day)
    .bind::<Array<Text>, _>(dataset)
    .bind::<Array<Text>, _>(provider)
    .bind::<Array<Text>, _>(consumer)
    .bind::<Array<Text>, _>(grant)
    .bind::<Array<Text>, _>(purpose)
    .bind::<Array<Text>, _>(outcome)
    .bind::<Array<BigInt>, _>(r_requests)
    .bind::<Array<BigInt>, _>(r_bytes)
    .bind::<Array<BigInt>, _>(r_rows)
    .bind::<Array<BigInt>, _>(r_fee)
    .bind::<Array<BigInt>, _>(first_seq)
    .bind::<Array<BigInt>, _>(last_seq)
    .bind::<Array<Text>, _>(column(rows, |r| &r.11))
    .bind::<Array<Nullable<Text>>, _>(column(rows, |r| &r.12))
    .execute(pg)?;
    Ok(())
}

/// Usage so far of each of these grants (ids), as of the caller's transaction; grants never
/// used are absent.
pub fn usage(
    conn: &mut DbConnection,
    grants: &[String],
) -> Result<HashMap<String, Usage>, StorageError> {
    if grants.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, i64, i64, i64)> = ledger_usage::table
        .filter(ledger_usage::grant_id.eq_any(grants))
        .select((
            ledger_usage::grant_id,
            ledger_usage::requests,
            ledger_usage::bytes,
            ledger_usage::rows_served,
            ledger_usage::fee,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(grant, requests, bytes, rows, fee)| {
            (
                grant,
                Usage {
                    requests: to_u64(requests),
                    bytes: to_u64(bytes),
                    rows: to_u64(rows),
                    fee: to_u64(fee),
                },
            )
        })
        .collect())
}

/// Usage so far of one grant.
pub fn grant_usage(conn: &mut DbConnection, grant: &str) -> Result<Usage, StorageError> {
    Ok(usage(conn, &[grant.to_owned()])?
        .remove(grant)
        .unwrap_or_default())
}

/// What an idempotency key answered the first time: its receipt, the request it answered and
/// the bytes it served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The sequence number of the first answer's entry.
    pub seq: u64,
    /// The request it answered (distribution, range asked for, purpose); none for keys
    /// remembered before fingerprints were kept.
    pub fingerprint: Option<String>,
    /// The first and last byte served, when a range was.
    pub range: Option<(u64, u64)>,
}

/// The receipt of an earlier request under `grant` with this idempotency key, if any.
pub fn receipt(
    conn: &mut DbConnection,
    grant: &str,
    key: &str,
) -> Result<Option<Receipt>, StorageError> {
    type Row = (i64, Option<String>, Option<i64>, Option<i64>);
    let row: Option<Row> = ledger_idempotency::table
        .find((grant, key))
        .select((
            ledger_idempotency::seq,
            ledger_idempotency::fingerprint,
            ledger_idempotency::range_first,
            ledger_idempotency::range_last,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(seq, fingerprint, first, last)| Receipt {
        seq: to_u64(seq),
        fingerprint,
        range: first.zip(last).map(|(f, l)| (to_u64(f), to_u64(l))),
    }))
}

/// Remembers the receipt of a request under `grant` with this idempotency key.
pub fn remember_receipt(
    conn: &mut DbConnection,
    grant: &str,
    key: &str,
    receipt: &Receipt,
) -> Result<(), StorageError> {
    let (first, last) = match receipt.range {
        Some((first, last)) => (Some(to_i64(first, "range")?), Some(to_i64(last, "range")?)),
        None => (None, None),
    };
    diesel::insert_into(ledger_idempotency::table)
        .values((
            ledger_idempotency::grant_id.eq(grant),
            ledger_idempotency::idempotency_key.eq(key),
            ledger_idempotency::seq.eq(to_i64(receipt.seq, "seq")?),
            ledger_idempotency::fingerprint.eq(receipt.fingerprint.as_deref()),
            ledger_idempotency::range_first.eq(first),
            ledger_idempotency::range_last.eq(last),
        ))
        .execute(conn)?;
    Ok(())
}

/// The entry with this sequence number.
pub fn entry(conn: &mut DbConnection, seq: u64) -> Result<Entry, StorageError> {
    let body: String = ledger_entries::table
        .find(i64::try_from(seq).map_err(|_| StorageError::NotFound)?)
        .select(ledger_entries::body)
        .first(conn)?;
    Entry::decode(body.as_bytes())
        .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")))
}

/// The ledger's size.
pub fn size(conn: &mut DbConnection) -> Result<u64, StorageError> {
    let size: i64 = ledger_head::table
        .find(1)
        .select(ledger_head::size)
        .first(conn)?;
    Ok(to_u64(size))
}
