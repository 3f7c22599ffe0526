//! Access control for PDX: organisations, users and their roles, e-mail confirmed accounts,
//! invitations and password resets, password sign-in, EdDSA access tokens, refresh tokens,
//! API keys, the permission checks and the audit trail.

pub mod api_keys;
pub mod audit;
pub mod error;
pub mod keys;
pub mod mail;
pub mod model;
pub mod one_time;
pub mod password;
pub mod permissions;
pub mod refresh;
pub mod revocation;
pub mod secrets;
pub mod service;
pub mod service_accounts;
pub mod sessions;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod tokens;

pub use audit::RequestContext;
pub use error::AccessError;
pub use service::{AccessService, AccessSettings};
