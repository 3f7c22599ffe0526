//! API keys for machine clients: a public client id and a secret shown once, stored only
//! as a keyed hash; exchanged for an access token through the `client_credentials` grant.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{ApiKeyId, OrganizationId, Role, RoleSet, Timestamp, UserId};
use pdx_storage::DbConnection;
use pdx_storage::schema::api_keys;
use serde::Serialize;

use crate::error::AccessError;
use crate::secrets::{SecretHasher, random_hex, random_token};

/// An API key's record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The organisation it acts for.
    pub organization_id: OrganizationId,
    /// The user who created it; tokens obtained with it act as this user.
    pub user_id: UserId,
    /// A name to recognise it by.
    pub name: String,
    /// The public client id (`pdxk_…`), also its recognisable prefix.
    pub client_id: String,
    /// The roles it may use (never more than its creator currently holds).
    pub roles: RoleSet,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last exchanged for a token.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A new key with its secret, which exists only in this value.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    /// The stored record.
    pub key: ApiKey,
    /// The secret, to show once.
    pub client_secret: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct Row {
    id: String,
    organization_id: String,
    user_id: String,
    name: String,
    client_id: String,
    secret_hash: String,
    roles: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl Row {
    fn into_key(self) -> Result<(ApiKey, String), AccessError> {
        let corrupt =
            |c: &str| AccessError::Storage(pdx_storage::StorageError::CorruptRow(c.to_owned()));
        let roles = self
            .roles
            .split_whitespace()
            .map(|r| r.parse::<Role>().map_err(|_| corrupt("api_keys.roles")))
            .collect::<Result<RoleSet, _>>()?;
        Ok((
            ApiKey {
                id: self.id.parse().map_err(|_| corrupt("api_keys.id"))?,
                organization_id: self
                    .organization_id
                    .parse()
                    .map_err(|_| corrupt("api_keys.organization_id"))?,
                user_id: self
                    .user_id
                    .parse()
                    .map_err(|_| corrupt("api_keys.user_id"))?,
                name: self.name,
                client_id: self.client_id,
                roles,
                created_at: self.created_at.and_utc(),
                expires_at: self.expires_at.map(|t| t.and_utc()),
                last_used_at: self.last_used_at.map(|t| t.and_utc()),
                revoked_at: self.revoked_at.map(|t| t.and_utc()),
            },
            self.secret_hash,
        ))
    }
}

fn roles_text(roles: RoleSet) -> String {
    roles.iter().map(Role::as_str).collect::<Vec<_>>().join(" ")
}

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The organisation.
    pub organization: OrganizationId,
    /// The creating user.
    pub user: UserId,
    /// Its name.
    pub name: String,
    /// The roles it may use.
    pub roles: RoleSet,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
}

/// Creates a key and returns it with its one-time secret.
pub fn create(
    conn: &mut DbConnection,
    hasher: &SecretHasher,
    new: &NewApiKey,
    now: Timestamp,
) -> Result<CreatedApiKey, AccessError> {
    let id = ApiKeyId::new();
    let client_id = format!("pdxk_{}", random_hex(8)?);
    let client_secret = format!("pdxs_{}", random_token(32)?);
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(id.to_string()),
            api_keys::organization_id.eq(new.organization.to_string()),
            api_keys::user_id.eq(new.user.to_string()),
            api_keys::name.eq(&new.name),
            api_keys::client_id.eq(&client_id),
            api_keys::secret_hash.eq(hasher.hash(&client_secret)?),
            api_keys::roles.eq(roles_text(new.roles)),
            api_keys::created_at.eq(now.naive_utc()),
            api_keys::expires_at.eq(new.expires_at.map(|t| t.naive_utc())),
        ))
        .execute(conn)?;
    Ok(CreatedApiKey {
        key: find(conn, id)?,
        client_secret,
    })
}

/// The key with this id.
pub fn find(conn: &mut DbConnection, id: ApiKeyId) -> Result<ApiKey, AccessError> {
    api_keys::table
        .find(id.to_string())
        .select(Row::as_select())
        .first::<Row>(conn)
        .optional()?
        .ok_or(AccessError::ApiKeyNotFound)?
        .into_key()
        .map(|(key, _)| key)
}

/// The keys of an organisation, optionally only those created by one user, newest first.
pub fn list(
    conn: &mut DbConnection,
    organization: OrganizationId,
    created_by: Option<UserId>,
) -> Result<Vec<ApiKey>, AccessError> {
    let mut query = api_keys::table
        .filter(api_keys::organization_id.eq(organization.to_string()))
        .into_boxed();
    if let Some(user) = created_by {
        query = query.filter(api_keys::user_id.eq(user.to_string()));
    }
    let rows: Vec<Row> = query
        .select(Row::as_select())
        .order(api_keys::id.desc())
        .load(conn)?;
    rows.into_iter()
        .map(|row| row.into_key().map(|(key, _)| key))
        .collect()
}

/// Revokes a key (idempotent).
pub fn revoke(
    conn: &mut DbConnection,
    id: ApiKeyId,
    now: Timestamp,
) -> Result<ApiKey, AccessError> {
    diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id.to_string()))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    find(conn, id)
}

/// Checks a client id and secret; a usable key has its last use recorded and is returned.
pub fn authenticate(
    conn: &mut DbConnection,
    hasher: &SecretHasher,
    client_id: &str,
    client_secret: &str,
    now: Timestamp,
) -> Result<ApiKey, AccessError> {
    let row: Option<Row> = api_keys::table
        .filter(api_keys::client_id.eq(client_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        // Spend the same work as for a known key.
        std::hint::black_box(hasher.verify(client_secret, "00"));
        return Err(AccessError::InvalidClient);
    };
    let (key, secret_hash) = row.into_key()?;
    let usable = hasher.verify(client_secret, &secret_hash)
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|expiry| expiry > now);
    if !usable {
        return Err(AccessError::InvalidClient);
    }
    diesel::update(api_keys::table.find(key.id.to_string()))
        .set(api_keys::last_used_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    Ok(key)
}
