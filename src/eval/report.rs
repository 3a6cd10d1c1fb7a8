//! The results of `vigie eval`: a table for people, JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

use super::matching::{score, Outcome, RuleScore};
use super::run::RunOutput;
use super::scenario::Scenario;

/// Everything `vigie eval` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenarios: Vec<ScenarioReport>,
    pub errors: Vec<ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub scenario: String,
    pub error: String,
}

/// One scenario at one detection rate.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub description: String,
    pub config: String,
    pub clip: String,
    /// Original clip seconds played.
    pub clip_start: f64,
    pub clip_end: Option<f64>,
    pub speed: u32,
    pub detect_fps: f32,
    pub frames_analysed: u64,
    /// Frames motion gating kept from the detector (0 without gating).
    pub frames_skipped: u64,
    pub wall_seconds: f64,
    pub tolerance_seconds: f64,
    pub rules: Vec<RuleScore>,
    pub events: Vec<EventReport>,
    pub alerts: Vec<AlertReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    #[serde(rename = "type")]
    pub event_type: String,
    pub rule: String,
    pub start: f64,
    pub end: f64,
    pub note: String,
    pub alert_id: Option<i64>,
    pub latency: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertReport {
    pub id: i64,
    pub rule: String,
    pub event_type: String,
    /// Clip seconds of the frame that fired it.
    pub t: f64,
    pub incident_id: Option<i64>,
    /// The alert's first box, normalised `[x1, y1, x2, y2]`.
    #[serde(rename = "box")]
    pub bbox: Option<[f32; 4]>,
    pub explanation: String,
    pub outcome: Outcome,
}

impl ScenarioReport {
    pub fn build(s: &Scenario, out: &RunOutput) -> ScenarioReport {
        let rules: Vec<(String, String)> = s
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.event_type.clone()))
            .collect();
        let m = score(
            &rules,
            &s.events,
            &s.dont_care,
            &out.alerts,
            s.file.tolerance_seconds,
        );
        let events = s
            .events
            .iter()
            .zip(&s.notes)
            .zip(&m.matched_by)
            .map(|((e, note), id)| EventReport {
                event_type: e.event_type.clone(),
                rule: e.rule.clone(),
                start: e.start,
                end: e.end,
                note: note.clone(),
                alert_id: *id,
                latency: id
                    .and_then(|id| out.alerts.iter().find(|a| a.id == id))
                    .map(|a| a.t - e.start),
            })
            .collect();
        let alerts = out
            .alerts
            .iter()
            .zip(&m.outcomes)
            .map(|(a, o)| AlertReport {
                id: a.id,
                rule: a.rule.clone(),
                event_type: a.event_type.clone(),
                t: a.t,
                incident_id: a.incident_id,
                bbox: a.bbox,
                explanation: a.explanation.clone(),
                outcome: *o,
            })
            .collect();
        ScenarioReport {
            scenario: s.name.clone(),
            description: s.file.description.clone(),
            config: s
                .config_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            clip: s.file.clip.clone(),
            clip_start: out.clip_start,
            clip_end: out.clip_end,
            speed: s.file.speed,
            detect_fps: out.detect_fps,
            frames_analysed: out.frames_analysed,
            frames_skipped: out.frames_skipped,
            wall_seconds: out.wall_seconds,
            tolerance_seconds: s.file.tolerance_seconds,
            rules: m.rules,
            events,
            alerts,
        }
    }
}

/// One line per run, on stderr while the others run.
pub fn summary_line(r: &ScenarioReport) -> String {
    format!(
        "{} ({}, {} det/s): {} frames analysed, {} skipped (no motion) in {:.0} s, {} alerts",
        r.scenario,
        r.config,
        r.detect_fps,
        r.frames_analysed,
        r.frames_skipped,
        r.wall_seconds,
        r.alerts.len()
    )
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".to_string())
}

/// The per-rule table.
pub fn table(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:<20} {:<24} {:<15} {:>5} {:>13} {:>3} {:>7} {:>3} {:>9} {:>6} {:>14}",
        "scenario",
        "config",
        "rule",
        "type",
        "det/s",
        "frames an/sk",
        "TP",
        "FP(dup)",
        "FN",
        "precision",
        "recall",
        "latency med/max"
    );
    for r in &report.scenarios {
        for rule in &r.rules {
            let _ = writeln!(
                s,
                "{:<22} {:<20} {:<24} {:<15} {:>5} {:>13} {:>3} {:>7} {:>3} {:>9} {:>6} {:>14}",
                r.scenario,
                r.config,
                rule.rule,
                rule.event_type,
                r.detect_fps,
                format!("{}/{}", r.frames_analysed, r.frames_skipped),
                rule.tp,
                format!("{}({})", rule.fp, rule.duplicates),
                rule.fn_,
                opt(rule.precision, 2),
                opt(rule.recall, 2),
                format!(
                    "{} / {} s",
                    opt(rule.latency_median, 1),
                    opt(rule.latency_max, 1)
                ),
            );
        }
    }
    for e in &report.errors {
        let first = e.error.lines().next().unwrap_or_default();
        let _ = writeln!(s, "{:<22} NOT EVALUATED: {first}", e.scenario);
    }
    s
}
