//! Credentials sealed at rest: XChaCha20-Poly1305 under a server key, with the distribution's
//! id as associated data, so a sealed credential cannot be moved to another API.

use std::path::Path;

use pdx_storage::seal::{SealError, SealingKey};

use crate::error::GatewayError;
use crate::model::Credential;

/// Seals and opens credentials with the server's credential key.
#[derive(Clone)]
pub struct Sealer {
    key: SealingKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
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

    /// A sealer with a given key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            key: SealingKey::new(key),
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
        self.key
            .seal(distribution.as_bytes(), &plain)
            .map_err(|e| match e {
                SealError::Random(cause) => {
                    GatewayError::invalid("credential", format!("no randomness: {cause}"))
                }
                SealError::Open => GatewayError::Sealed,
            })
    }

    /// Opens a credential sealed for `distribution`.
    pub fn open_sealed(
        &self,
        sealed: &str,
        distribution: &str,
    ) -> Result<Credential, GatewayError> {
        let plain = self
            .key
            .open(distribution.as_bytes(), sealed)
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
