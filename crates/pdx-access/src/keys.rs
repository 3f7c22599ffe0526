//! The JWT signing keys: Ed25519 keys kept as PKCS#8 PEM files (mode 0600) in the data
//! directory, the newest signing, older ones verifying until the tokens they signed expire.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{DecodingKey, EncodingKey};
use pdx_core::{Clock, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::AccessError;

/// How often a running server looks for keys added by `pdx keys rotate`.
const RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// Least time between reloads triggered by an unknown `kid`.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// One Ed25519 signing key.
pub struct JwtKey {
    /// The key id: its RFC 7638 JWK thumbprint.
    pub kid: String,
    /// When it was created.
    pub created_at: Timestamp,
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
    /// A directory of `<created-unix-ms>.pem` files, managed by PDX.
    Directory(PathBuf),
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
    /// Opens the key directory, creating it and a first key if there is none.
    /// `retention` is how long a replaced key keeps verifying (the access-token lifetime).
    pub fn open_dir(
        dir: &Path,
        retention: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AccessError> {
        create_private_dir(dir)?;
        if read_dir_keys(dir)?.is_empty() {
            write_new_key(dir, clock.now())?;
            tracing::info!(dir = %dir.display(), "generated the first JWT signing key");
        }
        Self::open(KeySource::Directory(dir.to_path_buf()), retention, clock)
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
        if !stale {
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

    /// The key new tokens are signed with: the newest.
    pub fn signing_key(&self) -> Result<Arc<JwtKey>, AccessError> {
        self.reload_if_older_than(RELOAD_INTERVAL);
        self.snapshot()
            .last()
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

    /// The public keys that still verify tokens, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.snapshot()
            .iter()
            .filter(|key| self.still_verifies(key))
            .map(|key| key.jwk())
            .collect()
    }
}

/// Adds a new signing key to the directory and removes keys that no longer verify anything.
/// Returns the new key's id and the ids removed.
pub fn rotate(
    dir: &Path,
    retention: Duration,
    now: Timestamp,
) -> Result<(String, Vec<String>), AccessError> {
    create_private_dir(dir)?;
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| AccessError::Keys(format!("retention out of range: {e}")))?;
    let new_key = write_new_key(dir, now)?;
    let mut removed = Vec::new();
    for (path, key) in read_dir_keys(dir)?.into_iter().zip(load_dir(dir)?) {
        if key
            .retired_at
            .is_some_and(|retired| retired + retention <= now)
        {
            std::fs::remove_file(&path)
                .map_err(|e| AccessError::Keys(format!("cannot remove {}: {e}", path.display())))?;
            removed.push(key.kid.clone());
        }
    }
    Ok((new_key, removed))
}

fn load(source: &KeySource) -> Result<Vec<Arc<JwtKey>>, AccessError> {
    match source {
        KeySource::Directory(dir) => load_dir(dir),
        KeySource::File(file) => {
            let key = read_key(file)?;
            Ok(vec![Arc::new(JwtKey::from_signing_key(&key, Utc::now())?)])
        }
    }
}

fn load_dir(dir: &Path) -> Result<Vec<Arc<JwtKey>>, AccessError> {
    let mut keys = Vec::new();
    for (created_ms, path) in read_dir_keys(dir)?.into_iter().map(|p| (created_of(&p), p)) {
        let created_at = created_ms
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| {
                AccessError::Keys(format!("{} is not named <unix-ms>.pem", path.display()))
            })?;
        keys.push(JwtKey::from_signing_key(&read_key(&path)?, created_at)?);
    }
    let successors: Vec<Option<Timestamp>> = keys
        .iter()
        .skip(1)
        .map(|k| Some(k.created_at))
        .chain([None])
        .collect();
    Ok(keys
        .into_iter()
        .zip(successors)
        .map(|(mut key, retired_at)| {
            key.retired_at = retired_at;
            Arc::new(key)
        })
        .collect())
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

fn write_new_key(dir: &Path, now: Timestamp) -> Result<String, AccessError> {
    let key = generate_signing_key()?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| AccessError::Keys(format!("cannot encode a key: {e}")))?;
    let mut created = now.timestamp_millis();
    // Two rotations within one millisecond still get distinct, ordered files.
    while dir.join(format!("{created}.pem")).exists() {
        created += 1;
    }
    write_private_file(&dir.join(format!("{created}.pem")), pem.as_bytes())?;
    Ok(thumbprint(&key.verifying_key().to_bytes()))
}

fn generate_signing_key() -> Result<SigningKey, AccessError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| AccessError::Keys(format!("no randomness: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
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
    use pdx_core::ManualClock;
    use std::os::unix::fs::PermissionsExt;

    fn clock() -> ManualClock {
        match Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).single() {
            Some(start) => ManualClock::new(start),
            None => panic!("valid date"),
        }
    }

    #[test]
    fn first_key_is_generated_with_owner_only_permissions() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let keys_dir = dir.path().join("keys/jwt");
        let ring = KeyRing::open_dir(&keys_dir, Duration::from_secs(900), Arc::new(clock()));
        let Ok(ring) = ring else { panic!("{ring:?}") };
        let files = read_dir_keys(&keys_dir).unwrap_or_default();
        assert_eq!(files.len(), 1);
        let mode = std::fs::metadata(&files[0]).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        assert_eq!(ring.jwks().len(), 1);
        let Ok(signing) = ring.signing_key() else {
            panic!()
        };
        assert_eq!(signing.kid.len(), 43, "a SHA-256 thumbprint in base64url");
    }

    #[test]
    fn rotated_out_key_verifies_until_retention_passes_then_is_pruned() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let clock = clock();
        let retention = Duration::from_secs(900);
        let Ok(ring) = KeyRing::open_dir(dir.path(), retention, Arc::new(clock.clone())) else {
            panic!()
        };
        let Ok(old) = ring.signing_key() else {
            panic!()
        };
        clock.advance(chrono::Duration::minutes(1));
        let Ok((new_kid, removed)) = rotate(dir.path(), retention, clock.now()) else {
            panic!()
        };
        assert!(removed.is_empty());
        ring.reload_if_older_than(Duration::ZERO);
        assert_eq!(
            ring.signing_key().map(|k| k.kid.clone()).ok(),
            Some(new_kid)
        );
        assert!(
            ring.verification_key(&old.kid).is_some(),
            "old key still verifies"
        );
        assert_eq!(ring.jwks().len(), 2);

        clock.advance(chrono::Duration::minutes(16));
        assert!(
            ring.verification_key(&old.kid).is_none(),
            "retention has passed"
        );
        assert_eq!(ring.jwks().len(), 1);
        let Ok((_, removed)) = rotate(dir.path(), retention, clock.now()) else {
            panic!()
        };
        assert_eq!(removed, vec![old.kid.clone()]);
    }
}
