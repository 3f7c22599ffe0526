//! `pdx copy-to-postgres`: an SQLite installation copied into a new PostgreSQL database (and,
//! when asked, its files into the bucket the new servers will share), so that a platform that
//! began on one host can scale out. The copy is one consistent snapshot of the source and one
//! PostgreSQL transaction: the new database holds all of it or none of it. Every table is
//! copied column by column as the PostgreSQL schema names them, the row tables as pdx-rows
//! loads them, and the ledger is verified on the new database before the command says it is
//! done.

use std::collections::BTreeSet;

use pdx_storage::transfer::TransferError;
use pdx_storage::{Backend, BlobStore, Database, DatabaseUrl, DbConnection};

use crate::config::Config;
use crate::error::ServerError;

/// What [`copy_to_postgres`] copied.
#[derive(Debug, Clone, Default)]
pub struct Copied {
    /// Each table and its rows, in the order they were copied (parents first).
    pub tables: Vec<(String, u64)>,
    /// The row tables and their rows.
    pub row_tables: pdx_rows::CopiedTables,
    /// Files copied into the new blob store (none when none was named).
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// Ledger entries, as verified in the new database.
    pub ledger_entries: u64,
    /// Entries the source gained while it was copied: not in the copy unless 0.
    pub written_meanwhile: u64,
}

/// Copies the installation `config` describes, which must be on SQLite, into the PostgreSQL
/// database at `target` (migrated here; it must hold no platform yet), and its files into the
/// blob store `files_to` when one is given. The source keeps serving reads meanwhile, but what
/// it writes after the copy began is not in the copy: stop it first.
pub async fn copy_to_postgres(
    config: &Config,
    target: &str,
    files_to: Option<&BlobStore>,
) -> Result<Copied, ServerError> {
    let source_url = config.database_url()?;
    if source_url.backend() != Backend::Sqlite {
        return Err(ServerError::Config(
            "this installation is already on PostgreSQL: copy-to-postgres copies an SQLite \
             installation (use pg_dump to copy a PostgreSQL database)"
                .to_owned(),
        ));
    }
    let target_url =
        DatabaseUrl::parse(target).map_err(|e| ServerError::Config(format!("--database: {e}")))?;
    if target_url.backend() != Backend::Postgres {
        return Err(ServerError::Config(
            "--database must be a postgres:// URL".to_owned(),
        ));
    }
    // A target that holds a platform is refused before any file is written for it.
    let mut target_conn = DbConnection::open(&target_url)?;
    if let Err(refused) = pdx_storage::transfer::refuse_a_platform_in(&mut target_conn) {
        return Err(ServerError::Config(refused.to_string()));
    }
    drop(target_conn);
    // The files first: copying them again is harmless, so a failure here leaves nothing to
    // undo, and the database is only written once every file it names is in place.
    let files = match files_to {
        Some(files_to) => copy_files(config, &source_url, files_to).await?,
        None => FilesCopied::default(),
    };
    let tables_dir = config.tables_dir()?;
    let (mut copied, snapshot_size) = tokio::task::spawn_blocking({
        let source_url = source_url.clone();
        let target_url = target_url.clone();
        let copied_keys = files.keys.clone();
        move || copy_database(&source_url, &target_url, &tables_dir, copied_keys.as_ref())
    })
    .await
    .map_err(|e| ServerError::Config(format!("the copy stopped: {e}")))??;
    copied.files = files.count;
    copied.file_bytes = files.bytes;

    // The ledger, verified where it now lives, under the keys copied with it.
    let mut on_target = config.clone();
    on_target.database_url = Some(target.to_owned());
    // The copy is committed by now: a failure here leaves the new database written, and it
    // must be made anew before another copy (which refuses a database holding a platform).
    let start_again = |what: String| {
        ServerError::Config(format!(
            "{what}. The copy was written to {}: do not start servers on it; drop that \
             database, create it empty again and run the copy again",
            target_url
        ))
    };
    let database = Database::connect(&target_url, on_target.pool_options())
        .map_err(|e| start_again(format!("cannot open the copied database to verify it: {e}")))?;
    let ledger = crate::app::open_ledger_as_operator(&on_target, database)
        .map_err(|e| start_again(format!("cannot open the copied ledger: {e}")))?;
    let status = ledger
        .status()
        .await
        .map_err(|e| start_again(format!("cannot verify the copied ledger: {e}")))?;
    if !status.problems.is_empty() || status.size != snapshot_size {
        return Err(start_again(format!(
            "the copied ledger does not verify ({} entries of {snapshot_size}): {}",
            status.size,
            status.problems.join("; ")
        )));
    }
    copied.ledger_entries = status.size;
    let mut source = DbConnection::open(&source_url)?;
    let now = pdx_circulation::ledger::head_facts(&mut source)
        .map(|facts| facts.size)
        .unwrap_or(snapshot_size);
    copied.written_meanwhile = now.saturating_sub(snapshot_size);
    Ok(copied)
}

/// The files [`copy_files`] copied.
#[derive(Debug, Default)]
struct FilesCopied {
    count: u64,
    bytes: u64,
    /// Their keys; `None` when the new store is the source's own and nothing needed copying.
    keys: Option<BTreeSet<String>>,
}

/// Copies every file the source's catalog names into `to`.
async fn copy_files(
    config: &Config,
    source_url: &DatabaseUrl,
    to: &BlobStore,
) -> Result<FilesCopied, ServerError> {
    let from = config
        .catalog
        .open_blob_store(&config.data_dir)
        .map_err(|e| ServerError::Config(format!("catalog.blob_store: {e}")))?;
    let files_to = to.location();
    if files_to == from.location() {
        return Ok(FilesCopied::default());
    }
    let mut conn = DbConnection::open(source_url)?;
    let files = pdx_catalog::store::stored_files(&mut conn)?;
    drop(conn);
    let mut copied = FilesCopied {
        keys: Some(BTreeSet::new()),
        ..FilesCopied::default()
    };
    for (key, sha256) in files {
        let (size, stream) = from
            .open_stream(&key, None)
            .await
            .map_err(|e| ServerError::Config(format!("cannot read the file {key}: {e}")))?;
        let stored = to.put_stream(&key, stream, u64::MAX).await.map_err(|e| {
            ServerError::Config(format!("cannot write the file {key} to {files_to}: {e}"))
        })?;
        if stored.size != size || sha256.as_ref().is_some_and(|s| *s != stored.sha256) {
            return Err(ServerError::Config(format!(
                "the file {key} did not arrive whole in {files_to}"
            )));
        }
        copied.count += 1;
        copied.bytes += size;
        copied.keys.get_or_insert_default().insert(key);
    }
    Ok(copied)
}

/// The database part, with the row tables in the same snapshot and transaction: the tables
/// and row tables copied, and the ledger's size in the snapshot. With `files_copied`, every
/// file the snapshot names must be among them: one uploaded after the files were copied
/// stops the copy.
fn copy_database(
    source_url: &DatabaseUrl,
    target_url: &DatabaseUrl,
    tables_dir: &std::path::Path,
    files_copied: Option<&BTreeSet<String>>,
) -> Result<(Copied, u64), ServerError> {
    let mut source = DbConnection::open(source_url)?;
    let pending = pdx_storage::migrations::pending(&mut source)?;
    if !pending.is_empty() {
        return Err(ServerError::Config(format!(
            "the SQLite database has migrations to apply ({}): run `pdx migrate` with this \
             version first",
            pending.join(", ")
        )));
    }
    let mut target = DbConnection::open(target_url)?;
    let copied =
        pdx_storage::transfer::copy_sqlite_into_postgres(&mut source, &mut target, |source, pg| {
            let failed = |e: &dyn std::fmt::Display| TransferError::Failed(e.to_string());
            if let Some(files_copied) = files_copied {
                let named = pdx_catalog::store::stored_files(source).map_err(|e| failed(&e))?;
                let missing: Vec<String> = named
                    .into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| !files_copied.contains(key))
                    .collect();
                if !missing.is_empty() {
                    return Err(TransferError::Refused(format!(
                        "{} file(s) were uploaded while the files were copied (the first: {}): \
                         stop the server and run the copy again; nothing was kept in PostgreSQL",
                        missing.len(),
                        missing[0]
                    )));
                }
            }
            let rows = pdx_rows::copy_tables_to_postgres(source, tables_dir, pg)
                .map_err(|e| failed(&e))?;
            let size = pdx_circulation::ledger::head_facts(source)
                .map_err(|e| failed(&e))?
                .size;
            Ok((rows, size))
        });
    match copied {
        Ok((tables, (row_tables, size))) => Ok((
            Copied {
                tables,
                row_tables,
                ..Copied::default()
            },
            size,
        )),
        Err(TransferError::Refused(reason)) => Err(ServerError::Config(reason)),
        Err(other) => Err(ServerError::Config(format!(
            "the copy failed, and nothing was kept in PostgreSQL: {other}"
        ))),
    }
}

/// The master key the new servers need: the one the copied server keys are sealed under.
pub fn master_key_hint(config: &Config) -> String {
    match (&config.keys.master_key, &config.keys.master_key_file) {
        (Some(_), _) => {
            "the same keys.master_key (PDX_KEYS__MASTER_KEY) as this installation".to_owned()
        }
        (None, Some(file)) => format!("the same master key file, {}", file.display()),
        (None, None) => format!(
            "this installation's master key, {} (copy it to each server)",
            crate::keys::default_master_key_file(config).display()
        ),
    }
}
