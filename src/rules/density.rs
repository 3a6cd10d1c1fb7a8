//! `type = "density"`: too many people per square metre in a zone (Fruin's levels of service).
//!
//! * **Count**: the confirmed tracks of `classes` (persons by default) of score >= `min_score`
//!   whose ground point is inside the zone, tracks coasting through a short miss included (in a
//!   dense crowd occlusion hides people for a frame or two; they are still there).
//! * **Density**: the mean count over the last `window_seconds`, divided by the zone's area:
//!   `area_m2` when given, otherwise the zone's area on the ground from the camera's calibration
//!   (a zone of an uncalibrated camera needs `area_m2`).
//! * **Levels**: `warn` and `alarm` (persons / m²), each reached when the density stays at or
//!   above it for `hold_seconds`, and left only when it falls to `clear_ratio` × the level or
//!   below (hysteresis); in between, a level reached stays, one not yet reached starts its hold
//!   again.
//! * **Alerts, one incident**: an incident opens when `warn` is reached (one alert) and lasts until
//!   the density falls below `clear_ratio` × `warn`. Reaching `alarm` during it raises a second
//!   alert (a higher severity: the operator must hear it), an update of the same incident (its
//!   `incident_id` is the first alert's), only once per incident; a density that
//!   reaches `alarm` directly raises the alarm alert only. Nothing else is raised while the
//!   incident lasts.
//!
//! A box detector undercounts from about 2 persons/m² (people hide each other): the measured
//! density is a lower bound, more so the denser the crowd (see the README).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Object};
use super::dwell::{ns_to_seconds, seconds_to_ns, Change, Dwell, Level};
use super::event::{Event, EventType, IncidentRef, Measurement, Overlay};
use super::geometry::polygon_area;
use super::group::{default_min_score, event_objects, persons, ranges};
use super::incident::new_incident;
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;

fn default_warn() -> f32 {
    2.0
}
fn default_alarm() -> f32 {
    3.5
}
fn default_hold() -> f32 {
    30.0
}
fn default_clear_ratio() -> f32 {
    0.8
}
fn default_window() -> f32 {
    5.0
}

/// `[[cameras.rules]]` with `type = "density"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera.
    pub zone: String,
    /// The zone's area on the ground (m²); optional on a calibrated camera.
    #[serde(default)]
    pub area_m2: Option<f32>,
    /// Persons / m² of the first level.
    #[serde(default = "default_warn")]
    pub warn: f32,
    /// Persons / m² of the second level.
    #[serde(default = "default_alarm")]
    pub alarm: f32,
    /// Seconds a level must be held before it is reached.
    #[serde(default = "default_hold")]
    pub hold_seconds: f32,
    /// A level is left below this fraction of it.
    #[serde(default = "default_clear_ratio")]
    pub clear_ratio: f32,
    /// Smoothing window of the count (s); 0: the count of each frame.
    #[serde(default = "default_window")]
    pub window_seconds: f32,
    #[serde(default = "persons")]
    pub classes: Vec<String>,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::Density, zone: zone);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        match self.area_m2 {
            Some(a) => p.range(format!("{path}.area_m2"), a, 0.1, 1_000_000.0),
            None if !cx.calibrated => p.push(
                format!("{path}.area_m2"),
                format!(
                    "missing: the zone's area in m2; camera `{}` has no `[cameras.calibration]` \
                     to measure it",
                    cx.camera
                ),
            ),
            None => {}
        }
        let before = p.errors.len();
        ranges(
            p,
            path,
            &[
                ("warn", self.warn, 0.01, 20.0),
                ("alarm", self.alarm, 0.01, 20.0),
            ],
        );
        if p.errors.len() == before && self.warn >= self.alarm {
            p.push(
                format!("{path}.alarm"),
                format!(
                    "{} must be above warn ({}): alarm is the higher level",
                    self.alarm, self.warn
                ),
            );
        }
        ranges(
            p,
            path,
            &[
                ("hold_seconds", self.hold_seconds, 0.0, 3600.0),
                ("window_seconds", self.window_seconds, 0.0, 600.0),
            ],
        );
        p.fraction(format!("{path}.clear_ratio"), self.clear_ratio);
        p.fraction(format!("{path}.min_score"), self.min_score);
        cx.classes(p, &format!("{path}.classes"), &self.classes, true);
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        let area = match self.area_m2 {
            Some(a) => Area::Configured(a),
            None if cx.scene.is_calibrated() => {
                Area::Calibrated(polygon_area(&cx.scene.zones[zone].plane))
            }
            None => Area::Configured(0.0),
        };
        if !(area.m2() > 0.0 && area.m2().is_finite()) {
            tracing::warn!(rule = %self.id, "rule ignored: the zone has no area in m2");
            return None;
        }
        Some(Box::new(Density {
            classes: cx.class_ids(&self.classes),
            zone,
            area,
            hold_ns: seconds_to_ns(self.hold_seconds),
            window_ns: seconds_to_ns(self.window_seconds),
            counts: VecDeque::new(),
            warn: Dwell::default(),
            alarm: Dwell::default(),
            alerted: None,
            config: self.clone(),
        }))
    }
}

/// Where the zone's area comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Area {
    Configured(f32),
    Calibrated(f32),
}

impl Area {
    fn m2(self) -> f32 {
        match self {
            Area::Configured(a) | Area::Calibrated(a) => a,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Area::Configured(_) => "configured",
            Area::Calibrated(_) => "from the calibration",
        }
    }
}

/// The level an alert was raised for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Warn,
    Alarm,
}

/// The running density rule.
pub struct Density {
    config: Config,
    classes: Vec<u16>,
    zone: usize,
    area: Area,
    hold_ns: u64,
    window_ns: u64,
    /// (time, count) of the frames in the smoothing window.
    counts: VecDeque<(u64, u32)>,
    warn: Dwell,
    alarm: Dwell,
    /// The open incident: its id and the highest level alerted in it; `None`: no incident.
    alerted: Option<(Severity, u64)>,
}

impl Rule for Density {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::Density
    }

    fn reset(&mut self) {
        self.counts.clear();
        self.warn = Dwell::default();
        self.alarm = Dwell::default();
        self.alerted = None;
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        let Some(zone) = cx.scene.zones.get(self.zone) else {
            return;
        };
        let people: Vec<&Object> = cx
            .objects
            .iter()
            .filter(|o| {
                self.classes.contains(&o.class_id)
                    && o.confirmed
                    && o.score >= self.config.min_score
                    && zone.contains_image_point(o.foot)
            })
            .collect();
        let density = self.smoothed(cx.t_ns, people.len()) / self.area.m2();
        let c = &self.config;
        let (t, hold) = (cx.t_ns, self.hold_ns);
        let alarm = self.alarm.update(
            t,
            Level::of(density, c.alarm, c.alarm * c.clear_ratio),
            hold,
        );
        let warn = self
            .warn
            .update(t, Level::of(density, c.warn, c.warn * c.clear_ratio), hold);
        let level = self.alerted.map(|(s, _)| s);
        let fired = match (alarm, warn) {
            (Change::Activated { since_ns }, _) if level != Some(Severity::Alarm) => {
                Some((Severity::Alarm, since_ns))
            }
            (_, Change::Activated { since_ns }) if level.is_none() => {
                Some((Severity::Warn, since_ns))
            }
            _ => None,
        };
        if let Some((severity, since_ns)) = fired {
            // Reaching alarm during a warn incident is an update of it: still an alert the
            // operator hears, linked to the first one.
            let incident = match self.alerted {
                Some((_, id)) => IncidentRef { id, update: true },
                None => new_incident(),
            };
            self.alerted = Some((severity, incident.id));
            let mut event = self.event(cx, &people, density, severity, since_ns);
            event.incident = Some(incident);
            out.push(event);
        }
        if warn == Change::Deactivated {
            self.alerted = None;
        }
    }
}

impl Density {
    /// Adds this frame's count; the mean count over the window.
    fn smoothed(&mut self, t_ns: u64, count: usize) -> f32 {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.counts.push_back((t_ns, count));
        let horizon = t_ns.saturating_sub(self.window_ns);
        while self.counts.len() > 1 && self.counts.front().is_some_and(|&(t, _)| t <= horizon) {
            self.counts.pop_front();
        }
        let sum: f64 = self.counts.iter().map(|&(_, n)| f64::from(n)).sum();
        (sum / self.counts.len() as f64) as f32
    }

    fn event(
        &self,
        cx: &FrameContext<'_>,
        people: &[&Object],
        density: f32,
        severity: Severity,
        since_ns: u64,
    ) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let (name, level) = match severity {
            Severity::Warn => ("warn", c.warn),
            Severity::Alarm => ("alarm", c.alarm),
        };
        let held = ns_to_seconds(cx.t_ns.saturating_sub(since_ns));
        let area = self.area.m2();
        let mean = density * area;
        let explanation = format!(
            "Density rule '{}': zone '{}' ({}) has held at least {level:.1} persons/m2 (the \
             {name} level) for {held:.0} s: {density:.2} persons/m2 now, mean over {:.0} s of \
             {mean:.1} persons counted on {area:.1} m2 ({}), {} in the zone at this frame; \
             levels warn {:.1} and alarm {:.1} persons/m2, held {:.0} s, cleared below {:.0} %. \
             A box detector undercounts dense crowds: the real density is likely higher.",
            c.id,
            zone.name,
            zone.id,
            c.window_seconds,
            self.area.source(),
            people.len(),
            c.warn,
            c.alarm,
            c.hold_seconds,
            c.clear_ratio * 100.0,
        );
        let count = u32::try_from(people.len()).unwrap_or(u32::MAX);
        // Every counted box, for the operator to check the count (bounded for the journal).
        let (objects, confidence) = event_objects(people.iter().copied(), MAX_BOXES);
        Event {
            zone_id: Some(zone.id.clone()),
            objects,
            confidence,
            people: Some(count),
            overlay: Overlay::polygon(&zone.polygon).with_count(count),
            measurements: vec![
                Measurement::new(
                    "density",
                    f64::from(density),
                    Some(f64::from(level)),
                    "persons/m2",
                ),
                Measurement::new("people_mean", f64::from(mean), None, "count"),
                Measurement::new("people", f64::from(count), None, "count"),
                Measurement::new("area", f64::from(area), None, "m2"),
                Measurement::new("held", held, Some(f64::from(c.hold_seconds)), "s"),
            ],
            ..Event::new(&c.id, EventType::Density, cx.t_ns, explanation)
        }
    }
}

/// Boxes kept with a density event.
const MAX_BOXES: usize = 100;

#[cfg(test)]
mod tests;
