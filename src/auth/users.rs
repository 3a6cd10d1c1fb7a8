//! Local accounts: `vigie user add|passwd|disable|enable|list`, and the password check of a
//! login. Accounts are never deleted (the journal names them); a disabled account cannot log in
//! and its sessions end at once.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::password::{check_new_password, hash_password, verify_password};
use super::store::Store;
use super::{now_ms, AuthError, Role};

/// Longest account or token name (characters).
pub const MAX_NAME_LEN: usize = 64;

/// An account as `vigie user list` shows it (never its hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub password_changed_at_ms: i64,
}

/// An account or token name: 1 to 64 characters among letters (accents allowed), digits, `.`,
/// `_`, `-` and `@`; it is what the journal records for every decision.
pub fn validate_name(name: &str) -> Result<(), AuthError> {
    let n = name.chars().count();
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if n == 0 || n > MAX_NAME_LEN || !name.chars().all(ok_char) {
        return Err(AuthError::Invalid(format!(
            "`{}` is not a valid name: 1 to {MAX_NAME_LEN} letters, digits, `.`, `_`, `-` or `@`",
            super::store::clean(name)
        )));
    }
    Ok(())
}

fn role_of(text: &str) -> rusqlite::Result<Role> {
    Role::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role {text:?}").into(),
        )
    })
}

/// The account a login names, if it may log in.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoginAccount {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// Why a login failed (journaled; the caller only hears "wrong name or password").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    UnknownAccount,
    WrongPassword,
    Disabled,
}

impl LoginFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::UnknownAccount => "unknown account",
            LoginFailure::WrongPassword => "wrong password",
            LoginFailure::Disabled => "account disabled",
        }
    }
}

impl Store {
    /// Creates an account. `by` (who ran the command) is journaled.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &str,
        by: &str,
    ) -> Result<UserInfo, AuthError> {
        validate_name(name)?;
        let hash = hash_password(password)?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            return Err(AuthError::Exists(format!(
                "account `{name}` already exists"
            )));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO users (name, role, password_hash, created_at_ms, password_changed_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![name, role.as_str(), hash, now],
        )?;
        let detail = format!("role {role}, by {by}");
        Store::record_on(&tx, "user_added", Some(name), None, Some(&detail))?;
        tx.commit()?;
        drop(conn);
        self.user(name)?
            .ok_or_else(|| AuthError::NotFound(format!("account `{name}` vanished")))
    }

    /// Sets a new password; every open session of the account ends.
    pub fn set_password(&self, name: &str, password: &str, by: &str) -> Result<(), AuthError> {
        check_new_password(password)?;
        let hash = hash_password(password)?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let id = user_id(&tx, name)?;
        tx.execute(
            "UPDATE users SET password_hash = ?2, password_changed_at_ms = ?3 WHERE id = ?1",
            params![id, hash, now_ms()],
        )?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        Store::record_on(
            &tx,
            "password_changed",
            Some(name),
            None,
            Some(&format!("by {by}")),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Disables (or enables again) an account; disabling ends its sessions.
    pub fn set_disabled(&self, name: &str, disabled: bool, by: &str) -> Result<(), AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let id = user_id(&tx, name)?;
        tx.execute(
            "UPDATE users SET disabled = ?2 WHERE id = ?1",
            params![id, disabled],
        )?;
        if disabled {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        }
        let kind = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        Store::record_on(&tx, kind, Some(name), None, Some(&format!("by {by}")))?;
        tx.commit()?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Result<Option<UserInfo>, AuthError> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT id, name, role, disabled, created_at_ms, password_changed_at_ms
                 FROM users WHERE name = ?1",
            )?
            .query_row([name], user_from_row)
            .optional()?)
    }

    pub fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, role, disabled, created_at_ms, password_changed_at_ms
             FROM users ORDER BY name",
        )?;
        let rows = stmt.query_map([], user_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Checks a login's password. Costs one argon2 verification whatever the outcome.
    pub(super) fn check_login(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Result<LoginAccount, LoginFailure>, AuthError> {
        let row: Option<(i64, String, String, bool)> = self
            .lock()
            .prepare_cached("SELECT id, role, password_hash, disabled FROM users WHERE name = ?1")?
            .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((id, role, hash, disabled)) = row else {
            verify_password(password, None);
            return Ok(Err(LoginFailure::UnknownAccount));
        };
        if !verify_password(password, Some(&hash)) {
            return Ok(Err(LoginFailure::WrongPassword));
        }
        if disabled {
            return Ok(Err(LoginFailure::Disabled));
        }
        Ok(Ok(LoginAccount {
            id,
            name: name.to_string(),
            role: role_of(&role)?,
        }))
    }
}

fn user_id(conn: &rusqlite::Connection, name: &str) -> Result<i64, AuthError> {
    conn.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| AuthError::NotFound(format!("no account `{}`", super::store::clean(name))))
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserInfo> {
    Ok(UserInfo {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role_of(&row.get::<_, String>(2)?)?,
        disabled: row.get(3)?,
        created_at_ms: row.get(4)?,
        password_changed_at_ms: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::store::open_temp;
    use super::*;

    const PW: &str = "un mot de passe long";

    #[test]
    fn accounts_are_created_checked_changed_and_disabled() {
        let (_d, s) = open_temp();
        let u = s.add_user("camille", Role::Operator, PW, "test").unwrap();
        assert_eq!(
            (u.name.as_str(), u.role, u.disabled),
            ("camille", Role::Operator, false)
        );
        assert!(matches!(
            s.add_user("camille", Role::Admin, PW, "test"),
            Err(AuthError::Exists(_))
        ));
        let ok = s.check_login("camille", PW).unwrap().unwrap();
        assert_eq!((ok.name.as_str(), ok.role), ("camille", Role::Operator));
        assert_eq!(
            s.check_login("camille", "wrong password!").unwrap(),
            Err(LoginFailure::WrongPassword)
        );
        assert_eq!(
            s.check_login("nobody", PW).unwrap(),
            Err(LoginFailure::UnknownAccount)
        );
        s.set_password("camille", "un autre mot de passe", "test")
            .unwrap();
        assert!(s.check_login("camille", PW).unwrap().is_err());
        assert!(s
            .check_login("camille", "un autre mot de passe")
            .unwrap()
            .is_ok());
        s.set_disabled("camille", true, "test").unwrap();
        assert_eq!(
            s.check_login("camille", "un autre mot de passe").unwrap(),
            Err(LoginFailure::Disabled)
        );
        assert!(s.user("camille").unwrap().unwrap().disabled);
        s.set_disabled("camille", false, "test").unwrap();
        assert!(s
            .check_login("camille", "un autre mot de passe")
            .unwrap()
            .is_ok());
        assert!(matches!(
            s.set_password("nobody", PW, "t"),
            Err(AuthError::NotFound(_))
        ));
        let kinds: Vec<String> = s
            .events(None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "user_enabled",
                "user_disabled",
                "password_changed",
                "user_added"
            ]
        );
    }

    #[test]
    fn names_and_passwords_are_validated() {
        let (_d, s) = open_temp();
        for bad in ["", "a b", "x/y", "tab\t", &"a".repeat(65)] {
            assert!(
                matches!(
                    s.add_user(bad, Role::Operator, PW, "t"),
                    Err(AuthError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(s
            .add_user("agent.dupont@csu-nord", Role::Auditor, PW, "t")
            .is_ok());
        assert!(s.add_user("Hélène", Role::Supervisor, PW, "t").is_ok());
        assert!(matches!(
            s.add_user("lou", Role::Operator, "short", "t"),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(s.users().unwrap().len(), 2);
    }
}
