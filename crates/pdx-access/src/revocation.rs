//! Revocation of access tokens before they expire: a subject (a user, a membership, an API
//! key) gets a "valid after" instant, and tokens issued before it are refused. Every process
//! keeps the list in memory, reloaded when the `access` generation moves.

use std::collections::HashMap;
use std::sync::RwLock;

use diesel::prelude::*;
use pdx_core::{ApiKeyId, OrganizationId, Timestamp, UserId};
use pdx_storage::schema::access_revocations;
use pdx_storage::{DbConnection, StorageError, generation};

/// Whose tokens a revocation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Every token of a user (a password change or reset).
    User(UserId),
    /// A user's tokens for one organisation (removed from it, or given other roles).
    Member(UserId, OrganizationId),
    /// Tokens obtained with an API key (revoked).
    ApiKey(ApiKeyId),
}

impl Subject {
    fn key(self) -> String {
        match self {
            Self::User(user) => format!("user:{user}"),
            Self::Member(user, org) => format!("member:{user}:{org}"),
            Self::ApiKey(key) => format!("key:{key}"),
        }
    }
}

/// The first second whose tokens survive a revocation at `now`: tokens carry their issue time
/// in whole seconds, so every token of the current second is revoked too (and the issuer
/// dates tokens issued later in that second at this instant; see [`Revocations::issued_at`]).
fn valid_after(now: Timestamp) -> i64 {
    now.timestamp() + 1
}

/// Revokes the subject's tokens issued until now, inside the caller's transaction; the
/// caller tells this process's [`Revocations`] once it commits.
pub fn revoke(
    conn: &mut DbConnection,
    subject: Subject,
    now: Timestamp,
) -> Result<(Subject, i64), StorageError> {
    let after = valid_after(now);
    let at = chrono::DateTime::from_timestamp(after, 0)
        .ok_or_else(|| StorageError::CorruptRow("revocation instant".into()))?
        .naive_utc();
    let key = subject.key();
    diesel::delete(access_revocations::table.find(&key)).execute(conn)?;
    diesel::insert_into(access_revocations::table)
        .values((
            access_revocations::subject.eq(&key),
            access_revocations::valid_after.eq(at),
        ))
        .execute(conn)?;
    generation::bump(conn, generation::ACCESS)?;
    Ok((subject, after))
}

/// The revocations this process knows, by subject, and the generation they were read at.
#[derive(Debug, Default)]
pub struct Revocations {
    known: RwLock<Known>,
}

#[derive(Debug, Default)]
struct Known {
    generation: Option<i64>,
    valid_after: HashMap<String, i64>,
}

impl Revocations {
    /// Whether a token issued at `issued_at` (Unix seconds) for this user, organisation and
    /// API key has been revoked since.
    pub fn revoked(
        &self,
        user: UserId,
        org: OrganizationId,
        key: Option<ApiKeyId>,
        issued_at: i64,
    ) -> bool {
        issued_at < self.latest(user, org, key)
    }

    /// When a token issued now for this user, organisation and key is to say it was issued: no
    /// earlier than any revocation of them, so a token issued right after a revocation, in the
    /// same second, is not taken for one issued before it.
    pub fn issued_at(
        &self,
        user: UserId,
        org: OrganizationId,
        key: Option<ApiKeyId>,
        now: i64,
    ) -> i64 {
        now.max(self.latest(user, org, key))
    }

    fn latest(&self, user: UserId, org: OrganizationId, key: Option<ApiKeyId>) -> i64 {
        let known = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.valid_after.is_empty() {
            return i64::MIN;
        }
        let mut subjects = vec![Subject::User(user), Subject::Member(user, org)];
        subjects.extend(key.map(Subject::ApiKey));
        subjects
            .into_iter()
            .filter_map(|s| known.valid_after.get(&s.key()).copied())
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Takes a revocation this process just committed into account at once.
    pub fn committed(&self, (subject, after): (Subject, i64)) {
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = known.valid_after.entry(subject.key()).or_insert(after);
        *entry = (*entry).max(after);
    }

    /// Reloads the list when the `access` generation moved (another process revoked something);
    /// revocations older than `horizon` no longer matter (every token before them expired).
    pub fn refresh(&self, conn: &mut DbConnection, horizon: Timestamp) -> Result<(), StorageError> {
        let current = generation::current(conn, generation::ACCESS)?;
        let known_generation = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .generation;
        if known_generation == Some(current) {
            return Ok(());
        }
        let rows: Vec<(String, chrono::NaiveDateTime)> = access_revocations::table
            .filter(access_revocations::valid_after.gt(horizon.naive_utc()))
            .select((access_revocations::subject, access_revocations::valid_after))
            .load(conn)?;
        let valid_after = rows
            .into_iter()
            .map(|(subject, at)| (subject, at.and_utc().timestamp()))
            .collect();
        *self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Known {
            generation: Some(current),
            valid_after,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_issued_before_a_revocation_of_any_of_their_subjects_are_revoked() {
        let revocations = Revocations::default();
        let (user, org, other_org, key) = (
            UserId::new(),
            OrganizationId::new(),
            OrganizationId::new(),
            ApiKeyId::new(),
        );
        assert!(!revocations.revoked(user, org, None, 100));
        revocations.committed((Subject::Member(user, org), 101));
        assert!(revocations.revoked(user, org, None, 100), "issued before");
        assert!(!revocations.revoked(user, org, None, 101), "issued after");
        assert!(
            !revocations.revoked(user, other_org, None, 100),
            "another membership is untouched"
        );
        revocations.committed((Subject::ApiKey(key), 200));
        assert!(revocations.revoked(user, other_org, Some(key), 150));
        assert!(!revocations.revoked(user, other_org, None, 150));
        revocations.committed((Subject::User(user), 300));
        assert!(revocations.revoked(user, other_org, None, 299));
        assert_eq!(revocations.issued_at(user, other_org, None, 299), 300);
        assert_eq!(revocations.issued_at(user, other_org, None, 400), 400);
    }
}
