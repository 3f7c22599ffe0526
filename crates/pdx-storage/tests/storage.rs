//! Storage behaviour on a real database: SQLite by default, PostgreSQL when
//! `PDX_TEST_DATABASE_URL` points at a server (as `.ci/run` does).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use pdx_core::{Clock, SystemClock};
use pdx_storage::database::transaction;
use pdx_storage::testing::TestDatabase;
use pdx_storage::{Database, DatabaseUrl, DbConnection, PoolOptions, StorageError, instance};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn conn(db: &TestDatabase) -> pdx_storage::database::PooledConnection {
    match db.database().conn() {
        Ok(conn) => conn,
        Err(error) => panic!("no connection: {error}"),
    }
}

fn create_family_tables(conn: &mut DbConnection) {
    let created = conn.batch_execute(
        "CREATE TABLE parents (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE);
         CREATE TABLE children (id TEXT PRIMARY KEY NOT NULL,
                                parent_id TEXT NOT NULL REFERENCES parents (id));",
    );
    assert!(created.is_ok(), "{created:?}");
}

fn insert_parent(conn: &mut DbConnection, id: &str, name: &str) -> Result<usize, StorageError> {
    diesel::sql_query("INSERT INTO parents (id, name) VALUES ($1, $2)")
        .bind::<Text, _>(id)
        .bind::<Text, _>(name)
        .execute(conn)
        .map_err(StorageError::from)
}

fn count(conn: &mut DbConnection, table: &str) -> i64 {
    match diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result::<Count>(conn)
    {
        Ok(count) => count.n,
        Err(error) => panic!("count failed: {error}"),
    }
}

#[test]
fn migrate_twice_applies_nothing_the_second_time() {
    let db = TestDatabase::empty();
    let first = db.database().migrate();
    assert!(
        matches!(&first, Ok(applied) if !applied.is_empty()),
        "{first:?}"
    );
    let second = db.database().migrate();
    assert_eq!(second.ok(), Some(vec![]));
}

#[test]
fn instance_ensure_creates_once_and_then_returns_the_same_identity() {
    let db = TestDatabase::new();
    let mut conn = conn(&db);
    assert!(matches!(
        instance::load(&mut conn),
        Err(StorageError::NotFound)
    ));
    let created_at = Utc
        .with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
        .single()
        .map(|t| t + chrono::Duration::microseconds(123_456));
    let Some(created_at) = created_at else {
        panic!("valid time")
    };
    let first = instance::ensure(&mut conn, created_at);
    let second = instance::ensure(&mut conn, SystemClock.now());
    let (Ok(first), Ok(second)) = (first, second) else {
        panic!("ensure failed");
    };
    assert_eq!(first, second);
    assert_eq!(
        first.created_at, created_at,
        "microseconds survive the round trip"
    );
}

#[test]
fn unique_violation_is_reported_as_such() {
    let db = TestDatabase::new();
    let mut conn = conn(&db);
    create_family_tables(&mut conn);
    assert!(insert_parent(&mut conn, "p1", "Transport Bureau").is_ok());
    let duplicate = insert_parent(&mut conn, "p2", "Transport Bureau");
    assert!(
        matches!(
            duplicate,
            Err(StorageError::UniqueViolation {
                constraint: Some(_)
            })
        ),
        "{duplicate:?}"
    );
}

#[test]
fn foreign_key_violation_is_enforced_and_reported() {
    let db = TestDatabase::new();
    let mut conn = conn(&db);
    create_family_tables(&mut conn);
    let orphan = diesel::sql_query("INSERT INTO children (id, parent_id) VALUES ($1, $2)")
        .bind::<Text, _>("c1")
        .bind::<Text, _>("no-such-parent")
        .execute(&mut *conn)
        .map_err(StorageError::from);
    assert!(
        matches!(orphan, Err(StorageError::ForeignKeyViolation { .. })),
        "{orphan:?}"
    );
    assert_eq!(count(&mut conn, "children"), 0);
}

#[test]
fn transaction_error_rolls_back_every_write() {
    let db = TestDatabase::new();
    let mut conn = conn(&db);
    create_family_tables(&mut conn);
    let result: Result<(), StorageError> = transaction(&mut conn, |conn| {
        insert_parent(conn, "p1", "Water Authority")?;
        insert_parent(conn, "p2", "Water Authority")?; // unique violation
        Ok(())
    });
    assert!(matches!(result, Err(StorageError::UniqueViolation { .. })));
    assert_eq!(
        count(&mut conn, "parents"),
        0,
        "the first insert was rolled back"
    );

    let committed: Result<(), StorageError> = transaction(&mut conn, |conn| {
        insert_parent(conn, "p1", "Water Authority")?;
        Ok(())
    });
    assert!(committed.is_ok());
    assert_eq!(count(&mut conn, "parents"), 1);
}

#[test]
fn nested_transaction_failure_rolls_back_only_the_inner_part() {
    let db = TestDatabase::new();
    let mut conn = conn(&db);
    create_family_tables(&mut conn);
    let result: Result<(), StorageError> = transaction(&mut conn, |conn| {
        insert_parent(conn, "outer", "Outer")?;
        let inner: Result<(), StorageError> = transaction(conn, |conn| {
            insert_parent(conn, "inner", "Inner")?;
            Err(StorageError::NotFound)
        });
        assert!(inner.is_err());
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(count(&mut conn, "parents"), 1);
}

#[test]
fn pool_exhaustion_is_reported_after_the_acquire_timeout() {
    let db = TestDatabase::new();
    let options = PoolOptions {
        max_size: 1,
        acquire_timeout: Duration::from_millis(200),
    };
    let small = match Database::connect(db.url(), options) {
        Ok(small) => small,
        Err(error) => panic!("{error}"),
    };
    let held = small.conn();
    assert!(held.is_ok());
    assert!(matches!(small.conn(), Err(StorageError::PoolExhausted)));
    drop(held);
    assert!(
        small.conn().is_ok(),
        "the connection is usable again once returned"
    );
}

#[tokio::test]
async fn run_executes_off_the_executor_and_ping_succeeds() {
    let db = TestDatabase::new();
    assert!(db.database().ping().await.is_ok());
    let backend = db
        .database()
        .run(|conn| Ok::<_, StorageError>(conn.backend()))
        .await;
    assert_eq!(backend.ok(), Some(db.backend()));
}

#[test]
fn sqlite_connections_use_wal_busy_timeout_and_foreign_keys() {
    #[derive(QueryableByName)]
    struct Text1 {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let dir = tempfile::tempdir();
    let Ok(dir) = dir else { panic!("tempdir") };
    let url = DatabaseUrl::sqlite(dir.path().join("nested/dir/pdx.sqlite3"));
    let Ok(db) = Database::connect(&url, PoolOptions::default()) else {
        panic!("sqlite connect failed")
    };
    let Ok(mut conn) = db.conn() else {
        panic!("no conn")
    };
    let mode = diesel::sql_query("PRAGMA journal_mode").get_result::<Text1>(&mut *conn);
    assert_eq!(mode.map(|m| m.journal_mode).ok().as_deref(), Some("wal"));
    let fk = diesel::sql_query("SELECT foreign_keys AS n FROM pragma_foreign_keys")
        .get_result::<Count>(&mut *conn);
    assert_eq!(fk.map(|c| c.n).ok(), Some(1));
    let busy = diesel::sql_query("SELECT timeout AS n FROM pragma_busy_timeout")
        .get_result::<Count>(&mut *conn);
    assert_eq!(busy.map(|c| c.n).ok(), Some(5_000));
}

#[test]
fn unreachable_postgres_reports_the_real_cause() {
    let url = DatabaseUrl::parse("postgres://pdx@127.0.0.1:1/pdx?connect_timeout=2");
    let Ok(url) = url else { panic!("valid url") };
    match Database::connect(&url, PoolOptions::default()) {
        Err(StorageError::Connection(message)) => {
            assert!(
                message.contains("127.0.0.1") || message.contains("refused"),
                "{message}"
            );
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_take_turns_in_the_order_they_asked() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let url = DatabaseUrl::sqlite(dir.path().join("pdx.sqlite3"));
    let Ok(db) = Database::connect(&url, PoolOptions::default()) else {
        panic!("sqlite connect failed")
    };
    let created = db
        .write(|conn| {
            conn.batch_execute("CREATE TABLE turns (n BIGINT NOT NULL)")
                .map_err(StorageError::from)
        })
        .await;
    assert!(created.is_ok(), "{created:?}");
    // A long write holds the turn while ten more writers ask for it, one after another.
    let holder = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok::<_, StorageError>(())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut writers = Vec::new();
    for n in 0..10_i64 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            db.write(move |conn| {
                diesel::sql_query("INSERT INTO turns (n) VALUES ($1)")
                    .bind::<BigInt, _>(n)
                    .execute(conn)
                    .map_err(StorageError::from)
            })
            .await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(holder.await, Ok(Ok(()))));
    for writer in writers {
        assert!(matches!(writer.await, Ok(Ok(1))));
    }
    #[derive(QueryableByName)]
    struct Turn {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let Ok(mut conn) = db.conn() else {
        panic!("no conn")
    };
    let order = diesel::sql_query("SELECT n FROM turns ORDER BY rowid").load::<Turn>(&mut *conn);
    let order: Vec<i64> = order
        .map(|t| t.into_iter().map(|t| t.n).collect())
        .unwrap_or_default();
    assert_eq!(
        order,
        (0..10).collect::<Vec<_>>(),
        "first come, first served, not the busy handler's lottery"
    );
}
