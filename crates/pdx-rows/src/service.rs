//! The data services of one installation: ingesting a distribution's file in the background,
//! reporting its progress, and answering row queries as a reader's view allows.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use diesel::{PgConnection, RunQueryDsl};
use futures_util::StreamExt;
use pdx_access::audit::{self, AuditKind, AuditRecord, RequestContext};
use pdx_access::secrets::SecretHasher;
use pdx_catalog::CatalogService;
use pdx_catalog::model::DistributionKind;
use pdx_core::{Clock, DistributionId, Principal};
use pdx_storage::{Backend, BlobError, Database, DbConnection, StorageError};
use tokio::sync::Semaphore;

use crate::error::RowsError;
use crate::ingest::{self, Declared, Progress};
use crate::marks::Marks;
use crate::mask::{Audience, View};
use crate::model::{ColumnType, IngestOptions, Ingestion, IngestionState, SourceFormat};
use crate::query::{Limit, RowQuery, Statement};
use crate::render::{CkanEnvelope, OutputFormat, Renderer, Spool};
use crate::store;
use crate::tables::{self, Loader, Place, Reader, TableFile};
use crate::watch::{Abandon, Stopper, Watch};

/// Table files' connections kept open for reuse, per table.
const KEPT_READERS: usize = 8;
/// Statement shapes a kept connection may hold prepared before it is closed.
const PREPARED_SHAPES: usize = 256;
/// Rows delivered between two looks at a query's deadline.
const DEADLINE_STRIDE: u64 = 1_024;
/// How long a replaced table is kept for the queries that may still read it.
const REPLACED_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Distributions whose current table is remembered, per catalog generation.
const CACHED_TABLES: usize = 4_096;
/// How long a row query waits for one of the running ones to finish before it is refused.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Retries, after the first attempt, to record how an ingestion ended (about a minute in all).
const RECORD_RETRIES: u32 = 10;
/// Ingestions of one distribution listed.
const HISTORY: i64 = 20;

/// How much row queries may take of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Row queries running at once; more wait a moment for their turn.
    pub concurrent: usize,
    /// The longest one may run. PostgreSQL cancels the statement past it; on SQLite every
    /// row a statement reads looks at the deadline (`pdx_in_time()`), as does every row
    /// delivered.
    pub time: std::time::Duration,
    /// How long a connection kept for row queries stays open unused: then a table file's
    /// mapping and page cache, or a PostgreSQL backend, are given back.
    pub idle: std::time::Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            concurrent: cores * 4,
            time: std::time::Duration::from_secs(30),
            idle: std::time::Duration::from_secs(30),
        }
    }
}

/// The data services.
#[derive(Clone)]
pub struct RowService {
    db: Database,
    catalog: CatalogService,
    clock: Arc<dyn Clock>,
    /// Where SQLite row tables are kept (none on PostgreSQL, where they are tables).
    dir: Option<PathBuf>,
    masks: SecretHasher,
    readers: Arc<Mutex<HashMap<uuid::Uuid, Vec<Kept<TableFile>>>>>,
    /// PostgreSQL connections kept for row queries.
    pg_readers: Arc<Mutex<Vec<Kept<PgReader>>>>,
    queries: Arc<Semaphore>,
    query_time: std::time::Duration,
    /// How long a kept connection stays open unused.
    idle: std::time::Duration,
    running: Arc<Mutex<HashMap<uuid::Uuid, Arc<Progress>>>>,
    /// Ingestions to start again when the running one of their distribution ends.
    again: Arc<Mutex<HashMap<DistributionId, (Principal, RequestContext)>>>,
    /// The current table of distributions, by catalog generation.
    tables: Arc<TableCache>,
    /// Where the pages served of each query end, so that a page at an offset starts there.
    marks: Arc<Marks>,
}

type TableCache = quick_cache::sync::Cache<(DistributionId, i64), Option<Arc<Ingestion>>>;

impl std::fmt::Debug for RowService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowService")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A row query's answer, written whole: what the ledger entry records is what is served.
#[derive(Debug)]
pub struct RowAnswer {
    /// The answer's bytes.
    pub body: Spool,
    /// Rows in it.
    pub rows: u64,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// Every matching row, when asked for.
    pub total: Option<u64>,
    /// The format.
    pub format: OutputFormat,
}

impl RowService {
    /// The data services over the catalog's database and blobs; row tables go into `dir` on
    /// SQLite. `masks` keys the hashes of masked columns (one key per grant is derived from it).
    pub fn new(
        db: Database,
        catalog: CatalogService,
        clock: Arc<dyn Clock>,
        dir: PathBuf,
        masks: SecretHasher,
        limits: QueryLimits,
    ) -> Self {
        let dir = (db.backend() == Backend::Sqlite).then_some(dir);
        Self {
            db,
            catalog,
            clock,
            dir,
            masks,
            readers: Arc::default(),
            pg_readers: Arc::default(),
            queries: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            query_time: limits.time,
            idle: limits.idle,
            running: Arc::default(),
            again: Arc::default(),
            tables: Arc::new(TableCache::new(CACHED_TABLES)),
            marks: Arc::new(Marks::new()),
        }
    }

    /// [`RowService::ingest_again`] as a boxed future (an ingestion's task may start the next).
    fn restart(
        &self,
        principal: Principal,
        id: DistributionId,
        context: RequestContext,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        let service = self.clone();
        Box::pin(async move {
            if let Err(error) = service.ingest_again(&principal, id, &context).await {
                tracing::warn!(%error, distribution = %id, "could not ingest again");
            }
        })
    }

    /// Ingests the distribution's file again with default options, because what it is read
    /// with changed (its column schema): now, or when the running ingestion ends.
    pub async fn ingest_again(
        &self,
        principal: &Principal,
        id: DistributionId,
        context: &RequestContext,
    ) -> Result<(), RowsError> {
        match self
            .ingest(principal, id, IngestOptions::default(), context)
            .await
        {
            Err(RowsError::IngestionRunning) => {
                self.again
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, (principal.clone(), context.clone()));
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Marks ingestions a stopped process left running as failed and drops their tables, and
    /// the tables of replaced ingestions a stop left behind.
    pub async fn recover(&self) -> Result<usize, RowsError> {
        let now = self.clock.now();
        let (interrupted, replaced) = self
            .db
            .run_as_writer(move |conn| {
                Ok::<_, RowsError>((store::fail_interrupted(conn, now)?, store::replaced(conn)?))
            })
            .await?;
        for id in interrupted.iter().chain(&replaced) {
            self.drop_table(*id).await?;
        }
        Ok(interrupted.len())
    }

    /// Forgets a deleted distribution's ingestions and drops their tables.
    pub async fn forget(&self, id: DistributionId) -> Result<(), RowsError> {
        let ids = self
            .db
            .write(move |conn| store::delete_of(conn, id))
            .await?;
        for ingestion in ids {
            self.forget_readers(ingestion);
            self.drop_table(ingestion).await?;
        }
        Ok(())
    }

    /// The hashing key of a grant's masked columns.
    pub fn grant_key(&self, grant: &str) -> [u8; 32] {
        let derived = self
            .masks
            .hash(&format!("grant:{grant}"))
            .unwrap_or_default();
        let mut key = [0u8; 32];
        if let Ok(bytes) = hex::decode(derived) {
            for (k, b) in key.iter_mut().zip(bytes) {
                *k = b;
            }
        }
        key
    }

    /// Starts ingesting a file just uploaded when it is tabular (others are left alone), with
    /// the options detected. A failure to start is logged, not returned: the distribution
    /// itself was saved, and its publisher can start the ingestion again.
    pub async fn ingest_upload(
        &self,
        principal: &Principal,
        distribution: &pdx_catalog::model::Distribution,
        context: &RequestContext,
    ) {
        if SourceFormat::of_file(
            distribution.kind,
            &distribution.format,
            &distribution.media_type,
        )
        .is_none()
        {
            return;
        }
        if let Err(error) = self
            .ingest(
                principal,
                distribution.id,
                IngestOptions::default(),
                context,
            )
            .await
        {
            tracing::warn!(%error, distribution = %distribution.id, "could not start an ingestion");
        }
    }

    /// Starts ingesting a distribution's file (the dataset's publisher or admin only); the
    /// answer is the running ingestion, whose progress [`RowService::ingestions`] reports.
    pub async fn ingest(
        &self,
        principal: &Principal,
        id: DistributionId,
        options: IngestOptions,
        context: &RequestContext,
    ) -> Result<Ingestion, RowsError> {
        let (distribution, dataset) = self.catalog.distribution(Some(principal), id).await?;
        pdx_catalog::permissions::edit_dataset(principal, &dataset)?;
        let format = match options.format {
            Some(format) => format,
            None => SourceFormat::of(&distribution.format, &distribution.media_type)
                .ok_or(RowsError::NotTabular)?,
        };
        let (Some(key), DistributionKind::File) =
            (distribution.storage_key.clone(), distribution.kind)
        else {
            return Err(RowsError::NotTabular);
        };
        let mut declared = Declared::default();
        for column in distribution.columns.iter().flatten() {
            if let Some(t) = ColumnType::parse(&column.column_type) {
                declared.types.insert(column.name.clone(), t);
            }
            if column.sensitive {
                declared.sensitive.insert(column.name.clone());
            }
        }
        if options.types.len() > ingest::MAX_COLUMNS {
            return Err(RowsError::InvalidOptions {
                field: "types".into(),
                message: format!("at most {} columns", ingest::MAX_COLUMNS),
            });
        }
        let now = self.clock.now();
        let ingestion = Ingestion {
            id: uuid::Uuid::now_v7(),
            distribution_id: id,
            sha256: distribution.sha256.clone().unwrap_or_default(),
            state: IngestionState::Running,
            options: IngestOptions {
                format: Some(format),
                ..options
            },
            columns: Vec::new(),
            bytes_read: 0,
            bytes_total: distribution
                .byte_size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
            rows_loaded: 0,
            rows_rejected: 0,
            rejects: Vec::new(),
            error: None,
            started_at: now,
            finished_at: None,
        };
        let (saved, who, context) = (ingestion.clone(), principal.clone(), context.clone());
        let dataset_id = dataset.id;
        self.db
            .write(move |conn| {
                store::insert(conn, &saved)?;
                let event = AuditRecord::success(
                    AuditKind::DistributionIngested,
                    Some(who.user),
                    Some(who.org),
                )
                .subject(dataset_id)
                .detail(serde_json::json!({
                    "distribution": saved.distribution_id,
                    "ingestion": saved.id,
                }));
                audit::record(conn, &event, &context, now)
                    .map_err(|e| RowsError::Storage(StorageError::Task(format!("audit: {e}"))))?;
                Ok::<_, RowsError>(())
            })
            .await?;
        let progress = Arc::new(Progress::default());
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ingestion.id, Arc::clone(&progress));
        let (service, running) = (self.clone(), ingestion.clone());
        let distribution = id;
        tokio::spawn(async move {
            let id = running.id;
            service.run(running, key, declared, progress).await;
            service
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            let again = service
                .again
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&distribution);
            if let Some((principal, context)) = again {
                service.restart(principal, distribution, context).await;
            }
        });
        Ok(ingestion)
    }

    /// Runs an ingestion to its end and records how it ended.
    async fn run(
        &self,
        mut ingestion: Ingestion,
        key: String,
        declared: Declared,
        progress: Arc<Progress>,
    ) {
        let (service, work, blob_key) = (self.clone(), ingestion.clone(), key);
        let handle = tokio::runtime::Handle::current();
        let shared = Arc::clone(&progress);
        let outcome = tokio::task::spawn_blocking(move || {
            service.load(&handle, &work, &blob_key, &declared, &shared)
        })
        .await
        .unwrap_or_else(|e| Err(RowsError::Storage(StorageError::Task(e.to_string()))));
        let now = self.clock.now();
        ingestion.bytes_read = progress
            .bytes_read
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut replaced = Vec::new();
        match outcome {
            Ok((columns, loaded, options)) => {
                ingestion.state = IngestionState::Ready;
                ingestion.columns = columns;
                ingestion.options = options;
                ingestion.rows_loaded = loaded.rows;
                ingestion.rows_rejected = loaded.rejected;
                ingestion.rejects = loaded.rejects;
                let done = ingestion.clone();
                match self
                    .record_end(move |conn| {
                        let replaced = store::replace_ready(conn, done.distribution_id, done.id)?;
                        store::finish(conn, &done, now)?;
                        // Readers that cache the current table (any process) look again.
                        pdx_storage::generation::bump(conn, pdx_storage::generation::CATALOG)?;
                        Ok::<_, RowsError>(replaced)
                    })
                    .await
                {
                    Ok(ids) => {
                        self.catalog.generation_moved();
                        // A reader may still hold a replaced table: it goes after a while.
                        let service = self.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(REPLACED_GRACE).await;
                            for id in ids {
                                service.forget_readers(id);
                                if let Err(e) = service.drop_table(id).await {
                                    tracing::warn!(error = %e, table = %id, "could not drop a row table");
                                }
                            }
                        });
                    }
                    Err(e) => {
                        tracing::error!(error = %e, ingestion = %ingestion.id, "could not record an ingestion");
                        replaced.push(ingestion.id);
                    }
                }
                metrics::counter!("pdx_rows_ingested_total").increment(ingestion.rows_loaded);
            }
            Err(error) => {
                tracing::warn!(%error, ingestion = %ingestion.id, "ingestion failed");
                ingestion.state = IngestionState::Failed;
                ingestion.error = Some(match &error {
                    RowsError::Storage(_) | RowsError::Blob(_) => {
                        "the file could not be loaded (a storage failure); ingest again".into()
                    }
                    other => other.to_string(),
                });
                ingestion.rows_loaded = 0;
                let failed = ingestion.clone();
                if let Err(e) = self
                    .record_end(move |conn| store::finish(conn, &failed, now))
                    .await
                {
                    tracing::error!(error = %e, "could not record a failed ingestion");
                }
                replaced.push(ingestion.id);
            }
        }
        for id in replaced {
            self.forget_readers(id);
            if let Err(e) = self.drop_table(id).await {
                tracing::warn!(error = %e, table = %id, "could not drop a row table");
            }
        }
    }

    /// Writes how an ingestion ended, trying again for about a minute while the database
    /// fails: connections lost to a database restart each fail once, and an ingestion left
    /// `running` would keep its distribution from being ingested again until a restart.
    async fn record_end<T, F>(&self, work: F) -> Result<T, RowsError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, RowsError> + Clone + Send + 'static,
    {
        let mut wait = std::time::Duration::from_millis(250);
        let mut retries = 0;
        loop {
            match self.db.write(work.clone()).await {
                Err(error) if retries < RECORD_RETRIES => {
                    tracing::warn!(%error, "could not record how an ingestion ended; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(8));
                    retries += 1;
                }
                written => return written,
            }
        }
    }

    /// The blocking part of an ingestion: both passes over the file into a new table.
    fn load(
        &self,
        handle: &tokio::runtime::Handle,
        ingestion: &Ingestion,
        key: &str,
        declared: &Declared,
        progress: &Progress,
    ) -> Result<
        (
            Vec<crate::model::TableColumn>,
            ingest::Loaded,
            IngestOptions,
        ),
        RowsError,
    > {
        let blobs = self.catalog.blobs().clone();
        let mut open = || -> Result<Box<dyn Read + Send>, RowsError> {
            let (_, stream) = handle.block_on(blobs.open_stream(key, None))?;
            Ok(Box::new(BlockingStream {
                handle: handle.clone(),
                stream,
                chunk: Bytes::new(),
            }))
        };
        let format = ingestion.options.format.unwrap_or(SourceFormat::Csv);
        let shape = ingest::survey(format, &ingestion.options, declared, &mut open, progress)?;
        let place = Place::of(ingestion.id, self.dir.as_deref());
        let mut pg = match self.db.backend() {
            Backend::Postgres => Some(self.db.conn()?),
            Backend::Sqlite => None,
        };
        let pg_conn = pg.as_deref_mut().and_then(|c| match c {
            DbConnection::Postgres(pg) => Some(pg),
            DbConnection::Sqlite(_) => None,
        });
        let mut loader = Loader::create(&place, &shape.columns, pg_conn)?;
        let db = self.db.clone();
        let id = ingestion.id;
        let mut checkpoint = |p: &Progress| -> Result<(), RowsError> {
            use std::sync::atomic::Ordering::Relaxed;
            let (bytes, rows, rejected) = (
                p.bytes_read.load(Relaxed),
                p.rows_loaded.load(Relaxed),
                p.rows_rejected.load(Relaxed),
            );
            handle.block_on(
                db.run_as_writer(move |conn| store::progress(conn, id, bytes, rows, rejected)),
            )
        };
        let loaded = ingest::load(&shape, open()?, &mut loader, progress, &mut checkpoint);
        let loaded = match loaded.and_then(|loaded| loader.finish().map(|()| loaded)) {
            Ok(loaded) => loaded,
            Err(e) => {
                let pg_conn = pg.as_deref_mut().and_then(|c| match c {
                    DbConnection::Postgres(pg) => Some(pg),
                    DbConnection::Sqlite(_) => None,
                });
                let _ = tables::drop_table(&place, pg_conn);
                return Err(e);
            }
        };
        let mut options = ingestion.options.clone();
        options.encoding = shape.layout.encoding;
        options.delimiter = shape.layout.delimiter.map(char::from);
        Ok((shape.columns, loaded, options))
    }

    async fn drop_table(&self, id: uuid::Uuid) -> Result<(), RowsError> {
        let place = Place::of(id, self.dir.as_deref());
        self.db
            .run(move |conn| {
                let pg = match conn {
                    DbConnection::Postgres(pg) => Some(pg),
                    DbConnection::Sqlite(_) => None,
                };
                tables::drop_table(&place, pg)
            })
            .await
    }

    fn forget_readers(&self, id: uuid::Uuid) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// A distribution's ingestions, newest first, with the progress of a running one (the
    /// dataset's publisher or admin only).
    pub async fn ingestions(
        &self,
        principal: &Principal,
        id: DistributionId,
    ) -> Result<Vec<Ingestion>, RowsError> {
        let (_, dataset) = self.catalog.distribution(Some(principal), id).await?;
        pdx_catalog::permissions::edit_dataset(principal, &dataset)?;
        let mut found = self
            .db
            .run(move |conn| store::of_distribution(conn, id, HISTORY))
            .await?;
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for ingestion in &mut found {
            if let Some(progress) = running.get(&ingestion.id) {
                use std::sync::atomic::Ordering::Relaxed;
                ingestion.bytes_read = progress.bytes_read.load(Relaxed);
                ingestion.rows_loaded = progress.rows_loaded.load(Relaxed);
                ingestion.rows_rejected = progress.rows_rejected.load(Relaxed);
            }
        }
        Ok(found)
    }

    /// The ingestion whose table answers a distribution's row queries (no visibility check:
    /// the data path decides who may read).
    pub async fn table(&self, id: DistributionId) -> Result<Option<Arc<Ingestion>>, RowsError> {
        let generation = self.catalog.current_generation().await?;
        if let Some(found) = self.tables.get(&(id, generation)) {
            return Ok(found);
        }
        let found = self
            .db
            .run(move |conn| store::ready(conn, id))
            .await?
            .map(Arc::new);
        self.tables.insert((id, generation), found.clone());
        Ok(found)
    }

    /// Runs a row query on `table` for `audience` and writes the whole answer. A column is
    /// sensitive when it was marked so at ingestion or is in `sensitive` (the distribution's
    /// schema now): marking a column later takes effect at once. Only a few queries run at
    /// once; one that waits too long for its turn is told to retry ([`RowsError::Busy`]).
    /// Dropped before it answers (its client went away), the query is stopped where it is.
    pub async fn read(
        &self,
        mut table: Arc<Ingestion>,
        audience: Audience,
        query: RowQuery,
        format: OutputFormat,
        sensitive: &std::collections::BTreeSet<String>,
        ckan: Option<CkanEnvelope>,
    ) -> Result<RowAnswer, RowsError> {
        if table
            .columns
            .iter()
            .any(|c| !c.sensitive && sensitive.contains(&c.name))
        {
            let marked = Arc::make_mut(&mut table);
            for column in &mut marked.columns {
                column.sensitive |= sensitive.contains(&column.name);
            }
        }
        // A query waits a moment for its turn; past that the server is overloaded and says so.
        let permit = tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.queries).acquire_owned())
            .await
            .map_err(|_| RowsError::Busy)?
            .map_err(|_| RowsError::Busy)?;
        let service = self.clone();
        let watch = Watch::new();
        let abandon = Abandon::new(watch.clone(), self.db.clone());
        let answer = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            service.read_blocking(&table, &audience, &query, format, ckan, &watch)
        })
        .await;
        abandon.waited();
        answer.map_err(|e| RowsError::Storage(StorageError::Task(e.to_string())))?
    }

    fn read_blocking(
        &self,
        table: &Ingestion,
        audience: &Audience,
        query: &RowQuery,
        format: OutputFormat,
        ckan: Option<CkanEnvelope>,
        watch: &Watch,
    ) -> Result<RowAnswer, RowsError> {
        let deadline = std::time::Instant::now() + self.query_time;
        let view = View::of(audience, &table.columns);
        let plan = query.plan(&table.columns, &view)?;
        let place = Place::of(table.id, self.dir.as_deref());
        // One more row than asked tells whether a next page exists.
        let mut probe = plan.clone();
        if let Limit::Rows(n) = plan.limit {
            probe.limit = Limit::Rows(n.saturating_add(1));
        }
        // A page at an offset starts after the nearest page end served before, when there is
        // one: the same rows, fewer skipped.
        if let Some((position, after)) = self.marks.before(table.id, &plan) {
            probe.after = Some(after);
            probe.offset = plan.offset - position;
            metrics::counter!("pdx_rows_pages_resumed_total").increment(1);
        }
        let backend = self.db.backend();
        let select = probe.select(backend, place.table());
        let count = plan.total.then(|| plan.count(backend, place.table()));
        let write_error = |e: std::io::Error| RowsError::Storage(StorageError::Task(e.to_string()));
        let mut renderer = Renderer::start(format, &table.columns, &plan.columns, &view, ckan)
            .map_err(write_error)?;
        let selected = plan.selected();
        let delivered = plan.columns.len();
        let limit = match plan.limit {
            Limit::Rows(n) => Some(n),
            Limit::All => None,
        };
        let mut last: Option<Vec<crate::model::Value>> = None;
        let mut more = false;
        let served = std::cell::Cell::new(0u64);
        let total;
        {
            let mut each = |mut values: Vec<crate::model::Value>| -> Result<bool, RowsError> {
                if limit.is_some_and(|l| served.get() >= l) {
                    more = true;
                    return Ok(false);
                }
                if served.get().is_multiple_of(DEADLINE_STRIDE) {
                    if std::time::Instant::now() > deadline {
                        return Err(RowsError::TooSlow);
                    }
                    if watch.abandoned() {
                        return Err(RowsError::Abandoned);
                    }
                }
                served.set(served.get() + 1);
                // values: _row, the delivered columns, then sort-only columns. Only a page's
                // last row can start a next page: its key is the cursor's.
                if limit == Some(served.get()) {
                    last = Some(
                        plan.sort
                            .iter()
                            .map(|(i, _)| {
                                selected
                                    .iter()
                                    .position(|s| s == i)
                                    .and_then(|p| values.get(p + 1).cloned())
                                    .unwrap_or(crate::model::Value::Null)
                            })
                            .chain(values.first().cloned())
                            .collect::<Vec<_>>(),
                    );
                }
                renderer
                    .row(&mut values[1..=delivered])
                    .map_err(write_error)?;
                Ok(true)
            };
            match &place {
                Place::File(path) => {
                    let mut kept = self.reader(table.id, path)?;
                    kept.conn.deadline.set(deadline);
                    watch.running(Stopper::File(kept.conn.deadline.clone()))?;
                    let mut reader = Reader::File(&mut kept.conn.conn);
                    total = count.as_ref().map(|c| reader.count(c)).transpose()?;
                    if std::time::Instant::now() > deadline {
                        return Err(RowsError::TooSlow);
                    }
                    reader.each(&select, &mut each)?;
                    if watch.end() && kept.prepared(&select, count.as_ref()) {
                        self.keep_reader(table.id, kept);
                    }
                }
                Place::Postgres(_) => {
                    let (mut kept, reused) = self.pg_reader()?;
                    watch.running(Stopper::Postgres(kept.conn.pid))?;
                    let mut outcome = read_pg(&mut kept.conn, count.as_ref(), &select, &mut each);
                    // A kept connection that fails before a row is read may have outlived its
                    // server (restarted since): then every kept one has, and the query is tried
                    // once more on a new connection.
                    if outcome.is_err()
                        && reused
                        && served.get() == 0
                        && diesel::connection::SimpleConnection::batch_execute(
                            &mut kept.conn.conn,
                            "SELECT 1",
                        )
                        .is_err()
                    {
                        tracing::warn!("row query connections lost; connecting again");
                        self.pg_readers
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clear();
                        (kept, _) = self.pg_reader()?;
                        watch.running(Stopper::Postgres(kept.conn.pid))?;
                        outcome = read_pg(&mut kept.conn, count.as_ref(), &select, &mut each);
                    }
                    total = outcome?;
                    if watch.end() && kept.prepared(&select, count.as_ref()) {
                        self.keep_pg_reader(kept);
                    }
                }
            }
        }
        let next = match (more, last) {
            (true, Some(key)) => {
                let row = match key.last() {
                    Some(crate::model::Value::Int(r)) => *r,
                    _ => 0,
                };
                self.marks.note(
                    table.id,
                    &plan,
                    plan.offset + served.get(),
                    (key[..key.len() - 1].to_vec(), row),
                );
                Some(crate::query::cursor(
                    &query.sort,
                    &key[..key.len() - 1],
                    row,
                ))
            }
            _ => None,
        };
        let (body, rows) = renderer
            .finish(total, limit, plan.offset, next.as_deref())
            .map_err(write_error)?;
        metrics::counter!("pdx_rows_served_total").increment(rows);
        Ok(RowAnswer {
            body,
            rows,
            next,
            total,
            format,
        })
    }

    fn reader(&self, id: uuid::Uuid, path: &std::path::Path) -> Result<Kept<TableFile>, RowsError> {
        let kept = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&id)
            .and_then(Vec::pop);
        match kept {
            Some(kept) => Ok(kept),
            None => tables::open_file(path).map(Kept::new),
        }
    }

    fn keep_reader(&self, id: uuid::Uuid, mut kept: Kept<TableFile>) {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        let readers = readers.entry(id).or_default();
        if readers.len() < KEPT_READERS {
            kept.since = std::time::Instant::now();
            readers.push(kept);
        }
    }

    /// Closes the kept connections that no row query used for the idle time (run every
    /// second by the server, off the executor: closing one may wait on the network); how
    /// many are kept now. Queries take the connection kept last, so under a steady load the
    /// ones beyond what it needs are the ones that go.
    pub fn close_idle_readers(&self) -> usize {
        let idle = self.idle;
        let fresh = |since: std::time::Instant| since.elapsed() < idle;
        let closed = {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            let mut closing = Vec::new();
            for kept in readers.values_mut() {
                let (keep, close): (Vec<_>, Vec<_>) = kept.drain(..).partition(|k| fresh(k.since));
                *kept = keep;
                closing.extend(close);
            }
            readers.retain(|_, kept| !kept.is_empty());
            let kept: usize = readers.values().map(Vec::len).sum();
            (closing, kept)
        };
        let pg_closed = {
            let mut pg = self
                .pg_readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (keep, close): (Vec<_>, Vec<_>) = pg.drain(..).partition(|k| fresh(k.since));
            *pg = keep;
            (close, pg.len())
        };
        // Closed here, outside the locks, before the gauge says so.
        drop((closed.0, pg_closed.0));
        let kept = closed.1 + pg_closed.1;
        metrics::gauge!("pdx_rows_connections_kept").set(kept as f64);
        kept
    }

    /// A connection for row queries on PostgreSQL, and whether it was kept from an earlier
    /// query: its own, not the pool's, so that its prepared statements and its time limit stay
    /// with it. No more are ever opened than row queries may run at once (a new one is opened
    /// only while all the others are in use).
    fn pg_reader(&self) -> Result<(Kept<PgReader>, bool), RowsError> {
        let kept = self
            .pg_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(kept) = kept {
            return Ok((kept, true));
        }
        let mut conn =
            <PgConnection as diesel::Connection>::establish(&self.db.url().to_connection_string())
                .map_err(|e| RowsError::Storage(StorageError::Connection(e.to_string())))?;
        // Planned for the values of each query (a table's data may be skewed every way),
        // parsed once.
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!(
                "SET statement_timeout = {}; SET plan_cache_mode = force_custom_plan;",
                self.query_time.as_millis().max(1)
            ),
        )?;
        let pid = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "pg_backend_pid()",
        ))
        .get_result(&mut conn)?;
        Ok((
            Kept::new(PgReader {
                conn,
                pid,
                fixed_plans: false,
            }),
            false,
        ))
    }

    fn keep_pg_reader(&self, mut kept: Kept<PgReader>) {
        kept.since = std::time::Instant::now();
        self.pg_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(kept);
    }
}

/// Runs a row query on PostgreSQL: its count when asked for, then its rows. A statement past
/// the query time (set on the connection) is cancelled: that is [`RowsError::TooSlow`].
fn read_pg(
    reader: &mut PgReader,
    count: Option<&Statement>,
    select: &Statement,
    each: impl FnMut(Vec<crate::model::Value>) -> Result<bool, RowsError>,
) -> Result<Option<u64>, RowsError> {
    let mut reader = Reader::Postgres {
        conn: &mut reader.conn,
        fixed_plans: &mut reader.fixed_plans,
    };
    count
        .map(|c| reader.count(c))
        .transpose()
        .and_then(|total| reader.each(select, each).map(|()| total))
        .map_err(|e| match e {
            RowsError::Storage(storage) if storage.to_string().contains("statement timeout") => {
                RowsError::TooSlow
            }
            other => other,
        })
}

/// A PostgreSQL connection for row queries, and its server process (to cancel a statement).
struct PgReader {
    conn: PgConnection,
    pid: i32,
    /// Whether it plans prepared statements once (see [`Reader::Postgres`]).
    fixed_plans: bool,
}

/// A connection kept for row queries, with the statements (their SQL) it has prepared.
struct Kept<C> {
    conn: C,
    shapes: HashSet<String>,
    /// When it was last kept.
    since: std::time::Instant,
}

impl<C> Kept<C> {
    fn new(conn: C) -> Self {
        Self {
            conn,
            shapes: HashSet::new(),
            since: std::time::Instant::now(),
        }
    }

    /// Notes the statements it ran (each stays prepared in it); whether it may be kept: one
    /// that has prepared too many shapes is closed, which frees them.
    fn prepared(&mut self, select: &Statement, count: Option<&Statement>) -> bool {
        for statement in std::iter::once(select).chain(count) {
            if !self.shapes.contains(&statement.sql) {
                self.shapes.insert(statement.sql.clone());
            }
        }
        self.shapes.len() <= PREPARED_SHAPES
    }
}

/// A blob's byte stream read from a blocking thread.
struct BlockingStream {
    handle: tokio::runtime::Handle,
    stream: futures_util::stream::BoxStream<'static, Result<Bytes, BlobError>>,
    chunk: Bytes,
}

impl Read for BlockingStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}
