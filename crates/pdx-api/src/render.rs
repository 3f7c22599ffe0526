//! A published dataset as the API shows it to anyone (`DatasetResponse` as JSON): the search
//! index stores this rendering of every published dataset, so that search pages and anonymous
//! reads are answered from the index.

use pdx_catalog::DatasetView;
use pdx_catalog::search::Render;
use sha2::{Digest, Sha256};
use utoipa::PartialSchema;

use crate::datasets::{DatasetResponse, PublisherSummary};
use crate::distributions::DistributionResponse;

/// Renders datasets as [`DatasetResponse`] JSON.
#[derive(Debug, Clone)]
pub struct DatasetJson {
    version: String,
}

impl DatasetJson {
    /// The renderer; its version is a digest of the response's schema, so that an index
    /// rendered before the schema changed is rebuilt.
    pub fn new() -> Self {
        let schemas = [
            serde_json::to_string(&DatasetResponse::schema()),
            serde_json::to_string(&DistributionResponse::schema()),
            serde_json::to_string(&PublisherSummary::schema()),
        ];
        let mut digest = Sha256::new();
        for schema in schemas {
            digest.update(schema.unwrap_or_default());
        }
        Self {
            version: format!("dataset-response/{}", hex::encode(&digest.finalize()[..8])),
        }
    }
}

impl Default for DatasetJson {
    fn default() -> Self {
        Self::new()
    }
}

impl Render for DatasetJson {
    fn version(&self) -> String {
        self.version.clone()
    }

    fn render(&self, view: &DatasetView) -> String {
        serde_json::to_string(&DatasetResponse::from(view.clone())).unwrap_or_default()
    }
}
