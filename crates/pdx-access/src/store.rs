//! Queries for organisations, users and memberships, against `pdx_storage::schema`.
//! Each function takes a connection so callers compose them inside one transaction.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{OrgKind, OrganizationId, Role, RoleSet, Timestamp, UserId};
use pdx_storage::feed::{self, CatalogChange};
use pdx_storage::generation as state;
use pdx_storage::schema::{memberships, organizations, users};
use pdx_storage::{DbConnection, StorageError};

use crate::error::AccessError;
use crate::model::{Member, Membership, Organization, User};

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct OrganizationRow {
    id: String,
    slug: String,
    name: String,
    kind: String,
    credit_code: Option<String>,
    verified: bool,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = AccessError;

    fn try_from(row: OrganizationRow) -> Result<Self, AccessError> {
        Ok(Self {
            id: row.id.parse().map_err(|_| corrupt("organizations.id"))?,
            slug: row.slug,
            name: row.name,
            kind: row
                .kind
                .parse()
                .map_err(|_| corrupt("organizations.kind"))?,
            credit_code: row.credit_code,
            verified: row.verified,
            contact_email: row.contact_email,
            contact_phone: row.contact_phone,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    password_hash: String,
    password_change_required: bool,
    disabled: bool,
    created_at: NaiveDateTime,
    email_confirmed_at: Option<NaiveDateTime>,
}

impl UserRow {
    fn into_user(self) -> Result<(User, String), AccessError> {
        let user = User {
            id: self.id.parse().map_err(|_| corrupt("users.id"))?,
            email: self.email,
            display_name: self.display_name,
            password_change_required: self.password_change_required,
            disabled: self.disabled,
            created_at: self.created_at.and_utc(),
            email_confirmed_at: self.email_confirmed_at.map(|at| at.and_utc()),
        };
        Ok((user, self.password_hash))
    }
}

fn corrupt(column: &str) -> AccessError {
    AccessError::Storage(StorageError::CorruptRow(column.to_owned()))
}

fn organization_columns() -> diesel::dsl::AsSelect<OrganizationRow, pdx_storage::MultiBackend> {
    OrganizationRow::as_select()
}

/// A new organisation's fields, already validated.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    /// URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Its kind.
    pub kind: OrgKind,
    /// Unified social credit code.
    pub credit_code: Option<String>,
    /// Verified from the start (agencies created by a platform admin) or pending.
    pub verified: bool,
    /// Contact address.
    pub contact_email: Option<String>,
    /// Contact telephone.
    pub contact_phone: Option<String>,
}

/// Inserts an organisation, reporting a taken slug or credit code by name.
pub fn insert_organization(
    conn: &mut DbConnection,
    new: &NewOrganization,
    now: Timestamp,
) -> Result<Organization, AccessError> {
    let id = OrganizationId::new();
    let inserted = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id.to_string()),
            organizations::slug.eq(&new.slug),
            organizations::name.eq(&new.name),
            organizations::kind.eq(new.kind.as_str()),
            organizations::credit_code.eq(&new.credit_code),
            organizations::verified.eq(new.verified),
            organizations::contact_email.eq(&new.contact_email),
            organizations::contact_phone.eq(&new.contact_phone),
            organizations::created_at.eq(now.naive_utc()),
            organizations::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match inserted {
        Ok(_) => find_organization(conn, id),
        Err(StorageError::UniqueViolation { constraint }) => {
            if constraint
                .as_deref()
                .is_some_and(|c| c.contains("credit_code"))
            {
                Err(AccessError::CreditCodeTaken)
            } else {
                Err(AccessError::SlugTaken)
            }
        }
        Err(other) => Err(other.into()),
    }
}

/// The organisation with this id.
pub fn find_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
) -> Result<Organization, AccessError> {
    organizations::table
        .find(id.to_string())
        .select(organization_columns())
        .first::<OrganizationRow>(conn)
        .optional()?
        .ok_or(AccessError::OrganizationNotFound)?
        .try_into()
}

/// The organisation with this id or, failing that, this slug.
pub fn find_organization_by_key(
    conn: &mut DbConnection,
    id_or_slug: &str,
) -> Result<Organization, AccessError> {
    match id_or_slug.parse::<OrganizationId>() {
        Ok(id) => find_organization(conn, id),
        Err(_) => find_organization_by_slug(conn, id_or_slug),
    }
}

/// The organisations with these ids (missing ones are skipped).
pub fn find_organizations(
    conn: &mut DbConnection,
    ids: &[OrganizationId],
) -> Result<Vec<Organization>, AccessError> {
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows: Vec<OrganizationRow> = organizations::table
        .filter(organizations::id.eq_any(keys))
        .select(organization_columns())
        .load(conn)?;
    rows.into_iter().map(Organization::try_from).collect()
}

/// The organisation with this slug.
pub fn find_organization_by_slug(
    conn: &mut DbConnection,
    slug: &str,
) -> Result<Organization, AccessError> {
    organizations::table
        .filter(organizations::slug.eq(slug))
        .select(organization_columns())
        .first::<OrganizationRow>(conn)
        .optional()?
        .ok_or(AccessError::OrganizationNotFound)?
        .try_into()
}

/// Refuses a slug or credit code an organisation already has.
pub fn check_organization_free(
    conn: &mut DbConnection,
    slug: &str,
    credit_code: Option<&str>,
) -> Result<(), AccessError> {
    let slug_taken: i64 = organizations::table
        .filter(organizations::slug.eq(slug))
        .count()
        .get_result(conn)?;
    if slug_taken > 0 {
        return Err(AccessError::SlugTaken);
    }
    if let Some(code) = credit_code {
        let code_taken: i64 = organizations::table
            .filter(organizations::credit_code.eq(code))
            .count()
            .get_result(conn)?;
        if code_taken > 0 {
            return Err(AccessError::CreditCodeTaken);
        }
    }
    Ok(())
}

/// Which organisations to list.
#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// Only this kind.
    pub kind: Option<OrgKind>,
    /// Only verified (or only unverified) organisations.
    pub verified: Option<bool>,
}

/// A page of organisations by name, and the total matching.
pub fn list_organizations(
    conn: &mut DbConnection,
    filter: &OrganizationFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Organization>, i64), AccessError> {
    let query = || {
        let mut query = organizations::table.into_boxed();
        if let Some(kind) = filter.kind {
            query = query.filter(organizations::kind.eq(kind.as_str()));
        }
        if let Some(verified) = filter.verified {
            query = query.filter(organizations::verified.eq(verified));
        }
        query
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows: Vec<OrganizationRow> = query()
        .select(organization_columns())
        .order((organizations::name.asc(), organizations::id.asc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let organizations = rows
        .into_iter()
        .map(Organization::try_from)
        .collect::<Result<_, _>>()?;
    Ok((organizations, total))
}

/// Changes what can be edited of an organisation; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrganizationChanges {
    /// New display name.
    pub name: Option<String>,
    /// New contact address (`Some(None)` clears it).
    pub contact_email: Option<Option<String>>,
    /// New contact telephone (`Some(None)` clears it).
    pub contact_phone: Option<Option<String>>,
    /// New verification state.
    pub verified: Option<bool>,
}

/// Applies changes to an organisation and returns it as stored.
pub fn update_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
    changes: &OrganizationChanges,
    now: Timestamp,
) -> Result<Organization, AccessError> {
    let current = find_organization(conn, id)?;
    diesel::update(organizations::table.find(id.to_string()))
        .set((
            organizations::name.eq(changes.name.clone().unwrap_or(current.name)),
            organizations::contact_email.eq(changes
                .contact_email
                .clone()
                .unwrap_or(current.contact_email)),
            organizations::contact_phone.eq(changes
                .contact_phone
                .clone()
                .unwrap_or(current.contact_phone)),
            organizations::verified.eq(changes.verified.unwrap_or(current.verified)),
            organizations::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    state::bump(conn, state::ORGANIZATIONS)?;
    // Organisations appear in the catalog as publishers: cached views and every process's
    // search index must show the change too.
    feed::record(conn, &CatalogChange::Organization(id.to_string()))?;
    find_organization(conn, id)
}

/// Inserts a user with an already-hashed password. Every caller has seen control of the
/// address shown (a followed link) or vouched for it (an operator), so the account is
/// confirmed from the start.
pub fn insert_user(
    conn: &mut DbConnection,
    email: &str,
    display_name: &str,
    password_hash: &str,
    password_change_required: bool,
    now: Timestamp,
) -> Result<User, AccessError> {
    let id = UserId::new();
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::email.eq(email),
            users::display_name.eq(display_name),
            users::password_hash.eq(password_hash),
            users::password_change_required.eq(password_change_required),
            users::disabled.eq(false),
            users::created_at.eq(now.naive_utc()),
            users::updated_at.eq(now.naive_utc()),
            users::email_confirmed_at.eq(Some(now.naive_utc())),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match inserted {
        Ok(_) => find_user(conn, id).map(|(user, _)| user),
        Err(StorageError::UniqueViolation { .. }) => Err(AccessError::EmailTaken),
        Err(other) => Err(other.into()),
    }
}

fn user_columns() -> (
    users::id,
    users::email,
    users::display_name,
    users::password_hash,
    users::password_change_required,
    users::disabled,
    users::created_at,
    users::email_confirmed_at,
) {
    (
        users::id,
        users::email,
        users::display_name,
        users::password_hash,
        users::password_change_required,
        users::disabled,
        users::created_at,
        users::email_confirmed_at,
    )
}

/// The user with this id and their password hash.
pub fn find_user(conn: &mut DbConnection, id: UserId) -> Result<(User, String), AccessError> {
    users::table
        .find(id.to_string())
        .select(user_columns())
        .first::<UserRow>(conn)
        .optional()?
        .ok_or(AccessError::UserNotFound)?
        .into_user()
}

/// The user signing in with this address, if any, and their password hash.
pub fn find_user_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<(User, String)>, AccessError> {
    users::table
        .filter(users::email.eq(email))
        .select(user_columns())
        .first::<UserRow>(conn)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

/// Replaces a user's password hash and clears (or sets) the one-time flag.
pub fn set_password(
    conn: &mut DbConnection,
    user: UserId,
    password_hash: &str,
    change_required: bool,
    now: Timestamp,
) -> Result<(), AccessError> {
    let updated = diesel::update(users::table.find(user.to_string()))
        .set((
            users::password_hash.eq(password_hash),
            users::password_change_required.eq(change_required),
            users::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AccessError::UserNotFound)
    }
}

/// Records that control of the account's address was shown, unless it already was.
pub fn confirm_email(
    conn: &mut DbConnection,
    user: UserId,
    now: Timestamp,
) -> Result<(), AccessError> {
    diesel::update(
        users::table
            .find(user.to_string())
            .filter(users::email_confirmed_at.is_null()),
    )
    .set(users::email_confirmed_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    Ok(())
}

/// How many user accounts exist.
pub fn count_users(conn: &mut DbConnection) -> Result<i64, AccessError> {
    Ok(users::table.count().get_result(conn)?)
}

/// Every organisation the user belongs to, with the roles held there, oldest first.
pub fn memberships_of(
    conn: &mut DbConnection,
    user: UserId,
) -> Result<Vec<Membership>, AccessError> {
    let rows: Vec<(String, NaiveDateTime, OrganizationRow)> = memberships::table
        .inner_join(organizations::table)
        .filter(memberships::user_id.eq(user.to_string()))
        .select((
            memberships::role,
            memberships::created_at,
            organization_columns(),
        ))
        .order((memberships::created_at.asc(), organizations::id.asc()))
        .load(conn)?;
    let mut by_org: Vec<Membership> = Vec::new();
    for (role, _, row) in rows {
        let role: Role = role.parse().map_err(|_| corrupt("memberships.role"))?;
        let organization = Organization::try_from(row)?;
        match by_org
            .iter_mut()
            .find(|m| m.organization.id == organization.id)
        {
            Some(membership) => membership.roles.insert(role),
            None => by_org.push(Membership {
                organization,
                roles: [role].into_iter().collect(),
            }),
        }
    }
    Ok(by_org)
}

/// The roles a user holds in one organisation (empty if not a member).
pub fn roles_in(
    conn: &mut DbConnection,
    user: UserId,
    org: OrganizationId,
) -> Result<RoleSet, AccessError> {
    let roles: Vec<String> = memberships::table
        .filter(memberships::user_id.eq(user.to_string()))
        .filter(memberships::organization_id.eq(org.to_string()))
        .select(memberships::role)
        .load(conn)?;
    roles
        .iter()
        .map(|r| r.parse::<Role>().map_err(|_| corrupt("memberships.role")))
        .collect()
}

/// The members of an organisation with their roles, by display name.
pub fn members_of(
    conn: &mut DbConnection,
    org: OrganizationId,
) -> Result<Vec<Member>, AccessError> {
    let rows: Vec<(String, UserRow)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::organization_id.eq(org.to_string()))
        .select((memberships::role, user_columns()))
        .order((users::display_name.asc(), users::id.asc()))
        .load(conn)?;
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut order = Vec::new();
    for (role, row) in rows {
        let role: Role = role.parse().map_err(|_| corrupt("memberships.role"))?;
        let (user, _) = row.into_user()?;
        let key = user.id.to_string();
        if let Some(member) = members.get_mut(&key) {
            member.roles.insert(role);
        } else {
            order.push(key.clone());
            members.insert(
                key,
                Member {
                    user,
                    roles: [role].into_iter().collect(),
                },
            );
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|key| members.remove(&key))
        .collect())
}

/// Replaces the roles a user holds in an organisation; an empty set removes the membership.
pub fn set_roles(
    conn: &mut DbConnection,
    org: OrganizationId,
    user: UserId,
    roles: RoleSet,
    now: Timestamp,
) -> Result<(), AccessError> {
    diesel::delete(
        memberships::table
            .filter(memberships::organization_id.eq(org.to_string()))
            .filter(memberships::user_id.eq(user.to_string())),
    )
    .execute(conn)?;
    for role in roles.iter() {
        diesel::insert_into(memberships::table)
            .values((
                memberships::organization_id.eq(org.to_string()),
                memberships::user_id.eq(user.to_string()),
                memberships::role.eq(role.as_str()),
                memberships::created_at.eq(now.naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// How many members hold `role` in the organisation.
pub fn count_with_role(
    conn: &mut DbConnection,
    org: OrganizationId,
    role: Role,
) -> Result<i64, AccessError> {
    Ok(memberships::table
        .filter(memberships::organization_id.eq(org.to_string()))
        .filter(memberships::role.eq(role.as_str()))
        .count()
        .get_result(conn)?)
}
