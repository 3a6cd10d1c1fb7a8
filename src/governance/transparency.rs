//! Transparency (issue 10 §4): what the algorithm did for one alert, and what each camera is
//! analysed for, in plain French, built **only from what the journal recorded**, never from the
//! configuration file in force today:
//!
//! - [`explain`]: one alert's four parts: the system's contribution and the agents' decisions
//!   (the alert row and its life-cycle steps), the data and sources (camera, frame, image hash,
//!   objects, model and its SHA-256 from the alert's configuration version), the parameters and
//!   thresholds in force (the rule, its zone, the detector and tracker as the alert's
//!   `config_version` stored them) with the measured values that crossed them (the alert's
//!   `measurements`), and the operations in the order they ran.
//! - [`summary`]: per camera, for the public: what is analysed, under which authorisation,
//!   which rules, the retention periods (the newest configuration version). No internal id but
//!   the camera's, nothing personal.
//!
//! Served as `GET /api/alerts/{id}/transparency`, `GET /api/cameras/{id}/transparency` and
//! `GET /api/transparency` (HTML or JSON), and printed by `vigie audit explain` and
//! `vigie audit summary`. The words are in [`text`].

mod text;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::alerts::lifecycle::history_of;
use crate::alerts::{
    read_alert, versions, Alert, AlertBox, ConfigVersion, ImagePurge, JournalError, Transition,
    SCHEMA_VERSION,
};
use crate::config::AuthorisationConfig;
use crate::rules::{EventType, Measurement};

pub use text::{to_html, to_text, Section};

/// One alert explained (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub alert_id: i64,
    /// A shadow alert (rule in `mode = "shadow"`): journaled, shown to no operator.
    pub shadow: bool,
    pub event_type: String,
    pub event_label: String,
    pub contribution: Contribution,
    pub data: Data,
    pub parameters: Parameters,
    pub operations: Vec<Operation>,
    /// The four parts in plain French, as the page and `vigie audit explain` print them.
    pub text: Vec<Section>,
}

/// 1. What the system signalled, and what the agents decided.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    /// When the alert was journaled.
    pub signalled_at_ms: i64,
    /// The rule's own words, as journaled with the alert.
    pub explanation: String,
    pub confidence: f32,
    pub people: Option<u32>,
    /// The incident's first alert, when this one updates another.
    pub incident_id: Option<i64>,
    pub status: String,
    /// Every life-cycle step, oldest first (account, role, time, reason, comment).
    pub steps: Vec<Transition>,
}

/// 2. The data and the sources.
#[derive(Debug, Clone, Serialize)]
pub struct Data {
    pub camera_id: String,
    pub camera_name: String,
    pub location: Option<String>,
    /// Wall clock of the analysed frame.
    pub frame_time_ms: i64,
    /// The frame's stream timestamp.
    pub stream_ts_ns: u64,
    /// Analysed frames per second (from the configuration version).
    pub detect_fps: Option<f64>,
    /// SHA-256 of the image kept with the alert (it stays after a retention purge).
    pub image_sha256: Option<String>,
    /// SHA-256 of the full-resolution still attached after the alert (the main stream's picture
    /// of the instant; the image above is then the detector's frame), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_sha256: Option<String>,
    pub image_purged: Option<ImagePurge>,
    pub objects: Vec<AlertBox>,
    pub model: Option<String>,
    pub model_sha256: Option<String>,
}

/// 3. The parameters and thresholds in force, and the values measured against them.
#[derive(Debug, Clone, Serialize)]
pub struct Parameters {
    pub config_version: Option<i64>,
    pub config_sha256: Option<String>,
    pub in_force_from_ms: Option<i64>,
    pub rule_id: String,
    /// The rule's keys as that version stored them (defaults filled in).
    pub rule: Option<Value>,
    /// The zone and line the rule watches, when it names them.
    pub zone: Option<Value>,
    pub line: Option<Value>,
    pub detector: Option<Value>,
    pub tracker: Option<Value>,
    /// The authorisations of that version covering the camera and event type, with their state
    /// when the alert was journaled.
    pub authorisations: Vec<AuthorisationAt>,
    /// Whether that version configured any authorisation (none: the gate was off).
    pub authorisations_configured: bool,
    pub measurements: Vec<Measurement>,
}

/// An authorisation and whether it was in force at a moment.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorisationAt {
    pub record: AuthorisationConfig,
    pub in_force: bool,
}

/// 4. One operation of the chain that produced the alert.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub order: usize,
    /// `decode`, `detection`, `tracking`, `pose`, `scene`, `rule`, `gate`, `journal`, `human`.
    pub name: &'static str,
    pub description: String,
}

/// One camera, for the public (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct CameraSummary {
    pub camera_id: String,
    pub name: String,
    pub location: String,
    pub enabled: bool,
    pub detect_fps: Option<f64>,
    pub model: Option<String>,
    pub rules: Vec<RuleSummary>,
    pub authorisations: Vec<AuthorisationConfig>,
    pub authorisations_configured: bool,
    pub images_days: Option<i64>,
    pub journal_days: Option<i64>,
    /// When the configuration described came into force.
    pub since_ms: i64,
    pub text: Vec<Section>,
}

/// One rule of a camera, for the public: what it looks for and whether it is live.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub event_type: String,
    pub label: String,
    /// `live` or `shadow`.
    pub mode: String,
}

/// The title of an alert's explanation.
pub fn alert_title(e: &Explanation) -> String {
    format!(
        "Alerte n° {} : {}{}",
        e.alert_id,
        e.event_label,
        if e.shadow { " (mode évaluation)" } else { "" }
    )
}

/// The title of a camera's summary.
pub fn camera_title(s: &CameraSummary) -> String {
    let place = if s.location.is_empty() {
        String::new()
    } else {
        format!(", {}", s.location)
    };
    let name = if s.name.is_empty() {
        &s.camera_id
    } else {
        &s.name
    };
    format!("Caméra {name} ({}){place}", s.camera_id)
}

/// Refuses a journal written by an older build (its columns are not all there yet).
pub fn require_current(conn: &Connection) -> Result<(), JournalError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        return Err(JournalError::Invalid(format!(
            "the journal has schema version {version}, older than this build's {SCHEMA_VERSION}: \
             let `vigie run` open it once (it migrates it), then ask again"
        )));
    }
    Ok(())
}

/// The label of an event type name (the name itself when unknown).
pub(crate) fn label_of(event_type: &str) -> String {
    EventType::parse(event_type)
        .map(|t| t.label_fr().to_string())
        .unwrap_or_else(|| event_type.to_string())
}

/// The object of `list` whose `id` is `id`.
fn by_id<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|v| v["id"].as_str() == Some(id))
}

fn non_null(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

/// The authorisations of a version's parameters that cover `camera` and `event_type`.
fn covering(parameters: &Value, camera: &str, event_type: &str) -> Vec<AuthorisationConfig> {
    parameters["authorisations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| serde_json::from_value::<AuthorisationConfig>(a.clone()).ok())
        .filter(|a| a.covers(camera, event_type))
        .collect()
}

/// Alert `id` explained from the journal on `conn` (see the module docs). `NotFound` when there
/// is no such alert.
pub fn explain(conn: &Connection, id: i64) -> Result<Explanation, JournalError> {
    require_current(conn)?;
    let alert = read_alert(conn, id)?.ok_or(JournalError::NotFound(id))?;
    let steps = history_of(conn, id)?;
    let (image_sha256, still_sha256): (Option<String>, Option<String>) = conn
        .prepare_cached("SELECT snapshot_sha256, still_sha256 FROM alerts WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or_default();
    let version = match alert.config_version {
        Some(v) => versions::version(conn, v)?,
        None => None,
    };
    let mut out = build(&alert, steps, image_sha256, version.as_ref());
    out.data.still_sha256 = still_sha256;
    out.text = text::explanation(&out);
    Ok(out)
}

fn build(
    alert: &Alert,
    steps: Vec<Transition>,
    image_sha256: Option<String>,
    version: Option<&ConfigVersion>,
) -> Explanation {
    let null = Value::Null;
    let p = version.map_or(&null, |v| &v.parameters);
    let cam = by_id(&p["cameras"], &alert.camera_id).unwrap_or(&null);
    let rule = by_id(&cam["rules"], &alert.rule_id);
    let lookup = |key: &str, list: &str| {
        rule.and_then(|r| r[key].as_str())
            .and_then(|id| by_id(&cam[list], id))
            .cloned()
    };
    let authorisations = covering(p, &alert.camera_id, &alert.event_type)
        .into_iter()
        .map(|record| {
            let in_force = record.period().is_ok_and(|period| {
                (period.start_ms..period.end_ms).contains(&alert.created_at_ms)
            });
            AuthorisationAt { record, in_force }
        })
        .collect();
    let parameters = Parameters {
        config_version: version.map(|v| v.id),
        config_sha256: version.map(|v| v.sha256.clone()),
        in_force_from_ms: version.map(|v| v.at_ms),
        rule_id: alert.rule_id.clone(),
        rule: rule.cloned(),
        zone: lookup("zone", "zones"),
        line: lookup("line", "lines"),
        detector: non_null(&p["detector"]),
        tracker: non_null(&p["tracker"]),
        authorisations,
        authorisations_configured: p["authorisations"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        measurements: alert.measurements.clone(),
    };
    let data = Data {
        camera_id: alert.camera_id.clone(),
        camera_name: alert.camera_name.clone(),
        location: cam["location"]
            .as_str()
            .filter(|l| !l.is_empty())
            .map(str::to_string),
        frame_time_ms: alert.frame_time_ms,
        stream_ts_ns: alert.stream_ts_ns,
        detect_fps: cam["detect_fps"].as_f64(),
        image_sha256,
        still_sha256: None,
        image_purged: alert.image_purged.clone(),
        objects: alert.boxes.clone(),
        model: version.and_then(|v| v.model.clone()),
        model_sha256: version
            .and_then(|v| v.model_sha256.clone())
            .or_else(|| alert.model_sha256.clone()),
    };
    let operations = text::operations(alert, &data, &parameters);
    Explanation {
        alert_id: alert.id,
        shadow: alert.shadow,
        event_type: alert.event_type.clone(),
        event_label: label_of(&alert.event_type),
        contribution: Contribution {
            signalled_at_ms: alert.created_at_ms,
            explanation: alert.explanation.clone(),
            confidence: alert.confidence,
            people: alert.people,
            incident_id: alert.incident_id.filter(|i| *i != alert.id),
            status: alert.status.as_str().to_string(),
            steps,
        },
        data,
        parameters,
        operations,
        text: Vec::new(),
    }
}

/// The cameras of the configuration in force (the newest version in the journal), or only
/// `camera`; `NotFound`-like `Invalid` when it is unknown or nothing was recorded yet.
pub fn summary(
    conn: &Connection,
    camera: Option<&str>,
) -> Result<Vec<CameraSummary>, JournalError> {
    require_current(conn)?;
    let version = versions::latest(conn)?.ok_or_else(|| {
        JournalError::Invalid("no configuration recorded in this journal yet".into())
    })?;
    let p = &version.parameters;
    let all: Vec<CameraSummary> = p["cameras"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| camera.is_none_or(|id| c["id"].as_str() == Some(id)))
        .map(|c| camera_summary(&version, c))
        .collect();
    if let (Some(id), true) = (camera, all.is_empty()) {
        return Err(JournalError::Invalid(format!(
            "no camera {id:?} in the configuration in force"
        )));
    }
    Ok(all)
}

fn camera_summary(version: &ConfigVersion, cam: &Value) -> CameraSummary {
    let p = &version.parameters;
    let id = cam["id"].as_str().unwrap_or_default().to_string();
    let text_of = |k: &str| cam[k].as_str().unwrap_or_default().to_string();
    let rules = cam["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let event_type = r["type"].as_str().unwrap_or_default().to_string();
            RuleSummary {
                label: label_of(&event_type),
                event_type,
                mode: r["mode"].as_str().unwrap_or("live").to_string(),
            }
        })
        .collect();
    let authorisations: Vec<AuthorisationConfig> = p["authorisations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| serde_json::from_value::<AuthorisationConfig>(a.clone()).ok())
        .filter(|a| a.cameras.contains(&id))
        .collect();
    let mut out = CameraSummary {
        name: text_of("name"),
        location: text_of("location"),
        enabled: cam["enabled"].as_bool().unwrap_or(true),
        detect_fps: cam["detect_fps"].as_f64(),
        model: version.model.clone(),
        rules,
        authorisations,
        authorisations_configured: p["authorisations"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        images_days: p["retention"]["images_days"].as_i64(),
        journal_days: p["retention"]["journal_days"].as_i64(),
        since_ms: version.at_ms,
        camera_id: id,
        text: Vec::new(),
    };
    out.text = text::summary(&out);
    out
}

#[cfg(test)]
pub(crate) mod tests;
