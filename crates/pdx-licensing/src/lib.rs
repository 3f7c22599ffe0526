//! Licensing for PDX: the policies licences carry — a strict ODRL 2.2 subset with a pure,
//! deterministic evaluator — on which offers, access requests and grants are built.

pub mod decision;
pub mod disclosure;
pub mod error;
pub mod exchange;
pub mod model;
pub mod policy;
pub mod rows;
pub mod service;
pub mod store;

pub use error::LicensingError;
pub use policy::{Decision, Policy, PolicyError, PolicyRequest, Usage};
pub use service::LicensingService;
