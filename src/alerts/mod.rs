//! Alerts: the journal every alert is committed to before anyone hears of it, the snapshot that
//! shows the operator what triggered it, and the bus that tells live consoles.
//!
//! An alert is a *signal* for a human operator. It stays `new` until an operator takes it
//! (`acknowledged`) and decides (`confirmed` or `false_alarm`), then closes it (`closed`); the
//! engine itself never acts on an alert. Every step is kept in an append-only history
//! ([`lifecycle`]), the alert's status being where the latest step left it.
//!
//! Every row of the record is linked in a SHA-256 hash chain as it is written ([`chain`]);
//! [`verify`] checks it, [`retention`] purges old images and rows leaving tombstones, and
//! [`versions`] keeps every configuration that has been in force.

pub mod chain;
#[cfg(test)]
mod governance_tests;
mod journal;
pub mod lifecycle;
mod outbox;
pub mod retention;
mod snapshot;
mod stats;
pub mod verify;
pub mod versions;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::detect::BBox;
use crate::metrics::Metrics;

pub use journal::{Journal, JournalError, SCHEMA_VERSION};
pub use lifecycle::{Action, Actor, Conflict, FalseAlarmReason, Step, Transition, TransitionInput};
pub use outbox::{
    camera_state_of, now_ms, OutboxItem, OutboxKind, OutboxStats, DELIVERED_RETENTION_MS,
};
pub use retention::{ImagePurge, PurgeReport};
pub use snapshot::{render_snapshot, AlertError};
pub use versions::ConfigVersion;

/// Longest operator name accepted with a decision (characters, after trimming).
pub const MAX_OPERATOR_LEN: usize = 100;
/// Longest decision comment accepted (characters, after trimming).
pub const MAX_COMMENT_LEN: usize = 2000;

/// One object drawn on an alert: what it is, how sure the detector was, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertBox {
    pub class_id: u16,
    pub label: String,
    pub score: f32,
    /// `[x1, y1, x2, y2]`, normalised 0..1 of the frame.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl AlertBox {
    pub fn new(class_id: u16, label: impl Into<String>, score: f32, bbox: BBox) -> Self {
        AlertBox {
            class_id,
            label: label.into(),
            score,
            bbox: [bbox.x1, bbox.y1, bbox.x2, bbox.y2],
        }
    }

    pub fn to_bbox(&self) -> BBox {
        BBox::new(self.bbox[0], self.bbox[1], self.bbox[2], self.bbox[3])
    }
}

/// An alert as the rules stage hands it to the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub camera_id: String,
    pub camera_name: String,
    pub rule_id: String,
    pub event_type: String,
    pub zone_id: Option<String>,
    /// Wall clock of the triggering frame, milliseconds since the Unix epoch.
    pub frame_time_ms: i64,
    /// Stream timestamp of the triggering frame.
    pub stream_ts_ns: u64,
    pub confidence: f32,
    pub track_id: Option<u64>,
    pub boxes: Vec<AlertBox>,
    /// Plain-language reason, shown to the operator.
    pub explanation: String,
    /// JPEG bytes from [`render_snapshot`]; empty when there is no image.
    pub snapshot_jpeg: Vec<u8>,
    /// The configuration version in force when the alert fired ([`Journal::record_config`]).
    pub config_version: Option<i64>,
}

/// Where an alert stands in its life cycle (see [`lifecycle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Nobody has taken it yet (or it was released, or a decision was reopened).
    New,
    /// Taken by an operator, who is deciding.
    Acknowledged,
    Confirmed,
    FalseAlarm,
    /// Decided and dealt with.
    Closed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 5] = [
        AlertStatus::New,
        AlertStatus::Acknowledged,
        AlertStatus::Confirmed,
        AlertStatus::FalseAlarm,
        AlertStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Confirmed => "confirmed",
            AlertStatus::FalseAlarm => "false_alarm",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What an operator decided about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Confirmed,
    FalseAlarm,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Confirmed => "confirmed",
            DecisionKind::FalseAlarm => "false_alarm",
        }
    }

    pub fn parse(s: &str) -> Option<DecisionKind> {
        match s {
            "confirmed" => Some(DecisionKind::Confirmed),
            "false_alarm" => Some(DecisionKind::FalseAlarm),
            _ => None,
        }
    }

    pub fn status(self) -> AlertStatus {
        match self {
            DecisionKind::Confirmed => AlertStatus::Confirmed,
            DecisionKind::FalseAlarm => AlertStatus::FalseAlarm,
        }
    }

    /// The life-cycle step that records this decision.
    pub fn action(self) -> Action {
        match self {
            DecisionKind::Confirmed => Action::Confirm,
            DecisionKind::FalseAlarm => Action::FalseAlarm,
        }
    }
}

/// One recorded decision (a step of the append-only history).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The id of its step in the history.
    pub id: i64,
    pub alert_id: i64,
    pub decision: DecisionKind,
    /// The authenticated account that decided (or `token:<name>`); for decisions recorded
    /// before accounts existed, the name that was typed.
    pub operator: String,
    /// The account's role when it decided (`null` for decisions from before accounts).
    pub role: Option<String>,
    /// Why a false alarm is one.
    pub reason: Option<FalseAlarmReason>,
    pub comment: Option<String>,
    pub decided_at_ms: i64,
}

/// A decision for [`Journal::decide`], the life cycle's confirm or false-alarm step with an
/// operator's role; `operator` is the account, never a typed name.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionInput {
    pub decision: DecisionKind,
    pub operator: String,
    pub reason: Option<FalseAlarmReason>,
    pub comment: Option<String>,
}

/// A journaled alert, without its snapshot bytes (see `snapshot_url`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub camera_id: String,
    pub camera_name: String,
    pub rule_id: String,
    pub event_type: String,
    pub zone_id: Option<String>,
    pub frame_time_ms: i64,
    pub stream_ts_ns: u64,
    pub created_at_ms: i64,
    pub confidence: f32,
    pub track_id: Option<u64>,
    pub boxes: Vec<AlertBox>,
    pub explanation: String,
    pub status: AlertStatus,
    /// `/api/alerts/{id}/snapshot.jpg`, or `None` when the alert has no image (any more).
    pub snapshot_url: Option<String>,
    /// Set when a retention purge deleted the image: when, and the retention it applied.
    pub image_purged: Option<ImagePurge>,
    /// The configuration version in force when the alert fired (`vigie audit config-at`).
    pub config_version: Option<i64>,
    /// SHA-256 of the detection model of that configuration.
    pub model_sha256: Option<String>,
    /// Who took it, while it is `acknowledged`.
    pub acknowledged: Option<Step>,
    /// The decision it stands on, while `confirmed`, `false_alarm` or `closed`.
    pub decision: Option<Decision>,
    /// Who closed it, while `closed`.
    pub closed: Option<Step>,
}

/// Journals alerts, then tells live subscribers. Cheap to clone; usable from any thread (the
/// detector threads are not async).
#[derive(Clone)]
pub struct AlertBus {
    journal: Arc<Journal>,
    alerts: broadcast::Sender<Arc<Alert>>,
    decisions: broadcast::Sender<Arc<Alert>>,
    metrics: Metrics,
    /// Held across "insert then send" so subscribers see alerts in id order.
    order: Arc<Mutex<()>>,
    /// Decides, before anything is journaled, whether an event may become an alert.
    gate: Option<Arc<dyn Gate>>,
}

/// What stands between an event and an alert: the authorisations in force and the stop switch
/// (`governance::gate`). Camera faults must always pass.
pub trait Gate: Send + Sync {
    /// `Err(reason)` when `new` must not be raised now.
    fn admit(&self, new: &NewAlert) -> Result<(), String>;
}

/// Default capacity of the live broadcast channels.
pub const DEFAULT_BUS_CAPACITY: usize = 256;

impl AlertBus {
    /// A bus over `journal`; `capacity` is how many alerts a slow subscriber may fall behind
    /// before it lags (and must resync from the journal). At least 1.
    pub fn new(journal: Arc<Journal>, capacity: usize, metrics: Metrics) -> Self {
        let capacity = capacity.max(1);
        let (alerts, _) = broadcast::channel(capacity);
        let (decisions, _) = broadcast::channel(capacity);
        AlertBus {
            journal,
            alerts,
            decisions,
            metrics,
            order: Arc::new(Mutex::new(())),
            gate: None,
        }
    }

    /// Every alert published from now on passes `gate` first.
    pub fn with_gate(mut self, gate: Arc<dyn Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Passes the gate (`Withheld` when it refuses: nothing is journaled), journals the alert
    /// (committed when this returns), then broadcasts it. No subscriber is fine. Records `frame_to_alert_seconds` from `frame_captured` and counts the alert.
    pub fn publish(
        &self,
        new: NewAlert,
        frame_captured: Instant,
    ) -> Result<Arc<Alert>, JournalError> {
        // A poisoned lock only means a panic elsewhere; the unit guard holds no data.
        if let Some(gate) = &self.gate {
            if let Err(reason) = gate.admit(&new) {
                self.metrics
                    .alerts_withheld
                    .with_label_values(&[new.camera_id.as_str(), new.rule_id.as_str()])
                    .inc();
                return Err(JournalError::Withheld(reason));
            }
        }
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let alert = Arc::new(self.journal.insert(&new)?);
        let labels = [alert.camera_id.as_str(), alert.rule_id.as_str()];
        self.metrics
            .frame_to_alert_seconds
            .with_label_values(&labels)
            .observe(frame_captured.elapsed().as_secs_f64());
        self.metrics.alerts.with_label_values(&labels).inc();
        // An error only means nobody is listening right now; the journal has the alert.
        let _ = self.alerts.send(alert.clone());
        Ok(alert)
    }

    /// Live alerts, in id order, from now on. A receiver that falls more than the capacity
    /// behind gets `RecvError::Lagged` and must read the journal to catch up.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Alert>> {
        self.alerts.subscribe()
    }

    /// Records an operator's decision (journaled when this returns), then tells live consoles
    /// with the updated alert. Nothing else happens: the engine never acts on a decision.
    pub fn decide(&self, id: i64, input: &DecisionInput) -> Result<Arc<Alert>, JournalError> {
        let alert = Arc::new(self.journal.decide(id, input)?);
        let _ = self.decisions.send(alert.clone());
        Ok(alert)
    }

    /// Applies a step of the life cycle (journaled when this returns); when it changed
    /// something, tells live consoles with the updated alert.
    pub fn transition(
        &self,
        id: i64,
        input: &TransitionInput,
        actor: &Actor,
    ) -> Result<(Arc<Alert>, Option<Transition>), JournalError> {
        let (alert, step) = self.journal.transition(id, input, actor)?;
        let alert = Arc::new(alert);
        if step.is_some() {
            let _ = self.decisions.send(alert.clone());
        }
        Ok((alert, step))
    }

    /// Alerts whose status an operator just changed (best effort: lagging receivers skip).
    pub fn subscribe_decisions(&self) -> broadcast::Receiver<Arc<Alert>> {
        self.decisions.subscribe()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A plausible alert for camera `cam`.
    pub fn new_alert(camera: &str) -> NewAlert {
        NewAlert {
            camera_id: camera.to_string(),
            camera_name: format!("Camera {camera}"),
            rule_id: "zone-intrusion".to_string(),
            event_type: "intrusion".to_string(),
            zone_id: Some("parvis".to_string()),
            frame_time_ms: 1_700_000_000_000,
            stream_ts_ns: 12_000_000_000,
            confidence: 0.82,
            track_id: Some(7),
            boxes: vec![AlertBox::new(
                0,
                "person",
                0.82,
                BBox::new(0.1, 0.2, 0.3, 0.9),
            )],
            explanation: "person in zone parvis for 3.0 s".to_string(),
            snapshot_jpeg: vec![0xFF, 0xD8, 0xFF, 0xD9],
            config_version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::new_alert;
    use super::*;

    #[test]
    fn bus_broadcasts_only_after_the_row_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Arc::new(Journal::open(&path).unwrap());
        let metrics = Metrics::new();
        let bus = AlertBus::new(journal, 16, metrics.clone());
        let mut rx = bus.subscribe();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let alert = rx.blocking_recv().unwrap();
                // A second, independent connection must already see the row.
                let conn = rusqlite::Connection::open(&reader_path).unwrap();
                let camera: String = conn
                    .query_row(
                        "SELECT camera_id FROM alerts WHERE id = ?1",
                        [alert.id],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(camera, alert.camera_id);
                seen.push(alert.id);
            }
            seen
        });
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(bus.publish(new_alert("c1"), Instant::now()).unwrap().id);
        }
        assert_eq!(reader.join().unwrap(), ids);
        let text = metrics.render();
        assert!(text.contains("vigie_alerts_total{camera=\"c1\",rule=\"zone-intrusion\"} 5"));
        assert!(text.contains("vigie_alerts_frame_to_alert_seconds_count"));
    }

    #[test]
    fn publish_without_subscribers_still_journals() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
        let bus = AlertBus::new(journal.clone(), 4, Metrics::new());
        let alert = bus.publish(new_alert("c1"), Instant::now()).unwrap();
        assert_eq!(journal.get(alert.id).unwrap(), Some((*alert).clone()));
    }

    #[test]
    fn bus_decision_is_journaled_and_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
        let bus = AlertBus::new(journal.clone(), 4, Metrics::new());
        let alert = bus.publish(new_alert("c1"), Instant::now()).unwrap();
        let mut rx = bus.subscribe_decisions();
        let input = DecisionInput {
            decision: DecisionKind::FalseAlarm,
            operator: "Camille".into(),
            reason: Some(FalseAlarmReason::Animal),
            comment: None,
        };
        let updated = bus.decide(alert.id, &input).unwrap();
        assert_eq!(updated.status, AlertStatus::FalseAlarm);
        assert_eq!(rx.try_recv().unwrap().id, alert.id);
        assert_eq!(
            journal.get(alert.id).unwrap().unwrap().status,
            AlertStatus::FalseAlarm
        );
    }
}
