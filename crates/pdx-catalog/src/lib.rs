//! The PDX catalog: datasets with DCAT-AP and resource-catalog metadata, their classification
//! and publishing lifecycle, distributions in the blob store, search, and DCAT-AP output.

pub mod dcat;
pub mod disclosure;
pub mod error;
pub mod model;
pub mod permissions;
pub mod rules;
pub mod search;
pub mod service;
pub mod store;
pub mod text;
pub mod vocabulary;

pub use error::{CatalogError, FieldProblem};
pub use service::{CatalogService, DatasetView, FileBody};
