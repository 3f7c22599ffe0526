//! Schemas of the controlled values the API takes (roles, kinds, classes, purposes, sort
//! orders, CKAN actions), so the OpenAPI document names exactly the values each field accepts.
//! The domain types live in crates that do not know utoipa; these mirror them for the document.
//! Values that exist only at the HTTP edge (sort order, decision filter) are parsed as these.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role: in an agency `admin`, `publisher`, `reviewer`, `member`; in an enterprise `admin`,
/// `member`; on the platform `platform_admin`, `auditor`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// Manages the organisation.
    Admin,
    /// Describes and uploads datasets (agencies).
    Publisher,
    /// Publishes datasets and reviews access requests (agencies).
    Reviewer,
    /// Uses the organisation's grants.
    Member,
    /// Runs the platform.
    PlatformAdmin,
    /// Reads everything, changes nothing.
    Auditor,
}

/// The kind of an organisation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKindName {
    /// A government agency.
    Agency,
    /// An enterprise.
    Enterprise,
    /// The platform itself.
    Platform,
}

/// A purpose of the purposes vocabulary.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurposeName {
    /// Research.
    Research,
    /// A public service.
    PublicService,
    /// Developing a product.
    ProductDevelopment,
    /// Teaching.
    Education,
    /// Journalism.
    Journalism,
    /// Statistics.
    Statistics,
}

/// The sharing class (between agencies).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharingClassName {
    /// Shared with any agency on request.
    Unconditional,
    /// Shared after review.
    Conditional,
    /// Not shared.
    None,
}

/// The opening class (to society).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpeningClassName {
    /// Open to everyone.
    Open,
    /// Open after review.
    Conditional,
    /// Not open.
    Closed,
}

/// The data grade (GB/T 43697).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GradeName {
    /// General data.
    General,
    /// Important data.
    Important,
    /// Core data.
    Core,
}

/// The order of search results.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortName {
    /// Best matches first.
    Relevance,
    /// Most recently modified first.
    Modified,
    /// By title.
    Title,
}

/// The decision an entry records.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionName {
    /// A data request served.
    Permit,
    /// A data request refused.
    Deny,
    /// Another act that succeeded.
    Success,
    /// Another act that failed.
    Failure,
}

impl DecisionName {
    /// The decision as the ledger writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permit => "permit",
            Self::Deny => "deny",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The CKAN actions PDX answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CkanAction {
    /// Search datasets.
    PackageSearch,
    /// One dataset.
    PackageShow,
    /// Every dataset's name.
    PackageList,
    /// The organisations.
    OrganizationList,
    /// One organisation.
    OrganizationShow,
    /// One resource (distribution).
    ResourceShow,
    /// The licences.
    LicenseList,
    /// The tags (keywords).
    TagList,
    /// The site's status.
    StatusShow,
    /// The help text of an action.
    HelpShow,
    /// A resource's rows (CKAN DataStore), through the ledgered data path.
    DatastoreSearch,
}
