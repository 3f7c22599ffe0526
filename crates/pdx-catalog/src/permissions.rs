//! Every permission rule of the catalog, one named check each.
//!
//! | check | who passes |
//! |---|---|
//! | `create_dataset` | a publisher or admin of an agency |
//! | `edit_dataset` | a publisher or admin of the owning agency |
//! | `review_dataset` | a reviewer or admin of the owning agency |
//! | `view_dataset` | anyone for published or withdrawn datasets; otherwise members of the owning agency, platform admins, auditors |
//! | `view_drafts` | members of the owning agency, platform admins, auditors: they see drafts and a pending revision (everyone else the published version) |
//!
//! Obtaining data is decided in `pdx-licensing`; what it may count as published is
//! [`in_published_catalog`].

use pdx_core::{OrgKind, Principal, Role};

use crate::error::CatalogError;
use crate::model::{Dataset, DatasetStatus, Distribution};

fn allow(passes: bool, check: &'static str) -> Result<(), CatalogError> {
    if passes {
        Ok(())
    } else {
        Err(CatalogError::Forbidden { check })
    }
}

/// Create a dataset in one's agency.
pub fn create_dataset(p: &Principal) -> Result<(), CatalogError> {
    allow(
        p.org_kind == OrgKind::Agency && p.roles.contains_any(&[Role::Publisher, Role::Admin]),
        "create_dataset",
    )
}

/// Edit, submit, revise a dataset and manage its distributions.
pub fn edit_dataset(p: &Principal, dataset: &Dataset) -> Result<(), CatalogError> {
    allow(
        p.org == dataset.organization_id && p.roles.contains_any(&[Role::Publisher, Role::Admin]),
        "edit_dataset",
    )
}

/// Publish, return or withdraw a dataset.
pub fn review_dataset(p: &Principal, dataset: &Dataset) -> Result<(), CatalogError> {
    allow(
        p.org == dataset.organization_id && p.roles.contains_any(&[Role::Reviewer, Role::Admin]),
        "review_dataset",
    )
}

/// Whether the dataset's record is public.
pub fn is_public(dataset: &Dataset) -> bool {
    matches!(
        dataset.status,
        DatasetStatus::Published | DatasetStatus::Withdrawn
    )
}

/// Whether the principal sees what the owning agency is working on: a draft, or the pending
/// revision of a published dataset (instead of the published version everyone else sees).
pub fn view_drafts(p: Option<&Principal>, dataset: &Dataset) -> bool {
    p.is_some_and(|p| {
        p.org == dataset.organization_id || p.has(Role::PlatformAdmin) || p.has(Role::Auditor)
    })
}

/// See a dataset's current record (drafts only within the owning agency).
pub fn view_dataset(p: Option<&Principal>, dataset: &Dataset) -> Result<(), CatalogError> {
    allow(
        is_public(dataset) || view_drafts(p, dataset),
        "view_dataset",
    )
}

/// Whether a distribution's data is in the published catalog: its dataset (as stored, which
/// is the published version while a revision is pending) is published, and a published version
/// holds the distribution. Anyone but the owning agency may obtain data only when it is.
pub fn in_published_catalog(dataset: &Dataset, distribution: &Distribution) -> bool {
    dataset.status == DatasetStatus::Published
        && distribution.dataset_id == dataset.id
        && distribution.published_version.is_some()
}

/// See a dataset's published versions: public once one exists.
pub fn view_versions(p: Option<&Principal>, dataset: &Dataset) -> Result<(), CatalogError> {
    if dataset.version > 0 {
        return Ok(());
    }
    view_dataset(p, dataset)
}

#[cfg(test)]
mod tests {
    use pdx_core::{
        Classification, DataGrade, DatasetId, DistributionId, OpeningClass, OrganizationId,
        SharingClass,
    };

    use super::*;
    use crate::model::DistributionKind;

    fn dataset(status: DatasetStatus) -> Dataset {
        let now = chrono::Utc::now();
        Dataset {
            id: DatasetId::new(),
            organization_id: OrganizationId::new(),
            slug: "levels".into(),
            title: "Levels".into(),
            description: String::new(),
            translations: Default::default(),
            keywords: Vec::new(),
            themes: Vec::new(),
            contact_name: None,
            contact_email: None,
            spatial: None,
            temporal_start: None,
            temporal_end: None,
            update_frequency: "daily".into(),
            languages: Vec::new(),
            resource_code: None,
            classification: Classification {
                sharing: SharingClass::Conditional,
                opening: OpeningClass::Conditional,
                grade: DataGrade::General,
            },
            licence: None,
            landing_page: None,
            status,
            version: 1,
            review_comment: None,
            created_at: now,
            modified_at: now,
            published_at: Some(now),
        }
    }

    fn distribution(dataset: &Dataset, published_version: Option<i32>) -> Distribution {
        Distribution {
            id: DistributionId::new(),
            dataset_id: dataset.id,
            title: "CSV".into(),
            description: None,
            kind: DistributionKind::File,
            format: "CSV".into(),
            media_type: "text/csv".into(),
            byte_size: Some(1),
            sha256: None,
            storage_key: None,
            access_url: None,
            columns: None,
            created_at: dataset.created_at,
            modified_at: dataset.created_at,
            published_version,
        }
    }

    #[test]
    fn only_a_published_version_s_distributions_of_a_published_dataset_are_in_the_catalog() {
        let published = dataset(DatasetStatus::Published);
        assert!(in_published_catalog(
            &published,
            &distribution(&published, Some(1))
        ));
        assert!(
            !in_published_catalog(&published, &distribution(&published, None)),
            "added in a pending revision"
        );
        let other = dataset(DatasetStatus::Published);
        assert!(
            !in_published_catalog(&published, &distribution(&other, Some(1))),
            "another dataset's distribution"
        );
        for status in [
            DatasetStatus::Draft,
            DatasetStatus::InReview,
            DatasetStatus::Withdrawn,
        ] {
            let dataset = dataset(status);
            assert!(
                !in_published_catalog(&dataset, &distribution(&dataset, Some(1))),
                "{status}"
            );
        }
    }
}
