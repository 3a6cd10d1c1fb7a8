use super::*;
use crate::detect::pose::{Joint, Keypoint as Kp, Pose as RawPose, KEYPOINTS};
use crate::detect::BBox;
use crate::rules::testing::{rule_config, Harness, MS, S};
use crate::rules::Scene;

/// Analysed frames every 200 ms (5 fps), poses on every other one (2.5 per second).
const STEP: u64 = 200 * MS;

/// Body at one moment: the person box and, on pose frames, shoulders, hips and the pose score.
#[derive(Clone, Copy)]
struct Body {
    bbox: BBox,
    shoulders: (f32, f32),
    hips: (f32, f32),
    score: f32,
}

const STANDING: Body = Body {
    bbox: BBox {
        x1: 0.45,
        y1: 0.4,
        x2: 0.55,
        y2: 0.8,
    },
    shoulders: (0.5, 0.48),
    hips: (0.5, 0.62),
    score: 0.6,
};
/// Half-way down: torso about 45°.
const FALLING: Body = Body {
    bbox: BBox {
        x1: 0.42,
        y1: 0.55,
        x2: 0.58,
        y2: 0.8,
    },
    shoulders: (0.44, 0.62),
    hips: (0.5, 0.7),
    score: 0.5,
};
const LYING: Body = Body {
    bbox: BBox {
        x1: 0.35,
        y1: 0.7,
        x2: 0.6,
        y2: 0.8,
    },
    shoulders: (0.4, 0.74),
    hips: (0.5, 0.76),
    score: 0.5,
};
const SITTING: Body = Body {
    bbox: BBox {
        x1: 0.45,
        y1: 0.55,
        x2: 0.55,
        y2: 0.8,
    },
    shoulders: (0.5, 0.6),
    hips: (0.5, 0.71),
    score: 0.6,
};

fn raw_pose(b: &Body) -> RawPose {
    let mut keypoints = [Kp {
        x: 0.5,
        y: 0.5,
        score: 0.05,
    }; KEYPOINTS];
    let (s, h) = (b.shoulders, b.hips);
    for (j, (x, y)) in [
        (Joint::LeftShoulder, (s.0, s.1 - 0.005)),
        (Joint::RightShoulder, (s.0, s.1 + 0.005)),
        (Joint::LeftHip, (h.0, h.1 - 0.005)),
        (Joint::RightHip, (h.0, h.1 + 0.005)),
    ] {
        keypoints[j as usize] = Kp { x, y, score: 0.9 };
    }
    RawPose {
        keypoints,
        bbox: b.bbox,
        box_score: 0.3,
        score: b.score,
    }
}

struct Run {
    h: Harness,
    events: Vec<Event>,
    frame: u64,
}

impl Run {
    fn new(extra: &str) -> Run {
        let scene = Scene::new(Vec::new(), Vec::new());
        let rule = format!("type = \"person_on_ground\"\nid = \"fall\"\n{extra}");
        Run {
            h: Harness::new(scene, &rule),
            events: Vec::new(),
            frame: 0,
        }
    }

    /// One analysed frame (poses on even frames only, as the engine schedules them at 2.5/s).
    fn step(&mut self, body: &Body) {
        let t = self.frame * STEP;
        let object = self.h.tracked((7, 0), body.bbox, 0.8, (0, t));
        let pose = Pose {
            track_id: Some(7),
            pose: raw_pose(body),
            rotated: false,
        };
        let poses = if self.frame.is_multiple_of(2) {
            vec![pose]
        } else {
            Vec::new()
        };
        let events = self
            .h
            .step_with(t, std::slice::from_ref(&object), &[], &poses);
        self.events.extend(events);
        self.frame += 1;
    }

    fn hold(&mut self, body: &Body, seconds: u64) {
        for _ in 0..seconds * S / STEP {
            self.step(body);
        }
    }

    fn fall(&mut self) {
        self.step(&FALLING);
        self.step(&FALLING);
        self.step(&LYING);
    }
}

#[test]
fn a_fall_then_lying_still_raises_one_alert_after_min_seconds() {
    let mut r = Run::new("");
    r.hold(&STANDING, 3);
    r.fall();
    let fell_at = r.frame * STEP;
    r.hold(&LYING, 9);
    assert!(r.events.is_empty(), "not before 10 s: {:?}", r.events);
    r.hold(&LYING, 20);
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    let ev = &r.events[0];
    assert_eq!(ev.event_type, EventType::PersonOnGround);
    assert_eq!(ev.track_id(), Some(7));
    let lying = ev.measurements.iter().find(|m| m.name == "lying").unwrap();
    assert!((10.0..10.6).contains(&lying.value), "{lying:?}");
    assert!(ev.t_ns >= fell_at + 9 * S);
    let turn = ev
        .measurements
        .iter()
        .find(|m| m.name == "fall_turn")
        .unwrap();
    assert!(turn.value >= 60.0, "{turn:?}");
    assert!(
        ev.explanation.contains("torso turned"),
        "{}",
        ev.explanation
    );
    assert!(
        ev.explanation.contains("from vertical"),
        "{}",
        ev.explanation
    );
}

#[test]
fn lying_without_a_fall_is_not_alerted_unless_require_fall_is_off() {
    let mut r = Run::new("");
    r.hold(&LYING, 30);
    assert!(r.events.is_empty(), "{:?}", r.events);
    let mut r = Run::new("require_fall = false");
    r.hold(&LYING, 30);
    assert_eq!(r.events.len(), 1);
    assert!(r.events[0].explanation.contains("no fall seen"));
    // A person lying down slowly (more than fall_seconds from standing to lying) is no fall.
    let mut r = Run::new("");
    r.hold(&STANDING, 2);
    r.hold(&SITTING, 3);
    r.hold(&FALLING, 3);
    r.hold(&LYING, 30);
    assert!(r.events.is_empty(), "{:?}", r.events);
}

/// A person already lying when first seen (a track started on a lying body), whose first pose
/// comes out upright (the model's prior) and the next ones lying: no fall, the box was never
/// upright.
#[test]
fn an_upright_pose_on_a_lying_box_is_not_the_start_of_a_fall() {
    let upright_on_lying_box = Body {
        bbox: LYING.bbox,
        ..STANDING
    };
    let mut r = Run::new("");
    r.hold(&upright_on_lying_box, 1);
    r.hold(&LYING, 30);
    assert!(r.events.is_empty(), "{:?}", r.events);
}

#[test]
fn a_fall_then_getting_up_is_not_alerted() {
    let mut r = Run::new("");
    r.hold(&STANDING, 3);
    r.fall();
    r.hold(&LYING, 5);
    r.hold(&STANDING, 30);
    assert!(r.events.is_empty(), "{:?}", r.events);
    // Lying down again later, slowly (no new fall): still nothing.
    r.hold(&SITTING, 3);
    r.hold(&FALLING, 3);
    r.hold(&LYING, 30);
    assert!(r.events.is_empty(), "{:?}", r.events);
}

#[test]
fn sitting_down_is_not_alerted() {
    let mut r = Run::new("");
    r.hold(&STANDING, 3);
    r.hold(&SITTING, 60);
    assert!(r.events.is_empty(), "{:?}", r.events);
}

#[test]
fn a_hip_drop_then_a_wide_box_with_weak_keypoints_is_a_fall() {
    let mut r = Run::new("");
    r.hold(&STANDING, 3);
    // Hips 0.62 -> 0.76 in 0.4 s: 0.35 body heights; the torso reads upright (weak keypoints).
    let weak_lying = Body {
        shoulders: (0.5, 0.7),
        hips: (0.5, 0.76),
        score: 0.2,
        ..LYING
    };
    r.hold(&weak_lying, 12);
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    let ev = &r.events[0];
    assert!(
        ev.explanation.contains("hips dropped"),
        "{}",
        ev.explanation
    );
    assert!(
        ev.explanation.contains("weak keypoints"),
        "{}",
        ev.explanation
    );
}

#[test]
fn moving_on_the_ground_restarts_the_count() {
    let mut r = Run::new("");
    r.hold(&STANDING, 3);
    r.fall();
    r.hold(&LYING, 6);
    let crawled = Body {
        bbox: BBox::new(0.55, 0.7, 0.8, 0.8),
        shoulders: (0.6, 0.74),
        hips: (0.7, 0.76),
        ..LYING
    };
    r.hold(&crawled, 8);
    assert!(r.events.is_empty(), "count restarted: {:?}", r.events);
    r.hold(&crawled, 3);
    assert_eq!(r.events.len(), 1, "the fall is kept: {:?}", r.events);
}

#[test]
fn configuration_errors_name_the_field() {
    let check = crate::rules::motion::moving::check;
    let errs = check(
        "type = \"person_on_ground\"\nid = \"f\"\nzone = \"nope\"\npose_fps = 1\nmin_seconds = 0",
        &["z"],
        false,
    );
    let joined = errs.join("\n");
    for field in ["rules[0].zone", "rules[0].min_seconds", "rules[0].pose_fps"] {
        assert!(joined.contains(field), "{field}: {joined}");
    }
    assert!(check("type = \"person_on_ground\"\nid = \"f\"", &[], false).is_empty());
}

#[test]
fn the_pose_model_must_be_a_pose_model_of_the_manifest() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
    let manifest = crate::detect::Manifest::load(&path).unwrap();
    let labels = crate::rules::testing::labels();
    let cx = CameraCheck {
        camera: "cam",
        zones: Vec::new(),
        lines: Vec::new(),
        calibrated: false,
        labels: &labels,
        model: "nanodet-m-416",
        manifest: Some(&manifest),
    };
    let errors = |model: &str| {
        let mut p = Problems::default();
        rule_config(&format!(
            "type = \"person_on_ground\"\nid = \"f\"\nmodel = \"{model}\""
        ))
        .validate(&cx, "cameras[0].rules[0]", &mut p);
        p.errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    assert!(errors("movenet-multipose").is_empty());
    let e = errors("nanodet-m-416").join("\n");
    assert!(
        e.contains("cameras[0].rules[0].model") && e.contains("not a pose model"),
        "{e}"
    );
    assert!(errors("nope").join("\n").contains("no model `nope`"));
}

#[test]
fn it_asks_for_poses_at_its_rate() {
    let c = rule_config("type = \"person_on_ground\"\nid = \"f\"\npose_fps = 4");
    let need = c.needs().poses.unwrap();
    assert_eq!((need.model.as_str(), need.fps), ("movenet-multipose", 4.0));
}
