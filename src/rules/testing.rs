//! Test harness for rules: one rule on a scene, fed objects frame by frame, without a tracker.

use super::{CameraBuild, Event, FrameContext, Object, Pose, Rule, RuleConfig, Scene};
use crate::detect::{BBox, Detection};

pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;
pub const PERSON: u16 = 0;
pub const CAR: u16 = 2;

pub fn labels() -> Vec<String> {
    ["person", "bicycle", "car"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Reads a rule from TOML (with its `type`), as the configuration loader does.
pub fn rule_config(text: &str) -> RuleConfig {
    let mut table: toml::Table = text.parse().expect("rule TOML");
    let ty = table
        .remove("type")
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("type");
    let reader = RuleConfig::deserializer(&ty).expect("known type");
    reader(toml::Value::Table(table)).expect("valid rule")
}

/// One rule on one scene.
pub struct Harness {
    pub scene: Scene,
    pub rule: Box<dyn Rule>,
    pub labels: Vec<String>,
}

impl Harness {
    pub fn new(scene: Scene, rule: &str) -> Harness {
        let labels = labels();
        let config = rule_config(rule);
        let rule = config
            .build(&CameraBuild {
                scene: &scene,
                labels: &labels,
            })
            .expect("rule builds");
        Harness {
            scene,
            rule,
            labels,
        }
    }

    pub fn step(&mut self, t_ns: u64, objects: &[Object]) -> Vec<Event> {
        self.step_with(t_ns, objects, &[], &[])
    }

    /// One frame with the detector's detections and the pose model's poses besides the
    /// tracked objects (for rules that read them).
    pub fn step_with(
        &mut self,
        t_ns: u64,
        objects: &[Object],
        detections: &[Detection],
        poses: &[Pose],
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let Harness {
            scene,
            rule,
            labels,
        } = self;
        let cx = FrameContext {
            t_ns,
            objects,
            detections,
            scene,
            frame: None,
            poses,
            models: &[],
            labels,
            calibrated: scene.is_calibrated(),
        };
        rule.evaluate(&cx, &mut out);
        out
    }

    /// Every event of `frames` (time, objects), in order.
    pub fn run(&mut self, frames: impl IntoIterator<Item = (u64, Vec<Object>)>) -> Vec<Event> {
        let mut out = Vec::new();
        for (t, objects) in frames {
            out.extend(self.step(t, &objects));
        }
        out
    }

    /// A confirmed object of `class` whose feet are at `(x, y)`, box `height` tall.
    pub fn object(&self, id: u64, class: u16, (x, y): (f32, f32), height: f32) -> Object {
        let bbox = BBox::new(x - height * 0.15, y - height, x + height * 0.15, y);
        Object::detected(id, class, bbox, 0.9, (0.0, 0.0), &self.scene)
    }

    /// A confirmed object with box `bbox` and `score`, seen from `first_ns` to `last_ns`.
    pub fn tracked(
        &self,
        (id, class): (u64, u16),
        bbox: BBox,
        score: f32,
        (first_ns, last_ns): (u64, u64),
    ) -> Object {
        Object {
            first_seen_ns: first_ns,
            last_seen_ns: last_ns,
            ..Object::detected(id, class, bbox, score, (0.0, 0.0), &self.scene)
        }
    }

    /// A person 0.2 image-heights tall, feet at `(x, y)`.
    pub fn person(&self, id: u64, at: (f32, f32)) -> Object {
        self.object(id, PERSON, at, 0.2)
    }

    /// Person `id` at `pos(t)` every `step` from `from` to `to` (ns, inclusive).
    pub fn walk(
        &self,
        id: u64,
        (from, to, step): (u64, u64, u64),
        pos: impl Fn(u64) -> (f32, f32),
    ) -> Vec<(u64, Vec<Object>)> {
        (from / step..=to / step)
            .map(|k| {
                let t = k * step;
                (t, vec![self.person(id, pos(t))])
            })
            .collect()
    }
}

/// A camera looking down at a 12 m x 20 m square (the far side looks half as wide).
pub fn calibration() -> super::Calibration {
    super::Calibration::fit(
        &[(0.1, 0.9), (0.9, 0.9), (0.7, 0.4), (0.3, 0.4)],
        &[(0.0, 0.0), (12.0, 0.0), (12.0, 20.0), (0.0, 20.0)],
    )
    .expect("calibration")
}

impl Harness {
    /// A confirmed person standing at ground point `g` (m), box 0.15 image-heights tall.
    pub fn person_on_ground(&self, id: u64, g: (f32, f32)) -> Object {
        let cal = self.scene.calibration().expect("a calibrated scene");
        let at = cal.to_image(g).expect("visible");
        self.object(id, PERSON, at, 0.15)
    }
}
