//! The catalog service the API calls: dataset lifecycle, distributions and uploads, reads
//! with visibility rules, search and versions; each action behind its permission check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::Stream;
use pdx_access::audit::{self, AuditKind, AuditRecord, RequestContext};
use pdx_access::model::Organization;
use pdx_core::{Clock, DatasetId, DistributionId, OrganizationId, Page, PageRequest, Principal};
use pdx_storage::feed::{self, CatalogChange};
use pdx_storage::{BlobError, BlobStore, Database, DbConnection};
use serde::Serialize;

use crate::error::CatalogError;
use crate::model::{
    Column, Dataset, DatasetInput, DatasetStatus, DatasetVersion, Distribution,
    DistributionChanges, DistributionKind, Licence, LifecycleAction, Revision,
};
use crate::permissions;
use crate::rules;
use crate::search::{Facets, Highlight, SearchIndex, SearchQuery, Suggestions};
use crate::store;

/// A distribution's file (or the part asked for), opened for serving.
pub enum FileBody {
    /// A small file's bytes, from memory.
    Memory(bytes::Bytes),
    /// A larger file's bytes, streamed from the blob store.
    Stream(futures_util::stream::BoxStream<'static, Result<bytes::Bytes, pdx_storage::BlobError>>),
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileBody::Memory(bytes) => write!(f, "FileBody::Memory({} bytes)", bytes.len()),
            FileBody::Stream(_) => f.write_str("FileBody::Stream"),
        }
    }
}

/// A dataset with its publisher and distributions, as shown: to everyone the published version
/// (the dataset as stored and the distributions a published version holds); to those who see
/// drafts ([`permissions::view_drafts`]) what the owning agency works on — a draft, or a pending
/// revision with the published version beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetView {
    /// The dataset.
    pub dataset: Dataset,
    /// The publishing agency.
    pub publisher: Organization,
    /// Its distributions.
    pub distributions: Vec<Distribution>,
    /// While a revision is pending, in the owning agency's view of it: the version the public
    /// sees.
    pub published: Option<Box<DatasetView>>,
}

/// Which view of a dataset to build (see [`DatasetView`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Face {
    /// What everyone sees.
    Public,
    /// What the owning agency works on.
    Working,
}

/// A page of search results with facets.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// The datasets of this page.
    pub page: Page<DatasetView>,
    /// Facet counts over all matches.
    pub facets: Facets,
    /// The matched words of each dataset of the page, by dataset id (text queries only).
    pub highlights: HashMap<String, Highlight>,
}

/// A page of search results as the index renders them, with facets.
#[derive(Debug, Clone)]
pub struct RenderedResults {
    /// Each dataset of the page, rendered.
    pub page: Page<Vec<u8>>,
    /// Facet counts over all matches.
    pub facets: Facets,
    /// The matched words of each dataset of the page, by dataset id (text queries only).
    pub highlights: HashMap<String, Highlight>,
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

/// Dataset views kept per catalog generation (by id or slug as asked, and face).
type ViewCache = quick_cache::sync::Cache<(String, i64, Face), Arc<DatasetView>>;

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
    search: Arc<SearchIndex>,
    licence_titles: Arc<LicenceTitles>,
    view_cache: Arc<ViewCache>,
    distribution_cache: Arc<DistributionCache>,
    generation: Arc<Generation>,
}

impl CatalogService {
    /// A catalog over a database, a blob store and a search index.
    pub fn new(
        db: Database,
        clock: Arc<dyn Clock>,
        blobs: BlobStore,
        max_upload_bytes: u64,
        search: Arc<SearchIndex>,
    ) -> Self {
        Self {
            db,
            clock,
            blobs,
            max_upload_bytes,
            search,
            licence_titles: Arc::default(),
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

    /// Opens a distribution's file, or the part `part` (first and last byte, inclusive), for
    /// the data path, which opens it before the access decision so that a permit is logged
    /// only for data about to be served. `None` when the distribution has no file, or its file
    /// is missing, unreadable or of another size than recorded (each logged as a warning).
    pub async fn open_file(
        &self,
        distribution: &Distribution,
        part: Option<(u64, u64)>,
    ) -> Option<FileBody> {
        let key = distribution.storage_key.as_deref()?;
        let size = distribution.byte_size.and_then(|s| u64::try_from(s).ok())?;
        let unreadable = |e: &pdx_storage::BlobError| {
            tracing::warn!(error = %e, key, "a distribution's file cannot be read");
        };
        let resized = |found: u64| {
            tracing::warn!(
                key,
                size,
                found,
                "a distribution's file has another size than recorded"
            );
        };
        if size <= pdx_storage::SMALL_BLOB {
            let bytes = self
                .blobs
                .read_small(key)
                .await
                .inspect_err(unreadable)
                .ok()?;
            if bytes.len() as u64 != size {
                resized(bytes.len() as u64);
                return None;
            }
            Some(FileBody::Memory(match part {
                Some((first, last)) => {
                    bytes.slice(usize::try_from(first).ok()?..usize::try_from(last + 1).ok()?)
                }
                None => bytes,
            }))
        } else {
            let (found, stream) = self
                .blobs
                .open_stream(key, part.map(|(first, last)| first..last + 1))
                .await
                .inspect_err(unreadable)
                .ok()?;
            if found != size {
                resized(found);
                return None;
            }
            Some(FileBody::Stream(stream))
        }
    }

    async fn write<T, F>(&self, work: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, CatalogError> + Send + 'static,
    {
        let result = self.db.write(work).await;
        self.generation.expire();
        if result.is_ok() {
            // This process's own writes are searchable as soon as they are answered.
            if let Err(error) = self.follow_changes().await {
                tracing::warn!(%error, "search index: could not follow the catalog's changes");
            }
        }
        result
    }

    /// Brings the search index up to date with the catalog's change feed (every process's
    /// writes); returns how many changes it applied.
    pub async fn follow_changes(&self) -> Result<usize, CatalogError> {
        let search = self.search.clone();
        self.read(move |conn| search.follow(conn)).await
    }

    /// Opens the search index for serving: catches up with the feed, or rebuilds it when it
    /// was never built or belongs to another database, logging progress. Returns whether it
    /// rebuilt.
    pub async fn prepare_search(&self) -> Result<bool, CatalogError> {
        let search = self.search.clone();
        self.read(move |conn| {
            search.prepare(conn, &|indexed, total| {
                if indexed % 10_000 < 500 || indexed == total {
                    tracing::info!(indexed, total, "search index: rebuilding");
                }
            })
        })
        .await
    }

    /// Rebuilds the search index from the database now; returns the datasets indexed.
    pub async fn rebuild_search(&self) -> Result<u64, CatalogError> {
        let search = self.search.clone();
        self.read(move |conn| {
            search.rebuild(conn, &|indexed, total| {
                tracing::info!(indexed, total, "search index: rebuilding");
            })
        })
        .await
    }

    /// Removes changes older than `age` from the change feed; returns how many.
    pub async fn prune_changes(&self, age: std::time::Duration) -> Result<usize, CatalogError> {
        let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        let before = (chrono::Utc::now() - age).naive_utc();
        self.db
            .write(move |conn| Ok(feed::prune(conn, before)?))
            .await
    }

    /// Asks every server process's search index to rebuild itself (through the change feed).
    pub async fn request_reindex(&self) -> Result<(), CatalogError> {
        self.db
            .write(|conn| Ok(feed::record(conn, &CatalogChange::Everything)?))
            .await
    }

    /// The search index.
    pub fn search_index(&self) -> &SearchIndex {
        &self.search
    }

    /// The catalog generation: trusted from memory for a moment, else read.
    /// The catalog's state generation, as recently read (any process's catalog write moves
    /// it): what caches of catalog facts are keyed by.
    pub async fn current_generation(&self) -> Result<i64, CatalogError> {
        self.generation().await
    }

    /// Tells the catalog that this server moved the catalog generation outside it (a table of
    /// rows became current), so that it reads the generation again at once.
    pub fn generation_moved(&self) {
        self.generation.expire();
    }

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

    /// The catalog part of an agency's disclosure report for `[start, end)`.
    pub async fn disclosure(
        &self,
        org: OrganizationId,
        start: pdx_core::Timestamp,
        end: pdx_core::Timestamp,
    ) -> Result<crate::disclosure::CatalogDisclosure, CatalogError> {
        self.read(move |conn| crate::disclosure::catalog_disclosure(conn, org, start, end))
            .await
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
        context: &RequestContext,
    ) -> Result<DatasetView, CatalogError> {
        permissions::create_dataset(principal)?;
        let (now, org, user, context) = (
            self.clock.now(),
            principal.org,
            principal.user,
            context.clone(),
        );
        self.write(move |conn| {
            let input = Self::validate(conn, &input)?;
            let slug = match &input.slug {
                Some(slug) => slug.clone(),
                None => rules::derive_slug(&input.title)
                    .map(|base| format!("{base}-{}", &DatasetId::new().to_string()[24..]))
                    .unwrap_or_else(|| format!("dataset-{}", DatasetId::new().0.simple())),
            };
            let id = store::insert_dataset(conn, org, &slug, &input, now)?;
            let event = AuditRecord::success(AuditKind::DatasetCreated, Some(user), Some(org))
                .subject(id)
                .detail(serde_json::json!({ "slug": slug }));
            audit::record(conn, &event, &context, now)?;
            reload(conn, id)
        })
        .await
    }

    /// Replaces a draft's metadata, or a pending revision's (the published version stays as
    /// it is until the revision is published).
    pub async fn update_dataset(
        &self,
        principal: &Principal,
        id: &str,
        input: DatasetInput,
        context: &RequestContext,
    ) -> Result<DatasetView, CatalogError> {
        let (now, principal, id, context) = (
            self.clock.now(),
            principal.clone(),
            id.to_owned(),
            context.clone(),
        );
        self.write(move |conn| {
            let (dataset, revision) = editable_in(conn, &principal, &id)?;
            let input = Self::validate(conn, &input)?;
            let revised = revision.is_some();
            match revision {
                Some(mut revision) => {
                    revision.input = input;
                    revision.modified_at = now;
                    store::save_revision(conn, dataset.id, &revision)?;
                }
                None => store::update_dataset(conn, dataset.id, &input, now)?,
            }
            let event = AuditRecord::success(
                AuditKind::DatasetUpdated,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(dataset.id)
            .detail(serde_json::json!({ "revision": revised }));
            audit::record(conn, &event, &context, now)?;
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
            permissions::view_dataset(Some(&principal), &dataset)
                .map_err(|_| CatalogError::DatasetNotFound)?;
            match action {
                LifecycleAction::Publish | LifecycleAction::Return | LifecycleAction::Withdraw => {
                    permissions::review_dataset(&principal, &dataset)?;
                }
                _ => permissions::edit_dataset(&principal, &dataset)?,
            }
            let revision = store::find_revision(conn, dataset.id)?;
            // Withdrawing and revising concern the published record; the rest what is being
            // worked on: the pending revision when there is one.
            let from = match (action, &revision) {
                (LifecycleAction::Revise, Some(revision)) => {
                    return Err(CatalogError::IllegalTransition {
                        from: revision.status,
                        // "cannot start a second revision of a dataset that is draft"
                        action: "start a second revision of",
                    });
                }
                (LifecycleAction::Withdraw | LifecycleAction::Revise, _) | (_, None) => {
                    dataset.status
                }
                (_, Some(revision)) => revision.status,
            };
            let to = require(action, from)?;
            let comment = comment
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty());
            if action == LifecycleAction::Return && comment.is_none() {
                return Err(CatalogError::invalid(
                    "comment",
                    "a returned dataset needs a comment for its publisher",
                ));
            }
            let audit = |kind| {
                AuditRecord::success(kind, Some(principal.user), Some(principal.org))
                    .subject(dataset.id)
            };
            let revised = revision.is_some();
            match action {
                LifecycleAction::Submit => {
                    let event = audit(AuditKind::DatasetSubmitted)
                        .detail(serde_json::json!({ "revision": revised }));
                    audit::record(conn, &event, &context, now)?;
                }
                LifecycleAction::Return => {
                    let event = audit(AuditKind::DatasetReturned)
                        .detail(serde_json::json!({ "comment": comment, "revision": revised }));
                    audit::record(conn, &event, &context, now)?;
                }
                LifecycleAction::Withdraw => {
                    let event = audit(AuditKind::DatasetWithdrawn)
                        .detail(serde_json::json!({ "reason": comment }));
                    audit::record(conn, &event, &context, now)?;
                }
                LifecycleAction::Revise => {
                    let event = audit(AuditKind::DatasetRevised)
                        .detail(serde_json::json!({ "from_version": dataset.version }));
                    audit::record(conn, &event, &context, now)?;
                }
                LifecycleAction::Publish => {
                    publish(conn, &dataset, revision.as_ref(), &principal, &context, now)?;
                    return reload(conn, dataset.id);
                }
                LifecycleAction::Edit => {}
            }
            let kept_comment = if action == LifecycleAction::Return {
                comment
            } else {
                None
            };
            match (action, revision) {
                (LifecycleAction::Revise, _) => {
                    let revision = Revision {
                        status: to,
                        input: dataset.input(),
                        distribution_changes: std::collections::BTreeMap::new(),
                        review_comment: None,
                        created_at: now,
                        modified_at: now,
                    };
                    store::save_revision(conn, dataset.id, &revision)?;
                }
                (LifecycleAction::Withdraw, _) | (_, None) => {
                    store::set_status(conn, dataset.id, to, kept_comment.as_deref(), None, now)?;
                }
                (_, Some(mut revision)) => {
                    revision.status = to;
                    revision.review_comment = kept_comment;
                    revision.modified_at = now;
                    store::save_revision(conn, dataset.id, &revision)?;
                }
            }
            reload(conn, dataset.id)
        })
        .await
    }

    /// Deletes a dataset that was never published, with its files.
    pub async fn delete_dataset(
        &self,
        principal: &Principal,
        id: &str,
        context: &RequestContext,
    ) -> Result<(), CatalogError> {
        let (now, principal, id, context) = (
            self.clock.now(),
            principal.clone(),
            id.to_owned(),
            context.clone(),
        );
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
                let event = AuditRecord::success(
                    AuditKind::DatasetDeleted,
                    Some(principal.user),
                    Some(principal.org),
                )
                .subject(dataset.id)
                .detail(serde_json::json!({ "slug": dataset.slug }));
                audit::record(conn, &event, &context, now)?;
                Ok(keys)
            })
            .await?;
        for key in keys {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// A dataset as the principal may see it: the published version, or for those who see
    /// drafts what the owning agency works on (see [`DatasetView`]).
    pub async fn dataset(
        &self,
        principal: Option<&Principal>,
        id: &str,
    ) -> Result<DatasetView, CatalogError> {
        let generation = self.generation().await?;
        let public = self.cached_view(id, generation, Face::Public).await?;
        if permissions::view_drafts(principal, &public.dataset) {
            let working = self.cached_view(id, generation, Face::Working).await?;
            return Ok(DatasetView::clone(&working));
        }
        permissions::view_dataset(principal, &public.dataset)
            .map_err(|_| CatalogError::DatasetNotFound)?;
        Ok(DatasetView::clone(&public))
    }

    async fn cached_view(
        &self,
        id: &str,
        generation: i64,
        face: Face,
    ) -> Result<Arc<DatasetView>, CatalogError> {
        let key = (id.to_owned(), generation, face);
        if let Some(view) = self.view_cache.get(&key) {
            return Ok(view);
        }
        let id = id.to_owned();
        let view = self
            .read(move |conn| {
                let dataset = store::find_dataset(conn, &id)?;
                view(conn, dataset, face).map(Arc::new)
            })
            .await?;
        self.view_cache.insert(key, Arc::clone(&view));
        Ok(view)
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

    /// Searches published datasets with the search index; the page's datasets are read from
    /// the database as anyone sees them (for answers built from the views: CKAN, DCAT).
    pub async fn search(
        &self,
        query: SearchQuery,
        page: PageRequest,
    ) -> Result<SearchResults, CatalogError> {
        let (search, licences) = (self.search.clone(), self.licence_titles.clone());
        self.read(move |conn| {
            let mut hits = search.search(&query)?;
            name_facets(conn, &search, &licences, &mut hits.facets)?;
            // Only what is published now: the index may lag a write by a moment.
            let views = public_views(conn, &hits.ids)?;
            Ok(SearchResults {
                page: Page::new(views, hits.total, page),
                facets: hits.facets,
                highlights: hits.highlights,
            })
        })
        .await
    }

    /// Searches published datasets with the search index alone: the page holds each dataset's
    /// public rendering as the index stores it ([`crate::search::Render`]).
    pub async fn search_rendered(
        &self,
        query: SearchQuery,
        page: PageRequest,
    ) -> Result<RenderedResults, CatalogError> {
        let licences = self.licence_titles.clone();
        // A search takes about a millisecond of CPU and no I/O: it runs on the request's own
        // thread rather than a blocking thread of its own.
        let mut hits = self.search.search(&query)?;
        if !name_facets_from_memory(&self.search, &licences, &mut hits.facets) {
            let (search, mut facets) = (self.search.clone(), std::mem::take(&mut hits.facets));
            hits.facets = self
                .read(move |conn| {
                    name_facets(conn, &search, &licences, &mut facets)?;
                    Ok(facets)
                })
                .await?;
        }
        Ok(RenderedResults {
            page: Page::new(hits.rendered, hits.total, page),
            facets: hits.facets,
            highlights: hits.highlights,
        })
    }

    /// The public rendering of a published dataset (by id or slug) from the search index;
    /// none when the index does not hold it (a draft, withdrawn, unknown).
    pub fn rendered(&self, id_or_slug: &str) -> Result<Option<Vec<u8>>, CatalogError> {
        self.search.rendered(id_or_slug)
    }

    /// Completions for a search box: titles and keywords of published datasets.
    pub fn suggest(&self, text: &str, limit: usize) -> Result<Suggestions, CatalogError> {
        self.search.suggest(text, limit)
    }

    /// The principal's organisation's datasets in every status, as it works on them.
    pub async fn organization_datasets(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<DatasetView>, CatalogError> {
        let org = principal.org;
        self.read(move |conn| {
            let (datasets, total) = store::datasets_of(conn, org, page.offset(), page.limit())?;
            Ok(Page::new(
                views(conn, datasets, Face::Working)?,
                total,
                page,
            ))
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
        self.read(move |conn| editable_in(conn, &principal, &id).map(|(dataset, _)| dataset))
            .await
    }

    /// Streams an uploaded file into the blob store and records it as a distribution of a
    /// draft dataset or of a pending revision (then nobody but the owning agency may obtain it
    /// until the revision is published). Nothing is kept if the upload fails or is too large.
    pub async fn upload_distribution<S, E>(
        &self,
        principal: &Principal,
        dataset_id: &str,
        input: DistributionInput,
        body: S,
        context: &RequestContext,
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
            published_version: None,
        };
        let (saved, principal, context) =
            (distribution.clone(), principal.clone(), context.clone());
        let recorded = self
            .write(move |conn| {
                // The dataset may have moved on while the bytes streamed.
                editable_in(conn, &principal, &saved.dataset_id.to_string())?;
                add_distribution(conn, &saved, &principal, &context, now)
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

    /// Adds an external API endpoint as a distribution of a draft dataset or of a pending
    /// revision.
    pub async fn add_api_distribution(
        &self,
        principal: &Principal,
        dataset_id: &str,
        input: DistributionInput,
        context: &RequestContext,
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
            published_version: None,
        };
        let (saved, principal, context) =
            (distribution.clone(), principal.clone(), context.clone());
        self.write(move |conn| {
            editable_in(conn, &principal, &saved.dataset_id.to_string())?;
            add_distribution(conn, &saved, &principal, &context, now)
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

    /// A distribution as the principal may see it: one a published version holds, as
    /// published; for those who see drafts also one of a draft or a pending revision, with the
    /// revision's changes.
    pub async fn distribution(
        &self,
        principal: Option<&Principal>,
        id: DistributionId,
    ) -> Result<(Distribution, Dataset), CatalogError> {
        let principal = principal.cloned();
        self.read(move |conn| {
            let mut distribution = store::find_distribution(conn, id)?;
            let dataset = store::find_dataset(conn, &distribution.dataset_id.to_string())?;
            if permissions::view_drafts(principal.as_ref(), &dataset) {
                if let Some(revision) = store::find_revision(conn, dataset.id)?
                    && let Some(changes) = revision.distribution_changes.get(&id.to_string())
                {
                    changes.apply(&mut distribution);
                }
                return Ok((distribution, dataset));
            }
            if !permissions::is_public(&dataset) || distribution.published_version.is_none() {
                return Err(CatalogError::DistributionNotFound);
            }
            Ok((distribution, dataset))
        })
        .await
    }

    /// Changes a distribution's title, description and columns (drafts and pending revisions
    /// only; a published distribution's changes wait in the revision until it is published).
    pub async fn update_distribution(
        &self,
        principal: &Principal,
        id: DistributionId,
        title: Option<String>,
        description: Option<Option<String>>,
        columns: Option<Option<Vec<Column>>>,
        context: &RequestContext,
    ) -> Result<Distribution, CatalogError> {
        let (current, dataset) = self.distribution(Some(principal), id).await?;
        self.editable(principal, &dataset.id.to_string()).await?;
        let title = title.map(|t| t.trim().to_owned()).unwrap_or(current.title);
        if title.is_empty() {
            return Err(CatalogError::invalid("title", "must not be empty"));
        }
        let changes = DistributionChanges {
            title,
            description: description.unwrap_or(current.description),
            columns: columns.unwrap_or(current.columns),
        };
        if let Some(columns) = &changes.columns {
            rules::validate_columns(columns)?;
        }
        let (now, principal, context) = (self.clock.now(), principal.clone(), context.clone());
        self.write(move |conn| {
            let (dataset, revision) = editable_in(conn, &principal, &dataset.id.to_string())?;
            let mut distribution = store::find_distribution(conn, id)?;
            let pending = match revision {
                Some(mut revision) if distribution.published_version.is_some() => {
                    revision
                        .distribution_changes
                        .insert(id.to_string(), changes.clone());
                    revision.modified_at = now;
                    store::save_revision(conn, dataset.id, &revision)?;
                    changes.apply(&mut distribution);
                    true
                }
                _ => {
                    store::update_distribution(
                        conn,
                        dataset.id,
                        id,
                        &changes.title,
                        changes.description.as_deref(),
                        changes.columns.as_deref(),
                        now,
                    )?;
                    touch_working(conn, dataset.id, now)?;
                    distribution = store::find_distribution(conn, id)?;
                    false
                }
            };
            let event = AuditRecord::success(
                AuditKind::DistributionUpdated,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(dataset.id)
            .detail(serde_json::json!({ "distribution": id, "revision": pending }));
            audit::record(conn, &event, &context, now)?;
            Ok(distribution)
        })
        .await
    }

    /// Removes a distribution of a draft dataset or a pending revision that no published
    /// version holds.
    pub async fn delete_distribution(
        &self,
        principal: &Principal,
        id: DistributionId,
        context: &RequestContext,
    ) -> Result<(), CatalogError> {
        let (distribution, dataset) = self.distribution(Some(principal), id).await?;
        self.editable(principal, &dataset.id.to_string()).await?;
        if distribution.published_version.is_some() {
            return Err(CatalogError::DistributionPublished);
        }
        let (now, principal, context) = (self.clock.now(), principal.clone(), context.clone());
        self.write(move |conn| {
            let (dataset, _) = editable_in(conn, &principal, &dataset.id.to_string())?;
            store::delete_distribution(conn, dataset.id, id)?;
            touch_working(conn, dataset.id, now)?;
            let event = AuditRecord::success(
                AuditKind::DistributionDeleted,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(dataset.id)
            .detail(serde_json::json!({ "distribution": id }));
            audit::record(conn, &event, &context, now)?;
            Ok(())
        })
        .await?;
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

/// What is being worked on, for the owning agency: the dataset and its pending revision, if
/// the principal may edit it and it (or its revision) is a draft.
fn editable_in(
    conn: &mut DbConnection,
    principal: &Principal,
    id: &str,
) -> Result<(Dataset, Option<Revision>), CatalogError> {
    let dataset = store::find_dataset(conn, id)?;
    permissions::view_dataset(Some(principal), &dataset)
        .map_err(|_| CatalogError::DatasetNotFound)?;
    permissions::edit_dataset(principal, &dataset)?;
    let revision = store::find_revision(conn, dataset.id)?;
    let status = revision.as_ref().map_or(dataset.status, |r| r.status);
    require(LifecycleAction::Edit, status)?;
    Ok((dataset, revision))
}

/// Marks what is being worked on modified: the pending revision, else the draft.
fn touch_working(
    conn: &mut DbConnection,
    dataset: DatasetId,
    now: pdx_core::Timestamp,
) -> Result<(), CatalogError> {
    match store::find_revision(conn, dataset)? {
        Some(mut revision) => {
            revision.modified_at = now;
            store::save_revision(conn, dataset, &revision)
        }
        None => store::touch(conn, dataset, now),
    }
}

/// Records a new distribution (not yet published) and audits it.
fn add_distribution(
    conn: &mut DbConnection,
    distribution: &Distribution,
    principal: &Principal,
    context: &RequestContext,
    now: pdx_core::Timestamp,
) -> Result<(), CatalogError> {
    store::insert_distribution(conn, distribution)?;
    touch_working(conn, distribution.dataset_id, now)?;
    let event = AuditRecord::success(
        AuditKind::DistributionAdded,
        Some(principal.user),
        Some(principal.org),
    )
    .subject(distribution.dataset_id)
    .detail(serde_json::json!({
        "distribution": distribution.id,
        "kind": distribution.kind.as_str(),
        "format": distribution.format,
        "byte_size": distribution.byte_size,
        "sha256": distribution.sha256,
    }));
    audit::record(conn, &event, context, now)?;
    Ok(())
}

/// Publishes what is in review as the next version, in the caller's transaction: the pending
/// revision replaces the published version (metadata, classification, changes to
/// distributions, and its new distributions join), or a first draft becomes the first version.
fn publish(
    conn: &mut DbConnection,
    dataset: &Dataset,
    revision: Option<&Revision>,
    principal: &Principal,
    context: &RequestContext,
    now: pdx_core::Timestamp,
) -> Result<(), CatalogError> {
    let version = dataset.version + 1;
    let audit = |kind| {
        AuditRecord::success(kind, Some(principal.user), Some(principal.org)).subject(dataset.id)
    };
    let classification = revision.map_or(dataset.classification, |r| r.input.classification);
    let previous = store::versions_of(conn, dataset.id)?.into_iter().next();
    if let Some(previous) = previous {
        let before = previous.snapshot["dataset"]["classification"].clone();
        let after = serde_json::to_value(classification).unwrap_or_default();
        if before != after {
            let event = audit(AuditKind::ClassificationChanged).detail(
                serde_json::json!({ "before": before, "after": after, "version": version }),
            );
            audit::record(conn, &event, context, now)?;
        }
    }
    if let Some(revision) = revision {
        store::update_dataset(conn, dataset.id, &revision.input, now)?;
        for distribution in store::distributions_of(conn, &[dataset.id.to_string()])? {
            if let Some(changes) = revision
                .distribution_changes
                .get(&distribution.id.to_string())
            {
                store::update_distribution(
                    conn,
                    dataset.id,
                    distribution.id,
                    &changes.title,
                    changes.description.as_deref(),
                    changes.columns.as_deref(),
                    now,
                )?;
            }
        }
        store::delete_revision(conn, dataset.id)?;
    }
    store::publish_distributions(conn, dataset.id, version)?;
    store::set_status(
        conn,
        dataset.id,
        DatasetStatus::Published,
        None,
        Some(version),
        now,
    )?;
    let stored = store::find_dataset(conn, &dataset.id.to_string())?;
    let published = view(conn, stored, Face::Public)?;
    let snapshot = serde_json::json!({
        "dataset": published.dataset,
        "distributions": published.distributions,
    });
    store::insert_version(
        conn,
        dataset.id,
        version,
        &principal.user.to_string(),
        &snapshot,
        now,
    )?;
    let event =
        audit(AuditKind::DatasetPublished).detail(serde_json::json!({ "version": version }));
    audit::record(conn, &event, context, now)?;
    Ok(())
}

/// The dataset as the owning agency sees it after a change of its own.
fn reload(conn: &mut DbConnection, id: DatasetId) -> Result<DatasetView, CatalogError> {
    let dataset = store::find_dataset(conn, &id.to_string())?;
    view(conn, dataset, Face::Working)
}

/// Names the facet values that are codes or ids: publishers by name (as the search index
/// holds them, else from the database), themes by their Chinese and English labels, licences
/// by title.
fn name_facets(
    conn: &mut DbConnection,
    search: &SearchIndex,
    licences: &LicenceTitles,
    facets: &mut Facets,
) -> Result<(), CatalogError> {
    if name_facets_from_memory(search, licences, facets) {
        return Ok(());
    }
    let unknown: Vec<OrganizationId> = facets
        .publisher
        .iter()
        .filter(|value| value.name.is_none())
        .filter_map(|value| value.value.parse().ok())
        .collect();
    if !unknown.is_empty() {
        let names: HashMap<String, String> = pdx_access::store::find_organizations(conn, &unknown)?
            .into_iter()
            .map(|org| (org.id.to_string(), org.name))
            .collect();
        for value in &mut facets.publisher {
            if value.name.is_none() {
                value.name = names.get(&value.value).cloned();
            }
        }
    }
    if !facets.licence.is_empty() {
        let titles = licences.get(conn)?;
        name_licences(facets, &titles);
    }
    Ok(())
}

/// Names the facet values as [`name_facets`] does, from what is in memory; false when that is
/// not enough (a publisher the index has not named, licence titles not read lately), with
/// what could be named named.
fn name_facets_from_memory(
    search: &SearchIndex,
    licences: &LicenceTitles,
    facets: &mut Facets,
) -> bool {
    for value in &mut facets.theme {
        value.name = crate::vocabulary::theme(&value.value)
            .map(|t| format!("{} {}", t.label_zh, t.label_en));
    }
    let mut complete = true;
    for value in &mut facets.publisher {
        value.name = search.publisher_name(&value.value);
        complete &= value.name.is_some();
    }
    if !facets.licence.is_empty() {
        match licences.cached() {
            Some(titles) => name_licences(facets, &titles),
            None => complete = false,
        }
    }
    complete
}

fn name_licences(facets: &mut Facets, titles: &Titles) {
    for value in &mut facets.licence {
        value.name = titles.get(&value.value).cloned();
    }
}

/// How long licence titles read from the database name facet values.
const LICENCE_TITLES_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Licence titles by id, read at most once a minute: they name facet values in every search.
#[derive(Debug, Default)]
struct LicenceTitles(Mutex<Option<(std::time::Instant, Arc<Titles>)>>);

/// Titles by id.
type Titles = HashMap<String, String>;

impl LicenceTitles {
    /// The titles, when read lately.
    fn cached(&self) -> Option<Arc<Titles>> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((read, titles)) if read.elapsed() < LICENCE_TITLES_TTL => Some(titles.clone()),
            _ => None,
        }
    }

    fn get(&self, conn: &mut DbConnection) -> Result<Arc<Titles>, CatalogError> {
        if let Some(titles) = self.cached() {
            return Ok(titles);
        }
        let titles: Arc<Titles> = Arc::new(
            store::licences(conn)?
                .into_iter()
                .map(|l| (l.id, l.title))
                .collect(),
        );
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((std::time::Instant::now(), titles.clone()));
        Ok(titles)
    }
}

fn view(
    conn: &mut DbConnection,
    dataset: Dataset,
    face: Face,
) -> Result<DatasetView, CatalogError> {
    let mut views = views(conn, vec![dataset], face)?;
    views.pop().ok_or(CatalogError::DatasetNotFound)
}

/// The public views of those of `ids` that are published, for the search index.
pub(crate) fn public_views(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<DatasetView>, CatalogError> {
    let published = store::datasets_by_ids(conn, ids)?
        .into_iter()
        .filter(|d| d.status == DatasetStatus::Published)
        .collect();
    views(conn, published, Face::Public)
}

/// Views of datasets: the public face (the dataset as stored, with the distributions a
/// published version holds), or the working one (every distribution, and a pending revision
/// applied with the public face beside it).
fn views(
    conn: &mut DbConnection,
    datasets: Vec<Dataset>,
    face: Face,
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
    let (found, mut revisions) = match face {
        Face::Public => (
            store::published_distributions_of(conn, &ids)?,
            HashMap::new(),
        ),
        Face::Working => (
            store::distributions_of(conn, &ids)?,
            store::revisions_of(conn, &ids)?,
        ),
    };
    let mut distributions: HashMap<DatasetId, Vec<Distribution>> = HashMap::new();
    for distribution in found {
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
            let distributions = distributions.remove(&dataset.id).unwrap_or_default();
            let Some(revision) = revisions.remove(&dataset.id.to_string()) else {
                return Ok(DatasetView {
                    distributions,
                    publisher,
                    dataset,
                    published: None,
                });
            };
            let published = DatasetView {
                distributions: distributions
                    .iter()
                    .filter(|d| d.published_version.is_some())
                    .cloned()
                    .collect(),
                publisher: publisher.clone(),
                dataset: dataset.clone(),
                published: None,
            };
            let mut working = distributions;
            for distribution in &mut working {
                if let Some(changes) = revision
                    .distribution_changes
                    .get(&distribution.id.to_string())
                {
                    changes.apply(distribution);
                }
            }
            Ok(DatasetView {
                dataset: dataset.revised(&revision),
                publisher,
                distributions: working,
                published: Some(Box::new(published)),
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
