//! `type = "weapon"`: a weapon seen by a model **the city supplies**. Vigie ships no weapon model
//! and this rule is untested on real weapons.
//!
//! Plug-in only: the camera's detector (`[detector] model`) must be a manifest model that declares
//! `use = [..., "weapon"]`, and `classes` must be among its labels; otherwise `check-config` says
//! why and the rule is refused. (A weapon model running beside another detector is not supported
//! yet: the city's model is the camera's detector.)
//!
//! An alert needs `min_consecutive` consecutive analysed frames in which one track of `classes`
//! is matched with a score of at least `min_score` (one detection is never enough); then one alert
//! per track, and nothing from the rule for `cooldown_seconds`.

use serde::{Deserialize, Serialize};

use super::context::FrameContext;
use super::dwell::{seconds_to_ns, Cooldown, PerTrack};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;
use crate::detect::{ModelKind, ModelUse};

fn default_consecutive() -> u32 {
    3
}
fn default_min_score() -> f32 {
    0.5
}
fn default_cooldown() -> f32 {
    60.0
}

/// `[[cameras.rules]]` with `type = "weapon"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Weapon labels of the city's model.
    pub classes: Vec<String>,
    /// Optional zone id; none: the whole image.
    #[serde(default)]
    pub zone: Option<String>,
    /// Consecutive confirmed detections on one track before the alert (N).
    #[serde(default = "default_consecutive")]
    pub min_consecutive: u32,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::Weapon, optional_zone: zone);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        if let Some(z) = &self.zone {
            cx.zone(p, format!("{path}.zone"), z);
        }
        if !(1..=100).contains(&self.min_consecutive) {
            p.push(
                format!("{path}.min_consecutive"),
                format!("{} is not in 1..=100", self.min_consecutive),
            );
        }
        p.fraction(format!("{path}.min_score"), self.min_score);
        p.range(
            format!("{path}.cooldown_seconds"),
            self.cooldown_seconds,
            0.0,
            86400.0,
        );
        if weapon_model(cx, p, path) {
            cx.classes(p, &format!("{path}.classes"), &self.classes, true);
        }
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let classes = cx.class_ids(&self.classes);
        if classes.is_empty() {
            tracing::warn!(rule = %self.id, "rule ignored: the detector has none of its classes");
            return None;
        }
        let zone = match &self.zone {
            Some(z) => Some(cx.zone(&self.id, z)?),
            None => None,
        };
        Some(Box::new(Weapon {
            classes,
            zone,
            runs: PerTrack::default(),
            cooldown: Cooldown::new(seconds_to_ns(self.cooldown_seconds)),
            config: self.clone(),
        }))
    }
}

/// Whether the camera's detector is a manifest model declaring the weapon use; the error at
/// `rules[i]` otherwise.
fn weapon_model(cx: &CameraCheck<'_>, p: &mut Problems, path: &str) -> bool {
    let Some(m) = cx.manifest else {
        return false;
    };
    let ok = m
        .model(cx.model)
        .is_some_and(|s| s.kind == ModelKind::Detector && s.uses.contains(&ModelUse::Weapon));
    if !ok {
        p.push(
            format!("{path}.type"),
            format!(
                "the weapon rule needs a weapon model supplied by the city, and the camera's \
                 detector `{}` does not declare use = [\"weapon\"] in {}. Vigie ships no weapon \
                 model: add the city's model to the manifest (with its sha256, licence and \
                 `use = [\"object_detection\", \"weapon\"]`) and set `[detector] model` to it",
                cx.model,
                m.path.display()
            ),
        );
    }
    ok
}

/// One track's run of confirmed detections.
#[derive(Debug, Default)]
struct Run {
    consecutive: u32,
    alerted: bool,
}

/// The running rule.
pub struct Weapon {
    config: Config,
    classes: Vec<u16>,
    zone: Option<usize>,
    runs: PerTrack<Run>,
    cooldown: Cooldown,
}

impl Rule for Weapon {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::Weapon
    }

    fn reset(&mut self) {
        self.runs.clear();
        self.cooldown.reset();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        self.runs.begin();
        let zone = self.zone.and_then(|z| cx.scene.zones.get(z));
        for o in cx
            .objects
            .iter()
            .filter(|o| self.classes.contains(&o.class_id))
        {
            let run = self.runs.entry(o.track_id, Run::default);
            let seen = o.is_evidence(self.config.min_score)
                && zone.is_none_or(|z| z.contains_image_point(o.foot));
            run.consecutive = if seen { run.consecutive + 1 } else { 0 };
            if run.alerted
                || run.consecutive < self.config.min_consecutive
                || !self.cooldown.ready(cx.t_ns)
            {
                continue;
            }
            run.alerted = true;
            let n = run.consecutive;
            self.cooldown.start(cx.t_ns);
            let c = &self.config;
            let explanation = format!(
                "Weapon rule '{}': track {} seen as '{}' by the city's model on {n} consecutive \
                 analysed frames (threshold {}), score {:.2} (at least {:.2}). A model's \
                 detection only: a person must check the image.",
                c.id,
                o.track_id,
                cx.label(o.class_id),
                c.min_consecutive,
                o.score,
                c.min_score
            );
            out.push(Event {
                zone_id: zone.map(|z| z.id.clone()),
                objects: vec![EventObject {
                    track_id: Some(o.track_id),
                    class_id: o.class_id,
                    score: o.score,
                    bbox: o.bbox,
                }],
                confidence: o.score,
                overlay: zone.map_or_else(Overlay::none, |z| Overlay::polygon(&z.polygon)),
                measurements: vec![
                    Measurement::new(
                        "consecutive",
                        f64::from(n),
                        Some(f64::from(c.min_consecutive)),
                        "count",
                    ),
                    Measurement::new(
                        "score",
                        f64::from(o.score),
                        Some(f64::from(c.min_score)),
                        "score",
                    ),
                ],
                ..Event::new(&c.id, EventType::Weapon, cx.t_ns, explanation)
            });
        }
        self.runs.sweep();
    }
}

#[cfg(test)]
mod tests;
