//! The clips of alerts in the journal: one chained `alert_clips` row per alert whose clip was
//! attempted (the file's path, SHA-256, size and duration, or why there is none), and
//! `purged_clips` for those a retention purge deleted (see [`super::retention`]).
//!
//! Migration `clips` (schema version 6): checked on the tables themselves, like the others, so
//! it composes with migrations of other branches whatever number they take.

use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::chain;
use super::retention::ImagePurge;
use super::{Journal, JournalError};

/// Migration `clips`: `alerts.clip_expected` (1 when the camera's stream was tapped as the alert
/// was journaled: its clip is on the way), the clips and the purged ones.
const SCHEMA_CLIPS: &str = "
ALTER TABLE alerts ADD COLUMN clip_expected INTEGER;
CREATE TABLE alert_clips (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    path TEXT,
    sha256 TEXT,
    bytes INTEGER,
    duration_ms INTEGER,
    start_ms INTEGER,
    frames INTEGER,
    codec TEXT,
    method TEXT,
    masked INTEGER,
    error TEXT
);
CREATE TABLE purged_clips (
    clip_id INTEGER PRIMARY KEY,
    purge_event INTEGER NOT NULL
);
";

/// Brings the clip tables in, once.
pub(super) fn migrate(tx: &Connection) -> Result<(), JournalError> {
    if !chain::table_exists(tx, "alert_clips")? {
        tx.execute_batch(SCHEMA_CLIPS)?;
    }
    Ok(())
}

/// A clip to journal: the file written, or why none could be.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClip {
    pub alert_id: i64,
    pub file: Result<ClipFileInfo, String>,
}

/// What is known of a written clip file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipFileInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub duration_ms: i64,
    /// Wall clock of its first frame.
    pub start_ms: i64,
    pub frames: u64,
    pub codec: String,
    /// `remux` or `transcode`.
    pub method: String,
    pub masked: bool,
}

/// A journaled clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipRecord {
    pub id: i64,
    pub alert_id: i64,
    pub created_at_ms: i64,
    /// The file, or why there is none.
    pub file: Result<ClipFileInfo, String>,
    /// Set when a retention purge deleted the file.
    pub purged: Option<ImagePurge>,
}

fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Journal {
    /// Journals the clip of an alert (or why there is none) and links it in the chain. An alert
    /// has one clip: a second one is refused.
    pub fn record_clip(&self, clip: &NewClip) -> Result<ClipRecord, JournalError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if Self::get_locked(&tx, clip.alert_id)?.is_none() {
            return Err(JournalError::NotFound(clip.alert_id));
        }
        let now = super::now_ms();
        match &clip.file {
            Ok(f) => tx.execute(
                "INSERT INTO alert_clips (alert_id, created_at_ms, path, sha256, bytes,
                     duration_ms, start_ms, frames, codec, method, masked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    clip.alert_id,
                    now,
                    f.path.to_string_lossy(),
                    f.sha256,
                    to_sql(f.bytes),
                    f.duration_ms,
                    f.start_ms,
                    to_sql(f.frames),
                    f.codec,
                    f.method,
                    i64::from(f.masked),
                ],
            )?,
            Err(reason) => tx.execute(
                "INSERT INTO alert_clips (alert_id, created_at_ms, error) VALUES (?1, ?2, ?3)",
                params![clip.alert_id, now, reason],
            )?,
        };
        let id = tx.last_insert_rowid();
        chain::link_row(&tx, "clip", "alert_clips", id)?;
        let record = clip_of(&tx, clip.alert_id)?.ok_or(JournalError::NotFound(clip.alert_id))?;
        tx.commit()?;
        Ok(record)
    }

    /// The clip of alert `alert_id`, if one was attempted.
    pub fn clip(&self, alert_id: i64) -> Result<Option<ClipRecord>, JournalError> {
        clip_of(&self.lock(), alert_id)
    }
}

fn clip_of(conn: &Connection, alert_id: i64) -> Result<Option<ClipRecord>, JournalError> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id, c.alert_id, c.created_at_ms, c.path, c.sha256, c.bytes, c.duration_ms,
                c.start_ms, c.frames, c.codec, c.method, c.masked, c.error, e.at_ms,
                json_extract(e.body, '$.days')
             FROM alert_clips c LEFT JOIN purged_clips p ON p.clip_id = c.id
             LEFT JOIN audit_events e ON e.id = p.purge_event WHERE c.alert_id = ?1",
        )?
        .query_row([alert_id], record_from_row)
        .optional()?)
}

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<ClipRecord> {
    let path: Option<String> = r.get(3)?;
    let file = match path {
        Some(path) => Ok(ClipFileInfo {
            path: PathBuf::from(path),
            sha256: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            bytes: r.get::<_, Option<i64>>(5)?.unwrap_or(0).max(0) as u64,
            duration_ms: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
            start_ms: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
            frames: r.get::<_, Option<i64>>(8)?.unwrap_or(0).max(0) as u64,
            codec: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            method: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            masked: r.get::<_, Option<i64>>(11)?.unwrap_or(0) != 0,
        }),
        None => Err(r
            .get::<_, Option<String>>(12)?
            .unwrap_or_else(|| "no clip".to_string())),
    };
    let purged = match r.get::<_, Option<i64>>(13)? {
        Some(at_ms) => Some(ImagePurge {
            at_ms,
            retention_days: r.get::<_, Option<i64>>(14)?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(ClipRecord {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        created_at_ms: r.get(2)?,
        file,
        purged,
    })
}

/// Clips of alerts created before `cutoff` whose file is still there, by id.
pub(super) fn to_purge(tx: &Connection, cutoff: i64) -> Result<Vec<(i64, PathBuf)>, JournalError> {
    let mut stmt = tx.prepare(
        "SELECT c.id, c.path FROM alert_clips c JOIN alerts a ON a.id = c.alert_id
         WHERE a.created_at_ms < ?1 AND c.path IS NOT NULL
         AND c.id NOT IN (SELECT clip_id FROM purged_clips) ORDER BY c.id",
    )?;
    let rows = stmt.query_map([cutoff], |r| {
        Ok((r.get::<_, i64>(0)?, PathBuf::from(r.get::<_, String>(1)?)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks clips as deleted by the purge journaled as `audit_events` row `purge_event`.
pub(super) fn mark_purged(
    tx: &Connection,
    clips: &[(i64, PathBuf)],
    purge_event: i64,
) -> Result<(), JournalError> {
    let mut mark = tx.prepare("INSERT INTO purged_clips (clip_id, purge_event) VALUES (?1, ?2)")?;
    for (id, _) in clips {
        mark.execute(params![id, purge_event])?;
    }
    Ok(())
}

/// Deletes the files of purged clips (after the commit). A file already gone is fine; any
/// other failure is logged: the journal says the clip is purged, the file must go.
pub(super) fn delete_files(clips: &[(i64, PathBuf)]) -> u64 {
    let mut deleted = 0;
    for (id, path) in clips {
        match std::fs::remove_file(path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(clip = id, path = %path.display(), error = %e, "purged clip file could not be deleted")
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::test_support::{clip_info as info, new_alert};

    /// A journal of version 5 (before clips) gets the clip tables; clips are chained.
    #[test]
    fn a_version_5_journal_gets_clips_and_they_are_chained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        {
            let j = Journal::open(&path).unwrap();
            j.insert(&new_alert("c1")).unwrap();
            j.lock()
                .execute_batch(
                    "DROP TABLE alert_clips; DROP TABLE purged_clips;
                     ALTER TABLE alerts DROP COLUMN clip_expected; PRAGMA user_version = 5;",
                )
                .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let version: i64 = j
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        assert!(j.clip(1).unwrap().is_none());
        let rec = j
            .record_clip(&NewClip {
                alert_id: 1,
                file: Ok(info("/var/clips/1.mp4")),
            })
            .unwrap();
        assert_eq!(rec.file, Ok(info("/var/clips/1.mp4")));
        assert_eq!(j.clip(1).unwrap(), Some(rec));
        assert!(matches!(
            j.record_clip(&NewClip {
                alert_id: 99,
                file: Err("x".into())
            }),
            Err(JournalError::NotFound(99))
        ));
        let report = j.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.rows["alert_clips"], 1);
        // A row changed behind the engine's back is caught.
        j.lock()
            .execute_batch("UPDATE alert_clips SET sha256 = 'forged'")
            .unwrap();
        assert!(!j.verify().unwrap().intact());
    }
}
