//! The audit trail: sign-ins, role changes, key changes, publications, grant transitions and
//! the like, each an entry of the circulation ledger (decision `success` or `failure`), so the
//! same Merkle tree and checkpoints that cover data access cover them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_circulation::{DATA_ACCESS, Entry};
use pdx_core::{OrganizationId, Timestamp, UserId};
use pdx_storage::schema::{audit_events, ledger_entries};
use pdx_storage::{DbConnection, StorageError};
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
    /// A portal session was ended by signing out.
    SignOut,
    /// A portal session changed the organisation it acts for.
    OrganizationSwitched,
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
    /// Someone asked to register an enterprise (failure: refused by the throttle).
    RegistrationRequested,
    /// A confirmation link was sent again.
    ConfirmationResent,
    /// A member was invited to an organisation.
    InvitationCreated,
    /// An invitation was sent again.
    InvitationResent,
    /// An invitation was withdrawn.
    InvitationRevoked,
    /// An invitation was accepted.
    InvitationAccepted,
    /// A password reset was asked for (failure: refused by the throttle).
    PasswordResetRequested,
    /// A password was reset through a link.
    PasswordReset,
    /// The demo loader wrote a city's generated past: the entries after this one that are dated
    /// before it (within `detail.history_from`..`history_until`) are that history.
    DemoLoaded,
    /// An organisation's name or contacts were edited.
    OrganizationUpdated,
    /// A draft dataset was created.
    DatasetCreated,
    /// A draft's metadata, or a pending revision's, was changed.
    DatasetUpdated,
    /// A draft that was never published was deleted.
    DatasetDeleted,
    /// A revision of a published or withdrawn dataset was started.
    DatasetRevised,
    /// A file or API distribution was added to a draft or a pending revision.
    DistributionAdded,
    /// A distribution's title, description or column schema was changed.
    DistributionUpdated,
    /// A distribution that no published version holds was deleted.
    DistributionDeleted,
    /// A tabular distribution's file was (re-)ingested into a queryable table.
    DistributionIngested,
    /// An API distribution's upstream was configured (or its configuration changed).
    ApiUpstreamConfigured,
    /// An API distribution's upstream was removed: the gateway forwards nothing more.
    ApiUpstreamRemoved,
}

impl AuditKind {
    /// The kind's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignOut => "sign_out",
            Self::OrganizationSwitched => "organization_switched",
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
            Self::RegistrationRequested => "registration_requested",
            Self::ConfirmationResent => "confirmation_resent",
            Self::InvitationCreated => "invitation_created",
            Self::InvitationResent => "invitation_resent",
            Self::InvitationRevoked => "invitation_revoked",
            Self::InvitationAccepted => "invitation_accepted",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::DemoLoaded => "demo_loaded",
            Self::OrganizationUpdated => "organization_updated",
            Self::DatasetCreated => "dataset_created",
            Self::DatasetUpdated => "dataset_updated",
            Self::DatasetDeleted => "dataset_deleted",
            Self::DatasetRevised => "dataset_revised",
            Self::DistributionAdded => "distribution_added",
            Self::DistributionUpdated => "distribution_updated",
            Self::DistributionDeleted => "distribution_deleted",
            Self::DistributionIngested => "distribution_ingested",
            Self::ApiUpstreamConfigured => "api_upstream_configured",
            Self::ApiUpstreamRemoved => "api_upstream_removed",
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

/// Whether an event of this kind is about a dataset or a grant named by its subject.
fn subject_field(kind: AuditKind) -> Option<&'static str> {
    match kind {
        AuditKind::DatasetSubmitted
        | AuditKind::DatasetReturned
        | AuditKind::DatasetPublished
        | AuditKind::DatasetWithdrawn
        | AuditKind::ClassificationChanged
        | AuditKind::OfferSet
        | AuditKind::DatasetCreated
        | AuditKind::DatasetUpdated
        | AuditKind::DatasetDeleted
        | AuditKind::DatasetRevised
        | AuditKind::DistributionAdded
        | AuditKind::DistributionUpdated
        | AuditKind::DistributionDeleted
        | AuditKind::DistributionIngested
        | AuditKind::ApiUpstreamConfigured
        | AuditKind::ApiUpstreamRemoved => Some("dataset"),
        AuditKind::GrantIssued
        | AuditKind::GrantSuspended
        | AuditKind::GrantResumed
        | AuditKind::GrantRevoked
        | AuditKind::GrantExpired => Some("grant"),
        _ => None,
    }
}

/// Writes one event to the circulation ledger, in the caller's transaction; returns its
/// sequence number.
pub fn record(
    conn: &mut DbConnection,
    event: &AuditRecord,
    context: &RequestContext,
    now: Timestamp,
) -> Result<u64, AccessError> {
    let mut detail = match &event.detail {
        serde_json::Value::Object(map) => map.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".into(), other.clone());
            map
        }
    };
    if let Some(address) = &context.client_address {
        detail.insert("client_address".into(), address.clone().into());
    }
    let reason = detail
        .get("reason")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut entry = Entry::data_access();
    entry.kind = event.kind.as_str().to_owned();
    entry.request_id.clone_from(&context.request_id);
    entry.actor_user = event.actor_user.map(|u| u.to_string());
    entry.actor_org = event.actor_org.map(|o| o.to_string());
    entry.decision = event.outcome.as_str().to_owned();
    entry.reason = reason;
    match subject_field(event.kind) {
        Some("dataset") => entry.dataset.clone_from(&event.subject),
        Some(_) => entry.grant.clone_from(&event.subject),
        None => {}
    }
    entry.subject.clone_from(&event.subject);
    entry.detail = (!detail.is_empty()).then_some(serde_json::Value::Object(detail));
    let seqs = pdx_circulation::store::append(conn, std::slice::from_mut(&mut entry), now)?;
    seqs.first()
        .copied()
        .ok_or_else(|| AccessError::Storage(StorageError::CorruptRow("no ledger entry".into())))
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Its ledger sequence number.
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

/// A page of events other than data access, newest first, and the total matching; read from
/// the circulation ledger.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditEvent>, i64), AccessError> {
    let query = || {
        let mut query = ledger_entries::table
            .filter(ledger_entries::kind.ne(DATA_ACCESS))
            .into_boxed();
        if let Some(kind) = &filter.kind {
            query = query.filter(ledger_entries::kind.eq(kind.clone()));
        }
        if let Some(user) = filter.actor_user {
            query = query.filter(ledger_entries::actor_user_id.eq(user.to_string()));
        }
        if let Some(org) = filter.actor_org {
            query = query.filter(ledger_entries::organization_id.eq(org.to_string()));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows: Vec<(i64, NaiveDateTime, String)> = query()
        .select((
            ledger_entries::seq,
            ledger_entries::recorded_at,
            ledger_entries::body,
        ))
        .order(ledger_entries::seq.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let mut events = Vec::with_capacity(rows.len());
    for (seq, at, body) in rows {
        let entry = Entry::decode(body.as_bytes())
            .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")))?;
        let detail = entry.detail.unwrap_or(serde_json::Value::Null);
        events.push(AuditEvent {
            id: seq.to_string(),
            occurred_at: at.and_utc(),
            kind: entry.kind,
            outcome: entry.decision,
            actor_user_id: entry.actor_user,
            actor_organization_id: entry.actor_org,
            subject: entry.subject,
            client_address: detail
                .get("client_address")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            request_id: entry.request_id,
            detail,
        });
    }
    Ok((events, total))
}

/// Moves events recorded before the ledger took them over (the `audit_events` table) into the
/// ledger, oldest first, each keeping its original time in `detail.occurred_at`; returns how
/// many moved. Runs once at start-up; afterwards the table stays empty.
pub fn move_into_ledger(conn: &mut DbConnection, now: Timestamp) -> Result<usize, AccessError> {
    type Row = (
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
    let rows: Vec<Row> = audit_events::table
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
        .order((audit_events::occurred_at.asc(), audit_events::id.asc()))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut detail = match serde_json::from_str(&row.9) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        detail.insert(
            "occurred_at".into(),
            Entry::format_time(row.1.and_utc()).into(),
        );
        if let Some(address) = &row.7 {
            detail.insert("client_address".into(), address.clone().into());
        }
        let mut entry = Entry::data_access();
        entry.kind.clone_from(&row.2);
        entry.decision.clone_from(&row.3);
        entry.actor_user.clone_from(&row.4);
        entry.actor_org.clone_from(&row.5);
        entry.subject.clone_from(&row.6);
        entry.request_id.clone_from(&row.8);
        entry.reason = detail
            .get("reason")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        entry.detail = Some(serde_json::Value::Object(detail));
        entries.push(entry);
    }
    pdx_circulation::store::append(conn, &mut entries, now)?;
    diesel::delete(audit_events::table).execute(conn)?;
    Ok(rows.len())
}
