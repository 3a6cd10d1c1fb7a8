//! `type = "fire"`: a fire start in a zone, from classical flame cues (no model).
//!
//! The rule feeds the zone's pixels to a [`FlameDetector`] at most `fps` times per second (the
//! cues work on a 208x208 copy: cheap, no second model): flame colour in YCbCr, minimum area,
//! persistence in N of M frames, flicker (luminance or boundary), a stable core, stillness, a
//! non-shrinking area, and not a person: a blob mostly inside the boxes of the camera's confirmed
//! person tracks is clothing, never a candidate (so a person on fire, or a fire mostly hidden
//! behind a person's box, is not either; see [`crate::scene`]). An alert needs every cue to hold (a candidate) on every sample for
//! `min_seconds`; then nothing for `cooldown_seconds`. Smoke is not detected by the cues. A zone
//! is required, so the operator's view of where a fire is looked for is explicit.
//!
//! **Fire model (optional).** `model` names a city's detector in the manifest declaring
//! `use = ["fire"]`; the engine runs it on the whole frame at the rule's `fps`
//! ([`RuleSpec::needs`]). Its boxes of `model_labels` scoring at least `model_min_score` whose
//! centre is in the zone are hits; the model *holds* when `model_hits` of its last
//! `model_window` readings had one. `model_mode = "confirm"` (default): a sample is a candidate
//! when the cues **and** the model hold; `"extend"`: when the cues **or** the model hold (a
//! model alone can alert: smoke, a fire the cues miss). No fire model is shipped.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::context::FrameContext;
use super::dwell::{ns_to_seconds, seconds_to_ns, Cooldown};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::group::ranges;
use super::{rule_identity, CameraBuild, CameraCheck, DetectorNeed, Needs, Rule, RuleSpec};
use crate::check::Problems;
use crate::detect::{BBox, ModelUse};
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
fn default_model_labels() -> Vec<String> {
    vec!["fire".into(), "smoke".into()]
}
fn default_model_min_score() -> f32 {
    0.5
}
fn default_model_hits() -> u32 {
    3
}
fn default_model_window() -> u32 {
    5
}

/// How a fire model's hits combine with the classical cues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelMode {
    /// Cues and model together (fewer false alarms).
    #[default]
    Confirm,
    /// Cues or model (the model alone can alert).
    Extend,
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
    /// A fire/smoke detector of the manifest (`use = ["fire"]`); none: cues only.
    pub model: Option<String>,
    /// Its labels that count as fire or smoke.
    #[serde(default = "default_model_labels")]
    pub model_labels: Vec<String>,
    #[serde(default)]
    pub model_mode: ModelMode,
    #[serde(default = "default_model_min_score")]
    pub model_min_score: f32,
    /// The model holds when this many of its last `model_window` readings hit (N of M).
    #[serde(default = "default_model_hits")]
    pub model_hits: u32,
    #[serde(default = "default_model_window")]
    pub model_window: u32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::Fire, zone: zone);

    fn needs(&self) -> Needs {
        Needs {
            detectors: self
                .model
                .iter()
                .map(|m| DetectorNeed {
                    model: m.clone(),
                    fps: self.fps,
                })
                .collect(),
            ..Needs::default()
        }
    }

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        if let Some(model) = &self.model {
            let paths = (&*format!("{path}.model"), &*format!("{path}.model_labels"));
            cx.second_detector(p, paths, (model, ModelUse::Fire), &self.model_labels);
        }
        p.fraction(format!("{path}.model_min_score"), self.model_min_score);
        if !(1..=100).contains(&self.model_window)
            || !(1..=self.model_window).contains(&self.model_hits)
        {
            p.push(
                format!("{path}.model_hits"),
                format!(
                    "needs 1 <= model_hits ({}) <= model_window ({}) <= 100",
                    self.model_hits, self.model_window
                ),
            );
        }
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
            person: cx.class_ids(&["person".to_string()]).first().copied(),
            detector: None,
            last_ns: None,
            since_ns: None,
            cooldown: Cooldown::new(seconds_to_ns(self.cooldown_seconds)),
            readings: VecDeque::new(),
            last_hit: None,
            config: self.clone(),
        }))
    }
}

/// The running rule.
pub struct Fire {
    config: Config,
    zone: usize,
    /// The detector's person class: a flame-coloured blob mostly under a person box is clothing.
    person: Option<u16>,
    /// Built on the first frame (it needs the frame size).
    detector: Option<FlameDetector>,
    last_ns: Option<u64>,
    /// Start of the current run of candidate samples.
    since_ns: Option<u64>,
    cooldown: Cooldown,
    /// The fire model's last `model_window` readings: hit or not.
    readings: VecDeque<bool>,
    /// The best box and score of its last hit.
    last_hit: Option<(BBox, f32)>,
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
        self.readings.clear();
        self.last_hit = None;
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        self.observe_model(cx);
        let t = cx.t_ns;
        let period = 1e9 / f64::from(self.config.fps);
        if self
            .last_ns
            .is_some_and(|last| t >= last && ((t - last) as f64) < period * 0.9)
        {
            return;
        }
        let reading = self.sample(cx);
        if reading.is_none() && self.config.model.is_none() {
            return;
        }
        self.last_ns = Some(t);
        let cues = reading.as_ref().is_some_and(|r| r.candidate);
        let candidate = match (&self.config.model, self.config.model_mode) {
            (None, _) => cues,
            (Some(_), ModelMode::Confirm) => cues && self.model_holds(),
            (Some(_), ModelMode::Extend) => cues || self.model_holds(),
        };
        tracing::trace!(
            rule = %self.config.id,
            t_s = ns_to_seconds(t),
            candidate,
            model_hits = self.hits(),
            cues = %reading.as_ref().map(FlameReading::explain).unwrap_or_default(),
            "flame cues"
        );
        if !candidate {
            self.since_ns = None;
            return;
        }
        let since = *self.since_ns.get_or_insert(t);
        let held = ns_to_seconds(t - since);
        if held >= f64::from(self.config.min_seconds) && self.cooldown.ready(t) {
            self.cooldown.start(t);
            out.push(self.event(cx, reading.as_ref(), held));
        }
    }
}

impl Fire {
    /// Records the fire model's reading when it ran on this frame.
    fn observe_model(&mut self, cx: &FrameContext<'_>) {
        let c = &self.config;
        let Some(output) = c
            .model
            .as_ref()
            .and_then(|m| cx.models.iter().find(|o| &o.model == m))
        else {
            return;
        };
        let Some(zone) = cx.scene.zones.get(self.zone) else {
            return;
        };
        let best = output
            .detections
            .iter()
            .filter(|d| d.score >= c.model_min_score)
            .filter(|d| {
                let label = output.labels.get(usize::from(d.class_id));
                label.is_some_and(|l| c.model_labels.contains(l))
            })
            .filter(|d| {
                let b = d.bbox;
                zone.contains_image_point(((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5))
            })
            .max_by(|a, b| a.score.total_cmp(&b.score));
        if let Some(d) = best {
            self.last_hit = Some((d.bbox, d.score));
        }
        self.readings.push_back(best.is_some());
        while self.readings.len() > c.model_window as usize {
            self.readings.pop_front();
        }
    }

    fn hits(&self) -> usize {
        self.readings.iter().filter(|h| **h).count()
    }

    /// `model_hits` of the last `model_window` model readings hit.
    fn model_holds(&self) -> bool {
        self.hits() >= self.config.model_hits as usize
    }

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
        let persons: Vec<BBox> = cx.confirmed(self.person).map(|o| o.bbox).collect();
        self.detector
            .as_mut()?
            .update(&frame.data, ns_to_seconds(cx.t_ns), &persons)
            .map_err(|e| tracing::warn!(rule = %self.config.id, error = %e, "flame cues"))
            .ok()
    }

    fn event(&self, cx: &FrameContext<'_>, r: Option<&FlameReading>, held: f64) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let explanation = format!(
            "Fire rule '{}': in zone '{}' ({}), {} for {held:.1} s (threshold {:.1} s). {}",
            c.id,
            zone.name,
            zone.id,
            self.what_held(r),
            c.min_seconds,
            self.why(r)
        );
        let cue_box = r.filter(|r| r.candidate).and_then(|r| r.bbox);
        let model_box = self.last_hit.filter(|_| self.model_holds());
        let mut objects: Vec<EventObject> = cue_box
            .map(|bbox| (bbox, 1.0))
            .into_iter()
            .chain(model_box)
            .map(|(bbox, score)| EventObject {
                track_id: None,
                class_id: u16::MAX,
                score,
                bbox,
            })
            .collect();
        objects.truncate(2);
        let mut measurements = vec![Measurement::new(
            "held",
            held,
            Some(f64::from(c.min_seconds)),
            "s",
        )];
        if let Some(r) = r {
            measurements.extend([
                Measurement::new("flame_area", f64::from(r.area), None, "fraction"),
                Measurement::new("present", r.present as f64, Some(r.window as f64), "count"),
                Measurement::new("flicker", f64::from(r.flicker), None, "fraction"),
                Measurement::new("edge_flicker", f64::from(r.edge_flicker), None, "fraction"),
                Measurement::new("person_cover", f64::from(r.person_cover), None, "fraction"),
                Measurement::new("core", f64::from(r.core), None, "fraction"),
                Measurement::new("drift", f64::from(r.drift), None, "ratio"),
            ]);
        }
        if c.model.is_some() {
            let hits = self.hits() as f64;
            measurements.push(Measurement::new(
                "model_hits",
                hits,
                Some(f64::from(c.model_hits)),
                "count",
            ));
        }
        Event {
            zone_id: Some(zone.id.clone()),
            objects,
            overlay: Overlay::polygon(&zone.polygon),
            measurements,
            ..Event::new(&c.id, EventType::Fire, cx.t_ns, explanation)
        }
    }

    /// What held: the cues, the model, or both.
    fn what_held(&self, r: Option<&FlameReading>) -> &'static str {
        let cues = r.is_some_and(|r| r.candidate);
        match (cues, self.config.model.is_some() && self.model_holds()) {
            (true, true) => "every flame cue and the fire model have held",
            (false, true) => "the fire model alone has held (the flame cues did not)",
            _ => "every flame cue has held",
        }
    }

    /// The figures behind it, in words.
    fn why(&self, r: Option<&FlameReading>) -> String {
        let c = &self.config;
        let cues = r.map_or_else(
            || "no flame cues".to_string(),
            |r| format!("Cues: {}.", r.explain()),
        );
        match &c.model {
            None => format!("{cues} Classical cues only (no fire model); smoke is not detected."),
            Some(m) => format!(
                "{cues} Fire model '{m}' ({}): {} of its last {} readings saw {} in the zone \
                 (at least {} needed{}).",
                match c.model_mode {
                    ModelMode::Confirm => "confirms the cues",
                    ModelMode::Extend => "extends the cues",
                },
                self.hits(),
                self.readings.len(),
                c.model_labels.join(" or "),
                c.model_hits,
                self.last_hit
                    .map(|(_, s)| format!(", best score {s:.2}"))
                    .unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests;
