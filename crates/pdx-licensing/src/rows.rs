//! A row query as a data request: decided before anything is read (the columns shown depend on
//! the basis), read with the reader's column rights, metered (rows and bytes) and written to the
//! circulation ledger before a row is sent. The one data path of the API's `…/rows`, CKAN's
//! `datastore_search` and the portal's view of a table.

use pdx_catalog::CatalogService;
use pdx_rows::mask::Audience;
use pdx_rows::model::SourceFormat;
use pdx_rows::query::RowQuery;
use pdx_rows::render::{CkanEnvelope, OutputFormat};
use pdx_rows::{RowAnswer, RowService, RowsError};

use crate::decision::{AccessDecision, Basis};
use crate::error::LicensingError;
use crate::exchange::{DataRequest, Prepared, QuotaState, Refusal};
use crate::service::LicensingService;

/// A row query's outcome, logged under `seq`: the answer, or the refusal and the quota that
/// caused it.
#[derive(Debug)]
pub struct RowsServed {
    /// The ledger sequence number of the request's entry.
    pub seq: u64,
    /// The rows, or why they were refused.
    pub outcome: Result<RowAnswer, Refusal>,
    /// The quota, when it is the reason for a refusal.
    pub quota: Option<QuotaState>,
}

/// Why a row query was not answered: the query or the table is wrong (nothing was logged), or
/// the decision or the ledger failed.
#[derive(Debug, thiserror::Error)]
pub enum RowsRequestError {
    /// The distribution is not tabular, its rows are not loaded, or the query is wrong.
    #[error(transparent)]
    Rows(#[from] RowsError),
    /// Deciding or logging failed.
    #[error(transparent)]
    Licensing(#[from] LicensingError),
    /// The ledger permitted a query the decision before it had refused (a grant arrived in
    /// between): nothing was read to send.
    #[error("a row query was permitted that was not prepared")]
    NotPrepared,
}

impl From<pdx_catalog::CatalogError> for RowsRequestError {
    fn from(error: pdx_catalog::CatalogError) -> Self {
        Self::Rows(error.into())
    }
}

impl LicensingService {
    /// Decides, reads, meters and logs a row query. `request.prepared` is set here; a request
    /// the edge already refused (`request.refused`) is logged without reading anything.
    pub async fn serve_rows(
        &self,
        catalog: &CatalogService,
        rows: &RowService,
        mut request: DataRequest,
        query: RowQuery,
        format: OutputFormat,
        ckan: Option<CkanEnvelope>,
    ) -> Result<RowsServed, RowsRequestError> {
        let id = request.distribution;
        let facts = catalog.distribution_facts(id).await?;
        if SourceFormat::of_file(facts.kind, &facts.format, &facts.media_type).is_none() {
            return Err(RowsError::NotTabular.into());
        }
        let table = rows.table(id).await?.ok_or(RowsError::NotIngested)?;
        // A row query refused before its answer was prepared.
        request.prepared = Prepared::Rows {
            rows: 0,
            bytes: 0,
            basis: None,
        };
        let mut answer = None;
        if request.refused.is_none() {
            // Decided first without logging: the columns shown depend on the basis, and
            // nothing is read for a request that would be refused.
            let generation = catalog.current_generation().await?;
            let (decision, grant) = self
                .decide_rows(
                    request.principal.as_ref(),
                    id,
                    request.purpose.as_deref(),
                    generation,
                )
                .await?;
            if let AccessDecision::Permit(basis) = decision {
                let audience = match (basis, grant) {
                    (Basis::Owner, _) => Audience::Owner,
                    (Basis::Open, _) => Audience::Public,
                    (Basis::Grant { grant }, found) => Audience::Grant {
                        rules: found.and_then(|g| g.column_rules).unwrap_or_default(),
                        key: rows.grant_key(&grant.to_string()),
                    },
                };
                let sensitive = facts
                    .columns
                    .iter()
                    .flatten()
                    .filter(|c| c.sensitive)
                    .map(|c| c.name.clone())
                    .collect();
                let read = rows
                    .read(table, audience, query, format, &sensitive, ckan)
                    .await?;
                request.prepared = Prepared::Rows {
                    rows: read.rows,
                    bytes: read.body.len(),
                    basis: Some(basis),
                };
                answer = Some(read);
            }
        }
        let decided = self.obtain(request).await?;
        let outcome = match (decided.outcome, answer) {
            (Err(refused), _) => Err(refused),
            (Ok(_), Some(answer)) => Ok(answer),
            (Ok(_), None) => return Err(RowsRequestError::NotPrepared),
        };
        Ok(RowsServed {
            seq: decided.seq,
            outcome,
            quota: decided.quota,
        })
    }
}
