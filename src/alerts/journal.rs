//! The alert journal: one SQLite file in WAL mode with `synchronous=FULL`, so an alert is on disk
//! when `insert` returns and survives a crash of the process or the machine.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::chain::{self, ChainError, Link};
use super::lifecycle::{self, Actor, Conflict, TransitionInput};
use super::outbox::{self, Outbox, OutboxKind};
use super::retention::ImagePurge;
use super::{Alert, AlertBox, AlertStatus, DecisionInput, NewAlert};
use crate::detect::manifest::sha256_hex;

/// Schema version written to `PRAGMA user_version`. 2: the life cycle (statuses `acknowledged`
/// and `closed`, the `alert_transitions` history). 3: incidents, people and measurements. 4: the
/// hash chain (see [`chain`]), image hashes and configuration versions on alerts. 5: shadow
/// alerts (`shadow` = 1; NULL on every other row, so older links stay valid). 6: alert clips
/// (migration `clips`, see [`super::clips`]). 7: full-resolution stills attached after the alert
/// (migration `stills`, see [`super::stills`]). 8: the outbox's `still` kind (the outputs are
/// told when a still is attached).
pub const SCHEMA_VERSION: i64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create the journal directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the alert journal {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("alert journal {path} has schema version {found}, newer than this build supports ({supported})")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("alert journal {path} is not in WAL mode (journal_mode={mode})")]
    NotWal { path: PathBuf, mode: String },
    #[error("alert {0} not found")]
    NotFound(i64),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The alert's state does not allow the step (someone else took or decided it first).
    #[error("{}", .0.message)]
    Conflict(Conflict),
    /// The actor's role does not allow the step.
    #[error("{0}")]
    Forbidden(String),
    #[error("alert journal holds an unreadable row: {0}")]
    Corrupt(String),
    #[error("alert journal error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The gate refused the event (no authorisation in force, alerting stopped): not an
    /// error of the journal, nothing was written.
    #[error("alert withheld: {0}")]
    Withheld(String),
}

/// The alert journal. `Send + Sync`: one connection behind a mutex (SQLite serialises writers
/// anyway, and every call is short).
pub struct Journal {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Outputs to enqueue for, in the same transaction as each journal row.
    pub(super) outbox: Outbox,
    /// Random id created with the journal file (see [`Journal::id`]).
    id: String,
}

const SCHEMA_V1: &str = "
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    camera_id TEXT NOT NULL,
    camera_name TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    zone_id TEXT,
    frame_time_ms INTEGER NOT NULL,
    stream_ts_ns INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    confidence REAL NOT NULL,
    track_id INTEGER,
    boxes TEXT NOT NULL,
    explanation TEXT NOT NULL,
    snapshot BLOB,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'confirmed', 'false_alarm'))
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'false_alarm')),
    operator TEXT NOT NULL,
    comment TEXT,
    decided_at_ms INTEGER NOT NULL
);
CREATE INDEX decisions_by_alert ON decisions(alert_id, id);
CREATE TRIGGER decisions_append_only_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER decisions_append_only_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
";

/// Version 3: incidents (the id of the incident's first alert), people counted, and the measured
/// values behind the explanation (JSON). Older rows read as no incident, no count, no values.
const SCHEMA_V3: &str = "
ALTER TABLE alerts ADD COLUMN incident_id INTEGER;
ALTER TABLE alerts ADD COLUMN people INTEGER;
ALTER TABLE alerts ADD COLUMN measurements TEXT;
CREATE INDEX alerts_by_incident ON alerts(incident_id, id);
";

/// Version 4: each alert keeps the SHA-256 of its image (chained with the row, so a purge can
/// delete the image and leave the row verifiable) and the configuration version in force when
/// it fired. The chain's own tables come with the genesis (see [`chain::genesis`]).
const SCHEMA_V4: &str = "
ALTER TABLE alerts ADD COLUMN snapshot_sha256 TEXT;
ALTER TABLE alerts ADD COLUMN config_version INTEGER;
";

/// Version 5: alerts of rules in `mode = "shadow"` carry `shadow = 1`; every other alert, old or
/// new, leaves it NULL (a NULL column is not part of a row's canonical form: see [`chain`]).
const SCHEMA_V5: &str = "ALTER TABLE alerts ADD COLUMN shadow INTEGER;";

/// The journal's identity: a random id written once, when the file is created or first opened
/// by a build that knows it (older journals get one then). Copies and backups keep it; a new
/// file gets a new one. Independent of `user_version`: older builds ignore the table.
const IDENTITY: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('journal_id', lower(hex(randomblob(16))));
";

/// Alert columns, the incident columns, then the current decision, acknowledgement and closing
/// (see [`lifecycle::STEP_COLUMNS`], 13 columns from 18), then the configuration version, the
/// model's hash and the image purge (from [`GOVERNANCE_FIRST`]), in the order `alert_from_row`
/// reads them.
fn select_alert() -> String {
    format!(
        "SELECT a.id, a.camera_id, a.camera_name, a.rule_id, a.event_type, a.zone_id,
            a.frame_time_ms, a.stream_ts_ns, a.created_at_ms, a.confidence, a.track_id, a.boxes,
            a.explanation, a.status, a.snapshot IS NOT NULL AND length(a.snapshot) > 0,
            a.incident_id, a.people, a.measurements{},
            a.config_version, cv.model_sha256, pe.at_ms, json_extract(pe.body, '$.days'),
            a.shadow,
            a.clip_expected, cl.id, cl.path IS NOT NULL AND pc.clip_id IS NULL,
            a.still_expected, a.still IS NOT NULL AND length(a.still) > 0, a.still_sha256,
            a.still_error
         FROM alerts a {}
         LEFT JOIN config_versions cv ON cv.id = a.config_version
         LEFT JOIN purged_images pi ON pi.alert_id = a.id
         LEFT JOIN audit_events pe ON pe.id = pi.purge_event
         LEFT JOIN alert_clips cl ON cl.alert_id = a.id
         LEFT JOIN purged_clips pc ON pc.clip_id = cl.id",
        lifecycle::STEP_COLUMNS,
        lifecycle::STEP_JOINS
    )
}

/// Index of `a.config_version` in [`select_alert`].
const GOVERNANCE_FIRST: usize = 31;

/// Computes the SHA-256 of every image already in the journal (migration to version 3).
fn backfill_image_hashes(tx: &Connection) -> rusqlite::Result<()> {
    let ids: Vec<i64> = {
        let mut stmt = tx
            .prepare("SELECT id FROM alerts WHERE snapshot IS NOT NULL AND length(snapshot) > 0")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in ids {
        let blob: Vec<u8> =
            tx.query_row("SELECT snapshot FROM alerts WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        tx.execute(
            "UPDATE alerts SET snapshot_sha256 = ?2 WHERE id = ?1",
            params![id, sha256_hex(&blob)],
        )?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `CREATE TABLE` statement of `table`, as SQLite keeps it; `None` when there is no such
/// table.
pub(super) fn table_sql(conn: &Connection, table: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )
    .optional()
}

/// Whether `table` has a column named `column`.
pub(super) fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

fn u64_to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
}

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let id: i64 = row.get(0)?;
    let boxes_json: String = row.get(11)?;
    let boxes: Vec<AlertBox> = serde_json::from_str(&boxes_json)
        .map_err(|e| corrupt(format!("alert {id}: boxes: {e}")))?;
    let status_text: String = row.get(13)?;
    let status = AlertStatus::parse(&status_text)
        .ok_or_else(|| corrupt(format!("alert {id}: unknown status {status_text:?}")))?;
    let has_snapshot: bool = row.get(14)?;
    let (decision, acknowledged, closed) = lifecycle::steps_from_row(row, id, 18)?;
    let stream_ts: i64 = row.get(7)?;
    let track: Option<i64> = row.get(10)?;
    let confidence: f64 = row.get(9)?;
    let image_purged = match row.get::<_, Option<i64>>(GOVERNANCE_FIRST + 2)? {
        Some(at_ms) => Some(ImagePurge {
            at_ms,
            retention_days: row
                .get::<_, Option<i64>>(GOVERNANCE_FIRST + 3)?
                .unwrap_or(0),
        }),
        None => None,
    };
    let clip_expected = row.get::<_, Option<i64>>(GOVERNANCE_FIRST + 5)? == Some(1);
    let clip_row: Option<i64> = row.get(GOVERNANCE_FIRST + 6)?;
    let clip_on_disk = row.get::<_, Option<bool>>(GOVERNANCE_FIRST + 7)? == Some(true);
    // On its way (expected, not attempted yet) or written and not purged.
    let has_clip = if clip_row.is_some() {
        clip_on_disk
    } else {
        clip_expected
    };
    let still_expected = row.get::<_, Option<i64>>(GOVERNANCE_FIRST + 8)? == Some(1);
    let still_held = row.get::<_, Option<bool>>(GOVERNANCE_FIRST + 9)? == Some(true);
    let still_attached = row
        .get::<_, Option<String>>(GOVERNANCE_FIRST + 10)?
        .is_some();
    let still_error: Option<String> = row.get(GOVERNANCE_FIRST + 11)?;
    let still_pending = still_expected && !still_attached && still_error.is_none();
    let people: Option<i64> = row.get(16)?;
    let measurements: Option<String> = row.get(17)?;
    let measurements = match measurements {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| corrupt(format!("alert {id}: measurements: {e}")))?,
        None => Vec::new(),
    };
    Ok(Alert {
        id,
        camera_id: row.get(1)?,
        camera_name: row.get(2)?,
        rule_id: row.get(3)?,
        event_type: row.get(4)?,
        zone_id: row.get(5)?,
        frame_time_ms: row.get(6)?,
        stream_ts_ns: u64::try_from(stream_ts).unwrap_or(0),
        created_at_ms: row.get(8)?,
        confidence: confidence as f32,
        track_id: track.map(|t| u64::try_from(t).unwrap_or(0)),
        boxes,
        explanation: row.get(12)?,
        measurements,
        people: people.and_then(|p| u32::try_from(p).ok()),
        incident_id: row.get(15)?,
        status,
        snapshot_url: has_snapshot.then(|| format!("/api/alerts/{id}/snapshot.jpg")),
        image_purged,
        clip_url: has_clip.then(|| format!("/api/alerts/{id}/clip.mp4")),
        still_url: still_held.then(|| format!("/api/alerts/{id}/still.jpg")),
        still_pending,
        still_error,
        acknowledged,
        decision,
        closed,
        config_version: row.get(GOVERNANCE_FIRST)?,
        model_sha256: row.get(GOVERNANCE_FIRST + 1)?,
        shadow: row
            .get::<_, Option<i64>>(GOVERNANCE_FIRST + 4)?
            .unwrap_or(0)
            != 0,
    })
}

/// Alert `id` as journaled, shadow alerts included, read on any connection (the audit commands
/// open the journal read-only).
pub fn read_alert(conn: &Connection, id: i64) -> Result<Option<Alert>, JournalError> {
    Journal::get_locked(conn, id)
}

/// Maps row-decoding failures raised by `corrupt` to `JournalError::Corrupt`.
fn map_err(e: rusqlite::Error) -> JournalError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
            JournalError::Corrupt(inner.to_string())
        }
        other => JournalError::Sqlite(other),
    }
}

fn validate_new(new: &NewAlert) -> Result<(), JournalError> {
    for (name, value) in [("camera_id", &new.camera_id), ("rule_id", &new.rule_id)] {
        if value.trim().is_empty() {
            return Err(JournalError::Invalid(format!("{name} is empty")));
        }
    }
    if !new.confidence.is_finite() {
        return Err(JournalError::Invalid(
            "confidence is not a finite number".into(),
        ));
    }
    for b in &new.boxes {
        if !b.score.is_finite() || b.bbox.iter().any(|v| !v.is_finite()) {
            return Err(JournalError::Invalid(format!(
                "box {:?} has a non-finite score or coordinate",
                b.label
            )));
        }
    }
    Ok(())
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, its parent directory included, and
    /// brings the schema up to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| JournalError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| JournalError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::NotWal { path, mode });
        }
        // Foreign keys off during the migration (rebuilding a table needs it; this SQLite build
        // turns them on by default), on after it.
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(open_err)?;
        // Foreign keys after the migration: rebuilding a table needs them off.
        let id = Self::migrate(&mut conn, &path)?;
        conn.execute_batch("PRAGMA foreign_keys=ON;")
            .map_err(open_err)?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path,
            outbox: Outbox::default(),
            id,
        })
    }

    /// Brings the schema up to date; returns the journal's id.
    fn migrate(conn: &mut Connection, path: &Path) -> Result<String, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(open_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            tx.execute_batch(SCHEMA_V1).map_err(open_err)?;
        }
        // Version 2, the life cycle: checked on the tables themselves, whatever the version
        // says, so it composes with other migrations.
        lifecycle::migrate(&tx).map_err(open_err)?;
        // Version 3, incidents: likewise checked on the table (a journal written by a
        // development build may have them at version 2).
        if !has_column(&tx, "alerts", "incident_id").map_err(open_err)? {
            tx.execute_batch(SCHEMA_V3).map_err(open_err)?;
        }
        // The outbox's tables are created if missing, whatever the version, and take the
        // `still` kind (8).
        outbox::migrate(&tx).map_err(open_err)?;
        tx.execute_batch(IDENTITY).map_err(open_err)?;
        let id: String = tx
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .map_err(open_err)?;
        // Version 4, the hash chain: its genesis runs last and adopts every row written before
        // (incident columns included). Checked on the tables, like the versions before it.
        if !has_column(&tx, "alerts", "config_version").map_err(open_err)? {
            tx.execute_batch(SCHEMA_V4).map_err(open_err)?;
            backfill_image_hashes(&tx).map_err(open_err)?;
        }
        if !chain::table_exists(&tx, "chain")? {
            chain::genesis(&tx, &id)?;
        }
        // Version 5, shadow alerts: a column NULL on every existing row.
        if !has_column(&tx, "alerts", "shadow").map_err(open_err)? {
            tx.execute_batch(SCHEMA_V5).map_err(open_err)?;
        }
        // Later versions: checked likewise, before the genesis if they add chained rows.
        // Migration `clips` (5): a new, empty chained table.
        super::clips::migrate(&tx)?;
        // Migration `stills` (7): columns NULL on every existing row.
        super::stills::migrate(&tx)?;
        if version < SCHEMA_VERSION {
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                .map_err(open_err)?;
        }
        tx.commit().map_err(open_err)?;
        Ok(id)
    }

    /// The journal's identity, a random id created with the file: alert ids are only
    /// comparable between two readers that see the same journal id (a replaced journal starts
    /// its ids again; a restored backup has the same id but fewer alerts).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file this journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction (rusqlite rolls back on
        // drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get_locked(conn: &Connection, id: i64) -> Result<Option<Alert>, JournalError> {
        conn.prepare_cached(&format!("{} WHERE a.id = ?1", select_alert()))?
            .query_row([id], alert_from_row)
            .optional()
            .map_err(map_err)
    }

    /// Journals an alert and links it in the chain; it is committed (on disk) when this
    /// returns.
    pub fn insert(&self, new: &NewAlert) -> Result<Alert, JournalError> {
        validate_new(new)?;
        let boxes = serde_json::to_string(&new.boxes)
            .map_err(|e| JournalError::Invalid(format!("boxes: {e}")))?;
        // JSON has no NaN or infinity: such a value is left out rather than losing the alert.
        let finite: Vec<_> = new
            .measurements
            .iter()
            .filter(|m| m.value.is_finite() && m.threshold.is_none_or(f64::is_finite))
            .collect();
        let measurements = serde_json::to_string(&finite)
            .map_err(|e| JournalError::Invalid(format!("measurements: {e}")))?;
        let snapshot = (!new.snapshot_jpeg.is_empty()).then_some(&new.snapshot_jpeg[..]);
        let snapshot_sha256 = snapshot.map(sha256_hex);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, zone_id,
                 frame_time_ms, stream_ts_ns, created_at_ms, confidence, track_id, boxes,
                 explanation, snapshot, status, incident_id, people, measurements,
                 snapshot_sha256, config_version, shadow, clip_expected, still_expected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'new', ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21)",
            params![
                new.camera_id,
                new.camera_name,
                new.rule_id,
                new.event_type.as_str(),
                new.zone_id,
                new.frame_time_ms,
                u64_to_sql(new.stream_ts_ns),
                now_ms(),
                f64::from(new.confidence),
                new.track_id.map(u64_to_sql),
                boxes,
                new.explanation,
                snapshot,
                new.incident_id,
                new.people,
                measurements,
                snapshot_sha256,
                new.config_version,
                new.shadow.then_some(1),
                // NULL rather than 0: older links and rows keep their canonical form.
                new.clip_expected.then_some(1),
                new.still_expected.then_some(1),
            ],
        )?;
        let id = tx.last_insert_rowid();
        if new.incident.is_some() && new.incident_id.is_none() {
            // The alert opens its incident.
            tx.execute("UPDATE alerts SET incident_id = id WHERE id = ?1", [id])?;
        }
        // Linked once the row is whole (its incident set): the link covers its final content.
        chain::link_row(&tx, "alert", "alerts", id)?;
        let alert = Self::get_locked(&tx, id)?.ok_or(JournalError::NotFound(id))?;
        // A shadow alert goes to no output: only the journal (and the evaluators' view).
        let queued = !alert.shadow && self.outbox.enqueue_alert(&tx, OutboxKind::Alert, &alert)?;
        tx.commit()?;
        self.outbox.notify(queued);
        Ok(alert)
    }

    /// A live alert (`None` for a shadow alert: no operator sees those; see
    /// [`Journal::get_any`]).
    pub fn get(&self, id: i64) -> Result<Option<Alert>, JournalError> {
        Ok(self.get_any(id)?.filter(|a| !a.shadow))
    }

    /// An alert, live or shadow.
    pub fn get_any(&self, id: i64) -> Result<Option<Alert>, JournalError> {
        Self::get_locked(&self.lock(), id)
    }

    /// Newest first: up to `limit` live alerts with an id below `before_id` (all when `None`).
    pub fn list(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<Alert>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "{} WHERE a.id < ?1 AND a.shadow IS NULL ORDER BY a.id DESC LIMIT ?2",
            select_alert()
        ))?;
        let rows = stmt.query_map(
            params![before_id.unwrap_or(i64::MAX), limit],
            alert_from_row,
        )?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
    }

    /// Oldest first: up to `limit` live alerts with an id above `id` (to resume a live stream).
    pub fn after(&self, id: i64, limit: u32) -> Result<Vec<Alert>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "{} WHERE a.id > ?1 AND a.shadow IS NULL ORDER BY a.id ASC LIMIT ?2",
            select_alert()
        ))?;
        let rows = stmt.query_map(params![id, limit], alert_from_row)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
    }

    /// The JPEG of an alert: `None` when the alert is unknown or has no image.
    pub fn snapshot(&self, id: i64) -> Result<Option<Vec<u8>>, JournalError> {
        let conn = self.lock();
        let blob: Option<Option<Vec<u8>>> = conn
            .prepare_cached("SELECT snapshot FROM alerts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(blob.flatten().filter(|b| !b.is_empty()))
    }

    /// Records an operator's decision: the life cycle's confirm or false-alarm step, with the
    /// role `operator` (see [`Journal::transition`]). Refused with `Conflict` once the alert is
    /// decided or taken by someone else: the first decision wins.
    pub fn decide(&self, id: i64, input: &DecisionInput) -> Result<Alert, JournalError> {
        let step = TransitionInput {
            action: input.decision.action(),
            reason: input.reason,
            comment: input.comment.clone(),
        };
        let actor = Actor {
            name: input.operator.clone(),
            role: "operator".to_string(),
            supervisor: false,
        };
        Ok(self.transition(id, &step, &actor)?.0)
    }

    /// Journals an event that has no table of its own (e.g. a stop, an authorisation state
    /// change) and links it in the chain, in one transaction. See [`chain::record`].
    pub fn record_event(&self, kind: &str, body: &serde_json::Value) -> Result<Link, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let link = chain::record(&tx, kind, body)?;
        tx.commit()?;
        Ok(link)
    }

    /// Events of the given kinds from `audit_events`, oldest first: `(kind, body)`, the body
    /// with the event's `at_ms` added.
    pub fn events(&self, kinds: &[&str]) -> Result<Vec<(String, serde_json::Value)>, JournalError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare_cached("SELECT kind, body, at_ms FROM audit_events ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, body, at_ms) = row?;
            if kinds.contains(&kind.as_str()) {
                let mut body: serde_json::Value = serde_json::from_str(&body)
                    .map_err(|e| JournalError::Corrupt(e.to_string()))?;
                body["at_ms"] = at_ms.into();
                out.push((kind, body));
            }
        }
        Ok(out)
    }

    /// Checks the chain and every chained row (see [`super::verify::verify`]).
    pub fn verify(&self) -> Result<super::verify::VerifyReport, JournalError> {
        Ok(super::verify::verify(&self.lock())?)
    }

    /// The newest link of the chain.
    pub fn chain_head(&self) -> Result<Option<Link>, JournalError> {
        Ok(chain::head(&self.lock())?)
    }

    /// The highest alert id (0 when the journal is empty).
    pub fn last_id(&self) -> Result<i64, JournalError> {
        let conn = self.lock();
        Ok(conn.query_row("SELECT COALESCE(MAX(id), 0) FROM alerts", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::new_alert;
    use super::super::{Action, DecisionKind, FalseAlarmReason};
    use super::*;

    fn open_temp() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("sub/dir/journal.db")).unwrap();
        (dir, journal)
    }

    fn decision(kind: DecisionKind, operator: &str, comment: Option<&str>) -> DecisionInput {
        DecisionInput {
            decision: kind,
            operator: operator.to_string(),
            reason: (kind == DecisionKind::FalseAlarm).then_some(FalseAlarmReason::Other),
            comment: comment.map(str::to_string),
        }
    }

    fn supervisor(name: &str) -> Actor {
        Actor {
            name: name.to_string(),
            role: "supervisor".to_string(),
            supervisor: true,
        }
    }

    #[test]
    fn insert_then_get_round_trips_every_field() {
        let (_dir, j) = open_temp();
        let new = new_alert("c1");
        let a = j.insert(&new).unwrap();
        assert_eq!(a.id, 1);
        assert_eq!(a.camera_id, "c1");
        assert_eq!(a.camera_name, "Camera c1");
        assert_eq!(a.rule_id, new.rule_id);
        assert_eq!(a.event_type, new.event_type.as_str());
        assert_eq!(a.zone_id.as_deref(), Some("parvis"));
        assert_eq!(a.frame_time_ms, new.frame_time_ms);
        assert_eq!(a.stream_ts_ns, new.stream_ts_ns);
        assert!((a.confidence - 0.82).abs() < 1e-6);
        assert_eq!(a.track_id, Some(7));
        assert_eq!(a.boxes, new.boxes);
        assert_eq!(a.explanation, new.explanation);
        assert_eq!(a.status, AlertStatus::New);
        assert_eq!(
            a.snapshot_url.as_deref(),
            Some("/api/alerts/1/snapshot.jpg")
        );
        assert!(a.decision.is_none());
        assert!(a.created_at_ms > 0);
        assert_eq!(j.get(1).unwrap(), Some(a));
        assert_eq!(j.get(2).unwrap(), None);
        assert_eq!(j.snapshot(1).unwrap(), Some(new.snapshot_jpeg));
        assert_eq!(j.snapshot(2).unwrap(), None);
    }

    #[test]
    fn alert_json_has_the_documented_shape() {
        let (_dir, j) = open_temp();
        let a = j.insert(&new_alert("c1")).unwrap();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["status"], "new");
        assert_eq!(v["boxes"][0]["label"], "person");
        assert_eq!(v["boxes"][0]["box"].as_array().unwrap().len(), 4);
        assert!(v.get("snapshot_jpeg").is_none());
        assert!(v["decision"].is_null());
    }

    #[test]
    fn alert_without_image_has_no_snapshot_url() {
        let (_dir, j) = open_temp();
        let mut new = new_alert("c1");
        new.snapshot_jpeg.clear();
        new.zone_id = None;
        new.track_id = None;
        let a = j.insert(&new).unwrap();
        assert_eq!(a.snapshot_url, None);
        assert_eq!(a.zone_id, None);
        assert_eq!(a.track_id, None);
        assert_eq!(j.snapshot(a.id).unwrap(), None);
    }

    #[test]
    fn insert_rejects_invalid_alerts() {
        let (_dir, j) = open_temp();
        let mut new = new_alert("c1");
        new.confidence = f32::NAN;
        assert!(matches!(j.insert(&new), Err(JournalError::Invalid(_))));
        let mut new = new_alert(" ");
        new.camera_id = " ".into();
        assert!(matches!(j.insert(&new), Err(JournalError::Invalid(_))));
        assert_eq!(j.last_id().unwrap(), 0);
    }

    #[test]
    fn list_pages_newest_first_and_after_resumes_oldest_first() {
        let (_dir, j) = open_temp();
        assert_eq!(j.last_id().unwrap(), 0);
        for i in 0..7 {
            j.insert(&new_alert(&format!("c{i}"))).unwrap();
        }
        assert_eq!(j.last_id().unwrap(), 7);
        let ids = |v: Vec<Alert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(j.list(None, 3).unwrap()), vec![7, 6, 5]);
        assert_eq!(ids(j.list(Some(5), 3).unwrap()), vec![4, 3, 2]);
        assert_eq!(ids(j.list(Some(2), 3).unwrap()), vec![1]);
        assert_eq!(ids(j.list(Some(1), 3).unwrap()), Vec::<i64>::new());
        assert_eq!(ids(j.after(0, 3).unwrap()), vec![1, 2, 3]);
        assert_eq!(ids(j.after(3, 10).unwrap()), vec![4, 5, 6, 7]);
        assert_eq!(ids(j.after(7, 10).unwrap()), Vec::<i64>::new());
    }

    #[test]
    fn decisions_are_recorded_with_history_the_first_wins_and_a_reopened_one_is_replaced() {
        let (_dir, j) = open_temp();
        let a = j.insert(&new_alert("c1")).unwrap();
        let b = j.insert(&new_alert("c2")).unwrap();
        assert!(j.decisions(a.id).unwrap().is_empty());

        let first = j
            .decide(
                a.id,
                &decision(DecisionKind::Confirmed, "  Camille  ", Some("  vu  ")),
            )
            .unwrap();
        assert_eq!(first.status, AlertStatus::Confirmed);
        let d = first.decision.clone().unwrap();
        assert_eq!(d.operator, "Camille");
        assert_eq!(d.comment.as_deref(), Some("vu"));
        assert_eq!(d.decision, DecisionKind::Confirmed);
        assert!(d.decided_at_ms > 0);

        // A second decision is refused, naming who decided first; nothing is recorded.
        match j.decide(a.id, &decision(DecisionKind::FalseAlarm, "Lou", None)) {
            Err(JournalError::Conflict(c)) => {
                assert_eq!(c.by.as_deref(), Some("Camille"));
                assert_eq!(c.status, AlertStatus::Confirmed);
                assert!(c.message.contains("already decided"), "{}", c.message);
            }
            other => panic!("second decision: {other:?}"),
        }
        assert_eq!(j.decisions(a.id).unwrap().len(), 1);
        // A supervisor reopens it; the next decision replaces it, the history keeps both.
        let reopen = TransitionInput {
            action: Action::Reopen,
            reason: None,
            comment: Some("revoir".into()),
        };
        let reopened = j.transition(a.id, &reopen, &supervisor("Sam")).unwrap().0;
        assert_eq!(reopened.status, AlertStatus::New);
        assert!(reopened.decision.is_none());
        let second = j
            .decide(a.id, &decision(DecisionKind::FalseAlarm, "Lou", Some("")))
            .unwrap();
        assert_eq!(second.status, AlertStatus::FalseAlarm);
        assert_eq!(
            second.decision.as_ref().unwrap().reason,
            Some(FalseAlarmReason::Other)
        );
        assert_eq!(second.decision.as_ref().unwrap().operator, "Lou");
        assert_eq!(second.decision.as_ref().unwrap().comment, None);

        let history = j.decisions(a.id).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].decision, DecisionKind::Confirmed);
        assert_eq!(history[1].decision, DecisionKind::FalseAlarm);
        assert!(history.iter().all(|d| d.alert_id == a.id));
        assert_eq!(j.get(a.id).unwrap().unwrap(), second);
        // The other alert is untouched.
        assert_eq!(j.get(b.id).unwrap().unwrap().status, AlertStatus::New);
        // Listing carries the latest decision too.
        let listed = j.list(None, 10).unwrap();
        assert_eq!(listed[1].decision.as_ref().unwrap().operator, "Lou");
    }

    #[test]
    fn decisions_are_validated() {
        let (_dir, j) = open_temp();
        let a = j.insert(&new_alert("c1")).unwrap();
        let invalid =
            |input: DecisionInput| matches!(j.decide(a.id, &input), Err(JournalError::Invalid(_)));
        assert!(invalid(decision(DecisionKind::Confirmed, "", None)));
        assert!(invalid(decision(DecisionKind::Confirmed, "   ", None)));
        assert!(invalid(decision(
            DecisionKind::Confirmed,
            &"x".repeat(101),
            None
        )));
        assert!(invalid(decision(DecisionKind::Confirmed, "a\u{7}b", None)));
        let long = "c".repeat(2001);
        assert!(invalid(decision(
            DecisionKind::Confirmed,
            "Camille",
            Some(&long)
        )));
        // Limits are inclusive.
        let ok = j.decide(
            a.id,
            &decision(
                DecisionKind::Confirmed,
                &"é".repeat(100),
                Some(&"ç".repeat(2000)),
            ),
        );
        assert!(ok.is_ok());
        assert!(matches!(
            j.decide(99, &decision(DecisionKind::Confirmed, "Camille", None)),
            Err(JournalError::NotFound(99))
        ));
        assert!(matches!(j.decisions(99), Err(JournalError::NotFound(99))));
        assert_eq!(j.decisions(a.id).unwrap().len(), 1);
    }

    #[test]
    fn decisions_history_is_append_only() {
        let (_dir, j) = open_temp();
        let a = j.insert(&new_alert("c1")).unwrap();
        j.decide(a.id, &decision(DecisionKind::Confirmed, "Camille", None))
            .unwrap();
        let conn = j.lock();
        // The table of version 1, kept as it was: still append-only.
        conn.execute(
            "INSERT INTO decisions (alert_id, decision, operator, decided_at_ms)
             VALUES (?1, 'confirmed', 'Camille', 1)",
            [a.id],
        )
        .unwrap();
        assert!(conn
            .execute("UPDATE decisions SET operator = 'x'", [])
            .is_err());
        assert!(conn.execute("DELETE FROM decisions", []).is_err());
        assert!(conn
            .execute("UPDATE alert_transitions SET account = 'x'", [])
            .is_err());
        assert!(conn.execute("DELETE FROM alert_transitions", []).is_err());
    }

    #[test]
    fn journal_uses_wal_full_sync_and_schema_version() {
        let (dir, j) = open_temp();
        {
            let conn = j.lock();
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
        }
        let other = Connection::open(dir.path().join("sub/dir/journal.db")).unwrap();
        let mode: String = other
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = other
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_journal_is_migrated_and_its_alerts_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute_batch(
                "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, zone_id,
                     frame_time_ms, stream_ts_ns, created_at_ms, confidence, track_id, boxes,
                     explanation, snapshot)
                 VALUES ('c1', 'Cam', 'r', 'intrusion', 'z', 1, 2, 3, 0.5, 7, '[]', 'old', NULL);
                 INSERT INTO decisions (alert_id, decision, operator, decided_at_ms)
                 VALUES (1, 'confirmed', 'Agent', 4);
                 UPDATE alerts SET status = 'confirmed' WHERE id = 1;
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let old = j.get(1).unwrap().unwrap();
        assert_eq!(old.explanation, "old");
        assert_eq!(old.incident_id, None);
        assert_eq!(old.people, None);
        assert!(old.measurements.is_empty());
        assert_eq!(old.status, AlertStatus::Confirmed);
        assert_eq!(old.decision.map(|d| d.operator), Some("Agent".to_string()));
        // New alerts carry the new fields; the version is now current.
        let mut new = new_alert("c1");
        new.incident = Some(crate::rules::IncidentRef {
            id: 9,
            update: false,
        });
        new.measurements
            .push(crate::rules::Measurement::new("bad", f64::NAN, None, ""));
        let a = j.insert(&new).unwrap();
        assert_eq!(a.incident_id, Some(a.id));
        assert_eq!(a.people, Some(1));
        assert_eq!(a.measurements.len(), 1, "the NaN is left out");
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.rows["alerts"], 2);
    }

    /// Version 2 as `main` wrote it (the life cycle, no incident columns), and version 2 as a
    /// development build of the rules wrote it (incident columns, no life cycle): both open at
    /// version 4 with every column, their alerts readable and chained.
    #[test]
    fn a_version_2_journal_is_migrated_to_version_4() {
        let insert = "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type,
                 frame_time_ms, stream_ts_ns, created_at_ms, confidence, boxes, explanation)
             VALUES ('c1', 'Cam', 'r', 'intrusion', 1, 2, 3, 0.5, '[]', 'v2');
             PRAGMA user_version = 2;";
        for lifecycle_first in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("v2.db");
            {
                let mut conn = Connection::open(&path).unwrap();
                conn.execute_batch(SCHEMA_V1).unwrap();
                let tx = conn.transaction().unwrap();
                if lifecycle_first {
                    lifecycle::migrate(&tx).unwrap();
                } else {
                    tx.execute_batch(SCHEMA_V3).unwrap();
                }
                tx.execute_batch(insert).unwrap();
                tx.commit().unwrap();
            }
            let j = Journal::open(&path).unwrap();
            let old = j.get(1).unwrap().unwrap();
            assert_eq!(old.explanation, "v2");
            assert_eq!((old.incident_id, old.people), (None, None));
            let mut new = new_alert("c1");
            new.incident = Some(crate::rules::IncidentRef {
                id: 3,
                update: false,
            });
            let a = j.insert(&new).unwrap();
            assert_eq!(
                a.incident_id,
                Some(a.id),
                "lifecycle first: {lifecycle_first}"
            );
            let take = TransitionInput {
                action: Action::Take,
                reason: None,
                comment: None,
            };
            let taken = j.transition(1, &take, &supervisor("Sam")).unwrap().0;
            assert_eq!(taken.status, AlertStatus::Acknowledged);
            let version: i64 = j
                .lock()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let report = j.verify().unwrap();
            assert!(report.intact(), "{:?}", report.problems);
            assert_eq!(report.rows["alerts"], 2);
        }
    }

    /// Version 3 (incidents, people, measurements): version 4 adopts its rows, incident links
    /// and measured values included, and an update of an incident is chained like any alert.
    #[test]
    fn a_version_3_journal_is_migrated_to_version_4() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(SCHEMA_V1).unwrap();
            lifecycle::migrate(&tx).unwrap();
            tx.execute_batch(SCHEMA_V3).unwrap();
            tx.execute_batch(outbox::SCHEMA).unwrap();
            tx.execute_batch(IDENTITY).unwrap();
            tx.execute_batch(
                "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, frame_time_ms,
                     stream_ts_ns, created_at_ms, confidence, boxes, explanation, snapshot,
                     people, measurements)
                 VALUES ('c1', 'Cam', 'd', 'density', 1, 2, 3, 0.5, '[]', 'warn', x'ffd8ffd9',
                         12, '[{\"name\":\"density\",\"value\":2.5,\"threshold\":2.0,\"unit\":\"p/m2\"}]');
                 UPDATE alerts SET incident_id = 1 WHERE id = 1;
                 INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, frame_time_ms,
                     stream_ts_ns, created_at_ms, confidence, boxes, explanation, incident_id,
                     people)
                 VALUES ('c1', 'Cam', 'd', 'density', 4, 5, 6, 0.7, '[]', 'alarm', 1, 20);
                 PRAGMA user_version = 3;",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let version: i64 = j
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.rows["alerts"], 2);
        assert_eq!(report.images_checked, 1);
        let old = j.get(2).unwrap().unwrap();
        assert_eq!((old.incident_id, old.people), (Some(1), Some(20)));
        assert_eq!(j.get(1).unwrap().unwrap().measurements.len(), 1);
        // A new incident opened, then updated: both chained with their incident id.
        let bus =
            super::super::AlertBus::new(std::sync::Arc::new(j), 8, crate::metrics::Metrics::new());
        let mut new = new_alert("c1");
        new.incident = Some(crate::rules::IncidentRef {
            id: 9,
            update: false,
        });
        let first = bus.publish(new.clone(), std::time::Instant::now()).unwrap();
        new.incident = Some(crate::rules::IncidentRef {
            id: 9,
            update: true,
        });
        let update = bus.publish(new, std::time::Instant::now()).unwrap();
        assert_eq!(update.incident_id, Some(first.id));
        let report = bus.journal().verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        // Editing the incident link behind the engine's back is found.
        bus.journal()
            .lock()
            .execute(
                "UPDATE alerts SET incident_id = NULL WHERE id = ?1",
                [update.id],
            )
            .unwrap();
        let report = bus.journal().verify().unwrap();
        assert!(!report.intact());
    }

    /// Version 4 (no shadow column): version 5 adds it NULL on every row, the chain stays
    /// intact, old alerts read as live, and shadow alerts written since are chained too.
    #[test]
    fn a_version_4_journal_is_migrated_to_version_5() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        {
            let j = Journal::open(&path).unwrap();
            j.insert(&new_alert("c1")).unwrap();
            j.lock()
                .execute_batch("ALTER TABLE alerts DROP COLUMN shadow; PRAGMA user_version = 4;")
                .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert!(j.verify().unwrap().intact());
        assert!(!j.get(1).unwrap().unwrap().shadow);
        let mut shadow = new_alert("c1");
        shadow.shadow = true;
        assert!(j.insert(&shadow).unwrap().shadow);
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        let version: i64 = j
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn journal_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        drop(Journal::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let err = Journal::open(&path).err().unwrap();
        assert!(matches!(err, JournalError::SchemaTooNew { found: 99, .. }));
        assert!(err.to_string().contains("j.db"));
    }

    #[test]
    fn open_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let err = Journal::open(blocker.join("journal.db")).err().unwrap();
        assert!(err.to_string().contains("file"), "{err}");
    }

    #[test]
    fn journal_survives_a_process_that_never_closed_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path).unwrap();
        for i in 0..3 {
            j.insert(&new_alert(&format!("c{i}"))).unwrap();
        }
        j.decide(2, &decision(DecisionKind::Confirmed, "Camille", None))
            .unwrap();
        // Like a killed process: no close, no WAL checkpoint.
        std::mem::forget(j);
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(reopened.last_id().unwrap(), 3);
        assert_eq!(reopened.list(None, 10).unwrap().len(), 3);
        assert_eq!(
            reopened.get(2).unwrap().unwrap().status,
            AlertStatus::Confirmed
        );
        assert_eq!(reopened.decisions(2).unwrap().len(), 1);
        // Ids keep growing after a restart.
        assert_eq!(reopened.insert(&new_alert("c9")).unwrap().id, 4);
        drop(reopened);
        let again = Journal::open(&path).unwrap();
        assert_eq!(again.last_id().unwrap(), 4);
    }

    #[test]
    fn a_journal_has_a_stable_identity_and_a_new_file_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path).unwrap();
        let id = j.id().to_string();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        drop(j);
        // Reopened (or copied as a backup): the same identity.
        assert_eq!(Journal::open(&path).unwrap().id(), id);
        let copy = dir.path().join("backup.db");
        std::fs::copy(&path, &copy).unwrap();
        assert_eq!(Journal::open(&copy).unwrap().id(), id);
        // A new file: another identity.
        let other = Journal::open(dir.path().join("other.db")).unwrap();
        assert_ne!(other.id(), id);
    }

    #[test]
    fn a_journal_from_before_identities_gets_one_at_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // A version-1 journal as older builds wrote it: no meta table.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.id().len(), 32);
        let id = j.id().to_string();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().id(), id);
    }

    /// A journal written by a version-1 build, with decisions under typed names: after the
    /// migration every alert and decision reads as before, the old table is kept as it was, and
    /// the life cycle works on it.
    #[test]
    fn a_version_1_journal_with_decisions_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
            for i in 1..=3 {
                conn.execute(
                    "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type,
                         frame_time_ms, stream_ts_ns, created_at_ms, confidence, boxes,
                         explanation, status)
                     VALUES ('c1', 'Camera', 'r', 'intrusion', ?1, 0, ?1, 0.8, '[]', 'x', 'new')",
                    [i],
                )
                .unwrap();
            }
            conn.execute_batch(
                "UPDATE alerts SET status = 'false_alarm' WHERE id = 1;
                 UPDATE alerts SET status = 'confirmed' WHERE id = 2;
                 INSERT INTO decisions (alert_id, decision, operator, comment, decided_at_ms)
                     VALUES (1, 'confirmed', 'Agent A', NULL, 10),
                            (1, 'false_alarm', 'Agent B', 'ombre', 20),
                            (2, 'confirmed', 'Agent A', 'vu', 30);",
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let a1 = j.get(1).unwrap().unwrap();
        assert_eq!(a1.status, AlertStatus::FalseAlarm);
        let d = a1.decision.unwrap();
        assert_eq!(
            (d.operator.as_str(), d.comment.as_deref()),
            ("Agent B", Some("ombre"))
        );
        assert_eq!((d.role, d.reason, d.decided_at_ms), (None, None, 20));
        assert_eq!(j.decisions(1).unwrap().len(), 2);
        assert_eq!(j.history(2).unwrap()[0].account, "Agent A");
        assert_eq!(j.get(3).unwrap().unwrap().status, AlertStatus::New);
        // New statuses are accepted by the rebuilt table.
        let take = TransitionInput {
            action: Action::Take,
            reason: None,
            comment: None,
        };
        let taken = j.transition(3, &take, &supervisor("Sam")).unwrap().0;
        assert_eq!(taken.status, AlertStatus::Acknowledged);
        assert_eq!(taken.acknowledged.unwrap().by, "Sam");
        drop(j);
        // Opening again copies nothing twice; the old table is untouched.
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.decisions(1).unwrap().len(), 2);
        let conn = j.lock();
        let legacy: i64 = conn
            .query_row("SELECT COUNT(*) FROM decisions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(legacy, 3);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(conn);
        // The chain began at the migration: it adopted the rows of version 1 and linked the
        // steps since.
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.rows["decisions"], 3);
        assert_eq!(report.rows["alert_transitions"], 4);
    }

    /// A journal written by a version-2 build (life cycle, accounts' security events): version 3
    /// adopts every row in the chain's genesis, hashes the images, and later writes are chained.
    #[test]
    fn a_version_2_journal_is_migrated_into_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode=WAL").unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(SCHEMA_V1).unwrap();
            lifecycle::migrate(&tx).unwrap();
            tx.execute_batch(outbox::SCHEMA).unwrap();
            tx.execute_batch(IDENTITY).unwrap();
            tx.execute_batch(
                "CREATE TABLE security_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
                     at_ms INTEGER NOT NULL, kind TEXT NOT NULL, account TEXT, address TEXT,
                     detail TEXT);
                 INSERT INTO security_events (at_ms, kind, account) VALUES
                     (1, 'login_ok', 'agent1'), (2, 'login_failed', 'agent1');
                 INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, frame_time_ms,
                     stream_ts_ns, created_at_ms, confidence, boxes, explanation, status, snapshot)
                 VALUES ('c1', 'Camera', 'r', 'intrusion', 1, 0, 1, 0.8, '[]', 'x', 'confirmed',
                         x'ffd8ffd9');
                 INSERT INTO alert_transitions (alert_id, action, from_status, to_status, account,
                     role, at_ms) VALUES (1, 'confirm', 'new', 'confirmed', 'agent1', 'operator', 5);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.rows["security_events"], 2);
        assert_eq!(report.rows["alert_transitions"], 1);
        assert_eq!(report.images_checked, 1);
        // Adopted: the genesis and one link per earlier row (alert, step, two events).
        assert_eq!(report.links, 5);
        let a = j.get(1).unwrap().unwrap();
        assert_eq!(a.status, AlertStatus::Confirmed);
        assert_eq!(a.config_version, None);
        j.insert(&new_alert("c1")).unwrap();
        assert!(j.verify().unwrap().intact());
        drop(j);
        // Opening again migrates nothing twice.
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.verify().unwrap().links, 6);
    }

    #[test]
    fn journal_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Journal>();
    }
}
