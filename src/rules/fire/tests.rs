//! Built sequences (not real footage): a grey textured ground at 416x416, 5 frames/s, with a
//! drawn flickering flame, or a steady orange patch (a traffic cone). The real-clip and trap
//! tests of the cues themselves are in `src/scene/flame_tests.rs`.

use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::frames::Frame;
use crate::rules::testing::{rule_config, S};
use crate::rules::{CameraBuild, Scene, Zone};

const SIDE: usize = 416;
const STEP: u64 = 200_000_000;

struct Rng(u32);
impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32
    }
}

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
    let mut out = Vec::new();
    for k in 0..seconds * S / STEP {
        let t = k * STEP;
        let mut data = ground(k as u32);
        draw(t, &mut data);
        let f = frame(t, data);
        let cx = FrameContext {
            t_ns: t,
            objects: &[],
            detections: &[],
            scene: &scene,
            frame: Some(&f),
            poses: &[],
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
