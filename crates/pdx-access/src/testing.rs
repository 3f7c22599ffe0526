//! An access service for tests of this and dependent crates: real keys in a given
//! directory (e-mail in its `outbox`), cheap password hashing, a fixed issuer and audience.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pdx_core::{Clock, SystemClock};
use pdx_storage::Database;
use pdx_storage::vault::{MasterKey, Vault};

use crate::keys::KeyRing;
use crate::mail::MailSettings;
use crate::model::PasswordPolicy;
use crate::password::Argon2Params;
use crate::secrets::SecretHasher;
use crate::service::{AccessService, AccessSettings, AccountSettings};
use crate::throttle::ThrottlePolicy;
use crate::tokens::TokenSettings;

/// The issuer of tokens from `test_service`.
pub const TEST_ISSUER: &str = "http://pdx.test";

/// An access service over `database` with its signing keys in the database's vault (under a
/// fixed test master key), or — on a database without the schema, for tests of what happens
/// then — a key file in `keys_dir`.
pub fn test_service(database: Database, keys_dir: &Path) -> AccessService {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let migrated = database
        .pending_migrations()
        .is_ok_and(|pending| pending.is_empty());
    let keys = if migrated {
        let vault = Vault::new(database.clone(), MasterKey::from_bytes([3; 32]), Vec::new());
        KeyRing::open_vault(
            vault,
            &keys_dir.join("jwt"),
            Duration::from_secs(900),
            clock.clone(),
        )
    } else {
        let file = keys_dir.join("test-signing-key.pem");
        crate::keys::write_test_key(&file)
            .and_then(|()| KeyRing::open_file(&file, Duration::from_secs(900), clock.clone()))
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(error) => panic!("cannot open test keys: {error}"),
    };
    let settings = AccessSettings {
        tokens: TokenSettings {
            issuer: TEST_ISSUER.into(),
            audience: "pdx".into(),
            access_ttl: Duration::from_secs(900),
            leeway: Duration::from_secs(30),
        },
        refresh_ttl: Duration::from_secs(3600),
        password_policy: PasswordPolicy { min_length: 12 },
        argon2: Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        throttle: ThrottlePolicy::default(),
        bootstrap_admin_email: "Admin@PDX.test".into(),
        accounts: AccountSettings::default(),
        mail: MailSettings {
            from: "PDX <no-reply@pdx.test>".into(),
            smtp_url: None,
            outbox_dir: keys_dir.join("outbox"),
            public_url: TEST_ISSUER.into(),
            per_recipient_per_hour: 5,
        },
    };
    match AccessService::new(
        database,
        clock,
        Arc::new(keys),
        SecretHasher::from_key([3; 32]),
        [4; 32],
        settings,
    ) {
        Ok(access) => access,
        Err(error) => panic!("cannot build the test access service: {error}"),
    }
}
