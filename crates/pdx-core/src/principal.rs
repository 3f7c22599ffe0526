//! Who is asking: organisation kinds, roles, and the authenticated principal that every
//! permission check and every ledger entry is made from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{ApiKeyId, OrganizationId, UserId};

/// What an organisation is; it decides which roles its members can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// A government body: publishes data and may obtain other agencies' data.
    Agency,
    /// A company or other non-government body: obtains data.
    Enterprise,
    /// The platform operator: administrators and auditors.
    Platform,
}

impl OrgKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Agency, Self::Enterprise, Self::Platform];

    /// The kind's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agency => "agency",
            Self::Enterprise => "enterprise",
            Self::Platform => "platform",
        }
    }
}

/// A role a member holds in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the organisation's members, keys and (for agencies) offers and grants.
    Admin,
    /// Creates and edits the agency's datasets.
    Publisher,
    /// Approves the agency's datasets and reviews access requests to them.
    Reviewer,
    /// Uses data the organisation has obtained.
    Member,
    /// Runs the platform: creates agencies, verifies enterprises, manages users.
    PlatformAdmin,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 6] = [
        Self::Admin,
        Self::Publisher,
        Self::Reviewer,
        Self::Member,
        Self::PlatformAdmin,
        Self::Auditor,
    ];

    /// The role's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Publisher => "publisher",
            Self::Reviewer => "reviewer",
            Self::Member => "member",
            Self::PlatformAdmin => "platform_admin",
            Self::Auditor => "auditor",
        }
    }

    /// Whether a member of an organisation of `kind` can hold this role.
    pub fn allowed_in(self, kind: OrgKind) -> bool {
        match kind {
            OrgKind::Agency => {
                matches!(
                    self,
                    Self::Admin | Self::Publisher | Self::Reviewer | Self::Member
                )
            }
            OrgKind::Enterprise => matches!(self, Self::Admin | Self::Member),
            OrgKind::Platform => matches!(self, Self::PlatformAdmin | Self::Auditor),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A name that is not one of the known values of an enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being parsed.
    pub what: &'static str,
    /// The value given.
    pub value: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a known {}", self.value, self.what)
    }
}

impl std::error::Error for UnknownName {}

macro_rules! named_enum {
    ($ty:ty, $what:literal) => {
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        value: s.to_owned(),
                    })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(OrgKind, "organisation kind");
named_enum!(Role, "role");

/// A set of roles, small and copyable; serialised as an array of role names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RoleSet(u8);

impl RoleSet {
    /// No roles.
    pub const EMPTY: Self = Self(0);

    /// Whether `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether any of `roles` is in the set.
    pub fn contains_any(self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.contains(*role))
    }

    /// Adds a role.
    pub fn insert(&mut self, role: Role) {
        self.0 |= role.bit();
    }

    /// The roles present in both sets.
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(move |role| self.contains(*role))
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for role in iter {
            set.insert(role);
        }
        set
    }
}

impl fmt::Debug for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for RoleSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for RoleSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Role>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// An authenticated caller: a user acting for one organisation, possibly through an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (for an API key, the user who created it).
    pub user: UserId,
    /// The organisation the user acts for.
    pub org: OrganizationId,
    /// The kind of that organisation.
    pub org_kind: OrgKind,
    /// The roles held in that organisation for this token.
    pub roles: RoleSet,
    /// The access token's id (`jti`).
    pub token_id: String,
    /// The API key the token was obtained with, if any.
    pub api_key: Option<ApiKeyId>,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_confined_to_their_kind_of_organisation() {
        assert!(Role::Publisher.allowed_in(OrgKind::Agency));
        assert!(!Role::Publisher.allowed_in(OrgKind::Enterprise));
        assert!(!Role::PlatformAdmin.allowed_in(OrgKind::Agency));
        assert!(Role::Auditor.allowed_in(OrgKind::Platform));
        assert!(!Role::Member.allowed_in(OrgKind::Platform));
    }

    #[test]
    fn role_set_round_trips_through_json_and_names() {
        let set: RoleSet = [Role::Reviewer, Role::Admin].into_iter().collect();
        let json = serde_json::to_string(&set).unwrap_or_default();
        assert_eq!(json, r#"["admin","reviewer"]"#);
        let back: Result<RoleSet, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(set));
        assert!(serde_json::from_str::<RoleSet>(r#"["root"]"#).is_err());
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
    }
}
