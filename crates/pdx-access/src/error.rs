//! Errors of access control, named for what went wrong in business terms.
//! The HTTP edge maps each to a status and a stable code.

use std::time::Duration;

use pdx_core::{OrgKind, Role};
use pdx_storage::StorageError;

/// Why an access-control operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A submitted value is not acceptable.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Another account already uses this e-mail address.
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    /// Another organisation already uses this slug.
    #[error("an organisation with this slug already exists")]
    SlugTaken,
    /// Another organisation is registered with this unified social credit code.
    #[error("an organisation with this unified social credit code already exists")]
    CreditCodeTaken,
    /// No such organisation.
    #[error("organisation not found")]
    OrganizationNotFound,
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// No such API key.
    #[error("API key not found")]
    ApiKeyNotFound,
    /// The role cannot be held in this kind of organisation.
    #[error("the role `{role}` cannot be held in an organisation of kind `{kind}`")]
    RoleNotAllowed {
        /// The role requested.
        role: Role,
        /// The organisation's kind.
        kind: OrgKind,
    },
    /// The change would leave the organisation without an administrator.
    #[error("an organisation must keep at least one admin")]
    LastAdmin,
    /// Wrong e-mail or password, disabled account, or an account with no organisation.
    #[error("the e-mail address or password is incorrect")]
    InvalidCredentials,
    /// The user is not a member of the requested organisation.
    #[error("the account is not a member of that organisation")]
    NotAMember,
    /// Too many failed sign-ins; try again later.
    #[error("too many failed sign-in attempts; retry in {} s", retry_after.as_secs())]
    Throttled {
        /// How long until another attempt is considered.
        retry_after: Duration,
    },
    /// Too many requests from this client address (registrations, resends, resets).
    #[error("too many requests from this address; retry in {} s", retry_after.as_secs())]
    RateLimited {
        /// How long until another request is considered.
        retry_after: Duration,
    },
    /// The account has not confirmed its e-mail address.
    #[error("the e-mail address of this account is not confirmed; follow the link sent to it")]
    EmailUnconfirmed,
    /// A one-time link (token) is unknown, meant for something else, or withdrawn.
    #[error("this link is not valid")]
    LinkInvalid,
    /// A one-time link (token) has expired.
    #[error("this link has expired; ask for a new one")]
    LinkExpired,
    /// A one-time link (token) was already used.
    #[error("this link was already used")]
    LinkUsed,
    /// The account already belongs to the organisation.
    #[error("this account is already a member; change its roles instead")]
    AlreadyMember,
    /// No such invitation in this organisation.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The invitation was already accepted or withdrawn.
    #[error("the invitation is no longer pending")]
    InvitationNotPending,
    /// The refresh token is unknown, expired or revoked.
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    /// An already-used refresh token was presented: its whole family has been revoked.
    #[error("the refresh token was already used; every token of this sign-in has been revoked")]
    RefreshTokenReused,
    /// The API key is unknown, wrong, expired or revoked.
    #[error("client authentication failed")]
    InvalidClient,
    /// The grant type is not one PDX supports.
    #[error("unsupported grant type `{0}`")]
    UnsupportedGrantType(String),
    /// The access token cannot be accepted.
    #[error("invalid access token: {0}")]
    InvalidToken(&'static str),
    /// The principal may not do this; names the permission check that refused.
    #[error("not permitted: {check}")]
    Forbidden {
        /// The named check from `permissions`.
        check: &'static str,
    },
    /// The account must change its one-time password before doing anything else.
    #[error("the password must be changed before the account can be used")]
    PasswordChangeRequired,
    /// Key material could not be read, written or used.
    #[error("key material: {0}")]
    Keys(String),
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for AccessError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl From<pdx_storage::vault::VaultError> for AccessError {
    fn from(error: pdx_storage::vault::VaultError) -> Self {
        match error {
            pdx_storage::vault::VaultError::Storage(storage) => Self::Storage(storage),
            other => Self::Keys(other.to_string()),
        }
    }
}

impl AccessError {
    /// A validation failure of one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}
