//! `type = "fire"`: a fire start in a zone, from classical flame cues (no model).
//!
//! The rule feeds the zone's pixels to a [`FlameDetector`] at most `fps` times per second (the
//! cues work on a 208x208 copy: cheap, no second model): flame colour in YCbCr, minimum area,
//! persistence in N of M frames, flicker, stillness and a non-shrinking area (see
//! [`crate::scene`]). An alert needs every cue to hold (a candidate) on every sample for
//! `min_seconds`; then nothing for `cooldown_seconds`. Smoke is not detected. No fire model is
//! shipped (none with a permissive licence exists); a zone is required, so the operator's view
//! of where a fire is looked for is explicit.

use serde::{Deserialize, Serialize};

use super::context::FrameContext;
use super::dwell::{ns_to_seconds, seconds_to_ns, Cooldown};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::group::ranges;
use super::{CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;
use crate::scene::{FlameDetector, FlameParams, FlameReading};

fn default_fps() -> f32 {
    5.0
}
fn default_min_seconds() -> f32 {
    3.0
}
fn default_cooldown() -> f32 {
    300.0
}

/// `[[cameras.rules]]` with `type = "fire"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id (required): where a fire start is looked for.
    pub zone: String,
    /// Samples per second fed to the flame cues.
    #[serde(default = "default_fps")]
    pub fps: f32,
    /// Seconds every cue must hold before the alert.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Seconds without another alert of this rule after one.
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f32,
}

impl RuleSpec for Config {
    fn id(&self) -> &str {
        &self.id
    }

    fn event_type(&self) -> EventType {
        EventType::Fire
    }

    fn zone(&self) -> Option<&str> {
        Some(&self.zone)
    }

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        ranges(
            p,
            path,
            &[
                ("fps", self.fps, 1.0, 30.0),
                ("min_seconds", self.min_seconds, 0.0, 600.0),
                ("cooldown_seconds", self.cooldown_seconds, 0.0, 86400.0),
            ],
        );
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        Some(Box::new(Fire {
            zone,
            detector: None,
            last_ns: None,
            since_ns: None,
            cooldown: Cooldown::new(seconds_to_ns(self.cooldown_seconds)),
            config: self.clone(),
        }))
    }
}

/// The running rule.
pub struct Fire {
    config: Config,
    zone: usize,
    /// Built on the first frame (it needs the frame size).
    detector: Option<FlameDetector>,
    last_ns: Option<u64>,
    /// Start of the current run of candidate samples.
    since_ns: Option<u64>,
    cooldown: Cooldown,
}

impl Rule for Fire {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::Fire
    }

    fn reset(&mut self) {
        self.detector = None;
        self.last_ns = None;
        self.since_ns = None;
        self.cooldown.reset();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        let t = cx.t_ns;
        let period = 1e9 / f64::from(self.config.fps);
        if self
            .last_ns
            .is_some_and(|last| t >= last && ((t - last) as f64) < period * 0.9)
        {
            return;
        }
        let Some(reading) = self.sample(cx) else {
            return;
        };
        self.last_ns = Some(t);
        tracing::trace!(rule = %self.config.id, t_s = ns_to_seconds(t), candidate = reading.candidate, cues = %reading.explain(), "flame cues");
        if !reading.candidate {
            self.since_ns = None;
            return;
        }
        let since = *self.since_ns.get_or_insert(t);
        let held = ns_to_seconds(t - since);
        if held >= f64::from(self.config.min_seconds) && self.cooldown.ready(t) {
            self.cooldown.start(t);
            out.push(self.event(cx, &reading, held));
        }
    }
}

impl Fire {
    fn sample(&mut self, cx: &FrameContext<'_>) -> Option<FlameReading> {
        let frame = cx.frame?;
        if self.detector.is_none() {
            let polygon = &cx.scene.zones.get(self.zone)?.polygon;
            self.detector =
                FlameDetector::new(polygon, frame.width, frame.height, FlameParams::default())
                    .map_err(
                        |e| tracing::warn!(rule = %self.config.id, error = %e, "no flame detector"),
                    )
                    .ok();
        }
        self.detector
            .as_mut()?
            .update(&frame.data, ns_to_seconds(cx.t_ns))
            .map_err(|e| tracing::warn!(rule = %self.config.id, error = %e, "flame cues"))
            .ok()
    }

    fn event(&self, cx: &FrameContext<'_>, r: &FlameReading, held: f64) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let explanation = format!(
            "Fire rule '{}': in zone '{}' ({}), every flame cue has held for {held:.1} s \
             (threshold {:.1} s): {}. Classical cues only (no fire model); smoke is not \
             detected.",
            c.id,
            zone.name,
            zone.id,
            c.min_seconds,
            r.explain()
        );
        Event {
            zone_id: Some(zone.id.clone()),
            objects: r
                .bbox
                .map(|bbox| EventObject {
                    track_id: None,
                    class_id: u16::MAX,
                    score: 1.0,
                    bbox,
                })
                .into_iter()
                .collect(),
            overlay: Overlay::polygon(&zone.polygon),
            measurements: vec![
                Measurement::new("held", held, Some(f64::from(c.min_seconds)), "s"),
                Measurement::new("flame_area", f64::from(r.area), None, "fraction"),
                Measurement::new("present", r.present as f64, Some(r.window as f64), "count"),
                Measurement::new("flicker", f64::from(r.flicker), None, "fraction"),
                Measurement::new("drift", f64::from(r.drift), None, "ratio"),
            ],
            ..Event::new(&c.id, EventType::Fire, cx.t_ns, explanation)
        }
    }
}

#[cfg(test)]
mod tests;
