//! A row query whose caller stops waiting (its client disconnected, so the server dropped the
//! request) is stopped where it is, instead of running to its time limit on a blocking thread
//! while it holds one of the few turns row queries share.

use std::sync::{Arc, Mutex, PoisonError};

use diesel::RunQueryDsl;
use diesel::sql_types::Integer;
use pdx_storage::{Database, DbConnection, StorageError};

use crate::error::RowsError;
use crate::tables::Deadline;

/// How the statement a query runs is stopped.
#[derive(Debug, Clone)]
pub(crate) enum Stopper {
    /// A table file's statement: its deadline, which every row read looks at.
    File(Deadline),
    /// A PostgreSQL statement: the server process running it (`pg_backend_pid()`), cancelled
    /// from another connection.
    Postgres(i32),
}

#[derive(Debug)]
enum State {
    /// The query has no connection yet.
    Waiting,
    /// Its statements run on the connection the stopper stops.
    Running(Stopper),
    /// It is over; its connection may serve other queries.
    Ended,
    /// Its caller went away.
    Abandoned,
}

/// A row query's state, shared by its caller and the blocking thread running it.
#[derive(Debug, Clone)]
pub(crate) struct Watch(Arc<Mutex<State>>);

impl Watch {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(State::Waiting)))
    }

    /// The query's statements now run where `stopper` stops them; refused when its caller
    /// has gone already.
    pub(crate) fn running(&self, stopper: Stopper) -> Result<(), RowsError> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, State::Abandoned) {
            return Err(RowsError::Abandoned);
        }
        *state = State::Running(stopper);
        Ok(())
    }

    /// Whether the caller has gone.
    pub(crate) fn abandoned(&self) -> bool {
        matches!(
            *self.0.lock().unwrap_or_else(PoisonError::into_inner),
            State::Abandoned
        )
    }

    /// The query is over. Whether its connection may serve other queries: not when its caller
    /// went away, since a cancel sent to the connection may still be on its way.
    pub(crate) fn end(&self) -> bool {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, State::Abandoned) {
            return false;
        }
        *state = State::Ended;
        true
    }
}

/// Held by the caller while it waits for the answer; dropped before [`Abandon::waited`], it
/// stops the query wherever it is.
pub(crate) struct Abandon {
    watch: Watch,
    db: Database,
    armed: bool,
}

impl Abandon {
    pub(crate) fn new(watch: Watch, db: Database) -> Self {
        Self {
            watch,
            db,
            armed: true,
        }
    }

    /// The caller received the answer.
    pub(crate) fn waited(mut self) {
        self.armed = false;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.watch.0.lock().unwrap_or_else(PoisonError::into_inner);
        let running = match std::mem::replace(&mut *state, State::Abandoned) {
            State::Ended => {
                *state = State::Ended;
                return;
            }
            State::Running(stopper) => stopper,
            State::Waiting | State::Abandoned => return,
        };
        drop(state);
        metrics::counter!("pdx_rows_abandoned_total").increment(1);
        tracing::debug!("row query stopped: its caller went away");
        match running {
            Stopper::File(deadline) => deadline.stop(),
            Stopper::Postgres(pid) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let db = self.db.clone();
                runtime.spawn(async move {
                    if let Err(error) = db.run(move |conn| cancel_backend(conn, pid)).await {
                        tracing::warn!(%error, "could not cancel an abandoned row query");
                    }
                });
            }
        }
    }
}

/// Cancels the statement PostgreSQL's server process `pid` runs (nothing if it runs none).
fn cancel_backend(conn: &mut DbConnection, pid: i32) -> Result<(), StorageError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_cancel_backend($1)")
            .bind::<Integer, _>(pid)
            .execute(pg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> pdx_storage::testing::TestDatabase {
        pdx_storage::testing::TestDatabase::empty()
    }

    #[test]
    fn a_caller_that_goes_away_stops_the_running_statement_and_its_connection_is_not_kept() {
        let test = database();
        let db = test.database().clone();
        let watch = Watch::new();
        let deadline = Deadline::default();
        let abandon = Abandon::new(watch.clone(), db);
        watch.running(Stopper::File(deadline.clone())).unwrap();
        assert!(!deadline.passed());
        drop(abandon);
        assert!(deadline.passed(), "the statement's deadline is past");
        assert!(watch.abandoned());
        assert!(!watch.end(), "the connection is not kept");
    }

    #[test]
    fn a_caller_gone_before_the_query_starts_means_it_never_starts() {
        let test = database();
        let db = test.database().clone();
        let watch = Watch::new();
        drop(Abandon::new(watch.clone(), db));
        let deadline = Deadline::default();
        assert!(matches!(
            watch.running(Stopper::File(deadline.clone())),
            Err(RowsError::Abandoned)
        ));
        assert!(!deadline.passed(), "nothing was stopped");
    }

    #[test]
    fn a_query_that_ended_or_was_waited_for_is_left_alone() {
        let test = database();
        let db = test.database().clone();
        // Ended, then the caller dropped before it read the answer: the connection, already
        // serving another query, must not be stopped.
        let watch = Watch::new();
        let deadline = Deadline::default();
        let abandon = Abandon::new(watch.clone(), db.clone());
        watch.running(Stopper::File(deadline.clone())).unwrap();
        assert!(watch.end());
        drop(abandon);
        assert!(!deadline.passed());
        assert!(!watch.abandoned());
        // Waited for: nothing happens even though the thread never said it ended.
        let watch = Watch::new();
        let deadline = Deadline::default();
        let abandon = Abandon::new(watch.clone(), db);
        watch.running(Stopper::File(deadline.clone())).unwrap();
        abandon.waited();
        assert!(!deadline.passed());
        assert!(!watch.abandoned());
    }
}
