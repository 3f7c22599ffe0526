//! The JWT signing keys: Ed25519 keys kept in the database's vault, sealed under the master
//! key, so that every server process signs and verifies with the same keys. A new key is
//! published (in the JWKS, and verifying) at once and signs from its activation on, when
//! every process has loaded it; older keys verify until the tokens they signed expire. Keys of
//! an installation from before the vault (PKCS#8 PEM files in the data directory) are moved
//! into it once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use pdx_core::{Clock, Timestamp};
use pdx_storage::vault::{Vault, VaultError};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::AccessError;

/// How often a running server looks for keys added by `pdx keys rotate`.
const RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// How long after `pdx keys rotate` the new key starts signing: every running server has
/// loaded it by then, so no server meets a token signed by a key it does not know.
pub const ACTIVATION_DELAY: Duration = Duration::from_secs(2 * RELOAD_INTERVAL.as_secs());
/// What the vault keeps JWT keys under.
const PURPOSE: &str = "jwt";
/// Least time between reloads triggered by an unknown `kid`.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// One Ed25519 signing key.
pub struct JwtKey {
    /// The key id: its RFC 7638 JWK thumbprint.
    pub kid: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// From when it signs.
    pub active_from: Timestamp,
    /// When a newer key replaced it for signing, if one has.
    pub retired_at: Option<Timestamp>,
    /// The raw public key.
    pub public: [u8; 32],
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    fn from_signing_key(key: &SigningKey, created_at: Timestamp) -> Result<Self, AccessError> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| AccessError::Keys(format!("cannot encode a key: {e}")))?;
        let public = key.verifying_key().to_bytes();
        Ok(Self {
            kid: thumbprint(&public),
            created_at,
            active_from: created_at,
            retired_at: None,
            public,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
        })
    }

    /// The key as a public JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            key_use: "sig",
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.public),
        }
    }
}

/// A public key in JWK form (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// The key id, as in the JWT header.
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

/// The RFC 7638 thumbprint of an Ed25519 public key.
fn thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Where keys come from.
#[derive(Debug, Clone)]
enum KeySource {
    /// The database's vault, managed by PDX and shared by every server process.
    Vault(Vault),
    /// One operator-provided PEM file; rotation is the operator's.
    File(PathBuf),
}

struct Loaded {
    keys: Vec<Arc<JwtKey>>,
    loaded_at: Instant,
}

/// The set of signing keys a server signs and verifies with.
pub struct KeyRing {
    source: KeySource,
    retention: chrono::Duration,
    clock: Arc<dyn Clock>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Opens the keys kept in `vault`. When it holds none, moves in the keys of `legacy_dir`
    /// (the PEM files of an installation from before the vault), or else stores a first key.
    /// `retention` is how long a replaced key keeps verifying (the access-token lifetime).
    pub fn open_vault(
        vault: Vault,
        legacy_dir: &Path,
        retention: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AccessError> {
        if vault.keys(PURPOSE).map_err(vault_error)?.is_empty() {
            let legacy = if legacy_dir.is_dir() {
                load_dir(legacy_dir)?
            } else {
                Vec::new()
            };
            if legacy.is_empty() {
                let seed = generate_seed()?;
                let now = clock.now();
                // Several servers may start at once on a new database: one first key wins.
                match vault.add("jwt:initial", PURPOSE, &seed, now, now) {
                    Ok(()) => tracing::info!("generated the first JWT signing key"),
                    Err(VaultError::Storage(pdx_storage::StorageError::UniqueViolation {
                        ..
                    })) => {}
                    Err(other) => return Err(vault_error(other)),
                }
            } else {
                for (seed, key) in &legacy {
                    store(&vault, seed, key.created_at, key.created_at)?;
                }
                tracing::info!(
                    keys = legacy.len(),
                    dir = %legacy_dir.display(),
                    "moved the JWT signing keys into the database's vault; the files are no \
                     longer read"
                );
            }
        }
        Self::open(KeySource::Vault(vault), retention, clock)
    }

    /// Uses one operator-provided PKCS#8 PEM Ed25519 key.
    pub fn open_file(
        file: &Path,
        retention: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AccessError> {
        Self::open(KeySource::File(file.to_path_buf()), retention, clock)
    }

    fn open(
        source: KeySource,
        retention: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AccessError> {
        let retention = chrono::Duration::from_std(retention)
            .map_err(|e| AccessError::Keys(format!("retention out of range: {e}")))?;
        let keys = load(&source)?;
        Ok(Self {
            source,
            retention,
            clock,
            loaded: RwLock::new(Loaded {
                keys,
                loaded_at: Instant::now(),
            }),
        })
    }

    fn snapshot(&self) -> Vec<Arc<JwtKey>> {
        match self.loaded.read() {
            Ok(loaded) => loaded.keys.clone(),
            Err(poisoned) => poisoned.into_inner().keys.clone(),
        }
    }

    fn reload_if_older_than(&self, age: Duration) {
        let stale = match self.loaded.read() {
            Ok(loaded) => loaded.loaded_at.elapsed() >= age,
            Err(_) => true,
        };
        if stale {
            self.reload();
        }
    }

    /// Reads the keys again (other processes may have added some). While the database is
    /// known to be unreachable the loaded keys are kept without waiting for it.
    pub fn reload(&self) {
        if let KeySource::Vault(vault) = &self.source
            && !vault.reachable()
        {
            return;
        }
        match load(&self.source) {
            Ok(keys) => {
                let mut loaded = match self.loaded.write() {
                    Ok(loaded) => loaded,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *loaded = Loaded {
                    keys,
                    loaded_at: Instant::now(),
                };
            }
            Err(error) => {
                tracing::warn!(%error, "could not reload JWT keys; keeping the loaded ones")
            }
        }
    }

    /// The key new tokens are signed with: the latest active one.
    pub fn signing_key(&self) -> Result<Arc<JwtKey>, AccessError> {
        self.reload_if_older_than(RELOAD_INTERVAL);
        let now = self.clock.now();
        let keys = self.snapshot();
        keys.iter()
            .rev()
            .find(|key| key.active_from <= now)
            .or_else(|| keys.first())
            .cloned()
            .ok_or_else(|| AccessError::Keys("no signing key".into()))
    }

    /// The key with this id, if it still verifies tokens.
    pub fn verification_key(&self, kid: &str) -> Option<Arc<JwtKey>> {
        let find = |keys: Vec<Arc<JwtKey>>| keys.into_iter().find(|key| key.kid == kid);
        let key = find(self.snapshot()).or_else(|| {
            self.reload_if_older_than(MISS_RELOAD_INTERVAL);
            find(self.snapshot())
        })?;
        self.still_verifies(&key).then_some(key)
    }

    fn still_verifies(&self, key: &JwtKey) -> bool {
        key.retired_at
            .is_none_or(|retired| retired + self.retention > self.clock.now())
    }

    /// The public keys that still verify tokens, for `/.well-known/jwks.json`: a key added by
    /// `pdx keys rotate` in another process is published within [`RELOAD_INTERVAL`], before it
    /// signs, whether or not this process signs tokens meanwhile.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.reload_if_older_than(RELOAD_INTERVAL);
        self.snapshot()
            .iter()
            .filter(|key| self.still_verifies(key))
            .map(|key| key.jwk())
            .collect()
    }
}

/// Adds a new signing key to the vault, signing from `now + activation`, and removes keys that
/// no longer verify anything. Returns the new key's id and the ids removed.
pub fn rotate(
    vault: &Vault,
    retention: Duration,
    now: Timestamp,
    activation: Duration,
) -> Result<(String, Vec<String>), AccessError> {
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| AccessError::Keys(format!("retention out of range: {e}")))?;
    let activation = chrono::Duration::from_std(activation)
        .map_err(|e| AccessError::Keys(format!("activation out of range: {e}")))?;
    let seed = generate_seed()?;
    let kid = store(vault, &seed, now, now + activation)?;
    let mut removed = Vec::new();
    for (id, key) in load_vault(vault)? {
        if key
            .retired_at
            .is_some_and(|retired| retired + retention <= now)
        {
            vault.remove(&id).map_err(vault_error)?;
            removed.push(key.kid.clone());
        }
    }
    Ok((kid, removed))
}

/// Stores a key in the vault under its thumbprint; returns the thumbprint.
fn store(
    vault: &Vault,
    seed: &[u8; 32],
    created_at: Timestamp,
    active_from: Timestamp,
) -> Result<String, AccessError> {
    let kid = thumbprint(&SigningKey::from_bytes(seed).verifying_key().to_bytes());
    vault
        .add(
            &format!("jwt:{kid}"),
            PURPOSE,
            seed,
            created_at,
            active_from,
        )
        .map_err(vault_error)?;
    Ok(kid)
}

fn vault_error(error: VaultError) -> AccessError {
    AccessError::Keys(error.to_string())
}

/// The vault's keys with their ids, the earliest active first, each retired when the next
/// one activates.
fn load_vault(vault: &Vault) -> Result<Vec<(String, JwtKey)>, AccessError> {
    let mut keys = Vec::new();
    for stored in vault.keys(PURPOSE).map_err(vault_error)? {
        let seed: [u8; 32] = stored.material.as_slice().try_into().map_err(|_| {
            AccessError::Keys(format!(
                "the vault's key `{}` is not an Ed25519 seed",
                stored.id
            ))
        })?;
        let mut key = JwtKey::from_signing_key(&SigningKey::from_bytes(&seed), stored.created_at)?;
        key.active_from = stored.active_from;
        keys.push((stored.id, key));
    }
    let successors: Vec<Option<Timestamp>> = keys
        .iter()
        .skip(1)
        .map(|(_, k)| Some(k.active_from))
        .chain([None])
        .collect();
    for ((_, key), retired_at) in keys.iter_mut().zip(successors) {
        key.retired_at = retired_at;
    }
    Ok(keys)
}

fn load(source: &KeySource) -> Result<Vec<Arc<JwtKey>>, AccessError> {
    match source {
        KeySource::Vault(vault) => Ok(load_vault(vault)?
            .into_iter()
            .map(|(_, key)| Arc::new(key))
            .collect()),
        KeySource::File(file) => {
            let key = read_key(file)?;
            Ok(vec![Arc::new(JwtKey::from_signing_key(&key, Utc::now())?)])
        }
    }
}

/// The keys of a directory of `<created-unix-ms>.pem` files (before the vault), oldest first.
fn load_dir(dir: &Path) -> Result<Vec<([u8; 32], JwtKey)>, AccessError> {
    let mut keys = Vec::new();
    for (created_ms, path) in read_dir_keys(dir)?.into_iter().map(|p| (created_of(&p), p)) {
        let created_at = created_ms
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| {
                AccessError::Keys(format!("{} is not named <unix-ms>.pem", path.display()))
            })?;
        let key = read_key(&path)?;
        keys.push((key.to_bytes(), JwtKey::from_signing_key(&key, created_at)?));
    }
    Ok(keys)
}

/// The key files of a directory, oldest first.
fn read_dir_keys(dir: &Path) -> Result<Vec<PathBuf>, AccessError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| AccessError::Keys(format!("cannot read {}: {e}", dir.display())))?;
    let mut files: BTreeMap<i64, PathBuf> = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "pem")
            && let Some(created) = created_of(&path)
        {
            files.insert(created, path);
        }
    }
    Ok(files.into_values().collect())
}

fn created_of(path: &Path) -> Option<i64> {
    path.file_stem()?.to_str()?.parse().ok()
}

fn read_key(path: &Path) -> Result<SigningKey, AccessError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| AccessError::Keys(format!("cannot read {}: {e}", path.display())))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        AccessError::Keys(format!(
            "{} is not a PKCS#8 Ed25519 key: {e}",
            path.display()
        ))
    })
}

/// Writes a new random key as a PKCS#8 PEM file (for tests), unless the file exists.
#[cfg(feature = "testing")]
pub fn write_test_key(path: &Path) -> Result<(), AccessError> {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let pem = SigningKey::from_bytes(&generate_seed()?)
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| AccessError::Keys(format!("cannot encode a key: {e}")))?;
    write_private_file(path, pem.as_bytes())
}

fn generate_seed() -> Result<[u8; 32], AccessError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| AccessError::Keys(format!("no randomness: {e}")))?;
    Ok(seed)
}

/// Creates a directory readable only by its owner.
pub fn create_private_dir(dir: &Path) -> Result<(), AccessError> {
    pdx_storage::private::create_dir(dir)
        .map_err(|e| AccessError::Keys(format!("cannot create {}: {e}", dir.display())))
}

/// Writes a new file readable only by its owner; never overwrites.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), AccessError> {
    pdx_storage::private::write_file(path, contents)
        .map_err(|e| AccessError::Keys(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use pdx_core::ManualClock;
    use pdx_storage::testing::TestDatabase;
    use pdx_storage::vault::MasterKey;

    fn clock() -> ManualClock {
        match Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).single() {
            Some(start) => ManualClock::new(start),
            None => panic!("valid date"),
        }
    }

    fn vault(db: &TestDatabase) -> Vault {
        Vault::new(
            db.database().clone(),
            MasterKey::from_bytes([1; 32]),
            Vec::new(),
        )
    }

    fn open(db: &TestDatabase, legacy: &Path, clock: &ManualClock) -> KeyRing {
        match KeyRing::open_vault(
            vault(db),
            legacy,
            Duration::from_secs(900),
            Arc::new(clock.clone()),
        ) {
            Ok(ring) => ring,
            Err(error) => panic!("the key ring opens: {error}"),
        }
    }

    #[test]
    fn a_first_key_is_stored_once_and_every_process_signs_with_it() {
        let db = TestDatabase::new();
        let clock = clock();
        let first = open(&db, Path::new("/nonexistent"), &clock);
        let second = open(&db, Path::new("/nonexistent"), &clock);
        let (Ok(a), Ok(b)) = (first.signing_key(), second.signing_key()) else {
            panic!("both sign")
        };
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.kid.len(), 43, "a SHA-256 thumbprint in base64url");
        assert_eq!(first.jwks().len(), 1);
    }

    #[test]
    fn keys_from_before_the_vault_are_moved_into_it_once() {
        let db = TestDatabase::new();
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let mut kids = Vec::new();
        for (ms, seed) in [(1_000_i64, [1u8; 32]), (2_000, [2; 32])] {
            let key = SigningKey::from_bytes(&seed);
            let Ok(pem) = key.to_pkcs8_pem(LineEnding::LF) else {
                panic!()
            };
            let written = write_private_file(&dir.path().join(format!("{ms}.pem")), pem.as_bytes());
            assert!(written.is_ok());
            kids.push(thumbprint(&key.verifying_key().to_bytes()));
        }
        let clock = clock();
        let ring = open(&db, dir.path(), &clock);
        assert_eq!(
            ring.signing_key().map(|k| k.kid.clone()).ok(),
            Some(kids[1].clone())
        );
        assert!(
            ring.verification_key(&kids[0]).is_none(),
            "retired long ago"
        );
        // Files added later are not read: the vault is the keys' only home now.
        let later = SigningKey::from_bytes(&[3; 32]);
        let Ok(pem) = later.to_pkcs8_pem(LineEnding::LF) else {
            panic!()
        };
        assert!(write_private_file(&dir.path().join("3000.pem"), pem.as_bytes()).is_ok());
        let again = open(&db, dir.path(), &clock);
        assert_eq!(vault(&db).keys(PURPOSE).map(|k| k.len()).ok(), Some(2));
        assert_eq!(
            again.signing_key().map(|k| k.kid.clone()).ok(),
            Some(kids[1].clone())
        );
    }

    #[test]
    fn a_rotated_key_is_published_first_signs_after_activation_and_the_old_one_retires() {
        let db = TestDatabase::new();
        let clock = clock();
        let retention = Duration::from_secs(900);
        let ring = open(&db, Path::new("/nonexistent"), &clock);
        let other = open(&db, Path::new("/nonexistent"), &clock);
        let Ok(old) = ring.signing_key() else {
            panic!()
        };
        clock.advance(chrono::Duration::minutes(1));
        let Ok((new_kid, removed)) = rotate(&vault(&db), retention, clock.now(), ACTIVATION_DELAY)
        else {
            panic!()
        };
        assert!(removed.is_empty());
        other.reload();
        assert_eq!(other.jwks().len(), 2, "published at once");
        assert!(other.verification_key(&new_kid).is_some());
        assert_eq!(
            other.signing_key().map(|k| k.kid.clone()).ok(),
            Some(old.kid.clone()),
            "the old key signs until the new one activates"
        );
        clock.advance(chrono::Duration::from_std(ACTIVATION_DELAY).unwrap_or_default());
        assert_eq!(
            other.signing_key().map(|k| k.kid.clone()).ok(),
            Some(new_kid)
        );
        assert!(
            other.verification_key(&old.kid).is_some(),
            "old tokens still verify"
        );

        clock.advance(chrono::Duration::minutes(16));
        assert!(
            other.verification_key(&old.kid).is_none(),
            "retention has passed"
        );
        assert_eq!(other.jwks().len(), 1);
        let Ok((_, removed)) = rotate(&vault(&db), retention, clock.now(), Duration::ZERO) else {
            panic!()
        };
        assert_eq!(removed, vec![old.kid.clone()]);
    }
}
