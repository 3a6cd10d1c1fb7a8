//! Shadow alerts (issue 10 §6): a rule in `mode = "shadow"` runs and journals its alerts like any
//! other (chained, gated by the authorisations), with `shadow = 1`; no operator, output or live
//! console hears of them. Evaluators review them apart and give each a verdict (a true or a false
//! alarm), journaled as a chained `shadow_verdict` event; the newest verdict of an alert counts.
//! [`Journal::shadow_stats`] gives the false-alarm rate of each rule before it goes live.

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Actor, Alert, Journal, JournalError, MAX_COMMENT_LEN};

/// Chain kind of a verdict.
pub const SHADOW_VERDICT: &str = "shadow_verdict";

/// An evaluator's verdict on a shadow alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The situation was real: the rule was right.
    TrueAlarm,
    /// Nothing to signal: a false alarm.
    FalseAlarm,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TrueAlarm => "true_alarm",
            Verdict::FalseAlarm => "false_alarm",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::TrueAlarm, Verdict::FalseAlarm]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The newest verdict on a shadow alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub verdict: Verdict,
    pub by: String,
    pub role: String,
    pub comment: Option<String>,
    /// When it was journaled (the event's time, not in its body).
    #[serde(default)]
    pub at_ms: i64,
}

/// A shadow alert with its newest verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowAlert {
    #[serde(flatten)]
    pub alert: Alert,
    pub verdict: Option<VerdictRecord>,
}

/// The newest verdict of each alert: `alert_id`, `verdict`, `body`, `at_ms`.
const LAST_VERDICTS: &str = "
WITH v AS (SELECT id, at_ms, body, json_extract(body, '$.alert_id') AS alert_id,
                  json_extract(body, '$.verdict') AS verdict
           FROM audit_events WHERE kind = 'shadow_verdict'),
last AS (SELECT alert_id, verdict, body, at_ms FROM v
         WHERE id IN (SELECT MAX(id) FROM v GROUP BY alert_id))";

impl Journal {
    /// Records `actor`'s verdict on shadow alert `id` (chained). `NotFound` when `id` is not a
    /// shadow alert.
    pub fn judge_shadow(
        &self,
        id: i64,
        verdict: Verdict,
        actor: &Actor,
        comment: Option<&str>,
    ) -> Result<VerdictRecord, JournalError> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_LEN) {
            return Err(JournalError::Invalid(format!(
                "comment is longer than {MAX_COMMENT_LEN} characters"
            )));
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let shadow = tx
            .prepare_cached("SELECT 1 FROM alerts WHERE id = ?1 AND shadow = 1")?
            .exists([id])?;
        if !shadow {
            return Err(JournalError::NotFound(id));
        }
        let body = json!({
            "alert_id": id,
            "verdict": verdict.as_str(),
            "by": actor.name,
            "role": actor.role,
            "comment": comment,
        });
        let link = super::chain::record(&tx, SHADOW_VERDICT, &body)?;
        tx.commit()?;
        Ok(VerdictRecord {
            verdict,
            by: actor.name.clone(),
            role: actor.role.clone(),
            comment: comment.map(str::to_string),
            at_ms: link.at_ms,
        })
    }

    /// Newest first: up to `limit` shadow alerts with an id below `before_id`, each with its
    /// newest verdict.
    pub fn list_shadow(
        &self,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ShadowAlert>, JournalError> {
        let ids: Vec<i64> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM alerts WHERE shadow = 1 AND id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows =
                stmt.query_map(params![before_id.unwrap_or(i64::MAX), limit], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(alert) = self.get_any(id)? {
                out.push(ShadowAlert {
                    verdict: self.verdict(id)?,
                    alert,
                });
            }
        }
        Ok(out)
    }

    /// The newest verdict on alert `id`.
    pub fn verdict(&self, id: i64) -> Result<Option<VerdictRecord>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT body, at_ms FROM audit_events WHERE kind = 'shadow_verdict'
             AND json_extract(body, '$.alert_id') = ?1 ORDER BY id DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let body: String = row.get(0)?;
        let mut record: VerdictRecord = serde_json::from_str(&body)
            .map_err(|e| JournalError::Corrupt(format!("shadow verdict of alert {id}: {e}")))?;
        record.at_ms = row.get(1)?;
        Ok(Some(record))
    }

    /// Per camera and rule, the shadow alerts created at or after `since_ms`: how many, how many
    /// judged true and false, and the false-alarm share of the judged ones (null before any).
    pub fn shadow_stats(&self, since_ms: i64) -> Result<Value, JournalError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "{LAST_VERDICTS}
             SELECT a.camera_id, a.rule_id, a.event_type, COUNT(*),
                    COALESCE(SUM(l.verdict = 'true_alarm'), 0),
                    COALESCE(SUM(l.verdict = 'false_alarm'), 0)
             FROM alerts a LEFT JOIN last l ON l.alert_id = a.id
             WHERE a.shadow = 1 AND a.created_at_ms >= ?1
             GROUP BY a.camera_id, a.rule_id, a.event_type
             ORDER BY a.camera_id, a.rule_id"
        ))?;
        let rows = stmt.query_map([since_ms], |r| {
            let (alerts, true_alarms, false_alarms): (i64, i64, i64) =
                (r.get(3)?, r.get(4)?, r.get(5)?);
            let judged = true_alarms + false_alarms;
            Ok(json!({
                "camera_id": r.get::<_, String>(0)?,
                "rule_id": r.get::<_, String>(1)?,
                "event_type": r.get::<_, String>(2)?,
                "alerts": alerts,
                "true_alarm": true_alarms,
                "false_alarm": false_alarms,
                "unjudged": alerts - judged,
                "false_alarm_share": (judged > 0).then(|| false_alarms as f64 / judged as f64),
            }))
        })?;
        Ok(Value::Array(rows.collect::<Result<Vec<_>, _>>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::new_alert;
    use super::super::{AlertBus, AlertStatus, TransitionInput};
    use super::*;
    use crate::metrics::Metrics;

    fn actor(name: &str, role: &str) -> Actor {
        Actor {
            name: name.into(),
            role: role.into(),
            supervisor: role == "supervisor",
        }
    }

    /// A shadow alert is journaled and chained, reaches no live subscriber, no list, no life
    /// cycle; its verdicts are chained and the newest counts in the rate.
    #[test]
    fn shadow_alerts_are_journaled_judged_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let journal = std::sync::Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
        let metrics = Metrics::new();
        let bus = AlertBus::new(journal.clone(), 8, metrics.clone());
        let mut rx = bus.subscribe();
        let live = bus
            .publish(new_alert("c1"), std::time::Instant::now())
            .unwrap();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let mut new = new_alert("c1");
            new.shadow = true;
            let a = bus.publish(new, std::time::Instant::now()).unwrap();
            assert!(a.shadow);
            ids.push(a.id);
        }
        // Only the live alert was broadcast, listed, resumable, readable by id.
        assert_eq!(rx.try_recv().unwrap().id, live.id);
        assert!(rx.try_recv().is_err());
        let listed: Vec<i64> = journal
            .list(None, 10)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(listed, vec![live.id]);
        assert_eq!(journal.after(0, 10).unwrap().len(), 1);
        assert_eq!(journal.get(ids[0]).unwrap(), None);
        assert!(journal.get_any(ids[0]).unwrap().unwrap().shadow);
        assert!(!serde_json::to_string(&*live).unwrap().contains("shadow"));
        let text = metrics.render();
        assert!(text.contains("vigie_alerts_shadow_total{camera=\"c1\",rule=\"zone-intrusion\"} 3"));
        assert!(text.contains("vigie_alerts_total{camera=\"c1\",rule=\"zone-intrusion\"} 1"));
        // No life cycle for a shadow alert.
        let take = TransitionInput {
            action: super::super::Action::Take,
            reason: None,
            comment: None,
        };
        assert!(matches!(
            journal.transition(ids[0], &take, &actor("lou", "operator")),
            Err(JournalError::NotFound(_))
        ));
        // Verdicts: the newest counts; a live alert cannot be judged.
        let sam = actor("sam", "supervisor");
        journal
            .judge_shadow(ids[0], Verdict::TrueAlarm, &sam, None)
            .unwrap();
        journal
            .judge_shadow(ids[0], Verdict::FalseAlarm, &sam, Some(" ombre "))
            .unwrap();
        journal
            .judge_shadow(ids[1], Verdict::TrueAlarm, &sam, None)
            .unwrap();
        assert!(matches!(
            journal.judge_shadow(live.id, Verdict::TrueAlarm, &sam, None),
            Err(JournalError::NotFound(_))
        ));
        let v = journal.verdict(ids[0]).unwrap().unwrap();
        assert_eq!(
            (v.verdict, v.by.as_str(), v.comment.as_deref()),
            (Verdict::FalseAlarm, "sam", Some("ombre"))
        );
        let page = journal.list_shadow(None, 10).unwrap();
        assert_eq!(page.len(), 3);
        assert_eq!(page[0].alert.id, ids[2]);
        assert!(page[0].verdict.is_none());
        let s = journal.shadow_stats(0).unwrap();
        assert_eq!(s[0]["alerts"], 3);
        assert_eq!(
            (s[0]["true_alarm"].as_i64(), s[0]["false_alarm"].as_i64()),
            (Some(1), Some(1))
        );
        assert_eq!(s[0]["unjudged"], 1);
        assert_eq!(s[0]["false_alarm_share"], 0.5);
        // Live figures leave shadow alerts out.
        let stats = journal.stats(0).unwrap();
        assert_eq!(stats["alerts_by_status"]["new"], 1);
        assert_eq!(stats["shadow"][0]["alerts"], 3);
        assert_eq!(
            journal.get_any(ids[0]).unwrap().unwrap().status,
            AlertStatus::New
        );
        // Everything chained: alerts with their flag, verdicts.
        let report = journal.verify().unwrap();
        assert!(report.intact(), "{:?}", report.problems);
        journal
            .lock()
            .execute("UPDATE alerts SET shadow = NULL WHERE id = ?1", [ids[2]])
            .unwrap();
        assert!(!journal.verify().unwrap().intact());
    }
}
