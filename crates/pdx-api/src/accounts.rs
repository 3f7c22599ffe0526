//! The signed-in user (`/api/v1/me`), password changes, and enterprise self-registration.

use actix_web::{HttpResponse, get, post, web};
use pdx_access::model::{Membership, Organization, User};
use pdx_access::service::EnterpriseRegistration;
use pdx_core::{OrgKind, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authn::{AuthenticatedForPasswordChange, Context};
use crate::error::{ApiError, Problem};
use crate::state::ApiState;

/// A user account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    /// The user id.
    pub id: String,
    /// The sign-in address.
    pub email: String,
    /// The display name.
    pub display_name: String,
    /// Whether the one-time password must still be changed.
    pub password_change_required: bool,
    /// When the account was created (RFC 3339).
    pub created_at: String,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            display_name: user.display_name,
            password_change_required: user.password_change_required,
            created_at: user.created_at.to_rfc3339(),
        }
    }
}

/// An organisation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationResponse {
    /// The organisation id.
    pub id: String,
    /// The URL-safe name.
    #[schema(example = "shenzhen-transport")]
    pub slug: String,
    /// The display name.
    pub name: String,
    /// `agency`, `enterprise` or `platform`.
    #[schema(value_type = String, example = "agency")]
    pub kind: OrgKind,
    /// The unified social credit code.
    pub credit_code: Option<String>,
    /// Whether the platform has verified it.
    pub verified: bool,
    /// A contact e-mail address.
    pub contact_email: Option<String>,
    /// A contact telephone number.
    pub contact_phone: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
}

impl From<Organization> for OrganizationResponse {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id.to_string(),
            slug: org.slug,
            name: org.name,
            kind: org.kind,
            credit_code: org.credit_code,
            verified: org.verified,
            contact_email: org.contact_email,
            contact_phone: org.contact_phone,
            created_at: org.created_at.to_rfc3339(),
            updated_at: org.updated_at.to_rfc3339(),
        }
    }
}

/// An organisation the user belongs to and the roles held there.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipResponse {
    /// The organisation.
    pub organization: OrganizationResponse,
    /// The roles held in it.
    #[schema(value_type = Vec<String>, example = json!(["admin", "publisher"]))]
    pub roles: Vec<Role>,
}

impl From<Membership> for MembershipResponse {
    fn from(membership: Membership) -> Self {
        Self {
            organization: membership.organization.into(),
            roles: membership.roles.iter().collect(),
        }
    }
}

/// Who the caller is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    /// The account.
    pub user: UserResponse,
    /// The organisation this token acts for.
    pub organization_id: String,
    /// The roles this token carries.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// The API key this token was obtained with, if any.
    pub api_key_id: Option<String>,
    /// Every organisation the user belongs to.
    pub memberships: Vec<MembershipResponse>,
}

/// The caller: their account, the organisation and roles of this token, and all memberships.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/me")]
pub(crate) async fn get_me(
    state: web::Data<ApiState>,
    AuthenticatedForPasswordChange(principal): AuthenticatedForPasswordChange,
) -> Result<web::Json<MeResponse>, ApiError> {
    let me = state.access.me(&principal).await?;
    Ok(web::Json(MeResponse {
        user: me.user.into(),
        organization_id: principal.org.to_string(),
        roles: principal.roles.iter().collect(),
        api_key_id: principal.api_key.map(|id| id.to_string()),
        memberships: me.memberships.into_iter().map(Into::into).collect(),
    }))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (at least the configured minimum length).
    pub new_password: String,
}

/// Changes the caller's password; required first after a one-time password.
/// Tokens issued before keep their claims until they expire: sign in again afterwards.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or a too-short new one", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/me/password")]
pub(crate) async fn change_password(
    state: web::Data<ApiState>,
    AuthenticatedForPasswordChange(principal): AuthenticatedForPasswordChange,
    Context(context): Context,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .access
        .change_password(
            &principal,
            &body.current_password,
            &body.new_password,
            &context,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An enterprise registering itself and its first user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEnterpriseRequest {
    /// The first user's e-mail address; they become the enterprise's admin.
    #[schema(example = "dev@example-logistics.cn")]
    pub email: String,
    /// The first user's password.
    pub password: String,
    /// The first user's name.
    #[schema(example = "Li Wei")]
    pub display_name: String,
    /// The enterprise's registered name.
    #[schema(example = "Example Logistics Co., Ltd.")]
    pub organization_name: String,
    /// A URL-safe name; derived from the name when it is in Latin letters.
    pub slug: Option<String>,
    /// The unified social credit code (18 characters, GB 32100-2015).
    #[schema(example = "91440300MA5F000007")]
    pub credit_code: String,
    /// A contact address; the user's when absent.
    pub contact_email: Option<String>,
    /// A contact telephone number.
    pub contact_phone: Option<String>,
}

/// The result of a registration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegistrationResponse {
    /// The enterprise, unverified until a platform admin verifies it.
    pub organization: OrganizationResponse,
    /// Its first user, its admin.
    pub user: UserResponse,
}

/// Registers an enterprise and its first user. The enterprise can sign in at once but cannot
/// request data until a platform admin verifies it.
#[utoipa::path(
    tag = "accounts",
    request_body = RegisterEnterpriseRequest,
    responses(
        (status = 201, description = "Registered, pending verification", body = RegistrationResponse),
        (status = 409, description = "E-mail, slug or credit code already registered", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/registrations")]
pub(crate) async fn register_enterprise(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<RegisterEnterpriseRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (organization, user) = state
        .access
        .register_enterprise(
            EnterpriseRegistration {
                email: body.email,
                password: body.password,
                display_name: body.display_name,
                organization_name: body.organization_name,
                slug: body.slug,
                credit_code: body.credit_code,
                contact_email: body.contact_email,
                contact_phone: body.contact_phone,
            },
            &context,
        )
        .await?;
    Ok(HttpResponse::Created().json(RegistrationResponse {
        organization: organization.into(),
        user: user.into(),
    }))
}
