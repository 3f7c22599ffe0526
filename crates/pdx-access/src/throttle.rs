//! Throttles, checked before any password hashing: sign-in failures slow down
//! one account from one client address progressively (never the account for everyone), an
//! address failing across many accounts is refused for a window, and account requests
//! (registrations, resends, password resets) and e-mails per recipient are counted per window.
//! Every limit holds for the platform, not for one server process: a pair's failures are rows
//! of `sign_in_failures`, and the per-window counts are exchanged through the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use pdx_storage::counters::{Refused, SharedWindows};
use pdx_storage::schema::sign_in_failures;
use pdx_storage::{DbConnection, StorageError};

/// How sign-in failures are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one account from one client address before each further attempt from
    /// there must wait: 1 s after the next failure, doubling up to `window`.
    pub free_failures: u32,
    /// Failures from one client address, whatever the accounts, within `window` before that
    /// address is refused for the rest of it.
    pub per_address: u32,
    /// The window, and the longest wait.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// An attempt turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// How long until another attempt is considered (at least a second).
    pub retry_after: Duration,
    /// Whether this is the first refusal since the throttle engaged: only that one is worth a
    /// ledger entry, so that a flood of refused attempts does not become a flood of writes.
    pub first: bool,
}

/// Pairs whose recorded refusal this process remembers before it forgets them all (at worst,
/// one more ledger entry for a throttling already recorded).
const RECORDED_LIMIT: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn address_key(address: Option<&str>) -> &str {
    address.unwrap_or("-")
}

/// One account at one client address, as stored: both hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pair {
    account: String,
    address: String,
}

impl Pair {
    /// The pair of an account (its e-mail, lower case) and a client address.
    pub(crate) fn new(account: &str, address: Option<&str>) -> Self {
        Self {
            account: hashed(account),
            address: hashed(address_key(address)),
        }
    }
}

/// A pair's failures within the window: how many, and when the last was (milliseconds since
/// the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failures {
    count: u32,
    last: i64,
}

/// Throttles sign-ins for the platform: the per-pair slowing down from the database, the
/// per-address limit counted with the other processes.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    addresses: RateLimiter,
    /// Per pair, the failure (its time) whose throttling this process has already recorded.
    recorded: Mutex<HashMap<Pair, i64>>,
}

impl LoginThrottle {
    /// A throttle with the given policy.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            addresses: RateLimiter::new("sign_in_failures", policy.per_address, policy.window),
            recorded: Mutex::default(),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.policy.window.as_millis()).unwrap_or(i64::MAX)
    }

    /// The wait imposed after `failures` failures of a pair.
    fn delay(&self, failures: u32) -> Duration {
        if self.policy.free_failures == 0 || failures < self.policy.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.policy.free_failures).min(20);
        Duration::from_secs(1u64 << doublings).min(self.policy.window.max(Duration::from_secs(1)))
    }

    /// Refuses an attempt from an address over its limit across accounts; costs a map lookup.
    pub(crate) fn check_address(&self, address: Option<&str>) -> Result<(), Refusal> {
        self.addresses.check(address_key(address))
    }

    /// Refuses an attempt while the pair is slowed down, given its stored failures at `now`
    /// (milliseconds since the epoch); says how long to wait.
    pub(crate) fn check_pair(
        &self,
        pair: &Pair,
        failures: Option<Failures>,
        now: i64,
    ) -> Result<(), Refusal> {
        let Some(failures) = failures else {
            return Ok(());
        };
        if now.saturating_sub(failures.last) >= self.window_ms() {
            return Ok(());
        }
        let delay = i64::try_from(self.delay(failures.count).as_millis()).unwrap_or(i64::MAX);
        let until = failures.last.saturating_add(delay);
        if now >= until {
            return Ok(());
        }
        let mut recorded = lock(&self.recorded);
        if recorded.len() >= RECORDED_LIMIT {
            recorded.clear();
        }
        let first = recorded.insert(pair.clone(), failures.last) != Some(failures.last);
        let wait = u64::try_from(until - now).unwrap_or(0);
        Err(Refusal {
            retry_after: Duration::from_millis(wait).max(Duration::from_secs(1)),
            first,
        })
    }

    /// Counts a failure from the address towards its limit across accounts.
    pub(crate) fn failed_address(&self, address: Option<&str>) {
        // Counted whatever the limit: the refusal comes at the next check.
        self.addresses.hit(address_key(address)).ok();
    }

    /// The pair's failures within the window, if any.
    pub(crate) fn failures(
        conn: &mut DbConnection,
        pair: &Pair,
    ) -> Result<Option<Failures>, StorageError> {
        let row: Option<(i64, i64)> = sign_in_failures::table
            .filter(sign_in_failures::account.eq(&pair.account))
            .filter(sign_in_failures::address.eq(&pair.address))
            .select((sign_in_failures::failures, sign_in_failures::last_failure))
            .first(conn)
            .optional()?;
        Ok(row.map(|(count, last)| Failures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last,
        }))
    }

    /// Counts a failure of the pair at `now` (milliseconds since the epoch), starting afresh
    /// when its last failure is older than the window. One statement, so that failures on
    /// several processes at once are all counted.
    pub(crate) fn record_failure(
        &self,
        conn: &mut DbConnection,
        pair: &Pair,
        now: i64,
    ) -> Result<(), StorageError> {
        diesel::sql_query(
            "INSERT INTO sign_in_failures (account, address, failures, last_failure) \
             VALUES ($1, $2, 1, $3) ON CONFLICT (account, address) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.last_failure <= $4 THEN 1 \
             ELSE sign_in_failures.failures + 1 END, last_failure = excluded.last_failure",
        )
        .bind::<Text, _>(&pair.account)
        .bind::<Text, _>(&pair.address)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(now.saturating_sub(self.window_ms()))
        .execute(conn)?;
        Ok(())
    }

    /// Clears the pair's failures after a successful sign-in.
    pub(crate) fn clear(conn: &mut DbConnection, pair: &Pair) -> Result<(), StorageError> {
        diesel::delete(
            sign_in_failures::table
                .filter(sign_in_failures::account.eq(&pair.account))
                .filter(sign_in_failures::address.eq(&pair.address)),
        )
        .execute(conn)?;
        Ok(())
    }

    /// Clears the account's failures from every address (its owner just proved control of it,
    /// e.g. by resetting the password).
    pub(crate) fn forget_account(
        conn: &mut DbConnection,
        account: &str,
    ) -> Result<(), StorageError> {
        diesel::delete(
            sign_in_failures::table.filter(sign_in_failures::account.eq(hashed(account))),
        )
        .execute(conn)?;
        Ok(())
    }

    /// Exchanges the per-address failure counts with the other server processes, and deletes
    /// the pairs whose window has passed at `now` (milliseconds since the epoch).
    pub fn sync(&self, conn: &mut DbConnection, now: i64) -> Result<(), StorageError> {
        self.addresses.sync(conn)?;
        diesel::delete(
            sign_in_failures::table
                .filter(sign_in_failures::last_failure.lt(now.saturating_sub(self.window_ms()))),
        )
        .execute(conn)?;
        Ok(())
    }
}

/// Counts events per key in a sliding window, with every server process through the
/// database (see [`pdx_storage::counters`]); past `limit`, further events are refused. A
/// limit of 0 means unlimited. Keys are kept hashed: an e-mail address is not stored.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: SharedWindows,
}

/// Now, in seconds since the epoch.
pub(crate) fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn hashed(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

impl RateLimiter {
    /// At most `limit` events per key within `window`, counted under `scope` with the other
    /// processes.
    pub fn new(scope: &'static str, limit: u32, window: Duration) -> Self {
        Self {
            limit,
            windows: SharedWindows::new(scope, window.max(Duration::from_secs(1))),
        }
    }

    /// Counts an event, refusing it (uncounted) when the key is over its limit.
    pub fn hit(&self, key: &str) -> Result<(), Refusal> {
        self.hit_at(key, epoch_seconds())
    }

    /// Whether an event would be refused, without counting it.
    pub fn check(&self, key: &str) -> Result<(), Refusal> {
        self.check_at(key, epoch_seconds())
    }

    fn check_at(&self, key: &str, now: f64) -> Result<(), Refusal> {
        if self.limit == 0 {
            return Ok(());
        }
        self.windows
            .check(&hashed(key), self.limit, now)
            .map_err(refusal)
    }

    fn hit_at(&self, key: &str, now: f64) -> Result<(), Refusal> {
        if self.limit == 0 {
            return Ok(());
        }
        self.windows
            .hit(&hashed(key), self.limit, now)
            .map_err(refusal)
    }

    /// Exchanges counts with the other server processes.
    pub fn sync(&self, conn: &mut pdx_storage::DbConnection) -> Result<(), StorageError> {
        self.windows.sync(conn, epoch_seconds().floor() as i64)
    }
}

fn refusal(refused: Refused) -> Refusal {
    Refusal {
        retry_after: refused.wait,
        first: refused.first,
    }
}

#[cfg(test)]
mod tests {
    use pdx_storage::testing::TestDatabase;

    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 3,
            per_address: 10,
            window: Duration::from_secs(60),
        }
    }

    /// The throttle and a real database (SQLite, or PostgreSQL with `PDX_TEST_DATABASE_URL`).
    struct Fixture {
        throttle: LoginThrottle,
        db: TestDatabase,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                throttle: LoginThrottle::new(policy()),
                db: TestDatabase::new(),
            }
        }

        fn conn(&self) -> pdx_storage::database::PooledConnection {
            match self.db.database().conn() {
                Ok(conn) => conn,
                Err(error) => panic!("no connection: {error}"),
            }
        }

        fn fail(&self, pair: &Pair, address: Option<&str>, now: i64) {
            self.throttle.failed_address(address);
            let written = self.throttle.record_failure(&mut self.conn(), pair, now);
            assert!(written.is_ok(), "{written:?}");
        }

        fn check(&self, pair: &Pair, now: i64) -> Result<(), Refusal> {
            let failures = LoginThrottle::failures(&mut self.conn(), pair);
            let Ok(failures) = failures else {
                panic!("{failures:?}")
            };
            self.throttle.check_pair(pair, failures, now)
        }
    }

    /// A moment, in milliseconds since the epoch.
    const T: i64 = 1_800_000_000_000;
    const SECOND: i64 = 1_000;

    #[test]
    fn failures_slow_down_the_pair_progressively_and_never_the_account_elsewhere() {
        let f = Fixture::new();
        let (home, attacker) = (Some("10.0.0.1"), Some("10.0.0.66"));
        let (owner, guessing) = (Pair::new("a@x.cn", home), Pair::new("a@x.cn", attacker));
        for _ in 0..2 {
            f.fail(&guessing, attacker, T);
            assert!(f.check(&guessing, T).is_ok(), "free failures");
        }
        f.fail(&guessing, attacker, T);
        assert_eq!(
            f.check(&guessing, T),
            Err(Refusal {
                retry_after: Duration::from_secs(1),
                first: true
            })
        );
        assert!(
            f.check(&guessing, T).is_err_and(|r| !r.first),
            "only the first refusal is worth recording"
        );
        assert!(
            f.check(&owner, T).is_ok(),
            "the owner signs in from elsewhere"
        );
        // Each further failure doubles the wait: 2 s, 4 s, 8 s …
        let (mut at, mut previous) = (T, 1);
        for expected in [2, 4, 8, 16, 32, 60] {
            at += previous * SECOND;
            previous = expected;
            assert!(f.check(&guessing, at).is_ok());
            f.fail(&guessing, attacker, at);
            let wait = f.check(&guessing, at).err().map(|r| r.retry_after);
            assert_eq!(wait, Some(Duration::from_secs(expected as u64)));
        }
        let cleared = LoginThrottle::clear(&mut f.conn(), &guessing);
        assert!(cleared.is_ok(), "{cleared:?}");
        assert!(f.check(&guessing, at).is_ok());
    }

    #[test]
    fn every_process_sees_the_failures_of_the_others() {
        let f = Fixture::new();
        let other = LoginThrottle::new(policy());
        let pair = Pair::new("a@x.cn", Some("10.0.0.66"));
        for _ in 0..2 {
            f.fail(&pair, Some("10.0.0.66"), T);
        }
        // The third failure happens on another process.
        let written = other.record_failure(&mut f.conn(), &pair, T);
        assert!(written.is_ok(), "{written:?}");
        assert!(f.check(&pair, T).is_err(), "this process waits too");
    }

    #[test]
    fn old_failures_are_forgiven_after_the_window_and_swept() {
        let f = Fixture::new();
        let pair = Pair::new("a@x.cn", None);
        for _ in 0..3 {
            f.fail(&pair, None, T);
        }
        let later = T + 61 * SECOND;
        assert!(f.check(&pair, later).is_ok(), "the window has passed");
        f.fail(&pair, None, later);
        assert!(f.check(&pair, later).is_ok(), "counting starts afresh");
        let synced = f.throttle.sync(&mut f.conn(), later + 61 * SECOND);
        assert!(synced.is_ok(), "{synced:?}");
        let failures = LoginThrottle::failures(&mut f.conn(), &pair);
        assert!(matches!(failures, Ok(None)), "swept: {failures:?}");
    }

    #[test]
    fn address_is_refused_after_its_limit_across_accounts() {
        let throttle = LoginThrottle::new(policy());
        for _ in 0..10 {
            throttle.failed_address(Some("10.0.0.9"));
        }
        assert!(throttle.check_address(Some("10.0.0.9")).is_err());
        assert!(throttle.check_address(Some("10.0.0.8")).is_ok());
    }

    #[test]
    fn forgetting_an_account_clears_it_from_every_address() {
        let f = Fixture::new();
        let pairs = [
            Pair::new("a@x.cn", Some("10.0.0.1")),
            Pair::new("a@x.cn", Some("10.0.0.2")),
        ];
        let someone_else = Pair::new("b@x.cn", Some("10.0.0.1"));
        for pair in pairs.iter().chain([&someone_else]) {
            for _ in 0..3 {
                f.fail(pair, None, T);
            }
        }
        let forgotten = LoginThrottle::forget_account(&mut f.conn(), "a@x.cn");
        assert!(forgotten.is_ok(), "{forgotten:?}");
        for pair in &pairs {
            assert!(f.check(pair, T).is_ok());
        }
        assert!(f.check(&someone_else, T).is_err(), "only that account");
    }

    #[test]
    fn rate_limiter_counts_per_key_and_window() {
        let limiter = RateLimiter::new("test", 2, Duration::from_secs(60));
        let now = 6_000.0;
        assert!(limiter.hit_at("k", now).is_ok());
        assert!(
            limiter.check_at("k", now).is_ok(),
            "checking does not count"
        );
        assert!(limiter.hit_at("k", now).is_ok());
        let refused = limiter.hit_at("k", now + 15.0);
        assert_eq!(
            refused,
            Err(Refusal {
                retry_after: Duration::from_secs(45),
                first: true
            })
        );
        assert!(limiter.hit_at("other", now).is_ok());
        assert!(
            limiter.hit_at("k", now + 120.0).is_ok(),
            "two windows later"
        );
        let unlimited = RateLimiter::new("test", 0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(unlimited.hit_at("k", now).is_ok());
        }
    }
}
