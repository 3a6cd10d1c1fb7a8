//! [`Auth`]: what the HTTP layer asks: log in, who is this cookie or token, log out, is this
//! caller still allowed (for long live streams).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;

use super::limiter::{Limiter, LimiterSettings, Throttled};
use super::sessions::{NewSession, SessionCheck, SessionSettings};
use super::store::Store;
use super::{now_ms, AuthError, Credential, Principal};

/// Everything `[auth]` (and TLS) decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthSettings {
    pub sessions: SessionSettings,
    pub limiter: LimiterSettings,
    /// `/metrics` without authentication (a Prometheus on the same host).
    pub metrics_public: bool,
    /// Session cookies marked `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
}

/// The outcome of a login.
#[derive(Debug, Clone, PartialEq)]
pub enum Login {
    Ok {
        session: NewSession,
        principal: Principal,
    },
    /// Wrong name or password, or a disabled account (the caller is not told which).
    Failed,
    Throttled(Throttled),
}

/// The outcome of a session cookie.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionAuth {
    Valid(Principal),
    Expired(String),
    Unknown,
}

/// Accounts, sessions, tokens and the login limiter of one server.
pub struct Auth {
    store: Store,
    settings: AuthSettings,
    limiter: Limiter,
    /// When a rejected token from an address was last journaled (at most once a minute).
    rejected: Mutex<HashMap<Option<IpAddr>, Instant>>,
}

impl Auth {
    /// Opens the account tables of the journal database at `path`.
    pub fn open(path: &Path, settings: AuthSettings) -> Result<Auth, AuthError> {
        Ok(Auth {
            store: Store::open(path)?,
            limiter: Limiter::new(settings.limiter),
            settings,
            rejected: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Checks a name and password (rate-limited); every failure is journaled.
    pub fn login(
        &self,
        name: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<Login, AuthError> {
        let addr = address.map(|a| a.to_string());
        let now = Instant::now();
        if let Err(throttled) = self.limiter.check(name, address, now) {
            if throttled.journal {
                let detail = format!(
                    "too many failed logins for this {}: refused for {} s (further refusals in the next minute are not journaled)",
                    throttled.scope,
                    throttled.retry_after.as_secs()
                );
                self.store.record(
                    "login_throttled",
                    Some(name),
                    addr.as_deref(),
                    Some(&detail),
                )?;
            }
            return Ok(Login::Throttled(throttled));
        }
        match self.store.check_login(name, password)? {
            Ok(account) => {
                self.limiter.succeeded(name);
                let session =
                    self.store
                        .open_session(&account, addr.as_deref(), self.settings.sessions)?;
                let principal = Principal {
                    name: account.name,
                    role: account.role,
                    credential: Credential::Session {
                        key: super::sha256_hex(&session.id),
                        csrf: session.csrf.clone(),
                        expires_at_ms: session.expires_at_ms,
                    },
                };
                Ok(Login::Ok { session, principal })
            }
            Err(why) => {
                self.limiter.failed(name, address, now);
                self.store.record(
                    "login_failed",
                    Some(name),
                    addr.as_deref(),
                    Some(why.as_str()),
                )?;
                Ok(Login::Failed)
            }
        }
    }

    /// Who a session cookie belongs to.
    pub fn session(&self, id: &str) -> Result<SessionAuth, AuthError> {
        Ok(
            match self
                .store
                .check_session(id, self.settings.sessions, now_ms())?
            {
                SessionCheck::Valid {
                    key,
                    name,
                    role,
                    expires_at_ms,
                } => SessionAuth::Valid(Principal {
                    name,
                    role,
                    credential: Credential::Session {
                        csrf: super::csrf_token(id),
                        key,
                        expires_at_ms,
                    },
                }),
                SessionCheck::Expired { why, .. } => SessionAuth::Expired(why.to_string()),
                SessionCheck::Unknown => SessionAuth::Unknown,
            },
        )
    }

    /// Who a bearer token belongs to; an invalid one is journaled (once a minute per address).
    pub fn token(
        &self,
        token: &str,
        address: Option<IpAddr>,
    ) -> Result<Option<Principal>, AuthError> {
        if let Some(t) = self.store.check_token(token)? {
            return Ok(Some(Principal {
                name: format!("token:{}", t.name),
                role: t.role,
                credential: Credential::Token { id: t.id },
            }));
        }
        let journal = {
            let mut seen = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() > 10_000 {
                seen.clear();
            }
            let now = Instant::now();
            let due = seen
                .get(&address)
                .is_none_or(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60));
            if due {
                seen.insert(address, now);
            }
            due
        };
        if journal {
            let addr = address.map(|a| a.to_string());
            self.store.record(
                "token_rejected",
                None,
                addr.as_deref(),
                Some("unknown or revoked API token (further ones from this address in the next minute are not journaled)"),
            )?;
        }
        Ok(None)
    }

    /// Ends the caller's session (tokens have none: nothing happens).
    pub fn logout(&self, principal: &Principal, address: Option<IpAddr>) -> Result<(), AuthError> {
        if let Credential::Session { key, .. } = &principal.credential {
            let addr = address.map(|a| a.to_string());
            self.store
                .close_session(key, &principal.name, addr.as_deref())?;
        }
        Ok(())
    }

    /// Whether the caller may still be served (a live stream asks every few seconds): the session
    /// still exists within its limits and its account is enabled, or the token is not revoked.
    pub fn still_valid(&self, principal: &Principal) -> Result<bool, AuthError> {
        let conn = self.store.lock();
        let now = now_ms();
        Ok(match &principal.credential {
            Credential::Session { key, .. } => conn
                .prepare_cached(
                    "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.key = ?1 AND u.disabled = 0 AND s.expires_at_ms > ?2
                       AND s.last_seen_ms > ?3",
                )?
                .query_row(
                    rusqlite::params![key, now, now - self.settings.sessions.idle_ms],
                    |_| Ok(()),
                )
                .optional()?
                .is_some(),
            Credential::Token { id } => conn
                .prepare_cached("SELECT 1 FROM api_tokens WHERE id = ?1 AND revoked_at_ms IS NULL")?
                .query_row([id], |_| Ok(()))
                .optional()?
                .is_some(),
        })
    }

    /// Journals a request refused for its role.
    pub fn forbidden(&self, principal: &Principal, what: &str, address: Option<IpAddr>) {
        let addr = address.map(|a| a.to_string());
        let detail = format!("role {} may not {what}", principal.role);
        if let Err(e) = self.store.record(
            "forbidden",
            Some(&principal.name),
            addr.as_deref(),
            Some(&detail),
        ) {
            tracing::error!(error = %e, "cannot journal a refused request");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Role;
    use super::*;

    fn auth(limiter: LimiterSettings) -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuthSettings {
            limiter,
            ..AuthSettings::default()
        };
        let a = Auth::open(&dir.path().join("journal.db"), settings).unwrap();
        a.store()
            .add_user("camille", Role::Operator, "un mot de passe long", "t")
            .unwrap();
        (dir, a)
    }

    #[test]
    fn every_failure_is_journaled_and_the_limit_holds_even_for_the_right_password() {
        let (_d, a) = auth(LimiterSettings {
            window: Duration::from_secs(600),
            per_account: 3,
            per_address: 100,
        });
        let ip: Option<IpAddr> = Some("10.1.2.3".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(
                a.login("camille", "mauvais mot de passe", ip).unwrap(),
                Login::Failed
            );
        }
        assert_eq!(
            a.login("nobody", "mauvais mot de passe", ip).unwrap(),
            Login::Failed
        );
        assert!(matches!(
            a.login("camille", "un mot de passe long", ip).unwrap(),
            Login::Throttled(_)
        ));
        assert!(matches!(
            a.login("camille", "un mot de passe long", ip).unwrap(),
            Login::Throttled(_)
        ));
        let events = a.store().events(None, 5).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "login_throttled",
                "login_failed",
                "login_failed",
                "login_failed",
                "login_failed"
            ]
        );
        assert_eq!(events[1].detail.as_deref(), Some("unknown account"));
        assert_eq!(events[2].detail.as_deref(), Some("wrong password"));
        assert_eq!(events[2].address.as_deref(), Some("10.1.2.3"));
        assert_eq!(a.store().session_count().unwrap(), 0);
    }

    #[test]
    fn a_login_opens_a_session_that_authenticates_until_logout() {
        let (_d, a) = auth(LimiterSettings::default());
        let Login::Ok { session, principal } =
            a.login("camille", "un mot de passe long", None).unwrap()
        else {
            panic!("login refused")
        };
        assert_eq!(
            (principal.name.as_str(), principal.role),
            ("camille", Role::Operator)
        );
        let SessionAuth::Valid(p) = a.session(&session.id).unwrap() else {
            panic!("not valid")
        };
        assert_eq!(p, principal);
        assert!(a.still_valid(&p).unwrap());
        a.logout(&p, None).unwrap();
        assert!(!a.still_valid(&p).unwrap());
        assert_eq!(a.session(&session.id).unwrap(), SessionAuth::Unknown);
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_bad_ones_are_journaled_once_a_minute() {
        let (_d, a) = auth(LimiterSettings::default());
        let (token, _) = a.store().add_token("vms", Role::Auditor, "t").unwrap();
        let p = a.token(&token, None).unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.role), ("token:vms", Role::Auditor));
        assert!(a.still_valid(&p).unwrap());
        a.store().revoke_token("vms", "t").unwrap();
        assert!(!a.still_valid(&p).unwrap());
        assert_eq!(a.token(&token, None).unwrap(), None);
        assert_eq!(a.token("vgt_nope", None).unwrap(), None);
        let rejected = a
            .store()
            .events(None, 20)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "token_rejected")
            .count();
        assert_eq!(rejected, 1);
    }
}
