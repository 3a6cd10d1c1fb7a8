//! `type = "crowd_movement"`: a sudden collective movement in a zone: many of the people there
//! start running, or the group scatters.
//!
//! * **Who**: the tracks of `classes` (persons by default) that are evidence
//!   ([`Object::is_evidence`]) with their ground point in the zone and at least 60 % of
//!   `window_seconds` of history there. Vehicles never count, so a bus passing is no crowd.
//! * **Speed** of each: its mean plane speed over the last `window_seconds`
//!   ([`super::motion::Trail`]); it *runs* at `running_speed_mps` or more on a calibrated camera,
//!   else at `running_body_per_s` of its own box heights per second or more.
//! * **Running**: at least `min_people` people measured, at least 2 of them running, and the share
//!   running at least `running_share`. A single fast object never makes a crowd movement.
//! * **Scattering** (`dispersal = true`): at least `min_people` people measured, and their mean
//!   distance from their centroid grew over the window at `dispersal_speed_mps` or more
//!   (calibrated), else `dispersal_body_per_s` median box heights per second.
//! * **Sustained**: either condition for `min_seconds`. Once begun, readings down to 80 % of the
//!   thresholds (the share running, the spread's growth) keep it going, as tracks come and go; it
//!   ends when fewer than `min_people` are measured, or both measures fall below 80 % of their
//!   thresholds (hysteresis), or fewer than 2 people run and the group does not scatter.
//! * **One incident**: one alert when the movement is sustained; a movement starting less than
//!   `incident_seconds` after the last one was seen belongs to the same incident (no new alert).

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Length, Object};
use super::dwell::{ns_to_seconds, seconds_to_ns, Change, Dwell, Level, PerTrack};
use super::event::{Event, EventType, Measurement, Overlay};
use super::group::{default_min_score, event_objects, persons, ranges};
use super::incident::new_incident;
use super::motion::{centroid, median, norm, Sample, Trail};
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;

fn default_min_people() -> u32 {
    5
}
fn default_running_speed_mps() -> f32 {
    2.5
}
fn default_running_body_per_s() -> f32 {
    1.5
}
fn default_running_share() -> f32 {
    0.5
}
fn default_window() -> f32 {
    1.5
}
fn default_min_seconds() -> f32 {
    2.0
}
fn default_true() -> bool {
    true
}
fn default_dispersal_speed_mps() -> f32 {
    2.0
}
fn default_dispersal_body_per_s() -> f32 {
    1.2
}
fn default_incident_seconds() -> f32 {
    30.0
}

/// `[[cameras.rules]]` with `type = "crowd_movement"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera.
    pub zone: String,
    /// People measured in the zone for a crowd (at least 2).
    #[serde(default = "default_min_people")]
    pub min_people: u32,
    /// Running speed, calibrated cameras (m/s).
    #[serde(default = "default_running_speed_mps")]
    pub running_speed_mps: f32,
    /// Running speed, uncalibrated cameras (body heights / s).
    #[serde(default = "default_running_body_per_s")]
    pub running_body_per_s: f32,
    /// Share of the people measured that must run.
    #[serde(default = "default_running_share")]
    pub running_share: f32,
    /// Window of the speeds (s).
    #[serde(default = "default_window")]
    pub window_seconds: f32,
    /// How long the movement must last before an alert (s).
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Also alert when the group scatters.
    #[serde(default = "default_true")]
    pub dispersal: bool,
    /// Growth of the mean distance from the centroid, calibrated cameras (m/s).
    #[serde(default = "default_dispersal_speed_mps")]
    pub dispersal_speed_mps: f32,
    /// The same, uncalibrated cameras (median body heights / s).
    #[serde(default = "default_dispersal_body_per_s")]
    pub dispersal_body_per_s: f32,
    #[serde(default = "persons")]
    pub classes: Vec<String>,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// A movement starting this soon after the last one was seen is the same incident (s).
    #[serde(default = "default_incident_seconds")]
    pub incident_seconds: f32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::CrowdMovement, zone: zone);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        if !(2..=10_000).contains(&self.min_people) {
            p.push(
                format!("{path}.min_people"),
                format!(
                    "{} is out of range 2..=10000: one person is not a crowd",
                    self.min_people
                ),
            );
        }
        ranges(
            p,
            path,
            &[
                ("running_speed_mps", self.running_speed_mps, 0.1, 50.0),
                ("running_body_per_s", self.running_body_per_s, 0.1, 50.0),
                ("running_share", self.running_share, 0.01, 1.0),
                ("window_seconds", self.window_seconds, 0.5, 10.0),
                ("min_seconds", self.min_seconds, 0.0, 3600.0),
                ("dispersal_speed_mps", self.dispersal_speed_mps, 0.1, 50.0),
                ("dispersal_body_per_s", self.dispersal_body_per_s, 0.1, 50.0),
                ("incident_seconds", self.incident_seconds, 0.0, 3600.0),
            ],
        );
        p.fraction(format!("{path}.min_score"), self.min_score);
        cx.classes(p, &format!("{path}.classes"), &self.classes, true);
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        let window_ns = seconds_to_ns(self.window_seconds);
        Some(Box::new(CrowdMovement {
            classes: cx.class_ids(&self.classes),
            zone,
            window_ns,
            min_span_ns: window_ns * 3 / 5,
            min_ns: seconds_to_ns(self.min_seconds),
            incident_ns: seconds_to_ns(self.incident_seconds),
            trails: PerTrack::default(),
            dwell: Dwell::default(),
            last_active_ns: None,
            config: self.clone(),
        }))
    }
}

/// Both measures below this fraction of their thresholds end a movement.
const CLEAR: f32 = 0.8;
/// Objects kept with an event.
const MAX_BOXES: usize = 50;

/// One person measured over the window.
struct Mover<'a> {
    object: &'a Object,
    /// Plane position at the window's start and now.
    then: (f32, f32),
    now: (f32, f32),
    /// Plane units / s.
    speed: f32,
    /// Running threshold for this person, plane units / s.
    running: f32,
    /// Window actually covered (s).
    seconds: f32,
}

/// What the rule measured on one frame.
struct Crowd<'a> {
    people: Vec<Mover<'a>>,
    running: usize,
    share: f32,
    /// Median speed and running threshold in readable units (m/s or body heights / s).
    median_speed: f32,
    /// Growth of the mean distance from the centroid, plane units / s, and its threshold.
    spread_rate: f32,
    spread_threshold: f32,
    /// Plane units per readable unit of the spread (1 m, or the median box height).
    spread_scale: f32,
}

/// The running crowd-movement rule.
pub struct CrowdMovement {
    config: Config,
    classes: Vec<u16>,
    zone: usize,
    window_ns: u64,
    min_span_ns: u64,
    min_ns: u64,
    incident_ns: u64,
    trails: PerTrack<Trail>,
    dwell: Dwell,
    /// Last frame the movement was active (the open incident).
    last_active_ns: Option<u64>,
}

impl Rule for CrowdMovement {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::CrowdMovement
    }

    fn reset(&mut self) {
        self.trails.clear();
        self.dwell = Dwell::default();
        self.last_active_ns = None;
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        let people = self.movers(cx);
        let crowd = self.measure(cx, people);
        tracing::trace!(
            rule = %self.config.id,
            t = ns_to_seconds(cx.t_ns),
            people = crowd.people.len(),
            running = crowd.running,
            share = crowd.share,
            median_speed = crowd.median_speed,
            "crowd movement reading"
        );
        let t = cx.t_ns;
        // Once begun, a movement goes on through readings in the band (noisy tracks come and go).
        let level = match self.level(&crowd) {
            Level::Between if self.dwell.pending_since().is_some() => Level::On,
            level => level,
        };
        let change = self.dwell.update(t, level, self.min_ns);
        if let Change::Activated { since_ns } = change {
            let same_incident = self
                .last_active_ns
                .is_some_and(|last| since_ns.saturating_sub(last) <= self.incident_ns);
            if same_incident {
                tracing::debug!(rule = %self.config.id, "crowd movement continues an open incident");
            } else {
                out.push(self.event(cx, &crowd, since_ns));
            }
        }
        if self.dwell.is_active() {
            self.last_active_ns = Some(t);
        }
    }
}

impl CrowdMovement {
    /// The counting people in the zone with enough history, their trails updated.
    fn movers<'a>(&mut self, cx: &FrameContext<'a>) -> Vec<Mover<'a>> {
        let c = &self.config;
        let Some(zone) = cx.scene.zones.get(self.zone) else {
            return Vec::new();
        };
        let running = Length {
            metres: c.running_speed_mps,
            bodies: c.running_body_per_s,
        };
        let mut people = Vec::new();
        self.trails.begin();
        for o in cx.objects {
            if !self.classes.contains(&o.class_id) {
                continue;
            }
            let trail = self.trails.entry(o.track_id, Trail::default);
            if !o.is_evidence(c.min_score) {
                continue; // hold
            }
            let sample = Sample::of(o, cx.t_ns);
            let Some(sample) = sample.filter(|_| zone.contains_image_point(o.foot)) else {
                trail.clear();
                continue;
            };
            trail.push(sample, self.window_ns);
            let (Some(start), Some((d, dt))) = (
                trail.window_start(self.window_ns),
                trail.displacement(self.window_ns, self.min_span_ns),
            ) else {
                continue;
            };
            people.push(Mover {
                object: o,
                then: start.plane,
                now: sample.plane,
                speed: norm(d) / dt as f32,
                running: cx.length(o, running),
                seconds: dt as f32,
            });
        }
        self.trails.sweep();
        people
    }

    fn measure<'a>(&self, cx: &FrameContext<'_>, people: Vec<Mover<'a>>) -> Crowd<'a> {
        let running = people.iter().filter(|m| m.speed >= m.running).count();
        let share = if people.is_empty() {
            0.0
        } else {
            running as f32 / people.len() as f32
        };
        let mut bodies: Vec<f32> = people.iter().map(|m| m.object.body()).collect();
        let spread_scale = if cx.calibrated {
            1.0
        } else {
            median(&mut bodies).unwrap_or(0.0)
        };
        let mut speeds: Vec<f32> = people
            .iter()
            .map(|m| m.speed / readable_scale(cx, m.object))
            .collect();
        Crowd {
            median_speed: median(&mut speeds).unwrap_or(0.0),
            running,
            share,
            spread_rate: spread_rate(&people),
            spread_threshold: self.thresholds(cx).1 * spread_scale,
            spread_scale,
            people,
        }
    }

    /// Running and dispersal thresholds in readable units (m/s, or body heights / s).
    fn thresholds(&self, cx: &FrameContext<'_>) -> (f32, f32) {
        let c = &self.config;
        if cx.calibrated {
            (c.running_speed_mps, c.dispersal_speed_mps)
        } else {
            (c.running_body_per_s, c.dispersal_body_per_s)
        }
    }

    /// On, Off, or in the hysteresis band between.
    fn level(&self, m: &Crowd<'_>) -> Level {
        let c = &self.config;
        if m.people.len() < c.min_people as usize {
            return Level::Off;
        }
        let runs = m.running >= 2 && m.share >= c.running_share;
        let scatters = c.dispersal && m.spread_rate >= m.spread_threshold;
        let runs_a_little = m.running >= 2 && m.share >= c.running_share * CLEAR;
        let scatters_a_little = c.dispersal && m.spread_rate >= m.spread_threshold * CLEAR;
        if runs || scatters {
            Level::On
        } else if runs_a_little || scatters_a_little {
            Level::Between
        } else {
            Level::Off
        }
    }

    fn event(&self, cx: &FrameContext<'_>, m: &Crowd<'_>, since_ns: u64) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let n = m.people.len();
        let lasted = ns_to_seconds(cx.t_ns.saturating_sub(since_ns));
        let (running_threshold, dispersal_threshold) = self.thresholds(cx);
        let (unit, unit_words) = if cx.calibrated {
            ("m/s", "m/s")
        } else {
            ("body/s", "body heights/s")
        };
        let spread = m.spread_rate / m.spread_scale.max(f32::MIN_POSITIVE);
        let explanation = format!(
            "Crowd-movement rule '{}': in zone '{}' ({}), {} of {n} people ({:.0} %) moved faster \
             than {running_threshold:.1} {unit_words} over the last {:.1} s (median \
             {:.1} {unit_words}), and the group's spread grew at {spread:.2} {unit_words}{}, for \
             {lasted:.1} s; thresholds: {:.0} % of at least {} people running, or the spread \
             growing at {dispersal_threshold:.1} {unit_words}, sustained {:.1} s.",
            c.id,
            zone.name,
            zone.id,
            m.running,
            m.share * 100.0,
            c.window_seconds,
            m.median_speed,
            if c.dispersal { "" } else { " (not used)" },
            c.running_share * 100.0,
            c.min_people,
            c.min_seconds,
        );
        // The running people first, fastest first.
        let mut order: Vec<&Mover<'_>> = m.people.iter().collect();
        order.sort_by(|a, b| (b.speed / b.running).total_cmp(&(a.speed / a.running)));
        let count = u32::try_from(n).unwrap_or(u32::MAX);
        let (objects, confidence) = event_objects(order.iter().map(|p| p.object), MAX_BOXES);
        Event {
            zone_id: Some(zone.id.clone()),
            objects,
            confidence,
            people: Some(count),
            incident: Some(new_incident()),
            overlay: Overlay::polygon(&zone.polygon).with_count(count),
            measurements: vec![
                Measurement::new("people", n as f64, Some(f64::from(c.min_people)), "count"),
                Measurement::new("running", m.running as f64, None, "count"),
                Measurement::new(
                    "running_share",
                    f64::from(m.share),
                    Some(f64::from(c.running_share)),
                    "ratio",
                ),
                Measurement::new(
                    "median_speed",
                    f64::from(m.median_speed),
                    Some(f64::from(running_threshold)),
                    unit,
                ),
                Measurement::new(
                    "spread_rate",
                    f64::from(spread),
                    Some(f64::from(dispersal_threshold)),
                    unit,
                ),
                Measurement::new("duration", lasted, Some(f64::from(c.min_seconds)), "s"),
            ],
            ..Event::new(&c.id, EventType::CrowdMovement, cx.t_ns, explanation)
        }
    }
}

/// Plane units per readable unit for `o`: 1 when calibrated (metres), its box height otherwise.
fn readable_scale(cx: &FrameContext<'_>, o: &Object) -> f32 {
    if cx.calibrated {
        1.0
    } else {
        o.body().max(f32::MIN_POSITIVE)
    }
}

/// How fast the people's mean distance from their centroid grew over the window (plane units / s;
/// negative when they gather). 0 for fewer than 2 people.
fn spread_rate(people: &[Mover<'_>]) -> f32 {
    if people.len() < 2 {
        return 0.0;
    }
    let spread = |points: &dyn Fn(&Mover<'_>) -> (f32, f32)| -> f32 {
        let c = centroid(people.iter().map(points)).unwrap_or((0.0, 0.0));
        let total: f32 = people
            .iter()
            .map(|m| {
                let p = points(m);
                norm((p.0 - c.0, p.1 - c.1))
            })
            .sum();
        total / people.len() as f32
    };
    let seconds = people.iter().map(|m| m.seconds).sum::<f32>() / people.len() as f32;
    (spread(&|m| m.now) - spread(&|m| m.then)) / seconds.max(f32::MIN_POSITIVE)
}

#[cfg(test)]
mod tests;
