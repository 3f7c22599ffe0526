//! `pdx backup` and `pdx restore`: one archive (tar, gzip) holding a consistent online copy of
//! the SQLite database and its row tables, the stored files, and — for a single-node
//! installation — the master key, with a manifest of checksums and the ledger's head. On
//! PostgreSQL the database is dumped with `pg_dump`, and the archive holds the rest.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use pdx_storage::{Backend, BlobStore, Database, DatabaseUrl, DbConnection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ServerError;
use crate::keys::MasterKeySource;

/// The archive format's version.
const FORMAT: u32 = 1;
/// The manifest's name in the archive.
const MANIFEST: &str = "manifest.json";
/// The database's name in the archive.
const DATABASE: &str = "database/pdx.sqlite3";
/// The master key's name in the archive.
const MASTER_KEY: &str = "keys/master.key";

/// What an archive holds, written as its last member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The archive format.
    pub format: u32,
    /// The PDX version that wrote it.
    pub pdx_version: String,
    /// When the copy was taken.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `sqlite` or `postgres`: on PostgreSQL the database is not in the archive.
    pub backend: String,
    /// The installation's id.
    pub instance: String,
    /// The master key the server keys are sealed under.
    pub master_key_id: String,
    /// Whether the master key is in the archive.
    pub master_key_included: bool,
    /// Ledger entries in the copy.
    pub ledger_size: u64,
    /// Entries covered by the latest signed checkpoint in the copy.
    pub checkpoint_size: u64,
    /// Every other member: its name, size and SHA-256.
    pub files: Vec<ArchivedFile>,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedFile {
    /// Its name in the archive.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    ServerError::io(context)
}

fn storage(error: pdx_storage::StorageError) -> ServerError {
    ServerError::Storage(error)
}

/// Writes a backup of the installation configured by `config` to `output` (a new file, mode
/// 0600: it may hold the master key). Runs beside a serving server. `omit_master_key` leaves
/// the master key out even when it lives in the data directory.
pub async fn backup(
    config: &Config,
    output: &Path,
    omit_master_key: bool,
) -> Result<Manifest, ServerError> {
    let (config, output) = (config.clone(), output.to_path_buf());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || write_backup(&config, &output, omit_master_key, &handle))
        .await
        .map_err(|e| ServerError::Config(format!("the backup stopped: {e}")))?
}

/// [`backup`]'s work, on a blocking thread; `handle` runs the blob store's reads.
fn write_backup(
    config: &Config,
    output: &Path,
    omit_master_key: bool,
    handle: &tokio::runtime::Handle,
) -> Result<Manifest, ServerError> {
    if output.exists() {
        return Err(ServerError::Config(format!(
            "{} exists: a backup never overwrites a file",
            output.display()
        )));
    }
    let url = config.database_url()?;
    let database = Database::connect(&url, config.pool_options())?;
    let (vault, source) = crate::keys::open_vault(config, &database)?;
    let blobs = open_blob_store(config)?;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".pdx-backup-")
        .tempdir_in(parent)
        .map_err(io(format!(
            "cannot stage the backup in {}",
            parent.display()
        )))?;

    // A consistent copy of the database first: everything else is read from it.
    let (snapshot, backend) = match &url {
        DatabaseUrl::Sqlite(_) => {
            let copy = staging.path().join("pdx.sqlite3");
            let mut conn = database.conn()?;
            vacuum_into(&mut conn, &copy)?;
            (
                DbConnection::open(&DatabaseUrl::sqlite(&copy))?,
                Backend::Sqlite,
            )
        }
        DatabaseUrl::Postgres(_) => (DbConnection::open(&url)?, Backend::Postgres),
    };
    let mut snapshot = snapshot;
    let instance = pdx_storage::instance::load(&mut snapshot)?;
    let head = pdx_circulation::ledger::head_facts(&mut snapshot)?;
    let files = pdx_catalog::store::stored_files(&mut snapshot).map_err(storage)?;
    let tables = match backend {
        Backend::Sqlite => pdx_rows::table_file_names(&mut snapshot).map_err(storage)?,
        Backend::Postgres => Vec::new(),
    };
    drop(snapshot);

    let partial = staging.path().join("archive.partial");
    let file = create_private(&partial)?;
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut manifest = Manifest {
        format: FORMAT,
        pdx_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: chrono::Utc::now(),
        backend: backend.name().to_owned(),
        instance: instance.id.to_string(),
        master_key_id: vault.master_key_id().to_owned(),
        master_key_included: false,
        ledger_size: head.size,
        checkpoint_size: head.checkpoint_size,
        files: Vec::new(),
    };
    if backend == Backend::Sqlite {
        let copy = staging.path().join("pdx.sqlite3");
        append_file(&mut archive, &mut manifest, DATABASE, &copy)?;
        let tables_dir = config.tables_dir()?;
        for name in tables {
            let table = tables_dir.join(&name);
            if !table.exists() {
                continue;
            }
            let copy = staging.path().join(&name);
            let mut conn = DbConnection::open(&DatabaseUrl::sqlite(&table))?;
            vacuum_into(&mut conn, &copy)?;
            drop(conn);
            append_file(
                &mut archive,
                &mut manifest,
                &format!("tables/{name}"),
                &copy,
            )?;
            std::fs::remove_file(&copy).map_err(io("cannot remove a staged table"))?;
        }
    }
    for (key, sha256) in files {
        let (size, stream) = handle
            .block_on(blobs.open_stream(&key, None))
            .map_err(|e| ServerError::Config(format!("blob {key}: {e}")))?;
        let member = format!("blobs/{key}");
        let mut reader = HashingReader::new(StreamReader::new(handle.clone(), stream));
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_cksum();
        archive
            .append_data(&mut header, &member, &mut reader)
            .map_err(io(format!("cannot archive {member}")))?;
        let digest = reader.finish();
        if sha256.as_ref().is_some_and(|expected| *expected != digest) {
            return Err(ServerError::Config(format!(
                "blob {key} does not match its recorded SHA-256: the store holds altered bytes"
            )));
        }
        manifest.files.push(ArchivedFile {
            path: member,
            size,
            sha256: digest,
        });
    }
    if let MasterKeySource::File(path) | MasterKeySource::Generated(path) = &source
        && *path == crate::keys::default_master_key_file(config)
        && !omit_master_key
    {
        append_file(&mut archive, &mut manifest, MASTER_KEY, path)?;
        manifest.master_key_included = true;
    }
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ServerError::Config(format!("cannot write the manifest: {e}")))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    archive
        .append_data(&mut header, MANIFEST, json.as_slice())
        .map_err(io("cannot write the manifest"))?;
    let file = archive
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .map_err(io("cannot finish the archive"))?;
    file.sync_all().map_err(io("cannot sync the archive"))?;
    drop(file);
    // Only a complete archive gets the name asked for.
    std::fs::hard_link(&partial, output)
        .map_err(io(format!("cannot write {}", output.display())))?;
    Ok(manifest)
}

fn open_blob_store(config: &Config) -> Result<BlobStore, ServerError> {
    config
        .catalog
        .open_blob_store(&config.data_dir)
        .map_err(|e| ServerError::Config(format!("catalog.blob_store: {e}")))
}

/// A consistent copy of an SQLite database, taken while others read and write it.
fn vacuum_into(conn: &mut DbConnection, copy: &Path) -> Result<(), ServerError> {
    Ok(pdx_storage::database::copy_sqlite(conn, copy)?)
}

fn create_private(path: &Path) -> Result<std::fs::File, ServerError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("cannot create {}", path.display())))
}

fn append_file<W: Write>(
    archive: &mut tar::Builder<W>,
    manifest: &mut Manifest,
    member: &str,
    path: &Path,
) -> Result<(), ServerError> {
    let file = std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let size = file
        .metadata()
        .map_err(io(format!("cannot read {}", path.display())))?
        .len();
    let mut reader = HashingReader::new(file);
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    archive
        .append_data(&mut header, member, &mut reader)
        .map_err(io(format!("cannot archive {member}")))?;
    manifest.files.push(ArchivedFile {
        path: member.to_owned(),
        size,
        sha256: reader.finish(),
    });
    Ok(())
}

/// Reads through, hashing what is read.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
        }
    }

    fn finish(self) -> String {
        hex::encode(self.hash.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hash.update(&buf[..read]);
        Ok(read)
    }
}

/// A blob's byte stream read from blocking code.
struct StreamReader {
    handle: tokio::runtime::Handle,
    stream: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, pdx_storage::BlobError>>,
    chunk: bytes::Bytes,
}

impl StreamReader {
    fn new(
        handle: tokio::runtime::Handle,
        stream: futures_util::stream::BoxStream<
            'static,
            Result<bytes::Bytes, pdx_storage::BlobError>,
        >,
    ) -> Self {
        Self {
            handle,
            stream,
            chunk: bytes::Bytes::new(),
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(error)) => return Err(std::io::Error::other(error.to_string())),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Stored files put into the blob store.
    pub blobs: usize,
    /// Row tables put beside the database.
    pub tables: usize,
    /// The ledger's verification after the restore.
    pub ledger: pdx_circulation::ledger::LedgerStatus,
}

/// Restores `input` into the installation configured by `config`, which must be new: no
/// database file, no master key other than the archive's. Every member is checked against
/// the manifest before anything is put in place; afterwards the ledger is verified.
pub async fn restore(config: &Config, input: &Path) -> Result<Restored, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(io(format!(
        "cannot create the data directory {}",
        config.data_dir.display()
    )))?;
    let staging = tempfile::Builder::new()
        .prefix(".pdx-restore-")
        .tempdir_in(&config.data_dir)
        .map_err(io("cannot stage the restore in the data directory"))?;
    let manifest = {
        let (input, dir) = (input.to_path_buf(), staging.path().to_path_buf());
        tokio::task::spawn_blocking(move || unpack(&input, &dir))
            .await
            .map_err(|e| ServerError::Config(format!("the restore stopped: {e}")))??
    };
    if manifest.format != FORMAT {
        return Err(ServerError::Config(format!(
            "the archive's format {} is not the format {FORMAT} this PDX reads",
            manifest.format
        )));
    }
    let url = config.database_url()?;
    let staged = |member: &str| staging.path().join(member);
    match (&url, manifest.backend.as_str()) {
        (DatabaseUrl::Sqlite(path), "sqlite") => {
            if path.exists() {
                return Err(ServerError::Config(format!(
                    "{} exists: restore into a new installation (a data directory and database \
                     of its own)",
                    path.display()
                )));
            }
        }
        (DatabaseUrl::Postgres(_), "postgres") => {}
        (_, archived) => {
            return Err(ServerError::Config(format!(
                "the archive holds a {archived} installation, and this configuration's database \
                 is {}: restore into the same kind of database",
                url.backend().name()
            )));
        }
    }
    // The master key: the archive's, unless this configuration gives the same one.
    match crate::keys::configured_master_key(config)? {
        Some((key, _)) if key.id() != manifest.master_key_id => {
            return Err(ServerError::Config(format!(
                "the archive's keys are sealed under master key {}, and this configuration gives \
                 master key {}",
                manifest.master_key_id,
                key.id()
            )));
        }
        Some(_) => {}
        None if manifest.master_key_included => {
            let target = crate::keys::default_master_key_file(config);
            pdx_storage::private::create_dir(target.parent().unwrap_or(&config.data_dir))
                .map_err(io("cannot create the keys directory"))?;
            std::fs::copy(staged(MASTER_KEY), &target)
                .map_err(io(format!("cannot write {}", target.display())))?;
        }
        None => {
            return Err(ServerError::Config(format!(
                "the archive does not hold its master key ({}): give it with \
                 keys.master_key_file or PDX_KEYS__MASTER_KEY",
                manifest.master_key_id
            )));
        }
    }
    if let DatabaseUrl::Sqlite(path) = &url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        }
        std::fs::copy(staged(DATABASE), path)
            .map_err(io(format!("cannot write {}", path.display())))?;
    }
    let mut tables = 0;
    let tables_dir = config.tables_dir()?;
    for file in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("tables/"))
    {
        std::fs::create_dir_all(&tables_dir)
            .map_err(io(format!("cannot create {}", tables_dir.display())))?;
        let name = file.path.trim_start_matches("tables/");
        std::fs::copy(staged(&file.path), tables_dir.join(name))
            .map_err(io(format!("cannot write the row table {name}")))?;
        tables += 1;
    }
    let blobs = open_blob_store(config)?;
    let mut restored_blobs = 0;
    for file in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("blobs/"))
    {
        let key = file.path.trim_start_matches("blobs/");
        let body = file_stream(staged(&file.path)).await?;
        blobs
            .put_stream(key, body, u64::MAX)
            .await
            .map_err(|e| ServerError::Config(format!("cannot store {key}: {e}")))?;
        restored_blobs += 1;
    }
    let database = crate::app::prepare_database(&url, config.pool_options())?;
    let ledger = crate::app::open_ledger_as_operator(config, database)?;
    let status = ledger
        .status()
        .await
        .map_err(|e| ServerError::Config(format!("the restored ledger: {e}")))?;
    Ok(Restored {
        manifest,
        blobs: restored_blobs,
        tables,
        ledger: status,
    })
}

/// A staged file as a stream of chunks.
async fn file_stream(
    path: PathBuf,
) -> Result<
    futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
    ServerError,
> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(io(format!("cannot read {}", path.display())))?;
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    Ok(stream.boxed())
}

/// Unpacks the archive into `dir`, checking every member against the manifest; returns the
/// manifest.
fn unpack(input: &Path, dir: &Path) -> Result<Manifest, ServerError> {
    let file =
        std::fs::File::open(input).map_err(io(format!("cannot read {}", input.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut seen: Vec<ArchivedFile> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let entries = archive
        .entries()
        .map_err(io(format!("{} is not a PDX backup", input.display())))?;
    for entry in entries {
        let mut entry = entry.map_err(io(format!("{} is damaged", input.display())))?;
        let name = entry
            .path()
            .map_err(io("a member's name is unreadable"))?
            .to_string_lossy()
            .into_owned();
        if name == MANIFEST {
            let mut json = Vec::new();
            entry
                .read_to_end(&mut json)
                .map_err(io("cannot read the manifest"))?;
            manifest = Some(serde_json::from_slice(&json).map_err(|e| {
                ServerError::Config(format!("the archive's manifest is unreadable: {e}"))
            })?);
            continue;
        }
        let safe = !name.starts_with('/')
            && Path::new(&name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(ServerError::Config(format!(
                "the archive names {name:?}, outside the restore"
            )));
        }
        let target = dir.join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        let mut out = create_private(&target)?;
        let mut reader = HashingReader::new(&mut entry);
        let size =
            std::io::copy(&mut reader, &mut out).map_err(io(format!("cannot unpack {name}")))?;
        seen.push(ArchivedFile {
            path: name,
            size,
            sha256: reader.finish(),
        });
    }
    let manifest = manifest.ok_or_else(|| {
        ServerError::Config(format!(
            "{} has no manifest: it is not a complete PDX backup",
            input.display()
        ))
    })?;
    let mut expected = manifest.files.clone();
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    seen.sort_by(|a, b| a.path.cmp(&b.path));
    if expected != seen {
        let differing = expected
            .iter()
            .filter(|f| !seen.contains(f))
            .chain(seen.iter().filter(|f| !expected.contains(f)))
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ServerError::Config(format!(
            "the archive's members do not match its manifest ({differing}): it was altered or \
             damaged; nothing was restored"
        )));
    }
    Ok(manifest)
}

/// Where the export in `store` ended: the size of its latest checkpoint, 0 when it holds
/// none. That checkpoint must be the one this ledger signed at that size, with the segment
/// ending there beside it; otherwise the destination is another ledger's archive, or a
/// damaged one, and nothing is written.
async fn resume_after(
    store: &BlobStore,
    destination: &str,
    ledger: &pdx_circulation::LedgerService,
) -> Result<u64, ServerError> {
    let keys = store
        .keys()
        .await
        .map_err(|e| ServerError::Config(format!("cannot list {destination}: {e}")))?;
    let Some(size) = keys
        .iter()
        .filter_map(|key| {
            key.strip_prefix("checkpoint-")?
                .strip_suffix(".txt")?
                .parse::<u64>()
                .ok()
        })
        .max()
    else {
        return Ok(0);
    };
    let name = format!("checkpoint-{size}.txt");
    let found = store
        .read(&name)
        .await
        .map_err(|e| ServerError::Config(format!("cannot read {name} in {destination}: {e}")))?;
    let ours = match ledger.checkpoint(Some(size)).await {
        Ok((_, note)) => note,
        Err(pdx_circulation::LedgerError::CheckpointNotFound) => {
            return Err(ServerError::Config(format!(
                "{destination} holds {name}, but this ledger has signed no checkpoint at \
                 {size} entries: it is another ledger's archive; choose another destination, \
                 or give --from to export into this one anyway"
            )));
        }
        Err(e) => {
            return Err(ServerError::Config(format!(
                "cannot read this ledger's checkpoint at {size} entries: {e}"
            )));
        }
    };
    if ours.as_bytes() != &found[..] {
        return Err(ServerError::Config(format!(
            "{destination} holds {name}, which is not the checkpoint this ledger signed at \
             {size} entries: it is another ledger's archive or was altered; give --from to \
             export anyway, or choose another destination"
        )));
    }
    let segment_ends_there = keys.iter().any(|key| {
        key.strip_prefix("ledger-")
            .and_then(|rest| rest.strip_suffix(".ndjson"))
            .and_then(|range| range.rsplit('-').next())
            .is_some_and(|end| end == size.to_string())
    });
    if !segment_ends_there {
        return Err(ServerError::Config(format!(
            "{destination} holds {name} but no ledger-…-{size}.ndjson: the archive misses the \
             entries that checkpoint signs; give --from to export from where it is whole"
        )));
    }
    Ok(size)
}

/// A store an operator command writes to: a directory (`file://` or a bare path) or an
/// `s3://bucket/prefix`, with the S3 settings of `[catalog.s3]` beside the `AWS_*` environment.
pub fn open_destination(config: &Config, destination: &str) -> Result<BlobStore, ServerError> {
    if destination.starts_with("s3://") {
        BlobStore::open_with(destination, &config.catalog.s3_options())
    } else {
        BlobStore::local(Path::new(
            destination.strip_prefix("file://").unwrap_or(destination),
        ))
    }
    .map_err(|e| ServerError::Config(format!("{destination}: {e}")))
}

/// What `pdx ledger export` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerExport {
    /// The first entry exported: 0 for the whole ledger, else where an earlier export ended.
    pub from: u64,
    /// Entries exported: `[from, size)`, the size of the checkpoint beside them.
    pub size: u64,
    /// The objects written, by name: the entries, the checkpoint and the verifier key; none
    /// when nothing was signed since `from`.
    pub written: Vec<String>,
}

/// Exports the ledger for archiving: entries `[from, to)` as NDJSON, the signed checkpoint of
/// size `to` and the verifier key, to a directory or an `s3://bucket/prefix` — what `pdx
/// ledger verify` checks offline, given every segment in order. `to` is the latest
/// checkpoint's size unless given. `from` is where the destination's latest export ended
/// unless given (0 for a destination with none), once that export is checked to be of this
/// very ledger: a scheduled run keeps no state of its own, and never mixes two ledgers in one
/// archive.
pub async fn export_ledger(
    config: &Config,
    destination: &str,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<LedgerExport, ServerError> {
    let url = config.database_url()?;
    let database = Database::connect(&url, config.pool_options())?;
    let ledger = crate::app::open_ledger_as_operator(config, database)?;
    let ledger_error =
        |e: pdx_circulation::ledger::LedgerError| ServerError::Config(format!("the ledger: {e}"));
    let (size, note) = ledger.checkpoint(to).await.map_err(ledger_error)?;
    let store = open_destination(config, destination)?;
    let from = match from {
        Some(from) => from,
        None => resume_after(&store, destination, &ledger).await?,
    };
    if from > size {
        return Err(ServerError::Config(format!(
            "--from {from} is past the checkpoint to export ({size} entries)"
        )));
    }
    if from == size && from > 0 {
        return Ok(LedgerExport {
            from,
            size,
            written: Vec::new(),
        });
    }
    let names = [
        if from == 0 {
            format!("ledger-{size}.ndjson")
        } else {
            format!("ledger-{from}-{size}.ndjson")
        },
        format!("checkpoint-{size}.txt"),
        "verifier-key.txt".to_owned(),
    ];
    let verifier_key = format!("{}\n", ledger.verifier_key());
    let pages = ledger.export_ndjson_from(from, size);
    store
        .put_stream(&names[0], Box::pin(pages), u64::MAX)
        .await
        .map_err(|e| ServerError::Config(format!("cannot write {}: {e}", names[0])))?;
    for (name, text) in [(&names[1], note), (&names[2], verifier_key)] {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(text))]);
        store
            .put_stream(name, body, u64::MAX)
            .await
            .map_err(|e| ServerError::Config(format!("cannot write {name}: {e}")))?;
    }
    Ok(LedgerExport {
        from,
        size,
        written: names.to_vec(),
    })
}
