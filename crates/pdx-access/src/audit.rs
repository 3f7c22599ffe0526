//! The audit trail of access control: sign-ins, role changes, key changes and the like.
//! Events live in `audit_events` until the circulation ledger takes them over.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{AuditEventId, OrganizationId, Timestamp, UserId};
use pdx_storage::DbConnection;
use pdx_storage::schema::audit_events;
use serde::Serialize;

use crate::error::AccessError;

/// What the request that caused an event came with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id.
    pub request_id: Option<String>,
    /// The client's network address.
    pub client_address: Option<String>,
}

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and refused.
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The kinds of auditable event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A password sign-in (success or failure).
    SignIn,
    /// An API key exchanged for a token (success or failure).
    ClientCredentials,
    /// A used refresh token was presented again; its family was revoked.
    RefreshTokenReuse,
    /// A refresh token family was revoked on request.
    TokenRevoked,
    /// A user changed their password.
    PasswordChanged,
    /// The first platform admin was created.
    BootstrapAdminCreated,
    /// An organisation was created.
    OrganizationCreated,
    /// An enterprise registered itself.
    EnterpriseRegistered,
    /// An organisation was verified or unverified.
    OrganizationVerified,
    /// A user account was created.
    UserCreated,
    /// A member's roles changed (including being added).
    RolesChanged,
    /// A member was removed from an organisation.
    MemberRemoved,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// A new JWT signing key was added.
    SigningKeyRotated,
    /// A dataset was submitted for review.
    DatasetSubmitted,
    /// A reviewer returned a dataset to its publisher.
    DatasetReturned,
    /// A dataset version was published.
    DatasetPublished,
    /// A dataset was withdrawn from the catalog.
    DatasetWithdrawn,
    /// A published dataset's classification changed.
    ClassificationChanged,
    /// A development-use licence was created.
    LicenceCreated,
    /// A dataset's offer was set.
    OfferSet,
    /// Access to a dataset was requested.
    AccessRequested,
    /// An access request was approved.
    AccessRequestApproved,
    /// An access request was rejected.
    AccessRequestRejected,
    /// An access request was withdrawn.
    AccessRequestWithdrawn,
    /// A grant was issued.
    GrantIssued,
    /// A grant was suspended.
    GrantSuspended,
    /// A suspended grant was resumed.
    GrantResumed,
    /// A grant was revoked.
    GrantRevoked,
    /// A grant's term passed.
    GrantExpired,
}

impl AuditKind {
    /// The kind's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::TokenRevoked => "token_revoked",
            Self::PasswordChanged => "password_changed",
            Self::BootstrapAdminCreated => "bootstrap_admin_created",
            Self::OrganizationCreated => "organization_created",
            Self::EnterpriseRegistered => "enterprise_registered",
            Self::OrganizationVerified => "organization_verified",
            Self::UserCreated => "user_created",
            Self::RolesChanged => "roles_changed",
            Self::MemberRemoved => "member_removed",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::SigningKeyRotated => "signing_key_rotated",
            Self::DatasetSubmitted => "dataset_submitted",
            Self::DatasetReturned => "dataset_returned",
            Self::DatasetPublished => "dataset_published",
            Self::DatasetWithdrawn => "dataset_withdrawn",
            Self::ClassificationChanged => "classification_changed",
            Self::LicenceCreated => "licence_created",
            Self::OfferSet => "offer_set",
            Self::AccessRequested => "access_requested",
            Self::AccessRequestApproved => "access_request_approved",
            Self::AccessRequestRejected => "access_request_rejected",
            Self::AccessRequestWithdrawn => "access_request_withdrawn",
            Self::GrantIssued => "grant_issued",
            Self::GrantSuspended => "grant_suspended",
            Self::GrantResumed => "grant_resumed",
            Self::GrantRevoked => "grant_revoked",
            Self::GrantExpired => "grant_expired",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// What happened.
    pub kind: AuditKind,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Who did it, if known.
    pub actor_user: Option<UserId>,
    /// For which organisation, if known.
    pub actor_org: Option<OrganizationId>,
    /// What it was done to (an id or an e-mail address).
    pub subject: Option<String>,
    /// Anything else worth keeping, as JSON.
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// A successful event of `kind` by `actor`.
    pub fn success(
        kind: AuditKind,
        actor_user: Option<UserId>,
        actor_org: Option<OrganizationId>,
    ) -> Self {
        Self {
            kind,
            outcome: Outcome::Success,
            actor_user,
            actor_org,
            subject: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The same event, refused.
    pub fn failed(mut self) -> Self {
        self.outcome = Outcome::Failure;
        self
    }

    /// Names what the event was done to.
    pub fn subject(mut self, subject: impl ToString) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// Adds detail.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Writes one event.
pub fn record(
    conn: &mut DbConnection,
    event: &AuditRecord,
    context: &RequestContext,
    now: Timestamp,
) -> Result<AuditEventId, AccessError> {
    let id = AuditEventId::new();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(id.to_string()),
            audit_events::occurred_at.eq(now.naive_utc()),
            audit_events::kind.eq(event.kind.as_str()),
            audit_events::outcome.eq(event.outcome.as_str()),
            audit_events::actor_user_id.eq(event.actor_user.map(|u| u.to_string())),
            audit_events::actor_organization_id.eq(event.actor_org.map(|o| o.to_string())),
            audit_events::subject.eq(&event.subject),
            audit_events::client_address.eq(&context.client_address),
            audit_events::request_id.eq(&context.request_id),
            audit_events::detail.eq(event.detail.to_string()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Its id.
    pub id: String,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Its kind.
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who did it.
    pub actor_user_id: Option<String>,
    /// For which organisation.
    pub actor_organization_id: Option<String>,
    /// What it was done to.
    pub subject: Option<String>,
    /// From which network address.
    pub client_address: Option<String>,
    /// In which request.
    pub request_id: Option<String>,
    /// Further detail.
    pub detail: serde_json::Value,
}

type AuditRow = (
    String,
    NaiveDateTime,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only events by this user.
    pub actor_user: Option<UserId>,
    /// Only events concerning this organisation.
    pub actor_org: Option<OrganizationId>,
}

/// A page of events, newest first, and the total matching.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditEvent>, i64), AccessError> {
    let query = || {
        let mut query = audit_events::table.into_boxed();
        if let Some(kind) = &filter.kind {
            query = query.filter(audit_events::kind.eq(kind.clone()));
        }
        if let Some(user) = filter.actor_user {
            query = query.filter(audit_events::actor_user_id.eq(user.to_string()));
        }
        if let Some(org) = filter.actor_org {
            query = query.filter(audit_events::actor_organization_id.eq(org.to_string()));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows: Vec<AuditRow> = query()
        .select((
            audit_events::id,
            audit_events::occurred_at,
            audit_events::kind,
            audit_events::outcome,
            audit_events::actor_user_id,
            audit_events::actor_organization_id,
            audit_events::subject,
            audit_events::client_address,
            audit_events::request_id,
            audit_events::detail,
        ))
        .order(audit_events::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let events = rows
        .into_iter()
        .map(|row| AuditEvent {
            id: row.0,
            occurred_at: row.1.and_utc(),
            kind: row.2,
            outcome: row.3,
            actor_user_id: row.4,
            actor_organization_id: row.5,
            subject: row.6,
            client_address: row.7,
            request_id: row.8,
            detail: serde_json::from_str(&row.9).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok((events, total))
}
