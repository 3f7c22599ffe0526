//! Organisations and their members: listing and reading (public for verified ones),
//! creation and verification by platform admins, membership management and invitations by
//! org admins.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use pdx_access::model::Member;
use pdx_access::service::OrganizationInput;
use pdx_access::service_accounts::Invitation;
use pdx_core::{OrgKind, PageRequest, Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::{OrganizationResponse, UserResponse};
use crate::authn::{Authenticated, Context, MaybeAuthenticated};
use crate::error::{ApiError, Problem};
use crate::schemas::{OrgKindName, RoleName};
use crate::state::ApiState;

/// Filters and paging for the organisation list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrganizationQuery {
    /// Only organisations of this kind: `agency`, `enterprise` or `platform`.
    #[param(value_type = Option<OrgKindName>)]
    pub kind: Option<OrgKind>,
    /// `false` lists those awaiting verification (platform admins and auditors only).
    pub verified: Option<bool>,
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, at most 100.
    pub per_page: Option<u32>,
}

/// A page of organisations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationPage {
    /// The organisations on this page.
    pub items: Vec<OrganizationResponse>,
    /// How many match in all.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

/// Lists organisations by name. Anyone sees verified ones; platform admins and auditors
/// also see those awaiting verification.
#[utoipa::path(
    tag = "organizations",
    params(OrganizationQuery),
    responses(
        (status = 200, description = "A page of organisations", body = OrganizationPage),
        (status = 403, description = "Unverified organisations asked for without the right", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organizations")]
pub(crate) async fn list_organizations(
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    query: web::Query<OrganizationQuery>,
) -> Result<web::Json<OrganizationPage>, ApiError> {
    let page = PageRequest::new(query.page, query.per_page);
    let found = state
        .access
        .list_organizations(principal.as_ref(), query.kind, query.verified, page)
        .await?;
    Ok(web::Json(OrganizationPage {
        total: found.total,
        page: found.page,
        per_page: found.per_page,
        items: found.items.into_iter().map(Into::into).collect(),
    }))
}

/// A new organisation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Display name.
    #[schema(example = "Shenzhen Municipal Transport Bureau")]
    pub name: String,
    /// URL-safe name; derived from the name when it is in Latin letters.
    #[schema(example = "shenzhen-transport")]
    pub slug: Option<String>,
    /// `agency` or `enterprise`.
    #[schema(value_type = OrgKindName, example = "agency")]
    pub kind: OrgKind,
    /// Unified social credit code.
    pub credit_code: Option<String>,
    /// Contact e-mail address.
    pub contact_email: Option<String>,
    /// Contact telephone number.
    pub contact_phone: Option<String>,
}

/// Creates an agency or enterprise, verified (platform admins only).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created", body = OrganizationResponse),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug or credit code taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/organizations")]
pub(crate) async fn create_organization(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    body: web::Json<CreateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let organization = state
        .access
        .create_organization(
            &principal,
            OrganizationInput {
                name: body.name,
                slug: body.slug,
                kind: body.kind,
                credit_code: body.credit_code,
                contact_email: body.contact_email,
                contact_phone: body.contact_phone,
            },
            &context,
        )
        .await?;
    Ok(HttpResponse::Created().json(OrganizationResponse::from(organization)))
}

/// One organisation, by id or slug; unverified ones only for their members, platform admins
/// and auditors.
#[utoipa::path(
    tag = "organizations",
    params(("org" = String, Path, description = "Organisation id or slug")),
    responses(
        (status = 200, description = "The organisation", body = OrganizationResponse),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organizations/{org}")]
pub(crate) async fn get_organization(
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> Result<web::Json<OrganizationResponse>, ApiError> {
    let organization = state.access.organization(principal.as_ref(), &path).await?;
    Ok(web::Json(organization.into()))
}

/// Changes to an organisation; absent fields stay as they are, `null` clears a contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// New display name.
    pub name: Option<String>,
    /// New contact e-mail address, or `null`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub contact_email: Option<Option<String>>,
    /// New contact telephone number, or `null`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub contact_phone: Option<Option<String>>,
}

/// Edits an organisation's name and contacts (its admins, platform admins).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organisation id or slug")),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Updated", body = OrganizationResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/organizations/{org}")]
pub(crate) async fn update_organization(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    body: web::Json<UpdateOrganizationRequest>,
) -> Result<web::Json<OrganizationResponse>, ApiError> {
    let org = state.access.resolve_organization(&path).await?;
    let body = body.into_inner();
    let organization = state
        .access
        .update_organization(
            &principal,
            org,
            body.name,
            body.contact_email,
            body.contact_phone,
            &context,
        )
        .await?;
    // The publisher's name is searchable: this server's search answers show it at once.
    if let Err(error) = state.catalog.follow_changes().await {
        tracing::warn!(%error, "search index: could not follow the catalog's changes");
    }
    Ok(web::Json(organization.into()))
}

/// The verification state to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// `true` to verify, `false` to withdraw verification.
    pub verified: bool,
}

/// Verifies an organisation, e.g. an enterprise after checking its credit code (platform admins).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organisation id or slug")),
    request_body = VerificationRequest,
    responses(
        (status = 200, description = "Updated", body = OrganizationResponse),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/organizations/{org}/verification")]
pub(crate) async fn set_verification(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    body: web::Json<VerificationRequest>,
) -> Result<web::Json<OrganizationResponse>, ApiError> {
    let org = state.access.resolve_organization(&path).await?;
    let organization = state
        .access
        .set_verified(&principal, org, body.verified, &context)
        .await?;
    Ok(web::Json(organization.into()))
}

/// A member of an organisation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberResponse {
    /// The account.
    pub user: UserResponse,
    /// The roles held in the organisation.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
}

impl From<Member> for MemberResponse {
    fn from(member: Member) -> Self {
        Self {
            user: member.user.into(),
            roles: member.roles.iter().collect(),
        }
    }
}

/// Lists an organisation's members (its admins, platform admins, auditors).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organisation id or slug")),
    responses(
        (status = 200, description = "The members", body = Vec<MemberResponse>),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organizations/{org}/members")]
pub(crate) async fn list_members(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<web::Json<Vec<MemberResponse>>, ApiError> {
    let org = state.access.resolve_organization(&path).await?;
    let members = state.access.members(&principal, org).await?;
    Ok(web::Json(members.into_iter().map(Into::into).collect()))
}

/// Someone to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The address to invite; whoever controls it accepts (creating an account if it has none).
    pub email: String,
    /// Roles to grant: `admin`, `publisher`, `reviewer`, `member` (agencies);
    /// `admin`, `member` (enterprises); `platform_admin`, `auditor` (the platform).
    #[schema(value_type = Vec<RoleName>, example = json!(["publisher"]), min_items = 1)]
    pub roles: Vec<Role>,
}

/// An invitation to join an organisation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationResponse {
    /// The invitation id.
    pub id: String,
    /// The organisation it admits to.
    pub organization_id: String,
    /// The address it was sent to.
    pub email: String,
    /// The roles it grants.
    #[schema(value_type = Vec<RoleName>, example = json!(["publisher"]), min_items = 1)]
    pub roles: Vec<Role>,
    /// Who sent it.
    pub invited_by: Option<String>,
    /// `pending`, `used` (accepted), `revoked` or `expired`.
    #[schema(example = "pending")]
    pub status: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last sent (RFC 3339).
    pub sent_at: String,
    /// When its link stops working (RFC 3339).
    pub expires_at: String,
    /// When it was accepted (RFC 3339).
    pub accepted_at: Option<String>,
}

impl From<Invitation> for InvitationResponse {
    fn from(invitation: Invitation) -> Self {
        Self {
            id: invitation.id,
            organization_id: invitation.organization.to_string(),
            email: invitation.email,
            roles: invitation.roles.iter().collect(),
            invited_by: invitation.invited_by.map(|u| u.to_string()),
            status: invitation.status.as_str().to_owned(),
            created_at: invitation.created_at.to_rfc3339(),
            sent_at: invitation.sent_at.to_rfc3339(),
            expires_at: invitation.expires_at.to_rfc3339(),
            accepted_at: invitation.accepted_at.map(|at| at.to_rfc3339()),
        }
    }
}

/// Invites someone to the organisation (org admins, platform admins): a link goes to the
/// address, and its holder accepts, with their existing account or a new one. Nobody else sets
/// or sees the account's password. A newer invitation to the same address replaces the older.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organisation id or slug")),
    request_body = AddMemberRequest,
    responses(
        (status = 202, description = "Invited; the invitation awaits acceptance", body = InvitationResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid address or roles", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The address had enough e-mail this hour", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/organizations/{org}/members")]
pub(crate) async fn add_member(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    body: web::Json<AddMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let org = state.access.resolve_organization(&path).await?;
    let body = body.into_inner();
    let invitation = state
        .access
        .invite_member(&principal, org, &body.email, body.roles, &context)
        .await?;
    Ok(HttpResponse::Accepted().json(InvitationResponse::from(invitation)))
}

/// Lists the organisation's invitations, newest first (its admins, platform admins, auditors).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organisation id or slug")),
    responses(
        (status = 200, description = "The invitations", body = Vec<InvitationResponse>),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/organizations/{org}/invitations")]
pub(crate) async fn list_invitations(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<web::Json<Vec<InvitationResponse>>, ApiError> {
    let org = state.access.resolve_organization(&path).await?;
    let invitations = state.access.invitations(&principal, org).await?;
    Ok(web::Json(invitations.into_iter().map(Into::into).collect()))
}

/// Withdraws a pending invitation; its link stops working.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(
        ("org" = String, Path, description = "Organisation id or slug"),
        ("id" = String, Path, description = "The invitation id"),
    ),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invitation_not_pending`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/organizations/{org}/invitations/{id}")]
pub(crate) async fn revoke_invitation(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let org = state.access.resolve_organization(&org).await?;
    state
        .access
        .revoke_invitation(&principal, org, &id, &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sends an invitation again with a new link and expiry (the old link stops working); at most
/// once a minute.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(
        ("org" = String, Path, description = "Organisation id or slug"),
        ("id" = String, Path, description = "The invitation id"),
    ),
    responses(
        (status = 200, description = "Sent again", body = InvitationResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invitation_not_pending`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Sent too recently; see Retry-After", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/organizations/{org}/invitations/{id}/resend")]
pub(crate) async fn resend_invitation(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<(String, String)>,
) -> Result<web::Json<InvitationResponse>, ApiError> {
    let (org, id) = path.into_inner();
    let org = state.access.resolve_organization(&org).await?;
    let invitation = state
        .access
        .resend_invitation(&principal, org, &id, &context)
        .await?;
    Ok(web::Json(invitation.into()))
}

/// The roles a member should hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The complete set of roles.
    #[schema(value_type = Vec<RoleName>, example = json!(["reviewer", "publisher"]), min_items = 1)]
    pub roles: Vec<Role>,
}

/// Replaces a member's roles (org admins, platform admins). The last admin cannot lose the role.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(
        ("org" = String, Path, description = "Organisation id or slug"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    request_body = SetRolesRequest,
    responses(
        (status = 200, description = "Updated", body = MemberResponse),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would remove the last admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/organizations/{org}/members/{user_id}")]
pub(crate) async fn set_member_roles(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<(String, UserId)>,
    body: web::Json<SetRolesRequest>,
) -> Result<web::Json<MemberResponse>, ApiError> {
    let (org, user) = path.into_inner();
    let org = state.access.resolve_organization(&org).await?;
    let member = state
        .access
        .set_member_roles(&principal, org, user, body.into_inner().roles, &context)
        .await?;
    Ok(web::Json(member.into()))
}

/// Removes a member and revokes their refresh tokens for the organisation.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(
        ("org" = String, Path, description = "Organisation id or slug"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not permitted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would remove the last admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/organizations/{org}/members/{user_id}")]
pub(crate) async fn remove_member(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<(String, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (org, user) = path.into_inner();
    let org = state.access.resolve_organization(&org).await?;
    state
        .access
        .remove_member(&principal, org, user, &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
