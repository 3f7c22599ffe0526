//! Credentials sealed at rest: XChaCha20-Poly1305 under a server key, with the distribution's
//! id as associated data, so a sealed credential cannot be moved to another API.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::GatewayError;
use crate::model::Credential;

/// Bytes of a nonce.
const NONCE: usize = 24;

/// Seals and opens credentials with the server's credential key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Loads the key from `path`, creating it (32 random bytes, mode 0600) if absent.
    pub fn open(path: &Path) -> Result<Self, GatewayError> {
        let key = pdx_access::secrets::server_key(path)
            .map_err(|e| GatewayError::invalid("credential_key", e.to_string()))?;
        Ok(Self::from_key(key))
    }

    /// The key kept in `vault` (shared by every server process); on first use taken from the
    /// file `legacy` of an installation from before the vault, or else generated.
    pub fn from_vault(
        vault: &pdx_storage::vault::Vault,
        legacy: &Path,
        now: pdx_core::Timestamp,
    ) -> Result<Self, GatewayError> {
        let key = pdx_access::secrets::vault_key(vault, "upstream_credentials", legacy, now)
            .map_err(|e| GatewayError::invalid("credential_key", e.to_string()))?;
        Ok(Self::from_key(key))
    }

    /// A sealer with a given key, for tests.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Seals a credential for one distribution: base64 of nonce and ciphertext.
    pub fn seal(
        &self,
        credential: &Credential,
        distribution: &str,
    ) -> Result<String, GatewayError> {
        let plain = serde_json::to_vec(credential)
            .map_err(|e| GatewayError::invalid("credential", e.to_string()))?;
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce)
            .map_err(|e| GatewayError::invalid("credential", format!("no randomness: {e}")))?;
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: distribution.as_bytes(),
                },
            )
            .map_err(|_| GatewayError::Sealed)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a credential sealed for `distribution`.
    pub fn open_sealed(
        &self,
        sealed: &str,
        distribution: &str,
    ) -> Result<Credential, GatewayError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| GatewayError::Sealed)?;
        if bytes.len() < NONCE {
            return Err(GatewayError::Sealed);
        }
        let (nonce, body) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| GatewayError::Sealed)?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: distribution.as_bytes(),
                },
            )
            .map_err(|_| GatewayError::Sealed)?;
        serde_json::from_slice(&plain).map_err(|_| GatewayError::Sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_for_their_distribution_and_key() {
        let sealer = Sealer::from_key([9; 32]);
        let credential = Credential::Bearer {
            token: "upstream-token-123".into(),
        };
        let sealed = sealer.seal(&credential, "d1").unwrap_or_default();
        assert!(!sealed.contains("upstream-token"));
        assert_eq!(
            sealer.open_sealed(&sealed, "d1").ok(),
            Some(credential.clone())
        );
        assert!(
            sealer.open_sealed(&sealed, "d2").is_err(),
            "moved to another API"
        );
        assert!(
            Sealer::from_key([8; 32])
                .open_sealed(&sealed, "d1")
                .is_err()
        );
        // Two seals of one credential differ (fresh nonces).
        assert_ne!(sealer.seal(&credential, "d1").ok(), Some(sealed));
    }
}
