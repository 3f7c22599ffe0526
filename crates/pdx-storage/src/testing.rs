//! Disposable databases for tests: a temporary SQLite file by default, or a fresh PostgreSQL
//! schema when `PDX_TEST_DATABASE_URL` names a server, so tests run in parallel on either.

use diesel::connection::SimpleConnection;

use crate::connection::{Backend, DatabaseUrl, DbConnection};
use crate::database::{Database, PoolOptions};

/// Environment variable naming the server the test suite runs against; unset means SQLite.
pub const TEST_DATABASE_URL_ENV: &str = "PDX_TEST_DATABASE_URL";

/// A database that exists for one test and is removed when dropped.
///
/// Construction panics with the reason when the configured server cannot be used: a test run
/// that was asked for PostgreSQL must fail, never fall back to SQLite silently.
#[derive(Debug)]
pub struct TestDatabase {
    url: DatabaseUrl,
    database: Database,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(
        #[allow(
            dead_code,
            reason = "held so the directory lives as long as the database"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: DatabaseUrl,
        schema: String,
    },
}

impl TestDatabase {
    /// A fresh database with every migration applied.
    pub fn new() -> Self {
        let db = Self::empty();
        if let Err(error) = db.database.migrate() {
            panic!("migrating the test database failed: {error}");
        }
        db
    }

    /// A fresh database with no tables at all.
    pub fn empty() -> Self {
        match std::env::var(TEST_DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            None => Self::sqlite(),
            Some(url) if url.trim() == "sqlite" => Self::sqlite(),
            Some(url) => match DatabaseUrl::parse(&url) {
                Ok(admin_url @ DatabaseUrl::Postgres(_)) => Self::postgres(admin_url),
                Ok(DatabaseUrl::Sqlite(_)) => Self::sqlite(),
                Err(error) => panic!("{TEST_DATABASE_URL_ENV} is not usable: {error}"),
            },
        }
    }

    fn sqlite() -> Self {
        let dir = match tempfile::Builder::new().prefix("pdx-test-").tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a temporary directory: {error}"),
        };
        let url = DatabaseUrl::sqlite(dir.path().join("pdx.sqlite3"));
        let database = connect(&url);
        Self {
            url,
            database,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    fn postgres(admin_url: DatabaseUrl) -> Self {
        let DatabaseUrl::Postgres(admin) = &admin_url else {
            panic!("a PostgreSQL URL was expected");
        };
        let schema = format!("pdx_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin_conn = match DbConnection::open(&admin_url) {
            Ok(conn) => conn,
            Err(error) => panic!(
                "{TEST_DATABASE_URL_ENV}={admin_url} is unreachable: {error}. \
                 Start PostgreSQL or unset the variable to test on SQLite."
            ),
        };
        if let Err(error) = admin_conn.batch_execute(&format!("CREATE SCHEMA {schema}")) {
            panic!("cannot create test schema {schema}: {error}");
        }
        let separator = if admin.contains('?') { '&' } else { '?' };
        // Test processes exit with server threads still holding connections; libpq's TLS
        // teardown at exit can then crash the process. A local test server needs no TLS.
        let tls = if admin.contains("sslmode=") {
            ""
        } else {
            "&sslmode=disable"
        };
        // Every connection of this test names its schema, so that a test can tell its own
        // connections from those of the tests running beside it on the same database.
        let url = DatabaseUrl::Postgres(format!(
            "{admin}{separator}options=-csearch_path%3D{schema}&application_name={schema}{tls}"
        ));
        let database = connect(&url);
        Self {
            url,
            database,
            cleanup: Cleanup::Postgres { admin_url, schema },
        }
    }

    /// The URL of this database, to hand to a server under test.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A pool connected to this database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

fn connect(url: &DatabaseUrl) -> Database {
    let options = PoolOptions {
        max_size: 8,
        ..PoolOptions::default()
    };
    match Database::connect(url, options) {
        Ok(database) => database,
        Err(error) => panic!("cannot connect to the test database {url}: {error}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            let dropped = DbConnection::open(admin_url).and_then(|mut conn| {
                conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .map_err(Into::into)
            });
            if let Err(error) = dropped {
                tracing::warn!(%error, schema, "could not drop the test schema");
            }
        }
    }
}
