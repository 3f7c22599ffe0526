//! Random secrets and their storage forms: opaque refresh tokens (stored as SHA-256) and
//! API-key secrets (stored as HMAC-SHA256 under a server key, so a database leak is not enough).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::AccessError;

/// `bytes` random bytes, base64url-encoded.
pub fn random_token(bytes: usize) -> Result<String, AccessError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| AccessError::Keys(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// `bytes` random bytes, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, AccessError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| AccessError::Keys(format!("no randomness: {e}")))?;
    Ok(hex::encode(buffer))
}

/// The SHA-256 of a high-entropy token, hex-encoded: enough for lookups of random tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A 32-byte server key kept in the file `path` (before the vault).
fn legacy_key(path: &Path) -> Result<[u8; 32], AccessError> {
    let bytes = std::fs::read(path)
        .map_err(|e| AccessError::Keys(format!("cannot read {}: {e}", path.display())))?;
    bytes
        .try_into()
        .map_err(|_| AccessError::Keys(format!("{} must hold exactly 32 bytes", path.display())))
}

/// The 32-byte server key kept in `vault` for `purpose`, shared by every server process. On
/// first use it is taken from the file `legacy` (where an installation from before the vault
/// kept it) or else generated.
pub fn vault_key(
    vault: &pdx_storage::vault::Vault,
    purpose: &str,
    legacy: &Path,
    now: pdx_core::Timestamp,
) -> Result<[u8; 32], AccessError> {
    kept_key(vault, purpose, Some(legacy), now)
}

/// The 32-byte server key kept in `vault` for `purpose`, generated on first use: for keys
/// that came after the vault and so were never kept in a file.
pub fn new_vault_key(
    vault: &pdx_storage::vault::Vault,
    purpose: &str,
    now: pdx_core::Timestamp,
) -> Result<[u8; 32], AccessError> {
    kept_key(vault, purpose, None, now)
}

fn kept_key(
    vault: &pdx_storage::vault::Vault,
    purpose: &str,
    legacy: Option<&Path>,
    now: pdx_core::Timestamp,
) -> Result<[u8; 32], AccessError> {
    let material = vault.singleton(purpose, now, || {
        if let Some(legacy) = legacy.filter(|path| path.exists()) {
            tracing::info!(
                purpose,
                file = %legacy.display(),
                "moved a server key into the database's vault; the file is no longer read"
            );
            return legacy_key(legacy).map(|key| key.to_vec());
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| AccessError::Keys(format!("no randomness: {e}")))?;
        Ok(key.to_vec())
    })?;
    material
        .try_into()
        .map_err(|_| AccessError::Keys(format!("the vault's `{purpose}` key is not 32 bytes")))
}

/// Keyed hashing of API-key secrets.
#[derive(Clone)]
pub struct SecretHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

impl SecretHasher {
    /// A hasher with a given key (from the vault, see [`vault_key`]).
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self) -> Result<Hmac<Sha256>, AccessError> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .map_err(|e| AccessError::Keys(format!("bad HMAC key: {e}")))
    }

    /// The keyed hash of a secret, hex-encoded.
    pub fn hash(&self, secret: &str) -> Result<String, AccessError> {
        let mut mac = self.mac()?;
        mac.update(secret.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let Ok(expected) = hex::decode(stored) else {
            return false;
        };
        let Ok(mut mac) = self.mac() else {
            return false;
        };
        mac.update(secret.as_bytes());
        mac.verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_verifies_only_with_the_same_key_and_secret() {
        let hasher = SecretHasher::from_key([7; 32]);
        let Ok(stored) = hasher.hash("pdxs_secret") else {
            panic!()
        };
        assert!(hasher.verify("pdxs_secret", &stored));
        assert!(!hasher.verify("pdxs_other", &stored));
        assert!(!SecretHasher::from_key([8; 32]).verify("pdxs_secret", &stored));
        assert!(!hasher.verify("pdxs_secret", "not hex"));
    }
}
