//! Portal sessions: a signed-in browser holds a random secret in a cookie, the database keeps
//! its hash with the user, the organisation acted for and the form token; signing out revokes it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{OrganizationId, Principal, Timestamp, UserId};
use pdx_storage::schema::{users, web_sessions};

use crate::audit::{self, AuditKind, AuditRecord, RequestContext};
use crate::error::AccessError;
use crate::model::Membership;
use crate::secrets::{random_token, token_hash};
use crate::service::AccessService;

/// Prefix that makes session secrets recognisable (e.g. by secret scanners).
const PREFIX: &str = "pdxs_";

/// How long a session lasts from sign-in, at most.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);

/// A session just opened: the secret goes into the cookie, and is not kept anywhere else.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The cookie's value.
    pub secret: String,
    /// The session as every later request sees it.
    pub session: Session,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who acts, with the roles they hold now in the organisation they act for.
    pub principal: Principal,
    /// The user's e-mail address, to show who is signed in.
    pub email: String,
    /// The name of the organisation acted for.
    pub organization_name: String,
    /// Every organisation the user is a member of, with the roles held there (the one acted
    /// for among them): where else the session may act.
    pub memberships: Vec<Membership>,
    /// The token every form of this session carries (CSRF protection).
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

impl AccessService {
    /// Signs in to the portal with an e-mail and password (the same checks, throttling and
    /// audit as the token endpoint) and opens a session.
    pub async fn open_session(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<OpenedSession, AccessError> {
        let (user, membership) = self
            .check_password(email, password, organization, context)
            .await?;
        let user_id = user.id;
        let memberships = self
            .read(move |conn| crate::store::memberships_of(conn, user_id))
            .await?;
        let secret = format!("{PREFIX}{}", random_token(32)?);
        let csrf_token = random_token(24)?;
        let now = self.clock.now();
        let expires_at = now + SESSION_TTL;
        let (id, user_id, org_id) = (token_hash(&secret), user.id, membership.organization.id);
        let (csrf, context) = (csrf_token.clone(), context.clone());
        self.write(move |conn| {
            diesel::insert_into(web_sessions::table)
                .values((
                    web_sessions::id.eq(&id),
                    web_sessions::user_id.eq(user_id.to_string()),
                    web_sessions::organization_id.eq(org_id.to_string()),
                    web_sessions::csrf_token.eq(&csrf),
                    web_sessions::created_at.eq(now.naive_utc()),
                    web_sessions::expires_at.eq(expires_at.naive_utc()),
                ))
                .execute(conn)?;
            let event = AuditRecord::success(AuditKind::SignIn, Some(user_id), Some(org_id))
                .subject(user_id)
                .detail(serde_json::json!({ "via": "portal" }));
            audit::record(conn, &event, &context, now)?;
            Ok(())
        })
        .await?;
        Ok(OpenedSession {
            session: Session::of(
                user.id,
                membership,
                memberships,
                &secret,
                user.email,
                csrf_token,
                expires_at,
            ),
            secret,
        })
    }

    /// The live session a cookie's secret names, with the roles held now; none when it is
    /// unknown, expired, signed out, or its user was disabled or left the organisation.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, AccessError> {
        if !secret.starts_with(PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let (id, now) = (token_hash(secret), self.clock.now());
        let found: Option<(String, String, String, NaiveDateTime, String, bool)> = self
            .read(move |conn| {
                Ok(web_sessions::table
                    .inner_join(users::table.on(users::id.eq(web_sessions::user_id)))
                    .filter(web_sessions::id.eq(&id))
                    .filter(web_sessions::revoked_at.is_null())
                    .filter(web_sessions::expires_at.gt(now.naive_utc()))
                    .select((
                        web_sessions::user_id,
                        web_sessions::organization_id,
                        web_sessions::csrf_token,
                        web_sessions::expires_at,
                        users::email,
                        users::disabled,
                    ))
                    .first(conn)
                    .optional()?)
            })
            .await?;
        let Some((user, org, csrf_token, expires_at, email, disabled)) = found else {
            return Ok(None);
        };
        if disabled {
            return Ok(None);
        }
        let (user_id, org_id) = match (user.parse::<UserId>(), org.parse::<OrganizationId>()) {
            (Ok(user), Ok(org)) => (user, org),
            _ => return Ok(None),
        };
        let memberships = self
            .read(move |conn| crate::store::memberships_of(conn, user_id))
            .await?;
        let membership = memberships
            .iter()
            .find(|m| m.organization.id == org_id)
            .cloned();
        let Some(membership) = membership else {
            return Ok(None);
        };
        Ok(Some(Session::of(
            user_id,
            membership,
            memberships,
            secret,
            email,
            csrf_token,
            expires_at.and_utc(),
        )))
    }

    /// Switches a live session to act for another organisation its user is a member of (slug
    /// or id), with the roles held there; the switch is in the ledger. `NotAMember` when the
    /// user is not a member there, `InvalidCredentials` when the session is not live.
    pub async fn act_for(
        &self,
        secret: &str,
        organization: &str,
        context: &RequestContext,
    ) -> Result<Session, AccessError> {
        let session = self
            .session(secret)
            .await?
            .ok_or(AccessError::InvalidCredentials)?;
        let membership = session
            .memberships
            .iter()
            .find(|m| m.is_of(organization))
            .cloned()
            .ok_or(AccessError::NotAMember)?;
        let from = session.principal.org;
        let (user, to) = (session.principal.user, membership.organization.id);
        if from == to {
            return Ok(session);
        }
        let (id, now, context) = (token_hash(secret), self.clock.now(), context.clone());
        self.write(move |conn| {
            let switched = diesel::update(
                web_sessions::table
                    .filter(web_sessions::id.eq(&id))
                    .filter(web_sessions::revoked_at.is_null()),
            )
            .set(web_sessions::organization_id.eq(to.to_string()))
            .execute(conn)?;
            if switched == 0 {
                return Err(AccessError::InvalidCredentials);
            }
            let event = AuditRecord::success(AuditKind::OrganizationSwitched, Some(user), Some(to))
                .subject(user)
                .detail(serde_json::json!({ "via": "portal", "from": from.to_string() }));
            audit::record(conn, &event, &context, now)?;
            Ok(())
        })
        .await?;
        Ok(Session::of(
            user,
            membership,
            session.memberships,
            secret,
            session.email,
            session.csrf_token,
            session.expires_at,
        ))
    }

    /// Signs out: the session named by this secret can no longer be used, in any process.
    pub async fn close_session(
        &self,
        secret: &str,
        context: &RequestContext,
    ) -> Result<(), AccessError> {
        let (id, now, context) = (token_hash(secret), self.clock.now(), context.clone());
        self.write(move |conn| {
            let owner: Option<(String, String)> = web_sessions::table
                .filter(web_sessions::id.eq(&id))
                .filter(web_sessions::revoked_at.is_null())
                .select((web_sessions::user_id, web_sessions::organization_id))
                .first(conn)
                .optional()?;
            let Some((user, org)) = owner else {
                return Ok(());
            };
            diesel::update(web_sessions::table.find(&id))
                .set(web_sessions::revoked_at.eq(now.naive_utc()))
                .execute(conn)?;
            let (user, org) = (user.parse().ok(), org.parse().ok());
            let event = AuditRecord::success(AuditKind::SignOut, user, org)
                .detail(serde_json::json!({ "via": "portal" }));
            audit::record(conn, &event, &context, now)?;
            Ok(())
        })
        .await
    }
}

impl Session {
    /// The session of `user` acting in `membership`'s organisation with the roles held there.
    fn of(
        user: UserId,
        membership: Membership,
        memberships: Vec<Membership>,
        secret: &str,
        email: String,
        csrf_token: String,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            principal: Principal {
                user,
                org: membership.organization.id,
                org_kind: membership.organization.kind,
                roles: membership.roles,
                token_id: session_token_id(secret),
                api_key: None,
            },
            email,
            organization_name: membership.organization.name,
            memberships,
            csrf_token,
            expires_at,
        }
    }
}

/// What a session's principal carries as its token id: not the secret, not its stored hash.
fn session_token_id(secret: &str) -> String {
    let digest = token_hash(&format!("principal:{secret}"));
    format!("session:{}", &digest[..16])
}
