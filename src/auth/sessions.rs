//! Console sessions. The cookie holds 256 random bits; the table holds only their sha256 (a
//! copy of the database opens no session). A session ends after `idle` without a request, after
//! `max` whatever happens, at logout, and when its account is disabled or its password changed.
//! Sessions are kept in the database so a restart of the engine logs nobody out.
//!
//! The CSRF token is derived from the session id (`sha256("vigie-csrf:" + id)`): the console gets
//! it from `/api/login` or `/api/session` and sends it in `X-CSRF-Token` with every write; a page
//! of another site can neither read the cookie nor compute the token.

use rusqlite::{params, OptionalExtension};

use super::store::Store;
use super::users::LoginAccount;
use super::{now_ms, random_hex, sha256_hex, AuthError, Role};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Without any request for this long, the session ends.
    pub idle_ms: i64,
    /// Whatever happens, the session ends this long after login.
    pub max_ms: i64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_ms: 30 * 60 * 1000,
            max_ms: 12 * 3600 * 1000,
        }
    }
}

impl SessionSettings {
    /// `last_seen` is written at most this often (a console polls every few seconds).
    fn touch_interval_ms(&self) -> i64 {
        (self.idle_ms / 4).clamp(1, 60_000)
    }
}

/// A session just opened: the cookie value (shown once) and what the console needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub id: String,
    pub csrf: String,
    pub expires_at_ms: i64,
}

/// The CSRF token of the session whose cookie value is `session_id`.
pub fn csrf_token(session_id: &str) -> String {
    sha256_hex(&format!("vigie-csrf:{session_id}"))
}

/// What a session cookie turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SessionCheck {
    Valid {
        key: String,
        name: String,
        role: Role,
        expires_at_ms: i64,
    },
    /// It existed and has just ended (idle or too old); the row is gone.
    Expired { name: String, why: &'static str },
    /// Unknown (logged out, never existed, or ended by a password change or disabling).
    Unknown,
}

impl Store {
    pub(super) fn open_session(
        &self,
        account: &LoginAccount,
        address: Option<&str>,
        settings: SessionSettings,
    ) -> Result<NewSession, AuthError> {
        let id = random_hex(32);
        let now = now_ms();
        let expires_at_ms = now.saturating_add(settings.max_ms);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        // Sessions that ended without anyone noticing (browser closed): cleared on each login.
        tx.execute(
            "DELETE FROM sessions WHERE expires_at_ms <= ?1 OR last_seen_ms <= ?2",
            params![now, now.saturating_sub(settings.idle_ms)],
        )?;
        tx.execute(
            "INSERT INTO sessions (key, user_id, created_at_ms, last_seen_ms, expires_at_ms, address)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            params![sha256_hex(&id), account.id, now, expires_at_ms, address],
        )?;
        Store::record_on(
            &tx,
            "login_ok",
            Some(&account.name),
            address,
            Some(account.role.as_str()),
        )?;
        tx.commit()?;
        Ok(NewSession {
            csrf: csrf_token(&id),
            id,
            expires_at_ms,
        })
    }

    /// Checks a session cookie at `now`; refreshes its idle timer now and then.
    pub(super) fn check_session(
        &self,
        id: &str,
        settings: SessionSettings,
        now: i64,
    ) -> Result<SessionCheck, AuthError> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(SessionCheck::Unknown);
        }
        let key = sha256_hex(id);
        let conn = self.lock();
        let row: Option<(String, String, bool, i64, i64)> = conn
            .prepare_cached(
                "SELECT u.name, u.role, u.disabled, s.last_seen_ms, s.expires_at_ms
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.key = ?1",
            )?
            .query_row([&key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((name, role, disabled, last_seen, expires_at_ms)) = row else {
            return Ok(SessionCheck::Unknown);
        };
        let why = if now >= expires_at_ms {
            Some("the session reached its maximum duration")
        } else if now - last_seen >= settings.idle_ms {
            Some("the session was idle too long")
        } else {
            None
        };
        if let Some(why) = why {
            conn.execute("DELETE FROM sessions WHERE key = ?1", [&key])?;
            Store::record_on(&conn, "session_expired", Some(&name), None, Some(why))?;
            return Ok(SessionCheck::Expired { name, why });
        }
        let Some(role) = Role::parse(&role).filter(|_| !disabled) else {
            conn.execute("DELETE FROM sessions WHERE key = ?1", [&key])?;
            return Ok(SessionCheck::Unknown);
        };
        if now - last_seen >= settings.touch_interval_ms() {
            conn.execute(
                "UPDATE sessions SET last_seen_ms = ?2 WHERE key = ?1",
                params![key, now],
            )?;
        }
        Ok(SessionCheck::Valid {
            key,
            name,
            role,
            expires_at_ms,
        })
    }

    /// Ends a session (logout).
    pub(super) fn close_session(
        &self,
        key: &str,
        name: &str,
        address: Option<&str>,
    ) -> Result<(), AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE key = ?1", [key])?;
        Store::record_on(&tx, "logout", Some(name), address, None)?;
        tx.commit()?;
        Ok(())
    }

    /// Open sessions (for tests and `vigie user list`).
    pub fn session_count(&self) -> Result<i64, AuthError> {
        Ok(self
            .lock()
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::open_temp;
    use super::*;

    fn login(s: &Store, settings: SessionSettings) -> NewSession {
        s.add_user("camille", Role::Operator, "un mot de passe long", "t")
            .ok();
        let account = s
            .check_login("camille", "un mot de passe long")
            .unwrap()
            .unwrap();
        s.open_session(&account, Some("127.0.0.1"), settings)
            .unwrap()
    }

    #[test]
    fn a_session_is_valid_then_ends_when_idle_or_too_old() {
        let (_d, s) = open_temp();
        let settings = SessionSettings {
            idle_ms: 10_000,
            max_ms: 60_000,
        };
        let new = login(&s, settings);
        assert_eq!(new.csrf, csrf_token(&new.id));
        assert_ne!(new.csrf, new.id);
        let now = now_ms();
        assert!(matches!(
            s.check_session(&new.id, settings, now).unwrap(),
            SessionCheck::Valid {
                role: Role::Operator,
                ..
            }
        ));
        // Only the hash is stored.
        let key: String = s
            .lock()
            .query_row("SELECT key FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(key, sha256_hex(&new.id));
        // Used again within the idle time: still valid, the timer moves on.
        assert!(matches!(
            s.check_session(&new.id, settings, now + 9_000).unwrap(),
            SessionCheck::Valid { .. }
        ));
        assert!(matches!(
            s.check_session(&new.id, settings, now + 17_000).unwrap(),
            SessionCheck::Valid { .. }
        ));
        // Idle for the whole idle time: ended, and said once.
        assert!(matches!(
            s.check_session(&new.id, settings, now + 40_000).unwrap(),
            SessionCheck::Expired { .. }
        ));
        assert_eq!(
            s.check_session(&new.id, settings, now + 40_001).unwrap(),
            SessionCheck::Unknown
        );

        // Kept busy, it still ends at its maximum duration.
        let busy = login(&s, settings);
        let mut t = now;
        while t < now + 59_000 {
            t += 5_000;
            assert!(
                matches!(
                    s.check_session(&busy.id, settings, t).unwrap(),
                    SessionCheck::Valid { .. }
                ),
                "{t}"
            );
        }
        assert!(matches!(
            s.check_session(&busy.id, settings, now + 61_000).unwrap(),
            SessionCheck::Expired { why, .. } if why.contains("maximum")
        ));
        let kinds: Vec<String> = s
            .events(None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "session_expired").count(), 2);
    }

    #[test]
    fn logout_disabling_and_password_change_end_sessions() {
        let (_d, s) = open_temp();
        let settings = SessionSettings::default();
        let now = now_ms();
        let a = login(&s, settings);
        let SessionCheck::Valid { key, .. } = s.check_session(&a.id, settings, now).unwrap() else {
            panic!("not valid")
        };
        s.close_session(&key, "camille", None).unwrap();
        assert_eq!(
            s.check_session(&a.id, settings, now).unwrap(),
            SessionCheck::Unknown
        );
        let b = login(&s, settings);
        s.set_disabled("camille", true, "t").unwrap();
        assert_eq!(
            s.check_session(&b.id, settings, now).unwrap(),
            SessionCheck::Unknown
        );
        s.set_disabled("camille", false, "t").unwrap();
        let c = login(&s, settings);
        s.set_password("camille", "encore un autre mot", "t")
            .unwrap();
        assert_eq!(
            s.check_session(&c.id, settings, now).unwrap(),
            SessionCheck::Unknown
        );
        assert_eq!(
            s.check_session("not hex", settings, now).unwrap(),
            SessionCheck::Unknown
        );
        assert_eq!(s.session_count().unwrap(), 0);
    }
}
