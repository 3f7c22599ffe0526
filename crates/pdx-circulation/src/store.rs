//! Appending to the ledger and reading usage back from it. An append locks the head row, so
//! sequence numbers are contiguous and totally ordered even across server processes.

use diesel::prelude::*;
use pdx_core::{GrantId, Timestamp};
use pdx_storage::schema::{ledger_entries, ledger_head};
use pdx_storage::{DbConnection, StorageError};

use crate::entry::Entry;

/// Takes the ledger's write lock for the rest of the caller's transaction and returns its size.
/// A decision that depends on usage must take it before reading usage, so that concurrent
/// requests are decided one after another and quotas cannot overshoot.
pub fn lock(conn: &mut DbConnection) -> Result<u64, StorageError> {
    let size: i64 = match conn {
        // SQLite: the caller's BEGIN IMMEDIATE already holds the database's write lock.
        DbConnection::Sqlite(_) => ledger_head::table
            .find(1)
            .select(ledger_head::size)
            .first(conn)?,
        DbConnection::Postgres(pg) => ledger_head::table
            .find(1)
            .select(ledger_head::size)
            .for_update()
            .first(pg)?,
    };
    u64::try_from(size).map_err(|_| StorageError::CorruptRow("ledger_head.size".into()))
}

/// Appends entries inside the caller's transaction; returns their sequence numbers.
pub fn append(
    conn: &mut DbConnection,
    entries: &mut [Entry],
    now: Timestamp,
) -> Result<Vec<u64>, StorageError> {
    let mut next = lock(conn)?;
    let mut seqs = Vec::with_capacity(entries.len());
    for entry in entries.iter_mut() {
        entry.seq = next;
        entry.time = Entry::format_time(now);
        let body = String::from_utf8(entry.canonical())
            .map_err(|_| StorageError::CorruptRow("ledger body".into()))?;
        diesel::insert_into(ledger_entries::table)
            .values((
                ledger_entries::seq
                    .eq(i64::try_from(next).map_err(|_| StorageError::CorruptRow("seq".into()))?),
                ledger_entries::recorded_at.eq(now.naive_utc()),
                ledger_entries::kind.eq(&entry.kind),
                ledger_entries::decision.eq(&entry.decision),
                ledger_entries::organization_id.eq(&entry.actor_org),
                ledger_entries::dataset_id.eq(&entry.dataset),
                ledger_entries::grant_id.eq(&entry.grant),
                ledger_entries::bytes.eq(i64::try_from(entry.bytes).unwrap_or(i64::MAX)),
                ledger_entries::body.eq(body),
                ledger_entries::leaf_hash.eq(hex::encode(entry.leaf())),
            ))
            .execute(conn)?;
        seqs.push(next);
        next += 1;
    }
    diesel::update(ledger_head::table.find(1))
        .set(ledger_head::size.eq(i64::try_from(next).unwrap_or(i64::MAX)))
        .execute(conn)?;
    Ok(seqs)
}

#[derive(QueryableByName)]
struct UsageRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

/// Permitted requests and bytes served so far under a grant, counted from the ledger.
pub fn grant_usage(conn: &mut DbConnection, grant: GrantId) -> Result<(u64, u64), StorageError> {
    let row: UsageRow = diesel::sql_query(
        "SELECT COUNT(*) AS requests, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes \
         FROM ledger_entries WHERE grant_id = $1 AND decision = 'permit'",
    )
    .bind::<diesel::sql_types::Text, _>(grant.to_string())
    .get_result(conn)?;
    Ok((
        u64::try_from(row.requests).unwrap_or(0),
        u64::try_from(row.bytes).unwrap_or(0),
    ))
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
    Ok(u64::try_from(size).unwrap_or(0))
}
