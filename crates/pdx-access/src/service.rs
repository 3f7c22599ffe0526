//! The access-control service the API calls: sign-in and token grants, organisations,
//! members, API keys and the audit trail, each behind its permission check. Accounts by e-mail
//! (registration, invitations, password resets) are in `service_accounts`.

use std::sync::Arc;
use std::time::Duration;

use pdx_core::{
    ApiKeyId, Clock, OrgKind, OrganizationId, Page, PageRequest, Principal, Role, RoleSet, UserId,
};
use pdx_storage::{Database, DbConnection};
use serde::Serialize;

use crate::api_keys::{self, ApiKey, CreatedApiKey, NewApiKey};
use crate::audit::{self, AuditEvent, AuditFilter, AuditKind, AuditRecord, RequestContext};
use crate::error::AccessError;
use crate::keys::KeyRing;
use crate::mail::{Mail, MailSettings, Mailer, Outgoing};
use crate::model::{
    CreditCode, Email, Member, Membership, Organization, PasswordPolicy, Slug, User, parse_name,
};
use crate::password::{Argon2Params, PasswordHasher};
use crate::permissions;
use crate::refresh::{self, Rotation};
use crate::revocation::{self, Subject};
use crate::secrets::{SecretHasher, random_token};
use crate::store::{self, NewOrganization, OrganizationChanges, OrganizationFilter};
use crate::throttle::{LoginThrottle, Pair, RateLimiter, ThrottlePolicy};
use crate::tokens::{TokenService, TokenSettings, TokenSubject, VerifiedToken};

/// Slug of the platform operator's own organisation, created at bootstrap.
pub const PLATFORM_SLUG: &str = "platform";

/// How access control behaves; built from the server configuration.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// Access-token issuer, audience and lifetime.
    pub tokens: TokenSettings,
    /// Lifetime of a refresh token.
    pub refresh_ttl: Duration,
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// argon2id costs.
    pub argon2: Argon2Params,
    /// Sign-in throttling.
    pub throttle: ThrottlePolicy,
    /// The e-mail address of the first platform admin.
    pub bootstrap_admin_email: String,
    /// One-time links and account requests.
    pub accounts: AccountSettings,
    /// How e-mail goes out.
    pub mail: MailSettings,
}

/// How long one-time links last, and how many account requests an address may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// Lifetime of a registration's confirmation link.
    pub confirmation_ttl: Duration,
    /// Lifetime of an invitation.
    pub invitation_ttl: Duration,
    /// Lifetime of a password-reset link.
    pub password_reset_ttl: Duration,
    /// Registrations, resends and password-reset requests per client address and hour
    /// (0: unlimited).
    pub requests_per_address_per_hour: u32,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            confirmation_ttl: Duration::from_secs(24 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            requests_per_address_per_hour: 20,
        }
    }
}

/// The answer of the token endpoint (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenGrant {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A refresh token (not for `client_credentials`).
    pub refresh_token: Option<String>,
    /// The roles granted, space-separated.
    pub scope: String,
}

/// An enterprise's self-registration. The first user's password is chosen when the address
/// is confirmed, by whoever controls it.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct EnterpriseRegistration {
    /// The first user's e-mail address.
    pub email: String,
    /// The first user's name.
    pub display_name: String,
    /// The enterprise's name.
    pub organization_name: String,
    /// A URL-safe name; derived from the name if absent.
    pub slug: Option<String>,
    /// Its unified social credit code (required for enterprises).
    pub credit_code: String,
    /// A contact address; the user's if absent.
    pub contact_email: Option<String>,
    /// A contact telephone.
    pub contact_phone: Option<String>,
}

/// An organisation created by a platform admin or an operator.
#[derive(Debug, Clone)]
pub struct OrganizationInput {
    /// Display name.
    pub name: String,
    /// URL-safe name; derived from the name if absent.
    pub slug: Option<String>,
    /// Agency or enterprise.
    pub kind: OrgKind,
    /// Unified social credit code.
    pub credit_code: Option<String>,
    /// Contact address.
    pub contact_email: Option<String>,
    /// Contact telephone.
    pub contact_phone: Option<String>,
}

/// The signed-in user and where they belong.
#[derive(Debug, Clone)]
pub struct Me {
    /// The account.
    pub user: User,
    /// Every organisation and the roles held there.
    pub memberships: Vec<Membership>,
}

/// The credentials printed once when a fresh installation creates its first admin.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    /// The admin's e-mail address.
    pub email: String,
    /// The one-time password.
    pub password: String,
}

/// Access control for one PDX installation.
#[derive(Debug, Clone)]
pub struct AccessService {
    db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    tokens: TokenService,
    passwords: PasswordHasher,
    pub(crate) throttle: Arc<LoginThrottle>,
    pub(crate) requests: Arc<RateLimiter>,
    pub(crate) secrets: SecretHasher,
    pub(crate) mailer: Mailer,
    pub(crate) settings: Arc<AccessSettings>,
}

fn blocking_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl AccessService {
    /// Builds the service over a database, key ring, API-key hasher and the key that seals
    /// queued e-mail.
    pub fn new(
        db: Database,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyRing>,
        secrets: SecretHasher,
        mail_key: [u8; 32],
        settings: AccessSettings,
    ) -> Result<Self, AccessError> {
        let passwords = PasswordHasher::new(settings.argon2, blocking_permits())?;
        Ok(Self {
            tokens: TokenService::new(keys, settings.tokens.clone(), clock.clone()),
            throttle: Arc::new(LoginThrottle::new(settings.throttle)),
            requests: Arc::new(RateLimiter::new(
                "account_requests",
                settings.accounts.requests_per_address_per_hour,
                Duration::from_secs(3600),
            )),
            mailer: Mailer::new(&settings.mail, mail_key)?,
            db,
            clock,
            passwords,
            secrets,
            settings: Arc::new(settings),
        })
    }

    /// The same service reading the time of the events it records from another clock (tokens
    /// keep theirs): the demo loader replays a city's past with it.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..self.clone()
        }
    }

    /// The mailer (where e-mail goes).
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// The token service (JWKS, settings).
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The password rules in force.
    pub fn password_policy(&self) -> PasswordPolicy {
        self.settings.password_policy
    }

    /// Verifies a bearer token. Pure CPU, no database: this runs on every data request.
    pub fn authenticate(&self, bearer: &str) -> Result<VerifiedToken, AccessError> {
        self.tokens.verify(bearer)
    }

    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, AccessError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AccessError> + Send + 'static,
    {
        self.db.write(work).await
    }

    /// Runs `work` in one transaction and queues the e-mail it composes in that transaction,
    /// so a message is sent if and only if what it announces is committed. `work` is given
    /// the service, to compose messages with.
    pub(crate) async fn write_and_mail<T, F>(&self, work: F) -> Result<T, AccessError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Self) -> Result<(T, Outgoing), AccessError> + Send + 'static,
    {
        let this = self.clone();
        let written = self
            .db
            .write(move |conn| {
                let (value, outgoing) = work(conn, &this)?;
                let now = this.now();
                match outgoing {
                    Outgoing::Mail(mail) => {
                        this.mailer.queue(conn, &mail, now)?;
                    }
                    Outgoing::Decoy => this.mailer.queue_decoy(conn, now)?,
                    Outgoing::Nothing => {}
                }
                Ok::<_, AccessError>(value)
            })
            .await?;
        self.mailer.wake();
        Ok(written)
    }

    /// Delivers the e-mail due now (run by the server whenever mail was queued, and every
    /// moment for what other processes queued or what waits for another attempt).
    pub async fn deliver_mail(&self) -> Result<crate::mail::Delivered, AccessError> {
        self.mailer.deliver_due(&self.db, self.now()).await
    }

    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, AccessError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AccessError> + Send + 'static,
    {
        self.db.run(work).await
    }

    fn grant(
        &self,
        subject: &TokenSubject,
        refresh_token: Option<String>,
    ) -> Result<TokenGrant, AccessError> {
        let issued = self.tokens.issue(subject)?;
        Ok(TokenGrant {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token,
            scope: subject
                .roles
                .iter()
                .map(Role::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    pub(crate) fn now(&self) -> pdx_core::Timestamp {
        self.clock.now()
    }

    pub(crate) fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }

    fn refresh_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.refresh_ttl).unwrap_or(chrono::Duration::days(30))
    }

    /// Checks an e-mail and password (throttled, audited when refused) and chooses the
    /// membership to act in: the organisation given (slug or id), else the first. Sign-in by
    /// token and by portal session both start here.
    pub(crate) async fn check_password(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<(User, Membership), AccessError> {
        let account = email.trim().to_lowercase();
        let address = context.client_address.as_deref();
        // Before any argon2 work: an address over its limit costs a map lookup; an account
        // slowed down for this address, one read of its failures. A throttling is recorded
        // once, not once per attempt.
        let pair = Pair::new(&account, address);
        let mut failures = None;
        let mut throttled = self.throttle.check_address(address);
        if throttled.is_ok() {
            let checked = pair.clone();
            // Unreadable failures lock nobody out: the sign-in below needs the database too,
            // and fails with its own error.
            failures = self
                .read(move |conn| Ok(LoginThrottle::failures(conn, &checked)?))
                .await
                .ok()
                .flatten();
            throttled = self
                .throttle
                .check_pair(&pair, failures, self.now().timestamp_millis());
        }
        if let Err(refusal) = throttled {
            if refusal.first {
                let event = AuditRecord::success(AuditKind::SignIn, None, None)
                    .failed()
                    .subject(&account)
                    .detail(serde_json::json!({
                        "reason": "throttled",
                        "retry_after_secs": refusal.retry_after.as_secs(),
                    }));
                self.record(event, context).await;
            }
            return Err(AccessError::Throttled {
                retry_after: refusal.retry_after,
            });
        }

        let lookup = account.clone();
        let found = self
            .read(move |conn| store::find_user_by_email(conn, &lookup))
            .await?;
        let hash = found.as_ref().map(|(_, hash)| hash.as_str());
        let password_ok = self.passwords.verify(password, hash).await?;
        let user = match found {
            Some((user, _)) if password_ok && !user.disabled => user,
            found => {
                self.throttle.failed_address(address);
                let (throttle, failed, now) = (
                    Arc::clone(&self.throttle),
                    pair.clone(),
                    self.now().timestamp_millis(),
                );
                self.write(move |conn| Ok(throttle.record_failure(conn, &failed, now)?))
                    .await?;
                let event = AuditRecord::success(AuditKind::SignIn, found.map(|(u, _)| u.id), None)
                    .failed()
                    .subject(&account)
                    .detail(serde_json::json!({ "reason": "invalid_credentials" }));
                self.record(event, context).await;
                return Err(AccessError::InvalidCredentials);
            }
        };
        if failures.is_some() {
            self.write(move |conn| Ok(LoginThrottle::clear(conn, &pair)?))
                .await?;
        }
        if user.email_confirmed_at.is_none() {
            // Said only to whoever knows the password.
            let event = AuditRecord::success(AuditKind::SignIn, Some(user.id), None)
                .failed()
                .subject(&account)
                .detail(serde_json::json!({ "reason": "email_unconfirmed" }));
            self.record(event, context).await;
            return Err(AccessError::EmailUnconfirmed);
        }

        let user_id = user.id;
        let memberships = self
            .read(move |conn| store::memberships_of(conn, user_id))
            .await?;
        let membership = match organization {
            Some(wanted) => memberships.into_iter().find(|m| m.is_of(wanted)),
            None => memberships.into_iter().next(),
        }
        .ok_or(AccessError::NotAMember)?;
        Ok((user, membership))
    }

    /// The `password` grant: e-mail and password, optionally choosing the organisation
    /// (slug or id) for users in several.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<TokenGrant, AccessError> {
        let (user, membership) = self
            .check_password(email, password, organization, context)
            .await?;
        let user_id = user.id;
        let subject = TokenSubject {
            user: user.id,
            org: membership.organization.id,
            org_kind: membership.organization.kind,
            roles: membership.roles,
            api_key: None,
            password_change_required: user.password_change_required,
        };
        let (now, ttl, context) = (self.clock.now(), self.refresh_ttl(), context.clone());
        let org_id = membership.organization.id;
        let refresh_token = self
            .write(move |conn| {
                let token = refresh::issue(conn, user_id, org_id, None, now, ttl)?;
                let event = AuditRecord::success(AuditKind::SignIn, Some(user_id), Some(org_id))
                    .subject(user_id);
                audit::record(conn, &event, &context, now)?;
                Ok(token)
            })
            .await?;
        self.grant(&subject, Some(refresh_token))
    }

    /// The `refresh_token` grant: rotates the refresh token and issues a new access token
    /// with the user's current roles.
    pub async fn refresh(
        &self,
        presented: &str,
        context: &RequestContext,
    ) -> Result<TokenGrant, AccessError> {
        let (now, ttl, presented, context) = (
            self.clock.now(),
            self.refresh_ttl(),
            presented.to_owned(),
            context.clone(),
        );
        let outcome = self
            .write(move |conn| {
                let rotation = refresh::rotate(conn, &presented, now, ttl)?;
                match rotation {
                    Rotation::Rotated { user, org, token } => {
                        let (account, _) = store::find_user(conn, user)?;
                        let roles = store::roles_in(conn, user, org)?;
                        if account.disabled || roles.is_empty() {
                            refresh::revoke_all_for(conn, user, org, now)?;
                            return Ok(Err(AccessError::InvalidRefreshToken));
                        }
                        let organization = store::find_organization(conn, org)?;
                        let subject = TokenSubject {
                            user,
                            org,
                            org_kind: organization.kind,
                            roles,
                            api_key: None,
                            password_change_required: account.password_change_required,
                        };
                        Ok(Ok((subject, token)))
                    }
                    Rotation::Reused { user, family } => {
                        let event =
                            AuditRecord::success(AuditKind::RefreshTokenReuse, Some(user), None)
                                .failed()
                                .subject(&family);
                        audit::record(conn, &event, &context, now)?;
                        Ok(Err(AccessError::RefreshTokenReused))
                    }
                    Rotation::Invalid => Ok(Err(AccessError::InvalidRefreshToken)),
                }
            })
            .await?;
        let (subject, token) = outcome?;
        self.grant(&subject, Some(token))
    }

    /// The `client_credentials` grant: an API key for an access token acting as its creator,
    /// with the key's roles that the creator still holds.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        context: &RequestContext,
    ) -> Result<TokenGrant, AccessError> {
        let (now, context) = (self.clock.now(), context.clone());
        let (client_id, client_secret) = (client_id.to_owned(), client_secret.to_owned());
        let secrets = self.secrets.clone();
        let outcome = self
            .write(move |conn| {
                let key =
                    match api_keys::authenticate(conn, &secrets, &client_id, &client_secret, now) {
                        Ok(key) => key,
                        Err(AccessError::InvalidClient) => {
                            let event =
                                AuditRecord::success(AuditKind::ClientCredentials, None, None)
                                    .failed()
                                    .subject(&client_id);
                            audit::record(conn, &event, &context, now)?;
                            return Ok(Err(AccessError::InvalidClient));
                        }
                        Err(other) => return Err(other),
                    };
                let (creator, _) = store::find_user(conn, key.user_id)?;
                let roles = store::roles_in(conn, key.user_id, key.organization_id)?
                    .intersection(key.roles);
                if creator.disabled || roles.is_empty() {
                    return Ok(Err(AccessError::InvalidClient));
                }
                let organization = store::find_organization(conn, key.organization_id)?;
                let event = AuditRecord::success(
                    AuditKind::ClientCredentials,
                    Some(key.user_id),
                    Some(key.organization_id),
                )
                .subject(key.id);
                audit::record(conn, &event, &context, now)?;
                Ok(Ok(TokenSubject {
                    user: key.user_id,
                    org: key.organization_id,
                    org_kind: organization.kind,
                    roles,
                    api_key: Some((key.id, key.client_id)),
                    password_change_required: false,
                }))
            })
            .await?;
        self.grant(&outcome?, None)
    }

    /// Revokes a refresh token's whole family (RFC 7009: unknown tokens are not an error).
    pub async fn revoke_refresh_token(
        &self,
        presented: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        let (now, presented, context) = (self.clock.now(), presented.to_owned(), context.clone());
        self.write(move |conn| {
            if let Some(user) = refresh::revoke_presented(conn, &presented, now)? {
                let event = AuditRecord::success(AuditKind::TokenRevoked, Some(user), None);
                audit::record(conn, &event, &context, now)?;
            }
            Ok(())
        })
        .await
    }

    /// The signed-in user and their memberships.
    pub async fn me(&self, principal: &Principal) -> Result<Me, AccessError> {
        let user_id = principal.user;
        self.read(move |conn| {
            let (user, _) = store::find_user(conn, user_id)?;
            let memberships = store::memberships_of(conn, user_id)?;
            Ok(Me { user, memberships })
        })
        .await
    }

    /// Changes the signed-in user's password, given the current one.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        if principal.api_key.is_some() {
            return Err(AccessError::Forbidden {
                check: "change_password",
            });
        }
        self.settings.password_policy.check(new)?;
        if current == new {
            return Err(AccessError::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let user_id = principal.user;
        let (_, hash) = self
            .read(move |conn| store::find_user(conn, user_id))
            .await?;
        if !self.passwords.verify(current, Some(&hash)).await? {
            return Err(AccessError::invalid("current_password", "is incorrect"));
        }
        let new_hash = self.passwords.hash(new).await?;
        let (now, context, org) = (self.clock.now(), context.clone(), principal.org);
        let revoked = self
            .write_and_mail(move |conn, this| {
                store::set_password(conn, user_id, &new_hash, false, now)?;
                // Whoever held the old password holds no session of the account any more.
                refresh::revoke_all_of_user(conn, user_id, now)?;
                let revoked = revocation::revoke(conn, Subject::User(user_id), now)?;
                let event =
                    AuditRecord::success(AuditKind::PasswordChanged, Some(user_id), Some(org))
                        .subject(user_id);
                audit::record(conn, &event, &context, now)?;
                let (user, _) = store::find_user(conn, user_id)?;
                Ok((
                    revoked,
                    Outgoing::Mail(this.password_changed_mail(&user.email)),
                ))
            })
            .await?;
        self.tokens.revocations().committed(revoked);
        Ok(())
    }

    /// The notice that a password changed, so that an owner who did not change it can act.
    pub(crate) fn password_changed_mail(&self, to: &str) -> Mail {
        Mail {
            to: to.to_owned(),
            valid_until: None,
            subject: "Your PDX password was changed".to_owned(),
            body: format!(
                "The password of your PDX account ({to}) was just changed, and every session of \
                 the account was signed out.\n\n\
                 If you did not change it, reset it now at:\n{}/password-reset\n",
                self.mailer.public_url()
            ),
        }
    }

    /// Operator command (and the demo loader): registers an enterprise and its first user (its
    /// admin) at once, the operator vouching for the address; the enterprise stays unverified
    /// until a platform admin verifies it. Self-registration goes through
    /// [`AccessService::request_registration`] and a confirmation link instead.
    pub async fn register_enterprise_as_operator(
        &self,
        registration: EnterpriseRegistration,
        password: &str,
        context: &RequestContext,
    ) -> Result<(Organization, User), AccessError> {
        let email = Email::parse(&registration.email)?;
        let display_name = parse_name("display_name", &registration.display_name)?;
        let name = parse_name("organization_name", &registration.organization_name)?;
        let slug = slug_for(registration.slug.as_deref(), &name)?;
        let credit_code = CreditCode::parse(&registration.credit_code)?;
        let contact_email = match registration.contact_email.as_deref() {
            Some(raw) => Email::parse(raw)?,
            None => email.clone(),
        };
        self.settings.password_policy.check(password)?;
        let hash = self.passwords.hash(password).await?;
        let (now, context) = (self.clock.now(), context.clone());
        let new = NewOrganization {
            slug: slug.as_str().to_owned(),
            name,
            kind: OrgKind::Enterprise,
            credit_code: Some(credit_code.as_str().to_owned()),
            verified: false,
            contact_email: Some(contact_email.as_str().to_owned()),
            contact_phone: registration.contact_phone.clone(),
        };
        self.write(move |conn| {
            let admin = FirstAdmin {
                email: email.as_str(),
                display_name: &display_name,
                password_hash: &hash,
            };
            insert_enterprise(conn, &new, &admin, serde_json::json!({}), &context, now)
        })
        .await
    }

    /// A platform admin creates an agency or enterprise (created verified).
    pub async fn create_organization(
        &self,
        principal: &Principal,
        input: OrganizationInput,
        context: &RequestContext,
    ) -> Result<Organization, AccessError> {
        permissions::manage_organizations(principal)?;
        self.insert_organization(Some(principal), input, context)
            .await
    }

    async fn insert_organization(
        &self,
        actor: Option<&Principal>,
        input: OrganizationInput,
        context: &RequestContext,
    ) -> Result<Organization, AccessError> {
        if input.kind == OrgKind::Platform {
            return Err(AccessError::invalid(
                "kind",
                "only `agency` or `enterprise` can be created",
            ));
        }
        let name = parse_name("name", &input.name)?;
        let slug = slug_for(input.slug.as_deref(), &name)?;
        let credit_code = input
            .credit_code
            .as_deref()
            .map(CreditCode::parse)
            .transpose()?;
        let contact_email = input
            .contact_email
            .as_deref()
            .map(Email::parse)
            .transpose()?;
        let new = NewOrganization {
            slug: slug.as_str().to_owned(),
            name,
            kind: input.kind,
            credit_code: credit_code.map(|c| c.as_str().to_owned()),
            verified: true,
            contact_email: contact_email.map(|e| e.as_str().to_owned()),
            contact_phone: input.contact_phone,
        };
        let (now, context) = (self.clock.now(), context.clone());
        let (actor_user, actor_org) = (actor.map(|p| p.user), actor.map(|p| p.org));
        self.write(move |conn| {
            let organization = store::insert_organization(conn, &new, now)?;
            let event = AuditRecord::success(AuditKind::OrganizationCreated, actor_user, actor_org)
                .subject(organization.id)
                .detail(
                    serde_json::json!({ "kind": organization.kind, "slug": organization.slug }),
                );
            audit::record(conn, &event, &context, now)?;
            Ok(organization)
        })
        .await
    }

    /// A page of organisations; unverified ones only for those allowed to see them.
    pub async fn list_organizations(
        &self,
        principal: Option<&Principal>,
        kind: Option<OrgKind>,
        verified: Option<bool>,
        page: PageRequest,
    ) -> Result<Page<Organization>, AccessError> {
        let verified = match verified {
            Some(false) | None if permissions::list_unverified_organizations(principal).is_ok() => {
                verified
            }
            Some(false) => {
                permissions::list_unverified_organizations(principal)?;
                Some(false)
            }
            _ => Some(true),
        };
        let filter = OrganizationFilter { kind, verified };
        let (items, total) = self
            .read(move |conn| store::list_organizations(conn, &filter, page.offset(), page.limit()))
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// One organisation, by id or slug.
    pub async fn organization(
        &self,
        principal: Option<&Principal>,
        id_or_slug: &str,
    ) -> Result<Organization, AccessError> {
        let key = id_or_slug.to_owned();
        let organization = self
            .read(move |conn| store::find_organization_by_key(conn, &key))
            .await?;
        // An organisation one may not see is reported as absent, not as forbidden.
        permissions::view_organization(principal, &organization)
            .map_err(|_| AccessError::OrganizationNotFound)?;
        Ok(organization)
    }

    /// The id of the organisation with this id or slug (no visibility check: callers go on to
    /// a permission check of their own).
    pub async fn resolve_organization(
        &self,
        id_or_slug: &str,
    ) -> Result<OrganizationId, AccessError> {
        if let Ok(id) = id_or_slug.parse::<OrganizationId>() {
            return Ok(id);
        }
        let slug = id_or_slug.to_owned();
        self.read(move |conn| store::find_organization_by_slug(conn, &slug).map(|org| org.id))
            .await
    }

    /// Edits an organisation's name and contacts.
    pub async fn update_organization(
        &self,
        principal: &Principal,
        org: OrganizationId,
        name: Option<String>,
        contact_email: Option<Option<String>>,
        contact_phone: Option<Option<String>>,
        context: &RequestContext,
    ) -> Result<Organization, AccessError> {
        permissions::edit_organization(principal, org)?;
        let changes = OrganizationChanges {
            name: name.as_deref().map(|n| parse_name("name", n)).transpose()?,
            contact_email: match contact_email {
                Some(Some(raw)) => Some(Some(Email::parse(&raw)?.as_str().to_owned())),
                other => other,
            },
            contact_phone,
            verified: None,
        };
        let (now, context, actor) = (self.clock.now(), context.clone(), principal.clone());
        self.write(move |conn| {
            let organization = store::update_organization(conn, org, &changes, now)?;
            let event = AuditRecord::success(
                AuditKind::OrganizationUpdated,
                Some(actor.user),
                Some(actor.org),
            )
            .subject(org)
            .detail(serde_json::json!({
                "name": changes.name,
                "contact_email": changes.contact_email,
                "contact_phone": changes.contact_phone,
            }));
            audit::record(conn, &event, &context, now)?;
            Ok(organization)
        })
        .await
    }

    /// A platform admin verifies (or un-verifies) an organisation.
    pub async fn set_verified(
        &self,
        principal: &Principal,
        org: OrganizationId,
        verified: bool,
        context: &RequestContext,
    ) -> Result<Organization, AccessError> {
        permissions::manage_organizations(principal)?;
        let (now, context, actor) = (self.clock.now(), context.clone(), principal.clone());
        self.write(move |conn| {
            let changes = OrganizationChanges {
                verified: Some(verified),
                ..Default::default()
            };
            let organization = store::update_organization(conn, org, &changes, now)?;
            let event = AuditRecord::success(
                AuditKind::OrganizationVerified,
                Some(actor.user),
                Some(actor.org),
            )
            .subject(org)
            .detail(serde_json::json!({ "verified": verified }));
            audit::record(conn, &event, &context, now)?;
            Ok(organization)
        })
        .await
    }

    /// The members of an organisation.
    pub async fn members(
        &self,
        principal: &Principal,
        org: OrganizationId,
    ) -> Result<Vec<Member>, AccessError> {
        permissions::read_members(principal, org)?;
        self.read(move |conn| {
            store::find_organization(conn, org)?;
            store::members_of(conn, org)
        })
        .await
    }

    /// Replaces a member's roles.
    pub async fn set_member_roles(
        &self,
        principal: &Principal,
        org: OrganizationId,
        user: UserId,
        roles: Vec<Role>,
        context: &RequestContext,
    ) -> Result<Member, AccessError> {
        permissions::manage_members(principal, org)?;
        let roles: RoleSet = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(AccessError::invalid(
                "roles",
                "at least one role is required; remove the member instead",
            ));
        }
        let (now, context, actor) = (self.clock.now(), context.clone(), principal.clone());
        let (member, revoked) = self
            .write(move |conn| {
                let organization = store::find_organization(conn, org)?;
                check_roles(roles, organization.kind)?;
                let existing = store::roles_in(conn, user, org)?;
                if existing.is_empty() {
                    return Err(AccessError::UserNotFound);
                }
                keep_an_admin(conn, &organization, existing, roles)?;
                store::set_roles(conn, org, user, roles, now)?;
                // Tokens carry the roles they were issued with: the old ones end now.
                let revoked = revocation::revoke(conn, Subject::Member(user, org), now)?;
                record_roles_changed(conn, &actor, org, user, existing, roles, &context, now)?;
                let (account, _) = store::find_user(conn, user)?;
                let member = Member {
                    user: account,
                    roles,
                };
                Ok((member, revoked))
            })
            .await?;
        self.tokens.revocations().committed(revoked);
        Ok(member)
    }

    /// Removes a member from an organisation and revokes their refresh tokens there.
    pub async fn remove_member(
        &self,
        principal: &Principal,
        org: OrganizationId,
        user: UserId,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        permissions::manage_members(principal, org)?;
        let (now, context, actor) = (self.clock.now(), context.clone(), principal.clone());
        let revoked = self
            .write(move |conn| {
                let organization = store::find_organization(conn, org)?;
                let existing = store::roles_in(conn, user, org)?;
                if existing.is_empty() {
                    return Err(AccessError::UserNotFound);
                }
                keep_an_admin(conn, &organization, existing, RoleSet::EMPTY)?;
                store::set_roles(conn, org, user, RoleSet::EMPTY, now)?;
                refresh::revoke_all_for(conn, user, org, now)?;
                let revoked = revocation::revoke(conn, Subject::Member(user, org), now)?;
                let event = AuditRecord::success(
                    AuditKind::MemberRemoved,
                    Some(actor.user),
                    Some(actor.org),
                )
                .subject(user)
                .detail(serde_json::json!({ "organization": org, "roles": existing }));
                audit::record(conn, &event, &context, now)?;
                Ok(revoked)
            })
            .await?;
        self.tokens.revocations().committed(revoked);
        Ok(())
    }

    /// Creates an API key for the principal's organisation with (a subset of) their roles.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        name: &str,
        roles: Option<Vec<Role>>,
        expires_at: Option<pdx_core::Timestamp>,
        context: &RequestContext,
    ) -> Result<CreatedApiKey, AccessError> {
        permissions::create_api_key(principal)?;
        let name = parse_name("name", name)?;
        let roles: RoleSet = match roles {
            Some(roles) => roles.into_iter().collect(),
            None => principal.roles,
        };
        if roles.is_empty() {
            return Err(AccessError::invalid(
                "roles",
                "at least one role is required",
            ));
        }
        if roles.intersection(principal.roles) != roles {
            return Err(AccessError::invalid(
                "roles",
                "a key cannot have roles its creator does not hold",
            ));
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(AccessError::invalid("expires_at", "must be in the future"));
        }
        let new = NewApiKey {
            organization: principal.org,
            user: principal.user,
            name,
            roles,
            expires_at,
        };
        let (secrets, context, actor) = (self.secrets.clone(), context.clone(), principal.clone());
        self.write(move |conn| {
            let created = api_keys::create(conn, &secrets, &new, now)?;
            let event =
                AuditRecord::success(AuditKind::ApiKeyCreated, Some(actor.user), Some(actor.org))
                    .subject(created.key.id)
                    .detail(
                        serde_json::json!({ "client_id": created.key.client_id, "roles": roles }),
                    );
            audit::record(conn, &event, &context, now)?;
            Ok(created)
        })
        .await
    }

    /// The API keys the principal may see: the organisation's for its admins, else their own.
    pub async fn api_keys(&self, principal: &Principal) -> Result<Vec<ApiKey>, AccessError> {
        let created_by =
            (!permissions::list_organization_api_keys(principal)).then_some(principal.user);
        let org = principal.org;
        self.read(move |conn| api_keys::list(conn, org, created_by))
            .await
    }

    /// Revokes an API key.
    pub async fn revoke_api_key(
        &self,
        principal: &Principal,
        id: ApiKeyId,
        context: &RequestContext,
    ) -> Result<ApiKey, AccessError> {
        let (now, context, actor) = (self.clock.now(), context.clone(), principal.clone());
        let (key, revoked) = self
            .write(move |conn| {
                let key = api_keys::find(conn, id)?;
                if key.organization_id != actor.org {
                    return Err(AccessError::ApiKeyNotFound);
                }
                permissions::revoke_api_key(&actor, &key)?;
                let key = api_keys::revoke(conn, id, now)?;
                let revoked = revocation::revoke(conn, Subject::ApiKey(id), now)?;
                let event = AuditRecord::success(
                    AuditKind::ApiKeyRevoked,
                    Some(actor.user),
                    Some(actor.org),
                )
                .subject(id);
                audit::record(conn, &event, &context, now)?;
                Ok((key, revoked))
            })
            .await?;
        self.tokens.revocations().committed(revoked);
        Ok(key)
    }

    /// Exchanges the counts of the sign-in, account-request and e-mail limits with the other
    /// server processes (about once a second), so each limit holds for the platform.
    pub async fn exchange_limits(&self) -> Result<(), AccessError> {
        let (throttle, requests, mailer) = (
            Arc::clone(&self.throttle),
            Arc::clone(&self.requests),
            self.mailer.clone(),
        );
        let now = self.now().timestamp_millis();
        self.db
            .run_as_writer(move |conn| {
                throttle.sync(conn, now)?;
                requests.sync(conn)?;
                mailer.sync_limits(conn)?;
                Ok::<_, AccessError>(())
            })
            .await
    }

    /// Reloads the revocations when another process changed them; run every moment by the
    /// server, so a revocation anywhere ends the tokens everywhere within that moment.
    pub async fn refresh_revocations(&self) -> Result<(), AccessError> {
        let horizon = self.clock.now()
            - chrono::Duration::from_std(
                self.settings.tokens.access_ttl + self.settings.tokens.leeway,
            )
            .unwrap_or(chrono::Duration::hours(1));
        let tokens = self.tokens.clone();
        self.read(move |conn| Ok(tokens.revocations().refresh(conn, horizon)?))
            .await
    }

    /// A page of the audit trail, newest first.
    pub async fn audit_events(
        &self,
        principal: &Principal,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, AccessError> {
        permissions::read_audit(principal)?;
        let (items, total) = self
            .read(move |conn| audit::list(conn, &filter, page.offset(), page.limit()))
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// On a database with no users: creates the platform organisation and its first admin
    /// with a random one-time password, returned so it can be shown once.
    pub async fn bootstrap(&self) -> Result<Option<BootstrapAdmin>, AccessError> {
        let email = Email::parse(&self.settings.bootstrap_admin_email)?;
        let password = random_token(18)?;
        let hash = self.passwords.hash(&password).await?;
        let now = self.clock.now();
        let created = self
            .write(move |conn| {
                if store::count_users(conn)? > 0 {
                    return Ok(false);
                }
                let platform = match store::find_organization_by_slug(conn, PLATFORM_SLUG) {
                    Ok(platform) => platform,
                    Err(AccessError::OrganizationNotFound) => store::insert_organization(
                        conn,
                        &NewOrganization {
                            slug: PLATFORM_SLUG.to_owned(),
                            name: "PDX platform".to_owned(),
                            kind: OrgKind::Platform,
                            credit_code: None,
                            verified: true,
                            contact_email: None,
                            contact_phone: None,
                        },
                        now,
                    )?,
                    Err(other) => return Err(other),
                };
                let user = store::insert_user(
                    conn,
                    email.as_str(),
                    "Platform administrator",
                    &hash,
                    true,
                    now,
                )?;
                store::set_roles(
                    conn,
                    platform.id,
                    user.id,
                    [Role::PlatformAdmin].into_iter().collect(),
                    now,
                )?;
                let event =
                    AuditRecord::success(AuditKind::BootstrapAdminCreated, None, Some(platform.id))
                        .subject(user.id);
                audit::record(conn, &event, &RequestContext::default(), now)?;
                Ok(true)
            })
            .await?;
        Ok(created.then(|| BootstrapAdmin {
            email: self.settings.bootstrap_admin_email.trim().to_lowercase(),
            password,
        }))
    }

    /// Operator command: creates an organisation without a signed-in principal.
    pub async fn create_organization_as_operator(
        &self,
        input: OrganizationInput,
    ) -> Result<Organization, AccessError> {
        self.insert_organization(None, input, &operator_context())
            .await
    }

    /// Operator command: creates a user in an organisation (by slug) with roles.
    pub async fn create_user_as_operator(
        &self,
        organization_slug: &str,
        email: &str,
        display_name: &str,
        password: &str,
        roles: Vec<Role>,
        one_time_password: bool,
    ) -> Result<User, AccessError> {
        let email = Email::parse(email)?;
        let display_name = parse_name("display_name", display_name)?;
        self.settings.password_policy.check(password)?;
        let roles: RoleSet = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(AccessError::invalid(
                "roles",
                "at least one role is required",
            ));
        }
        let hash = self.passwords.hash(password).await?;
        let (now, slug) = (self.clock.now(), organization_slug.to_owned());
        self.write(move |conn| {
            let organization = store::find_organization_by_slug(conn, &slug)?;
            check_roles(roles, organization.kind)?;
            let user = store::insert_user(
                conn,
                email.as_str(),
                &display_name,
                &hash,
                one_time_password,
                now,
            )?;
            store::set_roles(conn, organization.id, user.id, roles, now)?;
            let event = AuditRecord::success(AuditKind::UserCreated, None, Some(organization.id))
                .subject(user.id)
                .detail(serde_json::json!({ "roles": roles, "by": "operator" }));
            audit::record(conn, &event, &operator_context(), now)?;
            Ok(user)
        })
        .await
    }

    /// Records the rotation of the JWT signing key.
    pub async fn record_key_rotation(
        &self,
        kid: &str,
        removed: &[String],
    ) -> Result<(), AccessError> {
        let event = AuditRecord::success(AuditKind::SigningKeyRotated, None, None)
            .subject(kid)
            .detail(serde_json::json!({ "removed": removed }));
        let now = self.clock.now();
        self.write(move |conn| audit::record(conn, &event, &operator_context(), now).map(drop))
            .await
    }

    /// Records, at this service's time, that the demo loader is about to write a generated past
    /// dated `history_from`..`history_until`, so the ledger says which of its entries are
    /// backdated and by whom.
    pub async fn record_demo_loaded(&self, detail: serde_json::Value) -> Result<u64, AccessError> {
        let event = AuditRecord::success(AuditKind::DemoLoaded, None, None).detail(detail);
        let now = self.clock.now();
        let context = RequestContext {
            request_id: None,
            client_address: Some("demo-loader".to_owned()),
        };
        self.write(move |conn| audit::record(conn, &event, &context, now))
            .await
    }

    /// Records an event whose failure to record must not change the answer (it is logged).
    pub(crate) async fn record(&self, event: AuditRecord, context: &RequestContext) {
        let (now, context) = (self.clock.now(), context.clone());
        let kind = event.kind;
        if let Err(error) = self
            .write(move |conn| audit::record(conn, &event, &context, now))
            .await
        {
            tracing::error!(%error, kind = kind.as_str(), "could not record an audit event");
        }
    }
}

fn operator_context() -> RequestContext {
    RequestContext {
        request_id: None,
        client_address: Some("operator-cli".to_owned()),
    }
}

pub(crate) fn slug_for(given: Option<&str>, name: &str) -> Result<Slug, AccessError> {
    match given {
        Some(slug) => Slug::parse(slug),
        None => Slug::derive_from(name).ok_or_else(|| {
            AccessError::invalid(
                "slug",
                "cannot be derived from this name; give one explicitly",
            )
        }),
    }
}

pub(crate) fn check_roles(roles: RoleSet, kind: OrgKind) -> Result<(), AccessError> {
    match roles.iter().find(|role| !role.allowed_in(kind)) {
        Some(role) => Err(AccessError::RoleNotAllowed { role, kind }),
        None => Ok(()),
    }
}

/// Refuses a change that would leave the organisation with no administrator.
fn keep_an_admin(
    conn: &mut DbConnection,
    organization: &Organization,
    before: RoleSet,
    after: RoleSet,
) -> Result<(), AccessError> {
    let admin = if organization.kind == OrgKind::Platform {
        Role::PlatformAdmin
    } else {
        Role::Admin
    };
    if before.contains(admin)
        && !after.contains(admin)
        && store::count_with_role(conn, organization.id, admin)? <= 1
    {
        return Err(AccessError::LastAdmin);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments, reason = "one audit record, many facts")]
pub(crate) fn record_roles_changed(
    conn: &mut DbConnection,
    actor: &Principal,
    org: OrganizationId,
    user: UserId,
    before: RoleSet,
    after: RoleSet,
    context: &RequestContext,
    now: pdx_core::Timestamp,
) -> Result<(), AccessError> {
    if before == after {
        return Ok(());
    }
    let event = AuditRecord::success(AuditKind::RolesChanged, Some(actor.user), Some(actor.org))
        .subject(user)
        .detail(serde_json::json!({ "organization": org, "before": before, "after": after }));
    audit::record(conn, &event, context, now).map(drop)
}

/// The first user of a registering enterprise, who becomes its admin.
pub(crate) struct FirstAdmin<'a> {
    pub(crate) email: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) password_hash: &'a str,
}

/// Creates an enterprise (unverified) with its first user as its admin and records the
/// registration, inside the caller's transaction.
pub(crate) fn insert_enterprise(
    conn: &mut DbConnection,
    new: &NewOrganization,
    admin: &FirstAdmin<'_>,
    detail: serde_json::Value,
    context: &RequestContext,
    now: pdx_core::Timestamp,
) -> Result<(Organization, User), AccessError> {
    let organization = store::insert_organization(conn, new, now)?;
    let user = store::insert_user(
        conn,
        admin.email,
        admin.display_name,
        admin.password_hash,
        false,
        now,
    )?;
    store::set_roles(
        conn,
        organization.id,
        user.id,
        [Role::Admin].into_iter().collect(),
        now,
    )?;
    let event = AuditRecord::success(
        AuditKind::EnterpriseRegistered,
        Some(user.id),
        Some(organization.id),
    )
    .subject(organization.id)
    .detail(detail);
    audit::record(conn, &event, context, now)?;
    Ok((organization, user))
}
