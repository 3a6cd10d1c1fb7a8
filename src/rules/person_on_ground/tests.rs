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
    /// Score of the shoulder and hip keypoints.
    keypoints: f32,
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
    keypoints: 0.9,
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
    keypoints: 0.9,
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
    keypoints: 0.9,
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
    keypoints: 0.9,
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
        keypoints[j as usize] = Kp {
            x,
            y,
            score: b.keypoints,
        };
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
    /// Detection score of the person's box.
    det: f32,
}

impl Run {
    fn new(extra: &str) -> Run {
        let scene = Scene::new(Vec::new(), Vec::new());
        let rule = format!("type = \"person_on_ground\"\nid = \"fall\"\n{extra}");
        Run {
            h: Harness::new(scene, &rule),
            events: Vec::new(),
            frame: 0,
            det: 0.8,
        }
    }

    /// One analysed frame (poses on even frames only, as the engine schedules them at 2.5/s).
    fn step(&mut self, body: &Body) {
        let pose = self.frame.is_multiple_of(2).then(|| Pose {
            track_id: Some(7),
            pose: raw_pose(body),
            rotated: false,
            lying_since_ns: None,
        });
        self.step_with(body, pose);
    }

    /// One analysed frame with `pose` (or none) for the person.
    fn step_with(&mut self, body: &Body, pose: Option<Pose>) {
        let t = self.frame * STEP;
        let object = self.h.tracked((7, 0), body.bbox, self.det, (0, t));
        let poses: Vec<Pose> = pose.into_iter().collect();
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

/// A far person: weak keypoints (no torso read) on their upright box.
fn far(b: &Body) -> Body {
    Body {
        score: 0.15,
        keypoints: 0.15,
        ..*b
    }
}

/// The far person: the whole-frame pose reads only weak keypoints on their confidently detected,
/// clearly upright box (display width / height 0.33); then their track is held on a confident
/// lying pose 0.4 s later. The box stands in for the upright torso: a fall, one alert.
#[test]
fn a_clearly_upright_box_with_weak_keypoints_then_a_lying_pose_is_a_fall() {
    let mut r = Run::new("");
    r.hold(&far(&STANDING), 3);
    r.step(&LYING);
    r.hold(&LYING, 12);
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    let ev = &r.events[0];
    assert!(
        ev.explanation
            .contains("seen clearly upright by the detector (box, no keypoints)"),
        "{}",
        ev.explanation
    );
    // Without the box (before this stand-in): weak keypoints whose torso is unread give no turn.
    let turn = ev.measurements.iter().find(|m| m.name == "fall_turn");
    assert!(turn.is_some_and(|m| m.value >= 60.0), "{turn:?}");
}

/// What the stand-in must not admit: a box that is not clearly upright (someone sitting or
/// crouching, display width / height 0.53), a box the detector is unsure of (score 0.4), a
/// lying reading from the box shape only (weak keypoints, no torso), and an upright box more
/// than `fall_seconds` before the lying pose (lying down slowly).
#[test]
fn the_box_stands_in_only_for_a_confident_clearly_upright_box_just_before_a_confident_lying_pose() {
    let crouching = Body {
        bbox: BBox::new(0.45, 0.5, 0.55, 0.75),
        ..far(&STANDING)
    };
    let mut r = Run::new("");
    r.hold(&crouching, 3);
    r.step(&LYING);
    r.hold(&LYING, 12);
    assert!(r.events.is_empty(), "not clearly upright: {:?}", r.events);

    let mut r = Run::new("");
    r.det = 0.4;
    r.hold(&far(&STANDING), 3);
    r.step(&LYING);
    r.hold(&LYING, 12);
    assert!(r.events.is_empty(), "unsure detection: {:?}", r.events);

    // Lying from the wide box only: shoulders and hips weak, the hips never read (no drop).
    let mut r = Run::new("");
    r.hold(&far(&STANDING), 3);
    r.hold(&far(&LYING), 12);
    assert!(r.events.is_empty(), "box shape only: {:?}", r.events);

    let mut r = Run::new("");
    r.hold(&far(&STANDING), 3);
    r.hold(&far(&SITTING), 2);
    r.hold(&LYING, 12);
    assert!(
        r.events.is_empty(),
        "2 s after the upright box: {:?}",
        r.events
    );
}

/// The far path as the engine delivers it: no pose at all while the person stands (the
/// whole-frame pose does not see them), the track lost, then held on a lying pose 1.6 s after
/// the last upright box, on two agreeing readings the first of which came 0.8 s after it. The
/// lying was read 0.8 s after the upright box: a fall. Without `lying_since_ns` (a lying pose
/// first read 1.6 s after the upright box: more than `fall_seconds`) it is not.
#[test]
fn a_held_lying_pose_counts_from_its_first_agreeing_reading() {
    for (since, alerts) in [(Some(4 * STEP), 1), (None, 0)] {
        let mut r = Run::new("");
        for _ in 0..15 {
            r.step_with(&STANDING, None);
        }
        let upright_at = (r.frame - 1) * STEP;
        let held = Pose {
            track_id: Some(7),
            pose: raw_pose(&LYING),
            rotated: true,
            lying_since_ns: since.map(|d| upright_at + d),
        };
        r.det = 0.43;
        // Lost for 7 frames (1.4 s): no object, no pose; the next frame is 1.6 s after.
        r.frame += 7;
        for _ in 0..60 {
            r.step_with(&LYING, Some(held));
        }
        assert_eq!(r.events.len(), alerts, "{since:?}: {:?}", r.events);
    }
}
