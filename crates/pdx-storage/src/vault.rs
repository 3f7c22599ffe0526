//! Server keys that every server process shares through the database, so that replicas need
//! no shared disk: each key is sealed (XChaCha20-Poly1305) under a master key that every
//! process is given (a file or an environment variable) and the database never holds. A
//! database leak alone gives away no key; a process with another master key refuses to start.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::Timestamp;
use sha2::{Digest, Sha256};

use crate::database::Database;
use crate::error::StorageError;
use crate::schema::server_keys;
use crate::seal::{SealError, SealingKey};

/// Bytes of a master key.
pub const MASTER_KEY_BYTES: usize = 32;

/// What can go wrong with the master key or the keys sealed under it.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key given is not usable.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A stored key was sealed under a master key this process was not given.
    #[error(
        "the server key `{id}` is sealed under master key {sealed_under}, but this process has \
         master key {have}: give every server process the same master key \
         (keys.master_key_file or PDX_KEYS__MASTER_KEY)"
    )]
    WrongMasterKey {
        /// The stored key.
        id: String,
        /// The id of the master key it was sealed under.
        sealed_under: String,
        /// The ids of the master keys this process has.
        have: String,
    },
    /// A stored key does not open under the master key whose id it names: it was altered.
    #[error("the server key `{0}` does not open under its master key: it was altered")]
    Corrupt(String),
    /// No randomness was available.
    #[error("no randomness: {0}")]
    Random(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for VaultError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// The key that seals the server keys. Its id (a hash of it, safe to show) is stored beside
/// every key it seals, so a wrong master key is named as such.
#[derive(Clone)]
pub struct MasterKey {
    sealing: SealingKey,
    key: [u8; MASTER_KEY_BYTES],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A master key from its bytes.
    pub fn from_bytes(key: [u8; MASTER_KEY_BYTES]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"pdx master key id\0");
        hash.update(key);
        let id = hex::encode(&hash.finalize()[..8]);
        Self {
            sealing: SealingKey::new(key),
            key,
            id,
        }
    }

    /// A new random master key.
    pub fn generate() -> Result<Self, VaultError> {
        let mut key = [0u8; MASTER_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| VaultError::Random(e.to_string()))?;
        Ok(Self::from_bytes(key))
    }

    /// Reads a master key written as base64 (as `openssl rand -base64 32` prints it);
    /// surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            VaultError::MasterKey(
                "not base64; create one with `openssl rand -base64 32`".to_owned(),
            )
        })?;
        let key: [u8; MASTER_KEY_BYTES] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            VaultError::MasterKey(format!(
                "{} bytes where {MASTER_KEY_BYTES} are needed; create one with \
                 `openssl rand -base64 32`",
                bytes.len()
            ))
        })?;
        Ok(Self::from_bytes(key))
    }

    /// Reads a master key from a file holding it in base64.
    pub fn read_file(path: &std::path::Path) -> Result<Self, VaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VaultError::MasterKey(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|e| VaultError::MasterKey(format!("{}: {e}", path.display(), e = inner(&e))))
    }

    /// Generates a master key into a new file readable only by its owner (never overwriting).
    pub fn create_file(path: &std::path::Path) -> Result<Self, VaultError> {
        let key = Self::generate()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir(dir).map_err(|e| {
                VaultError::MasterKey(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        crate::private::write_file(path, format!("{}\n", key.encoded()).as_bytes())
            .map_err(|e| VaultError::MasterKey(format!("cannot write {}: {e}", path.display())))?;
        Ok(key)
    }

    /// The key in base64, as files and the environment hold it.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// The key's id: a hash of it, safe to show and to store.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, id: &str, purpose: &str, material: &[u8]) -> Result<String, VaultError> {
        self.sealing
            .seal(&associated_data(id, purpose), material)
            .map_err(|e| match e {
                SealError::Random(cause) => VaultError::Random(cause),
                SealError::Open => VaultError::Corrupt(id.to_owned()),
            })
    }

    fn open(&self, id: &str, purpose: &str, sealed: &str) -> Result<Vec<u8>, VaultError> {
        self.sealing
            .open(&associated_data(id, purpose), sealed)
            .map_err(|_| VaultError::Corrupt(id.to_owned()))
    }
}

fn inner(error: &VaultError) -> String {
    match error {
        VaultError::MasterKey(message) => message.clone(),
        other => other.to_string(),
    }
}

/// A sealed key is bound to its row: moved to another id or purpose it no longer opens.
fn associated_data(id: &str, purpose: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(id.len() + purpose.len() + 1);
    aad.extend_from_slice(id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

/// A server key, opened.
#[derive(Clone)]
pub struct ServerKey {
    /// Its id, unique across purposes.
    pub id: String,
    /// What it is for, e.g. `jwt` or `ledger`.
    pub purpose: String,
    /// When it was stored.
    pub created_at: Timestamp,
    /// From when it signs (for keys that take turns).
    pub active_from: Timestamp,
    /// The key itself.
    pub material: Vec<u8>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
            .finish_non_exhaustive()
    }
}

/// A row of `server_keys`, its fields in the table's column order.
#[derive(Queryable, Insertable)]
#[diesel(table_name = server_keys)]
struct KeyRow {
    id: String,
    purpose: String,
    created_at: NaiveDateTime,
    active_from: NaiveDateTime,
    master_key_id: String,
    sealed: String,
}

/// What [`Vault::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultCheck {
    /// Keys stored.
    pub keys: usize,
    /// Of them, keys sealed under a previous master key (to be resealed).
    pub under_previous: usize,
}

/// The server keys of the installation, opened with this process's master keys.
#[derive(Clone)]
pub struct Vault {
    database: Database,
    /// The first seals; the others (previous master keys, during a change) only open.
    masters: Arc<[MasterKey]>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master_key", &self.masters[0].id)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// The vault of `database`, sealing under `current` and also opening keys sealed under
    /// `previous` ones (while the master key is being changed).
    pub fn new(database: Database, current: MasterKey, previous: Vec<MasterKey>) -> Self {
        let masters: Vec<MasterKey> = std::iter::once(current).chain(previous).collect();
        Self {
            database,
            masters: masters.into(),
        }
    }

    /// Whether the database may be asked now (it is not known to be unreachable).
    pub fn reachable(&self) -> bool {
        self.database.breaker().open_cause().is_none()
    }

    /// The id of the master key new keys are sealed under.
    pub fn master_key_id(&self) -> &str {
        &self.masters[0].id
    }

    /// The ids of the master keys the stored keys are sealed under, and how many each seals.
    pub fn sealing_master_keys(database: &Database) -> Result<Vec<(String, i64)>, VaultError> {
        let mut conn = database.conn()?;
        Ok(server_keys::table
            .group_by(server_keys::master_key_id)
            .select((server_keys::master_key_id, diesel::dsl::count_star()))
            .order(server_keys::master_key_id)
            .load(&mut conn)?)
    }

    fn master(&self, id: &str, row_id: &str) -> Result<&MasterKey, VaultError> {
        self.masters
            .iter()
            .find(|master| master.id == id)
            .ok_or_else(|| VaultError::WrongMasterKey {
                id: row_id.to_owned(),
                sealed_under: id.to_owned(),
                have: self
                    .masters
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn open_row(&self, row: KeyRow) -> Result<ServerKey, VaultError> {
        let material =
            self.master(&row.master_key_id, &row.id)?
                .open(&row.id, &row.purpose, &row.sealed)?;
        Ok(ServerKey {
            id: row.id,
            purpose: row.purpose,
            created_at: row.created_at.and_utc(),
            active_from: row.active_from.and_utc(),
            material,
        })
    }

    fn rows(&self, purpose: Option<&str>) -> Result<Vec<KeyRow>, VaultError> {
        let mut conn = self.database.conn()?;
        let mut query = server_keys::table
            .select(server_keys::all_columns)
            .order((server_keys::active_from, server_keys::id))
            .into_boxed();
        if let Some(purpose) = purpose {
            query = query.filter(server_keys::purpose.eq(purpose.to_owned()));
        }
        Ok(query.load(&mut conn)?)
    }

    /// Opens every stored key: fails with the first that this process cannot open.
    pub fn check(&self) -> Result<VaultCheck, VaultError> {
        let rows = self.rows(None)?;
        let keys = rows.len();
        let mut under_previous = 0;
        for row in rows {
            if row.master_key_id != self.masters[0].id {
                under_previous += 1;
            }
            self.open_row(row)?;
        }
        Ok(VaultCheck {
            keys,
            under_previous,
        })
    }

    /// Every key of `purpose`, the earliest active first.
    pub fn keys(&self, purpose: &str) -> Result<Vec<ServerKey>, VaultError> {
        self.rows(Some(purpose))?
            .into_iter()
            .map(|row| self.open_row(row))
            .collect()
    }

    /// Stores a new key of `purpose` under `id`. Fails with a unique violation when `id` is
    /// taken.
    pub fn add(
        &self,
        id: &str,
        purpose: &str,
        material: &[u8],
        created_at: Timestamp,
        active_from: Timestamp,
    ) -> Result<(), VaultError> {
        let master = &self.masters[0];
        let row = KeyRow {
            id: id.to_owned(),
            purpose: purpose.to_owned(),
            created_at: created_at.naive_utc(),
            active_from: active_from.naive_utc(),
            master_key_id: master.id.clone(),
            sealed: master.seal(id, purpose, material)?,
        };
        let mut conn = self.database.conn()?;
        diesel::insert_into(server_keys::table)
            .values(&row)
            .execute(&mut conn)?;
        Ok(())
    }

    /// The one key of `purpose` (stored under the id `purpose`), stored from `init` first if
    /// there is none. Safe when several processes start at once: whoever loses the insert
    /// reads the winner's key.
    pub fn singleton<E>(
        &self,
        purpose: &str,
        now: Timestamp,
        init: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E>
    where
        E: From<VaultError>,
    {
        if let Some(key) = self.keys(purpose)?.into_iter().find(|k| k.id == purpose) {
            return Ok(key.material);
        }
        let material = init()?;
        match self.add(purpose, purpose, &material, now, now) {
            Ok(()) => Ok(material),
            Err(VaultError::Storage(StorageError::UniqueViolation { .. })) => self
                .keys(purpose)?
                .into_iter()
                .find(|k| k.id == purpose)
                .map(|k| k.material)
                .ok_or_else(|| VaultError::Storage(StorageError::NotFound).into()),
            Err(other) => Err(other.into()),
        }
    }

    /// Removes a key; whether it was there.
    pub fn remove(&self, id: &str) -> Result<bool, VaultError> {
        let mut conn = self.database.conn()?;
        let removed =
            diesel::delete(server_keys::table.filter(server_keys::id.eq(id))).execute(&mut conn)?;
        Ok(removed > 0)
    }

    /// Seals every key not yet under the current master key anew under it, in one
    /// transaction; returns how many were resealed.
    pub fn reseal(&self) -> Result<usize, VaultError> {
        let mut conn = self.database.conn()?;
        crate::database::transaction(&mut conn, |conn| {
            let rows: Vec<KeyRow> = server_keys::table
                .filter(server_keys::master_key_id.ne(self.masters[0].id.clone()))
                .select(server_keys::all_columns)
                .load(conn)?;
            let count = rows.len();
            for row in rows {
                let id = row.id.clone();
                let purpose = row.purpose.clone();
                let key = self.open_row(row)?;
                let sealed = self.masters[0].seal(&id, &purpose, &key.material)?;
                diesel::update(server_keys::table.filter(server_keys::id.eq(&id)))
                    .set((
                        server_keys::master_key_id.eq(self.masters[0].id.clone()),
                        server_keys::sealed.eq(sealed),
                    ))
                    .execute(conn)?;
            }
            Ok(count)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_key_reads_from_base64_and_names_itself_without_showing_itself() {
        let key = MasterKey::from_bytes([7; 32]);
        let Ok(read) = MasterKey::parse(&format!("  {}\n", key.encoded())) else {
            panic!("the encoded key reads back")
        };
        assert_eq!(read.id(), key.id());
        assert_eq!(key.id().len(), 16);
        assert!(!format!("{key:?}").contains(&key.encoded()));
        assert_ne!(MasterKey::from_bytes([8; 32]).id(), key.id());
        for bad in ["", "not base64!", "c2hvcnQ="] {
            let Err(VaultError::MasterKey(message)) = MasterKey::parse(bad) else {
                panic!("{bad:?} is refused")
            };
            assert!(message.contains("openssl rand -base64 32"), "{message}");
        }
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_master_key_id_and_purpose() {
        let master = MasterKey::from_bytes([1; 32]);
        let Ok(sealed) = master.seal("jwt:a", "jwt", b"secret material") else {
            panic!("seals")
        };
        assert!(!sealed.contains("secret"));
        assert_eq!(
            master.open("jwt:a", "jwt", &sealed).ok().as_deref(),
            Some(&b"secret material"[..])
        );
        assert!(master.open("jwt:b", "jwt", &sealed).is_err(), "moved row");
        assert!(
            master.open("jwt:a", "ledger", &sealed).is_err(),
            "other use"
        );
        assert!(
            MasterKey::from_bytes([2; 32])
                .open("jwt:a", "jwt", &sealed)
                .is_err()
        );
    }
}
