//! Accounts by e-mail: an enterprise registers and its address is confirmed by a link before
//! anything exists; a member is invited and accepts; a forgotten password is reset by a link.
//! Answers to anonymous callers never say whether an address has an account.

use pdx_core::{OrganizationId, Principal, Role, RoleSet, Timestamp, UserId};
use serde::Serialize;

use crate::audit::{self, AuditKind, AuditRecord, RequestContext};
use crate::error::AccessError;
use crate::mail::{Mail, Outgoing};
use crate::model::{CreditCode, Email, Organization, User, parse_name};
use crate::one_time::{self, NewToken, Purpose, Status, TokenRecord};
use crate::permissions;
use crate::refresh;
use crate::revocation::{self, Subject};
use crate::service::{
    AccessService, EnterpriseRegistration, FirstAdmin, check_roles, insert_enterprise, slug_for,
};
use crate::store::{self, NewOrganization};
use crate::throttle::LoginThrottle;

/// Least time between two sends of the same confirmation link.
const RESEND_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);
/// Most invitations listed at once.
const INVITATION_LIST_LIMIT: i64 = 500;

/// An invitation as its organisation's admins see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// The organisation it admits to.
    pub organization: OrganizationId,
    /// The address it was sent to.
    pub email: String,
    /// The roles it grants.
    pub roles: RoleSet,
    /// Who sent it.
    pub invited_by: Option<UserId>,
    /// Pending, used (accepted), revoked or expired.
    pub status: Status,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last sent.
    pub sent_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was accepted.
    pub accepted_at: Option<Timestamp>,
}

impl Invitation {
    fn from_record(record: &TokenRecord, now: Timestamp) -> Result<Self, AccessError> {
        Ok(Self {
            id: record.id.clone(),
            organization: record.organization.ok_or(AccessError::InvitationNotFound)?,
            email: record.email.clone(),
            roles: invitation_roles(record)?,
            invited_by: record.created_by,
            status: record.status(now),
            created_at: record.created_at,
            sent_at: record.sent_at,
            expires_at: record.expires_at,
            accepted_at: record.used_at,
        })
    }
}

fn invitation_roles(record: &TokenRecord) -> Result<RoleSet, AccessError> {
    serde_json::from_value(record.payload["roles"].clone()).map_err(|_| {
        AccessError::Storage(pdx_storage::StorageError::CorruptRow(
            "account_tokens.payload (roles)".into(),
        ))
    })
}

/// An invitation accepted: the account (new or existing) and what it now holds.
#[derive(Debug, Clone)]
pub struct AcceptedInvitation {
    /// The account.
    pub user: User,
    /// The organisation joined.
    pub organization: Organization,
    /// Every role the account now holds there.
    pub roles: RoleSet,
    /// Whether the account was created by accepting.
    pub account_created: bool,
}

fn ttl(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1))
}

fn expiry(at: Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn role_names(roles: RoleSet) -> String {
    roles
        .iter()
        .map(Role::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl AccessService {
    /// Counts an account request of the client address; past the hourly limit, refuses it
    /// (recording the first refusal of the hour).
    async fn limit_requests(
        &self,
        kind: AuditKind,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        let address = context.client_address.as_deref().unwrap_or("-");
        match self.requests.hit(address) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                if refusal.first {
                    let event =
                        AuditRecord::success(kind, None, None)
                            .failed()
                            .detail(serde_json::json!({
                                "reason": "throttled",
                                "retry_after_secs": refusal.retry_after.as_secs(),
                            }));
                    self.record(event, context).await;
                }
                Err(AccessError::RateLimited {
                    retry_after: refusal.retry_after,
                })
            }
        }
    }

    fn confirmation_mail(
        &self,
        to: &str,
        organization: &str,
        token: &str,
        expires: Timestamp,
    ) -> Mail {
        Mail {
            to: to.to_owned(),
            valid_until: Some(expires),
            subject: "Confirm your e-mail address for PDX".to_owned(),
            body: format!(
                "Someone, hopefully you, asked to register the enterprise \"{organization}\"\n\
                 on PDX ({base}) with this e-mail address.\n\n\
                 To confirm the address and choose your password, open this link:\n{link}\n\n\
                 It works once, until {expires}. If you did not ask for this, ignore\n\
                 this message: nothing is created until the link is followed.\n",
                base = self.mailer.public_url(),
                link = self.mailer.link("/confirm", token),
                expires = expiry(expires),
            ),
        }
    }

    fn already_registered_mail(&self, to: &str) -> Mail {
        let base = self.mailer.public_url();
        Mail {
            to: to.to_owned(),
            valid_until: None,
            subject: "Someone tried to register with your PDX address".to_owned(),
            body: format!(
                "Someone tried to register an enterprise on PDX ({base}) with this e-mail\n\
                 address. An account already uses it, so nothing was created.\n\n\
                 If it was you, sign in with your account, or set a new password at:\n\
                 {base}/password-reset\n\n\
                 If it was not you, you can ignore this message.\n"
            ),
        }
    }

    /// Self-registration: checks the fields and sends the address a confirmation link. Nothing
    /// is created until the link is followed ([`AccessService::confirm_registration`]). An
    /// address that already has an account is told so by e-mail instead; the caller gets the
    /// same answer either way.
    pub async fn request_registration(
        &self,
        registration: EnterpriseRegistration,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        self.limit_requests(AuditKind::RegistrationRequested, context)
            .await?;
        let email = Email::parse(&registration.email)?;
        let display_name = parse_name("display_name", &registration.display_name)?;
        let organization_name = parse_name("organization_name", &registration.organization_name)?;
        let slug = slug_for(registration.slug.as_deref(), &organization_name)?;
        let credit_code = CreditCode::parse(&registration.credit_code)?;
        let contact_email = match registration.contact_email.as_deref() {
            Some(raw) => Email::parse(raw)?,
            None => email.clone(),
        };
        let contact_phone = registration
            .contact_phone
            .as_deref()
            .map(|phone| parse_name("contact_phone", phone))
            .transpose()?;
        let pending = EnterpriseRegistration {
            email: email.as_str().to_owned(),
            display_name,
            organization_name: organization_name.clone(),
            slug: Some(slug.as_str().to_owned()),
            credit_code: credit_code.as_str().to_owned(),
            contact_email: Some(contact_email.as_str().to_owned()),
            contact_phone,
        };
        let payload = serde_json::to_value(&pending)
            .map_err(|e| AccessError::invalid("registration", e.to_string()))?;
        let (now, ttl, context) = (
            self.now(),
            ttl(self.settings.accounts.confirmation_ttl),
            context.clone(),
        );
        let secrets = self.secrets.clone();
        let address = email.clone();
        // Both branches do the same reads and writes and queue one message; delivery happens
        // later, so the answer's timing says nothing about the address.
        self.write_and_mail(move |conn, this| {
            store::check_organization_free(conn, slug.as_str(), Some(credit_code.as_str()))?;
            one_time::revoke_unused(conn, Purpose::Registration, address.as_str(), None, now)?;
            let known = store::find_user_by_email(conn, address.as_str())?.is_some();
            let created = if known {
                one_time::create_decoy(
                    conn,
                    &secrets,
                    Purpose::Registration,
                    address.as_str(),
                    now,
                )?;
                None
            } else {
                let new = NewToken {
                    purpose: Purpose::Registration,
                    email: address.as_str().to_owned(),
                    user: None,
                    organization: None,
                    created_by: None,
                    payload,
                };
                Some(one_time::create(conn, &secrets, &new, now, ttl)?)
            };
            let event = AuditRecord::success(AuditKind::RegistrationRequested, None, None)
                .subject(address.as_str())
                .detail(serde_json::json!({
                    "email_known": known,
                    "slug": slug.as_str(),
                }));
            audit::record(conn, &event, &context, now)?;
            let mail = match created {
                Some((record, token)) => this.confirmation_mail(
                    address.as_str(),
                    &organization_name,
                    &token,
                    record.expires_at,
                ),
                None => this.already_registered_mail(address.as_str()),
            };
            Ok(((), Outgoing::Mail(mail)))
        })
        .await
    }

    /// Sends a pending registration's confirmation again, with a new link (the old one stops
    /// working); at most once a minute. Says nothing about whether there was one to send.
    pub async fn resend_confirmation(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        self.limit_requests(AuditKind::ConfirmationResent, context)
            .await?;
        let email = Email::parse(email)?;
        let (now, ttl, context) = (
            self.now(),
            ttl(self.settings.accounts.confirmation_ttl),
            context.clone(),
        );
        let (secrets, address) = (self.secrets.clone(), email.clone());
        self.write_and_mail(move |conn, this| {
            let Some(pending) =
                one_time::latest_unused(conn, Purpose::Registration, address.as_str())?
            else {
                return Ok(((), Outgoing::Nothing));
            };
            if pending.sent_at + RESEND_INTERVAL > now {
                return Ok(((), Outgoing::Nothing));
            }
            let (record, token) = one_time::reissue(conn, &secrets, &pending.id, now, ttl)?;
            let event = AuditRecord::success(AuditKind::ConfirmationResent, None, None)
                .subject(address.as_str());
            audit::record(conn, &event, &context, now)?;
            let organization = record.payload["organization_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mail =
                this.confirmation_mail(address.as_str(), &organization, &token, record.expires_at);
            Ok(((), Outgoing::Mail(mail)))
        })
        .await
    }

    /// Follows a registration's confirmation link: creates the enterprise (unverified) and its
    /// first user, its admin, with the password chosen now by whoever controls the address.
    pub async fn confirm_registration(
        &self,
        token: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<(Organization, User), AccessError> {
        self.password_policy().check(password)?;
        let (now, secrets, presented) = (self.now(), self.secrets.clone(), token.to_owned());
        // Everything that can refuse is checked before the password is hashed.
        let (record, registration) = self
            .read(move |conn| {
                let record =
                    one_time::find_pending(conn, &secrets, Purpose::Registration, &presented, now)?;
                let registration: EnterpriseRegistration =
                    serde_json::from_value(record.payload.clone()).map_err(|_| {
                        AccessError::Storage(pdx_storage::StorageError::CorruptRow(
                            "account_tokens.payload (registration)".into(),
                        ))
                    })?;
                if store::find_user_by_email(conn, &record.email)?.is_some() {
                    return Err(AccessError::EmailTaken);
                }
                store::check_organization_free(
                    conn,
                    registration.slug.as_deref().unwrap_or_default(),
                    Some(&registration.credit_code),
                )?;
                Ok((record, registration))
            })
            .await?;
        let hash = self.passwords().hash(password).await?;
        let context = context.clone();
        self.write(move |conn| {
            one_time::consume(conn, &record.id, now)?;
            let new = NewOrganization {
                slug: registration.slug.clone().unwrap_or_default(),
                name: registration.organization_name.clone(),
                kind: pdx_core::OrgKind::Enterprise,
                credit_code: Some(registration.credit_code.clone()),
                verified: false,
                contact_email: registration.contact_email.clone(),
                contact_phone: registration.contact_phone.clone(),
            };
            let admin = FirstAdmin {
                email: &record.email,
                display_name: &registration.display_name,
                password_hash: &hash,
            };
            let detail = serde_json::json!({ "email_confirmed": true });
            insert_enterprise(conn, &new, &admin, detail, &context, now)
        })
        .await
    }

    fn reset_mail(&self, to: &str, token: &str, expires: Timestamp) -> Mail {
        Mail {
            to: to.to_owned(),
            valid_until: Some(expires),
            subject: "Reset your PDX password".to_owned(),
            body: format!(
                "Someone, hopefully you, asked to reset the password of your PDX account\n\
                 ({base}).\n\n\
                 To choose a new password, open this link:\n{link}\n\n\
                 It works once, until {expires}. Setting a new password signs out every\n\
                 session of the account. If you did not ask for this, ignore this message:\n\
                 your password stays as it is.\n",
                base = self.mailer.public_url(),
                link = self.mailer.link("/password-reset", token),
                expires = expiry(expires),
            ),
        }
    }

    /// Sends a password-reset link to the address if it has an (enabled) account; the caller
    /// gets the same answer either way. A newer link replaces older ones.
    pub async fn request_password_reset(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        self.limit_requests(AuditKind::PasswordResetRequested, context)
            .await?;
        let email = Email::parse(email)?;
        let (now, ttl, context) = (
            self.now(),
            ttl(self.settings.accounts.password_reset_ttl),
            context.clone(),
        );
        let (secrets, address) = (self.secrets.clone(), email.clone());
        // Both branches write a token and a queued message (a decoy where there is no account),
        // so the answer's timing says nothing about the address.
        self.write_and_mail(move |conn, this| {
            one_time::revoke_unused(conn, Purpose::PasswordReset, address.as_str(), None, now)?;
            let user = store::find_user_by_email(conn, address.as_str())?;
            match user {
                Some((user, _)) if !user.disabled => {
                    let new = NewToken {
                        purpose: Purpose::PasswordReset,
                        email: address.as_str().to_owned(),
                        user: Some(user.id),
                        organization: None,
                        created_by: None,
                        payload: serde_json::json!({}),
                    };
                    let (record, token) = one_time::create(conn, &secrets, &new, now, ttl)?;
                    let event = AuditRecord::success(
                        AuditKind::PasswordResetRequested,
                        Some(user.id),
                        None,
                    )
                    .subject(user.id);
                    audit::record(conn, &event, &context, now)?;
                    let mail = this.reset_mail(address.as_str(), &token, record.expires_at);
                    Ok(((), Outgoing::Mail(mail)))
                }
                other => {
                    one_time::create_decoy(
                        conn,
                        &secrets,
                        Purpose::PasswordReset,
                        address.as_str(),
                        now,
                    )?;
                    let reason = if other.is_some() {
                        "account_disabled"
                    } else {
                        "no_account"
                    };
                    let event = AuditRecord::success(AuditKind::PasswordResetRequested, None, None)
                        .failed()
                        .subject(address.as_str())
                        .detail(serde_json::json!({ "reason": reason }));
                    audit::record(conn, &event, &context, now)?;
                    Ok(((), Outgoing::Decoy))
                }
            }
        })
        .await
    }

    /// Follows a password-reset link: sets the new password, confirms the address, and ends
    /// every session of the account (refresh tokens and access tokens alike).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        self.password_policy().check(new_password)?;
        let (now, secrets, presented) = (self.now(), self.secrets.clone(), token.to_owned());
        let (record, user) = self
            .read(move |conn| {
                let record = one_time::find_pending(
                    conn,
                    &secrets,
                    Purpose::PasswordReset,
                    &presented,
                    now,
                )?;
                let user_id = record.user.ok_or(AccessError::LinkInvalid)?;
                let (user, _) = store::find_user(conn, user_id)?;
                if user.disabled || user.email != record.email {
                    return Err(AccessError::LinkInvalid);
                }
                Ok((record, user))
            })
            .await?;
        let hash = self.passwords().hash(new_password).await?;
        let (context, user_id, email) = (context.clone(), user.id, user.email.clone());
        let revoked = self
            .write_and_mail(move |conn, this| {
                one_time::consume(conn, &record.id, now)?;
                store::set_password(conn, user_id, &hash, false, now)?;
                store::confirm_email(conn, user_id, now)?;
                refresh::revoke_all_of_user(conn, user_id, now)?;
                let revoked = revocation::revoke(conn, Subject::User(user_id), now)?;
                one_time::revoke_unused(conn, Purpose::PasswordReset, &email, None, now)?;
                LoginThrottle::forget_account(conn, &email)?;
                let event = AuditRecord::success(AuditKind::PasswordReset, Some(user_id), None)
                    .subject(user_id);
                audit::record(conn, &event, &context, now)?;
                Ok((revoked, Outgoing::Mail(this.password_changed_mail(&email))))
            })
            .await?;
        self.tokens().revocations().committed(revoked);
        Ok(())
    }

    #[allow(clippy::too_many_arguments, reason = "the facts of one message")]
    fn invitation_mail(
        &self,
        to: &str,
        organization: &str,
        inviter: &str,
        roles: RoleSet,
        has_account: bool,
        token: &str,
        expires: Timestamp,
    ) -> Mail {
        let how = if has_account {
            "To join with your existing PDX account, open this link:"
        } else {
            "To accept, open this link and choose your name and password:"
        };
        Mail {
            to: to.to_owned(),
            valid_until: Some(expires),
            subject: format!("You are invited to join {organization} on PDX"),
            body: format!(
                "{inviter} invited you to join \"{organization}\" on PDX ({base})\n\
                 with the roles: {roles}.\n\n\
                 {how}\n{link}\n\n\
                 It works once, until {expires}. If you do not want to join, ignore this\n\
                 message.\n",
                base = self.mailer.public_url(),
                roles = role_names(roles),
                link = self.mailer.link("/invitations/accept", token),
                expires = expiry(expires),
            ),
        }
    }

    /// Invites an address to an organisation with roles: the holder of the address accepts
    /// (creating an account if it has none). Nobody else sets or sees its password.
    pub async fn invite_member(
        &self,
        principal: &Principal,
        org: OrganizationId,
        email: &str,
        roles: Vec<Role>,
        context: &RequestContext,
    ) -> Result<Invitation, AccessError> {
        permissions::manage_members(principal, org)?;
        let email = Email::parse(email)?;
        let roles: RoleSet = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(AccessError::invalid(
                "roles",
                "at least one role is required",
            ));
        }
        self.mailer
            .may_send(email.as_str())
            .map_err(|refusal| AccessError::RateLimited {
                retry_after: refusal.retry_after,
            })?;
        let (now, ttl, context, actor) = (
            self.now(),
            ttl(self.settings.accounts.invitation_ttl),
            context.clone(),
            principal.clone(),
        );
        let (secrets, address) = (self.secrets.clone(), email.clone());
        let record = self
            .write_and_mail(move |conn, this| {
                let organization = store::find_organization(conn, org)?;
                check_roles(roles, organization.kind)?;
                let existing = store::find_user_by_email(conn, address.as_str())?;
                if let Some((user, _)) = &existing
                    && !store::roles_in(conn, user.id, org)?.is_empty()
                {
                    return Err(AccessError::AlreadyMember);
                }
                one_time::revoke_unused(
                    conn,
                    Purpose::Invitation,
                    address.as_str(),
                    Some(org),
                    now,
                )?;
                let new = NewToken {
                    purpose: Purpose::Invitation,
                    email: address.as_str().to_owned(),
                    user: None,
                    organization: Some(org),
                    created_by: Some(actor.user),
                    payload: serde_json::json!({ "roles": roles }),
                };
                let (record, token) = one_time::create(conn, &secrets, &new, now, ttl)?;
                let inviter = store::find_user(conn, actor.user)
                    .map(|(user, _)| user.display_name)
                    .unwrap_or_else(|_| "An administrator".to_owned());
                let event = AuditRecord::success(
                    AuditKind::InvitationCreated,
                    Some(actor.user),
                    Some(actor.org),
                )
                .subject(address.as_str())
                .detail(serde_json::json!({
                    "invitation": record.id,
                    "organization": org,
                    "roles": roles,
                }));
                audit::record(conn, &event, &context, now)?;
                let mail = this.invitation_mail(
                    address.as_str(),
                    &organization.name,
                    &inviter,
                    roles,
                    existing.is_some(),
                    &token,
                    record.expires_at,
                );
                Ok((record, Outgoing::Mail(mail)))
            })
            .await?;
        Invitation::from_record(&record, now)
    }

    /// An organisation's invitations, newest first.
    pub async fn invitations(
        &self,
        principal: &Principal,
        org: OrganizationId,
    ) -> Result<Vec<Invitation>, AccessError> {
        permissions::read_members(principal, org)?;
        let now = self.now();
        let records = self
            .read(move |conn| {
                store::find_organization(conn, org)?;
                one_time::invitations_of(conn, org, INVITATION_LIST_LIMIT)
            })
            .await?;
        records
            .iter()
            .map(|record| Invitation::from_record(record, now))
            .collect()
    }

    fn invitation_in(record: TokenRecord, org: OrganizationId) -> Result<TokenRecord, AccessError> {
        if record.purpose == Purpose::Invitation && record.organization == Some(org) {
            Ok(record)
        } else {
            Err(AccessError::InvitationNotFound)
        }
    }

    /// Withdraws a pending invitation: its link stops working.
    pub async fn revoke_invitation(
        &self,
        principal: &Principal,
        org: OrganizationId,
        id: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        permissions::manage_members(principal, org)?;
        let (now, context, actor, id) = (
            self.now(),
            context.clone(),
            principal.clone(),
            id.to_owned(),
        );
        self.write(move |conn| {
            let record = one_time::find_by_id(conn, &id)
                .map_err(|_| AccessError::InvitationNotFound)
                .and_then(|record| Self::invitation_in(record, org))?;
            if !one_time::revoke(conn, &record.id, now)? {
                return Err(AccessError::InvitationNotPending);
            }
            let event = AuditRecord::success(
                AuditKind::InvitationRevoked,
                Some(actor.user),
                Some(actor.org),
            )
            .subject(&record.email)
            .detail(serde_json::json!({ "invitation": record.id, "organization": org }));
            audit::record(conn, &event, &context, now).map(drop)
        })
        .await
    }

    /// Sends a pending (or expired) invitation again with a new link and a new expiry; the
    /// old link stops working.
    pub async fn resend_invitation(
        &self,
        principal: &Principal,
        org: OrganizationId,
        id: &str,
        context: &RequestContext,
    ) -> Result<Invitation, AccessError> {
        permissions::manage_members(principal, org)?;
        let (now, ttl, context, actor, id) = (
            self.now(),
            ttl(self.settings.accounts.invitation_ttl),
            context.clone(),
            principal.clone(),
            id.to_owned(),
        );
        let current = self
            .read(move |conn| {
                one_time::find_by_id(conn, &id)
                    .map_err(|_| AccessError::InvitationNotFound)
                    .and_then(|record| Self::invitation_in(record, org))
            })
            .await?;
        if matches!(current.status(now), Status::Used | Status::Revoked) {
            return Err(AccessError::InvitationNotPending);
        }
        if current.sent_at + RESEND_INTERVAL > now {
            let wait = (current.sent_at + RESEND_INTERVAL - now)
                .to_std()
                .unwrap_or_default();
            return Err(AccessError::RateLimited {
                retry_after: wait.max(std::time::Duration::from_secs(1)),
            });
        }
        self.mailer
            .may_send(&current.email)
            .map_err(|refusal| AccessError::RateLimited {
                retry_after: refusal.retry_after,
            })?;
        let secrets = self.secrets.clone();
        let record = self
            .write_and_mail(move |conn, this| {
                let (record, token) = one_time::reissue(conn, &secrets, &current.id, now, ttl)?;
                let organization = store::find_organization(conn, org)?;
                let inviter = store::find_user(conn, actor.user)
                    .map(|(user, _)| user.display_name)
                    .unwrap_or_else(|_| "An administrator".to_owned());
                let has_account = store::find_user_by_email(conn, &record.email)?.is_some();
                let event = AuditRecord::success(
                    AuditKind::InvitationResent,
                    Some(actor.user),
                    Some(actor.org),
                )
                .subject(&record.email)
                .detail(serde_json::json!({ "invitation": record.id, "organization": org }));
                audit::record(conn, &event, &context, now)?;
                let roles = Invitation::from_record(&record, now)?.roles;
                let mail = this.invitation_mail(
                    &record.email,
                    &organization.name,
                    &inviter,
                    roles,
                    has_account,
                    &token,
                    record.expires_at,
                );
                Ok((record, Outgoing::Mail(mail)))
            })
            .await?;
        Invitation::from_record(&record, now)
    }

    /// Accepts an invitation by its link. The address's account, if it has one, joins the
    /// organisation (the link proves control of the address); otherwise an account is created
    /// with the name and password given now.
    pub async fn accept_invitation(
        &self,
        token: &str,
        display_name: Option<&str>,
        password: Option<&str>,
        context: &RequestContext,
    ) -> Result<AcceptedInvitation, AccessError> {
        let (now, secrets, presented) = (self.now(), self.secrets.clone(), token.to_owned());
        let (record, existing) = self
            .read(move |conn| {
                let record =
                    one_time::find_pending(conn, &secrets, Purpose::Invitation, &presented, now)?;
                let existing = store::find_user_by_email(conn, &record.email)?.map(|(u, _)| u);
                Ok((record, existing))
            })
            .await?;
        let org = record.organization.ok_or(AccessError::LinkInvalid)?;
        let roles = invitation_roles(&record)?;
        let new_account = match &existing {
            Some(user) if user.disabled => return Err(AccessError::LinkInvalid),
            Some(_) => None,
            None => {
                let name = display_name.ok_or_else(|| {
                    AccessError::invalid("display_name", "is required to create the account")
                })?;
                let name = parse_name("display_name", name)?;
                let password = password.ok_or_else(|| {
                    AccessError::invalid("password", "is required to create the account")
                })?;
                self.password_policy().check(password)?;
                Some((name, self.passwords().hash(password).await?))
            }
        };
        let context = context.clone();
        self.write(move |conn| {
            one_time::consume(conn, &record.id, now)?;
            let organization = store::find_organization(conn, org)?;
            check_roles(roles, organization.kind)?;
            let (user, account_created) = match (existing, new_account) {
                (Some(user), _) => {
                    store::confirm_email(conn, user.id, now)?;
                    (user, false)
                }
                (None, Some((name, hash))) => {
                    let user = store::insert_user(conn, &record.email, &name, &hash, false, now)?;
                    let event =
                        AuditRecord::success(AuditKind::UserCreated, Some(user.id), Some(org))
                            .subject(user.id)
                            .detail(serde_json::json!({ "by": "invitation" }));
                    audit::record(conn, &event, &context, now)?;
                    (user, true)
                }
                (None, None) => return Err(AccessError::LinkInvalid),
            };
            let before = store::roles_in(conn, user.id, org)?;
            let after: RoleSet = before.iter().chain(roles.iter()).collect();
            store::set_roles(conn, org, user.id, after, now)?;
            let event =
                AuditRecord::success(AuditKind::InvitationAccepted, Some(user.id), Some(org))
                    .subject(user.id)
                    .detail(serde_json::json!({
                        "invitation": record.id,
                        "invited_by": record.created_by,
                        "before": before,
                        "after": after,
                        "account_created": account_created,
                    }));
            audit::record(conn, &event, &context, now)?;
            let (user, _) = store::find_user(conn, user.id)?;
            Ok(AcceptedInvitation {
                user,
                organization,
                roles: after,
                account_created,
            })
        })
        .await
    }
}
