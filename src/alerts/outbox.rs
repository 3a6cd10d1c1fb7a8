//! The outbox: what the outputs (MQTT, webhooks) still have to deliver, in the journal database
//! itself. An alert, a decision or a camera state change is written here **in the same
//! transaction** as its journal row, one delivery row per configured output, so either both are
//! on disk or neither is. Workers (`delivery::output`) deliver afterwards, retrying with backoff;
//! an engine killed at any moment finds the undelivered rows at its next start.
//!
//! A delivered row is marked (`delivered_at_ms`), kept [`DELIVERED_RETENTION_MS`] (7 days, to
//! answer "was it sent, when?"), then pruned. The journal's alerts and decisions are the record;
//! the outbox only says what was sent where.
//!
//! Tables: `outbox_events` (one row per event: kind, JSON body as it was at that moment) and
//! `outbox` (one row per event and output: attempts, next attempt, last error, delivered).
//! Created with `IF NOT EXISTS` at every open, so a journal written before the outbox existed is
//! upgraded in place.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};
use tokio::sync::watch;

use super::{Alert, Journal, JournalError};

/// Delivered rows are deleted this long after delivery (7 days).
pub const DELIVERED_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Longest error text kept with a row.
const MAX_ERROR_LEN: usize = 500;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('alert', 'decision', 'camera_state', 'still')),
    alert_id INTEGER,
    body TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
    output TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    delivered_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(output, next_attempt_ms, id)
    WHERE delivered_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS outbox_by_event ON outbox(event_id);
CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox(output, delivered_at_ms)
    WHERE delivered_at_ms IS NOT NULL;
";

/// The kind check of `SCHEMA`.
const KIND_CHECK: &str = "CHECK (kind IN ('alert', 'decision', 'camera_state', 'still'))";
/// The kind check before `still` (schema version 8).
const OLD_KIND_CHECK: &str = "CHECK (kind IN ('alert', 'decision', 'camera_state'))";

/// Creates the outbox's tables if missing; an `outbox_events` table from before the `still`
/// kind (schema version 8) is rebuilt with it, its rows and ids kept (the `outbox` rows refer
/// to them). SQLite cannot change a CHECK constraint in place; foreign keys must be off (the
/// journal turns them on after its migration).
pub(super) fn migrate(tx: &Connection) -> rusqlite::Result<()> {
    let sql = super::journal::table_sql(tx, "outbox_events")?;
    if let Some(sql) = sql.filter(|s| s.contains(OLD_KIND_CHECK)) {
        let create = sql
            .replacen("outbox_events", "outbox_events_v8", 1)
            .replacen(OLD_KIND_CHECK, KIND_CHECK, 1);
        tx.execute_batch(&format!(
            "{create};
             INSERT INTO outbox_events_v8 SELECT * FROM outbox_events;
             DROP TABLE outbox_events;
             ALTER TABLE outbox_events_v8 RENAME TO outbox_events;"
        ))?;
    }
    tx.execute_batch(SCHEMA)
}

/// What an outbox event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A new alert; the body is the alert as the API shows it.
    Alert,
    /// An operator's decision; the body is the alert with its new status and decision.
    Decision,
    /// A camera's state changed (a fault opened or cleared); the body is [`camera_state`]'s.
    CameraState,
    /// An alert's full-resolution still was attached after it (or failed); the body is the
    /// alert with its `still_url` (or `still_error`).
    Still,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Alert => "alert",
            OutboxKind::Decision => "decision",
            OutboxKind::CameraState => "camera_state",
            OutboxKind::Still => "still",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxKind> {
        match s {
            "alert" => Some(OutboxKind::Alert),
            "decision" => Some(OutboxKind::Decision),
            "camera_state" => Some(OutboxKind::CameraState),
            "still" => Some(OutboxKind::Still),
            _ => None,
        }
    }
}

/// One event still to deliver to one output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// The delivery row.
    pub id: i64,
    /// The event: the same for every output, the key receivers deduplicate on.
    pub event_id: i64,
    pub kind: OutboxKind,
    /// The JSON written with the event.
    pub body: serde_json::Value,
    pub created_at_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// Queue depth of one output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    /// Creation time of the oldest undelivered event, when there is one.
    pub oldest_created_ms: Option<i64>,
}

/// The journal's side of the outbox: which outputs to enqueue for, and the signal that wakes
/// their workers after a commit.
pub(super) struct Outbox {
    outputs: Vec<String>,
    signal: watch::Sender<u64>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            outputs: Vec::new(),
            signal: watch::Sender::new(0),
        }
    }
}

/// Wall clock, milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The camera state an alert announces (`camera_offline` → `offline`, `camera_restored` →
/// `ok`), or `None` for any other alert.
pub fn camera_state_of(event_type: &str) -> Option<&'static str> {
    match event_type {
        "camera_offline" => Some("offline"),
        "camera_frozen" => Some("frozen"),
        "camera_obstructed" => Some("obstructed"),
        "camera_restored" => Some("ok"),
        _ => None,
    }
}

/// The body of a camera state event.
pub fn camera_state(alert: &Alert, state: &str) -> serde_json::Value {
    serde_json::json!({
        "camera_id": alert.camera_id,
        "camera_name": alert.camera_name,
        "state": state,
        "since_ms": alert.frame_time_ms,
        "alert_id": alert.id,
        "explanation": alert.explanation,
    })
}

impl Outbox {
    pub(super) fn new(outputs: Vec<String>) -> Self {
        Outbox {
            outputs,
            ..Outbox::default()
        }
    }

    /// Enqueues an alert event inside the caller's transaction: `Alert` for a new alert (with
    /// the camera state it announces, if any), `Decision` for the alert as an operator's
    /// decision left it. Returns whether anything was enqueued.
    pub(super) fn enqueue_alert(
        &self,
        tx: &Connection,
        kind: OutboxKind,
        alert: &Alert,
    ) -> Result<bool, JournalError> {
        if self.outputs.is_empty() {
            return Ok(false);
        }
        self.enqueue(tx, kind, alert.id, &to_json(alert)?)?;
        if let (OutboxKind::Alert, Some(state)) = (kind, camera_state_of(&alert.event_type)) {
            let body = camera_state(alert, state);
            self.enqueue(tx, OutboxKind::CameraState, alert.id, &body)?;
        }
        Ok(true)
    }

    fn enqueue(
        &self,
        tx: &Connection,
        kind: OutboxKind,
        alert_id: i64,
        body: &serde_json::Value,
    ) -> Result<(), JournalError> {
        let now = now_ms();
        tx.prepare_cached(
            "INSERT INTO outbox_events (kind, alert_id, body, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![kind.as_str(), alert_id, body.to_string(), now])?;
        let event_id = tx.last_insert_rowid();
        let mut stmt = tx.prepare_cached(
            "INSERT INTO outbox (event_id, output, next_attempt_ms) VALUES (?1, ?2, ?3)",
        )?;
        for output in &self.outputs {
            stmt.execute(params![event_id, output, now])?;
        }
        Ok(())
    }

    /// Wakes the workers; call after the commit.
    pub(super) fn notify(&self, queued: bool) {
        if queued {
            self.signal.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

fn to_json(alert: &Alert) -> Result<serde_json::Value, JournalError> {
    serde_json::to_value(alert).map_err(|e| JournalError::Invalid(format!("alert JSON: {e}")))
}

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let id: i64 = row.get(0)?;
    let kind: String = row.get(2)?;
    let body: String = row.get(3)?;
    let bad = |m: String| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, m.into())
    };
    Ok(OutboxItem {
        id,
        event_id: row.get(1)?,
        kind: OutboxKind::parse(&kind)
            .ok_or_else(|| bad(format!("outbox row {id}: unknown kind {kind:?}")))?,
        body: serde_json::from_str(&body)
            .map_err(|e| bad(format!("outbox row {id}: body: {e}")))?,
        created_at_ms: row.get(4)?,
        attempts: row.get(5)?,
    })
}

impl Journal {
    /// Enqueue every alert, decision and camera state change for these outputs from now on
    /// (their ids, as in `[[outputs]]`).
    pub fn with_outputs(mut self, outputs: Vec<String>) -> Self {
        self.outbox = Outbox::new(outputs);
        self
    }

    /// Changes after each commit that enqueued something.
    pub fn outbox_subscribe(&self) -> watch::Receiver<u64> {
        self.outbox.signal.subscribe()
    }

    /// Up to `limit` undelivered items of `output` due at `now_ms`, oldest first.
    pub fn outbox_due(
        &self,
        output: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.event_id, e.kind, e.body, e.created_at_ms, o.attempts
             FROM outbox o JOIN outbox_events e ON e.id = o.event_id
             WHERE o.output = ?1 AND o.delivered_at_ms IS NULL AND o.next_attempt_ms <= ?2
             ORDER BY o.next_attempt_ms, o.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![output, now_ms, limit], item_from_row)?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| JournalError::Corrupt(e.to_string()))
    }

    /// Marks a delivery row delivered (kept, not deleted).
    pub fn outbox_delivered(&self, id: i64, now_ms: i64) -> Result<(), JournalError> {
        self.lock()
            .prepare_cached(
                "UPDATE outbox SET delivered_at_ms = ?2, last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, now_ms])?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), JournalError> {
        let error: String = error.chars().take(MAX_ERROR_LEN).collect();
        self.lock()
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3
                 WHERE id = ?1 AND delivered_at_ms IS NULL",
            )?
            .execute(params![id, error, next_attempt_ms])?;
        Ok(())
    }

    /// Makes every undelivered item of `output` due now (the output is reachable again).
    pub fn outbox_retry_now(&self, output: &str, now_ms: i64) -> Result<usize, JournalError> {
        Ok(self
            .lock()
            .prepare_cached(
                "UPDATE outbox SET next_attempt_ms = ?2
                 WHERE output = ?1 AND delivered_at_ms IS NULL AND next_attempt_ms > ?2",
            )?
            .execute(params![output, now_ms])?)
    }

    /// When the next undelivered item of `output` is due (`None`: nothing to deliver).
    pub fn outbox_next_attempt_ms(&self, output: &str) -> Result<Option<i64>, JournalError> {
        Ok(self
            .lock()
            .prepare_cached(
                "SELECT MIN(next_attempt_ms) FROM outbox
                 WHERE output = ?1 AND delivered_at_ms IS NULL",
            )?
            .query_row([output], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Undelivered items of `output` and the age of the oldest.
    pub fn outbox_stats(&self, output: &str) -> Result<OutboxStats, JournalError> {
        let (pending, oldest): (i64, Option<i64>) = self
            .lock()
            .prepare_cached(
                "SELECT COUNT(*), MIN(e.created_at_ms)
                 FROM outbox o JOIN outbox_events e ON e.id = o.event_id
                 WHERE o.output = ?1 AND o.delivered_at_ms IS NULL",
            )?
            .query_row([output], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(OutboxStats {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_created_ms: oldest,
        })
    }

    /// Undelivered items per output name, every output (configured or not).
    pub fn outbox_pending_by_output(&self) -> Result<Vec<(String, u64)>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT output, COUNT(*) FROM outbox WHERE delivered_at_ms IS NULL
             GROUP BY output ORDER BY output",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Deletes `output`'s rows delivered before `before_ms`, then events no row refers to any
    /// more. Returns the number of delivery rows deleted.
    pub fn outbox_prune(&self, output: &str, before_ms: i64) -> Result<usize, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM outbox WHERE output = ?1 AND delivered_at_ms IS NOT NULL
             AND delivered_at_ms < ?2",
            params![output, before_ms],
        )?;
        if n > 0 {
            tx.execute(
                "DELETE FROM outbox_events
                 WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = outbox_events.id)",
                [],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::new_alert;
    use super::super::{DecisionInput, DecisionKind};
    use super::*;

    fn open(outputs: &[&str]) -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("journal.db"))
            .unwrap()
            .with_outputs(outputs.iter().map(|s| s.to_string()).collect());
        (dir, j)
    }

    fn count(j: &Journal, table: &str) -> i64 {
        j.lock()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_alert_is_enqueued_once_per_output_with_its_journal_row() {
        let (_d, j) = open(&["mqtt", "hook"]);
        let a = j.insert(&new_alert("c1")).unwrap();
        for out in ["mqtt", "hook"] {
            let due = j.outbox_due(out, now_ms(), 10).unwrap();
            assert_eq!(due.len(), 1);
            assert_eq!(due[0].kind, OutboxKind::Alert);
            assert_eq!(due[0].body["id"], a.id);
            assert_eq!(due[0].body["camera_id"], "c1");
            assert_eq!(due[0].attempts, 0);
        }
        // One event shared by both outputs.
        assert_eq!(count(&j, "outbox_events"), 1);
        assert_eq!(count(&j, "outbox"), 2);
    }

    #[test]
    fn without_outputs_nothing_is_enqueued() {
        let (_d, j) = open(&[]);
        let a = j.insert(&new_alert("c1")).unwrap();
        let input = DecisionInput {
            decision: DecisionKind::Confirmed,
            operator: "Camille".into(),
            reason: None,
            comment: None,
        };
        j.decide(a.id, &input).unwrap();
        assert_eq!(count(&j, "outbox_events"), 0);
        assert_eq!(count(&j, "outbox"), 0);
    }

    #[test]
    fn a_failed_outbox_insert_rolls_the_alert_back_and_the_reverse() {
        let (_d, j) = open(&["mqtt"]);
        j.lock()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'full'); END;",
            )
            .unwrap();
        assert!(j.insert(&new_alert("c1")).is_err());
        assert_eq!(
            j.last_id().unwrap(),
            0,
            "the alert must not be journaled alone"
        );
        assert_eq!(count(&j, "outbox_events"), 0);
        j.lock().execute_batch("DROP TRIGGER refuse").unwrap();

        // An alert that the journal refuses leaves no outbox row either.
        let mut bad = new_alert("c1");
        bad.confidence = f32::NAN;
        assert!(j.insert(&bad).is_err());
        assert_eq!(count(&j, "outbox"), 0);

        // A decision and its outbox row go together too.
        let a = j.insert(&new_alert("c1")).unwrap();
        j.lock()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'full'); END;",
            )
            .unwrap();
        let input = DecisionInput {
            decision: DecisionKind::FalseAlarm,
            operator: "Lou".into(),
            reason: Some(super::super::FalseAlarmReason::Other),
            comment: None,
        };
        assert!(j.decide(a.id, &input).is_err());
        assert!(j.decisions(a.id).unwrap().is_empty());
        assert_eq!(
            j.get(a.id).unwrap().unwrap().status,
            super::super::AlertStatus::New
        );
    }

    #[test]
    fn decisions_and_camera_states_are_enqueued() {
        let (_d, j) = open(&["hook"]);
        let mut fault = new_alert("gate");
        fault.rule_id = "camera_health".into();
        fault.event_type = crate::rules::EventType::CameraOffline;
        let f = j.insert(&fault).unwrap();
        let input = DecisionInput {
            decision: DecisionKind::Confirmed,
            operator: "Camille".into(),
            reason: None,
            comment: Some("vu".into()),
        };
        j.decide(f.id, &input).unwrap();
        let due = j.outbox_due("hook", now_ms(), 10).unwrap();
        let kinds: Vec<OutboxKind> = due.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            vec![
                OutboxKind::Alert,
                OutboxKind::CameraState,
                OutboxKind::Decision
            ]
        );
        assert_eq!(due[1].body["state"], "offline");
        assert_eq!(due[1].body["camera_id"], "gate");
        assert_eq!(due[1].body["alert_id"], f.id);
        assert_eq!(due[2].body["status"], "confirmed");
        assert_eq!(due[2].body["decision"]["operator"], "Camille");
        assert_eq!(camera_state_of("camera_restored"), Some("ok"));
        assert_eq!(camera_state_of("intrusion"), None);
    }

    #[test]
    fn failures_postpone_delivered_rows_are_kept_then_pruned() {
        let (_d, j) = open(&["mqtt"]);
        let rx = j.outbox_subscribe();
        j.insert(&new_alert("c1")).unwrap();
        j.insert(&new_alert("c2")).unwrap();
        assert!(rx.has_changed().unwrap(), "a commit wakes the workers");
        let now = now_ms();
        let due = j.outbox_due("mqtt", now, 10).unwrap();
        assert_eq!(due.len(), 2);

        j.outbox_failed(due[0].id, "connection refused", now + 60_000)
            .unwrap();
        let still = j.outbox_due("mqtt", now, 10).unwrap();
        assert_eq!(still.len(), 1, "the failed item waits for its next attempt");
        assert_eq!(still[0].id, due[1].id);
        // The other one was due when it was enqueued.
        assert!(j.outbox_next_attempt_ms("mqtt").unwrap().unwrap() <= now);
        assert_eq!(j.outbox_stats("mqtt").unwrap().pending, 2);

        j.outbox_delivered(due[1].id, now).unwrap();
        assert_eq!(
            j.outbox_next_attempt_ms("mqtt").unwrap(),
            Some(now + 60_000)
        );
        // Reachable again: the postponed item is due at once, its attempts counted.
        assert_eq!(j.outbox_retry_now("mqtt", now).unwrap(), 1);
        let again = j.outbox_due("mqtt", now, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
        j.outbox_delivered(again[0].id, now + 1).unwrap();
        let stats = j.outbox_stats("mqtt").unwrap();
        assert_eq!(stats, OutboxStats::default());
        assert_eq!(j.outbox_next_attempt_ms("mqtt").unwrap(), None);
        // Delivered rows stay until pruned.
        assert_eq!(count(&j, "outbox"), 2);
        assert_eq!(j.outbox_prune("mqtt", now).unwrap(), 0);
        assert_eq!(j.outbox_prune("mqtt", now + 2).unwrap(), 2);
        assert_eq!(count(&j, "outbox"), 0);
        assert_eq!(count(&j, "outbox_events"), 0);
    }

    #[test]
    fn undelivered_items_survive_a_process_that_never_closed_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path)
            .unwrap()
            .with_outputs(vec!["mqtt".into()]);
        for i in 0..3 {
            j.insert(&new_alert(&format!("c{i}"))).unwrap();
        }
        let first = j.outbox_due("mqtt", now_ms(), 1).unwrap();
        j.outbox_delivered(first[0].id, now_ms()).unwrap();
        std::mem::forget(j);
        let reopened = Journal::open(&path).unwrap();
        let stats = reopened.outbox_stats("mqtt").unwrap();
        assert_eq!(stats.pending, 2);
        assert!(stats.oldest_created_ms.is_some());
        assert_eq!(
            reopened.outbox_pending_by_output().unwrap(),
            vec![("mqtt".to_string(), 2)]
        );
    }

    #[test]
    fn a_journal_from_before_the_outbox_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        drop(Journal::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE outbox; DROP TABLE outbox_events;")
            .unwrap();
        let j = Journal::open(&path)
            .unwrap()
            .with_outputs(vec!["hook".into()]);
        j.insert(&new_alert("c1")).unwrap();
        assert_eq!(j.outbox_stats("hook").unwrap().pending, 1);
    }

    /// A version 7 outbox (no `still` kind) with an undelivered row: rebuilt, the row and its
    /// event id kept, and a still can then be enqueued.
    #[test]
    fn a_version_7_outbox_takes_stills_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path)
            .unwrap()
            .with_outputs(vec!["hook".into()]);
        let mut new = new_alert("c1");
        new.still_expected = true;
        let a = j.insert(&new).unwrap();
        drop(j);
        let old = SCHEMA.replace(", 'still'", "");
        assert!(old.contains(OLD_KIND_CHECK));
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "PRAGMA foreign_keys = OFF;
                 CREATE TABLE saved AS SELECT * FROM outbox_events;
                 DROP TABLE outbox_events;
                 {old}
                 INSERT INTO outbox_events SELECT * FROM saved;
                 DROP TABLE saved;
                 PRAGMA user_version = 7;"
            ))
            .unwrap();
        let j = Journal::open(&path)
            .unwrap()
            .with_outputs(vec!["hook".into()]);
        let due = j.outbox_due("hook", now_ms(), 10).unwrap();
        assert_eq!((due.len(), due[0].kind), (1, OutboxKind::Alert));
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let due = j.outbox_due("hook", now_ms(), 10).unwrap();
        let kinds: Vec<_> = due.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, vec![OutboxKind::Alert, OutboxKind::Still]);
        // The delivery rows still point at their events (foreign key on again).
        let conn = Connection::open(&path).unwrap();
        let orphans: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbox o LEFT JOIN outbox_events e ON e.id = o.event_id
                 WHERE e.id IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0);
        let fk = crate::alerts::journal::table_sql(&conn, "outbox")
            .unwrap()
            .unwrap();
        assert!(fk.contains("REFERENCES outbox_events(id)"), "{fk}");
        assert!(SCHEMA.contains(KIND_CHECK));
    }
}
