//! Motion in the rule plane, shared by the movement rules (`wrong_way`, `crowd_movement`): a
//! short [`Trail`] of plane positions per track, giving displacement and velocity over a time
//! window, and how a direction maps between the image and the plane at a point.
//!
//! Plane units are those of [`super::context`]: metres on a calibrated camera, image-height units
//! otherwise. Positions are measured from the track's matched boxes only (a predicted box is not
//! evidence of motion), so a velocity here is what the person did, not what the tracker guessed.

use std::collections::VecDeque;

use super::context::{Object, Scene};
use super::dwell::ns_to_seconds;

/// One observed position of a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t_ns: u64,
    /// Rule-plane position of the ground point.
    pub plane: (f32, f32),
    /// Normalised image position of the ground point (for drawing).
    pub image: (f32, f32),
}

impl Sample {
    /// The sample of a matched object at `t_ns`; `None` when it has no plane position (beyond the
    /// calibration's horizon).
    pub fn of(o: &Object, t_ns: u64) -> Option<Sample> {
        o.plane.map(|g| Sample {
            t_ns,
            plane: g.position,
            image: o.foot,
        })
    }
}

/// Recent positions of one track, oldest first, covering a bounded time span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    samples: VecDeque<Sample>,
}

impl Trail {
    /// Adds `s` (times must not go backwards: an older sample is ignored) and forgets samples
    /// older than `keep_ns` before it, keeping the newest of those so that a window of `keep_ns`
    /// still has a start.
    pub fn push(&mut self, s: Sample, keep_ns: u64) {
        if self.samples.back().is_some_and(|b| s.t_ns < b.t_ns) {
            return;
        }
        self.samples.push_back(s);
        let horizon = s.t_ns.saturating_sub(keep_ns);
        while self.samples.len() > 2 && self.samples[1].t_ns <= horizon {
            self.samples.pop_front();
        }
    }

    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    pub fn first(&self) -> Option<&Sample> {
        self.samples.front()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The start of a window of `window_ns` ending at the newest sample: the newest sample at
    /// least `window_ns` older than it, else the oldest one.
    pub fn window_start(&self, window_ns: u64) -> Option<&Sample> {
        let last = self.samples.back()?;
        let at = last.t_ns.saturating_sub(window_ns);
        self.samples
            .iter()
            .rev()
            .find(|s| s.t_ns <= at)
            .or(self.samples.front())
    }

    /// Displacement (plane units) and its duration (s) over the last `window_ns`, if the trail
    /// covers at least `min_span_ns` of it.
    pub fn displacement(&self, window_ns: u64, min_span_ns: u64) -> Option<((f32, f32), f64)> {
        let last = self.samples.back()?;
        let start = self.window_start(window_ns)?;
        let span = last.t_ns.saturating_sub(start.t_ns);
        if span == 0 || span < min_span_ns {
            return None;
        }
        let d = (last.plane.0 - start.plane.0, last.plane.1 - start.plane.1);
        Some((d, ns_to_seconds(span)))
    }

    /// Mean velocity (plane units / s) over the last `window_ns`, if the trail covers at least
    /// `min_span_ns` of it.
    pub fn velocity(&self, window_ns: u64, min_span_ns: u64) -> Option<(f32, f32)> {
        let (d, dt) = self.displacement(window_ns, min_span_ns)?;
        let dt = dt as f32;
        Some((d.0 / dt, d.1 / dt))
    }
}

/// Length of a vector.
pub fn norm(v: (f32, f32)) -> f32 {
    v.0.hypot(v.1)
}

/// `v` scaled to length 1; `None` for a zero or non-finite vector.
pub fn unit(v: (f32, f32)) -> Option<(f32, f32)> {
    let n = norm(v);
    (n.is_finite() && n > 0.0).then(|| (v.0 / n, v.1 / n))
}

pub fn dot(a: (f32, f32), b: (f32, f32)) -> f32 {
    a.0 * b.0 + a.1 * b.1
}

/// Angle between two vectors, degrees in 0..=180; `None` if either is zero.
pub fn angle_degrees(a: (f32, f32), b: (f32, f32)) -> Option<f32> {
    let (a, b) = (unit(a)?, unit(b)?);
    Some(dot(a, b).clamp(-1.0, 1.0).acos().to_degrees())
}

/// Step (normalised image units) of the finite differences that map directions at a point.
const STEP: f32 = 0.01;

/// The plane direction (unit vector) at image point `p` of the image direction `d` (x right,
/// y down). On an uncalibrated camera this only corrects the aspect ratio; on a calibrated one it
/// follows the perspective at `p`. `None` near the horizon or for a zero direction.
pub fn plane_direction(scene: &Scene, p: (f32, f32), d: (f32, f32)) -> Option<(f32, f32)> {
    let d = unit(d)?;
    let a = scene.to_plane(p)?;
    let b = scene.to_plane((p.0 + STEP * d.0, p.1 + STEP * d.1))?;
    unit((b.0 - a.0, b.1 - a.1))
}

/// The image direction (unit vector, normalised image units) at image point `p` of the plane
/// direction `g`: the inverse of [`plane_direction`], for drawing a ground direction as an arrow.
pub fn image_direction(scene: &Scene, p: (f32, f32), g: (f32, f32)) -> Option<(f32, f32)> {
    let o = scene.to_plane(p)?;
    let ex = scene.to_plane((p.0 + STEP, p.1))?;
    let ey = scene.to_plane((p.0, p.1 + STEP))?;
    // Columns of the local Jacobian (plane per image unit), then solve J d = g.
    let (a, c) = (ex.0 - o.0, ex.1 - o.1);
    let (b, d) = (ey.0 - o.0, ey.1 - o.1);
    let det = a * d - b * c;
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    unit(((d * g.0 - b * g.1) / det, (a * g.1 - c * g.0) / det))
}

/// Mean of points; `None` for none.
pub fn centroid(points: impl IntoIterator<Item = (f32, f32)>) -> Option<(f32, f32)> {
    let (mut n, mut sx, mut sy) = (0u32, 0.0f32, 0.0f32);
    for p in points {
        n += 1;
        sx += p.0;
        sy += p.1;
    }
    (n > 0).then(|| (sx / n as f32, sy / n as f32))
}

/// Centroid of a polygon's vertices (where an arrow is drawn); `(0.5, 0.5)` for none.
pub fn vertex_centroid(points: &[(f32, f32)]) -> (f32, f32) {
    centroid(points.iter().copied()).unwrap_or((0.5, 0.5))
}

/// Median of `values` (sorted in place); `None` when empty.
pub fn median(values: &mut [f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let m = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[m - 1] + values[m]) * 0.5
    } else {
        values[m]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Zone;

    const S: u64 = 1_000_000_000;

    fn at(t_ns: u64, x: f32) -> Sample {
        Sample {
            t_ns,
            plane: (x, 0.0),
            image: (x, 0.0),
        }
    }

    #[test]
    fn trail_keeps_a_bounded_window_with_a_start() {
        let mut t = Trail::default();
        for k in 0..=20u64 {
            t.push(at(k * S / 10, k as f32 * 0.1), S);
        }
        // 2.0 s now; kept: 1.0 s (the window's start) to 2.0 s.
        assert_eq!(t.first().map(|s| s.t_ns), Some(S));
        assert_eq!(t.len(), 11);
        let (d, dt) = t.displacement(S, S / 2).unwrap();
        assert!((d.0 - 1.0).abs() < 1e-5 && (dt - 1.0).abs() < 1e-9);
        let v = t.velocity(S / 2, 0).unwrap();
        assert!((v.0 - 1.0).abs() < 1e-4 && v.1 == 0.0, "{v:?}");
        // An older sample is ignored.
        t.push(at(0, 5.0), S);
        assert_eq!(t.last().map(|s| s.t_ns), Some(2 * S));
    }

    #[test]
    fn trail_too_short_has_no_velocity() {
        let mut t = Trail::default();
        assert_eq!(t.velocity(S, 0), None);
        t.push(at(0, 0.0), S);
        assert_eq!(t.velocity(S, 0), None, "a single sample");
        t.push(at(S / 5, 0.1), S);
        assert_eq!(t.velocity(S, S / 2), None, "0.2 s < the 0.5 s asked");
        assert!(t.velocity(S, S / 10).is_some());
    }

    #[test]
    fn angles_and_directions() {
        assert_eq!(angle_degrees((1.0, 0.0), (0.0, 0.0)), None);
        assert!((angle_degrees((1.0, 0.0), (-1.0, 0.0)).unwrap() - 180.0).abs() < 1e-3);
        assert!((angle_degrees((1.0, 0.0), (0.0, 2.0)).unwrap() - 90.0).abs() < 1e-3);
        let scene = crate::rules::Scene::new(vec![Zone::new("z", "", vec![])], Vec::new());
        // Uncalibrated 4:3: an image diagonal is flatter in the plane (x scaled by 4/3).
        let g = plane_direction(&scene, (0.5, 0.5), (1.0, 1.0)).unwrap();
        assert!((g.1 / g.0 - 0.75).abs() < 1e-3, "{g:?}");
        let back = image_direction(&scene, (0.5, 0.5), g).unwrap();
        assert!((back.0 - back.1).abs() < 1e-3 && back.0 > 0.0, "{back:?}");
        assert_eq!(plane_direction(&scene, (0.5, 0.5), (0.0, 0.0)), None);
    }

    #[test]
    fn centroid_and_median() {
        assert_eq!(centroid([]), None);
        assert_eq!(centroid([(0.0, 0.0), (2.0, 4.0)]), Some((1.0, 2.0)));
        assert_eq!(vertex_centroid(&[]), (0.5, 0.5));
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}

/// Test scenes of objects moving at constant velocity, for the movement rules' tests.
#[cfg(test)]
pub(crate) mod moving {
    use crate::rules::testing::{Harness, PERSON};
    use crate::rules::{Event, FrameContext, Object, Scene, Zone};

    /// An object moving at a constant image velocity while it is present.
    #[derive(Debug, Clone, Copy)]
    pub struct Mover {
        pub id: u64,
        pub class: u16,
        /// Ground point (normalised image) at `from`.
        pub start: (f32, f32),
        /// Normalised image units per second.
        pub velocity: (f32, f32),
        /// Box height (normalised image units).
        pub height: f32,
        /// Present from..=to (ns).
        pub from: u64,
        pub to: u64,
    }

    impl Mover {
        /// A person 0.2 image-heights tall, present all the time.
        pub fn person(id: u64, start: (f32, f32), velocity: (f32, f32)) -> Mover {
            Mover {
                id,
                class: PERSON,
                start,
                velocity,
                height: 0.2,
                from: 0,
                to: u64::MAX,
            }
        }

        pub fn class(self, class: u16) -> Mover {
            Mover { class, ..self }
        }

        pub fn height(self, height: f32) -> Mover {
            Mover { height, ..self }
        }

        /// Present from `from` to `to` (ns), at `start` at `from`.
        pub fn during(self, from: u64, to: u64) -> Mover {
            Mover { from, to, ..self }
        }

        /// Its object at `t_ns`, if present.
        pub fn at(&self, h: &Harness, t_ns: u64) -> Option<Object> {
            if t_ns < self.from || t_ns > self.to {
                return None;
            }
            let dt = (t_ns - self.from) as f32 / 1e9;
            let p = (
                self.start.0 + self.velocity.0 * dt,
                self.start.1 + self.velocity.1 * dt,
            );
            let mut o = h.object(self.id, self.class, p, self.height);
            o.image_velocity = self.velocity;
            Some(o)
        }
    }

    /// A scene with one rectangular zone `id` from `(x0, y0)` to `(x1, y1)`.
    pub fn rect_scene(id: &str, name: &str, (x0, y0): (f32, f32), (x1, y1): (f32, f32)) -> Scene {
        let rect = vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)];
        Scene::new(vec![Zone::new(id, name, rect)], Vec::new())
    }

    /// The events of `frames` as on a calibrated camera: a stand-in until ground calibration
    /// lands (the plane stays the image's, but the rule reads its metre thresholds).
    pub fn run_calibrated(h: &mut Harness, frames: Vec<(u64, Vec<Object>)>) -> Vec<Event> {
        let mut events = Vec::new();
        let Harness {
            scene,
            rule,
            labels,
        } = h;
        for (t_ns, objects) in frames {
            let cx = FrameContext {
                t_ns,
                objects: &objects,
                detections: &[],
                scene,
                frame: None,
                poses: &[],
                models: &[],
                labels,
                calibrated: true,
            };
            rule.evaluate(&cx, &mut events);
        }
        events
    }

    /// The errors of rule `text` (TOML with its `type`) checked on a camera with zones `zones`,
    /// under the path `cameras[0].rules[0]`.
    pub fn check(text: &str, zones: &[&str], calibrated: bool) -> Vec<String> {
        let labels = crate::rules::testing::labels();
        let cx = crate::rules::CameraCheck {
            camera: "cam",
            zones: zones.to_vec(),
            lines: Vec::new(),
            calibrated,
            labels: &labels,
            model: "test-model",
            manifest: None,
        };
        let mut problems = crate::check::Problems::default();
        crate::rules::testing::rule_config(text).validate(
            &cx,
            "cameras[0].rules[0]",
            &mut problems,
        );
        problems.errors.iter().map(ToString::to_string).collect()
    }

    /// Asserts that `errors` has exactly one error per entry of `expected`, each starting with it.
    pub fn assert_errors(errors: &[String], expected: &[&str]) {
        for e in expected {
            assert!(
                errors.iter().any(|got| got.starts_with(e)),
                "missing {e:?} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    }

    /// Frames every `step` from `from` to `to` (ns, inclusive), each with the movers present.
    pub fn frames(
        h: &Harness,
        movers: &[Mover],
        (from, to, step): (u64, u64, u64),
    ) -> Vec<(u64, Vec<Object>)> {
        (from / step..=to / step)
            .map(|k| {
                let t = k * step;
                (t, movers.iter().filter_map(|m| m.at(h, t)).collect())
            })
            .collect()
    }
}
