//! Built sequences (not real footage): a grey textured ground at 416x416, 5 frames/s, with a
//! drawn flickering flame, or a steady orange patch (a traffic cone). The real-clip and trap
//! tests of the cues themselves are in `src/scene/flame_tests.rs`.

use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::detect::Detection;
use crate::frames::Frame;
use crate::rules::testing::{rule_config, S};
use crate::rules::ModelOutput;
use crate::rules::{CameraBuild, Object, Scene, Zone};
use crate::testing::XorShift as Rng;

const SIDE: usize = 416;
const STEP: u64 = 200_000_000;

fn ground(seed: u32) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..SIDE * SIDE)
        .flat_map(|_| {
            let v = (95.0 + 10.0 * rng.unit()) as u8;
            [v, v, v]
        })
        .collect()
}

fn put(f: &mut [u8], x: usize, y: usize, bgr: [f32; 3]) {
    let i = (y * SIDE + x) * 3;
    for c in 0..3 {
        f[i + c] = bgr[c].round().clamp(0.0, 255.0) as u8;
    }
}

/// A flame about `h` pixels tall at (150, 320), each row's width and brightness random.
fn flame(f: &mut [u8], h: f32, rng: &mut Rng) {
    let h = h * (0.75 + 0.5 * rng.unit());
    for dy in 0..h as usize {
        let v = dy as f32 / h;
        let reach = (h * 0.3 * (1.0 - v).powf(0.6) * (0.75 + 0.5 * rng.unit())) as i64;
        let k = 0.65 + 0.35 * rng.unit();
        for dx in -reach..=reach {
            let core = 1.0 - dx.unsigned_abs() as f32 / (reach.max(1) as f32);
            let (g, b) = (
                90.0 + 150.0 * core * (1.0 - v),
                20.0 + 60.0 * core * (1.0 - v),
            );
            put(f, (150 + dx) as usize, 320 - dy, [b * k, g * k, 255.0 * k]);
        }
    }
}

fn frame(t: u64, data: Vec<u8>) -> Frame {
    Frame {
        camera: Arc::from("cam"),
        seq: t / STEP,
        pts_ns: t,
        captured_at_ms: 0,
        captured: Instant::now(),
        width: SIDE as u32,
        height: SIDE as u32,
        source_width: 768,
        source_height: 576,
        data,
    }
}

/// Runs the rule over `seconds` of built frames; returns the events.
fn run(seconds: u64, extra: &str, draw: impl Fn(u64, &mut Vec<u8>)) -> Vec<Event> {
    run_model(seconds, extra, draw, |_| None)
}

/// The same, with a fire model stub: `model(t)` is its output on the frame at `t` (`None`: it
/// did not run).
fn run_model(
    seconds: u64,
    extra: &str,
    draw: impl Fn(u64, &mut Vec<u8>),
    model: impl Fn(u64) -> Option<Vec<Detection>>,
) -> Vec<Event> {
    run_all(seconds, extra, draw, model, &[])
}

/// [`run_model`] with these person boxes (confirmed person tracks) on every frame.
fn run_all(
    seconds: u64,
    extra: &str,
    draw: impl Fn(u64, &mut Vec<u8>),
    model: impl Fn(u64) -> Option<Vec<Detection>>,
    persons: &[BBox],
) -> Vec<Event> {
    let scene = Scene::new(
        vec![Zone::new(
            "lawn",
            "",
            vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
        )],
        Vec::new(),
    );
    let labels = crate::rules::testing::labels();
    let mut rule = rule_config(&format!(
        "type = \"fire\"\nid = \"fire\"\nzone = \"lawn\"\n{extra}"
    ))
    .build(&CameraBuild {
        scene: &scene,
        labels: &labels,
    })
    .expect("builds");
    let objects: Vec<Object> = persons
        .iter()
        .enumerate()
        .map(|(k, b)| Object::detected(k as u64, 0, *b, 0.8, (0.0, 0.0), &scene))
        .collect();
    let mut out = Vec::new();
    for k in 0..seconds * S / STEP {
        let t = k * STEP;
        let mut data = ground(k as u32);
        draw(t, &mut data);
        let f = frame(t, data);
        let models: Vec<ModelOutput> = model(t)
            .map(|detections| ModelOutput {
                model: "stub".into(),
                labels: ["fire", "smoke"].map(String::from).to_vec().into(),
                detections,
            })
            .into_iter()
            .collect();
        let cx = FrameContext {
            t_ns: t,
            objects: &objects,
            detections: &[],
            scene: &scene,
            frame: Some(&f),
            poses: &[],
            models: &models,
            labels: &labels,
            calibrated: false,
        };
        rule.evaluate(&cx, &mut out);
    }
    out
}

#[test]
fn a_flickering_flame_raises_one_alert_after_min_seconds() {
    let events = run(40, "", |t, f| {
        if t >= 10 * S {
            let mut rng = Rng(0x9e37_79b9 ^ (t / STEP) as u32);
            flame(f, 25.0 + (t - 10 * S) as f32 / S as f32, &mut rng);
        }
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert!(ev.t_ns >= 13 * S && ev.t_ns <= 22 * S, "{}", ev.t_ns);
    assert!(ev.explanation.contains("flicker"), "{}", ev.explanation);
    let b = ev.objects[0].bbox;
    let (x, y) = (150.0 / 416.0, 310.0 / 416.0);
    assert!(
        b.x1 <= x && x <= b.x2 && b.y1 <= y && y <= b.y2 + 0.01,
        "{b:?}"
    );
}

/// A flame mostly inside a person's box is taken for that person's clothing and dropped (the
/// price of the person exclusion: a person on fire, or a fire right behind one); a person box
/// beside the flame (grown by 10 % of its height, still clear of it) changes nothing.
#[test]
fn a_flame_inside_a_person_box_is_dropped_one_beside_it_is_not() {
    let over = BBox::new(125.0 / 416.0, 250.0 / 416.0, 175.0 / 416.0, 325.0 / 416.0);
    let beside = BBox::new(190.0 / 416.0, 250.0 / 416.0, 230.0 / 416.0, 325.0 / 416.0);
    let nothing = |_| None;
    let covered = run_all(40, "", flame_from(10), nothing, &[over]);
    assert!(covered.is_empty(), "{covered:?}");
    let near = run_all(40, "", flame_from(10), nothing, &[beside]);
    assert_eq!(near.len(), 1, "{near:?}");
    let ev = &near[0];
    assert!(
        ev.explanation.contains("0 % of it inside person boxes"),
        "{}",
        ev.explanation
    );
    assert_eq!(measured(ev, "person_cover"), 0.0);
    assert_eq!(ev.t_ns, run(40, "", flame_from(10))[0].t_ns);
}

#[test]
fn a_steady_orange_cone_never_alerts() {
    let events = run(40, "", |t, f| {
        if t >= 5 * S {
            for y in 290..320 {
                for x in 140..160 {
                    put(f, x, y, [30.0, 120.0, 240.0]);
                }
            }
        }
    });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_fire_rule_needs_a_zone() {
    let check = crate::rules::motion::moving::check;
    let errs = check(
        "type = \"fire\"\nid = \"f\"\nzone = \"nope\"\nfps = 0",
        &["z"],
        false,
    )
    .join("\n");
    assert!(
        errs.contains("rules[0].zone") && errs.contains("rules[0].fps"),
        "{errs}"
    );
    let reader = crate::rules::RuleConfig::deserializer("fire").unwrap();
    let table: toml::Table = "id = \"f\"".parse().unwrap();
    let err = reader(toml::Value::Table(table)).unwrap_err().to_string();
    assert!(err.contains("zone"), "{err}");
}

// ---- The fire model slot, with a detector stub (made-up boxes; nothing here has seen fire). ----

/// A stub box of class `class_id` (0 fire, 1 smoke) over the flame's spot.
fn stub(class_id: u16, score: f32) -> Vec<Detection> {
    vec![Detection {
        class_id,
        score,
        bbox: BBox::new(0.30, 0.65, 0.42, 0.78),
    }]
}

fn flame_from(start: u64) -> impl Fn(u64, &mut Vec<u8>) {
    move |t, f| {
        if t >= start * S {
            let mut rng = Rng(0x9e37_79b9 ^ (t / STEP) as u32);
            flame(f, 25.0 + (t - start * S) as f32 / S as f32, &mut rng);
        }
    }
}

const MODEL: &str = "model = \"stub\"\n";

#[test]
fn extend_a_model_alone_alerts_after_n_of_m_and_min_seconds() {
    let extra = format!("{MODEL}model_mode = \"extend\"\n");
    let hits = |t: u64| Some(if t >= 5 * S { stub(0, 0.8) } else { Vec::new() });
    let events = run_model(30, &extra, |_, _| {}, hits);
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    // 3 of 5 readings at 5/s: holds from 5.4 s; then min_seconds (3).
    assert!(ev.t_ns >= 8 * S && ev.t_ns <= 9 * S, "{}", ev.t_ns);
    assert!(
        ev.explanation.contains("fire model alone"),
        "{}",
        ev.explanation
    );
    assert!(
        ev.explanation.contains("best score 0.80"),
        "{}",
        ev.explanation
    );
    assert_eq!(measured(ev, "model_hits"), 5.0);
}

#[test]
fn extend_needs_model_hits_in_n_of_m_readings_of_its_labels() {
    let extra = format!("{MODEL}model_mode = \"extend\"\nmodel_labels = [\"fire\"]\n");
    // Smoke boxes (not in model_labels), low fire scores, or one hit in two readings: no alert.
    let smoke = run_model(20, &extra, |_, _| {}, |_| Some(stub(1, 0.9)));
    let weak = run_model(20, &extra, |_, _| {}, |_| Some(stub(0, 0.3)));
    let rare = |t: u64| {
        Some(if (t / STEP).is_multiple_of(2) {
            stub(0, 0.9)
        } else {
            Vec::new()
        })
    };
    let every_other = run_model(20, &extra, |_, _| {}, rare);
    assert!(smoke.is_empty() && weak.is_empty(), "{smoke:?} {weak:?}");
    assert!(every_other.is_empty(), "{every_other:?}");
}

#[test]
fn confirm_needs_the_cues_and_the_model() {
    let hits = |t: u64| {
        Some(if t >= 10 * S {
            stub(0, 0.8)
        } else {
            Vec::new()
        })
    };
    let nothing = |_| Some(Vec::new());
    let model_only = run_model(40, MODEL, |_, _| {}, hits);
    assert!(model_only.is_empty(), "{model_only:?}");
    let cues_only = run_model(40, MODEL, flame_from(10), nothing);
    assert!(cues_only.is_empty(), "{cues_only:?}");
    let both = run_model(40, MODEL, flame_from(10), hits);
    assert_eq!(both.len(), 1, "{both:?}");
    let ev = &both[0];
    assert!(
        ev.explanation
            .contains("every flame cue and the fire model"),
        "{}",
        ev.explanation
    );
    assert!(
        ev.explanation.contains("confirms the cues"),
        "{}",
        ev.explanation
    );
    // The same flame alerts at the same time without a model (the model held all along).
    let alone = run(40, "", flame_from(10));
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].t_ns, ev.t_ns);
}

#[test]
fn a_fire_model_is_checked_against_the_manifest() {
    let manifest = crate::detect::Manifest::parse(
        &format!(
            "{}\n{}",
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/models.toml"))
                .unwrap(),
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/models/fire-stub.toml"
            ))
            .unwrap()
        ),
        std::path::Path::new("models.toml"),
    )
    .unwrap();
    let check = |extra: &str| {
        let cfg = rule_config(&format!(
            "type = \"fire\"\nid = \"f\"\nzone = \"z\"\n{extra}"
        ));
        let cx = CameraCheck {
            camera: "cam",
            zones: vec!["z"],
            lines: Vec::new(),
            calibrated: false,
            labels: &[],
            model: "nanodet-m-416",
            manifest: Some(&manifest),
        };
        let mut p = Problems::default();
        cfg.validate(&cx, "rules[0]", &mut p);
        p.errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(check("model = \"fire-stub\""), "");
    let e = check("model = \"nanodet-m-416\"");
    assert!(
        e.contains("rules[0].model") && e.contains("use = [\"fire\"]"),
        "{e}"
    );
    let e = check("model = \"fire-stub\"\nmodel_labels = [\"flames\"]");
    assert!(e.contains("rules[0].model_labels[0]"), "{e}");
    let e = check("model = \"nowhere\"");
    assert!(e.contains("no model `nowhere`"), "{e}");
    let e = check("model = \"fire-stub\"\nmodel_hits = 6");
    assert!(e.contains("rules[0].model_hits"), "{e}");
    let needs = cfg_needs("model = \"fire-stub\"\nfps = 4");
    assert_eq!(needs.detectors.len(), 1);
    assert_eq!(
        (needs.detectors[0].model.as_str(), needs.detectors[0].fps),
        ("fire-stub", 4.0)
    );
    assert!(cfg_needs("").detectors.is_empty());
}

fn cfg_needs(extra: &str) -> crate::rules::Needs {
    rule_config(&format!(
        "type = \"fire\"\nid = \"f\"\nzone = \"z\"\n{extra}"
    ))
    .needs()
}

/// The value of the event's measurement `name`.
fn measured(ev: &Event, name: &str) -> f64 {
    ev.measurements
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", ev.measurements))
        .value
}
