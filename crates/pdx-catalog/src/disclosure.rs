//! What an agency's annual disclosure report says of its catalog: the datasets it opened and
//! shared, by class and grade.

use std::collections::BTreeMap;

use diesel::prelude::*;
use pdx_core::{OrganizationId, Timestamp};
use pdx_storage::DbConnection;
use pdx_storage::schema::datasets;
use serde::Serialize;

use crate::error::CatalogError;

/// Datasets counted by opening class, sharing class and grade.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    /// All of them.
    pub total: u64,
    /// By opening class, then grade.
    pub by_opening: BTreeMap<String, BTreeMap<String, u64>>,
    /// By sharing class, then grade.
    pub by_sharing: BTreeMap<String, BTreeMap<String, u64>>,
}

impl ClassCounts {
    fn add(&mut self, opening: &str, sharing: &str, grade: &str) {
        self.total += 1;
        for (by, class) in [
            (&mut self.by_opening, opening),
            (&mut self.by_sharing, sharing),
        ] {
            *by.entry(class.to_owned())
                .or_default()
                .entry(grade.to_owned())
                .or_default() += 1;
        }
    }
}

/// An agency's catalog in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogDisclosure {
    /// Datasets first published in the period.
    pub published: ClassCounts,
    /// Datasets published before the period's end and still in the catalog.
    pub in_catalog: ClassCounts,
    /// Every dataset of the agency (ids), for the reports that follow its requests.
    #[serde(skip)]
    pub datasets: Vec<String>,
}

/// The catalog part of `org`'s disclosure for `[start, end)`.
pub fn catalog_disclosure(
    conn: &mut DbConnection,
    org: OrganizationId,
    start: Timestamp,
    end: Timestamp,
) -> Result<CatalogDisclosure, CatalogError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<chrono::NaiveDateTime>,
    );
    let rows: Vec<Row> = datasets::table
        .filter(datasets::organization_id.eq(org.to_string()))
        .select((
            datasets::id,
            datasets::status,
            datasets::opening_class,
            datasets::sharing_class,
            datasets::grade,
            datasets::published_at,
        ))
        .load(conn)?;
    let mut report = CatalogDisclosure::default();
    for (id, status, opening, sharing, grade, published_at) in rows {
        report.datasets.push(id);
        let Some(published_at) = published_at.map(|t| t.and_utc()) else {
            continue;
        };
        if published_at >= start && published_at < end {
            report.published.add(&opening, &sharing, &grade);
        }
        if published_at < end && status == "published" {
            report.in_catalog.add(&opening, &sharing, &grade);
        }
    }
    Ok(report)
}
