//! Group commit: one appender task per process takes the pending requests in batches and runs
//! each batch in a single transaction with the ledger head locked — deciding, metering and
//! appending every request of the batch — then answers each waiter. While a batch commits, the
//! next one gathers, so one commit (and, on SQLite, one fsync) serves many requests.
//!
//! What a batch does is the caller's [`Batch`]: the licensing crate decides data requests in it.
//! Requests beyond the queue's capacity are refused at once ([`AppendError::Overloaded`]) rather
//! than queued without bound.

use std::sync::{Arc, Mutex};

use pdx_storage::database::transaction;
use pdx_storage::{Backend, Database, DbConnection, StorageError};
use tokio::sync::{mpsc, oneshot};

/// The work of one batch, run inside the batch's transaction.
pub trait Batch: Send + 'static {
    /// One pending request.
    type Request: Send + 'static;
    /// The answer to one request.
    type Answer: Send + 'static;
    /// Why one request failed (the batch goes on).
    type Error: From<StorageError> + Send + 'static;

    /// Handles the requests of one batch, in order, inside one transaction that holds the ledger
    /// lock. Returns one result per request. An `Err` from the whole batch rolls it back and
    /// every waiter gets that failure.
    #[allow(
        clippy::type_complexity,
        reason = "one result per request, or one for the batch"
    )]
    fn run(
        &mut self,
        conn: &mut DbConnection,
        requests: Vec<Self::Request>,
    ) -> Result<Vec<Result<Self::Answer, Self::Error>>, StorageError>;

    /// Called when a batch's transaction was rolled back (by `run`'s error or at commit):
    /// nothing of it was written, so state kept across batches must forget it.
    fn rolled_back(&mut self) {}
}

/// Why a request got no answer from its batch.
#[derive(Debug, thiserror::Error)]
pub enum AppendError<E> {
    /// The queue is full: the server is overloaded; try again shortly.
    #[error("the ledger appender is overloaded")]
    Overloaded,
    /// The appender has stopped.
    #[error("the ledger appender has stopped")]
    Stopped,
    /// The batch could not be committed (nothing of it was written).
    #[error("the ledger could not be written: {0}")]
    Storage(StorageError),
    /// The request itself failed.
    #[error(transparent)]
    Request(E),
}

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct AppenderOptions {
    /// Most requests in one batch.
    pub max_batch: usize,
    /// Most requests waiting; beyond it requests are refused as overloaded.
    pub queue: usize,
}

impl Default for AppenderOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            queue: 8_192,
        }
    }
}

type Reply<B> = oneshot::Sender<Result<<B as Batch>::Answer, AppendError<<B as Batch>::Error>>>;

/// The handle requests are submitted through; clones share one appender task.
pub struct Appender<B: Batch> {
    sender: mpsc::Sender<(B::Request, Reply<B>)>,
}

impl<B: Batch> Clone for Appender<B> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<B: Batch> std::fmt::Debug for Appender<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("capacity", &self.sender.capacity())
            .finish()
    }
}

impl<B: Batch> Appender<B> {
    /// Starts the appender task on the current tokio runtime. It stops when every handle is
    /// dropped.
    pub fn start(database: Database, batch: B, options: AppenderOptions) -> Self {
        let (sender, receiver) = mpsc::channel(options.queue.max(1));
        tokio::spawn(run(database, batch, receiver, options.max_batch.max(1)));
        Self { sender }
    }

    /// Submits one request and waits for its batch to commit.
    pub async fn submit(&self, request: B::Request) -> Result<B::Answer, AppendError<B::Error>> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send((request, reply))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => AppendError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => AppendError::Stopped,
            })?;
        answer.await.map_err(|_| AppendError::Stopped)?
    }
}

async fn run<B: Batch>(
    database: Database,
    batch: B,
    mut receiver: mpsc::Receiver<(B::Request, Reply<B>)>,
    max_batch: usize,
) {
    let batch = Arc::new(Mutex::new(batch));
    let mut pending = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut pending, max_batch).await > 0 {
        let (requests, replies): (Vec<_>, Vec<_>) = pending.drain(..).unzip();
        let started = std::time::Instant::now();
        metrics::counter!("pdx_ledger_batches_total").increment(1);
        metrics::counter!("pdx_ledger_batched_requests_total").increment(requests.len() as u64);
        let work = Arc::clone(&batch);
        let sqlite = database.backend() == Backend::Sqlite;
        let outcome = database
            .run_as_writer(move |conn| {
                if sqlite {
                    // Ledger commits are durable against power loss, not only against a crash:
                    // with group commit one fsync serves the whole batch.
                    use diesel::connection::SimpleConnection;
                    conn.batch_execute("PRAGMA synchronous = FULL")?;
                }
                let mut work = work
                    .lock()
                    .map_err(|_| StorageError::Task("the appender's state is poisoned".into()))?;
                transaction(conn, |conn| work.run(conn, requests))
            })
            .await;
        metrics::histogram!("pdx_ledger_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _gone = reply.send(answer.map_err(AppendError::Request));
                }
            }
            Err(error) => {
                tracing::error!(%error, requests = replies.len(), "a ledger batch failed");
                database.report(&error);
                if let Ok(mut work) = batch.lock() {
                    work.rolled_back();
                }
                for reply in replies {
                    let _gone = reply.send(Err(AppendError::Storage(replicate(&error))));
                }
            }
        }
    }
}

/// The same failure, for each waiter of a failed batch.
fn replicate(error: &StorageError) -> StorageError {
    match error {
        StorageError::PoolExhausted => StorageError::PoolExhausted,
        StorageError::Busy(m) => StorageError::Busy(m.clone()),
        StorageError::Connection(m) => StorageError::Connection(m.clone()),
        StorageError::Unreachable(m) => StorageError::Unreachable(m.clone()),
        other => StorageError::Task(other.to_string()),
    }
}
