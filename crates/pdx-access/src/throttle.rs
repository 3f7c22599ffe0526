//! Sign-in throttling: failed attempts are counted per account and per client address in a
//! fixed window; past the limit, attempts are refused without checking the password.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures are tolerated, and over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed attempts allowed per account within the window.
    pub per_account: u32,
    /// Failed attempts allowed per client address within the window.
    pub per_address: u32,
    /// The window.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Entries kept before expired ones are swept, bounding memory under address scanning.
const SWEEP_THRESHOLD: usize = 10_000;

/// Counts failed sign-ins of this process.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    windows: Mutex<HashMap<String, Window>>,
}

impl LoginThrottle {
    /// A throttle with the given policy.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: Option<&str>) -> [(String, bool); 2] {
        [
            (format!("account:{account}"), true),
            (format!("address:{}", address.unwrap_or("-")), false),
        ]
    }

    /// Refuses an attempt when either the account or the address is over its limit;
    /// returns how long to wait.
    pub fn check(&self, account: &str, address: Option<&str>) -> Result<(), Duration> {
        let now = Instant::now();
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for (key, is_account) in Self::keys(account, address) {
            let limit = if is_account {
                self.policy.per_account
            } else {
                self.policy.per_address
            };
            if let Some(window) = windows.get(&key) {
                let age = now.duration_since(window.started);
                if age < self.policy.window && window.failures >= limit {
                    wait = wait.max(self.policy.window - age);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, account: &str, address: Option<&str>) {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > SWEEP_THRESHOLD {
            let window = self.policy.window;
            windows.retain(|_, w| now.duration_since(w.started) < window);
        }
        for (key, _) in Self::keys(account, address) {
            let entry = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(entry.started) >= self.policy.window {
                *entry = Window {
                    started: now,
                    failures: 0,
                };
            }
            entry.failures += 1;
        }
    }

    /// Clears an account's failures after a successful sign-in.
    pub fn succeeded(&self, account: &str) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows.remove(&format!("account:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            per_account: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn account_is_refused_after_its_limit_until_a_success_clears_it() {
        let throttle = LoginThrottle::new(policy());
        for _ in 0..3 {
            assert!(throttle.check("a@x.cn", Some("10.0.0.1")).is_ok());
            throttle.failed("a@x.cn", Some("10.0.0.1"));
        }
        let wait = throttle.check("a@x.cn", Some("10.0.0.2"));
        assert!(wait.is_err_and(|w| w <= Duration::from_secs(60) && w >= Duration::from_secs(1)));
        assert!(
            throttle.check("b@x.cn", Some("10.0.0.2")).is_ok(),
            "other accounts unaffected"
        );
        throttle.succeeded("a@x.cn");
        assert!(throttle.check("a@x.cn", Some("10.0.0.2")).is_ok());
    }

    #[test]
    fn address_is_refused_after_its_limit_across_accounts() {
        let throttle = LoginThrottle::new(policy());
        for i in 0..5 {
            throttle.failed(&format!("user{i}@x.cn"), Some("10.0.0.9"));
        }
        assert!(throttle.check("fresh@x.cn", Some("10.0.0.9")).is_err());
        assert!(throttle.check("fresh@x.cn", Some("10.0.0.8")).is_ok());
    }
}
