//! PDX data services: tabular distributions (CSV, JSON, NDJSON; UTF-8 or GB18030) ingested
//! into queryable tables, and row queries answered with each reader's column rights and masks.

mod copy;
pub mod error;
mod ingest;
mod marks;
pub mod mask;
pub mod model;
pub mod query;
pub mod render;
mod service;
mod source;
mod store;
mod tables;
mod watch;

pub use copy::{CopiedTables, copy_tables_to_postgres};
pub use error::RowsError;
pub use service::{QueryLimits, RowAnswer, RowService};
pub use store::table_file_names;
