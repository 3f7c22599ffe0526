//! The ledger as a server publishes it: signed checkpoints at a bounded interval, every one
//! kept; inclusion and consistency proofs; entries read within the reader's scope (each read
//! itself recorded); and the export, whose lines are exactly the leaf data of the tree.

use std::path::Path;
use std::sync::{Arc, RwLock};

use diesel::prelude::*;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use pdx_core::{Clock, OrganizationId, Page, PageRequest, Timestamp};
use pdx_storage::schema::{datasets, disclosures, ledger_checkpoints, ledger_entries};
use pdx_storage::{Database, DbConnection, StorageError};

use crate::accounting::{self, Calendar, Rebuilt, Side, StatementLines, UsageQuery, UsageRow};
use crate::anomalies::Thresholds;
use crate::checkpoint::{Checkpoint, LedgerKey};
use crate::entry::Entry;
use crate::merkle::{Hash, MerkleError};
use crate::tree::{Leaves, TreeCache};

/// What can go wrong publishing or reading the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No entry with this sequence number (or not visible to the reader).
    #[error("no such ledger entry")]
    EntryNotFound,
    /// No checkpoint of this size has been published.
    #[error("no checkpoint of this size has been published")]
    CheckpointNotFound,
    /// A proof was asked for sizes the ledger cannot prove.
    #[error("{0}")]
    Range(#[from] MerkleError),
    /// The ledger key could not be loaded or created.
    #[error("ledger key: {0}")]
    Key(String),
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<pdx_storage::vault::VaultError> for LedgerError {
    fn from(error: pdx_storage::vault::VaultError) -> Self {
        match error {
            pdx_storage::vault::VaultError::Storage(storage) => Self::Storage(storage),
            other => Self::Key(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for LedgerError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// Loads the ledger's signing key (PKCS#8 PEM) from `path`, creating it (mode 0600) on first
/// use, and names it `origin`.
pub fn load_or_create_key(path: &Path, origin: &str) -> Result<LedgerKey, LedgerError> {
    let key = if path.exists() {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| LedgerError::Key(format!("cannot read {}: {e}", path.display())))?;
        SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            LedgerError::Key(format!("{} is not an Ed25519 key: {e}", path.display()))
        })?
    } else {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LedgerError::Key(format!("no randomness: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| LedgerError::Key(format!("cannot encode the key: {e}")))?;
        write_private(path, pem.as_bytes())?;
        key
    };
    LedgerKey::new(origin, key).map_err(|e| LedgerError::Key(e.to_string()))
}

/// The ledger's signing key kept in `vault`, shared by every server process, named `origin`.
/// On first use it is taken from the file `legacy` (where an installation from before the
/// vault kept it) or else generated.
pub fn key_from_vault(
    vault: &pdx_storage::vault::Vault,
    legacy: &Path,
    origin: &str,
    now: pdx_core::Timestamp,
) -> Result<LedgerKey, LedgerError> {
    let seed = vault.singleton::<LedgerError>("ledger", now, || {
        if legacy.exists() {
            let key = load_or_create_key(legacy, origin)?;
            tracing::info!(
                file = %legacy.display(),
                "moved the ledger's signing key into the database's vault; the file is no \
                 longer read"
            );
            return Ok(key.seed().to_vec());
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LedgerError::Key(format!("no randomness: {e}")))?;
        Ok(seed.to_vec())
    })?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| LedgerError::Key("the vault's ledger key is not an Ed25519 seed".into()))?;
    LedgerKey::new(origin, SigningKey::from_bytes(&seed))
        .map_err(|e| LedgerError::Key(e.to_string()))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), LedgerError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        pdx_storage::private::create_dir(dir)
            .map_err(|e| LedgerError::Key(format!("cannot create {}: {e}", dir.display())))?;
    }
    pdx_storage::private::write_file(path, contents)
        .map_err(|e| LedgerError::Key(format!("cannot write {}: {e}", path.display())))
}

/// How far the ledger and its checkpoints are, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadFacts {
    /// Entries appended.
    pub size: u64,
    /// Entries the latest checkpoint covers.
    pub checkpoint_size: u64,
    /// When the latest checkpoint was signed.
    pub checkpoint_at: Option<Timestamp>,
}

/// The ledger's size and its latest checkpoint's.
pub fn head_facts(conn: &mut DbConnection) -> Result<HeadFacts, StorageError> {
    let size: i64 = ledger_entries::table
        .select(diesel::dsl::max(ledger_entries::seq))
        .first::<Option<i64>>(conn)?
        .map_or(0, |last| last + 1);
    let latest: Option<(i64, chrono::NaiveDateTime)> = ledger_checkpoints::table
        .select((ledger_checkpoints::size, ledger_checkpoints::signed_at))
        .order(ledger_checkpoints::size.desc())
        .first(conn)
        .optional()?;
    Ok(HeadFacts {
        size: u64::try_from(size).unwrap_or(0),
        checkpoint_size: latest.map_or(0, |(size, _)| u64::try_from(size).unwrap_or(0)),
        checkpoint_at: latest.map(|(_, at)| at.and_utc()),
    })
}

/// Whose entries a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// Everything (auditors, platform admins).
    All,
    /// Entries an organisation's members caused.
    Organization(OrganizationId),
    /// An agency: entries its members caused and entries on its datasets.
    Agency(OrganizationId),
}

/// Filters of the entry listing.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Sequence numbers from (inclusive).
    pub from_seq: Option<u64>,
    /// Sequence numbers to (exclusive).
    pub to_seq: Option<u64>,
    /// Recorded at or after.
    pub since: Option<Timestamp>,
    /// Recorded before.
    pub until: Option<Timestamp>,
    /// Only this dataset (id).
    pub dataset: Option<String>,
    /// Only entries whose actor is this organisation (id).
    pub organization: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this decision.
    pub decision: Option<String>,
    /// Only this reason (a denial's code, a permit's basis).
    pub reason: Option<String>,
    /// Only entries relying on this grant (id).
    pub grant: Option<String>,
    /// Only entries declaring this purpose.
    pub purpose: Option<String>,
    /// Only entries on datasets of this organisation (id).
    pub provider: Option<String>,
    /// List the newest entries first (a page of [`LedgerService::entries`]; exports always
    /// run in ledger order).
    pub newest_first: bool,
}

/// An inclusion or consistency proof, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The hashes, in RFC 9162 order.
    pub hashes: Vec<Hash>,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Leaf hashes of complete chunks recently read back, by first leaf: proofs of recent
/// entries, the common case, read no rows at all.
type ChunkCache = quick_cache::sync::Cache<u64, Arc<Vec<Hash>>>;

/// Chunks kept in memory (8 KiB each).
const CACHED_CHUNKS: usize = 512;

/// Reads leaf hashes back from the entries table, through the chunk cache.
struct Stored<'a>(&'a mut DbConnection, &'a ChunkCache);

impl Leaves for Stored<'_> {
    type Error = LedgerError;

    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let whole = end - start == crate::tree::CHUNK;
        if whole && let Some(cached) = self.1.get(&start) {
            return Ok(cached.as_ref().clone());
        }
        let read = self.read(start, end)?;
        if whole {
            self.1.insert(start, Arc::new(read.clone()));
        }
        Ok(read)
    }
}

impl Stored<'_> {
    fn read(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let rows: Vec<String> = ledger_entries::table
            .filter(ledger_entries::seq.ge(to_i64(start)))
            .filter(ledger_entries::seq.lt(to_i64(end)))
            .order(ledger_entries::seq.asc())
            .select(ledger_entries::leaf_hash)
            .load(self.0)?;
        if rows.len() as u64 != end - start {
            return Err(
                StorageError::CorruptRow(format!("ledger leaves {start}..{end} missing")).into(),
            );
        }
        rows.iter().map(|hex| decode_hash(hex)).collect()
    }
}

fn decode_hash(text: &str) -> Result<Hash, LedgerError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StorageError::CorruptRow("ledger_entries.leaf_hash".into()).into())
}

/// The published ledger of one installation.
#[derive(Clone)]
pub struct LedgerService {
    db: Database,
    key: Arc<LedgerKey>,
    tree: Arc<RwLock<TreeCache>>,
    chunks: Arc<ChunkCache>,
    clock: Arc<dyn Clock>,
    thresholds: Thresholds,
}

impl std::fmt::Debug for LedgerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerService")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl LedgerService {
    /// The ledger over a database, signing with `key` (whose name is the log's origin).
    pub fn new(db: Database, key: LedgerKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            key: Arc::new(key),
            tree: Arc::new(RwLock::new(TreeCache::new())),
            chunks: Arc::new(ChunkCache::new(CACHED_CHUNKS)),
            clock,
            thresholds: Thresholds::default(),
        }
    }

    /// The verifier key in the C2SP signed-note format.
    pub fn verifier_key(&self) -> String {
        self.key.verifier_key()
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// Runs `work` with the tree holding at least `size` leaves (caught up to the committed
    /// ledger when it holds fewer, or when `size` is `None`).
    async fn with_tree<T, F>(&self, size: Option<u64>, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Stored<'_>, &TreeCache) -> Result<T, LedgerError> + Send + 'static,
    {
        let (tree, chunks) = (Arc::clone(&self.tree), Arc::clone(&self.chunks));
        let poisoned = || StorageError::Task("the ledger tree is poisoned".into());
        self.db
            .run(move |conn| {
                let behind = {
                    let cached = tree.read().map_err(|_| poisoned())?;
                    size.is_none_or(|s| cached.size() < s)
                };
                if behind {
                    let mut cached = tree.write().map_err(|_| poisoned())?;
                    catch_up(conn, &mut cached)?;
                }
                let cached = tree.read().map_err(|_| poisoned())?;
                work(&mut Stored(conn, &chunks), &cached)
            })
            .await
    }

    /// Signs and stores a checkpoint of the current size if the ledger grew since the last
    /// one; returns the size signed, if any.
    pub async fn sign_checkpoint(&self) -> Result<Option<u64>, LedgerError> {
        let key = Arc::clone(&self.key);
        let now = self.clock.now();
        self.with_tree(None, move |stored, tree| {
            let size = tree.size();
            let latest: Option<i64> = ledger_checkpoints::table
                .select(diesel::dsl::max(ledger_checkpoints::size))
                .first(stored.0)?;
            if latest.is_some_and(|l| l >= to_i64(size)) || size == 0 {
                return Ok(None);
            }
            let root = tree.root(size, stored)?;
            let note = key.sign(&Checkpoint {
                origin: key.name().to_owned(),
                size,
                root,
            });
            // Another server process may have signed the same size: the first one stays.
            diesel::sql_query(
                "INSERT INTO ledger_checkpoints (size, root_hash, note, signed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING",
            )
            .bind::<diesel::sql_types::BigInt, _>(to_i64(size))
            .bind::<diesel::sql_types::Text, _>(hex::encode(root))
            .bind::<diesel::sql_types::Text, _>(&note)
            .bind::<diesel::sql_types::Timestamp, _>(now.naive_utc())
            .execute(stored.0)?;
            Ok(Some(size))
        })
        .await
    }

    /// The live ledger's verification status: its size, the latest signed checkpoint checked
    /// against the key and against the root recomputed from the stored entries, and the
    /// consistency proof from the checkpoint published before it, checked as an auditor's
    /// `pdx ledger prove consistency` would.
    pub async fn status(&self) -> Result<LedgerStatus, LedgerError> {
        let verifier_key = self.verifier_key();
        let checked_at = self.clock.now();
        self.with_tree(None, move |stored, tree| {
            let size = tree.size();
            let latest: Vec<(i64, String, chrono::NaiveDateTime)> = ledger_checkpoints::table
                .select((
                    ledger_checkpoints::size,
                    ledger_checkpoints::note,
                    ledger_checkpoints::signed_at,
                ))
                .order(ledger_checkpoints::size.desc())
                .limit(2)
                .load(stored.0)?;
            let mut checkpoints =
                latest
                    .into_iter()
                    .map(|(size, note, signed_at)| SignedCheckpoint {
                        size: u64::try_from(size).unwrap_or(0),
                        note,
                        signed_at: signed_at.and_utc(),
                    });
            let (latest, previous) = (checkpoints.next(), checkpoints.next());
            let mut problems = Vec::new();
            if let Some(latest) = &latest {
                match crate::checkpoint::NoteVerifier::parse(&verifier_key)
                    .and_then(|v| v.verify(&latest.note))
                {
                    Ok(signed) if signed.size != latest.size => problems.push(format!(
                        "the checkpoint stored at size {} is signed for size {}",
                        latest.size, signed.size
                    )),
                    Ok(_) if latest.size > size => problems.push(format!(
                        "the checkpoint covers {} entries but the ledger holds {size}",
                        latest.size
                    )),
                    Ok(signed) => {
                        if tree.root(latest.size, stored)? != signed.root {
                            problems.push(format!(
                                "the root of the stored entries [0, {}) is not the signed root",
                                latest.size
                            ));
                        }
                    }
                    Err(error) => problems.push(format!("the latest checkpoint: {error}")),
                }
            }
            let consistency = match (&previous, &latest) {
                (Some(old), Some(new)) if old.size <= size && new.size <= size => {
                    let hashes = tree.consistency_proof(old.size, new.size, stored)?;
                    let proof = crate::verify::ConsistencyProof {
                        from: old.size,
                        to: new.size,
                        hashes,
                    };
                    if let Err(error) = crate::verify::check_consistency(
                        &proof,
                        &old.note,
                        &new.note,
                        &verifier_key,
                    ) {
                        problems.push(format!(
                            "the checkpoint of size {} does not extend that of size {}: {error}",
                            new.size, old.size
                        ));
                    }
                    Some(proof)
                }
                _ => None,
            };
            Ok(LedgerStatus {
                size,
                latest,
                previous,
                consistency,
                problems,
                checked_at,
            })
        })
        .await
    }

    /// The signed checkpoint of this size, or the latest.
    pub async fn checkpoint(&self, size: Option<u64>) -> Result<(u64, String), LedgerError> {
        self.db
            .run(move |conn| {
                let mut query = ledger_checkpoints::table
                    .select((ledger_checkpoints::size, ledger_checkpoints::note))
                    .order(ledger_checkpoints::size.desc())
                    .into_boxed();
                if let Some(size) = size {
                    query = query.filter(ledger_checkpoints::size.eq(to_i64(size)));
                }
                let found: Option<(i64, String)> = query.first(conn).optional()?;
                found
                    .map(|(size, note)| (u64::try_from(size).unwrap_or(0), note))
                    .ok_or(LedgerError::CheckpointNotFound)
            })
            .await
    }

    /// The inclusion proof of entry `seq` in the tree of `tree_size` entries.
    pub async fn inclusion_proof(&self, seq: u64, tree_size: u64) -> Result<Proof, LedgerError> {
        self.with_tree(Some(tree_size), move |stored, tree| {
            Ok(Proof {
                hashes: tree.inclusion_proof(seq, tree_size, stored)?,
            })
        })
        .await
    }

    /// The consistency proof from the tree of `from` entries to that of `to`.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Proof, LedgerError> {
        self.with_tree(Some(to), move |stored, tree| {
            Ok(Proof {
                hashes: tree.consistency_proof(from, to, stored)?,
            })
        })
        .await
    }

    /// A page of entries within the reader's scope, in ledger order.
    pub async fn entries(
        &self,
        scope: ReadScope,
        filter: EntryFilter,
        page: PageRequest,
    ) -> Result<Page<Entry>, LedgerError> {
        self.db
            .run(move |conn| {
                let total: i64 = scoped(scope, &filter).count().get_result(conn)?;
                let query =
                    scoped(scope, &filter).select((ledger_entries::seq, ledger_entries::body));
                let query = if filter.newest_first {
                    query.order(ledger_entries::seq.desc())
                } else {
                    query.order(ledger_entries::seq.asc())
                };
                let bodies: Vec<(i64, String)> =
                    query.offset(page.offset()).limit(page.limit()).load(conn)?;
                let items = bodies
                    .into_iter()
                    .map(|(seq, body)| decode(seq, &body))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Page::new(items, total, page))
            })
            .await
    }

    /// Up to `limit` entries within the reader's scope from `filter.from_seq` on, in ledger
    /// order, without counting them: an export of a search's result reads it this way, batch
    /// after batch.
    pub async fn entry_batch(
        &self,
        scope: ReadScope,
        filter: EntryFilter,
        limit: i64,
    ) -> Result<Vec<Entry>, LedgerError> {
        self.db
            .run(move |conn| {
                let bodies: Vec<(i64, String)> = scoped(scope, &filter)
                    .select((ledger_entries::seq, ledger_entries::body))
                    .order(ledger_entries::seq.asc())
                    .limit(limit)
                    .load(conn)?;
                bodies
                    .into_iter()
                    .map(|(seq, body)| decode(seq, &body))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
    }

    /// One entry, if it is within the reader's scope.
    pub async fn entry(&self, scope: ReadScope, seq: u64) -> Result<Entry, LedgerError> {
        self.db
            .run(move |conn| {
                let found: Option<(i64, String)> = scoped(scope, &EntryFilter::default())
                    .filter(ledger_entries::seq.eq(to_i64(seq)))
                    .select((ledger_entries::seq, ledger_entries::body))
                    .first(conn)
                    .optional()?;
                let (seq, body) = found.ok_or(LedgerError::EntryNotFound)?;
                decode(seq, &body)
            })
            .await
    }

    /// Entries `[0, to)` as NDJSON, each line one entry's canonical bytes, read a page at a
    /// time: what `pdx ledger verify` checks against a checkpoint of size `to`.
    pub fn export_ndjson(
        &self,
        to: u64,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, LedgerError>> + Send + 'static {
        self.export_ndjson_from(0, to)
    }

    /// [`LedgerService::export_ndjson`] of entries `[from, to)` only: a segment that follows
    /// an earlier export, as an archive grows by what is new.
    pub fn export_ndjson_from(
        &self,
        from: u64,
        to: u64,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, LedgerError>> + Send + 'static {
        const PAGE: u64 = 10_000;
        let ledger = self.clone();
        futures_util::stream::unfold(from, move |from| {
            let ledger = ledger.clone();
            async move {
                if from >= to {
                    return None;
                }
                let page = ledger.export_lines(from, to, PAGE).await;
                let lines = page.map(|lines| {
                    let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                    for line in lines {
                        body.push_str(&line);
                        body.push('\n');
                    }
                    bytes::Bytes::from(body)
                });
                Some((lines, from.saturating_add(PAGE)))
            }
        })
    }

    /// The canonical lines of entries `[from, to)`, at most `limit` of them.
    pub async fn export_lines(
        &self,
        from: u64,
        to: u64,
        limit: u64,
    ) -> Result<Vec<String>, LedgerError> {
        self.db
            .run(move |conn| {
                let end = to.min(from.saturating_add(limit));
                let rows: Vec<String> = ledger_entries::table
                    .filter(ledger_entries::seq.ge(to_i64(from)))
                    .filter(ledger_entries::seq.lt(to_i64(end)))
                    .order(ledger_entries::seq.asc())
                    .select(ledger_entries::body)
                    .load(conn)?;
                if rows.len() as u64 != end.saturating_sub(from) {
                    return Err(StorageError::CorruptRow("ledger entries missing".into()).into());
                }
                Ok(rows)
            })
            .await
    }

    /// Makes sure the usage roll-ups exist: built from the ledger in `configured`'s time zone
    /// if they never were (the first start after an upgrade, or of a new platform). Returns
    /// the zone they are kept in and what a build did.
    pub async fn prepare_accounting(
        &self,
        configured: Calendar,
    ) -> Result<(Calendar, Option<Rebuilt>), LedgerError> {
        let now = self.clock.now();
        self.db
            .write(move |conn| {
                if let Some(kept) = accounting::kept_in(conn)? {
                    return Ok((kept, None));
                }
                let built = accounting::rebuild(conn, configured, now, |_| {})?;
                Ok::<_, LedgerError>((configured, Some(built)))
            })
            .await
    }

    /// Rebuilds the usage roll-ups from the ledger's entries in `calendar`'s time zone, in
    /// one transaction holding the ledger's write lock; `progress` hears the entries read.
    pub async fn rebuild_accounting(
        &self,
        calendar: Calendar,
        progress: impl FnMut(u64) + Send + 'static,
    ) -> Result<Rebuilt, LedgerError> {
        let now = self.clock.now();
        self.db
            .write(move |conn| {
                Ok::<_, LedgerError>(accounting::rebuild(conn, calendar, now, progress)?)
            })
            .await
    }

    /// Moves the usage deltas that appends recorded into the day rows; returns how many delta
    /// rows it folded. The figures read are the same before and after.
    pub async fn fold_accounting(&self) -> Result<u64, LedgerError> {
        self.db
            .write(|conn| Ok::<_, LedgerError>(accounting::fold(conn)?))
            .await
    }

    /// Usage from the roll-ups, with the calendar they are kept in.
    pub async fn usage(&self, query: UsageQuery) -> Result<(Calendar, Vec<UsageRow>), LedgerError> {
        self.db
            .run(move |conn| {
                let calendar = accounting::kept_in(conn)?.unwrap_or_default();
                Ok::<_, LedgerError>((calendar, accounting::usage(conn, &query)?))
            })
            .await
    }

    /// The anomaly rules' thresholds.
    pub fn anomaly_thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The same ledger with other anomaly thresholds.
    pub fn with_anomaly_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The anomalies of what was recorded on the local days `[first, last]`, with the
    /// calendar they are in and its first and next instants.
    pub async fn anomalies(
        &self,
        grants: Vec<crate::anomalies::GrantTerms>,
        first: chrono::NaiveDate,
        last: chrono::NaiveDate,
    ) -> Result<
        (
            Calendar,
            Timestamp,
            Timestamp,
            Vec<crate::anomalies::Finding>,
        ),
        LedgerError,
    > {
        let thresholds = self.thresholds;
        self.db
            .run(move |conn| {
                let thresholds = thresholds;
                let calendar = accounting::kept_in(conn)?.unwrap_or_default();
                let start = calendar.start(first);
                let end = calendar.start(last.succ_opt().unwrap_or(last));
                let found =
                    crate::anomalies::find(conn, calendar, &thresholds, &grants, start, end)?;
                Ok::<_, LedgerError>((calendar, start, end, found))
            })
            .await
    }

    /// Whether an organisation's disclosure report of a year is public.
    pub async fn disclosure_public(&self, org: String, year: i32) -> Result<bool, LedgerError> {
        self.db
            .run(move |conn| {
                let public: Option<bool> = disclosures::table
                    .find((org, year))
                    .select(disclosures::public)
                    .first(conn)
                    .optional()?;
                Ok::<_, LedgerError>(public.unwrap_or(false))
            })
            .await
    }

    /// The disclosure reports made public: organisation (id) and year, newest year first.
    pub async fn public_disclosures(&self) -> Result<Vec<(String, i32)>, LedgerError> {
        self.db
            .run(move |conn| {
                Ok::<_, LedgerError>(
                    disclosures::table
                        .filter(disclosures::public.eq(true))
                        .order((disclosures::year.desc(), disclosures::organization_id.asc()))
                        .select((disclosures::organization_id, disclosures::year))
                        .load(conn)?,
                )
            })
            .await
    }

    /// Makes an organisation's disclosure report of a year public or not, recording who did
    /// it in the ledger in the same transaction; returns the entry's sequence number.
    pub async fn set_disclosure_public(
        &self,
        org: String,
        year: i32,
        public: bool,
        actor: (String, String),
        request_id: Option<String>,
    ) -> Result<u64, LedgerError> {
        let now = self.clock.now();
        self.db
            .write(move |conn| {
                diesel::delete(disclosures::table.find((org.clone(), year))).execute(conn)?;
                diesel::insert_into(disclosures::table)
                    .values((
                        disclosures::organization_id.eq(&org),
                        disclosures::year.eq(year),
                        disclosures::public.eq(public),
                        disclosures::changed_at.eq(now.naive_utc()),
                    ))
                    .execute(conn)?;
                let mut entry = Entry::data_access();
                entry.kind = "disclosure_publication".into();
                entry.actor_user = Some(actor.0);
                entry.actor_org = Some(actor.1);
                entry.request_id = request_id;
                entry.decision = "success".into();
                entry.subject = Some(org);
                entry.detail = Some(serde_json::json!({ "year": year, "public": public }));
                let seqs = crate::store::append(conn, std::slice::from_mut(&mut entry), now)?;
                Ok::<_, LedgerError>(seqs.first().copied().unwrap_or_default())
            })
            .await
    }

    /// Records that someone read a report; an anonymous reader (of a public report) has no
    /// user or organisation.
    pub async fn record_report_read(
        &self,
        actor: Option<(String, String)>,
        what: serde_json::Value,
        request_id: Option<String>,
    ) -> Result<u64, LedgerError> {
        let mut entry = Entry::data_access();
        entry.kind = "ledger_read".into();
        if let Some((user, org)) = actor {
            entry.actor_user = Some(user);
            entry.actor_org = Some(org);
        }
        entry.request_id = request_id;
        entry.decision = "success".into();
        entry.detail = Some(what);
        self.record(entry).await
    }

    /// The calendar accounting periods are kept in.
    pub async fn accounting_calendar(&self) -> Result<Calendar, LedgerError> {
        self.db
            .run(move |conn| Ok::<_, LedgerError>(accounting::kept_in(conn)?.unwrap_or_default()))
            .await
    }

    /// The statement lines of an organisation (id) on each of `sides` for the local month
    /// `month` is in, computed from the entries below the latest signed checkpoint: the
    /// calendar, the checkpoint (size and signed note; none before the first) and the lines.
    pub async fn statement(
        &self,
        organization: String,
        sides: Vec<Side>,
        month: chrono::NaiveDate,
    ) -> Result<Statement, LedgerError> {
        self.db
            .run(move |conn| {
                let calendar = accounting::kept_in(conn)?.unwrap_or_default();
                let checkpoint: Option<(i64, String)> = ledger_checkpoints::table
                    .select((ledger_checkpoints::size, ledger_checkpoints::note))
                    .order(ledger_checkpoints::size.desc())
                    .first(conn)
                    .optional()?;
                let below = checkpoint
                    .as_ref()
                    .map_or(0, |(size, _)| u64::try_from(*size).unwrap_or(0));
                let (start, end) = (
                    calendar.start(accounting::month_start(month)),
                    calendar.start(accounting::next_month(month)),
                );
                let mut parts = Vec::with_capacity(sides.len());
                for side in sides {
                    let lines =
                        accounting::statement(conn, &organization, side, start, end, below)?;
                    parts.push((side, lines));
                }
                Ok::<_, LedgerError>(Statement {
                    calendar,
                    start,
                    end,
                    checkpoint: checkpoint
                        .map(|(size, note)| (u64::try_from(size).unwrap_or(0), note)),
                    sides: parts,
                })
            })
            .await
    }

    /// Records that a principal read the ledger (entries or an export): reading is itself an
    /// auditable act.
    pub async fn record_read(
        &self,
        actor_user: String,
        actor_org: String,
        what: serde_json::Value,
        request_id: Option<String>,
    ) -> Result<u64, LedgerError> {
        self.record_report_read(Some((actor_user, actor_org)), what, request_id)
            .await
    }

    /// Records an act refused at the HTTP edge (a management call its caller may not make):
    /// who asked, for what, and the permission check that refused.
    pub async fn record_refusal(
        &self,
        refusal: Refusal,
        request_id: Option<String>,
    ) -> Result<u64, LedgerError> {
        let mut entry = Entry::data_access();
        entry.kind = "access_refused".into();
        entry.actor_user = Some(refusal.actor_user);
        entry.actor_org = Some(refusal.actor_org);
        entry.request_id = request_id;
        entry.decision = "failure".into();
        entry.reason = refusal.check;
        entry.subject = Some(refusal.route);
        entry.detail = Some(serde_json::json!({ "method": refusal.method, "path": refusal.path }));
        self.record(entry).await
    }

    /// Appends one event entry in its own transaction.
    async fn record(&self, mut entry: Entry) -> Result<u64, LedgerError> {
        let now = self.clock.now();
        self.db
            .write(move |conn| {
                let seqs = crate::store::append(conn, std::slice::from_mut(&mut entry), now)?;
                Ok::<_, LedgerError>(seqs.first().copied().unwrap_or_default())
            })
            .await
    }
}

/// One side of an organisation's month, as [`LedgerService::statement`] computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The time zone of the month.
    pub calendar: Calendar,
    /// The month's first instant.
    pub start: Timestamp,
    /// The next month's first instant.
    pub end: Timestamp,
    /// The checkpoint the lines were computed against: its size and signed note.
    pub checkpoint: Option<(u64, String)>,
    /// The lines of each side asked for.
    pub sides: Vec<(Side, StatementLines)>,
}

impl Statement {
    /// The statement as CSV: one row per line and a total row per side, each line with the
    /// ledger sequence numbers it counts. `organization` is the organisation's id; `name_of`
    /// names an organisation or dataset id (none: unknown, or not for this reader).
    pub fn to_csv(
        &self,
        organization: &str,
        name_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "organization",
            "month",
            "time_zone",
            "checkpoint_size",
            "side",
            "line",
            "counterparty",
            "counterparty_name",
            "dataset",
            "dataset_title",
            "grant",
            "purpose",
            "requests",
            "denied",
            "replays",
            "bytes",
            "rows",
            "fee_fen",
            "ledger_seqs",
        ])?;
        let month = self.calendar.day(self.start).format("%Y-%m").to_string();
        let zone = self.calendar.name().to_owned();
        let checkpoint = self
            .checkpoint
            .as_ref()
            .map(|(size, _)| size.to_string())
            .unwrap_or_default();
        let head = |side: &str, line: &str| {
            vec![
                organization.to_owned(),
                month.clone(),
                zone.clone(),
                checkpoint.clone(),
                side.to_owned(),
                line.to_owned(),
            ]
        };
        let figures = |f: &accounting::Figures| {
            [f.requests, f.denied, f.replays, f.bytes, f.rows, f.fee].map(|n| n.to_string())
        };
        for (side, part) in &self.sides {
            let side = match side {
                Side::Consumer => "consumer",
                Side::Provider => "provider",
            };
            for line in &part.lines {
                let seqs = line
                    .seq_ranges
                    .iter()
                    .map(|&(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut record = head(side, "item");
                record.extend([
                    line.counterparty.clone(),
                    name_of(&line.counterparty).unwrap_or_default(),
                    line.dataset.clone(),
                    name_of(&line.dataset).unwrap_or_default(),
                    line.grant.clone(),
                    line.purpose.clone(),
                ]);
                record.extend(figures(&line.figures));
                record.push(seqs);
                out.write_record(&record)?;
            }
            let mut record = head(side, "total");
            record.extend(std::iter::repeat_n(String::new(), 6));
            record.extend(figures(&part.total));
            record.push(String::new());
            out.write_record(&record)?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A checkpoint as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// When it was signed.
    pub signed_at: Timestamp,
}

/// What [`LedgerService::status`] found.
#[derive(Debug, Clone)]
pub struct LedgerStatus {
    /// Entries in the ledger.
    pub size: u64,
    /// The latest signed checkpoint (none before the first).
    pub latest: Option<SignedCheckpoint>,
    /// The one published before it.
    pub previous: Option<SignedCheckpoint>,
    /// The proof that the latest extends the previous one, as checked.
    pub consistency: Option<crate::verify::ConsistencyProof>,
    /// Everything that did not check out; empty when the ledger verifies.
    pub problems: Vec<String>,
    /// When the checks ran.
    pub checked_at: Timestamp,
}

/// A refused management call, as [`LedgerService::record_refusal`] records it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Who asked.
    pub actor_user: String,
    /// For which organisation.
    pub actor_org: String,
    /// The permission check that refused.
    pub check: String,
    /// The route asked for (its pattern, e.g. `/api/v1/grants/{id}/revoke`).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The path asked for.
    pub path: String,
}

fn decode(seq: i64, body: &str) -> Result<Entry, LedgerError> {
    Entry::decode(body.as_bytes())
        .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")).into())
}

type Scoped<'a> = ledger_entries::BoxedQuery<'a, pdx_storage::MultiBackend>;

fn scoped(scope: ReadScope, filter: &EntryFilter) -> Scoped<'static> {
    let mut query = ledger_entries::table.into_boxed();
    query = match scope {
        ReadScope::All => query,
        ReadScope::Organization(org) => {
            query.filter(ledger_entries::organization_id.eq(org.to_string()))
        }
        ReadScope::Agency(org) => query.filter(
            ledger_entries::organization_id
                .eq(org.to_string())
                .or(ledger_entries::dataset_id.eq_any(
                    datasets::table
                        .filter(datasets::organization_id.eq(org.to_string()))
                        .select(datasets::id.nullable()),
                )),
        ),
    };
    if let Some(from) = filter.from_seq {
        query = query.filter(ledger_entries::seq.ge(to_i64(from)));
    }
    if let Some(to) = filter.to_seq {
        query = query.filter(ledger_entries::seq.lt(to_i64(to)));
    }
    if let Some(since) = filter.since {
        query = query.filter(ledger_entries::recorded_at.ge(since.naive_utc()));
    }
    if let Some(until) = filter.until {
        query = query.filter(ledger_entries::recorded_at.lt(until.naive_utc()));
    }
    if let Some(dataset) = &filter.dataset {
        query = query.filter(ledger_entries::dataset_id.eq(dataset.clone()));
    }
    if let Some(org) = &filter.organization {
        query = query.filter(ledger_entries::organization_id.eq(org.clone()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(ledger_entries::kind.eq(kind.clone()));
    }
    if let Some(decision) = &filter.decision {
        query = query.filter(ledger_entries::decision.eq(decision.clone()));
    }
    if let Some(reason) = &filter.reason {
        query = query.filter(ledger_entries::reason.eq(reason.clone()));
    }
    if let Some(grant) = &filter.grant {
        query = query.filter(ledger_entries::grant_id.eq(grant.clone()));
    }
    if let Some(purpose) = &filter.purpose {
        query = query.filter(ledger_entries::purpose.eq(purpose.clone()));
    }
    if let Some(provider) = &filter.provider {
        query = query.filter(
            ledger_entries::dataset_id.eq_any(
                datasets::table
                    .filter(datasets::organization_id.eq(provider.clone()))
                    .select(datasets::id.nullable()),
            ),
        );
    }
    query
}

/// Reads the leaf hashes committed since the tree was last caught up.
fn catch_up(conn: &mut DbConnection, tree: &mut TreeCache) -> Result<(), LedgerError> {
    let size = crate::store::size(conn)?;
    while tree.size() < size {
        let from = tree.size();
        let rows: Vec<(i64, String)> = ledger_entries::table
            .filter(ledger_entries::seq.ge(to_i64(from)))
            .filter(ledger_entries::seq.lt(to_i64(size)))
            .order(ledger_entries::seq.asc())
            .select((ledger_entries::seq, ledger_entries::leaf_hash))
            .limit(50_000)
            .load(conn)?;
        if rows.is_empty() {
            return Err(StorageError::CorruptRow(format!("ledger entry {from} missing")).into());
        }
        for (seq, hex) in rows {
            if u64::try_from(seq).ok() != Some(tree.size()) {
                return Err(StorageError::CorruptRow(format!("ledger gap at {seq}")).into());
            }
            tree.push(decode_hash(&hex)?);
        }
    }
    Ok(())
}
