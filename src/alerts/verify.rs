//! Checking the chain: [`verify`] walks a journal's links and recomputes every chained row from
//! its table; [`export`] writes a range of links with their rows as JSON lines (a bundle), and
//! [`verify_bundle`] checks such a bundle offline, without the database.
//!
//! What a journal check finds, each problem with the link and the row it concerns:
//! - a link missing (a gap in `seq`), a link whose fields or `prev_hash` were changed;
//! - a row whose content differs from its newest link (an `UPDATE` behind the engine's back),
//!   a row gone without a retention purge (a `DELETE`), a row with no link (an `INSERT`);
//! - an image that differs from the hash chained with its alert, or gone without a purge;
//! - a purge whose tombstone does not match what it erased, or that erased journal rows younger
//!   than the legal minimum.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{
    self, canonical_json, digest_ids, link_from_row, table_exists, ChainError, Link, GENESIS,
    GENESIS_PREV, TABLES,
};
use crate::config::MIN_JOURNAL_DAYS;
use crate::detect::manifest::sha256_hex;

/// Format name written in a bundle's first line.
pub const BUNDLE_FORMAT: &str = "vigie-audit-bundle";

/// One thing that does not hold, with the link (when there is one) and the row it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub seq: Option<i64>,
    pub table: Option<String>,
    pub row_id: Option<i64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "link {seq}")?,
            None => write!(f, "no link")?,
        }
        if let (Some(t), Some(id)) = (&self.table, self.row_id) {
            write!(f, " ({t} row {id})")?;
        }
        write!(f, ": {}", self.message)
    }
}

fn problem(seq: Option<i64>, table: &str, row_id: i64, message: String) -> Problem {
    Problem {
        seq,
        table: Some(table.to_string()),
        row_id: Some(row_id),
        message,
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub links: u64,
    pub head: Option<Link>,
    /// Rows checked, per table.
    pub rows: BTreeMap<String, u64>,
    pub images_checked: u64,
    pub images_purged: u64,
    pub links_purged: u64,
    /// Every problem, the earliest link first (problems without a link last).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first broken link.
    pub fn first(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

/// Checks a journal's chain and every chained row (see the module docs). Reads one consistent
/// snapshot; writes nothing.
pub fn verify(conn: &Connection) -> Result<VerifyReport, ChainError> {
    if !table_exists(conn, "chain")? {
        return Err(ChainError::Invalid(
            "this journal has no hash chain (written by a build from before it): `vigie run` \
             builds it at its next start"
                .into(),
        ));
    }
    let tx = conn.unchecked_transaction()?;
    let mut report = VerifyReport::default();
    walk_links(&tx, &mut report)?;
    check_genesis(&tx, &mut report)?;
    for t in TABLES {
        check_rows(&tx, t, &mut report)?;
        check_missing_rows(&tx, t, &mut report)?;
    }
    check_purges(&tx, &mut report)?;
    report
        .problems
        .sort_by_key(|p| (p.seq.is_none(), p.seq.unwrap_or(0)));
    Ok(report)
}

/// Every link: `seq` without gaps, `prev_hash`, `hash`, and the stored content's hash.
fn walk_links(conn: &Connection, report: &mut VerifyReport) -> Result<(), ChainError> {
    let mut stmt = conn.prepare(
        "SELECT seq, at_ms, kind, source, row_id, content_hash, prev_hash, hash, content, purged_by
         FROM chain ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev: Option<Link> = None;
    while let Some(r) = rows.next()? {
        let link = link_from_row(r)?;
        let content: Option<String> = r.get(8)?;
        let purged_by: Option<i64> = r.get(9)?;
        let (expected_seq, expected_prev) = match &prev {
            Some(p) => (p.seq + 1, p.hash.as_str()),
            None => (1, GENESIS_PREV),
        };
        let at = |message: String| problem(Some(link.seq), &link.source, link.row_id, message);
        if link.seq != expected_seq {
            report.problems.push(at(format!(
                "links {expected_seq}..{} are missing: deleted from the chain",
                link.seq - 1
            )));
        } else if link.prev_hash != expected_prev {
            report.problems.push(at(format!(
                "does not follow link {}: prev_hash {} instead of {expected_prev}",
                link.seq - 1,
                link.prev_hash
            )));
        }
        if link.hash != link.expected_hash() {
            report.problems.push(at(
                "the link was changed after it was written (its hash does not match its fields)"
                    .into(),
            ));
        }
        match (&content, purged_by) {
            (Some(c), _) if sha256_hex(c.as_bytes()) != link.content_hash => report.problems.push(
                at("the content stored with the link does not match its hash".into()),
            ),
            (None, None) => report
                .problems
                .push(at("the link's content was erased without a purge".into())),
            _ => {}
        }
        if chain::table(&link.source).is_err() {
            report.problems.push(at(format!(
                "refers to `{}`, which is not a chained table",
                link.source
            )));
        }
        if purged_by.is_some() {
            report.links_purged += 1;
        }
        report.links += 1;
        prev = Some(link);
    }
    report.head = prev;
    Ok(())
}

/// The first link is the genesis event, naming this journal.
fn check_genesis(conn: &Connection, report: &mut VerifyReport) -> Result<(), ChainError> {
    let first: Option<(String, String, Option<String>)> = conn
        .query_row(
            "SELECT kind, source, content FROM chain WHERE seq = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let journal_id: Option<String> = if table_exists(conn, "meta")? {
        conn.query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
            r.get(0)
        })
        .optional()?
    } else {
        None
    };
    let message = match first {
        None => Some("the chain has no genesis link".to_string()),
        Some((kind, source, _)) if kind != GENESIS || source != "audit_events" => {
            Some(format!("the first link is `{kind}`, not the genesis"))
        }
        Some((_, _, content)) => {
            let named = content
                .and_then(|c| serde_json::from_str::<Value>(&c).ok())
                .and_then(|v| v["body"].as_str().map(str::to_string))
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .and_then(|b| b["journal_id"].as_str().map(str::to_string));
            (named != journal_id).then(|| {
                format!(
                    "the genesis names journal {named:?}, but this journal's id is {journal_id:?}"
                )
            })
        }
    };
    if let Some(m) = message {
        report.problems.push(Problem {
            seq: Some(1),
            table: Some("audit_events".into()),
            row_id: None,
            message: m,
        });
    }
    Ok(())
}

/// The newest link of a row: `(seq, content_hash, content, purged_by)`.
type Latest = (i64, String, Option<String>, Option<i64>);

fn latest_link(conn: &Connection, table: &str, row_id: i64) -> Result<Option<Latest>, ChainError> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, content_hash, content, purged_by FROM chain
             WHERE source = ?1 AND row_id = ?2 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(rusqlite::params![table, row_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?)
}

/// Every row of a chained table against its newest link, and its image against its hash.
fn check_rows(
    conn: &Connection,
    t: &chain::ChainedTable,
    report: &mut VerifyReport,
) -> Result<(), ChainError> {
    if !table_exists(conn, t.name)? {
        return Ok(());
    }
    let mut stmt = conn.prepare(&format!("SELECT rowid, * FROM {} ORDER BY rowid", t.name))?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let idx = |c: &str| names.iter().position(|n| n == c);
    // Evidence columns the table has (a column added by a later migration may be absent).
    let evidence: Vec<(usize, usize)> = t
        .evidence
        .iter()
        .filter_map(|e| Some((idx(e.column)?, idx(e.sha256_column)?)))
        .collect();
    let mut rows = stmt.query([])?;
    let mut count = 0u64;
    while let Some(r) = rows.next()? {
        count += 1;
        let row_id: i64 = r.get(0)?;
        let canonical = t.canonical(r)?;
        let Some((seq, hash, content, purged_by)) = latest_link(conn, t.name, row_id)? else {
            report.problems.push(problem(
                None,
                t.name,
                row_id,
                "the row has no link: it was inserted behind the engine's back".into(),
            ));
            continue;
        };
        if purged_by.is_some() {
            report.problems.push(problem(
                Some(seq),
                t.name,
                row_id,
                "the row is still there but its link says a purge deleted it".into(),
            ));
        } else if sha256_hex(canonical.as_bytes()) != hash {
            let fields = content
                .as_deref()
                .map(|c| changed_fields(c, &canonical))
                .unwrap_or_default();
            report.problems.push(problem(
                Some(seq),
                t.name,
                row_id,
                format!(
                    "the row was changed after it was chained{}",
                    if fields.is_empty() {
                        String::new()
                    } else {
                        format!(" (changed: {})", fields.join(", "))
                    }
                ),
            ));
        }
        for &(blob_idx, sha_idx) in &evidence {
            check_image(conn, r, (blob_idx, sha_idx), (t.name, row_id, seq), report)?;
        }
    }
    report.rows.insert(t.name.to_string(), count);
    Ok(())
}

/// An image against the SHA-256 chained with its row; a missing one must have been purged.
fn check_image(
    conn: &Connection,
    r: &rusqlite::Row<'_>,
    (blob_idx, sha_idx): (usize, usize),
    (table, row_id, seq): (&str, i64, i64),
    report: &mut VerifyReport,
) -> Result<(), ChainError> {
    let blob: Option<Vec<u8>> = r.get(blob_idx)?;
    let expected: Option<String> = r.get(sha_idx)?;
    let purged = conn
        .prepare_cached("SELECT 1 FROM purged_images WHERE alert_id = ?1")?
        .query_row([row_id], |_| Ok(()))
        .optional()?
        .is_some();
    let message = match (blob.filter(|b| !b.is_empty()), expected) {
        (Some(b), Some(h)) => {
            report.images_checked += 1;
            (sha256_hex(&b) != h)
                .then_some("the image differs from the one chained with the row".to_string())
        }
        (Some(_), None) => Some("the row has an image but no image hash was chained".into()),
        (None, Some(_)) if purged => {
            report.images_purged += 1;
            None
        }
        (None, Some(_)) => Some("the image was deleted without a retention purge".into()),
        (None, None) => None,
    };
    if let Some(m) = message {
        report.problems.push(problem(Some(seq), table, row_id, m));
    }
    Ok(())
}

/// Keys whose values differ between two canonical objects.
fn changed_fields(before: &str, after: &str) -> Vec<String> {
    let parse = |s: &str| serde_json::from_str::<serde_json::Map<String, Value>>(s).ok();
    let (Some(a), Some(b)) = (parse(before), parse(after)) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Rows that have a link (not purged) but no longer exist: deleted behind the engine's back.
fn check_missing_rows(
    conn: &Connection,
    t: &chain::ChainedTable,
    report: &mut VerifyReport,
) -> Result<(), ChainError> {
    let sql = if table_exists(conn, t.name)? {
        format!(
            "SELECT row_id, MIN(seq) FROM chain c WHERE source = ?1 AND purged_by IS NULL
             AND NOT EXISTS (SELECT 1 FROM {} WHERE rowid = c.row_id) GROUP BY row_id",
            t.name
        )
    } else {
        "SELECT row_id, MIN(seq) FROM chain WHERE source = ?1 AND purged_by IS NULL GROUP BY row_id"
            .to_string()
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([t.name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (row_id, seq) = row?;
        report.problems.push(problem(
            Some(seq),
            t.name,
            row_id,
            "the row was deleted without a retention purge".into(),
        ));
    }
    Ok(())
}

/// Each purge's tombstone against what it erased: the links it marked and the images it
/// deleted, by count and digest; a journal purge never below [`MIN_JOURNAL_DAYS`].
fn check_purges(conn: &Connection, report: &mut VerifyReport) -> Result<(), ChainError> {
    let purges: Vec<(i64, String, String, Option<i64>)> = {
        let mut stmt = conn.prepare(
            "SELECT e.id, e.kind, e.body,
                    (SELECT MIN(seq) FROM chain WHERE source = 'audit_events' AND row_id = e.id)
             FROM audit_events e WHERE e.kind IN ('purge_images', 'purge_journal') ORDER BY e.id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, kind, body, seq) in &purges {
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let ids = if kind == "purge_images" {
            ids_of(
                conn,
                "SELECT alert_id FROM purged_images WHERE purge_event = ?1 ORDER BY alert_id",
                *id,
            )?
        } else {
            ids_of(
                conn,
                "SELECT seq FROM chain WHERE purged_by = ?1 ORDER BY seq",
                *id,
            )?
        };
        let mut fail = |m: String| {
            report
                .problems
                .push(problem(*seq, "audit_events", *id, format!("{kind}: {m}")))
        };
        if body["count"].as_u64() != Some(ids.len() as u64)
            || body["digest"].as_str() != Some(digest_ids(&ids).as_str())
        {
            fail(format!(
                "the purge's tombstone says {} item(s) with digest {}, but {} are marked with it",
                body["count"],
                body["digest"],
                ids.len()
            ));
        }
        let days = body["days"].as_i64().unwrap_or(0);
        if kind == "purge_journal" && days < i64::from(MIN_JOURNAL_DAYS) {
            fail(format!(
                "deleted journal rows kept only {days} days (the minimum is {MIN_JOURNAL_DAYS})"
            ));
        }
    }
    let known: Vec<i64> = purges.iter().map(|p| p.0).collect();
    let strays: Vec<(i64, i64)> = {
        let mut stmt = conn.prepare(
            "SELECT seq, purged_by FROM chain WHERE purged_by IS NOT NULL
             UNION ALL SELECT NULL, purge_event FROM purged_images",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?))
        })?;
        rows.filter_map(|r| r.ok())
            .filter(|(_, p)| !known.contains(p))
            .collect()
    };
    for (seq, purge) in strays {
        report.problems.push(Problem {
            seq: (seq > 0).then_some(seq),
            table: None,
            row_id: None,
            message: format!("marked as deleted by purge event {purge}, which is not a purge"),
        });
    }
    Ok(())
}

fn ids_of(conn: &Connection, sql: &str, id: i64) -> Result<Vec<i64>, ChainError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A link as a bundle line carries it: the link, its row's canonical content (`null` once
/// purged) and the purge that erased it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleLine {
    #[serde(flatten)]
    pub link: Link,
    pub content: Option<Value>,
    #[serde(default)]
    pub purged_by: Option<i64>,
}

/// A link position: its `seq` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: i64,
    pub hash: String,
}

/// The first line of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleHeader {
    pub format: String,
    pub version: u32,
    pub journal_id: Option<String>,
    pub exported_at_ms: i64,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Links in the bundle (`first_seq..=last_seq`).
    pub links: u64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// The link just before the first one (seq 0 and 64 zeros before the genesis).
    pub before: Position,
    /// The journal's newest link when the bundle was written.
    pub head: Position,
}

/// Writes the links chained in `[from_ms, to_ms)` (all when `None`), with every link between the
/// first and the last of them, one JSON object per line after a [`BundleHeader`] line.
pub fn export(
    conn: &Connection,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    out: &mut dyn Write,
) -> Result<BundleHeader, ChainError> {
    let tx = conn.unchecked_transaction()?;
    let head = chain::head(&tx)?.ok_or_else(|| ChainError::Invalid("the chain is empty".into()))?;
    let (first, last): (Option<i64>, Option<i64>) = tx.query_row(
        "SELECT (SELECT MIN(seq) FROM chain WHERE at_ms >= ?1),
                (SELECT MAX(seq) FROM chain WHERE at_ms < ?2)",
        rusqlite::params![from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) if f <= l => (f, l),
        _ => return Err(ChainError::Invalid("no link in that period".into())),
    };
    let before = if first == 1 {
        Position {
            seq: 0,
            hash: GENESIS_PREV.into(),
        }
    } else {
        tx.query_row(
            "SELECT seq, hash FROM chain WHERE seq = ?1",
            [first - 1],
            |r| {
                Ok(Position {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )?
    };
    let journal_id = if table_exists(&tx, "meta")? {
        tx.query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
            r.get(0)
        })
        .optional()?
    } else {
        None
    };
    let header = BundleHeader {
        format: BUNDLE_FORMAT.into(),
        version: 1,
        journal_id,
        exported_at_ms: super::now_ms(),
        from_ms,
        to_ms,
        links: u64::try_from(last - first + 1).unwrap_or(0),
        first_seq: first,
        last_seq: last,
        before,
        head: Position {
            seq: head.seq,
            hash: head.hash,
        },
    };
    write_line(out, &header)?;
    let mut stmt = tx.prepare(
        "SELECT seq, at_ms, kind, source, row_id, content_hash, prev_hash, hash, content, purged_by
         FROM chain WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query([first, last])?;
    while let Some(r) = rows.next()? {
        let content: Option<String> = r.get(8)?;
        let line = BundleLine {
            link: link_from_row(r)?,
            content: content.and_then(|c| serde_json::from_str(&c).ok()),
            purged_by: r.get(9)?,
        };
        write_line(out, &line)?;
    }
    Ok(header)
}

fn write_line<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), ChainError> {
    let text = serde_json::to_string(value).map_err(|e| ChainError::Invalid(e.to_string()))?;
    writeln!(out, "{text}").map_err(|e| ChainError::Invalid(format!("cannot write: {e}")))
}

/// What [`verify_bundle`] found.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub header: BundleHeader,
    pub links: u64,
    /// Whether the bundle reaches the head it names (then the head's hash was checked too).
    pub reaches_head: bool,
    pub problems: Vec<Problem>,
}

impl BundleReport {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a bundle written by [`export`] without the database: each line's content against its
/// `content_hash`, each link's `hash`, the links following each other from `before`, the count,
/// and the head when the bundle reaches it. `anchor` (a `seq` and `hash` kept elsewhere, e.g.
/// from `vigie audit head`) must match the link it names when the bundle holds it.
pub fn verify_bundle(
    input: &mut dyn BufRead,
    anchor: Option<&Position>,
) -> Result<BundleReport, ChainError> {
    let mut lines = input.lines();
    let first = lines
        .next()
        .ok_or_else(|| ChainError::Invalid("the bundle is empty".into()))?
        .map_err(|e| ChainError::Invalid(format!("cannot read the bundle: {e}")))?;
    let header: BundleHeader = serde_json::from_str(&first)
        .map_err(|e| ChainError::Invalid(format!("line 1 is not a bundle header: {e}")))?;
    if header.format != BUNDLE_FORMAT || header.version != 1 {
        return Err(ChainError::Invalid(format!(
            "not a version-1 {BUNDLE_FORMAT} (format {:?}, version {})",
            header.format, header.version
        )));
    }
    let mut problems = Vec::new();
    let mut prev = header.before.clone();
    let mut positions = vec![header.before.clone()];
    let mut count = 0u64;
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| ChainError::Invalid(format!("cannot read the bundle: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = n + 2;
        let parsed: BundleLine = match serde_json::from_str(&line) {
            Ok(l) => l,
            Err(e) => {
                problems.push(Problem {
                    seq: None,
                    table: None,
                    row_id: None,
                    message: format!("line {at_line} is not a link: {e}"),
                });
                continue;
            }
        };
        check_bundle_line(&parsed, &prev, &mut problems);
        count += 1;
        prev = Position {
            seq: parsed.link.seq,
            hash: parsed.link.hash.clone(),
        };
        positions.push(prev.clone());
    }
    let mut whole = |m: String| {
        problems.push(Problem {
            seq: None,
            table: None,
            row_id: None,
            message: m,
        })
    };
    if count != header.links || prev.seq != header.last_seq {
        whole(format!(
            "the header announces links {}..={} ({}), the bundle holds {count} ending at {}",
            header.first_seq, header.last_seq, header.links, prev.seq
        ));
    }
    let reaches_head = prev.seq == header.head.seq;
    if reaches_head && prev.hash != header.head.hash {
        whole("the last link is not the head the header names".into());
    }
    if let Some(a) = anchor {
        match positions.iter().find(|p| p.seq == a.seq) {
            Some(p) if p.hash == a.hash => {}
            Some(p) => whole(format!(
                "link {} has hash {}, not the anchored {}",
                a.seq, p.hash, a.hash
            )),
            None => whole(format!(
                "the anchor (link {}) is outside this bundle (links {}..={})",
                a.seq, header.before.seq, header.last_seq
            )),
        }
    }
    problems.sort_by_key(|p| (p.seq.is_none(), p.seq.unwrap_or(0)));
    Ok(BundleReport {
        header,
        links: count,
        reaches_head,
        problems,
    })
}

fn check_bundle_line(line: &BundleLine, prev: &Position, problems: &mut Vec<Problem>) {
    let link = &line.link;
    let mut fail = |m: String| {
        problems.push(problem(Some(link.seq), &link.source, link.row_id, m));
    };
    if link.seq != prev.seq + 1 {
        fail(format!("comes after link {}: links are missing", prev.seq));
    } else if link.prev_hash != prev.hash {
        fail(format!("does not follow link {}", prev.seq));
    }
    if link.hash != link.expected_hash() {
        fail("the link's fields do not match its hash".into());
    }
    match &line.content {
        Some(c) if sha256_hex(canonical_json(c).as_bytes()) != link.content_hash => {
            fail("the row's content does not match the hash chained with it".into())
        }
        None if line.purged_by.is_none() => fail("the row's content is missing".into()),
        _ => {}
    }
}
