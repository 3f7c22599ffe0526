//! One-time tokens sent by e-mail — a registration to confirm, an invitation to accept, a
//! password to reset — stored only as keyed hashes, bound to one purpose, short-lived, single use.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{OrganizationId, Timestamp, UserId};
use pdx_storage::schema::account_tokens;
use pdx_storage::{DbConnection, StorageError};
use serde::Serialize;

use crate::error::AccessError;
use crate::secrets::{SecretHasher, random_token};

/// Prefix that makes PDX one-time tokens recognisable (e.g. by secret scanners).
const PREFIX: &str = "pdxo_";

/// What a token is for; a token presented for another purpose is unknown there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Confirms a self-registration and sets its first password.
    Registration,
    /// Accepts an invitation to an organisation.
    Invitation,
    /// Sets a new password.
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting to be used.
    Pending,
    /// Used.
    Used,
    /// Withdrawn (replaced by a newer one, or revoked by an admin).
    Revoked,
    /// Past its expiry.
    Expired,
}

impl Status {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Used => "used",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A token's record (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// Its id.
    pub id: String,
    /// What it is for.
    pub purpose: Purpose,
    /// The address it was sent to.
    pub email: String,
    /// The account it acts on (password resets).
    pub user: Option<UserId>,
    /// The organisation it admits to (invitations).
    pub organization: Option<OrganizationId>,
    /// Who caused it to be sent (invitations).
    pub created_by: Option<UserId>,
    /// What else it carries: the registration's fields, the invitation's roles.
    pub payload: serde_json::Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was last sent.
    pub sent_at: Timestamp,
    /// When it was used.
    pub used_at: Option<Timestamp>,
    /// When it was withdrawn.
    pub revoked_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Where the token stands at `now`.
    pub fn status(&self, now: Timestamp) -> Status {
        if self.used_at.is_some() {
            Status::Used
        } else if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at <= now {
            Status::Expired
        } else {
            Status::Pending
        }
    }
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    NaiveDateTime,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

type Columns = (
    account_tokens::id,
    account_tokens::purpose,
    account_tokens::email,
    account_tokens::user_id,
    account_tokens::organization_id,
    account_tokens::created_by,
    account_tokens::payload,
    account_tokens::created_at,
    account_tokens::expires_at,
    account_tokens::sent_at,
    account_tokens::used_at,
    account_tokens::revoked_at,
);

const COLUMNS: Columns = (
    account_tokens::id,
    account_tokens::purpose,
    account_tokens::email,
    account_tokens::user_id,
    account_tokens::organization_id,
    account_tokens::created_by,
    account_tokens::payload,
    account_tokens::created_at,
    account_tokens::expires_at,
    account_tokens::sent_at,
    account_tokens::used_at,
    account_tokens::revoked_at,
);

fn corrupt(column: &str) -> AccessError {
    AccessError::Storage(StorageError::CorruptRow(format!("account_tokens.{column}")))
}

fn record(row: Row) -> Result<TokenRecord, AccessError> {
    let purpose = match row.1.as_str() {
        "registration" => Purpose::Registration,
        "invitation" => Purpose::Invitation,
        "password_reset" => Purpose::PasswordReset,
        _ => return Err(corrupt("purpose")),
    };
    let parse_user = |raw: Option<String>, column: &str| {
        raw.map(|r| r.parse::<UserId>().map_err(|_| corrupt(column)))
            .transpose()
    };
    Ok(TokenRecord {
        id: row.0,
        purpose,
        email: row.2,
        user: parse_user(row.3, "user_id")?,
        organization: row
            .4
            .map(|r| r.parse().map_err(|_| corrupt("organization_id")))
            .transpose()?,
        created_by: parse_user(row.5, "created_by")?,
        payload: serde_json::from_str(&row.6).map_err(|_| corrupt("payload"))?,
        created_at: row.7.and_utc(),
        expires_at: row.8.and_utc(),
        sent_at: row.9.and_utc(),
        used_at: row.10.map(|at| at.and_utc()),
        revoked_at: row.11.map(|at| at.and_utc()),
    })
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What it is for.
    pub purpose: Purpose,
    /// The address it goes to.
    pub email: String,
    /// The account it acts on.
    pub user: Option<UserId>,
    /// The organisation it admits to.
    pub organization: Option<OrganizationId>,
    /// Who caused it.
    pub created_by: Option<UserId>,
    /// What else it carries.
    pub payload: serde_json::Value,
}

fn new_token_text() -> Result<String, AccessError> {
    Ok(format!("{PREFIX}{}", random_token(32)?))
}

/// Creates a token valid for `ttl`; returns its record and the token text (never stored).
pub fn create(
    conn: &mut DbConnection,
    secrets: &SecretHasher,
    new: &NewToken,
    now: Timestamp,
    ttl: chrono::Duration,
) -> Result<(TokenRecord, String), AccessError> {
    insert(conn, secrets, new, now, ttl, None)
}

fn insert(
    conn: &mut DbConnection,
    secrets: &SecretHasher,
    new: &NewToken,
    now: Timestamp,
    ttl: chrono::Duration,
    revoked_at: Option<Timestamp>,
) -> Result<(TokenRecord, String), AccessError> {
    let token = new_token_text()?;
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::id.eq(&id),
            account_tokens::purpose.eq(new.purpose.as_str()),
            account_tokens::token_hash.eq(secrets.hash(&token)?),
            account_tokens::email.eq(&new.email),
            account_tokens::user_id.eq(new.user.map(|u| u.to_string())),
            account_tokens::organization_id.eq(new.organization.map(|o| o.to_string())),
            account_tokens::created_by.eq(new.created_by.map(|u| u.to_string())),
            account_tokens::payload.eq(new.payload.to_string()),
            account_tokens::created_at.eq(now.naive_utc()),
            account_tokens::expires_at.eq((now + ttl).naive_utc()),
            account_tokens::sent_at.eq(now.naive_utc()),
            account_tokens::revoked_at.eq(revoked_at.map(|at| at.naive_utc())),
        ))
        .execute(conn)?;
    Ok((find_by_id(conn, &id)?, token))
}

/// Writes a withdrawn token that was never sent: where an address has no account (or has
/// one, for a registration), the request writes what it would have written otherwise, so
/// that how long the answer takes does not tell the two apart.
pub fn create_decoy(
    conn: &mut DbConnection,
    secrets: &SecretHasher,
    purpose: Purpose,
    email: &str,
    now: Timestamp,
) -> Result<(), AccessError> {
    let new = NewToken {
        purpose,
        email: email.to_owned(),
        user: None,
        organization: None,
        created_by: None,
        payload: serde_json::json!({ "decoy": true }),
    };
    insert(
        conn,
        secrets,
        &new,
        now,
        chrono::Duration::zero(),
        Some(now),
    )
    .map(drop)
}

/// The token with this id.
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<TokenRecord, AccessError> {
    let row: Option<Row> = account_tokens::table
        .find(id)
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    row.map(record).transpose()?.ok_or(AccessError::LinkInvalid)
}

/// The pending token a presented text stands for, for `purpose`: unknown texts, tokens of
/// another purpose and withdrawn tokens are `LinkInvalid`; used ones `LinkUsed`, expired ones
/// `LinkExpired`.
pub fn find_pending(
    conn: &mut DbConnection,
    secrets: &SecretHasher,
    purpose: Purpose,
    presented: &str,
    now: Timestamp,
) -> Result<TokenRecord, AccessError> {
    let presented = presented.trim();
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Err(AccessError::LinkInvalid);
    }
    let row: Option<Row> = account_tokens::table
        .filter(account_tokens::token_hash.eq(secrets.hash(presented)?))
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    let token = row
        .map(record)
        .transpose()?
        .ok_or(AccessError::LinkInvalid)?;
    if token.purpose != purpose {
        return Err(AccessError::LinkInvalid);
    }
    match token.status(now) {
        Status::Pending => Ok(token),
        Status::Used => Err(AccessError::LinkUsed),
        Status::Expired => Err(AccessError::LinkExpired),
        Status::Revoked => Err(AccessError::LinkInvalid),
    }
}

/// Marks a token used, once: of two concurrent uses only one succeeds, the other is `LinkUsed`.
pub fn consume(conn: &mut DbConnection, id: &str, now: Timestamp) -> Result<(), AccessError> {
    let marked = diesel::update(
        account_tokens::table
            .find(id)
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::revoked_at.is_null())
            .filter(account_tokens::expires_at.gt(now.naive_utc())),
    )
    .set(account_tokens::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    if marked == 1 {
        Ok(())
    } else {
        Err(AccessError::LinkUsed)
    }
}

/// Gives a token a new text and a new expiry (a resend): the old text stops working.
pub fn reissue(
    conn: &mut DbConnection,
    secrets: &SecretHasher,
    id: &str,
    now: Timestamp,
    ttl: chrono::Duration,
) -> Result<(TokenRecord, String), AccessError> {
    let token = new_token_text()?;
    diesel::update(account_tokens::table.find(id))
        .set((
            account_tokens::token_hash.eq(secrets.hash(&token)?),
            account_tokens::expires_at.eq((now + ttl).naive_utc()),
            account_tokens::sent_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok((find_by_id(conn, id)?, token))
}

/// Withdraws one token unless it was used; returns whether it was pending.
pub fn revoke(conn: &mut DbConnection, id: &str, now: Timestamp) -> Result<bool, AccessError> {
    Ok(diesel::update(
        account_tokens::table
            .find(id)
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::revoked_at.is_null()),
    )
    .set(account_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?
        == 1)
}

/// Withdraws the unused tokens of `purpose` sent to `email` (within `organization` for
/// invitations): a newer one replaces them.
pub fn revoke_unused(
    conn: &mut DbConnection,
    purpose: Purpose,
    email: &str,
    organization: Option<OrganizationId>,
    now: Timestamp,
) -> Result<usize, AccessError> {
    let mut query = diesel::update(account_tokens::table)
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::email.eq(email))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(org) = organization {
        query = query.filter(account_tokens::organization_id.eq(org.to_string()));
    }
    Ok(query
        .set(account_tokens::revoked_at.eq(Some(now.naive_utc())))
        .execute(conn)?)
}

/// The newest unused, unwithdrawn token of `purpose` sent to `email`, expired or not.
pub fn latest_unused(
    conn: &mut DbConnection,
    purpose: Purpose,
    email: &str,
) -> Result<Option<TokenRecord>, AccessError> {
    let row: Option<Row> = account_tokens::table
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::email.eq(email))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::revoked_at.is_null())
        .order(account_tokens::created_at.desc())
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    row.map(record).transpose()
}

/// An organisation's invitations, newest first (at most `limit`).
pub fn invitations_of(
    conn: &mut DbConnection,
    org: OrganizationId,
    limit: i64,
) -> Result<Vec<TokenRecord>, AccessError> {
    let rows: Vec<Row> = account_tokens::table
        .filter(account_tokens::purpose.eq(Purpose::Invitation.as_str()))
        .filter(account_tokens::organization_id.eq(org.to_string()))
        .order((account_tokens::created_at.desc(), account_tokens::id.desc()))
        .limit(limit)
        .select(COLUMNS)
        .load(conn)?;
    rows.into_iter().map(record).collect()
}
