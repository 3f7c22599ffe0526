//! The gateway of API distributions (DESIGN.md §4): a publisher declares where its live API
//! runs (the upstream), the credential PDX presents there (sealed at rest, never shown again)
//! and the methods and paths it allows; consumers call
//! `/api/v1/distributions/{id}/api/{path}` with their token and purpose, and each call is
//! decided and logged by the exchange before it is forwarded. Each upstream has a concurrency
//! limit, shared out among the server processes running, and a circuit breaker that the
//! processes exchange through the database; a call's outcome (status, bytes, latency) is
//! logged when it ends.

pub mod breaker;
mod circuits;
pub mod error;
pub mod model;
pub mod paths;
pub mod relay;
pub mod seal;
pub mod service;
mod store;

pub use error::GatewayError;
pub use model::{Credential, Upstream, UpstreamInput};
pub use paths::CallPath;
pub use relay::{Answer, Failure, Outbound, Stamp};
pub use seal::Sealer;
pub use service::{GatewayService, GatewaySettings, UpstreamView};
