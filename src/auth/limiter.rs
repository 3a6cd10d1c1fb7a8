//! Failed logins, counted per account and per address over a sliding window. Past the limit,
//! every login of that account (or from that address) is refused without checking the password
//! until old failures leave the window: guessing costs the attacker time, and the argon2 work
//! of the server stays bounded. A success clears the account's count, not the address's.
//!
//! In memory: a restart forgets the counts (the failures themselves are in the security
//! journal). The table is bounded: past `MAX_KEYS` entries the oldest are dropped.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys (accounts + addresses) remembered.
const MAX_KEYS: usize = 10_000;

/// Limits of the limiter (`[auth]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSettings {
    pub window: Duration,
    pub per_account: u32,
    pub per_address: u32,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings {
            window: Duration::from_secs(15 * 60),
            per_account: 5,
            per_address: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// A refusal: which limit, and when a login may be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// `account` or `address`.
    pub scope: &'static str,
    pub retry_after: Duration,
    /// True the first time in a minute for this key: journal it then, not at every refusal.
    pub journal: bool,
}

#[derive(Default)]
struct Entry {
    failures: VecDeque<Instant>,
    last_journaled: Option<Instant>,
}

pub struct Limiter {
    settings: LimiterSettings,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Limiter {
    pub fn new(settings: LimiterSettings) -> Limiter {
        Limiter {
            settings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: Option<IpAddr>) -> Vec<(Key, u32, &'static str)> {
        let mut keys = vec![(Key::Account(account.to_lowercase()), 0, "account")];
        if let Some(ip) = address {
            keys.push((Key::Address(ip), 1, "address"));
        }
        keys
    }

    fn limit(&self, which: u32) -> u32 {
        if which == 0 {
            self.settings.per_account
        } else {
            self.settings.per_address
        }
    }

    /// `Err` when a login for `account` from `address` must be refused at `now`.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (key, which, scope) in Self::keys(account, address) {
            let limit = self.limit(which) as usize;
            let Some(entry) = entries.get_mut(&key) else {
                continue;
            };
            prune(&mut entry.failures, now, self.settings.window);
            if entry.failures.len() >= limit {
                let oldest = entry.failures.front().copied().unwrap_or(now);
                let retry_after = (oldest + self.settings.window).saturating_duration_since(now);
                let journal = entry
                    .last_journaled
                    .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60));
                if journal {
                    entry.last_journaled = Some(now);
                }
                return Err(Throttled {
                    scope,
                    retry_after: retry_after.max(Duration::from_secs(1)),
                    journal,
                });
            }
        }
        Ok(())
    }

    /// Counts a failed login.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_KEYS {
            let window = self.settings.window;
            entries.retain(|_, e| {
                prune(&mut e.failures, now, window);
                !e.failures.is_empty()
            });
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
        }
        for (key, _, _) in Self::keys(account, address) {
            let entry = entries.entry(key).or_default();
            prune(&mut entry.failures, now, self.settings.window);
            entry.failures.push_back(now);
        }
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, account: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&Key::Account(account.to_lowercase()));
    }
}

fn prune(failures: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_account_is_limited_then_freed_by_the_window() {
        let l = Limiter::new(LimiterSettings {
            window: Duration::from_secs(60),
            per_account: 3,
            per_address: 100,
        });
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check("Camille", ip("10.0.0.1"), t0).is_ok(), "{i}");
            l.failed("Camille", ip("10.0.0.1"), t0);
        }
        // The same account from anywhere, in any case, is refused.
        let r = l
            .check("camille", ip("10.0.0.2"), t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(r.scope, "account");
        assert!(r.journal);
        assert_eq!(r.retry_after, Duration::from_secs(59));
        // Refused again within the minute: not journaled again.
        assert!(
            !l.check("camille", None, t0 + Duration::from_secs(2))
                .unwrap_err()
                .journal
        );
        // Another account is not affected.
        assert!(l.check("lou", ip("10.0.0.1"), t0).is_ok());
        // Once the failures leave the window, logins are checked again.
        assert!(l
            .check("camille", None, t0 + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn an_address_is_limited_across_accounts_and_success_clears_only_the_account() {
        let l = Limiter::new(LimiterSettings {
            window: Duration::from_secs(60),
            per_account: 2,
            per_address: 4,
        });
        let t = Instant::now();
        for name in ["a", "b", "c", "d"] {
            l.failed(name, ip("10.0.0.9"), t);
        }
        let r = l.check("e", ip("10.0.0.9"), t).unwrap_err();
        assert_eq!(r.scope, "address");
        assert!(l.check("e", ip("10.0.0.8"), t).is_ok());
        l.failed("x", None, t);
        l.failed("x", None, t);
        assert!(l.check("x", None, t).is_err());
        l.succeeded("X");
        assert!(l.check("x", None, t).is_ok());
        // The address is still limited.
        assert!(l.check("a", ip("10.0.0.9"), t).is_err());
    }
}
