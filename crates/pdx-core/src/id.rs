//! Identifier newtypes: every entity id is its own type, never a bare `Uuid` or string.
//! Ids are UUID v7, so they sort by creation time and are stored as TEXT on both backends.

/// Declares a UUID-v7 identifier newtype with parsing, display and serde as a plain string.
#[macro_export]
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_newtype!(
    /// Identifies one PDX installation (one database), fixed when it is first migrated.
    InstanceId
);
id_newtype!(
    /// Identifies an organisation: an agency, an enterprise or the platform itself.
    OrganizationId
);
id_newtype!(
    /// Identifies a user account.
    UserId
);
id_newtype!(
    /// Identifies an API key of a machine client.
    ApiKeyId
);
id_newtype!(
    /// Identifies one refresh token; rotations of one sign-in share a family id.
    RefreshTokenId
);
id_newtype!(
    /// Identifies one recorded auditable event.
    AuditEventId
);
id_newtype!(
    /// Identifies a dataset.
    DatasetId
);
id_newtype!(
    /// Identifies a distribution of a dataset (a file or an API endpoint).
    DistributionId
);
id_newtype!(
    /// Identifies a request for access to a dataset.
    AccessRequestId
);
id_newtype!(
    /// Identifies a grant: the agreement under which an organisation obtains a dataset.
    GrantId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_its_string_form() {
        let id = InstanceId::new();
        let parsed: Result<InstanceId, _> = id.to_string().parse();
        assert_eq!(parsed.ok(), Some(id));
        assert!("not-a-uuid".parse::<InstanceId>().is_err());
    }

    #[test]
    fn ids_created_later_sort_later() {
        let a = InstanceId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = InstanceId::new();
        assert!(a < b);
    }
}
