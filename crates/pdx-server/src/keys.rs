//! The master key of this process and the vault it opens: where the key comes from, and the
//! clear refusals when it is missing or not the one the database's keys are sealed under.

use std::path::PathBuf;

use pdx_storage::Database;
use pdx_storage::vault::{MasterKey, Vault, VaultError};

use crate::config::Config;
use crate::error::ServerError;

/// Where a master key came from, for the log and `pdx doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `keys.master_key` (usually `PDX_KEYS__MASTER_KEY`).
    Setting,
    /// A file: `keys.master_key_file` or the data directory's.
    File(PathBuf),
    /// Generated into the data directory's file just now.
    Generated(PathBuf),
}

/// The file a single-node installation keeps its master key in.
pub fn default_master_key_file(config: &Config) -> PathBuf {
    config.data_dir.join("keys").join("master.key")
}

fn vault_error(error: VaultError) -> ServerError {
    match error {
        VaultError::Storage(storage) => ServerError::Storage(storage),
        other => ServerError::Config(other.to_string()),
    }
}

/// The configured master key, if one is configured or the data directory holds one.
pub fn configured_master_key(
    config: &Config,
) -> Result<Option<(MasterKey, MasterKeySource)>, ServerError> {
    let keys = &config.keys;
    match (&keys.master_key, &keys.master_key_file) {
        (Some(_), Some(_)) => Err(ServerError::Config(
            "keys.master_key and keys.master_key_file are both set: give the master key one way"
                .to_owned(),
        )),
        (Some(text), None) => MasterKey::parse(text)
            .map(|key| Some((key, MasterKeySource::Setting)))
            .map_err(|e| ServerError::Config(format!("keys.master_key: {e}"))),
        (None, Some(file)) => MasterKey::read_file(file)
            .map(|key| Some((key, MasterKeySource::File(file.clone()))))
            .map_err(|e| ServerError::Config(format!("keys.master_key_file: {e}"))),
        (None, None) => {
            let file = default_master_key_file(config);
            if !file.exists() {
                return Ok(None);
            }
            MasterKey::read_file(&file)
                .map(|key| Some((key, MasterKeySource::File(file))))
                .map_err(vault_error)
        }
    }
}

/// Opens the vault of `database` with this process's master key, generating one into the data
/// directory when none is configured, the database holds no keys yet and is SQLite (a new
/// single-node installation; on PostgreSQL the key must be given). Refuses to start when the database's keys are sealed under a master key
/// this process was not given.
pub fn open_vault(
    config: &Config,
    database: &Database,
) -> Result<(Vault, MasterKeySource), ServerError> {
    let (master, source) = match configured_master_key(config)? {
        Some(found) => found,
        None => {
            let sealing = Vault::sealing_master_keys(database).map_err(vault_error)?;
            if !sealing.is_empty() {
                let ids: Vec<&str> = sealing.iter().map(|(id, _)| id.as_str()).collect();
                return Err(ServerError::Config(format!(
                    "the database's server keys are sealed under master key {}, and this \
                     process has none: give it that key with keys.master_key_file or \
                     PDX_KEYS__MASTER_KEY (the first server keeps it in \
                     <data_dir>/keys/master.key)",
                    ids.join(", ")
                )));
            }
            if database.backend() == pdx_storage::Backend::Postgres {
                return Err(ServerError::Config(
                    "on PostgreSQL the master key must be given (keys.master_key_file or \
                     PDX_KEYS__MASTER_KEY; create one with `openssl rand -base64 32`): every \
                     server process on the database shares the keys it seals, and a key \
                     generated into one process's data directory would be lost with it"
                        .to_owned(),
                ));
            }
            let file = default_master_key_file(config);
            let key = MasterKey::create_file(&file).map_err(vault_error)?;
            tracing::info!(
                file = %file.display(),
                master_key = key.id(),
                "generated the master key that seals the server keys kept in the database; \
                 every further server process on this database needs the same key"
            );
            (key, MasterKeySource::Generated(file))
        }
    };
    let previous = config
        .keys
        .previous_master_key_files
        .iter()
        .map(|file| {
            MasterKey::read_file(file)
                .map_err(|e| ServerError::Config(format!("keys.previous_master_key_files: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vault = Vault::new(database.clone(), master, previous);
    let check = vault.check().map_err(vault_error)?;
    if check.under_previous > 0 {
        tracing::warn!(
            keys = check.under_previous,
            "server keys are still sealed under a previous master key: run `pdx keys reseal`"
        );
    }
    tracing::info!(
        master_key = vault.master_key_id(),
        keys = check.keys,
        "server keys ready"
    );
    Ok((vault, source))
}
