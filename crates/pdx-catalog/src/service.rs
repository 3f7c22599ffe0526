//! The catalog service the API calls: dataset lifecycle, distributions and uploads, reads
//! with visibility rules, search and versions; each action behind its permission check.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::Stream;
use pdx_access::audit::{self, AuditKind, AuditRecord, RequestContext};
use pdx_access::model::Organization;
use pdx_core::{Clock, DatasetId, DistributionId, OrganizationId, Page, PageRequest, Principal};
use pdx_storage::{BlobError, BlobStore, Database, DbConnection};
use serde::Serialize;

use crate::error::CatalogError;
use crate::model::{
    Column, Dataset, DatasetInput, DatasetStatus, DatasetVersion, Distribution, DistributionKind,
    Licence, LifecycleAction,
};
use crate::permissions;
use crate::rules;
use crate::search::{self, Facets, SearchQuery};
use crate::store;

/// A dataset with its publisher and distributions, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetView {
    /// The dataset.
    pub dataset: Dataset,
    /// The publishing agency.
    pub publisher: Organization,
    /// Its distributions.
    pub distributions: Vec<Distribution>,
}

/// A page of search results with facets.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// The datasets of this page.
    pub page: Page<DatasetView>,
    /// Facet counts over all matches.
    pub facets: Facets,
}

/// Metadata of a new distribution.
#[derive(Debug, Clone, Default)]
pub struct DistributionInput {
    /// Title; the file name when absent.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Format, e.g. `CSV`; guessed from the media type or file name when absent.
    pub format: Option<String>,
    /// Media type; guessed from the format or file name when absent.
    pub media_type: Option<String>,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// An external endpoint (API distributions).
    pub access_url: Option<String>,
    /// Column schema.
    pub columns: Option<Vec<Column>>,
}

/// Formats PDX recognises, with their media types and file extensions.
const FORMATS: &[(&str, &str, &str)] = &[
    ("CSV", "text/csv", "csv"),
    ("JSON", "application/json", "json"),
    ("GeoJSON", "application/geo+json", "geojson"),
    ("XML", "application/xml", "xml"),
    (
        "XLSX",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("PDF", "application/pdf", "pdf"),
    ("ZIP", "application/zip", "zip"),
    ("Parquet", "application/vnd.apache.parquet", "parquet"),
    ("TXT", "text/plain", "txt"),
];

/// The format and media type of a distribution, from what is known of it. A format given
/// must be a short token (it becomes a file extension) and a media type a well-formed
/// `type/subtype` (it becomes a header); anything else is refused.
fn format_and_media_type(input: &DistributionInput) -> Result<(String, String), CatalogError> {
    if let Some(format) = &input.format {
        let format = format.trim();
        let valid = (1..=20).contains(&format.len())
            && format
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c))
            && format.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(CatalogError::invalid(
                "format",
                "must be 1-20 letters, digits, `+`, `-`, `.` or `_`, e.g. `CSV` or `GeoJSON`",
            ));
        }
    }
    if let Some(media) = &input.media_type {
        let essence = media.split(';').next().unwrap_or(media).trim();
        let token = |part: &str| {
            !part.is_empty()
                && part.len() <= 127
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
        };
        let valid = essence
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub));
        if !valid {
            return Err(CatalogError::invalid(
                "media_type",
                "must be a media type such as `text/csv`",
            ));
        }
    }
    Ok(guess_format_and_media_type(input))
}

/// The format and media type inferred from a valid format, media type or file name.
fn guess_format_and_media_type(input: &DistributionInput) -> (String, String) {
    let by_format = input.format.as_deref().and_then(|f| {
        FORMATS
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(f))
    });
    let by_media = input.media_type.as_deref().and_then(|m| {
        let essence = m.split(';').next().unwrap_or(m).trim();
        FORMATS
            .iter()
            .find(|(_, media, _)| media.eq_ignore_ascii_case(essence))
    });
    let by_extension = input
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .and_then(|(_, ext)| FORMATS.iter().find(|(_, _, e)| e.eq_ignore_ascii_case(ext)));
    let known = by_format.or(by_media).or(by_extension);
    let format = match (&input.format, known) {
        (_, Some((name, _, _))) => (*name).to_owned(),
        (Some(given), None) => given.trim().to_owned(),
        (None, None) => "BIN".to_owned(),
    };
    let media_type = match (&input.media_type, known) {
        (Some(given), _) if given != "application/octet-stream" => given
            .split(';')
            .next()
            .unwrap_or(given)
            .trim()
            .to_ascii_lowercase(),
        (_, Some((_, media, _))) => (*media).to_owned(),
        _ => "application/octet-stream".to_owned(),
    };
    (format, media_type)
}

/// Searches answered recently, keyed by the query, valid while the catalog's generation is
/// unchanged. Bounded; the oldest entries go first.
#[derive(Debug, Default)]
struct SearchCache {
    entries: HashMap<String, (i64, Arc<SearchResults>)>,
    order: VecDeque<String>,
}

/// Searches kept in the cache at most.
const SEARCH_CACHE_ENTRIES: usize = 1024;

impl SearchCache {
    fn get(&self, key: &str, generation: i64) -> Option<Arc<SearchResults>> {
        self.entries
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, r)| r.clone())
    }

    fn put(&mut self, key: String, generation: i64, results: Arc<SearchResults>) {
        if self
            .entries
            .insert(key.clone(), (generation, results))
            .is_none()
        {
            self.order.push_back(key);
        }
        while self.order.len() > SEARCH_CACHE_ENTRIES {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

/// How long a catalog generation read from the database is trusted. This server's own writes
/// are seen at once; another server process's writes within this time.
const GENERATION_TTL: std::time::Duration = std::time::Duration::from_millis(250);

/// The catalog generation as last read, and when: catalog reads answered from a cache check
/// it instead of asking the database every time.
#[derive(Debug, Default)]
struct Generation {
    known: Mutex<Option<(i64, std::time::Instant)>>,
    /// Whether a request is reading the generation from the database right now.
    refreshing: std::sync::atomic::AtomicBool,
    /// Bumped by every own write: a read that began before it must not be stored after it.
    writes: std::sync::atomic::AtomicU64,
}

impl Generation {
    /// The generation to answer with without reading it: the one read recently enough to
    /// trust, or, while another request is already reading the current one, the last one read
    /// (so a slow read holds up one request, not every request arriving meanwhile). `None`
    /// after this server's own write, which must be seen at once.
    fn usable(&self) -> Option<i64> {
        let known = *self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let refreshing = self.refreshing.load(std::sync::atomic::Ordering::Acquire);
        known
            .filter(|(_, at)| refreshing || at.elapsed() < GENERATION_TTL)
            .map(|(generation, _)| generation)
    }

    /// Marks a read of the generation in progress until the returned guard is dropped.
    fn refreshing(&self) -> Refreshing<'_> {
        self.refreshing
            .store(true, std::sync::atomic::Ordering::Release);
        Refreshing {
            generation: self,
            writes: self.writes.load(std::sync::atomic::Ordering::Acquire),
        }
    }

    /// Stores the generation a read found, unless this server wrote since the read began.
    fn set(&self, generation: i64, read: &Refreshing<'_>) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if self.writes.load(std::sync::atomic::Ordering::Acquire) == read.writes {
            *known = Some((generation, std::time::Instant::now()));
        }
    }

    /// Forgets it: this server just wrote to the catalog.
    fn expire(&self) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *known = None;
    }
}

/// A read of the generation in progress (see [`Generation::usable`]).
struct Refreshing<'a> {
    generation: &'a Generation,
    /// The own-write count when the read began.
    writes: u64,
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.generation
            .refreshing
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Dataset views kept per catalog generation (by id or slug as asked).
type ViewCache = quick_cache::sync::Cache<(String, i64), Arc<DatasetView>>;

/// Dataset views kept in the cache at most.
const VIEW_CACHE_ENTRIES: usize = 4_096;

/// Distributions kept per catalog generation, for the data path.
type DistributionCache = quick_cache::sync::Cache<(DistributionId, i64), Arc<Distribution>>;

/// The catalog of one PDX installation.
#[derive(Debug, Clone)]
pub struct CatalogService {
    db: Database,
    clock: Arc<dyn Clock>,
    blobs: BlobStore,
    max_upload_bytes: u64,
    search_cache: Arc<Mutex<SearchCache>>,
    view_cache: Arc<ViewCache>,
    distribution_cache: Arc<DistributionCache>,
    generation: Arc<Generation>,
}

impl CatalogService {
    /// A catalog over a database and a blob store.
    pub fn new(
        db: Database,
        clock: Arc<dyn Clock>,
        blobs: BlobStore,
        max_upload_bytes: u64,
    ) -> Self {
        Self {
            db,
            clock,
            blobs,
            max_upload_bytes,
            search_cache: Arc::default(),
            view_cache: Arc::new(ViewCache::new(VIEW_CACHE_ENTRIES)),
            distribution_cache: Arc::new(DistributionCache::new(VIEW_CACHE_ENTRIES)),
            generation: Arc::default(),
        }
    }

    /// The largest file accepted in one upload, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// The same catalog (database, blobs and caches shared) reading time from another clock:
    /// the demo loader replays a city's past with it.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..self.clone()
        }
    }

    /// The blob store (the data path streams from it).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    async fn write<T, F>(&self, work: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, CatalogError> + Send + 'static,
    {
        let result = self.db.write(work).await;
        self.generation.expire();
        result
    }

    /// The catalog generation: trusted from memory for a moment, else read.
    async fn generation(&self) -> Result<i64, CatalogError> {
        if let Some(generation) = self.generation.usable() {
            return Ok(generation);
        }
        let refreshing = self.generation.refreshing();
        let generation = self.read(store::generation).await?;
        self.generation.set(generation, &refreshing);
        Ok(generation)
    }

    async fn read<T, F>(&self, work: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, CatalogError> + Send + 'static,
    {
        self.db.run(work).await
    }

    /// Every licence.
    pub async fn licences(&self) -> Result<Vec<Licence>, CatalogError> {
        self.read(store::licences).await
    }

    fn validate(
        conn: &mut DbConnection,
        input: &DatasetInput,
    ) -> Result<DatasetInput, CatalogError> {
        let known = match &input.licence {
            Some(id) => store::licences(conn)?.iter().any(|l| l.id == id.trim()),
            None => false,
        };
        rules::validate(input, known)
    }

    /// Creates a draft dataset in the principal's agency.
    pub async fn create_dataset(
        &self,
        principal: &Principal,
        input: DatasetInput,
    ) -> Result<DatasetView, CatalogError> {
        permissions::create_dataset(principal)?;
        let (now, org) = (self.clock.now(), principal.org);
        self.write(move |conn| {
            let input = Self::validate(conn, &input)?;
            let slug = match &input.slug {
                Some(slug) => slug.clone(),
                None => rules::derive_slug(&input.title)
                    .map(|base| format!("{base}-{}", &DatasetId::new().to_string()[24..]))
                    .unwrap_or_else(|| format!("dataset-{}", DatasetId::new().0.simple())),
            };
            let id = store::insert_dataset(conn, org, &slug, &input, now)?;
            reload(conn, id)
        })
        .await
    }

    /// Replaces a draft's metadata.
    pub async fn update_dataset(
        &self,
        principal: &Principal,
        id: &str,
        input: DatasetInput,
    ) -> Result<DatasetView, CatalogError> {
        let (now, principal, id) = (self.clock.now(), principal.clone(), id.to_owned());
        self.write(move |conn| {
            let dataset = store::find_dataset(conn, &id)?;
            permissions::view_dataset(Some(&principal), &dataset)
                .map_err(|_| CatalogError::DatasetNotFound)?;
            permissions::edit_dataset(&principal, &dataset)?;
            require(LifecycleAction::Edit, dataset.status)?;
            let input = Self::validate(conn, &input)?;
            store::update_dataset(conn, dataset.id, &input, now)?;
            reload(conn, dataset.id)
        })
        .await
    }

    /// Moves a dataset through its lifecycle; `comment` is the reviewer's note (return) or the
    /// reason (withdraw).
    pub async fn transition(
        &self,
        principal: &Principal,
        id: &str,
        action: LifecycleAction,
        comment: Option<String>,
        context: &RequestContext,
    ) -> Result<DatasetView, CatalogError> {
        let (now, principal, id, context) = (
            self.clock.now(),
            principal.clone(),
            id.to_owned(),
            context.clone(),
        );
        self.write(move |conn| {
            let dataset = store::find_dataset(conn, &id)?;
            permissions::view_dataset(Some(&principal), &dataset).map_err(|_| CatalogError::DatasetNotFound)?;
            match action {
                LifecycleAction::Publish | LifecycleAction::Return | LifecycleAction::Withdraw => {
                    permissions::review_dataset(&principal, &dataset)?;
                }
                _ => permissions::edit_dataset(&principal, &dataset)?,
            }
            let to = require(action, dataset.status)?;
            let comment = comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
            if action == LifecycleAction::Return && comment.is_none() {
                return Err(CatalogError::invalid("comment", "a returned dataset needs a comment for its publisher"));
            }
            let audit = |kind| {
                AuditRecord::success(kind, Some(principal.user), Some(principal.org)).subject(dataset.id)
            };
            let version = match action {
                LifecycleAction::Submit => {
                    audit::record(conn, &audit(AuditKind::DatasetSubmitted), &context, now)?;
                    None
                }
                LifecycleAction::Return => {
                    let event = audit(AuditKind::DatasetReturned).detail(serde_json::json!({ "comment": comment }));
                    audit::record(conn, &event, &context, now)?;
                    None
                }
                LifecycleAction::Withdraw => {
                    let event = audit(AuditKind::DatasetWithdrawn).detail(serde_json::json!({ "reason": comment }));
                    audit::record(conn, &event, &context, now)?;
                    None
                }
                LifecycleAction::Publish => {
                    let version = dataset.version + 1;
                    let previous = store::versions_of(conn, dataset.id)?.into_iter().next();
                    if let Some(previous) = previous {
                        let before = previous.snapshot["dataset"]["classification"].clone();
                        let after = serde_json::to_value(dataset.classification).unwrap_or_default();
                        if before != after {
                            let event = audit(AuditKind::ClassificationChanged)
                                .detail(serde_json::json!({ "before": before, "after": after, "version": version }));
                            audit::record(conn, &event, &context, now)?;
                        }
                    }
                    let mut published = dataset.clone();
                    published.status = DatasetStatus::Published;
                    published.version = version;
                    let distributions = store::distributions_of(conn, &[dataset.id.to_string()])?;
                    let snapshot = serde_json::json!({ "dataset": published, "distributions": distributions });
                    store::insert_version(conn, dataset.id, version, &principal.user.to_string(), &snapshot, now)?;
                    let event = audit(AuditKind::DatasetPublished).detail(serde_json::json!({ "version": version }));
                    audit::record(conn, &event, &context, now)?;
                    Some(version)
                }
                LifecycleAction::Revise | LifecycleAction::Edit => None,
            };
            let kept_comment = if action == LifecycleAction::Return { comment.as_deref() } else { None };
            store::set_status(conn, dataset.id, to, kept_comment, version, now)?;
            reload(conn, dataset.id)
        })
        .await
    }

    /// Deletes a dataset that was never published, with its files.
    pub async fn delete_dataset(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), CatalogError> {
        let (principal, id) = (principal.clone(), id.to_owned());
        let keys = self
            .write(move |conn| {
                let dataset = store::find_dataset(conn, &id)?;
                permissions::view_dataset(Some(&principal), &dataset)
                    .map_err(|_| CatalogError::DatasetNotFound)?;
                permissions::edit_dataset(&principal, &dataset)?;
                if dataset.version > 0 || dataset.status != DatasetStatus::Draft {
                    return Err(CatalogError::IllegalTransition {
                        from: dataset.status,
                        action: "delete",
                    });
                }
                let keys: Vec<String> = store::distributions_of(conn, &[dataset.id.to_string()])?
                    .into_iter()
                    .filter_map(|d| d.storage_key)
                    .collect();
                store::delete_dataset(conn, dataset.id)?;
                Ok(keys)
            })
            .await?;
        for key in keys {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// A dataset as the principal may see it.
    pub async fn dataset(
        &self,
        principal: Option<&Principal>,
        id: &str,
    ) -> Result<DatasetView, CatalogError> {
        let generation = self.generation().await?;
        let key = (id.to_owned(), generation);
        let view = match self.view_cache.get(&key) {
            Some(view) => view,
            None => {
                let id = id.to_owned();
                let view = self
                    .read(move |conn| {
                        let dataset = store::find_dataset(conn, &id)?;
                        view(conn, dataset).map(Arc::new)
                    })
                    .await?;
                self.view_cache.insert(key, Arc::clone(&view));
                view
            }
        };
        permissions::view_dataset(principal, &view.dataset)
            .map_err(|_| CatalogError::DatasetNotFound)?;
        Ok(DatasetView::clone(&view))
    }

    /// The published versions of a dataset, newest first.
    pub async fn versions(
        &self,
        principal: Option<&Principal>,
        id: &str,
    ) -> Result<Vec<DatasetVersion>, CatalogError> {
        let (principal, id) = (principal.cloned(), id.to_owned());
        self.read(move |conn| {
            let dataset = store::find_dataset(conn, &id)?;
            permissions::view_versions(principal.as_ref(), &dataset)
                .map_err(|_| CatalogError::DatasetNotFound)?;
            store::versions_of(conn, dataset.id)
        })
        .await
    }

    /// Searches published datasets. Answers are cached per catalog generation: any catalog
    /// write, by any server process, makes earlier answers stale.
    pub async fn search(
        &self,
        query: SearchQuery,
        page: PageRequest,
    ) -> Result<SearchResults, CatalogError> {
        let cache = self.search_cache.clone();
        let key = format!("{query:?}|{page:?}");
        let generation = self.generation().await?;
        let cached = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key, generation);
        if let Some(results) = cached {
            metrics::counter!("pdx_catalog_search_cache_total", "outcome" => "hit").increment(1);
            return Ok(SearchResults::clone(&results));
        }
        let results = self
            .read(move |conn| {
                metrics::counter!("pdx_catalog_search_cache_total", "outcome" => "miss")
                    .increment(1);
                let mut hits = search::search(conn, &query)?;
                name_facets(conn, &mut hits.facets)?;
                let datasets = store::datasets_by_ids(conn, &hits.ids)?;
                let views = views(conn, datasets)?;
                let results = Arc::new(SearchResults {
                    page: Page::new(views, hits.total, page),
                    facets: hits.facets,
                });
                cache.lock().unwrap_or_else(PoisonError::into_inner).put(
                    key,
                    generation,
                    results.clone(),
                );
                Ok(results)
            })
            .await?;
        Ok(SearchResults::clone(&results))
    }

    /// The principal's organisation's datasets in every status.
    pub async fn organization_datasets(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<DatasetView>, CatalogError> {
        let org = principal.org;
        self.read(move |conn| {
            let (datasets, total) = store::datasets_of(conn, org, page.offset(), page.limit())?;
            Ok(Page::new(views(conn, datasets)?, total, page))
        })
        .await
    }

    /// Keywords of published datasets (CKAN `tag_list`).
    pub async fn keywords(
        &self,
        query: Option<String>,
        limit: i64,
    ) -> Result<Vec<String>, CatalogError> {
        self.read(move |conn| store::published_keywords(conn, query.as_deref(), limit))
            .await
    }

    /// Published dataset counts per organisation id.
    pub async fn published_counts(&self) -> Result<HashMap<String, i64>, CatalogError> {
        self.read(|conn| Ok(store::published_counts(conn)?.into_iter().collect()))
            .await
    }

    /// Slugs of published datasets (CKAN `package_list`).
    pub async fn published_slugs(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<String>, CatalogError> {
        self.read(move |conn| store::published_slugs(conn, offset, limit))
            .await
    }

    async fn editable(&self, principal: &Principal, id: &str) -> Result<Dataset, CatalogError> {
        let (principal, id) = (principal.clone(), id.to_owned());
        self.read(move |conn| {
            let dataset = store::find_dataset(conn, &id)?;
            permissions::view_dataset(Some(&principal), &dataset)
                .map_err(|_| CatalogError::DatasetNotFound)?;
            permissions::edit_dataset(&principal, &dataset)?;
            require(LifecycleAction::Edit, dataset.status)?;
            Ok(dataset)
        })
        .await
    }

    /// Streams an uploaded file into the blob store and records it as a distribution of a
    /// draft dataset. Nothing is kept if the upload fails or is too large.
    pub async fn upload_distribution<S, E>(
        &self,
        principal: &Principal,
        dataset_id: &str,
        input: DistributionInput,
        body: S,
    ) -> Result<Distribution, CatalogError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dataset = self.editable(principal, dataset_id).await?;
        if let Some(columns) = &input.columns {
            rules::validate_columns(columns)?;
        }
        let (format, media_type) = format_and_media_type(&input)?;
        let id = DistributionId::new();
        let key = format!("datasets/{}/{id}", dataset.id);
        let stored = self
            .blobs
            .put_stream(&key, body, self.max_upload_bytes)
            .await
            .map_err(|e| match e {
                BlobError::TooLarge { limit } => CatalogError::TooLarge { limit },
                other => other.into(),
            })?;
        let now = self.clock.now();
        let distribution = Distribution {
            id,
            dataset_id: dataset.id,
            title: input
                .title
                .or(input.file_name)
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("{} {format}", dataset.title)),
            description: input.description,
            kind: DistributionKind::File,
            format,
            media_type,
            byte_size: i64::try_from(stored.size).ok(),
            sha256: Some(stored.sha256),
            storage_key: Some(key.clone()),
            access_url: None,
            columns: input.columns,
            created_at: now,
            modified_at: now,
        };
        let saved = distribution.clone();
        let recorded = self
            .write(move |conn| {
                // The dataset may have moved on while the bytes streamed.
                let current = store::find_dataset(conn, &saved.dataset_id.to_string())?;
                require(LifecycleAction::Edit, current.status)?;
                store::insert_distribution(conn, &saved)?;
                store::touch(conn, saved.dataset_id, now)
            })
            .await;
        if let Err(error) = recorded {
            if let Err(cleanup) = self.blobs.delete(&key).await {
                tracing::warn!(%cleanup, key, "could not remove the blob of a failed upload");
            }
            return Err(error);
        }
        Ok(distribution)
    }

    /// Adds an external API endpoint as a distribution of a draft dataset.
    pub async fn add_api_distribution(
        &self,
        principal: &Principal,
        dataset_id: &str,
        input: DistributionInput,
    ) -> Result<Distribution, CatalogError> {
        let dataset = self.editable(principal, dataset_id).await?;
        let access_url = rules::access_url(input.access_url.as_deref().unwrap_or_default())?;
        if let Some(columns) = &input.columns {
            rules::validate_columns(columns)?;
        }
        let title = input
            .title
            .clone()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CatalogError::invalid("title", "is required"))?;
        let (format, media_type) = format_and_media_type(&input)?;
        let now = self.clock.now();
        let distribution = Distribution {
            id: DistributionId::new(),
            dataset_id: dataset.id,
            title,
            description: input.description,
            kind: DistributionKind::Api,
            format,
            media_type,
            byte_size: None,
            sha256: None,
            storage_key: None,
            access_url: Some(access_url),
            columns: input.columns,
            created_at: now,
            modified_at: now,
        };
        let saved = distribution.clone();
        self.write(move |conn| {
            store::insert_distribution(conn, &saved)?;
            store::touch(conn, saved.dataset_id, now)
        })
        .await?;
        Ok(distribution)
    }

    /// A distribution's stored facts (kind, file key, size, media type), with no visibility
    /// check: for the data path, which opens the file before the access decision is taken.
    /// Cached per catalog generation.
    pub async fn distribution_facts(
        &self,
        id: DistributionId,
    ) -> Result<Arc<Distribution>, CatalogError> {
        let generation = self.generation().await?;
        if let Some(found) = self.distribution_cache.get(&(id, generation)) {
            return Ok(found);
        }
        let found = Arc::new(
            self.read(move |conn| store::find_distribution(conn, id))
                .await?,
        );
        self.distribution_cache
            .insert((id, generation), Arc::clone(&found));
        Ok(found)
    }

    /// A distribution, if its dataset is visible to the principal.
    pub async fn distribution(
        &self,
        principal: Option<&Principal>,
        id: DistributionId,
    ) -> Result<(Distribution, Dataset), CatalogError> {
        let principal = principal.cloned();
        self.read(move |conn| {
            let distribution = store::find_distribution(conn, id)?;
            let dataset = store::find_dataset(conn, &distribution.dataset_id.to_string())?;
            permissions::view_dataset(principal.as_ref(), &dataset)
                .map_err(|_| CatalogError::DistributionNotFound)?;
            Ok((distribution, dataset))
        })
        .await
    }

    /// Changes a distribution's title, description and columns (draft datasets only).
    pub async fn update_distribution(
        &self,
        principal: &Principal,
        id: DistributionId,
        title: Option<String>,
        description: Option<Option<String>>,
        columns: Option<Option<Vec<Column>>>,
    ) -> Result<Distribution, CatalogError> {
        let (current, dataset) = self.distribution(Some(principal), id).await?;
        self.editable(principal, &dataset.id.to_string()).await?;
        let title = title.map(|t| t.trim().to_owned()).unwrap_or(current.title);
        if title.is_empty() {
            return Err(CatalogError::invalid("title", "must not be empty"));
        }
        let description = description.unwrap_or(current.description);
        let columns = columns.unwrap_or(current.columns);
        if let Some(columns) = &columns {
            rules::validate_columns(columns)?;
        }
        let now = self.clock.now();
        self.write(move |conn| {
            store::update_distribution(
                conn,
                id,
                &title,
                description.as_deref(),
                columns.as_deref(),
                now,
            )?;
            store::touch(conn, dataset.id, now)?;
            store::find_distribution(conn, id)
        })
        .await
    }

    /// Removes a distribution of a draft dataset that no published version includes.
    pub async fn delete_distribution(
        &self,
        principal: &Principal,
        id: DistributionId,
    ) -> Result<(), CatalogError> {
        let (distribution, dataset) = self.distribution(Some(principal), id).await?;
        self.editable(principal, &dataset.id.to_string()).await?;
        let now = self.clock.now();
        let published = self
            .write(move |conn| {
                let published = store::versions_of(conn, dataset.id)?.iter().any(|v| {
                    v.snapshot["distributions"]
                        .as_array()
                        .is_some_and(|ds| ds.iter().any(|d| d["id"] == id.to_string()))
                });
                if !published {
                    store::delete_distribution(conn, id)?;
                    store::touch(conn, dataset.id, now)?;
                }
                Ok(published)
            })
            .await?;
        if published {
            return Err(CatalogError::invalid(
                "distribution",
                "is part of a published version and stays available; publish a new version without it instead",
            ));
        }
        if let Some(key) = distribution.storage_key {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// Resolves a publisher filter given as an organisation slug or id.
    pub async fn organization_id(
        &self,
        slug_or_id: &str,
    ) -> Result<Option<OrganizationId>, CatalogError> {
        let key = slug_or_id.to_owned();
        self.read(
            move |conn| match pdx_access::store::find_organization_by_key(conn, &key) {
                Ok(org) => Ok(Some(org.id)),
                Err(pdx_access::AccessError::OrganizationNotFound) => Ok(None),
                Err(other) => Err(other.into()),
            },
        )
        .await
    }
}

fn require(action: LifecycleAction, from: DatasetStatus) -> Result<DatasetStatus, CatalogError> {
    action.apply(from).ok_or(CatalogError::IllegalTransition {
        from,
        action: action.as_str(),
    })
}

fn reload(conn: &mut DbConnection, id: DatasetId) -> Result<DatasetView, CatalogError> {
    let dataset = store::find_dataset(conn, &id.to_string())?;
    view(conn, dataset)
}

/// Names the facet values that are codes or ids: publishers by name, themes by their
/// Chinese and English labels, licences by title.
fn name_facets(conn: &mut DbConnection, facets: &mut Facets) -> Result<(), CatalogError> {
    let ids: Vec<OrganizationId> = facets
        .publisher
        .iter()
        .filter_map(|f| f.value.parse().ok())
        .collect();
    let names: HashMap<String, String> = pdx_access::store::find_organizations(conn, &ids)?
        .into_iter()
        .map(|org| (org.id.to_string(), org.name))
        .collect();
    for value in &mut facets.publisher {
        value.name = names.get(&value.value).cloned();
    }
    for value in &mut facets.theme {
        value.name = crate::vocabulary::theme(&value.value)
            .map(|t| format!("{} {}", t.label_zh, t.label_en));
    }
    let titles: HashMap<String, String> = store::licences(conn)?
        .into_iter()
        .map(|l| (l.id, l.title))
        .collect();
    for value in &mut facets.licence {
        value.name = titles.get(&value.value).cloned();
    }
    Ok(())
}

fn view(conn: &mut DbConnection, dataset: Dataset) -> Result<DatasetView, CatalogError> {
    let mut views = views(conn, vec![dataset])?;
    views.pop().ok_or(CatalogError::DatasetNotFound)
}

fn views(
    conn: &mut DbConnection,
    datasets: Vec<Dataset>,
) -> Result<Vec<DatasetView>, CatalogError> {
    let ids: Vec<String> = datasets.iter().map(|d| d.id.to_string()).collect();
    let mut orgs: Vec<OrganizationId> = datasets.iter().map(|d| d.organization_id).collect();
    orgs.sort();
    orgs.dedup();
    let organizations: HashMap<OrganizationId, Organization> =
        pdx_access::store::find_organizations(conn, &orgs)?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
    let mut distributions: HashMap<DatasetId, Vec<Distribution>> = HashMap::new();
    for distribution in store::distributions_of(conn, &ids)? {
        distributions
            .entry(distribution.dataset_id)
            .or_default()
            .push(distribution);
    }
    datasets
        .into_iter()
        .map(|dataset| {
            let publisher = organizations.get(&dataset.organization_id).cloned().ok_or(
                CatalogError::Storage(pdx_storage::StorageError::CorruptRow(
                    "datasets.organization_id".into(),
                )),
            )?;
            Ok(DatasetView {
                distributions: distributions.remove(&dataset.id).unwrap_or_default(),
                publisher,
                dataset,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_media_type_are_inferred_from_what_is_given() {
        let guess = |format: Option<&str>, media: Option<&str>, name: Option<&str>| {
            format_and_media_type(&DistributionInput {
                format: format.map(str::to_owned),
                media_type: media.map(str::to_owned),
                file_name: name.map(str::to_owned),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            guess(None, None, Some("stops.csv")),
            ("CSV".into(), "text/csv".into())
        );
        assert_eq!(
            guess(Some("geojson"), None, None),
            ("GeoJSON".into(), "application/geo+json".into())
        );
        assert_eq!(
            guess(None, Some("application/json; charset=utf-8"), None).0,
            "JSON"
        );
        assert_eq!(
            guess(None, None, None),
            ("BIN".into(), "application/octet-stream".into())
        );
        assert_eq!(
            guess(
                Some("parquet"),
                Some("Application/Vnd.Apache.Parquet; x=1"),
                None
            ),
            ("Parquet".into(), "application/vnd.apache.parquet".into())
        );
    }

    #[test]
    fn formats_and_media_types_that_would_break_a_header_or_a_file_name_are_refused() {
        let refused = |format: Option<&str>, media: Option<&str>| {
            format_and_media_type(&DistributionInput {
                format: format.map(str::to_owned),
                media_type: media.map(str::to_owned),
                ..Default::default()
            })
            .is_err()
        };
        for format in [
            "",
            "csv\r\nSet-Cookie: a=b",
            "../etc",
            "CSV ZIP",
            &"X".repeat(21),
        ] {
            assert!(refused(Some(format), None), "{format:?}");
        }
        for media in [
            "text",
            "text/csv\r\nX-Evil: 1",
            "text/<script>",
            "/csv",
            "text/",
        ] {
            assert!(refused(None, Some(media)), "{media:?}");
        }
    }

    /// A generation read `age` ago.
    fn known_since(generation: &Generation, value: i64, age: std::time::Duration) {
        let at = std::time::Instant::now()
            .checked_sub(age)
            .unwrap_or_else(std::time::Instant::now);
        *generation
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((value, at));
    }

    #[test]
    fn a_stale_generation_is_used_only_while_another_request_reads_the_current_one() {
        let generation = Generation::default();
        assert_eq!(generation.usable(), None, "nothing read yet");
        known_since(&generation, 7, GENERATION_TTL / 2);
        assert_eq!(generation.usable(), Some(7), "fresh");
        known_since(&generation, 7, GENERATION_TTL * 2);
        assert_eq!(generation.usable(), None, "stale: read it");
        let read = generation.refreshing();
        assert_eq!(generation.usable(), Some(7), "someone is reading it");
        generation.set(8, &read);
        drop(read);
        assert_eq!(generation.usable(), Some(8));
    }

    #[test]
    fn an_own_write_is_seen_at_once_even_against_a_read_that_began_before_it() {
        let generation = Generation::default();
        known_since(&generation, 7, GENERATION_TTL * 2);
        let read = generation.refreshing();
        generation.expire();
        assert_eq!(
            generation.usable(),
            None,
            "after an own write nothing cached is trusted, even while a read is under way"
        );
        // The read began before the write, so what it found may predate it.
        generation.set(7, &read);
        drop(read);
        assert_eq!(generation.usable(), None);
        let read = generation.refreshing();
        generation.set(8, &read);
        assert_eq!(generation.usable(), Some(8));
    }
}
