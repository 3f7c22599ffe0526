//! Secrets sealed at rest: XChaCha20-Poly1305 under a 32-byte key, with associated data that
//! binds each sealed text to what it belongs to; stored as base64 of the nonce and ciphertext.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Bytes of a nonce.
const NONCE: usize = 24;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No randomness was available for a nonce.
    #[error("no randomness: {0}")]
    Random(String),
    /// The text is not sealed under this key with this associated data, or was altered.
    #[error("the sealed text does not open")]
    Open,
}

/// A key that seals and opens texts.
#[derive(Clone)]
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// A sealing key from its bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Seals `plain`, bound to `aad`: base64 of a random nonce and the ciphertext.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| SealError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a text sealed by [`SealingKey::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE {
            return Err(SealError::Open);
        }
        let (nonce, body) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| SealError::Open)
    }
}
