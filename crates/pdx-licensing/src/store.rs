//! Queries for offers, access requests, grants and licence policies.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{AccessRequestId, DatasetId, DistributionId, GrantId, OrganizationId, Timestamp};
use pdx_rows::mask::ColumnRules;
use pdx_storage::generation as state;
use pdx_storage::schema::{access_requests, datasets, grants, licences, offers};
use pdx_storage::{DbConnection, StorageError};

use crate::error::LicensingError;
use crate::model::{AccessRequest, Grant, GrantState, Offer, RequestStatus};

fn corrupt(column: &str) -> LicensingError {
    LicensingError::Storage(StorageError::CorruptRow(column.to_owned()))
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn rules(text: Option<&str>, column: &str) -> Result<Option<ColumnRules>, LicensingError> {
    text.map(|t| serde_json::from_str(t).map_err(|_| corrupt(column)))
        .transpose()
}

fn rules_text(rules: Option<&ColumnRules>) -> Option<String> {
    rules.and_then(|r| serde_json::to_string(r).ok())
}

/// A licence's stored policy document.
pub fn licence_policy(
    conn: &mut DbConnection,
    id: &str,
) -> Result<serde_json::Value, LicensingError> {
    let text: String = licences::table
        .find(id)
        .select(licences::policy)
        .first(conn)
        .optional()?
        .ok_or(LicensingError::LicenceNotFound)?;
    serde_json::from_str(&text).map_err(|_| corrupt("licences.policy"))
}

/// Adds a (development-use) licence with its policy.
pub fn insert_licence(
    conn: &mut DbConnection,
    id: &str,
    title: &str,
    url: &str,
    policy: &serde_json::Value,
    now: Timestamp,
) -> Result<(), LicensingError> {
    let inserted = diesel::insert_into(licences::table)
        .values((
            licences::id.eq(id),
            licences::title.eq(title),
            licences::url.eq(url),
            licences::open.eq(false),
            licences::created_at.eq(now.naive_utc()),
            licences::policy.eq(policy.to_string()),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match inserted {
        Ok(_) => Ok(state::bump(conn, state::LICENSING)?),
        Err(StorageError::UniqueViolation { .. }) => Err(LicensingError::LicenceTaken),
        Err(other) => Err(other.into()),
    }
}

type OfferRow = (
    String,
    String,
    String,
    i32,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    NaiveDateTime,
    Option<String>,
);

/// The offer of a dataset, if one is set.
pub fn offer(conn: &mut DbConnection, dataset: DatasetId) -> Result<Option<Offer>, LicensingError> {
    let row: Option<OfferRow> = offers::table
        .find(dataset.to_string())
        .select((
            offers::dataset_id,
            offers::licence_id,
            offers::purposes,
            offers::max_term_days,
            offers::max_requests,
            offers::max_bytes,
            offers::max_rows,
            offers::fee_per_request,
            offers::fee_per_mb,
            offers::updated_at,
            offers::column_rules,
        ))
        .first(conn)
        .optional()?;
    row.map(|r| {
        Ok(Offer {
            dataset_id: r.0.parse().map_err(|_| corrupt("offers.dataset_id"))?,
            licence_id: r.1,
            purposes: list(&r.2),
            max_term_days: r.3,
            max_requests: r.4,
            max_bytes: r.5,
            max_rows: r.6,
            fee_per_request: r.7,
            fee_per_mb: r.8,
            updated_at: r.9.and_utc(),
            column_rules: rules(r.10.as_deref(), "offers.column_rules")?,
        })
    })
    .transpose()
}

/// Sets (replaces) the offer of a dataset.
pub fn put_offer(conn: &mut DbConnection, offer: &Offer) -> Result<(), LicensingError> {
    let key = offer.dataset_id.to_string();
    diesel::delete(offers::table.find(&key)).execute(conn)?;
    diesel::insert_into(offers::table)
        .values((
            offers::dataset_id.eq(&key),
            offers::licence_id.eq(&offer.licence_id),
            offers::purposes.eq(offer.purposes.join(",")),
            offers::max_term_days.eq(offer.max_term_days),
            offers::max_requests.eq(offer.max_requests),
            offers::max_bytes.eq(offer.max_bytes),
            offers::max_rows.eq(offer.max_rows),
            offers::fee_per_request.eq(offer.fee_per_request),
            offers::fee_per_mb.eq(offer.fee_per_mb),
            offers::updated_at.eq(offer.updated_at.naive_utc()),
            offers::column_rules.eq(rules_text(offer.column_rules.as_ref())),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = access_requests)]
struct RequestRow {
    id: String,
    dataset_id: String,
    organization_id: String,
    user_id: String,
    purpose: String,
    statement: String,
    term_days: i32,
    status: String,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    decision_reason: Option<String>,
    grant_id: Option<String>,
    created_at: NaiveDateTime,
    distributions: String,
}

fn distribution_ids(text: &str, column: &str) -> Result<Vec<DistributionId>, LicensingError> {
    list(text)
        .iter()
        .map(|d| d.parse().map_err(|_| corrupt(column)))
        .collect()
}

fn distribution_text(ids: &[DistributionId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl RequestRow {
    fn into_request(self) -> Result<AccessRequest, LicensingError> {
        Ok(AccessRequest {
            id: self.id.parse().map_err(|_| corrupt("access_requests.id"))?,
            dataset_id: self
                .dataset_id
                .parse()
                .map_err(|_| corrupt("access_requests.dataset_id"))?,
            organization_id: self
                .organization_id
                .parse()
                .map_err(|_| corrupt("access_requests.organization_id"))?,
            user_id: self
                .user_id
                .parse()
                .map_err(|_| corrupt("access_requests.user_id"))?,
            purpose: self.purpose,
            statement: self.statement,
            term_days: self.term_days,
            status: RequestStatus::parse(&self.status)
                .ok_or_else(|| corrupt("access_requests.status"))?,
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(|t| t.and_utc()),
            decision_reason: self.decision_reason,
            grant_id: self
                .grant_id
                .map(|g| g.parse())
                .transpose()
                .map_err(|_| corrupt("access_requests.grant_id"))?,
            created_at: self.created_at.and_utc(),
            distributions: distribution_ids(&self.distributions, "access_requests.distributions")?,
        })
    }
}

/// Records a submitted request.
pub fn insert_request(
    conn: &mut DbConnection,
    request: &AccessRequest,
) -> Result<(), LicensingError> {
    diesel::insert_into(access_requests::table)
        .values((
            access_requests::id.eq(request.id.to_string()),
            access_requests::dataset_id.eq(request.dataset_id.to_string()),
            access_requests::organization_id.eq(request.organization_id.to_string()),
            access_requests::user_id.eq(request.user_id.to_string()),
            access_requests::purpose.eq(&request.purpose),
            access_requests::statement.eq(&request.statement),
            access_requests::term_days.eq(request.term_days),
            access_requests::status.eq(request.status.as_str()),
            access_requests::created_at.eq(request.created_at.naive_utc()),
            access_requests::distributions.eq(distribution_text(&request.distributions)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The request with this id.
pub fn find_request(
    conn: &mut DbConnection,
    id: AccessRequestId,
) -> Result<AccessRequest, LicensingError> {
    access_requests::table
        .find(id.to_string())
        .select(RequestRow::as_select())
        .first::<RequestRow>(conn)
        .optional()?
        .ok_or(LicensingError::RequestNotFound)?
        .into_request()
}

/// Requests made by an organisation, or (with `queue`) made for an agency's datasets; newest first.
pub fn list_requests(
    conn: &mut DbConnection,
    org: OrganizationId,
    queue: bool,
) -> Result<Vec<AccessRequest>, LicensingError> {
    let rows: Vec<RequestRow> = if queue {
        access_requests::table
            .inner_join(datasets::table.on(datasets::id.eq(access_requests::dataset_id)))
            .filter(datasets::organization_id.eq(org.to_string()))
            .select(RequestRow::as_select())
            .order(access_requests::id.desc())
            .load(conn)?
    } else {
        access_requests::table
            .filter(access_requests::organization_id.eq(org.to_string()))
            .select(RequestRow::as_select())
            .order(access_requests::id.desc())
            .load(conn)?
    };
    rows.into_iter().map(RequestRow::into_request).collect()
}

/// Moves a submitted request to its decision; fails if it was no longer submitted.
pub fn decide_request(
    conn: &mut DbConnection,
    id: AccessRequestId,
    status: RequestStatus,
    by: &str,
    reason: Option<&str>,
    grant: Option<GrantId>,
    now: Timestamp,
) -> Result<bool, LicensingError> {
    let changed = diesel::update(
        access_requests::table
            .filter(access_requests::id.eq(id.to_string()))
            .filter(access_requests::status.eq(RequestStatus::Submitted.as_str())),
    )
    .set((
        access_requests::status.eq(status.as_str()),
        access_requests::decided_by.eq(by),
        access_requests::decided_at.eq(Some(now.naive_utc())),
        access_requests::decision_reason.eq(reason),
        access_requests::grant_id.eq(grant.map(|g| g.to_string())),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = grants)]
struct GrantRow {
    id: String,
    dataset_id: String,
    organization_id: String,
    licence_id: String,
    request_id: Option<String>,
    valid_from: NaiveDateTime,
    valid_until: NaiveDateTime,
    purposes: String,
    max_requests: Option<i64>,
    max_bytes: Option<i64>,
    max_rows: Option<i64>,
    fee_per_request: i64,
    fee_per_mb: i64,
    status: String,
    status_reason: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    distributions: String,
    column_rules: Option<String>,
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant, LicensingError> {
        Ok(Grant {
            id: self.id.parse().map_err(|_| corrupt("grants.id"))?,
            dataset_id: self
                .dataset_id
                .parse()
                .map_err(|_| corrupt("grants.dataset_id"))?,
            organization_id: self
                .organization_id
                .parse()
                .map_err(|_| corrupt("grants.organization_id"))?,
            licence_id: self.licence_id,
            request_id: self
                .request_id
                .map(|r| r.parse())
                .transpose()
                .map_err(|_| corrupt("grants.request_id"))?,
            valid_from: self.valid_from.and_utc(),
            valid_until: self.valid_until.and_utc(),
            purposes: list(&self.purposes),
            max_requests: self.max_requests,
            max_bytes: self.max_bytes,
            max_rows: self.max_rows,
            fee_per_request: self.fee_per_request,
            fee_per_mb: self.fee_per_mb,
            state: GrantState::parse(&self.status).ok_or_else(|| corrupt("grants.status"))?,
            status_reason: self.status_reason,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
            distributions: distribution_ids(&self.distributions, "grants.distributions")?,
            column_rules: rules(self.column_rules.as_deref(), "grants.column_rules")?,
        })
    }
}

/// Records a grant.
pub fn insert_grant(conn: &mut DbConnection, grant: &Grant) -> Result<(), LicensingError> {
    diesel::insert_into(grants::table)
        .values((
            (
                grants::id.eq(grant.id.to_string()),
                grants::dataset_id.eq(grant.dataset_id.to_string()),
                grants::organization_id.eq(grant.organization_id.to_string()),
                grants::licence_id.eq(&grant.licence_id),
                grants::request_id.eq(grant.request_id.map(|r| r.to_string())),
                grants::valid_from.eq(grant.valid_from.naive_utc()),
                grants::valid_until.eq(grant.valid_until.naive_utc()),
                grants::purposes.eq(grant.purposes.join(",")),
            ),
            (
                grants::max_requests.eq(grant.max_requests),
                grants::max_bytes.eq(grant.max_bytes),
                grants::max_rows.eq(grant.max_rows),
                grants::fee_per_request.eq(grant.fee_per_request),
                grants::fee_per_mb.eq(grant.fee_per_mb),
                grants::status.eq(grant.state.as_str()),
                grants::created_at.eq(grant.created_at.naive_utc()),
                grants::updated_at.eq(grant.updated_at.naive_utc()),
                grants::distributions.eq(distribution_text(&grant.distributions)),
                grants::column_rules.eq(rules_text(grant.column_rules.as_ref())),
            ),
        ))
        .execute(conn)?;
    state::bump(conn, state::LICENSING)?;
    Ok(())
}

/// The grant with this id.
pub fn find_grant(conn: &mut DbConnection, id: GrantId) -> Result<Grant, LicensingError> {
    grants::table
        .find(id.to_string())
        .select(GrantRow::as_select())
        .first::<GrantRow>(conn)
        .optional()?
        .ok_or(LicensingError::GrantNotFound)?
        .into_grant()
}

/// Which grants to list.
#[derive(Debug, Clone, Copy)]
pub enum GrantScope {
    /// Grants held by this organisation.
    Consumer(OrganizationId),
    /// Grants on this agency's datasets.
    Owner(OrganizationId),
    /// Every grant (auditors).
    All,
}

/// Grants in a scope, optionally of one dataset; newest first.
pub fn list_grants(
    conn: &mut DbConnection,
    scope: GrantScope,
    dataset: Option<DatasetId>,
) -> Result<Vec<Grant>, LicensingError> {
    let mut query = grants::table
        .inner_join(datasets::table.on(datasets::id.eq(grants::dataset_id)))
        .select(GrantRow::as_select())
        .order(grants::id.desc())
        .into_boxed();
    query = match scope {
        GrantScope::Consumer(org) => query.filter(grants::organization_id.eq(org.to_string())),
        GrantScope::Owner(org) => query.filter(datasets::organization_id.eq(org.to_string())),
        GrantScope::All => query,
    };
    if let Some(dataset) = dataset {
        query = query.filter(grants::dataset_id.eq(dataset.to_string()));
    }
    let rows: Vec<GrantRow> = query.load(conn)?;
    rows.into_iter().map(GrantRow::into_grant).collect()
}

/// Changes a grant's stored state.
pub fn set_grant_state(
    conn: &mut DbConnection,
    id: GrantId,
    state: GrantState,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(), LicensingError> {
    diesel::update(grants::table.find(id.to_string()))
        .set((
            grants::status.eq(state.as_str()),
            grants::status_reason.eq(reason),
            grants::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    state::bump(conn, state::LICENSING)?;
    Ok(())
}

/// Grants whose term has passed and whose expiry is not yet recorded (revoked ones excluded).
pub fn unrecorded_expiries(
    conn: &mut DbConnection,
    now: Timestamp,
) -> Result<Vec<Grant>, LicensingError> {
    let rows: Vec<GrantRow> = grants::table
        .filter(grants::valid_until.le(now.naive_utc()))
        .filter(grants::expiry_recorded.eq(false))
        .filter(grants::status.ne(GrantState::Revoked.as_str()))
        .select(GrantRow::as_select())
        .order(grants::valid_until.asc())
        .limit(500)
        .load(conn)?;
    rows.into_iter().map(GrantRow::into_grant).collect()
}

/// Marks a grant's expiry as recorded.
pub fn mark_expiry_recorded(conn: &mut DbConnection, id: GrantId) -> Result<(), LicensingError> {
    diesel::update(grants::table.find(id.to_string()))
        .set(grants::expiry_recorded.eq(true))
        .execute(conn)?;
    Ok(())
}
