//! Parameter history: every configuration that has been in force (at start, and at each reload
//! that changed it), with its time, the SHA-256 of its parameters and the model's SHA-256, in
//! the chained table `config_versions`. Each alert names the version in force when it fired.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use super::chain::{self, canonical_json};
use super::{Journal, JournalError};
use crate::detect::manifest::sha256_hex;

/// One configuration that was in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigVersion {
    pub id: i64,
    /// When it came into force.
    pub at_ms: i64,
    /// `start` or `reload`.
    pub reason: String,
    /// SHA-256 of the canonical JSON of `parameters`.
    pub sha256: String,
    pub model: Option<String>,
    pub model_sha256: Option<String>,
    /// Rules and thresholds, as `Config::parameters` gives them (no secrets).
    pub parameters: Value,
}

const SELECT: &str =
    "SELECT id, at_ms, reason, sha256, model, model_sha256, parameters FROM config_versions";

fn version_from_row(r: &Row<'_>) -> rusqlite::Result<ConfigVersion> {
    let text: String = r.get(6)?;
    Ok(ConfigVersion {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        reason: r.get(2)?,
        sha256: r.get(3)?,
        model: r.get(4)?,
        model_sha256: r.get(5)?,
        parameters: serde_json::from_str(&text).unwrap_or(Value::Null),
    })
}

/// The version in force at `at_ms` (the newest one from before it) and when the next one
/// replaced it, if one did.
pub fn config_at(
    conn: &Connection,
    at_ms: i64,
) -> Result<Option<(ConfigVersion, Option<i64>)>, JournalError> {
    let version = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE at_ms <= ?1 ORDER BY at_ms DESC, id DESC LIMIT 1"
        ))?
        .query_row([at_ms], version_from_row)
        .optional()?;
    let Some(version) = version else {
        return Ok(None);
    };
    let next: Option<i64> = conn
        .prepare_cached("SELECT MIN(at_ms) FROM config_versions WHERE id > ?1")?
        .query_row([version.id], |r| r.get(0))?;
    Ok(Some((version, next)))
}

/// Configuration version `id`, `None` when there is none.
pub fn version(conn: &Connection, id: i64) -> Result<Option<ConfigVersion>, JournalError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], version_from_row)
        .optional()?)
}

/// The newest configuration version (the one in force now), `None` before any.
pub fn latest(conn: &Connection) -> Result<Option<ConfigVersion>, JournalError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} ORDER BY id DESC LIMIT 1"))?
        .query_row([], version_from_row)
        .optional()?)
}

impl Journal {
    /// Records the configuration coming into force (`reason`: `start` or `reload`) and returns
    /// its version id. A reload whose parameters equal the version in force records nothing
    /// and returns that version; a start is always recorded.
    pub fn record_config(
        &self,
        reason: &str,
        parameters: &Value,
        model: Option<(&str, &str)>,
    ) -> Result<i64, JournalError> {
        let text = canonical_json(parameters);
        let sha = sha256_hex(text.as_bytes());
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let latest: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, sha256 FROM config_versions ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, latest_sha)) = latest {
            if reason != "start" && latest_sha == sha {
                return Ok(id);
            }
        }
        tx.execute(
            "INSERT INTO config_versions (at_ms, reason, sha256, model, model_sha256, parameters)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                super::now_ms(),
                reason,
                sha,
                model.map(|m| m.0),
                model.map(|m| m.1),
                text
            ],
        )?;
        let id = tx.last_insert_rowid();
        chain::link_row(&tx, "config", "config_versions", id)?;
        tx.commit()?;
        Ok(id)
    }

    /// The configuration version in force at `at_ms`, and when the next one replaced it.
    pub fn config_at(
        &self,
        at_ms: i64,
    ) -> Result<Option<(ConfigVersion, Option<i64>)>, JournalError> {
        config_at(&self.lock(), at_ms)
    }
}
