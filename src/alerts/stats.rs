//! Statistics for supervisors (`GET /api/stats`): where alerts stand, how operators decided them
//! per camera and event type (the share of false alarms is the number to watch), why false
//! alarms were dismissed, and how long a first decision took. Read from the journal as it is.

use serde_json::{json, Value};

use super::lifecycle::STEP_JOINS;
use super::{Journal, JournalError};

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Journal {
    /// Counts over the live alerts created at or after `since_ms`, and the shadow alerts'
    /// verdicts apart (`shadow`, see [`Journal::shadow_stats`]).
    pub fn stats(&self, since_ms: i64) -> Result<Value, JournalError> {
        let mut out = self.live_stats(since_ms)?;
        out["shadow"] = self.shadow_stats(since_ms)?;
        Ok(out)
    }

    fn live_stats(&self, since_ms: i64) -> Result<Value, JournalError> {
        let conn = self.lock();
        let mut by_status = serde_json::Map::new();
        for s in super::AlertStatus::ALL {
            by_status.insert(s.as_str().to_string(), json!(0));
        }
        let mut stmt = conn.prepare_cached(
            "SELECT status, COUNT(*) FROM alerts WHERE created_at_ms >= ?1 AND shadow IS NULL
             GROUP BY status",
        )?;
        for row in stmt.query_map([since_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (status, n) = row?;
            by_status.insert(status, json!(n));
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT a.camera_id, a.event_type, COUNT(*),
                    COALESCE(SUM(d.action = 'confirm'), 0), COALESCE(SUM(d.action = 'false_alarm'), 0)
             FROM alerts a {STEP_JOINS}
             WHERE a.created_at_ms >= ?1 AND a.shadow IS NULL GROUP BY a.camera_id, a.event_type
             ORDER BY a.camera_id, a.event_type"
        ))?;
        let rows = stmt.query_map([since_ms], |r| {
            let (alerts, confirmed, false_alarms): (i64, i64, i64) =
                (r.get(2)?, r.get(3)?, r.get(4)?);
            let decided = confirmed + false_alarms;
            Ok(json!({
                "camera_id": r.get::<_, String>(0)?,
                "event_type": r.get::<_, String>(1)?,
                "alerts": alerts,
                "confirmed": confirmed,
                "false_alarm": false_alarms,
                "undecided": alerts - decided,
                "false_alarm_share": (decided > 0).then(|| false_alarms as f64 / decided as f64),
            }))
        })?;
        let by_rule = rows.collect::<Result<Vec<_>, _>>()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT COALESCE(d.reason, 'unspecified'), COUNT(*) FROM alerts a {STEP_JOINS}
             WHERE a.created_at_ms >= ?1 AND a.shadow IS NULL AND d.action = 'false_alarm'
             GROUP BY 1 ORDER BY 1"
        ))?;
        let mut reasons = serde_json::Map::new();
        for row in stmt.query_map([since_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (reason, n) = row?;
            reasons.insert(reason, json!(n));
        }
        let mut stmt = conn.prepare_cached(
            "SELECT MIN(t.at_ms) - a.created_at_ms FROM alerts a
             JOIN alert_transitions t ON t.alert_id = a.id AND t.action IN ('confirm', 'false_alarm')
             WHERE a.created_at_ms >= ?1 AND a.shadow IS NULL GROUP BY a.id",
        )?;
        let mut delays = stmt
            .query_map([since_ms], |r| r.get::<_, i64>(0))?
            .map(|d| d.map(|ms| ms.max(0) as f64 / 1000.0))
            .collect::<Result<Vec<f64>, _>>()?;
        delays.sort_by(f64::total_cmp);
        Ok(json!({
            "since_ms": since_ms,
            "alerts_by_status": by_status,
            "by_camera_and_event_type": by_rule,
            "false_alarm_reasons": reasons,
            "first_decision_seconds": {
                "count": delays.len(),
                "median": quantile(&delays, 0.5),
                "p90": quantile(&delays, 0.9),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::new_alert;
    use super::super::{Action, Actor, FalseAlarmReason, TransitionInput};
    use super::*;

    #[test]
    fn counts_follow_the_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db")).unwrap();
        let lou = Actor {
            name: "lou".into(),
            role: "operator".into(),
            supervisor: false,
        };
        let step = |action, reason| TransitionInput {
            action,
            reason,
            comment: None,
        };
        for _ in 0..4 {
            j.insert(&new_alert("c1")).unwrap();
        }
        j.insert(&new_alert("c2")).unwrap();
        j.transition(1, &step(Action::Confirm, None), &lou).unwrap();
        j.transition(
            2,
            &step(Action::FalseAlarm, Some(FalseAlarmReason::Animal)),
            &lou,
        )
        .unwrap();
        j.transition(
            3,
            &step(Action::FalseAlarm, Some(FalseAlarmReason::Animal)),
            &lou,
        )
        .unwrap();
        j.transition(3, &step(Action::Close, None), &lou).unwrap();
        j.transition(4, &step(Action::Take, None), &lou).unwrap();
        let s = j.stats(0).unwrap();
        assert_eq!(s["alerts_by_status"]["confirmed"], 1);
        assert_eq!(s["alerts_by_status"]["closed"], 1);
        assert_eq!(s["alerts_by_status"]["acknowledged"], 1);
        assert_eq!(s["alerts_by_status"]["new"], 1);
        let c1 = &s["by_camera_and_event_type"][0];
        assert_eq!(
            (c1["camera_id"].as_str(), c1["alerts"].as_i64()),
            (Some("c1"), Some(4))
        );
        assert_eq!(
            (
                c1["confirmed"].as_i64(),
                c1["false_alarm"].as_i64(),
                c1["undecided"].as_i64()
            ),
            (Some(1), Some(2), Some(1))
        );
        assert!((c1["false_alarm_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!(s["by_camera_and_event_type"][1]["false_alarm_share"].is_null());
        assert_eq!(s["false_alarm_reasons"]["animal"], 2);
        assert_eq!(s["first_decision_seconds"]["count"], 3);
        assert_eq!(
            j.stats(i64::MAX).unwrap()["first_decision_seconds"]["count"],
            0
        );
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.9), Some(4.0));
    }
}
