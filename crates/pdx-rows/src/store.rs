//! Queries of the `ingestions` table, which this crate owns.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{DistributionId, Timestamp};
use pdx_storage::schema::ingestions;
use pdx_storage::{DbConnection, StorageError};

use crate::error::RowsError;
use crate::model::{Ingestion, IngestionState};

fn corrupt(column: &str) -> RowsError {
    RowsError::Storage(StorageError::CorruptRow(column.to_owned()))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ingestions)]
pub(crate) struct IngestionRow {
    id: String,
    distribution_id: String,
    sha256: String,
    state: String,
    options: String,
    table_columns: String,
    bytes_read: i64,
    bytes_total: i64,
    rows_loaded: i64,
    rows_rejected: i64,
    rejects: String,
    error: Option<String>,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
}

impl IngestionRow {
    pub(crate) fn into_model(self) -> Result<Ingestion, RowsError> {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Ingestion {
            id: self.id.parse().map_err(|_| corrupt("ingestions.id"))?,
            distribution_id: self
                .distribution_id
                .parse()
                .map_err(|_| corrupt("ingestions.distribution_id"))?,
            sha256: self.sha256,
            state: IngestionState::parse(&self.state).ok_or_else(|| corrupt("ingestions.state"))?,
            options: serde_json::from_str(&self.options)
                .map_err(|_| corrupt("ingestions.options"))?,
            columns: serde_json::from_str(&self.table_columns)
                .map_err(|_| corrupt("ingestions.table_columns"))?,
            bytes_read: count(self.bytes_read),
            bytes_total: count(self.bytes_total),
            rows_loaded: count(self.rows_loaded),
            rows_rejected: count(self.rows_rejected),
            rejects: serde_json::from_str(&self.rejects)
                .map_err(|_| corrupt("ingestions.rejects"))?,
            error: self.error,
            started_at: self.started_at.and_utc(),
            finished_at: self.finished_at.map(|t| t.and_utc()),
        })
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records a new running ingestion; refused when one of the distribution is already running.
/// The file name of every ingestion's row table on SQLite (for backups); an ingestion that
/// never got as far as its table has none on disk.
pub fn table_file_names(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let ids: Vec<String> = ingestions::table
        .select(ingestions::id)
        .order(ingestions::id)
        .load(conn)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| id.parse::<uuid::Uuid>().ok())
        .map(|id| format!("{}.sqlite3", id.simple()))
        .collect())
}

pub(crate) fn insert(conn: &mut DbConnection, ingestion: &Ingestion) -> Result<(), RowsError> {
    let inserted = diesel::insert_into(ingestions::table)
        .values((
            ingestions::id.eq(ingestion.id.to_string()),
            ingestions::distribution_id.eq(ingestion.distribution_id.to_string()),
            ingestions::sha256.eq(&ingestion.sha256),
            ingestions::state.eq(ingestion.state.as_str()),
            ingestions::options.eq(serde_json::to_string(&ingestion.options).unwrap_or_default()),
            ingestions::table_columns.eq("[]"),
            ingestions::bytes_read.eq(0i64),
            ingestions::bytes_total.eq(signed(ingestion.bytes_total)),
            ingestions::rows_loaded.eq(0i64),
            ingestions::rows_rejected.eq(0i64),
            ingestions::rejects.eq("[]"),
            ingestions::started_at.eq(ingestion.started_at.naive_utc()),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match inserted {
        Ok(_) => Ok(()),
        Err(StorageError::UniqueViolation { .. }) => Err(RowsError::IngestionRunning),
        Err(other) => Err(other.into()),
    }
}

/// Saves a running ingestion's progress.
pub(crate) fn progress(
    conn: &mut DbConnection,
    id: uuid::Uuid,
    bytes_read: u64,
    rows_loaded: u64,
    rows_rejected: u64,
) -> Result<(), RowsError> {
    diesel::update(ingestions::table.find(id.to_string()))
        .set((
            ingestions::bytes_read.eq(signed(bytes_read)),
            ingestions::rows_loaded.eq(signed(rows_loaded)),
            ingestions::rows_rejected.eq(signed(rows_rejected)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records how an ingestion ended (its state, columns, counts, rejects or error).
pub(crate) fn finish(
    conn: &mut DbConnection,
    ingestion: &Ingestion,
    now: Timestamp,
) -> Result<(), RowsError> {
    diesel::update(ingestions::table.find(ingestion.id.to_string()))
        .set((
            ingestions::state.eq(ingestion.state.as_str()),
            ingestions::table_columns
                .eq(serde_json::to_string(&ingestion.columns).unwrap_or_default()),
            ingestions::options.eq(serde_json::to_string(&ingestion.options).unwrap_or_default()),
            ingestions::bytes_read.eq(signed(ingestion.bytes_read)),
            ingestions::rows_loaded.eq(signed(ingestion.rows_loaded)),
            ingestions::rows_rejected.eq(signed(ingestion.rows_rejected)),
            ingestions::rejects.eq(serde_json::to_string(&ingestion.rejects).unwrap_or_default()),
            ingestions::error.eq(ingestion.error.as_deref()),
            ingestions::finished_at.eq(Some(now.naive_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the distribution's earlier ready ingestions replaced; returns their ids.
pub(crate) fn replace_ready(
    conn: &mut DbConnection,
    distribution: DistributionId,
    except: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, RowsError> {
    let ids: Vec<String> = ingestions::table
        .filter(ingestions::distribution_id.eq(distribution.to_string()))
        .filter(ingestions::state.eq(IngestionState::Ready.as_str()))
        .filter(ingestions::id.ne(except.to_string()))
        .select(ingestions::id)
        .load(conn)?;
    diesel::update(ingestions::table.filter(ingestions::id.eq_any(&ids)))
        .set(ingestions::state.eq(IngestionState::Replaced.as_str()))
        .execute(conn)?;
    ids.iter()
        .map(|id| id.parse().map_err(|_| corrupt("ingestions.id")))
        .collect()
}

/// The distribution's ingestions, newest first.
pub(crate) fn of_distribution(
    conn: &mut DbConnection,
    distribution: DistributionId,
    limit: i64,
) -> Result<Vec<Ingestion>, RowsError> {
    ingestions::table
        .filter(ingestions::distribution_id.eq(distribution.to_string()))
        .order((ingestions::started_at.desc(), ingestions::id.desc()))
        .limit(limit)
        .select(IngestionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(IngestionRow::into_model)
        .collect()
}

/// The ingestion whose table answers the distribution's row queries.
pub(crate) fn ready(
    conn: &mut DbConnection,
    distribution: DistributionId,
) -> Result<Option<Ingestion>, RowsError> {
    ingestions::table
        .filter(ingestions::distribution_id.eq(distribution.to_string()))
        .filter(ingestions::state.eq(IngestionState::Ready.as_str()))
        .select(IngestionRow::as_select())
        .first(conn)
        .optional()?
        .map(IngestionRow::into_model)
        .transpose()
}

/// Replaced ingestions (whose tables may be left after a stop).
pub(crate) fn replaced(conn: &mut DbConnection) -> Result<Vec<uuid::Uuid>, RowsError> {
    ingestions::table
        .filter(ingestions::state.eq(IngestionState::Replaced.as_str()))
        .select(ingestions::id)
        .load::<String>(conn)?
        .iter()
        .map(|id| id.parse().map_err(|_| corrupt("ingestions.id")))
        .collect()
}

/// Deletes a distribution's ingestions; returns their ids (their tables are to be dropped).
pub(crate) fn delete_of(
    conn: &mut DbConnection,
    distribution: DistributionId,
) -> Result<Vec<uuid::Uuid>, RowsError> {
    let ids: Vec<String> = ingestions::table
        .filter(ingestions::distribution_id.eq(distribution.to_string()))
        .select(ingestions::id)
        .load(conn)?;
    diesel::delete(
        ingestions::table.filter(ingestions::distribution_id.eq(distribution.to_string())),
    )
    .execute(conn)?;
    ids.iter()
        .map(|id| id.parse().map_err(|_| corrupt("ingestions.id")))
        .collect()
}

/// Ingestions left running by a process that stopped (on start, before any new one runs):
/// they are marked failed and returned, so their tables can be dropped.
pub(crate) fn fail_interrupted(
    conn: &mut DbConnection,
    now: Timestamp,
) -> Result<Vec<uuid::Uuid>, RowsError> {
    let ids: Vec<String> = ingestions::table
        .filter(ingestions::state.eq(IngestionState::Running.as_str()))
        .select(ingestions::id)
        .load(conn)?;
    diesel::update(ingestions::table.filter(ingestions::id.eq_any(&ids)))
        .set((
            ingestions::state.eq(IngestionState::Failed.as_str()),
            ingestions::error.eq(Some("the server stopped while ingesting; ingest again")),
            ingestions::finished_at.eq(Some(now.naive_utc())),
        ))
        .execute(conn)?;
    ids.iter()
        .map(|id| id.parse().map_err(|_| corrupt("ingestions.id")))
        .collect()
}
