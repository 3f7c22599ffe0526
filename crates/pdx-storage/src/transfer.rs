//! An SQLite database copied into a new PostgreSQL database, for an installation that began
//! on one host and scales out: every table PDX's PostgreSQL schema has, column by column as
//! that schema names them, from one consistent snapshot of the SQLite file, in one PostgreSQL
//! transaction — the new database holds all of it or none of it. Table and column names come
//! from the databases' own catalogs and are checked before they are put in a statement; every
//! value is moved as JSON that PostgreSQL reads into its column's type.

use std::collections::{BTreeMap, BTreeSet};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;

use crate::{DbConnection, StorageError};

/// Rows read from SQLite and written to PostgreSQL in one statement.
const BATCH: i64 = 1_000;

/// Why a copy did not happen; nothing was kept in the target.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The databases are not what a copy needs (a reason an operator can act on).
    #[error("{0}")]
    Refused(String),
    /// The work done within the copy's transactions failed.
    #[error("{0}")]
    Failed(String),
    /// A database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for TransferError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// Copies the SQLite database `source` into `target`, a PostgreSQL database migrated to the
/// same version that holds no platform yet (no organisation, ledger entry or server key), and
/// runs `within` inside the same two transactions (the source's snapshot, the target's
/// write), for what other crates copy beside the tables. Returns each table with the rows
/// copied, in the order copied (parents first), and what `within` returned.
pub fn copy_sqlite_into_postgres<T>(
    source: &mut DbConnection,
    target: &mut DbConnection,
    within: impl FnOnce(&mut DbConnection, &mut PgConnection) -> Result<T, TransferError>,
) -> Result<(Vec<(String, u64)>, T), TransferError> {
    let DbConnection::Postgres(pg) = target else {
        return Err(TransferError::Refused(
            "the target is not a PostgreSQL database".to_owned(),
        ));
    };
    if !matches!(source, DbConnection::Sqlite(_)) {
        return Err(TransferError::Refused(
            "the source is not an SQLite database".to_owned(),
        ));
    }
    // Checked before the migrations run, so that a database holding a platform of an older
    // version is not upgraded by a copy refused into it; and again inside the transaction.
    refuse_a_platform(pg)?;
    crate::migrations::run_pending(target)?;
    let DbConnection::Postgres(pg) = target else {
        unreachable!("the target was matched as PostgreSQL above");
    };
    source.transaction(|source| {
        pg.transaction(|pg| {
            refuse_a_platform(pg)?;
            let copied = copy_tables(source, pg)?;
            Ok((copied, within(source, pg)?))
        })
    })
}

/// Refuses a target in which a platform lives, writing nothing: for a caller that does work
/// of its own (copying files) before [`copy_sqlite_into_postgres`], which checks again.
pub fn refuse_a_platform_in(target: &mut DbConnection) -> Result<(), TransferError> {
    match target {
        DbConnection::Postgres(pg) => refuse_a_platform(pg),
        DbConnection::Sqlite(_) => Err(TransferError::Refused(
            "the target is not a PostgreSQL database".to_owned(),
        )),
    }
}

/// The tables whose rows mean that a platform lives in a database.
const PLATFORM_TABLES: [&str; 3] = ["organizations", "ledger_entries", "server_keys"];

/// Refuses a target in which a platform lives, whatever its version: any of
/// [`PLATFORM_TABLES`] holding a row.
fn refuse_a_platform(pg: &mut PgConnection) -> Result<(), TransferError> {
    for table in PLATFORM_TABLES {
        let exists: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
             WHERE s.nspname = current_schema() AND c.relname = $1",
        )
        .bind::<Text, _>(table)
        .get_result(pg)?;
        if exists.n == 0 {
            continue;
        }
        let rows: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM (SELECT 1 FROM \"{table}\" LIMIT 1) AS any_row"
        ))
        .get_result(pg)?;
        if rows.n > 0 {
            return Err(TransferError::Refused(
                "the PostgreSQL database already holds a platform (organisations, ledger \
                 entries or server keys): copy into a new, empty database on which no server \
                 has started; nothing was changed"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Edge {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = BigInt)]
    k: i64,
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Serial {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
}

/// Every table, parents first; each with the rows copied.
fn copy_tables(
    source: &mut DbConnection,
    pg: &mut PgConnection,
) -> Result<Vec<(String, u64)>, TransferError> {
    let order = tables_in_order(pg)?;
    // The rows the migrations put in (the instance, the ledger head …) give way to the
    // source's own.
    let list = order
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    pg.batch_execute(&format!("TRUNCATE {list}"))?;
    let DbConnection::Sqlite(sqlite) = source else {
        return Err(TransferError::Refused(
            "the source is not an SQLite database".to_owned(),
        ));
    };
    refuse_tables_left_behind(sqlite, &order)?;
    let mut copied = Vec::new();
    for table in &order {
        let rows = copy_table(sqlite, pg, table)?;
        copied.push((table.clone(), rows));
    }
    // Sequences continue after the rows copied. The catalogs are read directly:
    // information_schema's views look at every table of the database, and would wait for
    // (or deadlock with) another schema's locked tables.
    let serials: Vec<Serial> = diesel::sql_query(
        "SELECT t.relname::text AS t, a.attname::text AS c FROM pg_class s \
         JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass \
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relkind = 'S' \
         AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
    )
    .load(pg)?;
    // SQLite's AUTOINCREMENT never hands out an id again, even one whose row was deleted;
    // PostgreSQL's sequences continue after the highest id SQLite ever gave.
    let given = ids_given(sqlite)?;
    for Serial { t, c } in serials {
        let (t, c) = (identifier(&t)?, identifier(&c)?);
        diesel::sql_query(format!(
            "SELECT setval(pg_get_serial_sequence('\"{t}\"', '{c}'), \
             GREATEST(COALESCE((SELECT max(\"{c}\") FROM \"{t}\"), 0), $1) + 1, false)"
        ))
        .bind::<BigInt, _>(given.get(t).copied().unwrap_or(0))
        .execute(pg)?;
    }
    Ok(copied)
}

/// Tables SQLite has and PostgreSQL does not, by design: the full-text index the triggers
/// keep (and FTS5's own tables behind it), derived from the datasets copied.
const SQLITE_ONLY: &str = "dataset\\_fts%";

/// Refuses a source holding a table the copy would leave behind: a table of a newer or
/// altered schema, whose rows would otherwise be lost without a word.
fn refuse_tables_left_behind(
    sqlite: &mut SqliteConnection,
    order: &[String],
) -> Result<(), TransferError> {
    let tables: Vec<Name> = diesel::sql_query(format!(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name NOT LIKE '\\_\\_diesel%' ESCAPE '\\' \
         AND name NOT LIKE '{SQLITE_ONLY}' ESCAPE '\\' ORDER BY name"
    ))
    .load(sqlite)?;
    let left: Vec<String> = tables
        .into_iter()
        .map(|t| t.name)
        .filter(|t| !order.contains(t))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(TransferError::Refused(format!(
            "the SQLite database has tables PostgreSQL's schema does not ({}): it is not a \
             PDX database of this version; nothing was copied",
            left.join(", ")
        )))
    }
}

#[derive(QueryableByName)]
struct Given {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// The highest id SQLite's AUTOINCREMENT has given in each table.
fn ids_given(sqlite: &mut SqliteConnection) -> Result<BTreeMap<String, i64>, TransferError> {
    let has: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
    )
    .get_result(sqlite)?;
    if has.n == 0 {
        return Ok(BTreeMap::new());
    }
    let given: Vec<Given> =
        diesel::sql_query("SELECT name, seq FROM sqlite_sequence").load(sqlite)?;
    Ok(given.into_iter().map(|g| (g.name, g.seq)).collect())
}

/// PDX's tables in the target, parents before the tables that refer to them.
fn tables_in_order(pg: &mut PgConnection) -> Result<Vec<String>, TransferError> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_class c \
         WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
         AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE '\\_\\_diesel%' \
         AND c.relname NOT LIKE 'row\\_table\\_%' ORDER BY c.relname",
    )
    .load(pg)?;
    let edges: Vec<Edge> = diesel::sql_query(
        "SELECT child.relname::text AS child, parent.relname::text AS parent \
         FROM pg_constraint k JOIN pg_class child ON child.oid = k.conrelid \
         JOIN pg_class parent ON parent.oid = k.confrelid WHERE k.contype = 'f' \
         AND child.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
    )
    .load(pg)?;
    let mut waiting: BTreeMap<String, BTreeSet<String>> = tables
        .into_iter()
        .map(|t| (t.name, BTreeSet::new()))
        .collect();
    for Edge { child, parent } in edges {
        if child != parent
            && waiting.contains_key(&parent)
            && let Some(parents) = waiting.get_mut(&child)
        {
            parents.insert(parent);
        }
    }
    let mut order = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        let ready: Vec<String> = waiting
            .iter()
            .filter(|(_, parents)| parents.is_empty())
            .map(|(t, _)| t.clone())
            .collect();
        if ready.is_empty() {
            return Err(TransferError::Refused(format!(
                "the tables {:?} refer to each other in a cycle",
                waiting.keys().collect::<Vec<_>>()
            )));
        }
        for table in ready {
            waiting.remove(&table);
            for parents in waiting.values_mut() {
                parents.remove(&table);
            }
            order.push(table);
        }
    }
    for table in &order {
        identifier(table)?;
    }
    Ok(order)
}

/// A name from the database's own catalog, checked before it is put in a statement.
fn identifier(name: &str) -> Result<&str, TransferError> {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(name)
    } else {
        Err(TransferError::Refused(format!(
            "the table or column name {name:?} is not one PDX makes"
        )))
    }
}

/// Copies one table, its columns as PostgreSQL names them; the rows copied.
fn copy_table(
    sqlite: &mut SqliteConnection,
    pg: &mut PgConnection,
    table: &str,
) -> Result<u64, TransferError> {
    let table = identifier(table)?;
    let columns: Vec<Name> = diesel::sql_query(
        "SELECT a.attname::text AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
         AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
         ORDER BY a.attnum",
    )
    .bind::<Text, _>(table)
    .load(pg)?;
    let in_source: BTreeSet<String> = diesel::sql_query("SELECT name FROM pragma_table_info(?)")
        .bind::<Text, _>(table)
        .load::<Name>(sqlite)?
        .into_iter()
        .map(|n| n.name)
        .collect();
    if in_source.is_empty() {
        return Err(TransferError::Refused(format!(
            "the SQLite database has no table {table}: it is not a PDX database of this version"
        )));
    }
    let names: Vec<&str> = columns
        .iter()
        .map(|c| identifier(&c.name))
        .collect::<Result<_, _>>()?;
    let missing: Vec<&&str> = names.iter().filter(|c| !in_source.contains(**c)).collect();
    let left_out: Vec<&String> = in_source
        .iter()
        .filter(|c| !names.contains(&c.as_str()))
        .collect();
    if !missing.is_empty() || !left_out.is_empty() {
        return Err(TransferError::Refused(format!(
            "the table {table} differs between the two databases (only in PostgreSQL: \
             {missing:?}; only in SQLite: {left_out:?}): nothing was copied"
        )));
    }
    let object = names
        .iter()
        .map(|c| format!("'{c}', \"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let list = names
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let read = format!(
        "SELECT rowid AS k, json_object({object}) AS row FROM \"{table}\" WHERE rowid > ? \
         ORDER BY rowid LIMIT {BATCH}"
    );
    // PostgreSQL turns each JSON member into its column's type, as a value of that type
    // would be read from text: timestamps, numbers, and 0/1 as booleans.
    let write = format!(
        "INSERT INTO \"{table}\" ({list}) OVERRIDING SYSTEM VALUE \
         SELECT {list} FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
    );
    let (mut after, mut rows) = (i64::MIN, 0u64);
    loop {
        let batch: Vec<JsonRow> = diesel::sql_query(&read)
            .bind::<BigInt, _>(after)
            .load(sqlite)?;
        let Some(last) = batch.last() else { break };
        after = last.k;
        let mut json = String::from("[");
        for (i, row) in batch.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&row.row);
        }
        json.push(']');
        diesel::sql_query(&write)
            .bind::<Text, _>(json)
            .execute(pg)?;
        rows += batch.len() as u64;
    }
    let there: Count =
        diesel::sql_query(format!("SELECT count(*) AS n FROM \"{table}\"")).get_result(pg)?;
    if u64::try_from(there.n).unwrap_or(0) != rows {
        return Err(TransferError::Refused(format!(
            "the table {table}: {rows} rows read, {} in PostgreSQL",
            there.n
        )));
    }
    Ok(rows)
}
