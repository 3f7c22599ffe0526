//! The database circuit breaker: once the database is known to be unreachable (a connection
//! cannot be opened, or writes fail for lack of a writable database), database-bound work is
//! refused at once with the cause instead of waiting for the pool's timeout, and a background
//! probe closes the breaker as soon as a fresh connection answers again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::connection::{DatabaseUrl, DbConnection};
use crate::error::StorageError;

/// How often an open breaker probes the database.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Why and since when the database is unreachable.
#[derive(Debug, Clone)]
struct Outage {
    cause: String,
    since: Instant,
}

/// Open (refusing, with the cause) or closed (passing work through).
#[derive(Debug, Default)]
pub struct Breaker {
    /// Whether an outage is recorded: read on every database call without taking the lock.
    open: AtomicBool,
    outage: Mutex<Option<Outage>>,
}

impl Breaker {
    /// The cause, while the breaker is open.
    pub fn open_cause(&self) -> Option<String> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        self.lock().as_ref().map(|o| o.cause.clone())
    }

    /// Opens the breaker with this cause, unless it is open already; the log names the cause
    /// once, when the outage begins.
    pub fn trip(&self, cause: &str) {
        let mut outage = self.lock();
        if outage.is_none() {
            tracing::error!(
                cause,
                "the database is unreachable: database-bound requests are refused (503) until it answers again"
            );
            *outage = Some(Outage {
                cause: cause.to_owned(),
                since: Instant::now(),
            });
            self.open.store(true, Ordering::Release);
        }
    }

    /// Closes the breaker after a successful probe.
    pub fn close(&self) {
        let mut outage = self.lock();
        self.open.store(false, Ordering::Release);
        if let Some(outage) = outage.take() {
            tracing::warn!(
                after_ms = u64::try_from(outage.since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database answers again: serving resumes"
            );
        }
    }

    /// Trips the breaker when `error` says the database cannot be reached or written.
    pub fn observe(&self, error: &StorageError) {
        if let Some(cause) = unreachable(error) {
            self.trip(&cause);
        }
    }

    /// Opens a fresh connection and asks it a trivial question (on SQLite, whether it could
    /// write); closes the breaker when it answers. Blocking: run it off the async executor.
    pub fn probe(&self, url: &DatabaseUrl) {
        use diesel::connection::SimpleConnection;
        let question = match url {
            DatabaseUrl::Sqlite(_) => "BEGIN IMMEDIATE; ROLLBACK;",
            DatabaseUrl::Postgres(_) => "SELECT 1",
        };
        let answered = DbConnection::open(url)
            .and_then(|mut conn| conn.batch_execute(question).map_err(StorageError::from));
        match answered {
            Ok(()) => self.close(),
            Err(error) => tracing::debug!(%error, "the database is still unreachable"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The cause, when an error means the database as a whole cannot be used (rather than that
/// one statement failed).
pub fn unreachable(error: &StorageError) -> Option<String> {
    match error {
        StorageError::Connection(message) => Some(message.clone()),
        StorageError::Query(diesel::result::Error::DatabaseError(_, info))
            if unwritable(info.message()) =>
        {
            Some(info.message().to_owned())
        }
        StorageError::Unreachable(message) => Some(message.clone()),
        _ => None,
    }
}

/// SQLite's words for a database file that cannot be written (read-only file, full or failing
/// disk): every write will fail the same way until an operator acts.
fn unwritable(message: &str) -> bool {
    message.contains("attempt to write a readonly database")
        || message.contains("database or disk is full")
        || message.contains("disk I/O error")
        || message.contains("unable to open database file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_opens_the_breaker_and_a_probe_that_answers_closes_it() {
        let breaker = Breaker::default();
        assert!(breaker.open_cause().is_none());
        breaker.observe(&StorageError::Busy("database is locked".into()));
        assert!(
            breaker.open_cause().is_none(),
            "contention is not an outage"
        );
        breaker.observe(&StorageError::Connection("connection refused".into()));
        assert_eq!(breaker.open_cause().as_deref(), Some("connection refused"));
        breaker.trip("a later cause");
        assert_eq!(
            breaker.open_cause().as_deref(),
            Some("connection refused"),
            "the first cause is the one the log names"
        );
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        breaker.probe(&DatabaseUrl::sqlite(
            dir.path().join("missing").join("db.sqlite3"),
        ));
        assert!(
            breaker.open_cause().is_some(),
            "a probe that fails keeps it open"
        );
        breaker.probe(&DatabaseUrl::sqlite(dir.path().join("db.sqlite3")));
        assert!(
            breaker.open_cause().is_none(),
            "a probe that answers closes it"
        );
    }

    #[test]
    fn sqlite_errors_of_an_unwritable_file_are_outages() {
        assert!(unwritable("attempt to write a readonly database"));
        assert!(unwritable("database or disk is full"));
        assert!(!unwritable("UNIQUE constraint failed: users.email"));
    }
}
