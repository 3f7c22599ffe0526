//! An SQLite installation's row tables moved into PostgreSQL: each ready ingestion's table
//! file read in row order and loaded into the PostgreSQL table it would have had there.

use std::path::Path;

use diesel::RunQueryDsl;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use pdx_storage::schema::ingestions;
use pdx_storage::{DbConnection, StorageError};

use crate::error::RowsError;
use crate::model::{IngestionState, Value};
use crate::query::column_name;
use crate::store::IngestionRow;
use crate::tables::{Loader, Place, Record, open_file, storage};

/// What [`copy_tables_to_postgres`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopiedTables {
    /// Row tables.
    pub tables: usize,
    /// Rows in them.
    pub rows: u64,
}

/// Copies the table of every ready ingestion that `source` (an SQLite installation's database)
/// records, from its file in `dir`, into its table in `target` (a PostgreSQL connection, in the
/// caller's transaction). A ready ingestion whose file is missing or short is an error: the
/// installation is not whole, and nothing should be made of it.
pub fn copy_tables_to_postgres(
    source: &mut DbConnection,
    dir: &Path,
    target: &mut PgConnection,
) -> Result<CopiedTables, RowsError> {
    let ready: Vec<IngestionRow> = ingestions::table
        .filter(ingestions::state.eq(IngestionState::Ready.as_str()))
        .order(ingestions::id)
        .select(IngestionRow::as_select())
        .load(source)
        .map_err(StorageError::from)?;
    let mut copied = CopiedTables::default();
    for row in ready {
        let ingestion = row.into_model()?;
        let Place::File(path) = Place::of(ingestion.id, Some(dir)) else {
            continue;
        };
        if !path.is_file() {
            return Err(RowsError::Storage(StorageError::Task(format!(
                "the row table of ingestion {} (distribution {}) is missing: {} does not exist",
                ingestion.id,
                ingestion.distribution_id,
                path.display()
            ))));
        }
        let mut file = open_file(&path)?;
        let mut select = String::from("SELECT _row");
        for i in 0..ingestion.columns.len() {
            select.push_str(", ");
            select.push_str(&column_name(i));
        }
        select.push_str(" FROM rows ORDER BY _row");
        let mut loader = Loader::create(
            &Place::of(ingestion.id, None),
            &ingestion.columns,
            Some(&mut *target),
        )?;
        let mut rows = 0u64;
        for record in diesel::sql_query(select)
            .load_iter::<Record, diesel::connection::DefaultLoadingMode>(&mut file.conn)
            .map_err(storage)?
        {
            let mut values = record.map_err(storage)?.0;
            let Some(Value::Int(row)) = (!values.is_empty()).then(|| values.remove(0)) else {
                return Err(RowsError::Storage(StorageError::CorruptRow(format!(
                    "{}: _row",
                    path.display()
                ))));
            };
            loader.push(row, values)?;
            rows += 1;
        }
        loader.finish()?;
        if rows != ingestion.rows_loaded {
            return Err(RowsError::Storage(StorageError::Task(format!(
                "the row table of ingestion {} holds {rows} rows, but {} were loaded into it",
                ingestion.id, ingestion.rows_loaded
            ))));
        }
        copied.tables += 1;
        copied.rows += rows;
    }
    Ok(copied)
}
