//! The connection pool and the helpers every domain crate uses to run queries:
//! `Database::run` (off the async executor) and `transaction` (atomic, write-ready).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error as DieselError;
use tokio::sync::Semaphore;

use crate::breaker::Breaker;
use crate::connection::{Backend, DatabaseUrl, DbConnection};
use crate::error::StorageError;
use crate::migrations;

/// A connection checked out of the pool; returned to it when dropped.
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// How the pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// Longest wait for a free connection before `StorageError::PoolExhausted`.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens connections for the pool, configured for PDX; a connection that cannot be opened
/// opens the breaker.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    breaker: Arc<Breaker>,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = StorageError;

    fn connect(&self) -> Result<DbConnection, StorageError> {
        DbConnection::open(&self.url).inspect_err(|error| self.breaker.observe(error))
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SELECT 1").map_err(StorageError::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        <DbConnection as TransactionManager<DbConnection>>::is_broken_transaction_manager(conn)
            || matches!(
                <DbConnection as TransactionManager<DbConnection>>::transaction_manager_status_mut(
                    conn
                )
                .transaction_depth(),
                Err(_) | Ok(Some(_))
            )
    }
}

/// A pool of connections to one PDX database.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<ConnectionManager>,
    url: DatabaseUrl,
    /// One permit per pooled connection: [`Database::run`] waits for one asynchronously, so
    /// work beyond the pool queues as tasks rather than as blocking threads parked on the pool.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    /// On SQLite, which has one writer at a time, this process's writers take turns here, first
    /// come first served, instead of in SQLite's busy handler, whose growing sleeps leave some
    /// writers waiting for seconds under contention.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Open while the database is known to be unreachable: work is refused at once.
    breaker: Arc<Breaker>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Database {
    /// Connects a pool; fails with the backend's own message when the database is unreachable.
    pub fn connect(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, StorageError> {
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Connection(format!(
                    "cannot create the directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        // Open one connection first so that a bad URL or password surfaces verbatim,
        // rather than as r2d2's generic timeout.
        let breaker = Arc::new(Breaker::default());
        let manager = ConnectionManager {
            url: url.clone(),
            breaker: Arc::clone(&breaker),
        };
        drop(r2d2::ManageConnection::connect(&manager)?);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_size.max(1))
            // Connections open on demand: no background thread is ever opening one, which could
            // be cut off mid-handshake when a short-lived command exits.
            .min_idle(Some(0))
            .connection_timeout(options.acquire_timeout)
            .test_on_check_out(false)
            .error_handler(Box::new(LogErrors))
            .build(manager)?;
        Ok(Self {
            pool,
            url: url.clone(),
            permits: Arc::new(Semaphore::new(options.max_size.max(1) as usize)),
            acquire_timeout: options.acquire_timeout,
            writer: Arc::default(),
            breaker,
        })
    }

    /// The breaker: open while the database is known to be unreachable.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Takes note of a failure of database work: one that means the database is unreachable or
    /// unwritable opens the breaker.
    pub fn report(&self, error: &StorageError) {
        self.breaker.observe(error);
    }

    /// Probes the database while the breaker is open, closing it once a fresh connection
    /// answers; runs for the life of the process.
    pub async fn watch_outages(self) {
        let mut tick = tokio::time::interval(crate::breaker::PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.breaker.open_cause().is_none() {
                continue;
            }
            let (breaker, url) = (Arc::clone(&self.breaker), self.url.clone());
            let probe = tokio::task::spawn_blocking(move || breaker.probe(&url));
            // A probe that hangs (a black-holed network) is left behind, not waited for.
            let _done = tokio::time::timeout(Duration::from_secs(2), probe).await;
        }
    }

    /// The backend behind this pool.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The database URL, displayable without its password.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Checks a connection out of the pool (blocking up to the acquire timeout).
    pub fn conn(&self) -> Result<PooledConnection, StorageError> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work on the blocking thread pool, off the async executor.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        if let Some(cause) = self.breaker.open_cause() {
            return Err(StorageError::Unreachable(cause).into());
        }
        let permit = tokio::time::timeout(
            self.acquire_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| StorageError::PoolExhausted)?
        .map_err(|e| StorageError::Task(e.to_string()))?;
        let (pool, breaker) = (self.pool.clone(), Arc::clone(&self.breaker));
        let deadline = std::time::Instant::now() + self.acquire_timeout;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = checkout(&pool, &breaker, deadline)?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// Runs `work` in one write transaction (see [`transaction`]) on the blocking pool.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + From<DieselError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        self.run_as_writer(move |conn| transaction(conn, work))
            .await
    }

    /// Like [`Database::run`] for work that writes: on SQLite it waits for this process's
    /// writer turn first and keeps it until the work is done (even when the caller stops
    /// waiting).
    pub async fn run_as_writer<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let turn = match self.backend() {
            Backend::Sqlite => Some(Arc::clone(&self.writer).lock_owned().await),
            Backend::Postgres => None,
        };
        self.run(move |conn| {
            let _turn = turn;
            work(conn)
        })
        .await
    }

    /// Applies every pending embedded migration; returns the names of those applied.
    pub fn migrate(&self) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn()?;
        migrations::run_pending(&mut conn)
    }

    /// The migrations not yet applied, by name.
    pub fn pending_migrations(&self) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn()?;
        migrations::pending(&mut conn)
    }

    /// The database server's clock (on SQLite, this host's), in UTC.
    pub async fn now(&self) -> Result<pdx_core::Timestamp, StorageError> {
        #[derive(diesel::QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::Timestamp)]
            now: chrono::NaiveDateTime,
        }
        let backend = self.backend();
        self.run(move |conn| {
            use diesel::RunQueryDsl;
            let sql = match backend {
                Backend::Postgres => "SELECT (clock_timestamp() AT TIME ZONE 'UTC') AS now",
                Backend::Sqlite => "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS now",
            };
            let now: Now = diesel::sql_query(sql).get_result(conn)?;
            Ok(now.now.and_utc())
        })
        .await
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.run(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("SELECT 1").map_err(StorageError::from)
        })
        .await
    }
}

/// How long one wait for a pooled connection lasts before the breaker is looked at again.
const CHECKOUT_SLICE: Duration = Duration::from_millis(50);

/// Checks a connection out of the pool, waiting until `deadline` at most, and no longer once
/// the breaker opens (a connection the pool tried to open failed).
fn checkout(
    pool: &r2d2::Pool<ConnectionManager>,
    breaker: &Breaker,
    deadline: std::time::Instant,
) -> Result<PooledConnection, StorageError> {
    loop {
        let slice = deadline
            .saturating_duration_since(std::time::Instant::now())
            .min(CHECKOUT_SLICE);
        match pool.get_timeout(slice) {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                let error = StorageError::from(e);
                breaker.observe(&error);
                if let Some(cause) = breaker.open_cause() {
                    return Err(StorageError::Unreachable(cause));
                }
                if std::time::Instant::now() >= deadline {
                    return Err(error);
                }
            }
        }
    }
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<StorageError> for LogErrors {
    fn handle_error(&self, error: StorageError) {
        tracing::warn!(%error, "database connection error");
    }
}

/// Writes a consistent copy of the SQLite database of `conn` to the new file `to` (`VACUUM
/// INTO`), while other connections read and write it.
pub fn copy_sqlite(conn: &mut DbConnection, to: &std::path::Path) -> Result<(), StorageError> {
    use diesel::connection::SimpleConnection;
    let DbConnection::Sqlite(conn) = conn else {
        return Err(StorageError::InvalidUrl(
            "only a SQLite database is copied by PDX; dump PostgreSQL with pg_dump".to_owned(),
        ));
    };
    let path = to.to_str().ok_or_else(|| {
        StorageError::InvalidUrl(format!("the path {} is not valid UTF-8", to.display()))
    })?;
    conn.batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))?;
    Ok(())
}

/// Runs `work` atomically: everything it wrote is committed, or on error nothing is.
///
/// Nested calls become savepoints. On SQLite the outermost transaction starts with
/// `BEGIN IMMEDIATE`, taking the write lock up front: a deferred transaction that reads and
/// then writes can fail with "database is locked" when another writer got there first.
pub fn transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    E: From<DieselError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    let depth =
        <DbConnection as TransactionManager<DbConnection>>::transaction_manager_status_mut(conn)
            .transaction_depth()?;
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    if depth.is_some() {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) =
                <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn)
            {
                tracing::error!(%rollback, "rollback failed after an error");
            }
            Err(error)
        }
    }
}
