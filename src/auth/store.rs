//! The account tables, in the journal database, over their own connection: `users`,
//! `api_tokens`, `sessions` and `security_events`. Created with `IF NOT EXISTS` at every open.
//!
//! `security_events` is a journal: append-only (triggers refuse UPDATE and DELETE), like the
//! alert history. Sessions are state, not journal: rows are deleted when they end.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, Row};
use serde::Serialize;

use super::{now_ms, AuthError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'auditor', 'admin')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    password_changed_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'auditor', 'admin')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    address TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS security_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    account TEXT,
    address TEXT,
    detail TEXT
);
CREATE TRIGGER IF NOT EXISTS security_events_append_only_update BEFORE UPDATE ON security_events
BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS security_events_append_only_delete BEFORE DELETE ON security_events
BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;
";

/// Longest text kept in a security event's `account` or `detail`.
const MAX_EVENT_TEXT: usize = 200;

/// One row of the security journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityEvent {
    pub id: i64,
    pub at_ms: i64,
    /// `login_ok`, `login_failed`, `login_throttled`, `logout`, `session_expired`,
    /// `token_rejected`, `forbidden`, `user_added`, `password_changed`, `user_disabled`,
    /// `user_enabled`, `token_added`, `token_revoked`.
    pub kind: String,
    pub account: Option<String>,
    pub address: Option<String>,
    pub detail: Option<String>,
}

/// The account tables. `Send + Sync`: one connection behind a mutex.
pub struct Store {
    conn: Mutex<Connection>,
}

/// Keeps what a log reader can trust: no control characters, bounded length.
pub(super) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_EVENT_TEXT)
        .collect()
}

impl Store {
    /// Opens the tables in the journal database at `path` (created if missing).
    pub fn open(path: &Path) -> Result<Store, AuthError> {
        let err = |source| AuthError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(err)?;
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a security event (committed when this returns).
    pub fn record(
        &self,
        kind: &str,
        account: Option<&str>,
        address: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), AuthError> {
        Self::record_on(&self.lock(), kind, account, address, detail)
    }

    pub(super) fn record_on(
        conn: &Connection,
        kind: &str,
        account: Option<&str>,
        address: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), AuthError> {
        conn.prepare_cached(
            "INSERT INTO security_events (at_ms, kind, account, address, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            now_ms(),
            kind,
            account.map(clean),
            address.map(clean),
            detail.map(clean)
        ])?;
        Ok(())
    }

    /// Newest first: up to `limit` events with an id below `before` (all when `None`).
    pub fn events(&self, before: Option<i64>, limit: u32) -> Result<Vec<SecurityEvent>, AuthError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, at_ms, kind, account, address, detail FROM security_events
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], event_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<SecurityEvent> {
    Ok(SecurityEvent {
        id: row.get(0)?,
        at_ms: row.get(1)?,
        kind: row.get(2)?,
        account: row.get(3)?,
        address: row.get(4)?,
        detail: row.get(5)?,
    })
}

#[cfg(test)]
pub(super) fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("journal.db")).unwrap();
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_events_are_append_only_cleaned_and_paged() {
        let (_d, s) = open_temp();
        s.record("login_failed", Some("lou\u{7}"), Some("127.0.0.1"), None)
            .unwrap();
        s.record("login_ok", Some(&"x".repeat(500)), None, Some("ok"))
            .unwrap();
        let all = s.events(None, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].kind, "login_failed");
        assert_eq!(all[1].account.as_deref(), Some("lou?"));
        assert_eq!(all[0].account.as_ref().unwrap().len(), MAX_EVENT_TEXT);
        assert_eq!(s.events(Some(all[0].id), 10).unwrap().len(), 1);
        let conn = s.lock();
        assert!(conn
            .execute("UPDATE security_events SET kind = 'x'", [])
            .is_err());
        assert!(conn.execute("DELETE FROM security_events", []).is_err());
    }

    #[test]
    fn the_tables_live_beside_the_journal_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = crate::alerts::Journal::open(&path).unwrap();
        let s = Store::open(&path).unwrap();
        s.record("user_added", Some("lou"), None, None).unwrap();
        drop(s);
        drop(journal);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.events(None, 5).unwrap().len(), 1);
        assert!(crate::alerts::Journal::open(&path).is_ok());
    }
}
