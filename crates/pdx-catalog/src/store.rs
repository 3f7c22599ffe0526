//! Queries for datasets, their keywords and themes, distributions, versions and licences,
//! against `pdx_storage::schema`; callers compose them inside one transaction.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use pdx_core::{Classification, DatasetId, DistributionId, OrganizationId, Timestamp};
use pdx_storage::feed::{self, CatalogChange};
use pdx_storage::generation as state;
use pdx_storage::schema::{
    dataset_keywords, dataset_revisions, dataset_themes, dataset_versions, datasets, distributions,
    licences,
};
use pdx_storage::{DbConnection, StorageError};

use crate::error::CatalogError;
use crate::model::{
    Column, Dataset, DatasetInput, DatasetStatus, DatasetVersion, Distribution, DistributionKind,
    Licence, Revision,
};
use crate::text::index_text;

fn corrupt(column: &str) -> CatalogError {
    CatalogError::Storage(StorageError::CorruptRow(column.to_owned()))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = datasets)]
struct DatasetRow {
    id: String,
    organization_id: String,
    slug: String,
    title: String,
    description: String,
    translations: String,
    contact_name: Option<String>,
    contact_email: Option<String>,
    spatial: Option<String>,
    temporal_start: Option<NaiveDate>,
    temporal_end: Option<NaiveDate>,
    update_frequency: String,
    languages: String,
    resource_code: Option<String>,
    sharing_class: String,
    opening_class: String,
    grade: String,
    licence_id: Option<String>,
    landing_page: Option<String>,
    status: String,
    version: i32,
    review_comment: Option<String>,
    created_at: NaiveDateTime,
    modified_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
}

impl DatasetRow {
    fn into_dataset(
        self,
        keywords: Vec<String>,
        themes: Vec<String>,
    ) -> Result<Dataset, CatalogError> {
        Ok(Dataset {
            id: self.id.parse().map_err(|_| corrupt("datasets.id"))?,
            organization_id: self
                .organization_id
                .parse()
                .map_err(|_| corrupt("datasets.organization_id"))?,
            slug: self.slug,
            title: self.title,
            description: self.description,
            translations: serde_json::from_str(&self.translations)
                .map_err(|_| corrupt("datasets.translations"))?,
            keywords,
            themes,
            contact_name: self.contact_name,
            contact_email: self.contact_email,
            spatial: self.spatial,
            temporal_start: self.temporal_start,
            temporal_end: self.temporal_end,
            update_frequency: self.update_frequency,
            languages: self
                .languages
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            resource_code: self.resource_code,
            classification: Classification {
                sharing: self
                    .sharing_class
                    .parse()
                    .map_err(|_| corrupt("datasets.sharing_class"))?,
                opening: self
                    .opening_class
                    .parse()
                    .map_err(|_| corrupt("datasets.opening_class"))?,
                grade: self.grade.parse().map_err(|_| corrupt("datasets.grade"))?,
            },
            licence: self.licence_id,
            landing_page: self.landing_page,
            status: self
                .status
                .parse()
                .map_err(|_| corrupt("datasets.status"))?,
            version: self.version,
            review_comment: self.review_comment,
            created_at: self.created_at.and_utc(),
            modified_at: self.modified_at.and_utc(),
            published_at: self.published_at.map(|t| t.and_utc()),
        })
    }
}

/// Marks a dataset changed, inside the caller's transaction: views cached before are stale
/// from now on, and every process's search index re-indexes the dataset (`pdx_storage::feed`).
/// Every write below calls it.
fn changed(conn: &mut DbConnection, dataset: DatasetId) -> Result<(), CatalogError> {
    Ok(feed::record(
        conn,
        &CatalogChange::Dataset(dataset.to_string()),
    )?)
}

/// The blob store keys of every stored file, with their SHA-256 (for backups).
pub fn stored_files(
    conn: &mut DbConnection,
) -> Result<Vec<(String, Option<String>)>, StorageError> {
    Ok(distributions::table
        .filter(distributions::storage_key.is_not_null())
        .select((
            distributions::storage_key.assume_not_null(),
            distributions::sha256,
        ))
        .order(distributions::storage_key)
        .load(conn)?)
}

/// The catalog's current generation.
pub fn generation(conn: &mut DbConnection) -> Result<i64, CatalogError> {
    Ok(state::current(conn, state::CATALOG)?)
}

fn search_text(input: &DatasetInput) -> String {
    let keywords = input.keywords.join(" ");
    let mut parts = vec![input.title.as_str(), &input.description, &keywords];
    for translation in input.translations.values() {
        parts.push(&translation.title);
        parts.push(&translation.description);
    }
    index_text(&parts)
}

/// Inserts a new draft dataset.
pub fn insert_dataset(
    conn: &mut DbConnection,
    organization: OrganizationId,
    slug: &str,
    input: &DatasetInput,
    now: Timestamp,
) -> Result<DatasetId, CatalogError> {
    let id = DatasetId::new();
    let result = diesel::insert_into(datasets::table)
        .values((
            (
                datasets::id.eq(id.to_string()),
                datasets::organization_id.eq(organization.to_string()),
                datasets::slug.eq(slug),
                datasets::status.eq(DatasetStatus::Draft.as_str()),
                datasets::version.eq(0),
                datasets::created_at.eq(now.naive_utc()),
            ),
            metadata_columns(input, now),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match result {
        Ok(_) => {}
        Err(StorageError::UniqueViolation { .. }) => return Err(CatalogError::SlugTaken),
        Err(other) => return Err(other.into()),
    }
    changed(conn, id)?;
    replace_terms(conn, id, input)?;
    Ok(id)
}

/// The translations as stored: a JSON object by language code.
fn translations_json(input: &DatasetInput) -> String {
    serde_json::to_value(&input.translations)
        .map(|value| value.to_string())
        .unwrap_or_else(|_| "{}".to_owned())
}

#[allow(clippy::type_complexity, reason = "a diesel value tuple")]
fn metadata_columns(
    input: &DatasetInput,
    now: Timestamp,
) -> (
    (
        diesel::dsl::Eq<datasets::title, String>,
        diesel::dsl::Eq<datasets::description, String>,
        diesel::dsl::Eq<datasets::translations, String>,
        diesel::dsl::Eq<datasets::contact_name, Option<String>>,
        diesel::dsl::Eq<datasets::contact_email, Option<String>>,
        diesel::dsl::Eq<datasets::spatial, Option<String>>,
        diesel::dsl::Eq<datasets::temporal_start, Option<NaiveDate>>,
        diesel::dsl::Eq<datasets::temporal_end, Option<NaiveDate>>,
        diesel::dsl::Eq<datasets::update_frequency, String>,
    ),
    (
        diesel::dsl::Eq<datasets::languages, String>,
        diesel::dsl::Eq<datasets::resource_code, Option<String>>,
        diesel::dsl::Eq<datasets::sharing_class, &'static str>,
        diesel::dsl::Eq<datasets::opening_class, &'static str>,
        diesel::dsl::Eq<datasets::grade, &'static str>,
        diesel::dsl::Eq<datasets::licence_id, Option<String>>,
        diesel::dsl::Eq<datasets::landing_page, Option<String>>,
        diesel::dsl::Eq<datasets::search_text, String>,
        diesel::dsl::Eq<datasets::modified_at, NaiveDateTime>,
    ),
) {
    (
        (
            datasets::title.eq(input.title.clone()),
            datasets::description.eq(input.description.clone()),
            datasets::translations.eq(translations_json(input)),
            datasets::contact_name.eq(input.contact_name.clone()),
            datasets::contact_email.eq(input.contact_email.clone()),
            datasets::spatial.eq(input.spatial.clone()),
            datasets::temporal_start.eq(input.temporal_start),
            datasets::temporal_end.eq(input.temporal_end),
            datasets::update_frequency.eq(input.update_frequency.clone()),
        ),
        (
            datasets::languages.eq(input.languages.join(",")),
            datasets::resource_code.eq(input.resource_code.clone()),
            datasets::sharing_class.eq(input.classification.sharing.as_str()),
            datasets::opening_class.eq(input.classification.opening.as_str()),
            datasets::grade.eq(input.classification.grade.as_str()),
            datasets::licence_id.eq(input.licence.clone()),
            datasets::landing_page.eq(input.landing_page.clone()),
            datasets::search_text.eq(search_text(input)),
            datasets::modified_at.eq(now.naive_utc()),
        ),
    )
}

fn replace_terms(
    conn: &mut DbConnection,
    id: DatasetId,
    input: &DatasetInput,
) -> Result<(), CatalogError> {
    let key = id.to_string();
    diesel::delete(dataset_keywords::table.filter(dataset_keywords::dataset_id.eq(&key)))
        .execute(conn)?;
    diesel::delete(dataset_themes::table.filter(dataset_themes::dataset_id.eq(&key)))
        .execute(conn)?;
    for keyword in &input.keywords {
        diesel::insert_into(dataset_keywords::table)
            .values((
                dataset_keywords::dataset_id.eq(&key),
                dataset_keywords::keyword.eq(keyword),
            ))
            .execute(conn)?;
    }
    for theme in &input.themes {
        diesel::insert_into(dataset_themes::table)
            .values((
                dataset_themes::dataset_id.eq(&key),
                dataset_themes::theme.eq(theme),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces a dataset's editable metadata (the slug stays).
pub fn update_dataset(
    conn: &mut DbConnection,
    id: DatasetId,
    input: &DatasetInput,
    now: Timestamp,
) -> Result<(), CatalogError> {
    diesel::update(datasets::table.find(id.to_string()))
        .set(metadata_columns(input, now))
        .execute(conn)?;
    changed(conn, id)?;
    replace_terms(conn, id, input)
}

/// Moves a dataset to a new status, with the reviewer's comment (or none) and, on publication,
/// the new version number.
pub fn set_status(
    conn: &mut DbConnection,
    id: DatasetId,
    status: DatasetStatus,
    comment: Option<&str>,
    version: Option<i32>,
    now: Timestamp,
) -> Result<(), CatalogError> {
    let key = id.to_string();
    diesel::update(datasets::table.find(&key))
        .set((
            datasets::status.eq(status.as_str()),
            datasets::review_comment.eq(comment),
            datasets::modified_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    changed(conn, id)?;
    if let Some(version) = version {
        diesel::update(datasets::table.find(&key))
            .set(datasets::version.eq(version))
            .execute(conn)?;
        diesel::update(
            datasets::table
                .find(&key)
                .filter(datasets::published_at.is_null()),
        )
        .set(datasets::published_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    }
    Ok(())
}

/// Marks a dataset modified (e.g. when a distribution changes).
pub fn touch(conn: &mut DbConnection, id: DatasetId, now: Timestamp) -> Result<(), CatalogError> {
    diesel::update(datasets::table.find(id.to_string()))
        .set(datasets::modified_at.eq(now.naive_utc()))
        .execute(conn)?;
    changed(conn, id)?;
    Ok(())
}

/// Deletes a dataset and (by cascade) its terms, distributions and versions.
pub fn delete_dataset(conn: &mut DbConnection, id: DatasetId) -> Result<(), CatalogError> {
    diesel::delete(datasets::table.find(id.to_string())).execute(conn)?;
    changed(conn, id)?;
    Ok(())
}

fn terms(conn: &mut DbConnection, key: &str) -> Result<(Vec<String>, Vec<String>), CatalogError> {
    let keywords = dataset_keywords::table
        .filter(dataset_keywords::dataset_id.eq(key))
        .select(dataset_keywords::keyword)
        .order(dataset_keywords::keyword.asc())
        .load(conn)?;
    let themes = dataset_themes::table
        .filter(dataset_themes::dataset_id.eq(key))
        .select(dataset_themes::theme)
        .order(dataset_themes::theme.asc())
        .load(conn)?;
    Ok((keywords, themes))
}

/// The dataset with this id, or slug.
pub fn find_dataset(conn: &mut DbConnection, id_or_slug: &str) -> Result<Dataset, CatalogError> {
    let row: Option<DatasetRow> = match id_or_slug.parse::<DatasetId>() {
        Ok(id) => datasets::table
            .find(id.to_string())
            .select(DatasetRow::as_select())
            .first(conn)
            .optional()?,
        Err(_) => datasets::table
            .filter(datasets::slug.eq(id_or_slug))
            .select(DatasetRow::as_select())
            .first(conn)
            .optional()?,
    };
    let row = row.ok_or(CatalogError::DatasetNotFound)?;
    let (keywords, themes) = terms(conn, &row.id)?;
    row.into_dataset(keywords, themes)
}

/// Datasets by id, in the order given (missing ids are skipped).
pub fn datasets_by_ids(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<Dataset>, CatalogError> {
    let rows: Vec<DatasetRow> = datasets::table
        .filter(datasets::id.eq_any(ids))
        .select(DatasetRow::as_select())
        .load(conn)?;
    let mut keywords: Vec<(String, String)> = dataset_keywords::table
        .filter(dataset_keywords::dataset_id.eq_any(ids))
        .select((dataset_keywords::dataset_id, dataset_keywords::keyword))
        .load(conn)?;
    let mut themes: Vec<(String, String)> = dataset_themes::table
        .filter(dataset_themes::dataset_id.eq_any(ids))
        .select((dataset_themes::dataset_id, dataset_themes::theme))
        .load(conn)?;
    keywords.sort();
    themes.sort();
    let group = |terms: Vec<(String, String)>| {
        let mut grouped: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (dataset, term) in terms {
            grouped.entry(dataset).or_default().push(term);
        }
        grouped
    };
    let (mut keywords, mut themes) = (group(keywords), group(themes));
    let mut by_id = std::collections::HashMap::new();
    for row in rows {
        let own_keywords = keywords.remove(&row.id).unwrap_or_default();
        let own_themes = themes.remove(&row.id).unwrap_or_default();
        let dataset = row.into_dataset(own_keywords, own_themes)?;
        by_id.insert(dataset.id.to_string(), dataset);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Ids of published datasets after `after` in id order, at most `limit`: the search index is
/// rebuilt from them page by page.
pub fn published_ids_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, CatalogError> {
    Ok(datasets::table
        .filter(datasets::status.eq(DatasetStatus::Published.as_str()))
        .filter(datasets::id.gt(after))
        .select(datasets::id)
        .order(datasets::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// How many datasets are published.
pub fn published_count(conn: &mut DbConnection) -> Result<u64, CatalogError> {
    let count: i64 = datasets::table
        .filter(datasets::status.eq(DatasetStatus::Published.as_str()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Ids of an organisation's datasets in any status.
pub fn dataset_ids_of(
    conn: &mut DbConnection,
    organization: &str,
) -> Result<Vec<String>, CatalogError> {
    Ok(datasets::table
        .filter(datasets::organization_id.eq(organization))
        .select(datasets::id)
        .load(conn)?)
}

/// Every dataset slug with its status, for listings such as CKAN's `package_list`.
pub fn published_slugs(
    conn: &mut DbConnection,
    offset: i64,
    limit: i64,
) -> Result<Vec<String>, CatalogError> {
    Ok(datasets::table
        .filter(datasets::status.eq(DatasetStatus::Published.as_str()))
        .select(datasets::slug)
        .order(datasets::slug.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// Datasets of one organisation in any status, newest change first.
pub fn datasets_of(
    conn: &mut DbConnection,
    organization: OrganizationId,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Dataset>, i64), CatalogError> {
    let filter = datasets::organization_id.eq(organization.to_string());
    let total: i64 = datasets::table
        .filter(filter.clone())
        .count()
        .get_result(conn)?;
    let ids: Vec<String> = datasets::table
        .filter(filter)
        .select(datasets::id)
        .order((datasets::modified_at.desc(), datasets::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    Ok((datasets_by_ids(conn, &ids)?, total))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = distributions)]
struct DistributionRow {
    id: String,
    dataset_id: String,
    title: String,
    description: Option<String>,
    kind: String,
    format: String,
    media_type: String,
    byte_size: Option<i64>,
    sha256: Option<String>,
    storage_key: Option<String>,
    access_url: Option<String>,
    column_schema: Option<String>,
    created_at: NaiveDateTime,
    modified_at: NaiveDateTime,
    published_version: Option<i32>,
}

impl DistributionRow {
    fn into_distribution(self) -> Result<Distribution, CatalogError> {
        Ok(Distribution {
            id: self.id.parse().map_err(|_| corrupt("distributions.id"))?,
            dataset_id: self
                .dataset_id
                .parse()
                .map_err(|_| corrupt("distributions.dataset_id"))?,
            title: self.title,
            description: self.description,
            kind: match self.kind.as_str() {
                "file" => DistributionKind::File,
                "api" => DistributionKind::Api,
                _ => return Err(corrupt("distributions.kind")),
            },
            format: self.format,
            media_type: self.media_type,
            byte_size: self.byte_size,
            sha256: self.sha256,
            storage_key: self.storage_key,
            access_url: self.access_url,
            columns: self
                .column_schema
                .map(|json| serde_json::from_str::<Vec<Column>>(&json))
                .transpose()
                .map_err(|_| corrupt("distributions.column_schema"))?,
            created_at: self.created_at.and_utc(),
            modified_at: self.modified_at.and_utc(),
            published_version: self.published_version,
        })
    }
}

/// Inserts a distribution.
pub fn insert_distribution(
    conn: &mut DbConnection,
    distribution: &Distribution,
) -> Result<(), CatalogError> {
    let columns = distribution
        .columns
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| CatalogError::invalid("columns", e.to_string()))?;
    diesel::insert_into(distributions::table)
        .values((
            (
                distributions::id.eq(distribution.id.to_string()),
                distributions::dataset_id.eq(distribution.dataset_id.to_string()),
                distributions::title.eq(&distribution.title),
                distributions::description.eq(&distribution.description),
                distributions::kind.eq(distribution.kind.as_str()),
                distributions::format.eq(&distribution.format),
                distributions::media_type.eq(&distribution.media_type),
            ),
            (
                distributions::byte_size.eq(distribution.byte_size),
                distributions::sha256.eq(&distribution.sha256),
                distributions::storage_key.eq(&distribution.storage_key),
                distributions::access_url.eq(&distribution.access_url),
                distributions::column_schema.eq(columns),
                distributions::created_at.eq(distribution.created_at.naive_utc()),
                distributions::modified_at.eq(distribution.modified_at.naive_utc()),
                distributions::published_version.eq(distribution.published_version),
            ),
        ))
        .execute(conn)?;
    changed(conn, distribution.dataset_id)?;
    Ok(())
}

/// Changes a distribution's title, description and column schema.
pub fn update_distribution(
    conn: &mut DbConnection,
    dataset: DatasetId,
    id: DistributionId,
    title: &str,
    description: Option<&str>,
    columns: Option<&[Column]>,
    now: Timestamp,
) -> Result<(), CatalogError> {
    let columns = columns
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| CatalogError::invalid("columns", e.to_string()))?;
    diesel::update(distributions::table.find(id.to_string()))
        .set((
            distributions::title.eq(title),
            distributions::description.eq(description),
            distributions::column_schema.eq(columns),
            distributions::modified_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    changed(conn, dataset)?;
    Ok(())
}

/// The distribution with this id.
pub fn find_distribution(
    conn: &mut DbConnection,
    id: DistributionId,
) -> Result<Distribution, CatalogError> {
    distributions::table
        .find(id.to_string())
        .select(DistributionRow::as_select())
        .first::<DistributionRow>(conn)
        .optional()?
        .ok_or(CatalogError::DistributionNotFound)?
        .into_distribution()
}

/// The distributions of datasets, oldest first.
pub fn distributions_of(
    conn: &mut DbConnection,
    datasets: &[String],
) -> Result<Vec<Distribution>, CatalogError> {
    let rows: Vec<DistributionRow> = distributions::table
        .filter(distributions::dataset_id.eq_any(datasets))
        .select(DistributionRow::as_select())
        .order((distributions::created_at.asc(), distributions::id.asc()))
        .load(conn)?;
    rows.into_iter()
        .map(DistributionRow::into_distribution)
        .collect()
}

/// The distributions of datasets that a published version holds, oldest first: what the
/// public sees of them (one added in a pending revision is not among them).
pub fn published_distributions_of(
    conn: &mut DbConnection,
    datasets: &[String],
) -> Result<Vec<Distribution>, CatalogError> {
    let rows: Vec<DistributionRow> = distributions::table
        .filter(distributions::dataset_id.eq_any(datasets))
        .filter(distributions::published_version.is_not_null())
        .select(DistributionRow::as_select())
        .order((distributions::created_at.asc(), distributions::id.asc()))
        .load(conn)?;
    rows.into_iter()
        .map(DistributionRow::into_distribution)
        .collect()
}

/// Marks a dataset's distributions that no version held yet as published in `version`.
pub fn publish_distributions(
    conn: &mut DbConnection,
    dataset: DatasetId,
    version: i32,
) -> Result<(), CatalogError> {
    diesel::update(
        distributions::table
            .filter(distributions::dataset_id.eq(dataset.to_string()))
            .filter(distributions::published_version.is_null()),
    )
    .set(distributions::published_version.eq(Some(version)))
    .execute(conn)?;
    changed(conn, dataset)?;
    Ok(())
}

/// Deletes a distribution.
pub fn delete_distribution(
    conn: &mut DbConnection,
    dataset: DatasetId,
    id: DistributionId,
) -> Result<(), CatalogError> {
    diesel::delete(distributions::table.find(id.to_string())).execute(conn)?;
    changed(conn, dataset)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = dataset_revisions)]
struct RevisionRow {
    dataset_id: String,
    status: String,
    metadata: String,
    distribution_changes: String,
    review_comment: Option<String>,
    created_at: NaiveDateTime,
    modified_at: NaiveDateTime,
}

impl RevisionRow {
    fn into_revision(self) -> Result<(String, Revision), CatalogError> {
        let revision = Revision {
            status: self
                .status
                .parse()
                .map_err(|_| corrupt("dataset_revisions.status"))?,
            input: serde_json::from_str(&self.metadata)
                .map_err(|_| corrupt("dataset_revisions.metadata"))?,
            distribution_changes: serde_json::from_str(&self.distribution_changes)
                .map_err(|_| corrupt("dataset_revisions.distribution_changes"))?,
            review_comment: self.review_comment,
            created_at: self.created_at.and_utc(),
            modified_at: self.modified_at.and_utc(),
        };
        Ok((self.dataset_id, revision))
    }
}

/// The pending revision of a dataset, if one is under way.
pub fn find_revision(
    conn: &mut DbConnection,
    dataset: DatasetId,
) -> Result<Option<Revision>, CatalogError> {
    dataset_revisions::table
        .find(dataset.to_string())
        .select(RevisionRow::as_select())
        .first::<RevisionRow>(conn)
        .optional()?
        .map(|row| row.into_revision().map(|(_, revision)| revision))
        .transpose()
}

/// The pending revisions of datasets, by dataset id.
pub fn revisions_of(
    conn: &mut DbConnection,
    datasets: &[String],
) -> Result<std::collections::HashMap<String, Revision>, CatalogError> {
    let rows: Vec<RevisionRow> = dataset_revisions::table
        .filter(dataset_revisions::dataset_id.eq_any(datasets))
        .select(RevisionRow::as_select())
        .load(conn)?;
    rows.into_iter().map(RevisionRow::into_revision).collect()
}

/// Stores a dataset's pending revision, replacing the one there was.
pub fn save_revision(
    conn: &mut DbConnection,
    dataset: DatasetId,
    revision: &Revision,
) -> Result<(), CatalogError> {
    let metadata = serde_json::to_string(&revision.input)
        .map_err(|e| CatalogError::invalid("metadata", e.to_string()))?;
    let changes = serde_json::to_string(&revision.distribution_changes)
        .map_err(|e| CatalogError::invalid("distributions", e.to_string()))?;
    let key = dataset.to_string();
    diesel::delete(dataset_revisions::table.find(&key)).execute(conn)?;
    diesel::insert_into(dataset_revisions::table)
        .values((
            dataset_revisions::dataset_id.eq(&key),
            dataset_revisions::status.eq(revision.status.as_str()),
            dataset_revisions::metadata.eq(metadata),
            dataset_revisions::distribution_changes.eq(changes),
            dataset_revisions::review_comment.eq(&revision.review_comment),
            dataset_revisions::created_at.eq(revision.created_at.naive_utc()),
            dataset_revisions::modified_at.eq(revision.modified_at.naive_utc()),
        ))
        .execute(conn)?;
    changed(conn, dataset)?;
    Ok(())
}

/// Removes a dataset's pending revision (once published).
pub fn delete_revision(conn: &mut DbConnection, dataset: DatasetId) -> Result<(), CatalogError> {
    diesel::delete(dataset_revisions::table.find(dataset.to_string())).execute(conn)?;
    changed(conn, dataset)?;
    Ok(())
}

/// Records a published version's snapshot.
pub fn insert_version(
    conn: &mut DbConnection,
    dataset: DatasetId,
    version: i32,
    published_by: &str,
    snapshot: &serde_json::Value,
    now: Timestamp,
) -> Result<(), CatalogError> {
    diesel::insert_into(dataset_versions::table)
        .values((
            dataset_versions::dataset_id.eq(dataset.to_string()),
            dataset_versions::version.eq(version),
            dataset_versions::published_at.eq(now.naive_utc()),
            dataset_versions::published_by.eq(published_by),
            dataset_versions::snapshot.eq(snapshot.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every published version of a dataset, newest first.
pub fn versions_of(
    conn: &mut DbConnection,
    dataset: DatasetId,
) -> Result<Vec<DatasetVersion>, CatalogError> {
    let rows: Vec<(i32, NaiveDateTime, String, String)> = dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset.to_string()))
        .select((
            dataset_versions::version,
            dataset_versions::published_at,
            dataset_versions::published_by,
            dataset_versions::snapshot,
        ))
        .order(dataset_versions::version.desc())
        .load(conn)?;
    rows.into_iter()
        .map(|(version, published_at, published_by, snapshot)| {
            Ok(DatasetVersion {
                version,
                published_at: published_at.and_utc(),
                published_by,
                snapshot: serde_json::from_str(&snapshot)
                    .map_err(|_| corrupt("dataset_versions.snapshot"))?,
            })
        })
        .collect()
}

/// Keywords of published datasets, optionally containing `query`, alphabetically.
pub fn published_keywords(
    conn: &mut DbConnection,
    query: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, CatalogError> {
    let mut statement = dataset_keywords::table
        .inner_join(datasets::table)
        .filter(datasets::status.eq(DatasetStatus::Published.as_str()))
        .select(dataset_keywords::keyword)
        .distinct()
        .order(dataset_keywords::keyword.asc())
        .limit(limit)
        .into_boxed();
    if let Some(query) = query.map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        statement = statement.filter(
            dataset_keywords::keyword
                .like(format!("%{escaped}%"))
                .escape('\\'),
        );
    }
    Ok(statement.load(conn)?)
}

/// How many published datasets each organisation has.
pub fn published_counts(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, CatalogError> {
    use diesel::dsl::count_star;
    Ok(datasets::table
        .filter(datasets::status.eq(DatasetStatus::Published.as_str()))
        .group_by(datasets::organization_id)
        .select((datasets::organization_id, count_star()))
        .load(conn)?)
}

/// Every licence, by id.
pub fn licences(conn: &mut DbConnection) -> Result<Vec<Licence>, CatalogError> {
    let rows: Vec<(String, String, String, bool)> = licences::table
        .select((licences::id, licences::title, licences::url, licences::open))
        .order(licences::id.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, title, url, open)| Licence {
            id,
            title,
            url,
            open,
        })
        .collect())
}
