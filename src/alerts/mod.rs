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
mod clips;
#[cfg(test)]
mod governance_tests;
mod journal;
pub mod lifecycle;
mod outbox;
pub mod retention;
pub mod shadow;
mod snapshot;
mod stats;
mod stills;
pub mod verify;
pub mod versions;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::detect::BBox;
use crate::frames::Frame;
use crate::metrics::{LatencySamples, Metrics};
use crate::rules::{Event, EventType, IncidentRef, Measurement};

pub use clips::{ClipFileInfo, ClipRecord, NewClip};
pub use journal::{read_alert, Journal, JournalError, SCHEMA_VERSION};
pub use lifecycle::{Action, Actor, Conflict, FalseAlarmReason, Step, Transition, TransitionInput};
pub use outbox::{
    camera_state_of, now_ms, OutboxItem, OutboxKind, OutboxStats, DELIVERED_RETENTION_MS,
};
pub use retention::{ImagePurge, PurgeReport};
pub use shadow::{ShadowAlert, Verdict, VerdictRecord};
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

/// An alert as the rules stage hands it to the journal ([`NewAlert::from_event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub camera_id: String,
    pub camera_name: String,
    pub rule_id: String,
    pub event_type: EventType,
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
    /// The measured values and thresholds behind the explanation.
    pub measurements: Vec<Measurement>,
    /// How many people the alert is about, when the rule counts them.
    pub people: Option<u32>,
    /// The rule's incident: opened by this alert, or updated by it.
    pub incident: Option<IncidentRef>,
    /// The journal id of the incident's first alert, for an update; [`AlertBus::publish`] fills
    /// it in from `incident`. The journal stores the alert's own id for an alert that opens an
    /// incident.
    pub incident_id: Option<i64>,
    /// JPEG bytes from [`render_snapshot`]; empty when there is no image.
    pub snapshot_jpeg: Vec<u8>,
    /// The configuration version in force when the alert fired ([`Journal::record_config`]).
    pub config_version: Option<i64>,
    /// Raised by a rule in `mode = "shadow"`: journaled, never delivered (see [`AlertBus::publish`]).
    pub shadow: bool,
    /// A clip of the alert is on its way (the camera's stream is tapped); [`AlertBus::publish`]
    /// fills it in from its [`ClipPolicy`].
    pub clip_expected: bool,
    /// A full-resolution still of the alert's instant will be attached after it
    /// ([`Journal::attach_still`]): the snapshot is then the detector's frame.
    pub still_expected: bool,
}

/// Where and when an event was seen: what its alert needs besides the event itself.
#[derive(Debug, Clone, Copy)]
pub struct AlertOrigin<'a> {
    pub camera_id: &'a str,
    pub camera_name: &'a str,
    /// The detector's labels, by class id, to name the boxes.
    pub labels: &'a [String],
    /// The frame the snapshot is drawn on; `None`: the alert has no image.
    pub frame: Option<&'a Frame>,
    /// Wall clock of the alert's moment, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Stream timestamp of the alert's moment.
    pub stream_ts_ns: u64,
    /// The configuration version the camera's rules come from ([`Journal::record_config`]).
    pub config_version: Option<i64>,
    /// The event's rule is in `mode = "shadow"`.
    pub shadow: bool,
}

impl NewAlert {
    /// The one way an event becomes an alert, rule events and camera faults alike: boxes named
    /// with their labels, the snapshot drawn with the event's overlay.
    pub fn from_event(event: &Event, origin: &AlertOrigin<'_>) -> NewAlert {
        let boxes = alert_boxes(event, origin.labels);
        let snapshot_jpeg = origin
            .frame
            .map(|f| {
                draw(&boxes, event, f).unwrap_or_else(|e| {
                    tracing::error!(camera = %origin.camera_id, error = %e, "snapshot failed; alert kept without it");
                    Vec::new()
                })
            })
            .unwrap_or_default();
        NewAlert {
            camera_id: origin.camera_id.to_string(),
            camera_name: origin.camera_name.to_string(),
            rule_id: event.rule_id.clone(),
            event_type: event.event_type,
            zone_id: event.zone_id.clone(),
            frame_time_ms: origin.time_ms,
            stream_ts_ns: origin.stream_ts_ns,
            confidence: event.confidence,
            track_id: event.track_id(),
            boxes,
            explanation: event.explanation.clone(),
            measurements: event.measurements.clone(),
            people: event.people,
            incident: event.incident,
            incident_id: None,
            snapshot_jpeg,
            config_version: origin.config_version,
            shadow: origin.shadow,
            clip_expected: false,
            still_expected: false,
        }
    }
}

/// The event's objects as alert boxes, named with the detector's `labels`.
fn alert_boxes(event: &Event, labels: &[String]) -> Vec<AlertBox> {
    let label = |class_id: u16| {
        labels
            .get(usize::from(class_id))
            .cloned()
            .unwrap_or_else(|| format!("class {class_id}"))
    };
    event
        .objects
        .iter()
        .map(|o| AlertBox::new(o.class_id, label(o.class_id), o.score, o.bbox))
        .collect()
}

fn draw(boxes: &[AlertBox], event: &Event, frame: &Frame) -> Result<Vec<u8>, AlertError> {
    let drawn: Vec<(BBox, String)> = boxes
        .iter()
        .map(|b| (b.to_bbox(), b.label.clone()))
        .collect();
    render_snapshot(frame, &drawn, &event.overlay)
}

/// The image of `event` drawn on `frame` as its alert's snapshot is (boxes named with the
/// detector's `labels`, the event's overlay): the full-resolution still attached later.
pub fn render_event(
    event: &Event,
    labels: &[String],
    frame: &Frame,
) -> Result<Vec<u8>, AlertError> {
    draw(&alert_boxes(event, labels), event, frame)
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
    /// The measured values and thresholds behind the explanation (empty for older alerts).
    pub measurements: Vec<Measurement>,
    /// How many people the alert is about, when the rule counts them.
    pub people: Option<u32>,
    /// The id of the incident's first alert (its own id for that first alert); `None` for an
    /// alert that belongs to no incident.
    pub incident_id: Option<i64>,
    pub status: AlertStatus,
    /// `/api/alerts/{id}/snapshot.jpg`, or `None` when the alert has no image (any more).
    pub snapshot_url: Option<String>,
    /// Set when a retention purge deleted the image: when, and the retention it applied.
    pub image_purged: Option<ImagePurge>,
    /// `/api/alerts/{id}/clip.mp4` while the alert's clip is on its way or kept; `None` when
    /// its camera has no clip, the clip could not be made, or a purge deleted it.
    pub clip_url: Option<String>,
    /// `/api/alerts/{id}/still.jpg`: the main stream's full-resolution picture of the alert's
    /// instant, attached after the alert (a camera whose detection reads its sub-stream); `None`
    /// while it is on its way (`still_pending`), when there is none, or after a purge.
    pub still_url: Option<String>,
    /// The full-resolution still is on its way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub still_pending: bool,
    /// Why the still could not be made (the snapshot, the detector's frame, stays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_error: Option<String>,
    /// The configuration version in force when the alert fired (`vigie audit config-at`).
    pub config_version: Option<i64>,
    /// SHA-256 of the detection model of that configuration.
    pub model_sha256: Option<String>,
    /// A shadow alert (rule in `mode = "shadow"`): shown to no operator, delivered nowhere;
    /// reviewed in `/api/shadow-alerts`. Absent from the JSON of live alerts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
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
    /// Held across "insert then send" so subscribers see alerts in id order; holds the journal
    /// ids of the incidents' first alerts.
    order: Arc<Mutex<IncidentIds>>,
    /// Decides, before anything is journaled, whether an event may become an alert.
    gate: Option<Arc<dyn Gate>>,
    /// Says whether an alert will have a clip.
    clips: Option<Arc<dyn ClipPolicy>>,
    /// Frame-to-alert times of the alerts journaled (`vigie bench capacity`).
    latency: Option<Arc<LatencySamples>>,
}

/// Journal id of the first alert of each recent incident (rule incident id → alert id), the
/// oldest forgotten beyond [`IncidentIds::CAPACITY`].
#[derive(Default)]
struct IncidentIds {
    ids: std::collections::HashMap<u64, i64>,
    order: std::collections::VecDeque<u64>,
}

impl IncidentIds {
    const CAPACITY: usize = 4096;

    fn insert(&mut self, incident: u64, alert: i64) {
        if self.ids.insert(incident, alert).is_none() {
            self.order.push_back(incident);
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// What stands between an event and an alert: the authorisations in force and the stop switch
/// (`governance::gate`). Camera faults must always pass.
pub trait Gate: Send + Sync {
    /// `Err(reason)` when `new` must not be raised now.
    fn admit(&self, new: &NewAlert) -> Result<(), String>;
}

/// Whether a clip of an alert will be made (its camera's compressed stream is tapped).
pub trait ClipPolicy: Send + Sync {
    fn expects_clip(&self, new: &NewAlert) -> bool;
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
            order: Arc::new(Mutex::new(IncidentIds::default())),
            gate: None,
            clips: None,
            latency: None,
        }
    }

    /// Every alert published from now on says whether `clips` will make its clip.
    pub fn with_clips(mut self, clips: Arc<dyn ClipPolicy>) -> Self {
        self.clips = Some(clips);
        self
    }

    /// Every live alert journaled from now on records its frame-to-alert time in `samples`
    /// (capture to journal commit, as `vigie_alerts_frame_to_alert_seconds` observes it).
    pub fn with_alert_latency(mut self, samples: Arc<LatencySamples>) -> Self {
        self.latency = Some(samples);
        self
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

    /// Passes the gate (`Withheld` when it refuses: nothing is journaled; shadow alerts too: a
    /// rule that may not run live may not run in shadow either), journals the alert (committed
    /// when this returns), then broadcasts it (a shadow alert is only journaled and counted in
    /// `vigie_alerts_shadow_total`). No subscriber is
    /// fine. An update of an incident is linked to the incident's first alert (one that this bus
    /// no longer knows of opens a new incident). Records `frame_to_alert_seconds` from
    /// `frame_captured` and counts the alert.
    pub fn publish(
        &self,
        mut new: NewAlert,
        frame_captured: Instant,
    ) -> Result<Arc<Alert>, JournalError> {
        if let Some(gate) = &self.gate {
            if let Err(reason) = gate.admit(&new) {
                self.metrics
                    .alerts_withheld
                    .with_label_values(&[new.camera_id.as_str(), new.rule_id.as_str()])
                    .inc();
                return Err(JournalError::Withheld(reason));
            }
        }
        if let Some(clips) = &self.clips {
            // A shadow alert is not broadcast: nobody would make its clip.
            new.clip_expected = !new.shadow && clips.expects_clip(&new);
        }
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        let mut incidents = self.order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inc) = new.incident {
            new.incident_id = inc
                .update
                .then(|| incidents.ids.get(&inc.id).copied())
                .flatten();
        }
        let alert = Arc::new(self.journal.insert(&new)?);
        if let (Some(inc), Some(first)) = (new.incident, alert.incident_id) {
            incidents.insert(inc.id, first);
        }
        let labels = [alert.camera_id.as_str(), alert.rule_id.as_str()];
        if alert.shadow {
            // Journaled for the evaluators; no operator, output or live console hears of it.
            self.metrics.alerts_shadow.with_label_values(&labels).inc();
            return Ok(alert);
        }
        let secs = frame_captured.elapsed().as_secs_f64();
        self.metrics
            .frame_to_alert_seconds
            .with_label_values(&labels)
            .observe(secs);
        if let Some(samples) = &self.latency {
            samples.record(secs);
        }
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

    /// Attaches the full-resolution still of alert `id` (or why there is none; see
    /// [`Journal::attach_still`]), then tells live consoles with the updated alert (not for a
    /// shadow alert).
    pub fn attach_still(
        &self,
        id: i64,
        still: Result<&[u8], &str>,
    ) -> Result<Arc<Alert>, JournalError> {
        let alert = Arc::new(self.journal.attach_still(id, still)?);
        if !alert.shadow {
            let _ = self.decisions.send(alert.clone());
        }
        Ok(alert)
    }

    /// Alerts whose status an operator just changed, or whose still was just attached (best
    /// effort: lagging receivers skip).
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
            event_type: EventType::Intrusion,
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
            measurements: vec![Measurement::new("dwell", 3.0, Some(1.0), "s")],
            people: Some(1),
            incident: None,
            incident_id: None,
            snapshot_jpeg: vec![0xFF, 0xD8, 0xFF, 0xD9],
            config_version: None,
            shadow: false,
            clip_expected: false,
            still_expected: false,
        }
    }

    /// A plausible clip file at `path`, as the clip writer journals it.
    pub fn clip_info(path: impl Into<std::path::PathBuf>) -> ClipFileInfo {
        ClipFileInfo {
            path: path.into(),
            sha256: "ab".repeat(32),
            bytes: 1000,
            duration_ms: 10_000,
            start_ms: 1,
            frames: 100,
            codec: "h264".into(),
            method: "remux".into(),
            masked: false,
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
    fn alert_latency_is_sampled_at_the_journal_commit_for_live_alerts_only() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
        let samples = Arc::new(LatencySamples::default());
        let bus = AlertBus::new(journal, 4, Metrics::new()).with_alert_latency(samples.clone());
        let captured = Instant::now() - std::time::Duration::from_millis(250);
        bus.publish(new_alert("c1"), captured).unwrap();
        let mut shadow = new_alert("c1");
        shadow.shadow = true;
        bus.publish(shadow, captured).unwrap();
        let got = samples.take();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!((0.25..1.0).contains(&got[0]), "{got:?}");
    }

    #[test]
    fn incident_updates_are_linked_to_the_first_alert() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
        let bus = AlertBus::new(journal.clone(), 4, Metrics::new());
        let with = |id: u64, update: bool| {
            let mut a = new_alert("c1");
            a.incident = Some(IncidentRef { id, update });
            a
        };
        let first = bus.publish(with(501, false), Instant::now()).unwrap();
        assert_eq!(first.incident_id, Some(first.id));
        let other = bus.publish(with(502, false), Instant::now()).unwrap();
        let update = bus.publish(with(501, true), Instant::now()).unwrap();
        assert_eq!(update.incident_id, Some(first.id));
        assert_eq!(other.incident_id, Some(other.id));
        // An update of an incident the bus never saw (e.g. before a restart) opens its own.
        let orphan = bus.publish(with(777, true), Instant::now()).unwrap();
        assert_eq!(orphan.incident_id, Some(orphan.id));
        // No incident at all (a camera fault).
        let fault = bus.publish(new_alert("c1"), Instant::now()).unwrap();
        assert_eq!(fault.incident_id, None);
        assert_eq!(
            journal.get(update.id).unwrap().unwrap().incident_id,
            Some(first.id)
        );
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
