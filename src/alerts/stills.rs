//! The full-resolution still of an alert, attached after it: a camera whose detection reads its
//! sub-stream journals and delivers the alert at once with the detector's frame as its snapshot,
//! and decodes the main stream's frame of the same instant afterwards (off the alert's path);
//! that still is then attached to the alert row (`still`, its SHA-256 `still_sha256`, or
//! `still_error` saying why there is none) and the row linked again in the chain (kind `still`).
//! Both images stay: the snapshot is what the detector analysed and what the operator first saw;
//! the still is the camera's picture of that instant.
//!
//! The outputs (MQTT `<prefix>/stills`, webhook event `still`) are told in the same transaction.
//!
//! Migration `stills` (schema version 7): columns NULL on every existing row (so older links stay
//! valid), checked on the table like the others.

use rusqlite::{params, Connection, OptionalExtension};

use super::chain;
use super::{Alert, Journal, JournalError, OutboxKind};
use crate::detect::manifest::sha256_hex;

/// Migration `stills`: `still_expected` (1 when the alert was journaled with a still to follow),
/// the still, its hash, and why there is none.
const SCHEMA_STILLS: &str = "
ALTER TABLE alerts ADD COLUMN still_expected INTEGER;
ALTER TABLE alerts ADD COLUMN still BLOB;
ALTER TABLE alerts ADD COLUMN still_sha256 TEXT;
ALTER TABLE alerts ADD COLUMN still_error TEXT;
";

/// Brings the still columns in, once.
pub(super) fn migrate(tx: &Connection) -> Result<(), JournalError> {
    if !super::journal::has_column(tx, "alerts", "still_expected")? {
        tx.execute_batch(SCHEMA_STILLS)?;
    }
    Ok(())
}

/// The longest reason kept for a still that could not be made.
const MAX_ERROR: usize = 500;

impl Journal {
    /// Attaches the full-resolution still of alert `id` (JPEG bytes), or why there is none, and
    /// links the row again. Only an alert journaled with a still to follow takes one, once.
    pub fn attach_still(&self, id: i64, still: Result<&[u8], &str>) -> Result<Alert, JournalError> {
        let (jpeg, sha, error) = match still {
            Ok([]) => (None, None, Some("empty image".to_string())),
            Ok(b) => (Some(b), Some(sha256_hex(b)), None),
            Err(reason) => (None, None, Some(reason.chars().take(MAX_ERROR).collect())),
        };
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE alerts SET still = ?2, still_sha256 = ?3, still_error = ?4
             WHERE id = ?1 AND still_expected = 1 AND still_sha256 IS NULL
               AND still_error IS NULL",
            params![id, jpeg, sha, error],
        )?;
        if changed == 0 {
            return Err(match Self::get_locked(&tx, id)? {
                None => JournalError::NotFound(id),
                Some(_) => JournalError::Invalid(format!(
                    "alert {id} takes no still: none was expected, or it has one already"
                )),
            });
        }
        chain::link_row(&tx, "still", "alerts", id)?;
        let alert = Self::get_locked(&tx, id)?.ok_or(JournalError::NotFound(id))?;
        // The outputs hear of it in the same transaction (a shadow alert goes to none).
        let queued = !alert.shadow && self.outbox.enqueue_alert(&tx, OutboxKind::Still, &alert)?;
        tx.commit()?;
        self.outbox.notify(queued);
        Ok(alert)
    }

    /// The full-resolution still of alert `id`: `None` when there is none (not attached yet,
    /// none expected, it failed, or a purge deleted it).
    pub fn still(&self, id: i64) -> Result<Option<Vec<u8>>, JournalError> {
        let conn = self.lock();
        let blob: Option<Option<Vec<u8>>> = conn
            .prepare_cached("SELECT still FROM alerts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(blob.flatten().filter(|b| !b.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::new_alert;
    use super::*;

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db")).unwrap();
        (dir, j)
    }

    /// An alert journaled with a still to follow.
    fn expecting(j: &Journal) -> Alert {
        let mut new = new_alert("cam");
        new.still_expected = true;
        j.insert(&new).unwrap()
    }

    fn verify(j: &Journal) -> super::super::verify::VerifyReport {
        j.verify().unwrap()
    }

    /// The outputs hear of the still (or of its failure) with the alert as it now is; a shadow
    /// alert's still goes to none.
    #[test]
    fn an_attached_still_is_enqueued_for_the_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db"))
            .unwrap()
            .with_outputs(vec!["hook".to_string()]);
        let (a, b) = (expecting(&j), expecting(&j));
        let mut shadow = new_alert("cam");
        (shadow.still_expected, shadow.shadow) = (true, true);
        let s = j.insert(&shadow).unwrap();
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        j.attach_still(b.id, Err("the camera stopped")).unwrap();
        j.attach_still(s.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let due = j.outbox_due("hook", super::super::now_ms(), 10).unwrap();
        let stills: Vec<_> = due.iter().filter(|i| i.kind == OutboxKind::Still).collect();
        assert_eq!(stills.len(), 2, "{due:?}");
        assert_eq!(stills[0].body["id"], a.id);
        assert_eq!(
            stills[0].body["still_url"],
            format!("/api/alerts/{}/still.jpg", a.id)
        );
        assert_eq!(stills[1].body["id"], b.id);
        assert_eq!(stills[1].body["still_error"], "the camera stopped");
    }

    #[test]
    fn a_still_is_attached_once_hashed_and_chained() {
        let (_d, j) = journal();
        let a = expecting(&j);
        assert!(a.still_pending && a.still_url.is_none());
        let still = [0xFF, 0xD8, 0x01, 0x02, 0xFF, 0xD9];
        let a = j.attach_still(a.id, Ok(&still)).unwrap();
        assert!(!a.still_pending);
        assert_eq!(
            a.still_url.as_deref(),
            Some(format!("/api/alerts/{}/still.jpg", a.id).as_str())
        );
        assert_eq!(j.still(a.id).unwrap().as_deref(), Some(&still[..]));
        // The snapshot is still the one the alert was journaled with.
        assert_eq!(
            j.snapshot(a.id).unwrap(),
            Some(new_alert("cam").snapshot_jpeg)
        );
        // Once only.
        assert!(matches!(
            j.attach_still(a.id, Ok(&still)),
            Err(JournalError::Invalid(_))
        ));
        let report = verify(&j);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.images_checked, 2);
    }

    #[test]
    fn a_still_changed_behind_the_engine_s_back_is_found() {
        let (_d, j) = journal();
        let a = expecting(&j);
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let conn = Connection::open(j.path()).unwrap();
        conn.execute("UPDATE alerts SET still = x'ffd8ff00ffd9'", [])
            .unwrap();
        let report = verify(&j);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].message.contains("image differs"));
    }

    #[test]
    fn an_alert_without_a_still_to_follow_takes_none_and_a_failure_is_kept() {
        let (_d, j) = journal();
        let plain = j.insert(&new_alert("cam")).unwrap();
        assert!(!plain.still_pending && plain.still_url.is_none());
        assert!(matches!(
            j.attach_still(plain.id, Ok(&[1, 2])),
            Err(JournalError::Invalid(_))
        ));
        assert!(matches!(
            j.attach_still(999, Ok(&[1, 2])),
            Err(JournalError::NotFound(999))
        ));
        let a = expecting(&j);
        let a = j.attach_still(a.id, Err("decoder gone")).unwrap();
        assert!(!a.still_pending && a.still_url.is_none());
        assert_eq!(a.still_error.as_deref(), Some("decoder gone"));
        assert_eq!(j.still(a.id).unwrap(), None);
        assert!(verify(&j).problems.is_empty());
    }

    #[test]
    fn a_retention_purge_deletes_the_still_with_the_snapshot() {
        let (_d, j) = journal();
        let a = expecting(&j);
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let report = j
            .purge_images(a.created_at_ms + 10 * 86_400_000, 1)
            .unwrap();
        assert_eq!(report.map(|r| r.images), Some(1));
        assert_eq!(j.still(a.id).unwrap(), None);
        assert_eq!(j.snapshot(a.id).unwrap(), None);
        let a = j.get(a.id).unwrap().unwrap();
        assert!(a.still_url.is_none() && a.image_purged.is_some());
        let report = verify(&j);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.images_purged, 2);
    }

    #[test]
    fn a_journal_purge_takes_the_alert_and_its_still_link_and_the_chain_stays_whole() {
        let (_d, j) = journal();
        let a = expecting(&j);
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let days = crate::config::MIN_JOURNAL_DAYS;
        let later = a.created_at_ms + (i64::from(days) + 1) * 86_400_000;
        let report = j.purge_journal(later, days).unwrap().unwrap();
        assert_eq!(report.alerts, 1);
        // The alert's two links (journaled, still attached) are erased.
        assert_eq!(report.links, 2);
        assert!(j.get(a.id).unwrap().is_none());
        let report = verify(&j);
        assert!(report.intact(), "{:?}", report.problems);
    }

    /// A journal of version 6 (before stills) gets the columns; its alerts keep their links.
    #[test]
    fn a_version_6_journal_gets_stills_and_its_alerts_stay_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        {
            let j = Journal::open(&path).unwrap();
            j.insert(&new_alert("c1")).unwrap();
            j.lock()
                .execute_batch(
                    "ALTER TABLE alerts DROP COLUMN still_expected;
                     ALTER TABLE alerts DROP COLUMN still; ALTER TABLE alerts DROP COLUMN still_sha256;
                     ALTER TABLE alerts DROP COLUMN still_error; PRAGMA user_version = 6;",
                )
                .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let version: i64 = j
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        let old = j.get(1).unwrap().unwrap();
        assert!(!old.still_pending && old.still_url.is_none() && old.still_error.is_none());
        let a = expecting(&j);
        j.attach_still(a.id, Ok(&[0xFF, 0xD8, 0xFF, 0xD9])).unwrap();
        let report = verify(&j);
        assert!(report.intact(), "{:?}", report.problems);
    }
}
