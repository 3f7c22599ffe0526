//! Checkpoints in the C2SP `tlog-checkpoint` format, signed as C2SP signed notes with Ed25519,
//! and the matching verifier key string, so standard transparency-log tooling can check them.
//!
//! Note: `<origin>\n<size>\n<base64 root>\n` + `\n` + `— <name> <base64(key id ‖ signature)>\n`;
//! key id = the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key);
//! verifier key = `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// The prefix of a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint or key is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The verifier key string is malformed.
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
    /// The note is not a well-formed signed checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// No signature line by this key verifies.
    #[error("no valid signature by {0}")]
    BadSignature(String),
}

/// A tree head: the log's origin, its size and its root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `pdx.example.gov/ledger`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Root hash of the tree over those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body that is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(CheckpointError::Malformed("no origin line"))?;
        let size = lines
            .next()
            .and_then(|s| {
                (!(s.starts_with('+') || (s.len() > 1 && s.starts_with('0')))).then_some(s)
            })
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(CheckpointError::Malformed(
                "the second line is not a tree size",
            ))?;
        let root: Hash = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "the third line is not a base64 SHA-256 root",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(public.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The dedicated key that signs the ledger's checkpoints.
pub struct LedgerKey {
    name: String,
    signing: SigningKey,
}

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LedgerKey {
    /// A key named `name` (by convention the log's origin).
    pub fn new(name: impl Into<String>, signing: SigningKey) -> Result<Self, CheckpointError> {
        let name = name.into();
        if name.is_empty() || name.contains(['+', ' ', '\n']) {
            return Err(CheckpointError::BadKey(
                "a key name has no '+', spaces or newlines",
            ));
        }
        Ok(Self { name, signing })
    }

    /// The private key's seed, to be kept in the vault.
    pub(crate) fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The key's name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let public = self.signing.verifying_key();
        let mut encoded = vec![ED25519];
        encoded.extend_from_slice(public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            STANDARD.encode(encoded)
        )
    }

    /// The checkpoint as a signed note.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.signing.sign(body.as_bytes());
        let mut blob = key_id(&self.name, &self.signing.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }
}

/// A parsed verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, checking the id matches.
    pub fn parse(verifier_key: &str) -> Result<Self, CheckpointError> {
        let mut parts = verifier_key.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadKey("expected name+id+key"));
        };
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|i| i.try_into().ok())
            .ok_or(CheckpointError::BadKey("the key id is not 8 hex digits"))?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| CheckpointError::BadKey("the key is not base64"))?;
        let (Some(&ED25519), Some(public)) = (key.first(), key.get(1..)) else {
            return Err(CheckpointError::BadKey("not an Ed25519 key"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| CheckpointError::BadKey("an Ed25519 key has 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| CheckpointError::BadKey("not a valid Ed25519 point"))?;
        if key_id(name, &key) != id {
            return Err(CheckpointError::BadKey(
                "the key id does not match the name and key",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Verifies a signed checkpoint note and returns the checkpoint it signs.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
            "no blank line before the signatures",
        ))?;
        let body = format!("{body}\n");
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(CheckpointError::Malformed(
                    "a signature line must start with an em dash",
                ));
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                continue;
            };
            if name != self.name {
                continue;
            }
            let Ok(blob) = STANDARD.decode(blob) else {
                continue;
            };
            if blob.len() != 68 || blob[..4] != self.id {
                continue;
            }
            let Ok(signature) = Signature::from_slice(&blob[4..]) else {
                continue;
            };
            if self.key.verify(body.as_bytes(), &signature).is_ok() {
                return Checkpoint::parse_body(&body);
            }
        }
        Err(CheckpointError::BadSignature(self.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8, name: &str) -> LedgerKey {
        match LedgerKey::new(name, SigningKey::from_bytes(&[seed; 32])) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "pdx.test/ledger".into(),
            size: 1234,
            root: [7; 32],
        }
    }

    #[test]
    fn signed_checkpoint_verifies_with_the_published_key() {
        let key = key(1, "pdx.test/ledger");
        let note = key.sign(&checkpoint());
        assert!(note.starts_with("pdx.test/ledger\n1234\n"));
        assert!(note.contains("\n\n\u{2014} pdx.test/ledger "));
        let verifier = NoteVerifier::parse(&key.verifier_key());
        let Ok(verifier) = verifier else {
            panic!("{verifier:?}")
        };
        assert_eq!(verifier.verify(&note), Ok(checkpoint()));
        let vkey = key.verifier_key();
        let parts: Vec<&str> = vkey.split('+').collect();
        assert_eq!(parts[0], "pdx.test/ledger");
        assert_eq!(parts[1].len(), 8);
    }

    #[test]
    fn altered_size_or_root_or_another_key_is_detected() {
        let key1 = key(1, "pdx.test/ledger");
        let note = key1.sign(&checkpoint());
        let Ok(verifier) = NoteVerifier::parse(&key1.verifier_key()) else {
            panic!()
        };
        let bigger = note.replacen("\n1234\n", "\n1235\n", 1);
        assert!(matches!(
            verifier.verify(&bigger),
            Err(CheckpointError::BadSignature(_))
        ));
        let other_root = note.replacen(&STANDARD.encode([7u8; 32]), &STANDARD.encode([8u8; 32]), 1);
        assert!(verifier.verify(&other_root).is_err());
        let forged = key(2, "pdx.test/ledger").sign(&checkpoint());
        assert!(
            verifier.verify(&forged).is_err(),
            "signed by another key under the same name"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = key(1, "pdx.test/ledger").verifier_key();
        assert!(
            NoteVerifier::parse(&good.replacen("pdx.test", "pdx.evil", 1)).is_err(),
            "id no longer matches"
        );
        assert!(NoteVerifier::parse("no-plus-signs").is_err());
        assert!(LedgerKey::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
    }
}
