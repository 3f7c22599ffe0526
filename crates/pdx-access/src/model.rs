//! The values of access control — e-mail addresses, slugs, credit codes, passwords — parsed
//! once at the edge, and the organisation, user and membership records built from them.

use pdx_core::{OrgKind, OrganizationId, RoleSet, Timestamp, UserId};
use serde::Serialize;

use crate::error::AccessError;

/// A syntactically plausible e-mail address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, AccessError> {
        let email = raw.trim().to_lowercase();
        let invalid = || AccessError::invalid("email", "is not a valid e-mail address");
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let plausible = !local.is_empty()
            && email.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if plausible {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL-safe organisation name: 2–64 of `a-z`, `0-9` and `-`, not starting or ending in `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    /// Parses a slug.
    pub fn parse(raw: &str) -> Result<Self, AccessError> {
        let slug = raw.trim();
        let valid = (2..=64).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if valid {
            Ok(Self(slug.to_owned()))
        } else {
            Err(AccessError::invalid(
                "slug",
                "must be 2-64 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ))
        }
    }

    /// Derives a slug from a display name, for names written in Latin letters.
    pub fn derive_from(name: &str) -> Option<Self> {
        Self::parse(&pdx_core::slug::kebab(name, 64)).ok()
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unified social credit code (统一社会信用代码, GB 32100-2015), check digit verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CreditCode(String);

const CREDIT_CODE_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

impl CreditCode {
    /// Parses an 18-character code and verifies its check character.
    pub fn parse(raw: &str) -> Result<Self, AccessError> {
        let code = raw.trim().to_ascii_uppercase();
        let invalid = |message: &str| AccessError::invalid("credit_code", message.to_owned());
        if code.len() != 18 {
            return Err(invalid("must be 18 characters"));
        }
        let values: Option<Vec<u32>> = code
            .bytes()
            .map(|b| {
                CREDIT_CODE_ALPHABET
                    .iter()
                    .position(|&a| a == b)
                    .and_then(|p| u32::try_from(p).ok())
            })
            .collect();
        let values =
            values.ok_or_else(|| invalid("contains a character not used in credit codes"))?;
        let sum: u32 = values
            .iter()
            .zip(CREDIT_CODE_WEIGHTS)
            .map(|(value, weight)| value * weight)
            .sum();
        let expected = (31 - sum % 31) % 31;
        if values.get(17) == Some(&expected) {
            Ok(Self(code))
        } else {
            Err(invalid("check character does not match (GB 32100-2015)"))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Password length rules; the minimum is configurable, the maximum bounds hashing cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters accepted.
    pub min_length: usize,
}

/// Most characters accepted in a password.
pub const MAX_PASSWORD_LENGTH: usize = 256;

impl PasswordPolicy {
    /// Checks a new password against the policy.
    pub fn check(&self, password: &str) -> Result<(), AccessError> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(AccessError::invalid(
                "password",
                format!("must be at least {} characters", self.min_length),
            ));
        }
        if length > MAX_PASSWORD_LENGTH {
            return Err(AccessError::invalid(
                "password",
                format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
            ));
        }
        Ok(())
    }
}

/// Checks a human-readable name: 1–200 characters, no control characters.
pub fn parse_name(field: &'static str, raw: &str) -> Result<String, AccessError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AccessError::invalid(
            field,
            "must be 1-200 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// Its id.
    pub id: OrganizationId,
    /// Its URL-safe name.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// Agency, enterprise or platform.
    pub kind: OrgKind,
    /// Its unified social credit code, if registered.
    pub credit_code: Option<String>,
    /// Whether the platform has verified it (agencies and the platform are created verified).
    pub verified: bool,
    /// A contact address.
    pub contact_email: Option<String>,
    /// A contact telephone number.
    pub contact_phone: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A user account as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its sign-in address.
    pub email: String,
    /// Its display name.
    pub display_name: String,
    /// Whether the password is a one-time password that must be changed first.
    pub password_change_required: bool,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When control of the address was shown (a link followed, or an operator vouching);
    /// an account without it cannot sign in.
    pub email_confirmed_at: Option<Timestamp>,
}

/// The roles a user holds in one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organisation.
    pub organization: Organization,
    /// The roles held there.
    pub roles: RoleSet,
}

impl Membership {
    /// Whether this is the membership of the organisation named by `slug_or_id`.
    pub fn is_of(&self, slug_or_id: &str) -> bool {
        self.organization.slug == slug_or_id || self.organization.id.to_string() == slug_or_id
    }
}

/// A member of an organisation, as listed to its admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user: User,
    /// The roles held in the organisation.
    pub roles: RoleSet,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_code_check_character_is_verified() {
        assert!(CreditCode::parse("91350100M000100Y43").is_ok());
        assert!(
            CreditCode::parse("91350100m000100y43").is_ok(),
            "case-insensitive"
        );
        assert!(
            CreditCode::parse("91350100M000100Y44").is_err(),
            "wrong check character"
        );
        assert!(CreditCode::parse("91350100M000100Y4").is_err(), "too short");
        assert!(
            CreditCode::parse("91350100M000100I43").is_err(),
            "I is not in the alphabet"
        );
    }

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Clerk@Transport.Gov.CN ")
                .map(|e| e.0)
                .ok()
                .as_deref(),
            Some("clerk@transport.gov.cn")
        );
        for bad in ["", "no-at", "@x.cn", "a@b", "a@.cn", "a b@c.cn", "a@b@c.cn"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slug_rules_and_derivation() {
        assert!(Slug::parse("transport-bureau").is_ok());
        for bad in ["a", "-x", "x-", "Upper", "under_score", "空格"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Slug::derive_from("Shenzhen Transport Bureau!")
                .map(|s| s.0)
                .as_deref(),
            Some("shenzhen-transport-bureau")
        );
        assert_eq!(Slug::derive_from("交通运输局"), None);
    }

    #[test]
    fn password_policy_bounds_length() {
        let policy = PasswordPolicy { min_length: 12 };
        assert!(policy.check("short").is_err());
        assert!(policy.check("correct horse battery").is_ok());
        assert!(policy.check(&"x".repeat(MAX_PASSWORD_LENGTH + 1)).is_err());
    }
}
