//! API tokens for machine clients (a VMS, a hypervision): `Authorization: Bearer vgt_…`. Each has
//! a name and a role; only the sha256 of the token is stored (the token is 256 random bits, so
//! a fast hash is enough), and it is shown once, when created. A revoked token is refused from
//! the next request on; its row stays for the record.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::store::Store;
use super::users::validate_name;
use super::{now_ms, random_hex, sha256_hex, AuthError, Role};

/// Every token starts with this, so a leaked one is easy to recognise (and to search for).
pub const TOKEN_PREFIX: &str = "vgt_";

/// A token as `vigie token list` shows it (never the token).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// The token a request presented, when valid.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ValidToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl Store {
    /// Creates a token; returns it (the only time it is ever shown) with its row.
    pub fn add_token(
        &self,
        name: &str,
        role: Role,
        by: &str,
    ) -> Result<(String, TokenInfo), AuthError> {
        validate_name(name)?;
        let token = format!("{TOKEN_PREFIX}{}", random_hex(32));
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row("SELECT 1 FROM api_tokens WHERE name = ?1", [name], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if exists {
            return Err(AuthError::Exists(format!(
                "a token named `{name}` already exists (revoked tokens keep their name)"
            )));
        }
        tx.execute(
            "INSERT INTO api_tokens (name, role, token_sha256, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), sha256_hex(&token), now_ms()],
        )?;
        let detail = format!("role {role}, by {by}");
        Store::record_on(
            &tx,
            "token_added",
            Some(&format!("token:{name}")),
            None,
            Some(&detail),
        )?;
        tx.commit()?;
        drop(conn);
        let info = self
            .tokens()?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| AuthError::NotFound(format!("token `{name}` vanished")))?;
        Ok((token, info))
    }

    /// Revokes a token by name; refused from the next request on.
    pub fn revoke_token(&self, name: &str, by: &str) -> Result<(), AuthError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE api_tokens SET revoked_at_ms = ?2 WHERE name = ?1 AND revoked_at_ms IS NULL",
            params![name, now_ms()],
        )?;
        if n == 0 {
            return Err(AuthError::NotFound(format!(
                "no active token `{}`",
                super::store::clean(name)
            )));
        }
        Store::record_on(
            &tx,
            "token_revoked",
            Some(&format!("token:{name}")),
            None,
            Some(&format!("by {by}")),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            let role: String = r.get(2)?;
            Ok((r.get(0)?, r.get(1)?, role, r.get(3)?, r.get(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, role, created_at_ms, revoked_at_ms): (
                i64,
                String,
                String,
                i64,
                Option<i64>,
            ) = row?;
            let role = Role::parse(&role).ok_or_else(|| {
                AuthError::Invalid(format!("token {name}: unknown role {role:?}"))
            })?;
            out.push(TokenInfo {
                id,
                name,
                role,
                created_at_ms,
                revoked_at_ms,
            });
        }
        Ok(out)
    }

    /// The active token whose plaintext is `token`.
    pub(super) fn check_token(&self, token: &str) -> Result<Option<ValidToken>, AuthError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let row: Option<(i64, String, String)> = self
            .lock()
            .prepare_cached(
                "SELECT id, name, role FROM api_tokens
                 WHERE token_sha256 = ?1 AND revoked_at_ms IS NULL",
            )?
            .query_row([sha256_hex(token)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        Ok(match row {
            None => None,
            Some((id, name, role)) => Some(ValidToken {
                id,
                name,
                role: Role::parse(&role)
                    .ok_or_else(|| AuthError::Invalid(format!("token: unknown role {role:?}")))?,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::open_temp;
    use super::*;

    #[test]
    fn tokens_are_shown_once_stored_hashed_and_revocable() {
        let (_d, s) = open_temp();
        let (token, info) = s.add_token("vms-nord", Role::Operator, "test").unwrap();
        assert!(
            token.starts_with(TOKEN_PREFIX) && token.len() == 4 + 64,
            "{token}"
        );
        assert_eq!(
            (info.name.as_str(), info.role),
            ("vms-nord", Role::Operator)
        );
        // Only the hash is stored.
        let stored: String = s
            .lock()
            .query_row("SELECT token_sha256 FROM api_tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, sha256_hex(&token));
        assert!(!stored.contains(&token[4..]));
        let ok = s.check_token(&token).unwrap().unwrap();
        assert_eq!((ok.name.as_str(), ok.role), ("vms-nord", Role::Operator));
        assert_eq!(s.check_token("vgt_0000").unwrap(), None);
        assert_eq!(s.check_token(&token[4..]).unwrap(), None);
        assert!(matches!(
            s.add_token("vms-nord", Role::Admin, "t"),
            Err(AuthError::Exists(_))
        ));
        s.revoke_token("vms-nord", "test").unwrap();
        assert_eq!(s.check_token(&token).unwrap(), None);
        assert!(s.tokens().unwrap()[0].revoked_at_ms.is_some());
        assert!(matches!(
            s.revoke_token("vms-nord", "t"),
            Err(AuthError::NotFound(_))
        ));
        // Two tokens never collide.
        let (other, _) = s.add_token("vms-sud", Role::Auditor, "t").unwrap();
        assert_ne!(other, token);
    }
}
