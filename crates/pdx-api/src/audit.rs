//! The audit trail of access control, for auditors and platform admins, and the record of
//! every management call a permission check refused.

use actix_web::{HttpMessage, get, web};
use pdx_access::audit::{AuditEvent, AuditFilter};
use pdx_core::{OrganizationId, PageRequest, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::Authenticated;
use crate::error::{ApiError, Problem, RefusedBy};
use crate::state::ApiState;

/// Filters and paging for the audit trail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this kind, e.g. `sign_in`, `roles_changed`, `api_key_created`.
    pub kind: Option<String>,
    /// Only events by this user.
    #[param(value_type = Option<String>, format = Uuid)]
    pub actor_user_id: Option<UserId>,
    /// Only events by members of this organisation (id or slug).
    pub actor_organization_id: Option<String>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, at most 100.
    pub per_page: Option<u32>,
}

/// One recorded event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventResponse {
    /// The event id.
    pub id: String,
    /// When it happened (RFC 3339).
    pub occurred_at: String,
    /// What happened.
    #[schema(example = "sign_in")]
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who did it.
    pub actor_user_id: Option<String>,
    /// For which organisation.
    pub actor_organization_id: Option<String>,
    /// What it was done to.
    pub subject: Option<String>,
    /// From which address.
    pub client_address: Option<String>,
    /// In which request.
    pub request_id: Option<String>,
    /// Further detail.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: event.occurred_at.to_rfc3339(),
            kind: event.kind,
            outcome: event.outcome,
            actor_user_id: event.actor_user_id,
            actor_organization_id: event.actor_organization_id,
            subject: event.subject,
            client_address: event.client_address,
            request_id: event.request_id,
            detail: event.detail,
        }
    }
}

/// A page of audit events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventPage {
    /// Events, newest first.
    pub items: Vec<AuditEventResponse>,
    /// How many match in all.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// The audit trail, newest first (auditors and platform admins).
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditEventPage),
        (status = 403, description = "Not an auditor or platform admin", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/audit-events")]
pub(crate) async fn list_audit_events(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.page, query.per_page);
    // A slug names the same organisation as its id; one that names nothing matches nothing.
    let actor_org = match query.actor_organization_id {
        Some(key) => Some(match state.access.resolve_organization(&key).await {
            Ok(id) => id,
            Err(pdx_access::AccessError::OrganizationNotFound) => OrganizationId::new(),
            Err(other) => return Err(other.into()),
        }),
        None => None,
    };
    let filter = AuditFilter {
        kind: query.kind,
        actor_user: query.actor_user_id,
        actor_org,
    };
    let found = state.access.audit_events(&principal, filter, page).await?;
    Ok(web::Json(AuditEventPage {
        total: found.total,
        page: found.page,
        per_page: found.per_page,
        items: found.items.into_iter().map(Into::into).collect(),
    }))
}

/// Writes a management call refused by a permission check (403) to the ledger: who asked, for
/// what, and which check refused. Refusals on the data path are already its own entries. The
/// request observer calls it for every answer that carries the mark of such a refusal.
pub(crate) async fn record_refusal(
    response: &actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
) {
    let Some(RefusedBy(check)) = response.response().extensions().get::<RefusedBy>().copied()
    else {
        return;
    };
    let request = response.request();
    let state = request.app_data::<web::Data<ApiState>>();
    let (Some(state), Some(principal)) = (state, crate::authn::principal_of(request)) else {
        return;
    };
    let refusal = pdx_circulation::ledger::Refusal {
        actor_user: principal.user.to_string(),
        actor_org: principal.org.to_string(),
        check: check.to_owned(),
        route: request
            .match_pattern()
            .unwrap_or_else(|| request.path().to_owned()),
        method: request.method().to_string(),
        path: request.path().to_owned(),
    };
    let request_id = request
        .extensions()
        .get::<pdx_core::RequestId>()
        .map(ToString::to_string);
    if let Err(error) = state.ledger.record_refusal(refusal, request_id).await {
        // The refusal stands either way; what failed is its record.
        tracing::error!(%error, "a refused call could not be recorded in the ledger");
    }
}
