//! `[auth]` (sessions, login limits, `/metrics`) and `[server.tls]` (certificate and key).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{resolve, ConfigError};
use crate::auth::{AuthSettings, LimiterSettings, SessionSettings};

/// `[auth]`: how long console sessions live, how failed logins are limited, whether `/metrics`
/// needs authentication. Accounts and tokens themselves are in the journal (`vigie user`,
/// `vigie token`), never in this file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A console session without any request for this long ends (the console itself polls, so
    /// an open console stays logged in).
    pub session_idle_seconds: u64,
    /// A console session ends this long after login, whatever happens (one shift).
    pub session_max_seconds: u64,
    /// Failed logins of one account within `login_window_seconds` before its logins are refused.
    pub login_failures_per_account: u32,
    /// Failed logins from one address within the window before its logins are refused.
    pub login_failures_per_address: u32,
    pub login_window_seconds: u64,
    /// Serve `/metrics` without authentication (for a Prometheus that cannot send a token).
    pub metrics_public: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 3600,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            login_window_seconds: 15 * 60,
            metrics_public: false,
        }
    }
}

/// Longest session or window accepted: one week.
const MAX_SECONDS: u64 = 7 * 24 * 3600;

impl AuthConfig {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        let mut err = |field: &str, message: String| {
            errors.push(ConfigError {
                path: format!("auth.{field}"),
                message,
            })
        };
        for (field, v) in [
            ("session_idle_seconds", self.session_idle_seconds),
            ("session_max_seconds", self.session_max_seconds),
            ("login_window_seconds", self.login_window_seconds),
        ] {
            if !(1..=MAX_SECONDS).contains(&v) {
                err(
                    field,
                    format!("{v} is out of range 1..={MAX_SECONDS} (one week)"),
                );
            }
        }
        for (field, v) in [
            (
                "login_failures_per_account",
                self.login_failures_per_account,
            ),
            (
                "login_failures_per_address",
                self.login_failures_per_address,
            ),
        ] {
            if !(1..=1000).contains(&v) {
                err(field, format!("{v} is out of range 1..=1000"));
            }
        }
    }

    /// The settings of [`crate::auth::Auth`]; `tls` marks session cookies `Secure`.
    pub fn settings(&self, tls: bool) -> AuthSettings {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        AuthSettings {
            sessions: SessionSettings {
                idle_ms: ms(self.session_idle_seconds),
                max_ms: ms(self.session_max_seconds),
            },
            limiter: LimiterSettings {
                window: Duration::from_secs(self.login_window_seconds),
                per_account: self.login_failures_per_account,
                per_address: self.login_failures_per_address,
            },
            metrics_public: self.metrics_public,
            secure_cookies: tls,
        }
    }
}

/// `[server.tls]`: serve HTTPS (rustls) with this certificate chain and key, PEM files
/// (relative to the config file). Without it the server speaks plain HTTP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsConfig {
    /// Both files exist (their content is read when the server starts).
    pub fn validate(&self, base: &Path, errors: &mut Vec<ConfigError>) {
        for (field, p) in [("cert", &self.cert), ("key", &self.key)] {
            let path = resolve(base, p);
            if !path.is_file() {
                errors.push(ConfigError {
                    path: format!("server.tls.{field}"),
                    message: format!("file {} does not exist", path.display()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_named() {
        let mut errors = Vec::new();
        AuthConfig::default().validate(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let bad = AuthConfig {
            session_idle_seconds: 0,
            session_max_seconds: MAX_SECONDS + 1,
            login_failures_per_account: 0,
            ..AuthConfig::default()
        };
        bad.validate(&mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "auth.session_idle_seconds",
                "auth.session_max_seconds",
                "auth.login_failures_per_account"
            ]
        );
        let s = AuthConfig::default().settings(true);
        assert_eq!(s.sessions.idle_ms, 1_800_000);
        assert!(s.secure_cookies && !s.metrics_public);
    }
}
