//! Throttles, checked before any password hashing: sign-in failures slow down
//! one account from one client address progressively (never the account for everyone), an
//! address failing across many accounts is refused for a window, and account requests
//! (registrations, resends, password resets) and e-mails per recipient are counted per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pdx_storage::StorageError;
use pdx_storage::counters::{Refused, SharedWindows};

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

/// Entries kept before expired ones are swept, bounding memory under address scanning.
const SWEEP_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    last_failure: Instant,
    refusals: u32,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts failed sign-ins of this process.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    pairs: Mutex<HashMap<(String, String), Pair>>,
    addresses: RateLimiter,
    /// An instant and the epoch seconds it was, to count addresses on the shared clock.
    base: (Instant, f64),
}

fn address_key(address: Option<&str>) -> &str {
    address.unwrap_or("-")
}

impl LoginThrottle {
    /// A throttle with the given policy.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            pairs: Mutex::new(HashMap::new()),
            addresses: RateLimiter::new("sign_in_failures", policy.per_address, policy.window),
            base: (Instant::now(), epoch_seconds()),
        }
    }

    fn epoch(&self, now: Instant) -> f64 {
        let (instant, epoch) = self.base;
        if now >= instant {
            epoch + now.duration_since(instant).as_secs_f64()
        } else {
            epoch - instant.duration_since(now).as_secs_f64()
        }
    }

    /// Exchanges the per-address failure counts with the other server processes: an
    /// address's failures count on every process (the per-account slowing down stays this
    /// process's).
    pub fn sync(&self, conn: &mut pdx_storage::DbConnection) -> Result<(), StorageError> {
        self.addresses.sync(conn)
    }

    /// The wait imposed after `failures` failures of a pair.
    fn delay(&self, failures: u32) -> Duration {
        if self.policy.free_failures == 0 || failures < self.policy.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.policy.free_failures).min(20);
        Duration::from_secs(1u64 << doublings).min(self.policy.window.max(Duration::from_secs(1)))
    }

    /// Refuses an attempt while the account is slowed down for this address, or the address
    /// is over its limit; says how long to wait.
    pub fn check(&self, account: &str, address: Option<&str>) -> Result<(), Refusal> {
        self.check_at(account, address, Instant::now())
    }

    fn check_at(&self, account: &str, address: Option<&str>, now: Instant) -> Result<(), Refusal> {
        let address = address_key(address);
        self.addresses.check_at(address, self.epoch(now))?;
        let mut pairs = lock(&self.pairs);
        let Some(pair) = pairs.get_mut(&(account.to_owned(), address.to_owned())) else {
            return Ok(());
        };
        let until = pair.last_failure + self.delay(pair.failures);
        if now >= until {
            return Ok(());
        }
        pair.refusals += 1;
        Err(Refusal {
            retry_after: (until - now).max(Duration::from_secs(1)),
            first: pair.refusals == 1,
        })
    }

    /// Counts a failed attempt of the account from the address.
    pub fn failed(&self, account: &str, address: Option<&str>) {
        self.failed_at(account, address, Instant::now());
    }

    fn failed_at(&self, account: &str, address: Option<&str>, now: Instant) {
        let address = address_key(address);
        self.addresses.hit_at(address, self.epoch(now)).ok();
        let window = self.policy.window;
        let mut pairs = lock(&self.pairs);
        if pairs.len() > SWEEP_THRESHOLD {
            pairs.retain(|_, pair| now.duration_since(pair.last_failure) < window);
        }
        let pair = pairs
            .entry((account.to_owned(), address.to_owned()))
            .or_insert(Pair {
                failures: 0,
                last_failure: now,
                refusals: 0,
            });
        // Failures long past are forgiven.
        if now.duration_since(pair.last_failure) >= window {
            pair.failures = 0;
        }
        pair.failures += 1;
        pair.last_failure = now;
        pair.refusals = 0;
    }

    /// Clears the account's failures from this address after a successful sign-in.
    pub fn succeeded(&self, account: &str, address: Option<&str>) {
        lock(&self.pairs).remove(&(account.to_owned(), address_key(address).to_owned()));
    }

    /// Clears the account's failures from every address (its owner just proved control of it,
    /// e.g. by resetting the password).
    pub fn forget_account(&self, account: &str) {
        lock(&self.pairs).retain(|(key, _), _| key != account);
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
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 3,
            per_address: 10,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn failures_slow_down_the_pair_progressively_and_never_the_account_elsewhere() {
        let throttle = LoginThrottle::new(policy());
        let start = Instant::now();
        let (a, home, attacker) = ("a@x.cn", Some("10.0.0.1"), Some("10.0.0.66"));
        for _ in 0..2 {
            throttle.failed_at(a, attacker, start);
            assert!(
                throttle.check_at(a, attacker, start).is_ok(),
                "free failures"
            );
        }
        throttle.failed_at(a, attacker, start);
        let refused = throttle.check_at(a, attacker, start);
        assert_eq!(
            refused,
            Err(Refusal {
                retry_after: Duration::from_secs(1),
                first: true
            })
        );
        assert!(
            throttle
                .check_at(a, attacker, start)
                .is_err_and(|r| !r.first),
            "only the first refusal is worth recording"
        );
        assert!(
            throttle.check_at(a, home, start).is_ok(),
            "the owner signs in from elsewhere"
        );
        // Each further failure doubles the wait: 2 s, 4 s, 8 s …
        let (mut at, mut previous) = (start, 1);
        for expected in [2, 4, 8, 16, 32, 60] {
            at += Duration::from_secs(previous);
            previous = expected;
            assert!(throttle.check_at(a, attacker, at).is_ok());
            throttle.failed_at(a, attacker, at);
            let wait = throttle
                .check_at(a, attacker, at)
                .err()
                .map(|r| r.retry_after);
            assert_eq!(wait, Some(Duration::from_secs(expected)));
        }
        throttle.succeeded(a, attacker);
        assert!(throttle.check_at(a, attacker, at).is_ok());
    }

    #[test]
    fn old_failures_are_forgiven_after_the_window() {
        let throttle = LoginThrottle::new(policy());
        let start = Instant::now();
        for _ in 0..3 {
            throttle.failed_at("a@x.cn", None, start);
        }
        let later = start + Duration::from_secs(61);
        throttle.failed_at("a@x.cn", None, later);
        assert!(throttle.check_at("a@x.cn", None, later).is_ok());
    }

    #[test]
    fn address_is_refused_after_its_limit_across_accounts() {
        let throttle = LoginThrottle::new(policy());
        let now = Instant::now();
        for i in 0..10 {
            throttle.failed_at(&format!("user{i}@x.cn"), Some("10.0.0.9"), now);
        }
        assert!(
            throttle
                .check_at("fresh@x.cn", Some("10.0.0.9"), now)
                .is_err()
        );
        assert!(
            throttle
                .check_at("fresh@x.cn", Some("10.0.0.8"), now)
                .is_ok()
        );
    }

    #[test]
    fn forgetting_an_account_clears_it_from_every_address() {
        let throttle = LoginThrottle::new(policy());
        let now = Instant::now();
        for address in ["10.0.0.1", "10.0.0.2"] {
            for _ in 0..3 {
                throttle.failed_at("a@x.cn", Some(address), now);
            }
        }
        throttle.forget_account("a@x.cn");
        assert!(throttle.check_at("a@x.cn", Some("10.0.0.1"), now).is_ok());
        assert!(throttle.check_at("a@x.cn", Some("10.0.0.2"), now).is_ok());
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
