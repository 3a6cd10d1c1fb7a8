//! Who may do what: local accounts (argon2 password hashes), roles, console sessions, API tokens
//! for machine clients, the login rate limiter and the journal of security events. Everything is
//! kept in the journal database (its own tables, created at open), so a backup of the journal
//! carries the accounts with the decisions they signed.
//!
//! The HTTP side (cookies, CSRF, the middleware) is in `delivery::auth`; the command line
//! (`vigie user …`, `vigie token …`) in [`cli`].

pub mod cli;
mod limiter;
mod password;
mod service;
mod sessions;
mod store;
mod tokens;
mod users;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use limiter::{Limiter, LimiterSettings, Throttled};
pub use password::{hash_password, verify_password, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
pub use service::{Auth, AuthSettings, Login, SessionAuth};
pub use sessions::{csrf_token, NewSession, SessionSettings};
pub use store::{SecurityEvent, Store};
pub use tokens::{TokenInfo, TOKEN_PREFIX};
pub use users::{validate_name, LoginFailure, UserInfo, MAX_NAME_LEN};

/// What an account or a token may do. Fixed set: the role is stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees alerts and cameras; takes and decides alerts.
    Operator,
    /// An operator who may also reopen a decision and release another operator's alert.
    Supervisor,
    /// Reads alerts, their history and the security journal; never decides.
    Auditor,
    /// Configuration reload, security journal, camera states; sees no alert or image.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Supervisor, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            Cameras | Metrics | Forecast => true,
            ReadAlerts => matches!(self, Operator | Supervisor | Auditor),
            Act => matches!(self, Operator | Supervisor),
            Supervise => self == Supervisor,
            ReadSecurity => matches!(self, Auditor | Admin),
            Reload => self == Admin,
            StopAlerting => matches!(self, Supervisor | Admin),
            Explain | ReadShadow => matches!(self, Supervisor | Auditor),
            JudgeShadow => self == Supervisor,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a request may need. Every route but `/healthz`, the login page and the login call
/// needs an authenticated caller, and most need one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Camera list and states.
    Cameras,
    /// `/metrics` (unless `[auth] metrics_public`).
    Metrics,
    /// The planned-event forecast (changes nothing).
    Forecast,
    /// Alerts, snapshots, the live stream, histories.
    ReadAlerts,
    /// Take, release one's own, decide, close, comment.
    Act,
    /// Reopen a decision, release another operator's alert.
    Supervise,
    /// The security journal (logins, failures, tokens).
    ReadSecurity,
    /// `POST /api/config/reload`.
    Reload,
    /// Stop and resume alerting (`POST /api/alerting/stop`, `/resume`).
    StopAlerting,
    /// An alert's transparency document (`/api/alerts/{id}/transparency`): who decided what,
    /// the thresholds in force.
    Explain,
    /// Shadow alerts and their verdicts (`GET /api/shadow-alerts`, their snapshots).
    ReadShadow,
    /// Give a shadow alert its verdict (`POST /api/shadow-alerts/{id}/verdict`).
    JudgeShadow,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::Cameras,
        Permission::Metrics,
        Permission::Forecast,
        Permission::ReadAlerts,
        Permission::Act,
        Permission::Supervise,
        Permission::ReadSecurity,
        Permission::Reload,
        Permission::StopAlerting,
        Permission::Explain,
        Permission::ReadShadow,
        Permission::JudgeShadow,
    ];
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A console session (cookie); state-changing requests also need its CSRF token.
    Session {
        /// sha256 of the session id, the key of its row.
        key: String,
        csrf: String,
        expires_at_ms: i64,
    },
    /// An API token (`Authorization: Bearer`).
    Token { id: i64 },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account name, or `token:<name>` for an API token: what the journal records.
    pub name: String,
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    pub fn allows(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    pub fn is_session(&self) -> bool {
        matches!(self.credential, Credential::Session { .. })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot open the account tables in {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("account database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Journal(#[from] crate::alerts::JournalError),
    #[error(transparent)]
    Chain(#[from] crate::alerts::chain::ChainError),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    crate::alerts::now_ms()
}

/// `n` random bytes from the operating system, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex sha256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_of_the_issue() {
        use Permission::*;
        let can = |r: Role| -> Vec<Permission> {
            Permission::ALL
                .into_iter()
                .filter(|p| r.allows(*p))
                .collect()
        };
        let common = [Cameras, Metrics, Forecast];
        let with = |extra: &[Permission]| -> Vec<Permission> {
            let mut v: Vec<Permission> = common.to_vec();
            v.extend_from_slice(extra);
            let mut all: Vec<Permission> = Permission::ALL.to_vec();
            all.retain(|p| v.contains(p));
            all
        };
        assert_eq!(can(Role::Operator), with(&[ReadAlerts, Act]));
        assert_eq!(
            can(Role::Supervisor),
            with(&[
                ReadAlerts,
                Act,
                Supervise,
                StopAlerting,
                Explain,
                ReadShadow,
                JudgeShadow
            ])
        );
        assert_eq!(
            can(Role::Auditor),
            with(&[ReadAlerts, ReadSecurity, Explain, ReadShadow])
        );
        assert_eq!(
            can(Role::Admin),
            with(&[ReadSecurity, Reload, StopAlerting])
        );
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn random_hex_is_fresh_and_sha256_is_known() {
        let a = random_hex(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex(32));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
