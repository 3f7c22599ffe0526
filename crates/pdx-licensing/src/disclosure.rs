//! What an agency's annual disclosure report says of the requests for its data: how many it
//! received, how they were decided and how fast, and the grants it issued.

use std::collections::BTreeMap;

use diesel::prelude::*;
use pdx_core::Timestamp;
use pdx_storage::DbConnection;
use pdx_storage::schema::{access_requests, grants};
use serde::Serialize;

use crate::error::LicensingError;

/// Requests for an agency's datasets and the grants on them, in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestDisclosure {
    /// Access requests received (submitted in the period).
    pub received: u64,
    /// Of those, by their state now: `submitted` (still open), `approved`, `rejected`,
    /// `withdrawn`.
    pub by_status: BTreeMap<String, u64>,
    /// Of those, decided automatically (inter-agency sharing without review).
    pub decided_automatically: u64,
    /// The median time from submission to decision of the decided ones, in seconds.
    pub median_decision_seconds: Option<i64>,
    /// Grants issued in the period.
    pub grants_issued: u64,
}

/// The requests part of a disclosure: requests for `datasets` submitted in `[start, end)`,
/// and grants on them issued then.
pub fn request_disclosure(
    conn: &mut DbConnection,
    datasets: &[String],
    start: Timestamp,
    end: Timestamp,
) -> Result<RequestDisclosure, LicensingError> {
    let mut report = RequestDisclosure::default();
    let mut waits: Vec<i64> = Vec::new();
    // Bound parameters per statement stay well within SQLite's limit.
    for chunk in datasets.chunks(5_000) {
        type Row = (
            String,
            Option<String>,
            chrono::NaiveDateTime,
            Option<chrono::NaiveDateTime>,
        );
        let requests: Vec<Row> = access_requests::table
            .filter(access_requests::dataset_id.eq_any(chunk))
            .filter(access_requests::created_at.ge(start.naive_utc()))
            .filter(access_requests::created_at.lt(end.naive_utc()))
            .select((
                access_requests::status,
                access_requests::decided_by,
                access_requests::created_at,
                access_requests::decided_at,
            ))
            .load(conn)?;
        for (status, decided_by, created, decided) in requests {
            report.received += 1;
            *report.by_status.entry(status.clone()).or_default() += 1;
            if decided_by.as_deref() == Some("automatic") {
                report.decided_automatically += 1;
            }
            if let Some(decided) = decided.filter(|_| status != "withdrawn") {
                waits.push((decided - created).num_seconds().max(0));
            }
        }
        let issued: i64 = grants::table
            .filter(grants::dataset_id.eq_any(chunk))
            .filter(grants::created_at.ge(start.naive_utc()))
            .filter(grants::created_at.lt(end.naive_utc()))
            .count()
            .get_result(conn)?;
        report.grants_issued += u64::try_from(issued).unwrap_or(0);
    }
    waits.sort_unstable();
    let n = waits.len();
    report.median_decision_seconds = match (waits.get(n.saturating_sub(1) / 2), waits.get(n / 2)) {
        (Some(low), Some(high)) => Some((low + high) / 2),
        _ => None,
    };
    Ok(report)
}
