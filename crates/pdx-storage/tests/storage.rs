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
fn sqlite_connections_use_wal_busy_timeout_foreign_keys_and_a_small_page_cache() {
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
    // A small page cache per connection (negative: KiB), the file's pages being shared in
    // the kernel's cache.
    let cache = diesel::sql_query("SELECT cache_size AS n FROM pragma_cache_size")
        .get_result::<Count>(&mut *conn);
    assert_eq!(cache.map(|c| c.n).ok(), Some(-256));
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

mod vault {
    use super::*;
    use pdx_storage::vault::{MasterKey, Vault, VaultError};

    fn at(minute: u32) -> chrono::DateTime<Utc> {
        match Utc.with_ymd_and_hms(2026, 12, 1, 8, minute, 0).single() {
            Some(time) => time,
            None => panic!("a valid time"),
        }
    }

    #[test]
    fn keys_sealed_by_one_process_open_in_another_with_the_same_master_key_only() {
        let db = TestDatabase::new();
        let master = MasterKey::from_bytes([3; 32]);
        let first = Vault::new(db.database().clone(), master.clone(), Vec::new());
        let made = first.singleton::<VaultError>("ledger", at(0), || Ok(b"seed one".to_vec()));
        assert_eq!(made.ok().as_deref(), Some(&b"seed one"[..]));

        // A second process (same database, same master key) reads the stored key and never
        // calls its own generator.
        let second = Vault::new(db.database().clone(), master, Vec::new());
        let read = second.singleton::<VaultError>("ledger", at(1), || {
            panic!("the key exists: nothing to generate")
        });
        assert_eq!(read.ok().as_deref(), Some(&b"seed one"[..]));

        // The database holds no key in the clear.
        let stored: Vec<String> = match pdx_storage::schema::server_keys::table
            .select(pdx_storage::schema::server_keys::sealed)
            .load(&mut conn(&db))
        {
            Ok(rows) => rows,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains("seed"));

        // A process with another master key is told what is wrong, and opens nothing.
        let stranger = Vault::new(
            db.database().clone(),
            MasterKey::from_bytes([4; 32]),
            Vec::new(),
        );
        match stranger.check() {
            Err(VaultError::WrongMasterKey {
                id, sealed_under, ..
            }) => {
                assert_eq!(id, "ledger");
                assert_eq!(sealed_under, MasterKey::from_bytes([3; 32]).id());
            }
            other => panic!("a wrong master key is named: {other:?}"),
        }
        assert!(stranger.keys("ledger").is_err());
    }

    #[test]
    fn keys_are_kept_in_order_and_resealed_under_a_new_master_key() {
        let db = TestDatabase::new();
        let old = MasterKey::from_bytes([5; 32]);
        let vault = Vault::new(db.database().clone(), old.clone(), Vec::new());
        for (id, minute) in [("jwt:b", 10), ("jwt:a", 0)] {
            let added = vault.add(id, "jwt", id.as_bytes(), at(minute), at(minute));
            assert!(added.is_ok(), "{added:?}");
        }
        let again = vault.add("jwt:a", "jwt", b"other", at(20), at(20));
        assert!(
            matches!(
                again,
                Err(VaultError::Storage(StorageError::UniqueViolation { .. }))
            ),
            "{again:?}"
        );
        let ids = |vault: &Vault| -> Vec<String> {
            match vault.keys("jwt") {
                Ok(keys) => keys.into_iter().map(|k| k.id).collect(),
                Err(error) => panic!("{error}"),
            }
        };
        assert_eq!(ids(&vault), ["jwt:a", "jwt:b"], "earliest active first");

        // The master key changes: the new one seals, the old one still opens until resealed.
        let new = MasterKey::from_bytes([6; 32]);
        let changing = Vault::new(db.database().clone(), new.clone(), vec![old]);
        assert_eq!(
            changing.check().map(|c| (c.keys, c.under_previous)).ok(),
            Some((2, 2))
        );
        assert_eq!(changing.reseal().ok(), Some(2));
        let after = Vault::new(db.database().clone(), new, Vec::new());
        assert_eq!(after.check().map(|c| c.under_previous).ok(), Some(0));
        assert_eq!(ids(&after), ["jwt:a", "jwt:b"]);
        assert_eq!(
            Vault::sealing_master_keys(db.database()).ok(),
            Some(vec![(after.master_key_id().to_owned(), 2)])
        );
        assert_eq!(after.remove("jwt:a").ok(), Some(true));
        assert_eq!(ids(&after), ["jwt:b"]);
    }

    #[test]
    fn an_altered_sealed_key_is_refused() {
        let db = TestDatabase::new();
        let vault = Vault::new(
            db.database().clone(),
            MasterKey::from_bytes([9; 32]),
            Vec::new(),
        );
        let made = vault.singleton::<VaultError>("row_mask", at(0), || Ok(vec![1; 32]));
        assert!(made.is_ok());
        let altered = diesel::sql_query("UPDATE server_keys SET sealed = $1 WHERE id = 'row_mask'")
            .bind::<Text, _>("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .execute(&mut conn(&db));
        assert!(altered.is_ok());
        assert!(matches!(vault.check(), Err(VaultError::Corrupt(id)) if id == "row_mask"));
    }
}

mod leases {
    use super::*;
    use pdx_storage::lease;

    #[test]
    fn one_holder_at_a_time_and_another_takes_over_once_it_lapses() {
        let db = TestDatabase::new();
        let start = SystemClock.now();
        let ttl = chrono::Duration::seconds(10);
        let mut conn = conn(&db);
        let hold = |conn: &mut DbConnection, holder: &str, seconds: i64| match lease::hold(
            conn,
            "checkpoint_signer",
            holder,
            start + chrono::Duration::seconds(seconds),
            ttl,
        ) {
            Ok(held) => held,
            Err(error) => panic!("{error}"),
        };
        assert!(hold(&mut conn, "a", 0), "nobody held it");
        assert!(!hold(&mut conn, "b", 1), "a holds it");
        assert!(hold(&mut conn, "a", 5), "a renews");
        assert!(!hold(&mut conn, "b", 14), "renewed until 15 s");
        assert!(hold(&mut conn, "b", 16), "a lapsed: b takes over");
        assert!(!hold(&mut conn, "a", 17), "a learns it lost the lease");
        let holding = lease::holding(&mut conn, "checkpoint_signer");
        assert!(
            matches!(&holding, Ok(Some(h)) if h.holder == "b"),
            "{holding:?}"
        );
        assert!(lease::release(&mut conn, "checkpoint_signer", "a").is_ok());
        assert!(
            !hold(&mut conn, "a", 18),
            "releasing another's lease does nothing"
        );
        assert!(lease::release(&mut conn, "checkpoint_signer", "b").is_ok());
        assert!(hold(&mut conn, "a", 19), "released: free at once");
        assert!(lease::holder_name().contains(&std::process::id().to_string()));
    }
}

mod presence {
    use super::*;
    use pdx_storage::presence::{self, Roster};

    #[test]
    fn processes_are_counted_while_they_announce_themselves_and_go_when_they_withdraw() {
        let db = TestDatabase::new();
        let start = SystemClock.now();
        let at = |seconds: i64| start + chrono::Duration::seconds(seconds);
        let mut c = conn(&db);
        let mut announce = |name: &str, seconds: i64| {
            presence::announce(&mut c, name, at(seconds)).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(announce("b", 0), Roster::ALONE);
        assert_eq!(announce("a", 1), Roster { rank: 0, count: 2 });
        assert_eq!(announce("b", 2), Roster { rank: 1, count: 2 });
        assert_eq!(announce("c", 3), Roster { rank: 2, count: 3 });
        // b stops announcing itself: after five seconds it no longer counts.
        assert_eq!(announce("a", 6), Roster { rank: 0, count: 3 });
        assert_eq!(announce("a", 8), Roster { rank: 0, count: 2 });
        let running = presence::running(&mut c, at(8)).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = running.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(running[0].started_at, at(1));
        assert_eq!(running[0].seen_at, at(8));
        // c stops cleanly: a is alone at once.
        assert!(presence::withdraw(&mut c, "c").is_ok());
        assert_eq!(
            presence::announce(&mut c, "a", at(9)).ok(),
            Some(Roster::ALONE)
        );
    }
}

mod s3 {
    use bytes::Bytes;
    use futures_util::StreamExt;
    use pdx_storage::test_s3::S3Server;
    use pdx_storage::{BlobError, BlobStore};
    use sha2::{Digest, Sha256};

    fn open_store(server: &S3Server, prefix: &str) -> BlobStore {
        match BlobStore::open_with(&server.url(prefix), &server.options()) {
            Ok(store) => store,
            Err(error) => panic!("the S3 store opens: {error}"),
        }
    }

    /// `count` chunks of 1 MiB, each filled with its index.
    fn chunks(
        count: u8,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter((0..count).map(|i| Ok(Bytes::from(vec![i; 1 << 20]))))
    }

    #[tokio::test]
    async fn files_go_up_in_parts_and_come_back_whole_or_by_range() {
        let server = S3Server::start();
        let store = open_store(&server, "pdx");
        // 12 MiB: more than two of object_store's 5 MiB parts.
        let stored = store
            .put_stream("datasets/d1/f1", chunks(12), 64 << 20)
            .await;
        let Ok(stored) = stored else {
            panic!("the multipart upload succeeds: {stored:?}")
        };
        assert_eq!(stored.size, 12 << 20);
        let mut whole = Sha256::new();
        for i in 0..12u8 {
            whole.update(vec![i; 1 << 20]);
        }
        assert_eq!(stored.sha256, hex::encode(whole.finalize()));
        assert!(
            server.root().join("pdx-test/pdx/datasets/d1/f1").is_file(),
            "the object is in the bucket under the prefix"
        );

        let read = store.read("datasets/d1/f1").await.map(|b| b.len()).ok();
        assert_eq!(read, Some(12 << 20));
        // A range across a part boundary: the last byte of chunk 4 and the first of chunk 5.
        let from = (5u64 << 20) - 1;
        let opened = store
            .open_stream("datasets/d1/f1", Some(from..from + 2))
            .await;
        let Ok((size, stream)) = opened else {
            panic!("the range opens")
        };
        assert_eq!(size, 12 << 20, "the whole size beside the range");
        let bytes: Vec<u8> = stream
            .map(|chunk| chunk.map(|c| c.to_vec()).unwrap_or_default())
            .concat()
            .await;
        assert_eq!(bytes, vec![4, 5]);

        // Another process with the same settings sees the same object.
        let other = open_store(&server, "pdx");
        assert_eq!(
            other.read("datasets/d1/f1").await.map(|b| b.len()).ok(),
            Some(12 << 20)
        );
        // The store lists its own keys, not those of another prefix in the bucket.
        let elsewhere = open_store(&server, "audit");
        let put = elsewhere
            .put_stream("checkpoint-1.txt", chunks(1), 2 << 20)
            .await;
        assert!(put.is_ok(), "{put:?}");
        assert_eq!(
            store.keys().await.ok(),
            Some(vec!["datasets/d1/f1".to_owned()])
        );
        assert_eq!(
            elsewhere.keys().await.ok(),
            Some(vec!["checkpoint-1.txt".to_owned()])
        );

        assert!(store.delete("datasets/d1/f1").await.is_ok());
        assert!(matches!(
            store.read("datasets/d1/f1").await,
            Err(BlobError::NotFound)
        ));
        assert!(
            store.delete("datasets/d1/f1").await.is_ok(),
            "deleting twice is fine"
        );
    }

    #[tokio::test]
    async fn a_failed_or_oversized_upload_leaves_nothing_in_the_bucket() {
        let server = S3Server::start();
        let store = open_store(&server, "pdx");
        let too_large = store.put_stream("big", chunks(8), 6 << 20).await;
        assert!(
            matches!(too_large, Err(BlobError::TooLarge { .. })),
            "{too_large:?}"
        );
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from(vec![1u8; 6 << 20])),
            Err(std::io::Error::other("connection reset")),
        ]);
        let interrupted = store.put_stream("broken", broken, 64 << 20).await;
        assert!(
            matches!(interrupted, Err(BlobError::Interrupted(_))),
            "{interrupted:?}"
        );
        for key in ["big", "broken"] {
            assert!(
                matches!(store.read(key).await, Err(BlobError::NotFound)),
                "{key}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_credentials_are_a_clear_error() {
        let server = S3Server::start();
        let mut options = server.options();
        options.insert("secret_access_key".to_owned(), "wrong".to_owned());
        let Ok(store) = BlobStore::open_with(&server.url("pdx"), &options) else {
            panic!("opening does not connect")
        };
        let put = store
            .put_stream(
                "x",
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]),
                10,
            )
            .await;
        assert!(matches!(put, Err(BlobError::Store(_))), "{put:?}");
    }
}

/// `copy_sqlite_into_postgres` on PostgreSQL runs (an SQLite run has no target to copy into).
mod transfer {
    use super::*;
    use pdx_storage::transfer::{TransferError, copy_sqlite_into_postgres};

    /// A migrated SQLite database in its own directory.
    fn sqlite_source() -> (tempfile::TempDir, DbConnection) {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("no temporary directory")
        };
        let url = DatabaseUrl::sqlite(dir.path().join("source.sqlite3"));
        let mut source = match DbConnection::open(&url) {
            Ok(conn) => conn,
            Err(error) => panic!("cannot open the source: {error}"),
        };
        let migrated = pdx_storage::migrations::run_pending(&mut source);
        assert!(migrated.is_ok(), "{migrated:?}");
        (dir, source)
    }

    fn open(db: &TestDatabase) -> DbConnection {
        match DbConnection::open(db.url()) {
            Ok(conn) => conn,
            Err(error) => panic!("cannot open the target: {error}"),
        }
    }

    /// [`sqlite_source`] holding one agency, and then what `sql` writes.
    fn source_with_an_agency(sql: &str) -> (tempfile::TempDir, DbConnection) {
        let (dir, mut source) = sqlite_source();
        let written = source.batch_execute(&format!(
            "INSERT INTO organizations (id, slug, name, kind, verified, created_at, updated_at) \
             VALUES ('o1', 'o1', 'One', 'agency', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP); {sql}"
        ));
        assert!(written.is_ok(), "{written:?}");
        (dir, source)
    }

    /// A fresh PostgreSQL schema to copy into; `None` on an SQLite run.
    fn postgres_target() -> Option<TestDatabase> {
        let target = TestDatabase::empty();
        (target.backend() == pdx_storage::Backend::Postgres).then_some(target)
    }

    fn copy(source: &mut DbConnection, target: &mut DbConnection) -> Result<(), TransferError> {
        copy_sqlite_into_postgres(source, target, |_, _| Ok(())).map(|_| ())
    }

    #[test]
    fn ids_continue_after_the_highest_sqlite_ever_gave_and_a_second_copy_is_refused() {
        let Some(target_db) = postgres_target() else {
            return;
        };
        let (_dir, mut source) = source_with_an_agency(
            "INSERT INTO catalog_changes (changed_at) VALUES (CURRENT_TIMESTAMP);
             INSERT INTO catalog_changes (changed_at) VALUES (CURRENT_TIMESTAMP);
             INSERT INTO catalog_changes (changed_at) VALUES (CURRENT_TIMESTAMP);
             DELETE FROM catalog_changes WHERE seq > 1;",
        );
        let mut target = open(&target_db);
        let copied = copy(&mut source, &mut target);
        assert!(copied.is_ok(), "{copied:?}");
        assert_eq!(count(&mut target, "organizations"), 1);
        // The feed's followers have seen seq 3: the next change must not be numbered 2 again.
        let next: Result<Count, _> = diesel::sql_query(
            "INSERT INTO catalog_changes (changed_at) VALUES (now()) RETURNING seq AS n",
        )
        .get_result(&mut target);
        assert!(
            matches!(&next, Ok(Count { n: 4 })),
            "{:?}",
            next.map(|c| c.n)
        );

        // A database holding a platform is refused before anything runs on it, even when it
        // looks older than this version (a migration not applied).
        let forgot = target.batch_execute(
            "DELETE FROM __diesel_schema_migrations \
             WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)",
        );
        assert!(forgot.is_ok(), "{forgot:?}");
        let applied = count(&mut target, "__diesel_schema_migrations");
        let again = copy(&mut source, &mut target);
        assert!(
            matches!(&again, Err(TransferError::Refused(reason)) if reason.contains("already holds a platform")),
            "{again:?}"
        );
        assert_eq!(count(&mut target, "organizations"), 1);
        assert_eq!(
            count(&mut target, "__diesel_schema_migrations"),
            applied,
            "no migration ran on the refused database"
        );
    }

    #[test]
    fn a_table_postgresql_does_not_have_stops_the_copy_and_nothing_is_kept() {
        let Some(target_db) = postgres_target() else {
            return;
        };
        let (_dir, mut source) =
            source_with_an_agency("CREATE TABLE field_notes (id INTEGER PRIMARY KEY, note TEXT);");
        let mut target = open(&target_db);
        let copied = copy(&mut source, &mut target);
        assert!(
            matches!(&copied, Err(TransferError::Refused(reason)) if reason.contains("field_notes")),
            "{copied:?}"
        );
        assert_eq!(count(&mut target, "organizations"), 0);
        // Once the table is gone, the same target takes the copy.
        let dropped = source.batch_execute("DROP TABLE field_notes");
        assert!(dropped.is_ok(), "{dropped:?}");
        let copied = copy(&mut source, &mut target);
        assert!(copied.is_ok(), "{copied:?}");
        assert_eq!(count(&mut target, "organizations"), 1);
    }
}
