//! The catalog's records: datasets with their DCAT-AP and resource-catalog metadata,
//! distributions (files or API endpoints) with optional column schemas, and licences.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use pdx_core::{Classification, DatasetId, DistributionId, OrganizationId, Timestamp, UnknownName};
use serde::{Deserialize, Serialize};

/// Where a dataset is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetStatus {
    /// Being written by the owning agency; visible only to it.
    Draft,
    /// Submitted; awaiting a reviewer of the owning agency.
    InReview,
    /// In the public catalog.
    Published,
    /// Taken out of the catalog; earlier versions stay readable.
    Withdrawn,
}

impl DatasetStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [
        Self::Draft,
        Self::InReview,
        Self::Published,
        Self::Withdrawn,
    ];

    /// The status's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::InReview => "in_review",
            Self::Published => "published",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl FromStr for DatasetStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "dataset status",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for DatasetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle action. Editing, submitting, returning and publishing act on what the owning
/// agency is working on — the dataset itself until its first publication, afterwards its pending
/// revision; withdrawing and revising act on the published record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Change metadata or distributions.
    Edit,
    /// Send for review.
    Submit,
    /// Approve and publish.
    Publish,
    /// Send back to the publisher with a comment.
    Return,
    /// Take out of the catalog.
    Withdraw,
    /// Start a new version: a pending revision beside the published one.
    Revise,
}

impl LifecycleAction {
    /// The action's name, as in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Submit => "submit",
            Self::Publish => "publish",
            Self::Return => "return",
            Self::Withdraw => "withdraw",
            Self::Revise => "revise",
        }
    }

    /// The status after this action from `from`, if the lifecycle allows it. For `Revise`, the
    /// status the new revision starts in; for `Publish` of a revision, the dataset's.
    pub fn apply(self, from: DatasetStatus) -> Option<DatasetStatus> {
        use DatasetStatus::{Draft, InReview, Published, Withdrawn};
        match (self, from) {
            (Self::Edit, Draft) => Some(Draft),
            (Self::Submit, Draft) => Some(InReview),
            (Self::Publish, InReview) => Some(Published),
            (Self::Return, InReview) => Some(Draft),
            (Self::Withdraw, Published) => Some(Withdrawn),
            (Self::Revise, Published | Withdrawn) => Some(Draft),
            _ => None,
        }
    }
}

/// A column of a tabular distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The column name, as in the file's header.
    pub name: String,
    /// Its type: `string`, `integer`, `number`, `boolean`, `date`, `datetime`, `geometry`.
    #[serde(rename = "type")]
    pub column_type: String,
    /// What it holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it holds personal or otherwise sensitive information.
    #[serde(default)]
    pub sensitive: bool,
}

/// The column types a schema may use.
pub const COLUMN_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "date", "datetime", "geometry",
];

/// A dataset's title and description in a language other than its own (the first of its
/// languages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// The title in that language.
    pub title: String,
    /// The description in that language (empty: none).
    #[serde(default)]
    pub description: String,
}

/// Translations by ISO 639-1 language code.
pub type Translations = std::collections::BTreeMap<String, Translation>;

/// The title and description to show a reader of `language`, of a dataset whose own are
/// `title` and `description`: their translation into it where there is one, else its own. A
/// translation without a description keeps the dataset's.
pub fn in_language<'a>(
    title: &'a str,
    description: &'a str,
    translations: &'a Translations,
    language: &str,
) -> (&'a str, &'a str) {
    match translations.get(language) {
        Some(t) if t.description.is_empty() => (&t.title, description),
        Some(t) => (&t.title, &t.description),
        None => (title, description),
    }
}

/// Editable dataset metadata, as submitted by a publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// URL-safe name; derived from the title if absent.
    pub slug: Option<String>,
    /// Title, in the dataset's own language (the first of `languages`).
    pub title: String,
    /// Description, in the same language.
    pub description: String,
    /// Title and description in other languages, by ISO 639-1 code.
    #[serde(default)]
    pub translations: Translations,
    /// Free keywords.
    pub keywords: Vec<String>,
    /// Theme codes (`/api/v1/themes`).
    pub themes: Vec<String>,
    /// Contact point name.
    pub contact_name: Option<String>,
    /// Contact point e-mail.
    pub contact_email: Option<String>,
    /// Spatial coverage, e.g. `深圳市 Shenzhen`.
    pub spatial: Option<String>,
    /// Start of temporal coverage.
    pub temporal_start: Option<NaiveDate>,
    /// End of temporal coverage.
    pub temporal_end: Option<NaiveDate>,
    /// Update frequency (`daily`, `monthly`, …).
    pub update_frequency: String,
    /// ISO 639-1 language codes.
    pub languages: Vec<String>,
    /// Resource code of the government resource catalog.
    pub resource_code: Option<String>,
    /// Sharing class, opening class and grade.
    pub classification: Classification,
    /// Licence id (required when open).
    pub licence: Option<String>,
    /// Landing page URL.
    pub landing_page: Option<String>,
}

/// A dataset as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dataset {
    /// Its id.
    pub id: DatasetId,
    /// The publishing agency.
    pub organization_id: OrganizationId,
    /// URL-safe name.
    pub slug: String,
    /// Title, in its own language (the first of `languages`).
    pub title: String,
    /// Description.
    pub description: String,
    /// Title and description in other languages, by ISO 639-1 code.
    pub translations: Translations,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Theme codes.
    pub themes: Vec<String>,
    /// Contact point name.
    pub contact_name: Option<String>,
    /// Contact point e-mail.
    pub contact_email: Option<String>,
    /// Spatial coverage.
    pub spatial: Option<String>,
    /// Start of temporal coverage.
    pub temporal_start: Option<NaiveDate>,
    /// End of temporal coverage.
    pub temporal_end: Option<NaiveDate>,
    /// Update frequency.
    pub update_frequency: String,
    /// Languages.
    pub languages: Vec<String>,
    /// Resource code.
    pub resource_code: Option<String>,
    /// Classification.
    pub classification: Classification,
    /// Licence id.
    pub licence: Option<String>,
    /// Landing page.
    pub landing_page: Option<String>,
    /// Lifecycle status.
    pub status: DatasetStatus,
    /// The latest published version (0 if never published).
    pub version: i32,
    /// The reviewer's comment when returned.
    pub review_comment: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last modified.
    pub modified_at: Timestamp,
    /// First published.
    pub published_at: Option<Timestamp>,
}

/// Whether a distribution is a stored file or an external API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistributionKind {
    /// A file in the blob store.
    File,
    /// An external API endpoint.
    Api,
}

impl DistributionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }
}

/// A distribution as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distribution {
    /// Its id.
    pub id: DistributionId,
    /// Its dataset.
    pub dataset_id: DatasetId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// File or API.
    pub kind: DistributionKind,
    /// Format, e.g. `CSV`, `JSON`, `GeoJSON`.
    pub format: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes (files).
    pub byte_size: Option<i64>,
    /// SHA-256 (files).
    pub sha256: Option<String>,
    /// Blob key (files).
    #[serde(skip)]
    pub storage_key: Option<String>,
    /// Endpoint (APIs).
    pub access_url: Option<String>,
    /// Column schema.
    pub columns: Option<Vec<Column>>,
    /// Created.
    pub created_at: Timestamp,
    /// Last modified.
    pub modified_at: Timestamp,
    /// The version it was first published in; none while only a draft or a pending revision
    /// holds it (then nobody but the owning agency may obtain it).
    pub published_version: Option<i32>,
}

/// A published distribution's title, description and columns as a pending revision has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionChanges {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Column schema.
    pub columns: Option<Vec<Column>>,
}

impl Distribution {
    /// The `Content-Disposition` of a download of this distribution ([`content_disposition`]).
    pub fn content_disposition(&self) -> String {
        content_disposition(&self.title, &self.format)
    }
}

/// Characters outside RFC 8187's `attr-char`, percent-encoded in `filename*`.
const NOT_ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` per RFC 6266 for a download titled `title` in `format`:
/// the file name ([`download_names`]) in UTF-8 in `filename*`, its ASCII fallback in `filename`.
pub fn content_disposition(title: &str, format: &str) -> String {
    let (name, ascii) = download_names(title, format);
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&name, NOT_ATTR_CHAR)
    )
}

/// The file name a download is saved under: the title, cleaned of characters file systems
/// refuse (and of quotes and backslashes), with the format as the extension; and its ASCII
/// fallback for old clients.
pub fn download_names(title: &str, format: &str) -> (String, String) {
    let cleaned: String = title
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let stem: String = cleaned.trim().trim_matches('.').chars().take(120).collect();
    let stem = if stem.is_empty() { "data" } else { &stem };
    let name = format!("{stem}.{}", format.to_ascii_lowercase());
    let ascii = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (name, ascii)
}

impl DistributionChanges {
    /// The changes a distribution has as it stands.
    pub fn of(distribution: &Distribution) -> Self {
        Self {
            title: distribution.title.clone(),
            description: distribution.description.clone(),
            columns: distribution.columns.clone(),
        }
    }

    /// The distribution with these changes applied.
    pub fn apply(&self, distribution: &mut Distribution) {
        distribution.title.clone_from(&self.title);
        distribution.description.clone_from(&self.description);
        distribution.columns.clone_from(&self.columns);
    }
}

/// The pending revision of a published (or withdrawn) dataset: what its owning agency prepares
/// for the next version while the dataset's record stays the version the public sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// `Draft` or `InReview`.
    pub status: DatasetStatus,
    /// The metadata and classification of the next version.
    pub input: DatasetInput,
    /// Changes to distributions already published, by distribution id. (Distributions added in
    /// the revision are rows of their own, not yet published.)
    pub distribution_changes: std::collections::BTreeMap<String, DistributionChanges>,
    /// The reviewer's comment when returned.
    pub review_comment: Option<String>,
    /// Started.
    pub created_at: Timestamp,
    /// Last modified.
    pub modified_at: Timestamp,
}

impl Dataset {
    /// The title and description to show a reader of `language` (an ISO 639-1 code)
    /// ([`in_language`]).
    pub fn in_language(&self, language: &str) -> (&str, &str) {
        in_language(&self.title, &self.description, &self.translations, language)
    }

    /// Its editable metadata.
    pub fn input(&self) -> DatasetInput {
        DatasetInput {
            slug: Some(self.slug.clone()),
            title: self.title.clone(),
            description: self.description.clone(),
            translations: self.translations.clone(),
            keywords: self.keywords.clone(),
            themes: self.themes.clone(),
            contact_name: self.contact_name.clone(),
            contact_email: self.contact_email.clone(),
            spatial: self.spatial.clone(),
            temporal_start: self.temporal_start,
            temporal_end: self.temporal_end,
            update_frequency: self.update_frequency.clone(),
            languages: self.languages.clone(),
            resource_code: self.resource_code.clone(),
            classification: self.classification,
            licence: self.licence.clone(),
            landing_page: self.landing_page.clone(),
        }
    }

    /// The dataset as a pending revision would make it: the revision's metadata, status and
    /// comment (id, slug, version and publication date stay).
    pub fn revised(&self, revision: &Revision) -> Self {
        let input = &revision.input;
        Self {
            title: input.title.clone(),
            description: input.description.clone(),
            translations: input.translations.clone(),
            keywords: input.keywords.clone(),
            themes: input.themes.clone(),
            contact_name: input.contact_name.clone(),
            contact_email: input.contact_email.clone(),
            spatial: input.spatial.clone(),
            temporal_start: input.temporal_start,
            temporal_end: input.temporal_end,
            update_frequency: input.update_frequency.clone(),
            languages: input.languages.clone(),
            resource_code: input.resource_code.clone(),
            classification: input.classification,
            licence: input.licence.clone(),
            landing_page: input.landing_page.clone(),
            status: revision.status,
            review_comment: revision.review_comment.clone(),
            modified_at: revision.modified_at,
            ..self.clone()
        }
    }
}

/// A licence template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Licence {
    /// Its id, e.g. `CC-BY-4.0`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where its text is.
    pub url: String,
    /// Whether it is an open licence (usable for open data).
    pub open: bool,
}

/// A published version's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetVersion {
    /// The version number, from 1.
    pub version: i32,
    /// When it was published.
    pub published_at: Timestamp,
    /// Who published it (user id).
    pub published_by: String,
    /// The dataset and its distributions as published.
    pub snapshot: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_carry_the_title_in_utf8_and_a_safe_ascii_fallback() {
        let disposition = content_disposition("深圳 公交/站点: \"2025\"", "CSV");
        assert!(
            disposition.starts_with("attachment; filename=\"__ ______ _2025_.csv\""),
            "{disposition}"
        );
        assert!(
            disposition.contains("filename*=UTF-8''%E6%B7%B1%E5%9C%B3%20"),
            "{disposition}"
        );
        assert!(!disposition.contains('/'), "{disposition}");
        assert_eq!(
            content_disposition("..", "json"),
            "attachment; filename=\"data.json\"; filename*=UTF-8''data.json"
        );
        assert_eq!(
            content_disposition("bus-stops \\ 2025", "csv"),
            "attachment; filename=\"bus-stops _ 2025.csv\"; filename*=UTF-8''bus-stops%20_%202025.csv"
        );
    }

    #[test]
    fn a_revision_changes_the_metadata_and_status_but_not_the_identity_or_version() {
        let now = chrono::Utc::now();
        let input = DatasetInput {
            slug: Some("levels".into()),
            title: "Levels".into(),
            description: "River levels".into(),
            translations: Translations::new(),
            keywords: vec!["river".into()],
            themes: vec!["ENVI".into()],
            contact_name: None,
            contact_email: None,
            spatial: None,
            temporal_start: None,
            temporal_end: None,
            update_frequency: "daily".into(),
            languages: vec!["zh".into()],
            resource_code: None,
            classification: Classification {
                sharing: pdx_core::SharingClass::Conditional,
                opening: pdx_core::OpeningClass::Conditional,
                grade: pdx_core::DataGrade::General,
            },
            licence: None,
            landing_page: None,
        };
        let published = Dataset {
            id: DatasetId::new(),
            organization_id: OrganizationId::new(),
            slug: "levels".into(),
            title: input.title.clone(),
            description: input.description.clone(),
            translations: Translations::new(),
            keywords: input.keywords.clone(),
            themes: input.themes.clone(),
            contact_name: None,
            contact_email: None,
            spatial: None,
            temporal_start: None,
            temporal_end: None,
            update_frequency: input.update_frequency.clone(),
            languages: input.languages.clone(),
            resource_code: None,
            classification: input.classification,
            licence: None,
            landing_page: None,
            status: DatasetStatus::Published,
            version: 3,
            review_comment: None,
            created_at: now,
            modified_at: now,
            published_at: Some(now),
        };
        assert_eq!(published.input(), input);
        let mut next = input;
        next.slug = Some("renamed".into());
        next.title = "Levels v4".into();
        next.classification.opening = pdx_core::OpeningClass::Open;
        next.licence = Some("CC-BY-4.0".into());
        let revision = Revision {
            status: DatasetStatus::InReview,
            input: next,
            distribution_changes: std::collections::BTreeMap::new(),
            review_comment: None,
            created_at: now,
            modified_at: now + chrono::Duration::seconds(5),
        };
        let revised = published.revised(&revision);
        assert_eq!(
            (revised.id, revised.slug.as_str(), revised.version),
            (published.id, "levels", 3)
        );
        assert_eq!(revised.title, "Levels v4");
        assert_eq!(revised.classification.opening, pdx_core::OpeningClass::Open);
        assert_eq!(revised.status, DatasetStatus::InReview);
        assert_eq!(revised.modified_at, revision.modified_at);
    }

    #[test]
    fn lifecycle_allows_exactly_the_whitelisted_transitions() {
        use DatasetStatus::*;
        use LifecycleAction::*;
        let allowed = [
            (Edit, Draft, Draft),
            (Submit, Draft, InReview),
            (Publish, InReview, Published),
            (Return, InReview, Draft),
            (Withdraw, Published, Withdrawn),
            (Revise, Published, Draft),
            (Revise, Withdrawn, Draft),
        ];
        for action in [Edit, Submit, Publish, Return, Withdraw, Revise] {
            for from in DatasetStatus::ALL {
                let expected = allowed
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|(_, _, to)| *to);
                assert_eq!(action.apply(from), expected, "{action:?} from {from:?}");
            }
        }
    }
}
