//! The hash chain over the journal: every row that makes the record (alert, decision, life-cycle
//! step, security event such as a login or a failed login, configuration version, purge, stop,
//! authorisation state, …) is *linked* when it is written, inside the same transaction.
//!
//! A link is one row of the append-only `chain` table:
//! `seq` (1, 2, 3… without gaps), `at_ms`, `kind` (what happened: `alert`, `decision`, …),
//! `source` and `row_id` (the table and row it covers), `content` (the row's canonical form,
//! see [`canonical_row`]) and `content_hash` (its SHA-256), `prev_hash` (the previous link's
//! hash) and `hash` = SHA-256(`prev_hash` `\n` canonical JSON of the link's other fields). The
//! first link's `prev_hash` is 64 zeros.
//!
//! `vigie audit verify` (see [`super::verify`]) walks the links and recomputes every row's
//! canonical form from its table: a row changed or deleted behind the engine's back, a link
//! removed or edited, or a row inserted without a link, is reported with its row.
//!
//! **Adding a kind of row to the chain** (for another table): register the table in [`TABLES`]
//! (one line), then call [`link_row`] with the transaction right after each `INSERT` (and each
//! `UPDATE` the engine itself makes: the newest link of a row is the one its current content
//! must match). Something that has no table of its own (a stop, an authorisation state change)
//! is journaled with [`record`], which stores it in `audit_events` and links it. Rules for a
//! chained table: an `INTEGER PRIMARY KEY` (the row id must survive `VACUUM`), and any column
//! added later must be NULL in existing rows (NULL columns are left out of the canonical form, so
//! older links stay valid).

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::detect::manifest::sha256_hex;

/// `prev_hash` of the first link.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Kind of the first link: the `audit_events` row naming the journal and the rows that existed
/// before the chain began.
pub const GENESIS: &str = "genesis";

/// A table whose rows are chained.
#[derive(Debug, Clone, Copy)]
pub struct ChainedTable {
    pub name: &'static str,
    /// Columns left out of the canonical row: bookkeeping that changes without being part of
    /// the record. The evidence column is left out too.
    pub exclude: &'static [&'static str],
    /// Evidence columns (images), each with the column holding its SHA-256: an image is hashed
    /// apart, so a retention purge can delete it and leave the row and its link intact.
    pub evidence: &'static [Evidence],
}

/// A blob hashed apart from its row (see [`ChainedTable::evidence`]).
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    pub column: &'static str,
    pub sha256_column: &'static str,
}

/// Every chained table. One line per table.
pub const TABLES: &[ChainedTable] = &[
    ChainedTable {
        name: "audit_events",
        exclude: &[],
        evidence: &[],
    },
    ChainedTable {
        name: "alerts",
        exclude: &[],
        evidence: &[
            Evidence {
                column: "snapshot",
                sha256_column: "snapshot_sha256",
            },
            // The full-resolution still attached after the alert (see `super::stills`).
            Evidence {
                column: "still",
                sha256_column: "still_sha256",
            },
        ],
    },
    ChainedTable {
        name: "decisions",
        exclude: &[],
        evidence: &[],
    },
    ChainedTable {
        name: "config_versions",
        exclude: &[],
        evidence: &[],
    },
    ChainedTable {
        name: "alert_transitions",
        exclude: &[],
        evidence: &[],
    },
    ChainedTable {
        name: "security_events",
        exclude: &[],
        evidence: &[],
    },
    ChainedTable {
        name: "alert_clips",
        exclude: &[],
        evidence: &[],
    },
];

/// The chain's tables: links, events without a table of their own, configuration versions, and
/// which images a retention purge deleted (the purge's link says how many; see
/// [`super::retention`]). Links can only get their `content` erased and `purged_by` set, by a
/// purge.
pub(super) const SCHEMA: &str = "
CREATE TABLE chain (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    content TEXT,
    content_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    purged_by INTEGER
);
CREATE INDEX chain_by_row ON chain(source, row_id, seq);
CREATE INDEX chain_by_time ON chain(at_ms);
CREATE INDEX chain_by_purge ON chain(purged_by) WHERE purged_by IS NOT NULL;
CREATE TRIGGER chain_append_only_update
BEFORE UPDATE OF seq, at_ms, kind, source, row_id, content_hash, prev_hash, hash ON chain
BEGIN SELECT RAISE(ABORT, 'chain links are append-only'); END;
CREATE TRIGGER chain_append_only_delete BEFORE DELETE ON chain
BEGIN SELECT RAISE(ABORT, 'chain links are append-only'); END;
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE config_versions (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    model TEXT,
    model_sha256 TEXT,
    parameters TEXT NOT NULL
);
CREATE INDEX config_versions_by_time ON config_versions(at_ms, id);
CREATE TABLE purged_images (
    alert_id INTEGER PRIMARY KEY,
    purge_event INTEGER NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("table `{0}` is not chained (add it to alerts::chain::TABLES)")]
    UnknownTable(String),
    #[error("row {row_id} of `{table}` does not exist")]
    NoRow { table: String, row_id: i64 },
    #[error("invalid chain kind {0:?}: lower-case letters, digits and `_` only")]
    InvalidKind(String),
    #[error("{0}")]
    Invalid(String),
    #[error("chain: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub source: String,
    pub row_id: i64,
    pub content_hash: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Link {
    /// The hash this link must have: SHA-256 of `prev_hash`, a newline, and the canonical JSON
    /// of `seq`, `at_ms`, `kind`, `source`, `row_id` and `content_hash`.
    pub fn expected_hash(&self) -> String {
        let fields = serde_json::json!({
            "seq": self.seq,
            "at_ms": self.at_ms,
            "kind": self.kind,
            "source": self.source,
            "row_id": self.row_id,
            "content_hash": self.content_hash,
        });
        sha256_hex(format!("{}\n{}", self.prev_hash, canonical_json(&fields)).as_bytes())
    }
}

/// JSON with object keys sorted at every level and no spaces: the one text a value hashes as.
/// Parsing it back and writing it again gives the same text.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The registered table called `name`.
pub fn table(name: &str) -> Result<&'static ChainedTable, ChainError> {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ChainError::UnknownTable(name.to_string()))
}

impl ChainedTable {
    fn skips(&self, column: &str) -> bool {
        self.exclude.contains(&column) || self.evidence.iter().any(|e| e.column == column)
    }

    /// The canonical form of a row read with `SELECT rowid, *`: every column but the excluded
    /// ones and the NULL ones, keys sorted; integers and text as JSON numbers and strings,
    /// reals as numbers (non-finite ones as strings), blobs as `"sha256:<hex>"`.
    pub fn canonical(&self, row: &Row<'_>) -> rusqlite::Result<String> {
        let stmt = row.as_ref();
        let mut map = serde_json::Map::new();
        // Column 0 is the rowid, already one of the columns (INTEGER PRIMARY KEY).
        for i in 1..stmt.column_count() {
            let name = stmt.column_name(i)?;
            if self.skips(name) {
                continue;
            }
            let value = match row.get_ref(i)? {
                ValueRef::Null => continue,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(x) if x.is_finite() => Value::from(x),
                ValueRef::Real(x) => Value::from(x.to_string()),
                ValueRef::Text(t) => Value::from(match std::str::from_utf8(t) {
                    Ok(s) => s.to_string(),
                    Err(_) => format!("invalid-utf8:{}", hex_of(t)),
                }),
                ValueRef::Blob(b) => Value::from(format!("sha256:{}", sha256_hex(b))),
            };
            map.insert(name.to_string(), value);
        }
        Ok(canonical_json(&Value::Object(map)))
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical form of row `row_id` of a chained table, `None` when there is no such row.
pub fn canonical_row(
    conn: &Connection,
    table: &ChainedTable,
    row_id: i64,
) -> Result<Option<String>, ChainError> {
    let sql = format!("SELECT rowid, * FROM {} WHERE rowid = ?1", table.name);
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt
        .query_row([row_id], |r| table.canonical(r))
        .optional()?)
}

fn check_kind(kind: &str) -> Result<(), ChainError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ChainError::InvalidKind(kind.to_string()))
    }
}

/// The newest link, `None` before the genesis.
pub fn head(conn: &Connection) -> Result<Option<Link>, ChainError> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, at_ms, kind, source, row_id, content_hash, prev_hash, hash
             FROM chain ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([], link_from_row)
        .optional()?)
}

/// Reads the first eight columns `seq, at_ms, kind, source, row_id, content_hash, prev_hash,
/// hash`.
pub fn link_from_row(r: &Row<'_>) -> rusqlite::Result<Link> {
    Ok(Link {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        kind: r.get(2)?,
        source: r.get(3)?,
        row_id: r.get(4)?,
        content_hash: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

/// Links row `row_id` of `table` (registered in [`TABLES`]) as it is now, inside the caller's
/// transaction. Call it after every `INSERT` and every `UPDATE` the engine makes on a chained
/// table, before the commit.
pub fn link_row(tx: &Connection, kind: &str, table: &str, row_id: i64) -> Result<Link, ChainError> {
    check_kind(kind)?;
    let spec = self::table(table)?;
    let content = canonical_row(tx, spec, row_id)?.ok_or_else(|| ChainError::NoRow {
        table: table.to_string(),
        row_id,
    })?;
    append(tx, kind, spec.name, row_id, &content)
}

/// Journals an event that has no table of its own (a purge, and later a stop or an
/// authorisation state change) in `audit_events`, and links it. Returns the link; its
/// `row_id` is the event's id.
pub fn record(tx: &Connection, kind: &str, body: &Value) -> Result<Link, ChainError> {
    check_kind(kind)?;
    tx.prepare_cached("INSERT INTO audit_events (at_ms, kind, body) VALUES (?1, ?2, ?3)")?
        .execute(params![super::now_ms(), kind, canonical_json(body)])?;
    let id = tx.last_insert_rowid();
    link_row(tx, kind, "audit_events", id)
}

fn append(
    tx: &Connection,
    kind: &str,
    source: &str,
    row_id: i64,
    content: &str,
) -> Result<Link, ChainError> {
    let (seq, prev_hash) = match head(tx)? {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS_PREV.to_string()),
    };
    let mut link = Link {
        seq,
        at_ms: super::now_ms(),
        kind: kind.to_string(),
        source: source.to_string(),
        row_id,
        content_hash: sha256_hex(content.as_bytes()),
        prev_hash,
        hash: String::new(),
    };
    link.hash = link.expected_hash();
    tx.prepare_cached(
        "INSERT INTO chain (seq, at_ms, kind, source, row_id, content, content_hash, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        link.seq,
        link.at_ms,
        link.kind,
        link.source,
        link.row_id,
        content,
        link.content_hash,
        link.prev_hash,
        link.hash
    ])?;
    Ok(link)
}

/// Whether `table` exists in the database.
pub fn table_exists(conn: &Connection, table: &str) -> Result<bool, ChainError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([table], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Links every existing row of `table`, in id order, as kind `kind`. For the genesis and for a
/// migration that brings an existing table into the chain; never to "repair" a chain (that
/// would launder rows changed behind the engine's back). Returns how many rows were linked.
pub fn link_existing(tx: &Connection, kind: &str, table: &str) -> Result<u64, ChainError> {
    let spec = self::table(table)?;
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare(&format!("SELECT rowid FROM {} ORDER BY rowid", spec.name))?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in &ids {
        link_row(tx, kind, table, *id)?;
    }
    Ok(ids.len() as u64)
}

/// Creates the chain's tables and writes the genesis: an `audit_events` row with the journal's
/// id and how many rows of each chained table existed before (a journal written by an older
/// build), then one `adopted` link per existing row. Their content before this moment is not
/// proven; from here on every change is.
pub(super) fn genesis(tx: &Connection, journal_id: &str) -> Result<(), ChainError> {
    tx.execute_batch(SCHEMA)?;
    let mut existing = serde_json::Map::new();
    for t in TABLES.iter().filter(|t| t.name != "audit_events") {
        if table_exists(tx, t.name)? {
            let n: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM {}", t.name), [], |r| {
                r.get(0)
            })?;
            existing.insert(t.name.to_string(), Value::from(n));
        }
    }
    let body = serde_json::json!({
        "journal_id": journal_id,
        "chain_version": 1,
        "existing_rows": existing,
    });
    record(tx, GENESIS, &body)?;
    for t in TABLES.iter().filter(|t| t.name != "audit_events") {
        if table_exists(tx, t.name)? {
            link_existing(tx, "adopted", t.name)?;
        }
    }
    Ok(())
}

/// SHA-256 of ids written one per line: what a purge's tombstone commits to.
pub fn digest_ids(ids: &[i64]) -> String {
    let text: String = ids.iter().map(|i| format!("{i}\n")).collect();
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_round_trips() {
        let v = serde_json::json!({
            "b": 1, "a": {"z": [1.5, "é\"\n", null], "y": 0.8199999928474426},
            "c": f64::from(0.4f32), "d": 1e21, "e": -0.0, "f": i64::MIN, "g": 1.0
        });
        let text = canonical_json(&v);
        assert!(text.starts_with("{\"a\":{\"y\":"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical_json(&back), text);
    }

    #[test]
    fn a_link_hash_covers_every_field() {
        let link = Link {
            seq: 3,
            at_ms: 1000,
            kind: "alert".into(),
            source: "alerts".into(),
            row_id: 2,
            content_hash: sha256_hex(b"{}"),
            prev_hash: GENESIS_PREV.into(),
            hash: String::new(),
        };
        let h = link.expected_hash();
        let changed = [
            Link {
                seq: 4,
                ..link.clone()
            },
            Link {
                at_ms: 1001,
                ..link.clone()
            },
            Link {
                kind: "decision".into(),
                ..link.clone()
            },
            Link {
                source: "decisions".into(),
                ..link.clone()
            },
            Link {
                row_id: 3,
                ..link.clone()
            },
            Link {
                content_hash: sha256_hex(b"{ }"),
                ..link.clone()
            },
            Link {
                prev_hash: "1".repeat(64),
                ..link.clone()
            },
        ];
        for l in changed {
            assert_ne!(l.expected_hash(), h, "{l:?}");
        }
    }

    #[test]
    fn canonical_rows_leave_out_nulls_excluded_and_evidence_columns() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY, t TEXT, r REAL, n INTEGER, b BLOB,
                 snapshot BLOB, snapshot_sha256 TEXT, later TEXT);
             INSERT INTO alerts VALUES (7, 'x', 0.5, NULL, x'00ff', x'ffd8', 'abc', NULL);",
        )
        .unwrap();
        let text = canonical_row(&conn, table("alerts").unwrap(), 7)
            .unwrap()
            .unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"b\":\"sha256:{}\",\"id\":7,\"r\":0.5,\"snapshot_sha256\":\"abc\",\"t\":\"x\"}}",
                sha256_hex(&[0, 255])
            )
        );
        assert_eq!(
            canonical_row(&conn, table("alerts").unwrap(), 8).unwrap(),
            None
        );
        // Integer 5 and text "5" differ (in a column without affinity: `BLOB`).
        conn.execute_batch("UPDATE alerts SET b = 5").unwrap();
        let int = canonical_row(&conn, table("alerts").unwrap(), 7).unwrap();
        conn.execute_batch("UPDATE alerts SET b = '5'").unwrap();
        let text5 = canonical_row(&conn, table("alerts").unwrap(), 7).unwrap();
        assert_ne!(int, text5);
    }

    #[test]
    fn kinds_and_tables_are_checked() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        assert!(matches!(
            link_row(&conn, "Bad Kind", "audit_events", 1),
            Err(ChainError::InvalidKind(_))
        ));
        assert!(matches!(
            link_row(&conn, "x", "users", 1),
            Err(ChainError::UnknownTable(_))
        ));
        assert!(matches!(
            link_row(&conn, "x", "audit_events", 1),
            Err(ChainError::NoRow { .. })
        ));
    }

    #[test]
    fn links_follow_each_other() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let a = record(&conn, "genesis", &serde_json::json!({"journal_id": "j"})).unwrap();
        let b = record(&conn, "stop", &serde_json::json!({"reason": "test"})).unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev_hash, GENESIS_PREV);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(b.hash, b.expected_hash());
        assert_eq!(head(&conn).unwrap(), Some(b));
        // The links cannot be edited or deleted through SQL (a trigger), only purged.
        assert!(conn.execute("DELETE FROM chain", []).is_err());
        assert!(conn.execute("UPDATE chain SET kind = 'x'", []).is_err());
        conn.execute(
            "UPDATE chain SET content = NULL, purged_by = 2 WHERE seq = 1",
            [],
        )
        .unwrap();
    }
}
