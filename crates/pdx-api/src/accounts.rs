//! The signed-in user (`/api/v1/me`), password changes and resets, enterprise
//! self-registration confirmed by e-mail, and accepting invitations.

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
    /// When control of the address was shown (RFC 3339); accounts without it cannot sign in.
    pub email_confirmed_at: Option<String>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            display_name: user.display_name,
            password_change_required: user.password_change_required,
            created_at: user.created_at.to_rfc3339(),
            email_confirmed_at: user.email_confirmed_at.map(|at| at.to_rfc3339()),
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
    /// The new password (at least the configured minimum length, 12 by default).
    #[schema(min_length = 12)]
    pub new_password: String,
}

/// Changes the caller's password; required first after a one-time password. Every session of
/// the account ends (its access and refresh tokens): sign in again afterwards.
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

/// An enterprise registering itself and its first user. The password is chosen when the
/// address is confirmed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEnterpriseRequest {
    /// The first user's e-mail address; they become the enterprise's admin once it is confirmed.
    #[schema(example = "dev@example-logistics.cn", format = Email)]
    pub email: String,
    /// The first user's name.
    #[schema(example = "Li Wei")]
    pub display_name: String,
    /// The enterprise's registered name.
    #[schema(example = "Example Logistics Co., Ltd.")]
    pub organization_name: String,
    /// A URL-safe name; derived from the name when it is in Latin letters.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")]
    pub slug: Option<String>,
    /// The unified social credit code (18 characters, GB 32100-2015).
    #[schema(example = "91440300MA5F000007")]
    pub credit_code: String,
    /// A contact address; the user's when absent.
    #[schema(format = Email)]
    pub contact_email: Option<String>,
    /// A contact telephone number.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00-\\x1f]+$")]
    pub contact_phone: Option<String>,
}

/// A request taken in; what follows arrives by e-mail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedResponse {
    /// `check_email`.
    #[schema(example = "check_email")]
    pub status: String,
    /// What happens next, for a human.
    pub detail: String,
}

fn check_email(detail: &str) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(AcceptedResponse {
            status: "check_email".to_owned(),
            detail: detail.to_owned(),
        })
}

/// Asks to register an enterprise. A confirmation link goes to the address; nothing is created
/// until it is followed. The answer is the same whether or not the address has an account
/// (an address that has one is told so by e-mail instead).
#[utoipa::path(
    tag = "accounts",
    request_body = RegisterEnterpriseRequest,
    responses(
        (status = 202, description = "Check the e-mail for the confirmation link", body = AcceptedResponse),
        (status = 409, description = "Slug or credit code already registered", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/registrations")]
pub(crate) async fn register_enterprise(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<RegisterEnterpriseRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .access
        .request_registration(
            EnterpriseRegistration {
                email: body.email,
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
    Ok(check_email(
        "if the address can be used, a confirmation link has been sent to it",
    ))
}

/// An address to send something to again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The e-mail address.
    #[schema(example = "dev@example-logistics.cn", format = Email)]
    pub email: String,
}

/// Sends a pending registration's confirmation link again (a new link; the old one stops
/// working), at most once a minute. The answer never says whether there was one.
#[utoipa::path(
    tag = "accounts",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Check the e-mail", body = AcceptedResponse),
        (status = 422, description = "Not an e-mail address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/registrations/resend")]
pub(crate) async fn resend_confirmation(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .access
        .resend_confirmation(&body.email, &context)
        .await?;
    Ok(check_email(
        "if a registration with this address awaits confirmation, its link has been sent again",
    ))
}

/// A registration's confirmation: the token from the link and the first user's password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRegistrationRequest {
    /// The `token` of the link (`<public_url>/confirm?token=…`).
    pub token: String,
    /// The first user's password (at least the configured minimum length).
    #[schema(min_length = 12)]
    pub password: String,
}

/// The result of a registration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegistrationResponse {
    /// The enterprise, unverified until a platform admin verifies it.
    pub organization: OrganizationResponse,
    /// Its first user, its admin.
    pub user: UserResponse,
}

/// Confirms a registration by its link: creates the enterprise (unverified until a platform
/// admin verifies it) and its admin, who can sign in at once. The link works once.
#[utoipa::path(
    tag = "accounts",
    request_body = ConfirmRegistrationRequest,
    responses(
        (status = 201, description = "Registered, pending verification", body = RegistrationResponse),
        (status = 409, description = "Address, slug or credit code taken since", body = Problem,
         content_type = "application/problem+json"),
        (status = 410, description = "`link_used` or `link_expired`", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "`link_invalid`, or a too-short password", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/registrations/confirm")]
pub(crate) async fn confirm_registration(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<ConfirmRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let (organization, user) = state
        .access
        .confirm_registration(&body.token, &body.password, &context)
        .await?;
    Ok(HttpResponse::Created().json(RegistrationResponse {
        organization: organization.into(),
        user: user.into(),
    }))
}

/// Asks for a password-reset link. It goes to the address if it has an account; the answer is
/// the same either way.
#[utoipa::path(
    tag = "accounts",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Check the e-mail", body = AcceptedResponse),
        (status = 422, description = "Not an e-mail address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/password-resets")]
pub(crate) async fn request_password_reset(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .access
        .request_password_reset(&body.email, &context)
        .await?;
    Ok(check_email(
        "if an account uses this address, a link to reset its password has been sent to it",
    ))
}

/// A password reset: the token from the link and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePasswordResetRequest {
    /// The `token` of the link (`<public_url>/password-reset?token=…`).
    pub token: String,
    /// The new password.
    #[schema(min_length = 12)]
    pub new_password: String,
}

/// Sets a new password by a reset link. Every session of the account ends: its refresh tokens
/// and its access tokens stop working at once.
#[utoipa::path(
    tag = "accounts",
    request_body = CompletePasswordResetRequest,
    responses(
        (status = 204, description = "Password set"),
        (status = 410, description = "`link_used` or `link_expired`", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "`link_invalid`, or a too-short password", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/password-resets/complete")]
pub(crate) async fn complete_password_reset(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<CompletePasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .access
        .reset_password(&body.token, &body.new_password, &context)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepting an invitation: the token from the link; a name and password only when the
/// address has no account yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The `token` of the link (`<public_url>/invitations/accept?token=…`).
    pub token: String,
    /// For a new account: its name.
    pub display_name: Option<String>,
    /// For a new account: its password.
    #[schema(min_length = 12)]
    pub password: Option<String>,
}

/// An accepted invitation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedInvitationResponse {
    /// The account.
    pub user: UserResponse,
    /// The organisation joined.
    pub organization: OrganizationResponse,
    /// Every role the account now holds there.
    #[schema(value_type = Vec<String>, example = json!(["publisher"]))]
    pub roles: Vec<Role>,
    /// Whether accepting created the account.
    pub account_created: bool,
}

/// Accepts an invitation by its link: the address's account joins the organisation, or, for
/// an address with no account, one is created with the name and password given. Works once.
#[utoipa::path(
    tag = "accounts",
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "Joined", body = AcceptedInvitationResponse),
        (status = 410, description = "`link_used` or `link_expired`", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "`link_invalid`, or the new account's name or password missing or too short",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/invitations/accept")]
pub(crate) async fn accept_invitation(
    state: web::Data<ApiState>,
    Context(context): Context,
    body: web::Json<AcceptInvitationRequest>,
) -> Result<web::Json<AcceptedInvitationResponse>, ApiError> {
    let accepted = state
        .access
        .accept_invitation(
            &body.token,
            body.display_name.as_deref(),
            body.password.as_deref(),
            &context,
        )
        .await?;
    Ok(web::Json(AcceptedInvitationResponse {
        user: accepted.user.into(),
        organization: accepted.organization.into(),
        roles: accepted.roles.iter().collect(),
        account_created: accepted.account_created,
    }))
}
