//! Retention purges. Each one is a single transaction that journals what it deletes as a chained
//! `audit_events` row (the tombstone: how many, which range, a digest of the ids) before
//! deleting it, so the chain stays whole:
//!
//! - **images** ([`Journal::purge_images`]): the snapshot of every alert older than the limit is
//!   deleted, with its full-resolution still when it has one; the alert row keeps the image's SHA-256 (chained with it), and `purged_images`
//!   says which purge took the image (its API answers 410 with the reason). Alert clips go
//!   with them: their files are deleted, `purged_clips` names the purge (its own tombstone).
//! - **journal** ([`Journal::purge_journal`]): alerts older than the limit whose every decision
//!   and life-cycle step is older too are deleted with their decisions, their steps
//!   (`alert_transitions`) and their outbox rows; their links stay,
//!   with the content erased and `purged_by` naming the purge. Never below
//!   [`MIN_JOURNAL_DAYS`].

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::chain::{self, digest_ids};
use super::clips;
use super::{Journal, JournalError};
use crate::config::MIN_JOURNAL_DAYS;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What one purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub images: u64,
    /// Alert clips (their files deleted once the purge is committed).
    pub clips: u64,
    pub alerts: u64,
    /// Decisions and life-cycle steps.
    pub decisions: u64,
    /// Links whose content was erased.
    pub links: u64,
    /// The tombstone's link, when anything was deleted.
    pub seq: Option<i64>,
}

/// Why an alert's image is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePurge {
    /// When the purge ran.
    pub at_ms: i64,
    /// The retention it applied (`[retention] images_days` then).
    pub retention_days: i64,
}

fn ids(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<i64>, JournalError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(p, |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn tombstone(what: &str, days: u32, cutoff: i64, ids: &[i64]) -> serde_json::Value {
    serde_json::json!({
        "what": what,
        "days": days,
        "cutoff_ms": cutoff,
        "count": ids.len(),
        "first": ids.first(),
        "last": ids.last(),
        "digest": digest_ids(ids),
    })
}

/// The purge's working sets, emptied before and after each journal purge.
const CLEAR_TEMP: &str = "DELETE FROM temp.purge_alerts; DELETE FROM temp.purge_decisions;
     DELETE FROM temp.purge_steps; DELETE FROM temp.purge_clip_rows;";

/// Fills `temp.purge_alerts` with the alerts a journal purge at `cutoff` deletes, and
/// `temp.purge_clip_rows` with their clips; returns how many alerts. An alert goes when it, its
/// decisions and its steps are all older than the cutoff, and so is every other alert of its
/// incident: an incident is deleted whole or not at all (its later alerts point at its first).
fn select_alerts(tx: &Connection, cutoff: i64) -> Result<usize, JournalError> {
    tx.execute_batch(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS purge_alerts (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS purge_decisions (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS purge_steps (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS purge_clip_rows (id INTEGER PRIMARY KEY);
         {CLEAR_TEMP}"
    ))?;
    tx.execute(
        "INSERT INTO temp.purge_alerts SELECT a.id FROM alerts a WHERE a.created_at_ms < ?1
         AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = a.id
                         AND d.decided_at_ms >= ?1)
         AND NOT EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = a.id
                         AND t.at_ms >= ?1)",
        [cutoff],
    )?;
    tx.execute(
        "DELETE FROM temp.purge_alerts WHERE id IN (
             SELECT a.id FROM alerts a JOIN alerts b ON b.incident_id = a.incident_id
             WHERE a.id IN (SELECT id FROM temp.purge_alerts)
             AND b.id NOT IN (SELECT id FROM temp.purge_alerts))",
        [],
    )?;
    tx.execute(
        "INSERT INTO temp.purge_clip_rows
         SELECT id FROM alert_clips WHERE alert_id IN (SELECT id FROM temp.purge_alerts)",
        [],
    )?;
    Ok(
        tx.query_row("SELECT COUNT(*) FROM temp.purge_alerts", [], |r| {
            r.get::<_, i64>(0)
        })? as usize,
    )
}

fn ids_and_paths(
    tx: &Connection,
    sql: &str,
) -> Result<Vec<(i64, std::path::PathBuf)>, JournalError> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?.into()))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The append-only triggers a journal purge lifts inside its transaction, and puts back.
const DELETE_TRIGGERS: &str = "
CREATE TRIGGER decisions_append_only_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER alert_transitions_append_only_delete BEFORE DELETE ON alert_transitions
BEGIN SELECT RAISE(ABORT, 'alert transitions are append-only'); END;";

impl Journal {
    /// Deletes the images of alerts created more than `days` days before `now_ms`. `None` when
    /// there was nothing to delete (no tombstone then).
    pub fn purge_images(
        &self,
        now_ms: i64,
        days: u32,
    ) -> Result<Option<PurgeReport>, JournalError> {
        let cutoff = now_ms - i64::from(days) * DAY_MS;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let alert_ids = ids(
            &tx,
            "SELECT id FROM alerts WHERE created_at_ms < ?1
               AND (snapshot IS NOT NULL OR still IS NOT NULL) ORDER BY id",
            [cutoff],
        )?;
        let clips = clips::to_purge(&tx, cutoff)?;
        if alert_ids.is_empty() && clips.is_empty() {
            return Ok(None);
        }
        let mut seq = None;
        if !alert_ids.is_empty() {
            let link = chain::record(
                &tx,
                "purge_images",
                &tombstone("images", days, cutoff, &alert_ids),
            )?;
            let mut clear =
                tx.prepare("UPDATE alerts SET snapshot = NULL, still = NULL WHERE id = ?1")?;
            let mut mark = tx.prepare(
                "INSERT OR REPLACE INTO purged_images (alert_id, purge_event) VALUES (?1, ?2)",
            )?;
            for id in &alert_ids {
                clear.execute([id])?;
                mark.execute(params![id, link.row_id])?;
            }
            seq = Some(link.seq);
        }
        if !clips.is_empty() {
            let clip_ids: Vec<i64> = clips.iter().map(|(id, _)| *id).collect();
            let link = chain::record(
                &tx,
                "purge_clips",
                &tombstone("clips", days, cutoff, &clip_ids),
            )?;
            clips::mark_purged(&tx, &clips, link.row_id)?;
            seq = Some(link.seq);
        }
        tx.commit()?;
        clips::delete_files(&clips);
        Ok(Some(PurgeReport {
            images: alert_ids.len() as u64,
            clips: clips.len() as u64,
            seq,
            ..PurgeReport::default()
        }))
    }

    /// Deletes alerts created more than `days` days before `now_ms` whose decisions are all that
    /// old too, with their decisions, outbox rows and clips (rows and any file left); an
    /// incident goes whole or not at all; the links keep their hashes, their content is erased. `days` below [`MIN_JOURNAL_DAYS`] is refused.
    pub fn purge_journal(
        &self,
        now_ms: i64,
        days: u32,
    ) -> Result<Option<PurgeReport>, JournalError> {
        if days < MIN_JOURNAL_DAYS {
            return Err(JournalError::Invalid(format!(
                "journal retention of {days} days is below the minimum of {MIN_JOURNAL_DAYS}"
            )));
        }
        let cutoff = now_ms - i64::from(days) * DAY_MS;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let alerts = select_alerts(&tx, cutoff)?;
        if alerts == 0 {
            return Ok(None);
        }
        let decisions = tx.execute(
            "INSERT INTO temp.purge_decisions
             SELECT id FROM decisions WHERE alert_id IN (SELECT id FROM temp.purge_alerts)",
            [],
        )?;
        let steps = tx.execute(
            "INSERT INTO temp.purge_steps
             SELECT id FROM alert_transitions WHERE alert_id IN (SELECT id FROM temp.purge_alerts)",
            [],
        )?;
        let clip_files = ids_and_paths(
            &tx,
            "SELECT id, path FROM alert_clips WHERE id IN (SELECT id FROM temp.purge_clip_rows)
             AND path IS NOT NULL AND id NOT IN (SELECT clip_id FROM purged_clips)",
        )?;
        let links = ids(
            &tx,
            "SELECT seq FROM chain WHERE purged_by IS NULL AND (
                 (source = 'alerts' AND row_id IN (SELECT id FROM temp.purge_alerts))
              OR (source = 'decisions' AND row_id IN (SELECT id FROM temp.purge_decisions))
              OR (source = 'alert_transitions' AND row_id IN (SELECT id FROM temp.purge_steps))
              OR (source = 'alert_clips' AND row_id IN (SELECT id FROM temp.purge_clip_rows)))
             ORDER BY seq",
            [],
        )?;
        let mut body = tombstone("journal", days, cutoff, &links);
        body["alerts"] = serde_json::json!(alerts);
        body["decisions"] = serde_json::json!(decisions);
        body["transitions"] = serde_json::json!(steps);
        let link = chain::record(&tx, "purge_journal", &body)?;
        {
            let mut erase =
                tx.prepare("UPDATE chain SET content = NULL, purged_by = ?2 WHERE seq = ?1")?;
            for seq in &links {
                erase.execute(params![seq, link.row_id])?;
            }
        }
        tx.execute_batch(&format!(
            "DROP TRIGGER decisions_append_only_delete;
             DROP TRIGGER alert_transitions_append_only_delete;
             DELETE FROM decisions WHERE id IN (SELECT id FROM temp.purge_decisions);
             DELETE FROM alert_transitions WHERE id IN (SELECT id FROM temp.purge_steps);
             {DELETE_TRIGGERS}
             DELETE FROM outbox_events WHERE alert_id IN (SELECT id FROM temp.purge_alerts);
             DELETE FROM alert_clips WHERE id IN (SELECT id FROM temp.purge_clip_rows);
             DELETE FROM alerts WHERE id IN (SELECT id FROM temp.purge_alerts);
             {CLEAR_TEMP}"
        ))?;
        tx.commit()?;
        clips::delete_files(&clip_files);
        Ok(Some(PurgeReport {
            clips: clip_files.len() as u64,
            alerts: alerts as u64,
            decisions: (decisions + steps) as u64,
            links: links.len() as u64,
            seq: Some(link.seq),
            ..PurgeReport::default()
        }))
    }

    /// Why alert `id`'s image is gone, when a purge took it.
    pub fn image_purge(&self, id: i64) -> Result<Option<ImagePurge>, JournalError> {
        let conn = self.lock();
        image_purge(&conn, id)
    }
}

pub(super) fn image_purge(conn: &Connection, id: i64) -> Result<Option<ImagePurge>, JournalError> {
    Ok(conn
        .prepare_cached(
            "SELECT e.at_ms, json_extract(e.body, '$.days') FROM purged_images p
             JOIN audit_events e ON e.id = p.purge_event WHERE p.alert_id = ?1",
        )?
        .query_row([id], |r| {
            Ok(ImagePurge {
                at_ms: r.get(0)?,
                retention_days: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
            })
        })
        .optional()?)
}
