//! The catalog's change feed. Every write that changes what catalog search finds records the
//! dataset (or organisation) it changed, in the writing transaction; each server process's
//! search index reads the feed in sequence order and re-indexes what it names, so a write made
//! through any process reaches the index of every process.
//!
//! A change is recorded right after the catalog's generation counter is bumped: that update
//! locks the counter's row until the transaction ends, so writers take sequence numbers one at
//! a time, in commit order, and a reader that has seen a sequence number has seen every change
//! before it.

use diesel::prelude::*;

use crate::generation::{self, CATALOG};
use crate::schema::catalog_changes;
use crate::{DbConnection, StorageError};

/// What a change names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    /// One dataset (its metadata, status, distributions or revision).
    Dataset(String),
    /// An organisation, which every one of its datasets names as publisher.
    Organization(String),
    /// The whole catalog: every index rebuilds (`pdx search reindex`).
    Everything,
}

/// A change with its place in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Its sequence number; later changes have larger ones.
    pub seq: i64,
    /// What changed.
    pub change: CatalogChange,
}

/// Marks the catalog changed, inside the caller's transaction: bumps the catalog's generation
/// (making cached views stale in every process) and appends the change to the feed.
pub fn record(conn: &mut DbConnection, change: &CatalogChange) -> Result<(), StorageError> {
    generation::bump(conn, CATALOG)?;
    let (dataset, organization) = match change {
        CatalogChange::Dataset(id) => (Some(id.as_str()), None),
        CatalogChange::Organization(id) => (None, Some(id.as_str())),
        CatalogChange::Everything => (None, None),
    };
    diesel::insert_into(catalog_changes::table)
        .values((
            catalog_changes::dataset_id.eq(dataset),
            catalog_changes::organization_id.eq(organization),
            catalog_changes::changed_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Up to `limit` changes after `seq`, in order.
pub fn after(
    conn: &mut DbConnection,
    seq: i64,
    limit: i64,
) -> Result<Vec<FeedEntry>, StorageError> {
    let rows: Vec<(i64, Option<String>, Option<String>)> = catalog_changes::table
        .filter(catalog_changes::seq.gt(seq))
        .order(catalog_changes::seq.asc())
        .limit(limit)
        .select((
            catalog_changes::seq,
            catalog_changes::dataset_id,
            catalog_changes::organization_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(seq, dataset, organization)| FeedEntry {
            seq,
            change: match (dataset, organization) {
                (Some(id), _) => CatalogChange::Dataset(id),
                (None, Some(id)) => CatalogChange::Organization(id),
                (None, None) => CatalogChange::Everything,
            },
        })
        .collect())
}

/// The latest sequence number, 0 before the first change.
pub fn latest(conn: &mut DbConnection) -> Result<i64, StorageError> {
    let latest: Option<i64> = catalog_changes::table
        .select(diesel::dsl::max(catalog_changes::seq))
        .first(conn)?;
    Ok(latest.unwrap_or(0))
}

/// The earliest sequence number still in the feed; none when it is empty.
pub fn earliest(conn: &mut DbConnection) -> Result<Option<i64>, StorageError> {
    Ok(catalog_changes::table
        .select(diesel::dsl::min(catalog_changes::seq))
        .first(conn)?)
}

/// Removes changes recorded before `before`, keeping the latest (so the sequence never
/// restarts). Every running process has applied them long since; an index that was offline
/// meanwhile sees the gap ([`earliest`]) and is rebuilt. Returns how many were removed.
pub fn prune(
    conn: &mut DbConnection,
    before: chrono::NaiveDateTime,
) -> Result<usize, StorageError> {
    let latest = latest(conn)?;
    Ok(diesel::delete(
        catalog_changes::table
            .filter(catalog_changes::changed_at.lt(before))
            .filter(catalog_changes::seq.lt(latest)),
    )
    .execute(conn)?)
}
