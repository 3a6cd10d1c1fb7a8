//! What a rule sees of one analysed frame: [`FrameContext`], with the camera's [`Scene`] (zones,
//! lines, ground calibration), the tracked [`Object`]s (with ground position and speed when the
//! camera is calibrated), the raw detections, the frame itself and room for other model outputs.
//!
//! **Units.** Rules measure in the *rule plane*: metres on the ground when the camera is
//! calibrated, otherwise image-height units (normalised y, and x scaled by the image's aspect
//! ratio so that both axes have the same unit). Thresholds are given twice, in metres and in body
//! heights ([`Length`]); [`FrameContext::length`] picks the one that applies: metres when
//! calibrated, else body heights times the object's box height.

use crate::detect::{BBox, Detection};
use crate::frames::Frame;
use crate::track::Track;

use super::calibration::Calibration;
use super::geometry::{border_edges, point_in_polygon, signed_depth_open};

/// A named area of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub id: String,
    pub name: String,
    /// Vertices in normalised image coordinates, in order (either orientation), at least 3.
    pub polygon: Vec<(f32, f32)>,
    /// The same polygon in the rule plane (see the module docs).
    pub plane: Vec<(f32, f32)>,
    /// Edges along the image border (edge `i` from vertex `i` to the next): nobody crosses them,
    /// so they do not count in [`Zone::depth`]; someone coming into view there is inside at once.
    pub border: Vec<bool>,
}

impl Zone {
    pub fn new(id: &str, name: &str, polygon: Vec<(f32, f32)>) -> Self {
        Zone {
            id: id.to_string(),
            name: if name.is_empty() { id } else { name }.to_string(),
            plane: polygon.clone(),
            border: border_edges(&polygon),
            polygon,
        }
    }

    /// How far a rule-plane point is inside the zone (negative outside), in plane units: the
    /// distance to the nearest edge that is not along the image border.
    pub fn depth(&self, p: (f32, f32)) -> f32 {
        signed_depth_open(p, &self.plane, &self.border)
    }

    /// Whether a normalised image point is inside (boundary included).
    pub fn contains_image_point(&self, p: (f32, f32)) -> bool {
        point_in_polygon(p, &self.polygon)
    }
}

/// A named polyline of the image (a kerb, a doorway, a lane's edge), at least 2 points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: String,
    pub name: String,
    /// Normalised image coordinates, in order.
    pub points: Vec<(f32, f32)>,
    /// The same polyline in the rule plane.
    pub plane: Vec<(f32, f32)>,
}

impl Line {
    pub fn new(id: &str, name: &str, points: Vec<(f32, f32)>) -> Self {
        Line {
            id: id.to_string(),
            name: if name.is_empty() { id } else { name }.to_string(),
            plane: points.clone(),
            points,
        }
    }
}

/// Everything fixed about one camera's view: zones, lines, and how the image maps to the plane.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub zones: Vec<Zone>,
    pub lines: Vec<Line>,
    /// Ground calibration: when present, the rule plane is the ground, in metres.
    calibration: Option<Calibration>,
    /// Width / height of the camera's image; the image plane's x scale.
    aspect: f32,
}

/// Aspect ratio assumed until a frame tells the real one.
pub const DEFAULT_ASPECT: f32 = 4.0 / 3.0;

impl Scene {
    pub fn new(zones: Vec<Zone>, lines: Vec<Line>) -> Self {
        let mut scene = Scene {
            zones,
            lines,
            calibration: None,
            aspect: 0.0,
        };
        scene.set_aspect(DEFAULT_ASPECT);
        scene
    }

    /// The same scene on a calibrated camera: zones and lines are placed on the ground (a
    /// vertex beyond the horizon, which validation refuses, leaves that zone or line empty in
    /// the plane, so it never matches).
    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        let ground = |pts: &[(f32, f32)]| -> Vec<(f32, f32)> {
            pts.iter()
                .map(|&p| calibration.to_ground(p))
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default()
        };
        for z in &mut self.zones {
            z.plane = ground(&z.polygon);
        }
        for l in &mut self.lines {
            l.plane = ground(&l.points);
        }
        self.calibration = Some(calibration);
        self
    }

    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    pub fn zone(&self, id: &str) -> Option<usize> {
        self.zones.iter().position(|z| z.id == id)
    }

    pub fn line(&self, id: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.id == id)
    }

    /// Plane units are metres on the ground.
    pub fn is_calibrated(&self) -> bool {
        self.calibration.is_some()
    }

    pub fn aspect(&self) -> f32 {
        self.aspect
    }

    /// Sets the image's aspect ratio (width / height); recomputes the plane geometry when the
    /// plane is the image. Ignores non-finite or non-positive values.
    pub fn set_aspect(&mut self, aspect: f32) {
        if !(aspect.is_finite() && aspect > 0.0) || aspect == self.aspect {
            return;
        }
        self.aspect = aspect;
        if self.calibration.is_some() {
            return;
        }
        for z in &mut self.zones {
            z.plane = z.polygon.iter().map(|&p| (p.0 * aspect, p.1)).collect();
        }
        for l in &mut self.lines {
            l.plane = l.points.iter().map(|&p| (p.0 * aspect, p.1)).collect();
        }
    }

    /// A normalised image point in the rule plane; `None` beyond the calibration's horizon.
    pub fn to_plane(&self, p: (f32, f32)) -> Option<(f32, f32)> {
        match &self.calibration {
            Some(c) => c.to_ground(p),
            None => Some((p.0 * self.aspect, p.1)),
        }
    }

    /// The plane velocity of an image point `p` moving at `v` (normalised units / s).
    pub fn plane_velocity(&self, p: (f32, f32), v: (f32, f32)) -> Option<(f32, f32)> {
        match &self.calibration {
            Some(c) => c.ground_velocity(p, v),
            None => Some((v.0 * self.aspect, v.1)),
        }
    }
}

/// Position and velocity on the ground, when the camera is calibrated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ground {
    /// Metres, in the calibration's ground frame.
    pub position: (f32, f32),
    /// Metres per second.
    pub velocity: (f32, f32),
}

impl Ground {
    pub fn speed(&self) -> f32 {
        self.velocity.0.hypot(self.velocity.1)
    }
}

/// A tracked object as rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub track_id: u64,
    pub class_id: u16,
    /// The matched detection's box, or the predicted box while `missed`.
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// The tracker confirmed the track (it is not a one-frame blip).
    pub confirmed: bool,
    /// Not matched in this frame: `bbox` is a prediction, not evidence.
    pub missed: bool,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Where it touches the ground: bottom centre of the box, normalised image coordinates.
    pub foot: (f32, f32),
    /// Velocity of the box, normalised image units per second.
    pub image_velocity: (f32, f32),
    /// Position (rule plane) and velocity (plane units / s): metres when calibrated, otherwise
    /// image-height units. `None` when the point cannot be placed on the ground (above the
    /// calibration's horizon).
    pub plane: Option<Ground>,
    /// Ground position (m) and velocity (m/s); `Some` only on a calibrated camera.
    pub ground: Option<Ground>,
}

impl Object {
    /// An object from a track, placed in `scene`'s plane.
    pub fn from_track(t: &Track, scene: &Scene) -> Object {
        Object {
            confirmed: t.confirmed,
            missed: t.missed,
            first_seen_ns: t.first_seen_ns,
            last_seen_ns: t.last_seen_ns,
            ..Object::detected(t.id, t.class_id, t.bbox, t.score, t.velocity, scene)
        }
    }

    /// A confirmed object matched in this frame (seen since 0), placed in `scene`'s plane: for
    /// tests and tools that have no tracker.
    pub fn detected(
        track_id: u64,
        class_id: u16,
        bbox: BBox,
        score: f32,
        image_velocity: (f32, f32),
        scene: &Scene,
    ) -> Object {
        let foot = bbox.ground_point();
        let plane = scene.to_plane(foot).map(|position| Ground {
            position,
            velocity: scene
                .plane_velocity(foot, image_velocity)
                .unwrap_or((0.0, 0.0)),
        });
        Object {
            track_id,
            class_id,
            bbox,
            score,
            confirmed: true,
            missed: false,
            first_seen_ns: 0,
            last_seen_ns: 0,
            foot,
            image_velocity,
            plane,
            ground: plane.filter(|_| scene.is_calibrated()),
        }
    }

    /// Box height, in image-height units: the "body height" of uncalibrated thresholds.
    pub fn body(&self) -> f32 {
        self.bbox.height()
    }

    /// Confirmed, matched in this frame, and at least `min_score`: evidence a rule may act on.
    pub fn is_evidence(&self, min_score: f32) -> bool {
        self.confirmed && !self.missed && self.score >= min_score
    }
}

/// The pose of one person from a pose model (issue 8), matched to a track when possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// The person track it belongs to (`None`: no track matched).
    pub track_id: Option<u64>,
    /// Keypoints in normalised frame coordinates (COCO-17 order for MoveNet).
    pub pose: crate::detect::Pose,
    /// Found on a crop turned 90° (the lying-person retry).
    pub rotated: bool,
    /// A lying pose that continues a lost track on two agreeing weak readings: when the first of
    /// them was read (the person already lay there then). `None` otherwise.
    pub lying_since_ns: Option<u64>,
}

/// A length threshold given both ways: metres (calibrated cameras) and body heights (others).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Length {
    pub metres: f32,
    pub bodies: f32,
}

/// One second detector's output on one frame (e.g. a city's fire model): its manifest name,
/// its labels by class id and its detections (normalised frame coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    pub model: String,
    pub labels: std::sync::Arc<[String]>,
    pub detections: Vec<Detection>,
}

/// One analysed frame of one camera, as every rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct FrameContext<'a> {
    /// Stream timestamp of the frame (ns), monotonic per camera.
    pub t_ns: u64,
    /// Every live track of the camera (tentative and missed ones included: check
    /// [`Object::is_evidence`]).
    pub objects: &'a [Object],
    /// The detector's output for this frame, before tracking, down to `[tracker] low_score`
    /// (below `[detector] score_threshold`: only used to continue tracks); check the score.
    pub detections: &'a [Detection],
    pub scene: &'a Scene,
    /// The analysed frame's pixels (BGR), for rules that look at the image itself.
    pub frame: Option<&'a Frame>,
    /// Pose model output for this frame; empty when no pose model runs.
    pub poses: &'a [Pose],
    /// Second detectors' outputs on this frame (a rule's `model`, at its rate); empty on the
    /// frames where none ran.
    pub models: &'a [ModelOutput],
    /// The detector's class labels, by class id.
    pub labels: &'a [String],
    /// The camera has a ground calibration: plane units are metres ([`Scene::is_calibrated`]).
    pub calibrated: bool,
}

impl<'a> FrameContext<'a> {
    /// The confirmed tracks of `class` (missed ones included, at their predicted box): the
    /// persons whose boxes mark what is theirs (a blob mostly under a person box is that person).
    pub fn confirmed(&self, class: Option<u16>) -> impl Iterator<Item = &'a Object> {
        self.objects
            .iter()
            .filter(move |o| Some(o.class_id) == class && o.confirmed)
    }

    /// `len` in plane units for `object`: metres when calibrated, else body heights times the
    /// object's box height.
    pub fn length(&self, object: &Object, len: Length) -> f32 {
        if self.calibrated {
            len.metres
        } else {
            len.bodies * object.body()
        }
    }

    /// A plane distance in the unit a person reads: (metres, `m`) when calibrated, else (body
    /// heights of `object`, `body`).
    pub fn readable(&self, object: &Object, plane_distance: f32) -> (f64, &'static str) {
        if self.calibrated {
            (f64::from(plane_distance), "m")
        } else if object.body() > 0.0 {
            (f64::from(plane_distance / object.body()), "body")
        } else {
            (f64::INFINITY, "body")
        }
    }

    /// The class's label, or `class N`.
    pub fn label(&self, class_id: u16) -> String {
        self.labels
            .get(usize::from(class_id))
            .cloned()
            .unwrap_or_else(|| format!("object of class {class_id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration() -> Calibration {
        Calibration::fit(
            &[(0.1, 0.9), (0.9, 0.9), (0.7, 0.4), (0.3, 0.4)],
            &[(0.0, 0.0), (12.0, 0.0), (12.0, 20.0), (0.0, 20.0)],
        )
        .unwrap()
    }

    fn zone() -> Zone {
        Zone::new(
            "z",
            "",
            vec![(0.1, 0.9), (0.9, 0.9), (0.7, 0.4), (0.3, 0.4)],
        )
    }

    #[test]
    fn objects_get_ground_position_and_speed_when_calibrated() {
        let scene = Scene::new(vec![zone()], Vec::new()).with_calibration(calibration());
        let bbox = BBox::new(0.45, 0.7, 0.55, 0.9); // feet at (0.5, 0.9): 6 m along the near side
        let o = Object::detected(1, 0, bbox, 0.9, (0.1, 0.0), &scene);
        let g = o.ground.expect("on the ground");
        assert!((g.position.0 - 6.0).abs() < 1e-3 && g.position.1.abs() < 1e-3);
        assert!((g.speed() - 1.5).abs() < 1e-3, "{g:?}");
        assert_eq!(o.plane, o.ground);
        // The zone on the ground: 6 m from the near side's middle to the left and right edges.
        assert!((scene.zones[0].depth(g.position) - 0.0).abs() < 1e-3);
        let inside = scene.to_plane((0.5, 0.65)).unwrap();
        assert!((scene.zones[0].depth(inside) - 6.0).abs() < 1e-2);
        let cx = FrameContext {
            t_ns: 0,
            objects: &[],
            detections: &[],
            scene: &scene,
            frame: None,
            poses: &[],
            models: &[],
            labels: &[],
            calibrated: scene.is_calibrated(),
        };
        let len = Length {
            metres: 0.3,
            bodies: 0.15,
        };
        assert_eq!(cx.length(&o, len), 0.3);
        assert_eq!(cx.readable(&o, 2.0), (2.0, "m"));
    }

    #[test]
    fn uncalibrated_objects_are_measured_in_body_heights() {
        let mut scene = Scene::new(vec![zone()], Vec::new());
        scene.set_aspect(2.0);
        let bbox = BBox::new(0.45, 0.7, 0.55, 0.9);
        let o = Object::detected(1, 0, bbox, 0.9, (0.1, 0.05), &scene);
        assert_eq!(o.ground, None);
        let p = o.plane.expect("image plane");
        assert!((p.position.0 - 1.0).abs() < 1e-6 && (p.position.1 - 0.9).abs() < 1e-6);
        assert!((p.velocity.0 - 0.2).abs() < 1e-6 && (p.velocity.1 - 0.05).abs() < 1e-6);
        assert_eq!(scene.zones[0].plane[1], (1.8, 0.9));
        let cx = FrameContext {
            t_ns: 0,
            objects: &[],
            detections: &[],
            scene: &scene,
            frame: None,
            poses: &[],
            models: &[],
            labels: &[],
            calibrated: scene.is_calibrated(),
        };
        let len = Length {
            metres: 0.3,
            bodies: 0.5,
        };
        assert!((cx.length(&o, len) - 0.1).abs() < 1e-6);
        let (v, unit) = cx.readable(&o, 0.4);
        assert!((v - 2.0).abs() < 1e-6 && unit == "body");
    }
}
