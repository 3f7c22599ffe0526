//! The tables rows are loaded into and read from: on SQLite a database file of its own per
//! ingestion (so loading never holds the main database's writer lock, and replacing a table is
//! swapping a file), on PostgreSQL a table per ingestion beside PDX's own tables. Every
//! identifier is made here (`row_table_<ingestion>`, `_row`, `c0`, `c1`, …); values are bound.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql, QueryableByName};
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId};
use diesel::row::{Field, NamedRow, Row};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Untyped};
use diesel::sqlite::{Sqlite, SqliteConnection, SqliteType};
use diesel::{Connection, QueryResult, RunQueryDsl};
use pdx_storage::StorageError;

use crate::error::RowsError;
use crate::model::{ColumnType, TableColumn, Value};
use crate::query::{Statement, column_name};

/// Where an ingestion's table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// A SQLite file of its own.
    File(PathBuf),
    /// A table in the main PostgreSQL database.
    Postgres(String),
}

impl Place {
    /// The place of ingestion `id`'s table: a file in `dir`, or a PostgreSQL table.
    pub(crate) fn of(id: uuid::Uuid, dir: Option<&Path>) -> Self {
        match dir {
            Some(dir) => Self::File(dir.join(format!("{}.sqlite3", id.simple()))),
            None => Self::Postgres(format!("row_table_{}", id.simple())),
        }
    }

    /// The name statements use for the table.
    pub(crate) fn table(&self) -> &str {
        match self {
            Self::File(_) => "rows",
            Self::Postgres(name) => name,
        }
    }
}

fn sql_type(column_type: ColumnType, postgres: bool) -> &'static str {
    match (column_type, postgres) {
        (ColumnType::Integer | ColumnType::Boolean, _) => "BIGINT",
        (ColumnType::Number, false) => "REAL",
        (ColumnType::Number, true) => "DOUBLE PRECISION",
        // Byte order, as SQLite compares text: sorting and ranges agree on both backends.
        (_, true) => "TEXT COLLATE \"C\"",
        (_, false) => "TEXT",
    }
}

pub(crate) fn storage(e: diesel::result::Error) -> RowsError {
    if e.to_string().contains(PAST_TIME) {
        return RowsError::TooSlow;
    }
    RowsError::Storage(StorageError::from(e))
}

diesel::define_sql_function! {
    /// True while the row query of the connection is within its time; past it, an error that
    /// stops the statement wherever SQLite is in it. Every row a table file's statement reads
    /// is checked, so a scan that matches nothing or a sort is stopped too, not only a query
    /// that delivers rows.
    fn pdx_in_time() -> diesel::sql_types::Bool;
}

/// The message `pdx_in_time()` stops a statement with.
const PAST_TIME: &str = "row query past its time limit";
/// Rows read between two looks at the clock.
const CLOCK_STRIDE: u32 = 256;

/// What `pdx_in_time()` answers: true, or the error past the deadline.
#[derive(Debug)]
struct InTime(bool);

impl diesel::serialize::ToSql<diesel::sql_types::Bool, Sqlite> for InTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, Sqlite>,
    ) -> diesel::serialize::Result {
        if self.0 {
            <bool as diesel::serialize::ToSql<diesel::sql_types::Bool, Sqlite>>::to_sql(&true, out)
        } else {
            Err(PAST_TIME.into())
        }
    }
}

/// When a table file's current statement must be done by, shared with its `pdx_in_time()`:
/// nanoseconds after the process's first look (0: no limit).
#[derive(Debug, Clone, Default)]
pub(crate) struct Deadline(Arc<AtomicU64>);

fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

impl Deadline {
    /// Holds the next statements to `at`.
    pub(crate) fn set(&self, at: Instant) {
        let nanos = at.saturating_duration_since(clock_base()).as_nanos();
        self.0.store(
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
    }

    /// Stops the current statement at its next look at the clock.
    pub(crate) fn stop(&self) {
        self.0.store(1, Ordering::Relaxed);
    }

    pub(crate) fn passed(&self) -> bool {
        let at = self.0.load(Ordering::Relaxed);
        let now = u64::try_from(clock_base().elapsed().as_nanos()).unwrap_or(u64::MAX);
        at != 0 && now > at
    }
}

/// A table file opened for reading, and the deadline its statements are held to.
pub(crate) struct TableFile {
    pub(crate) conn: SqliteConnection,
    pub(crate) deadline: Deadline,
}

/// Opens a table file for reading.
pub(crate) fn open_file(path: &Path) -> Result<TableFile, RowsError> {
    let url = format!("file:{}?mode=ro", path.display());
    let mut conn = SqliteConnection::establish(&url)
        .map_err(|e| RowsError::Storage(StorageError::Task(format!("row table: {e}"))))?;
    conn.batch_execute("PRAGMA query_only = ON; PRAGMA mmap_size = 268435456;")
        .map_err(storage)?;
    let deadline = Deadline::default();
    let watched = deadline.clone();
    let mut reads = 0u32;
    pdx_in_time_utils::register_nondeterministic_impl(&conn, move || {
        reads = reads.wrapping_add(1);
        InTime(!reads.is_multiple_of(CLOCK_STRIDE) || !watched.passed())
    })
    .map_err(storage)?;
    Ok(TableFile { conn, deadline })
}

/// Page cache of a table file's load, in KiB.
const LOAD_CACHE_KIB: u32 = 8 * 1024;

/// The connection a load writes through.
pub(crate) enum Writer<'a> {
    /// The table's own file.
    File(SqliteConnection),
    /// The main PostgreSQL database.
    Postgres(&'a mut PgConnection),
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::File(_) => "Writer::File",
            Self::Postgres(_) => "Writer::Postgres",
        })
    }
}

/// Loads rows into a new table.
#[derive(Debug)]
pub(crate) struct Loader<'a> {
    writer: Writer<'a>,
    table: String,
    columns: Vec<TableColumn>,
    insert_head: String,
    pending: Vec<(i64, Vec<Value>)>,
    batch: usize,
}

impl<'a> Loader<'a> {
    /// Creates the table at `place` for `columns`; on PostgreSQL through `pg`.
    pub(crate) fn create(
        place: &Place,
        columns: &[TableColumn],
        pg: Option<&'a mut PgConnection>,
    ) -> Result<Self, RowsError> {
        let postgres = matches!(place, Place::Postgres(_));
        let mut definition = String::from("(_row BIGINT PRIMARY KEY");
        for (i, column) in columns.iter().enumerate() {
            definition.push_str(&format!(
                ", {} {}",
                column_name(i),
                sql_type(column.column_type, postgres)
            ));
        }
        definition.push(')');
        let mut writer = match (place, pg) {
            (Place::File(path), _) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        RowsError::Storage(StorageError::Task(format!(
                            "cannot create {}: {e}",
                            dir.display()
                        )))
                    })?;
                }
                let _ = std::fs::remove_file(path);
                let mut conn =
                    SqliteConnection::establish(&path.display().to_string()).map_err(|e| {
                        RowsError::Storage(StorageError::Task(format!("row table: {e}")))
                    })?;
                // A new file nobody reads until it is complete: a crash loses only the load.
                // Rows arrive in `_row` order, so appending needs few pages in memory; the
                // indexes' sorts spill to temporary files past the same bound. The cache is
                // freed when the load ends, but the C allocator keeps what it held.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
                     PRAGMA temp_store = FILE; PRAGMA cache_size = -{LOAD_CACHE_KIB}; BEGIN;"
                ))
                .map_err(storage)?;
                Writer::File(conn)
            }
            (Place::Postgres(_), Some(pg)) => Writer::Postgres(pg),
            (Place::Postgres(_), None) => {
                return Err(RowsError::Storage(StorageError::Task(
                    "a PostgreSQL row table needs a PostgreSQL connection".into(),
                )));
            }
        };
        let create = format!("CREATE TABLE {} {definition}", place.table());
        match &mut writer {
            Writer::File(conn) => conn.batch_execute(&create),
            Writer::Postgres(conn) => conn.batch_execute(&format!(
                "DROP TABLE IF EXISTS {0}; {create}",
                place.table()
            )),
        }
        .map_err(storage)?;
        let names: Vec<String> = (0..columns.len()).map(column_name).collect();
        let insert_head = if names.is_empty() {
            format!("INSERT INTO {} (_row) VALUES ", place.table())
        } else {
            format!(
                "INSERT INTO {} (_row, {}) VALUES ",
                place.table(),
                names.join(", ")
            )
        };
        // Bound values per statement: SQLite allows 32,766, PostgreSQL 65,535.
        let per_statement = if postgres { 60_000 } else { 30_000 };
        let batch = (per_statement / (columns.len() + 1)).clamp(1, 1_000);
        Ok(Self {
            writer,
            table: place.table().to_owned(),
            columns: columns.to_vec(),
            insert_head,
            pending: Vec::with_capacity(batch),
            batch,
        })
    }

    /// Adds a row (written in batches).
    pub(crate) fn push(&mut self, row: i64, values: Vec<Value>) -> Result<(), RowsError> {
        self.pending.push((row, values));
        if self.pending.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RowsError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let width = self.columns.len() + 1;
        let mut sql =
            String::with_capacity(self.insert_head.len() + self.pending.len() * width * 6);
        sql.push_str(&self.insert_head);
        let mut n = 0;
        for (r, _) in self.pending.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                // SQLite looks a numbered parameter up among all before it (quadratic in a
                // statement of thousands); it takes `?` in order. PostgreSQL needs `$n`.
                match &self.writer {
                    Writer::File(_) => sql.push('?'),
                    Writer::Postgres(_) => {
                        n += 1;
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                }
            }
            sql.push(')');
        }
        let rows = std::mem::take(&mut self.pending);
        // A missing value is bound as a NULL of its column's type: PostgreSQL refuses a text
        // NULL for a number column.
        let kinds: Vec<Option<ColumnType>> = std::iter::once(Some(ColumnType::Integer))
            .chain(self.columns.iter().map(|c| Some(c.column_type)))
            .collect();
        let values = rows.into_iter().flat_map(|(row, values)| {
            std::iter::once(Value::Int(row))
                .chain(values)
                .zip(kinds.clone())
        });
        match &mut self.writer {
            Writer::File(conn) => {
                bind_all(diesel::sql_query(sql).into_boxed::<Sqlite>(), values).execute(conn)
            }
            Writer::Postgres(conn) => {
                bind_all(diesel::sql_query(sql).into_boxed::<Pg>(), values).execute(*conn)
            }
        }
        .map_err(storage)?;
        Ok(())
    }

    /// Writes what is pending, indexes the `indexed` columns and gathers statistics.
    pub(crate) fn finish(mut self) -> Result<(), RowsError> {
        self.flush()?;
        let mut sql = String::new();
        let bare = &self.table;
        for (i, column) in self.columns.iter().enumerate() {
            if column.indexed {
                let c = column_name(i);
                // With `_row` the index also serves keyset pages in the column's order.
                sql.push_str(&format!(
                    "CREATE INDEX {bare}_{c} ON {} ({c}, _row); ",
                    self.table
                ));
            }
        }
        match &mut self.writer {
            Writer::File(conn) => {
                sql.push_str("COMMIT; ANALYZE;");
                conn.batch_execute(&sql)
            }
            Writer::Postgres(conn) => {
                sql.push_str(&format!("ANALYZE {};", self.table));
                conn.batch_execute(&sql)
            }
        }
        .map_err(storage)
    }
}

/// Binds values in order, each with its type; a `NULL` with its column's type when it is
/// known (as text otherwise).
fn bind_all<'f, DB, Q>(
    mut query: BoxedSqlQuery<'f, DB, Q>,
    values: impl IntoIterator<Item = (Value, Option<ColumnType>)>,
) -> BoxedSqlQuery<'f, DB, Q>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Double>
        + diesel::sql_types::HasSqlType<Text>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    Option<i64>: diesel::serialize::ToSql<Nullable<BigInt>, DB>,
    Option<f64>: diesel::serialize::ToSql<Nullable<Double>, DB>,
    DB: diesel::sql_types::HasSqlType<Nullable<Text>>
        + diesel::sql_types::HasSqlType<Nullable<BigInt>>
        + diesel::sql_types::HasSqlType<Nullable<Double>>,
{
    for (value, kind) in values {
        query = match (value, kind) {
            (Value::Null, Some(ColumnType::Integer | ColumnType::Boolean)) => {
                query.bind::<Nullable<BigInt>, _>(None::<i64>)
            }
            (Value::Null, Some(ColumnType::Number)) => {
                query.bind::<Nullable<Double>, _>(None::<f64>)
            }
            (Value::Null, _) => query.bind::<Nullable<Text>, _>(None::<String>),
            (Value::Int(n), _) => query.bind::<BigInt, _>(n),
            (Value::Float(f), _) => query.bind::<Double, _>(f),
            (Value::Text(t), _) => query.bind::<Text, _>(t),
        };
    }
    query
}

/// Drops a table (a missing one is not an error).
pub(crate) fn drop_table(place: &Place, pg: Option<&mut PgConnection>) -> Result<(), RowsError> {
    match (place, pg) {
        (Place::File(path), _) => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RowsError::Storage(StorageError::Task(format!(
                "cannot remove {}: {e}",
                path.display()
            )))),
        },
        (Place::Postgres(name), Some(conn)) => conn
            .batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
            .map_err(storage),
        (Place::Postgres(_), None) => Ok(()),
    }
}

/// One row read: `_row`, then the selected values.
#[derive(Debug)]
pub(crate) struct Record(pub(crate) Vec<Value>);

impl QueryableByName<Sqlite> for Record {
    fn build<'a>(row: &impl NamedRow<'a, Sqlite>) -> deserialize::Result<Self> {
        let mut values = Vec::with_capacity(row.field_count());
        for i in 0..row.field_count() {
            let field = Row::get(row, i).ok_or("a selected column is missing")?;
            let value = match field.value() {
                None => Value::Null,
                Some(raw) => match raw.value_type() {
                    Some(SqliteType::Long | SqliteType::Integer | SqliteType::SmallInt) => {
                        Value::Int(<i64 as FromSql<BigInt, Sqlite>>::from_sql(raw)?)
                    }
                    Some(SqliteType::Double | SqliteType::Float) => {
                        Value::Float(<f64 as FromSql<Double, Sqlite>>::from_sql(raw)?)
                    }
                    Some(_) => Value::Text(<String as FromSql<Text, Sqlite>>::from_sql(raw)?),
                    None => Value::Null,
                },
            };
            values.push(value);
        }
        Ok(Self(values))
    }
}

/// PostgreSQL type oids of the column types used.
const INT8: u32 = 20;
const FLOAT8: u32 = 701;

impl QueryableByName<Pg> for Record {
    fn build<'a>(row: &impl NamedRow<'a, Pg>) -> deserialize::Result<Self> {
        let mut values = Vec::with_capacity(row.field_count());
        for i in 0..row.field_count() {
            let field = Row::get(row, i).ok_or("a selected column is missing")?;
            let value = match field.value() {
                None => Value::Null,
                Some(raw) => match raw.get_oid().get() {
                    INT8 => Value::Int(<i64 as FromSql<BigInt, Pg>>::from_sql(raw)?),
                    FLOAT8 => Value::Float(<f64 as FromSql<Double, Pg>>::from_sql(raw)?),
                    _ => Value::Text(<String as FromSql<Text, Pg>>::from_sql(raw)?),
                },
            };
            values.push(value);
        }
        Ok(Self(values))
    }
}

/// A row statement as diesel runs it: unlike `sql_query`, it may be kept prepared in the
/// connection's statement cache (keyed by its SQL and bound types, never by values). Each
/// `$n` of the statement's SQL becomes the backend's placeholder, bound to value `n`.
#[derive(Debug, Clone, Copy)]
struct Prepared<'s>(&'s Statement);

/// A `NULL` bound as text.
static NULL_TEXT: Option<String> = None;

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}

impl<DB> QueryFragment<DB> for Prepared<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Double>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Nullable<Text>>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut rest = self.0.sql.as_str();
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let number = &rest[at + 1..];
            let digits = number
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(number.len());
            let value = number[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| self.0.params.get(n))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        "a placeholder without its value".into(),
                    )
                })?;
            match value {
                Value::Null => out.push_bind_param::<Nullable<Text>, _>(&NULL_TEXT)?,
                Value::Int(n) => out.push_bind_param::<BigInt, _>(n)?,
                Value::Float(f) => out.push_bind_param::<Double, _>(f)?,
                Value::Text(t) => out.push_bind_param::<Text, _>(t)?,
            }
            rest = &number[digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// Rows read from a PostgreSQL cursor at a time: larger batches gain little and hold more.
const CURSOR_BATCH: u64 = 10_001;

/// A connection a table is read through.
pub(crate) enum Reader<'a> {
    /// A table file's connection.
    File(&'a mut SqliteConnection),
    /// The main PostgreSQL database, and whether the connection now plans each prepared
    /// statement once (`plan_cache_mode`), as [`Statement::fixed_plan`] allows, or for each
    /// query's values.
    Postgres {
        conn: &'a mut PgConnection,
        fixed_plans: &'a mut bool,
    },
}

impl Reader<'_> {
    /// Runs `statement`, calling `each` with every row in order until it returns `false`.
    /// The statement is prepared once per connection and shape (its SQL and the types bound).
    pub(crate) fn each(
        &mut self,
        statement: &Statement,
        mut each: impl FnMut(Vec<Value>) -> Result<bool, RowsError>,
    ) -> Result<(), RowsError> {
        let query = Prepared(statement);
        if let Self::Postgres { conn, fixed_plans } = self
            && **fixed_plans != statement.fixed_plan
        {
            conn.batch_execute(if statement.fixed_plan {
                "SET plan_cache_mode = force_generic_plan"
            } else {
                "SET plan_cache_mode = force_custom_plan"
            })
            .map_err(storage)?;
            **fixed_plans = statement.fixed_plan;
        }
        match self {
            Self::File(conn) => {
                for record in query
                    .load_iter::<Record, diesel::connection::DefaultLoadingMode>(*conn)
                    .map_err(storage)?
                {
                    if !each(record.map_err(storage)?.0)? {
                        break;
                    }
                }
            }
            // A page (at most MAX_PAGE rows and the probe) is read as one result; anything
            // longer through a cursor, a batch at a time, so an export never holds more than
            // one batch in memory. Both avoid libpq's single-row mode, which costs a result
            // allocation per row.
            Self::Postgres { conn, .. } if statement.rows.is_some_and(|n| n <= CURSOR_BATCH) => {
                for record in query
                    .load_iter::<Record, diesel::connection::DefaultLoadingMode>(*conn)
                    .map_err(storage)?
                {
                    if !each(record.map_err(storage)?.0)? {
                        break;
                    }
                }
            }
            Self::Postgres { conn, .. } => {
                conn.build_transaction()
                    .read_only()
                    .run(|conn| -> Result<(), RowsError> {
                        let declare = Statement {
                            sql: format!("DECLARE pdx_rows NO SCROLL CURSOR FOR {}", statement.sql),
                            params: statement.params.clone(),
                            rows: None,
                            fixed_plan: false,
                        };
                        Prepared(&declare).execute(conn).map_err(storage)?;
                        let fetch = Statement {
                            sql: format!("FETCH {CURSOR_BATCH} FROM pdx_rows"),
                            params: Vec::new(),
                            rows: None,
                            fixed_plan: false,
                        };
                        loop {
                            let mut fetched = 0u64;
                            for record in Prepared(&fetch)
                                .load_iter::<Record, diesel::connection::DefaultLoadingMode>(conn)
                                .map_err(storage)?
                            {
                                fetched += 1;
                                if !each(record.map_err(storage)?.0)? {
                                    return Ok(());
                                }
                            }
                            if fetched < CURSOR_BATCH {
                                return Ok(());
                            }
                        }
                    })?;
            }
        }
        Ok(())
    }

    /// The count a `count(*)` statement answers.
    pub(crate) fn count(&mut self, statement: &Statement) -> Result<u64, RowsError> {
        let mut n = 0;
        self.each(statement, |values| {
            if let Some(Value::Int(count)) = values.first() {
                n = u64::try_from(*count).unwrap_or(0);
            }
            Ok(false)
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table file of `rows` rows, opened for reading.
    fn table_file(dir: &Path, rows: u32) -> TableFile {
        let path = dir.join("table.sqlite");
        let written = SqliteConnection::establish(&path.display().to_string())
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!(
                    "CREATE TABLE t (_row INTEGER PRIMARY KEY, c0 BIGINT); \
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                     WHERE i < {rows}) INSERT INTO t SELECT i, i FROM n;"
                ))
                .map_err(|e| e.to_string())
            });
        assert!(written.is_ok(), "{written:?}");
        match open_file(&path) {
            Ok(file) => file,
            Err(error) => panic!("{error}"),
        }
    }

    fn count(file: &mut TableFile, sql: &str) -> Result<u64, RowsError> {
        Reader::File(&mut file.conn).count(&Statement {
            sql: sql.to_owned(),
            params: Vec::new(),
            rows: Some(1),
            fixed_plan: false,
        })
    }

    #[test]
    fn a_statement_past_its_deadline_stops_even_while_nothing_matches() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut file = table_file(dir.path(), 100_000);
        let scan = "SELECT count(*) AS n FROM t WHERE pdx_in_time() AND c0 < 0";
        assert!(matches!(count(&mut file, scan), Ok(0)), "no deadline yet");
        file.deadline
            .set(Instant::now() + std::time::Duration::from_secs(60));
        assert!(
            matches!(count(&mut file, scan), Ok(0)),
            "well within its time"
        );
        file.deadline.set(Instant::now());
        assert!(
            matches!(count(&mut file, scan), Err(RowsError::TooSlow)),
            "a scan that matches nothing delivers no row, and is stopped all the same"
        );
        let everything = "SELECT count(*) AS n FROM t WHERE pdx_in_time()";
        assert!(matches!(
            count(&mut file, everything),
            Err(RowsError::TooSlow)
        ));
        file.deadline
            .set(Instant::now() + std::time::Duration::from_secs(60));
        assert!(
            matches!(count(&mut file, everything), Ok(100_000)),
            "the connection serves the next query"
        );
    }
}
