//! The confirmation logic with a detector stub: objects of a made-up `pistol` class fed frame by
//! frame. Nothing here has seen a real weapon.

use super::*;
use crate::check::Problems;
use crate::detect::{BBox, Manifest};
use crate::rules::testing::rule_config;
use crate::rules::{Object, Scene};

const STEP: u64 = 200_000_000;

fn labels() -> Vec<String> {
    ["person", "pistol"].map(String::from).to_vec()
}

/// The stub's output on each frame: (track id, score) of `pistol` tracks; `None`: not seen.
fn run(extra: &str, frames: &[Vec<(u64, Option<f32>)>]) -> Vec<Event> {
    let scene = Scene::new(Vec::new(), Vec::new());
    let labels = labels();
    let mut rule = rule_config(&format!(
        "type = \"weapon\"\nid = \"w\"\nclasses = [\"pistol\"]\n{extra}"
    ))
    .build(&CameraBuild {
        scene: &scene,
        labels: &labels,
    })
    .expect("builds");
    let mut out = Vec::new();
    for (k, frame) in frames.iter().enumerate() {
        let objects: Vec<Object> = frame
            .iter()
            .map(|&(id, score)| Object {
                missed: score.is_none(),
                ..Object::detected(
                    id,
                    1,
                    BBox::new(0.4, 0.4, 0.45, 0.45),
                    score.unwrap_or(0.0),
                    (0.0, 0.0),
                    &scene,
                )
            })
            .collect();
        let cx = FrameContext {
            t_ns: k as u64 * STEP,
            objects: &objects,
            detections: &[],
            scene: &scene,
            frame: None,
            poses: &[],
            models: &[],
            labels: &labels,
            calibrated: false,
        };
        rule.evaluate(&cx, &mut out);
    }
    out
}

#[test]
fn an_alert_needs_n_consecutive_confirmed_detections_on_one_track() {
    let seen = |s: f32| vec![(1, Some(s))];
    // Two, a gap, two: never three in a row.
    let frames = [seen(0.9), seen(0.9), vec![(1, None)], seen(0.9), seen(0.9)];
    assert!(run("", &frames).is_empty());
    // A low score breaks the run too.
    let frames = [seen(0.9), seen(0.3), seen(0.9), seen(0.9)];
    assert!(run("", &frames).is_empty());
    // Three in a row: one alert, once per track.
    let frames: Vec<_> = (0..10).map(|_| seen(0.8)).collect();
    let events = run("", &frames);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].t_ns, 2 * STEP);
    assert!(events[0].explanation.contains("3 consecutive"));
    // Two tracks each seen every other frame: no single track reaches 3.
    let frames: Vec<_> = (0..10)
        .map(|k| vec![(1 + k % 2, Some(0.9)), (2 - k % 2, None)])
        .collect();
    assert!(run("", &frames).is_empty());
    // N = 5.
    let frames: Vec<_> = (0..5).map(|_| seen(0.8)).collect();
    assert_eq!(run("min_consecutive = 5", &frames).len(), 1);
    assert!(run("min_consecutive = 6", &frames).is_empty());
}

fn check(manifest: &Manifest, model: &str, labels: &[String]) -> Vec<String> {
    let cx = CameraCheck {
        camera: "cam",
        zones: Vec::new(),
        lines: Vec::new(),
        calibrated: false,
        labels,
        model,
        manifest: Some(manifest),
    };
    let mut p = Problems::default();
    rule_config("type = \"weapon\"\nid = \"w\"\nclasses = [\"pistol\"]").validate(
        &cx,
        "cameras[0].rules[0]",
        &mut p,
    );
    p.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn without_a_city_weapon_model_check_config_says_why() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
    let shipped = Manifest::load(&path).unwrap();
    let coco: Vec<String> = shipped.model("nanodet-m-416").unwrap().labels.clone();
    let errs = check(&shipped, "nanodet-m-416", &coco).join("\n");
    assert!(
        errs.contains("cameras[0].rules[0].type")
            && errs.contains("Vigie ships no weapon model")
            && errs.contains("use = [\"weapon\"]"),
        "{errs}"
    );
    // A city's model declaring the use and the class: accepted.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("name = \"nanodet-m-416\"", "name = \"city-weapons\"", 1)
        .replacen(
            "use = [\"object_detection\"]",
            "use = [\"object_detection\", \"weapon\"]",
            1,
        );
    let city = Manifest::parse(&text, &path).unwrap();
    let with_pistol: Vec<String> = ["person", "pistol"].map(String::from).to_vec();
    assert!(check(&city, "city-weapons", &with_pistol).is_empty());
    // ... but a class it does not have is named.
    let errs = check(&city, "city-weapons", &coco).join("\n");
    assert!(errs.contains("rules[0].classes[0]"), "{errs}");
}
