//! The PDX server: configuration, telemetry, and the `Application` that the `pdx` binary
//! and the end-to-end tests both run.

pub mod app;
pub mod backup;
pub mod check;
pub mod config;
pub mod demo;
pub mod error;
pub mod keys;
pub mod ledger_cli;
pub mod telemetry;
pub mod transfer;

pub use app::Application;
pub use config::{Config, LogFormat};
pub use error::ServerError;
