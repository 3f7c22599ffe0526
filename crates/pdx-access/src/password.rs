//! Password hashing with argon2id, run on the blocking pool and bounded in concurrency so that
//! a burst of sign-ins cannot exhaust memory; unknown accounts verify a dummy hash.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::AccessError;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the given costs, running at most `concurrency` hashes at once.
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self, AccessError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| AccessError::invalid("argon2", e.to_string()))?;
        let dummy_hash = hash_blocking(&params, "pdx dummy password for timing equalisation")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a password into a PHC string (salted, parameters included).
    pub async fn hash(&self, password: &str) -> Result<String, AccessError> {
        let _permit = self.permit().await?;
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password))
            .await
            .map_err(|e| AccessError::Keys(format!("hashing task failed: {e}")))?
    }

    /// Verifies a password against a stored hash; with no hash (unknown account) verifies
    /// against a dummy so that the answer takes as long, and returns false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AccessError> {
        let _permit = self.permit().await?;
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(|e| AccessError::Keys(format!("verification task failed: {e}")))?;
        Ok(known && matched)
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AccessError> {
        self.permits
            .acquire()
            .await
            .map_err(|e| AccessError::Keys(format!("hasher closed: {e}")))
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, AccessError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AccessError::Keys(format!("password hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        let params = Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        match PasswordHasher::new(params, 2) {
            Ok(hasher) => hasher,
            Err(error) => panic!("{error}"),
        }
    }

    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let hasher = cheap();
        let Ok(hash) = hasher.hash("correct horse battery staple").await else {
            panic!("hash failed")
        };
        assert!(hash.starts_with("$argon2id$"));
        assert!(matches!(
            hasher
                .verify("correct horse battery staple", Some(&hash))
                .await,
            Ok(true)
        ));
        assert!(matches!(
            hasher
                .verify("wrong horse battery staple", Some(&hash))
                .await,
            Ok(false)
        ));
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        let hasher = cheap();
        let dummy = "pdx dummy password for timing equalisation";
        assert!(matches!(hasher.verify(dummy, None).await, Ok(false)));
    }

    #[tokio::test]
    async fn default_parameters_are_owasp_argon2id() {
        let params = Argon2Params::default();
        let Ok(hasher) = PasswordHasher::new(params, 1) else {
            panic!("default params")
        };
        let Ok(hash) = hasher.hash("correct horse battery staple").await else {
            panic!()
        };
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }
}
