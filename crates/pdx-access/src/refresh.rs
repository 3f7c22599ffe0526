//! Refresh tokens: opaque, stored only as hashes, rotated on every use. Presenting a token
//! that was already rotated means it was stolen or replayed, so its whole family is revoked.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{OrganizationId, RefreshTokenId, Timestamp, UserId};
use pdx_storage::DbConnection;
use pdx_storage::schema::refresh_tokens;

use crate::error::AccessError;
use crate::secrets::{random_token, token_hash};

/// Prefix that makes PDX refresh tokens recognisable (e.g. by secret scanners).
const PREFIX: &str = "pdxr_";

/// Creates a refresh token, in a new family or continuing one; returns the token text.
pub fn issue(
    conn: &mut DbConnection,
    user: UserId,
    org: OrganizationId,
    family: Option<&str>,
    now: Timestamp,
    ttl: chrono::Duration,
) -> Result<String, AccessError> {
    let token = format!("{PREFIX}{}", random_token(32)?);
    let id = RefreshTokenId::new().to_string();
    let family = family.map_or_else(|| id.clone(), str::to_owned);
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(&id),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::user_id.eq(user.to_string()),
            refresh_tokens::organization_id.eq(org.to_string()),
            refresh_tokens::token_hash.eq(token_hash(&token)),
            refresh_tokens::created_at.eq(now.naive_utc()),
            refresh_tokens::expires_at.eq((now + ttl).naive_utc()),
        ))
        .execute(conn)?;
    Ok(token)
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was good: here is its successor, for the same user and organisation.
    Rotated {
        /// The user.
        user: UserId,
        /// The organisation.
        org: OrganizationId,
        /// The new refresh token.
        token: String,
    },
    /// The token was already used; the family is now revoked.
    Reused {
        /// The user whose family was revoked.
        user: UserId,
        /// The family revoked.
        family: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

type Row = (
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// Rotates a presented token. Run inside a transaction: a reuse revokes the family and must
/// be committed even though the caller then refuses the request.
pub fn rotate(
    conn: &mut DbConnection,
    presented: &str,
    now: Timestamp,
    ttl: chrono::Duration,
) -> Result<Rotation, AccessError> {
    let row: Option<Row> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash(presented)))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::user_id,
            refresh_tokens::organization_id,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::revoked_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, family, user, org, expires_at, used_at, revoked_at)) = row else {
        return Ok(Rotation::Invalid);
    };
    let user: UserId = user.parse().map_err(|_| AccessError::InvalidRefreshToken)?;
    let org: OrganizationId = org.parse().map_err(|_| AccessError::InvalidRefreshToken)?;
    if revoked_at.is_some() {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke_family(conn, &family, now)?;
        return Ok(Rotation::Reused { user, family });
    }
    if expires_at.and_utc() <= now {
        return Ok(Rotation::Invalid);
    }
    // Only one of two concurrent rotations of the same token can mark it used.
    let marked = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(&id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    if marked != 1 {
        revoke_family(conn, &family, now)?;
        return Ok(Rotation::Reused { user, family });
    }
    let token = issue(conn, user, org, Some(&family), now, ttl)?;
    Ok(Rotation::Rotated { user, org, token })
}

/// Revokes every token of a family.
pub fn revoke_family(
    conn: &mut DbConnection,
    family: &str,
    now: Timestamp,
) -> Result<usize, AccessError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?)
}

/// Revokes the family of a presented token (RFC 7009); returns its user if the token was known.
pub fn revoke_presented(
    conn: &mut DbConnection,
    presented: &str,
    now: Timestamp,
) -> Result<Option<UserId>, AccessError> {
    let row: Option<(String, String)> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash(presented)))
        .select((refresh_tokens::family_id, refresh_tokens::user_id))
        .first(conn)
        .optional()?;
    match row {
        Some((family, user)) => {
            revoke_family(conn, &family, now)?;
            Ok(user.parse().ok())
        }
        None => Ok(None),
    }
}

/// Revokes every refresh token of a user in an organisation (e.g. when removed from it).
pub fn revoke_all_for(
    conn: &mut DbConnection,
    user: UserId,
    org: OrganizationId,
    now: Timestamp,
) -> Result<usize, AccessError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.to_string()))
            .filter(refresh_tokens::organization_id.eq(org.to_string()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?)
}

/// Revokes every refresh token of a user in every organisation (e.g. when the password changes).
pub fn revoke_all_of_user(
    conn: &mut DbConnection,
    user: UserId,
    now: Timestamp,
) -> Result<usize, AccessError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user.to_string()))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?)
}
