//! Rule evaluation per frame at 20 tracks: every rule of a camera on one frame's tracks, object
//! placement (ground projection when calibrated) included: 4 intrusion rules, the 3 movement
//! rules (wrong_way, density, crowd_movement), and all 7 together, uncalibrated and calibrated.
//!
//! `cargo bench --bench rules`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use vigie::detect::{BBox, Detection};
use vigie::rules::{Calibration, CameraRules, FrameInput, Line, RuleConfig, Scene, Zone};
use vigie::track::{Track, Tracker, TrackerConfig};

/// Frames in one period of the scene.
const PERIOD: usize = 200;
/// 5 detection frames per second.
const FRAME_NS: u64 = 200_000_000;
const PEOPLE: usize = 20;

/// `PEOPLE` pedestrians crossing the image back and forth on parallel paths, some through the
/// zones, at walking pace; the tracks of each frame as the tracker returns them.
fn scene_tracks() -> Vec<Vec<Track>> {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let frame = |f: usize| -> Vec<Detection> {
        (0..PEOPLE)
            .map(|i| {
                let phase = (f as f32 / PERIOD as f32 + i as f32 * 0.37).fract();
                let x = 0.05 + 0.9 * (1.0 - (2.0 * phase - 1.0).abs());
                let y = 0.3 + 0.65 * (i as f32 + 0.5) / PEOPLE as f32;
                let h = 0.08 + 0.12 * y;
                Detection {
                    class_id: 0,
                    score: 0.8,
                    bbox: BBox::new(x - h * 0.2, y - h, x + h * 0.2, y),
                }
            })
            .collect()
    };
    (0..PERIOD * 2)
        .map(|k| {
            tracker
                .update(&frame(k % PERIOD), k as u64 * FRAME_NS)
                .to_vec()
        })
        .skip(PERIOD)
        .collect()
}

fn zones() -> Vec<Zone> {
    let mut zones: Vec<Zone> = (0..4)
        .map(|i| {
            let (x, y) = ((i % 2) as f32 * 0.5, 0.3 + (i / 2) as f32 * 0.35);
            Zone::new(
                &format!("z{i}"),
                "",
                vec![
                    (x + 0.05, y),
                    (x + 0.45, y),
                    (x + 0.45, y + 0.3),
                    (x + 0.25, y + 0.15),
                    (x + 0.05, y + 0.3),
                ],
            )
        })
        .collect();
    // The whole walking area: every track counts for the movement rules.
    zones.push(Zone::new(
        "all",
        "",
        vec![(0.0, 0.2), (1.0, 0.2), (1.0, 1.0), (0.0, 1.0)],
    ));
    zones
}

fn rule(type_name: &str, text: &str) -> RuleConfig {
    let table: toml::Table = text.parse().expect("rule");
    let read = RuleConfig::deserializer(type_name).expect("rule type");
    read(toml::Value::Table(table)).expect("valid rule")
}

fn intrusion_rules() -> Vec<RuleConfig> {
    (0..4)
        .map(|i| {
            rule(
                "intrusion",
                &format!(
                    "id = \"r{i}\"\nzone = \"z{i}\"\nclasses = [\"person\"]\nmin_seconds = 2.0\n"
                ),
            )
        })
        .collect()
}

/// `wrong_way`, `density` and `crowd_movement` on the whole area (uncalibrated).
fn movement_rules() -> Vec<RuleConfig> {
    vec![
        rule(
            "wrong_way",
            "id = \"ww\"\nzone = \"all\"\ndirection = [1.0, 0.0]\n",
        ),
        rule("density", "id = \"d\"\nzone = \"all\"\narea_m2 = 200.0\n"),
        rule("crowd_movement", "id = \"c\"\nzone = \"all\"\n"),
    ]
}

fn labels() -> Vec<String> {
    vec!["person".to_string()]
}

fn bench_rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules_evaluate");
    g.sample_size(30);
    let frames = scene_tracks();
    assert!(frames.iter().all(|f| f.len() >= PEOPLE));
    let scene = || {
        Scene::new(
            zones(),
            vec![Line::new("l", "", vec![(0.0, 0.5), (1.0, 0.5)])],
        )
    };
    // A 20 m x 30 m ground seen from above at an angle: every object is projected.
    let calibration = Calibration::fit(
        &[(0.0, 1.0), (1.0, 1.0), (0.8, 0.2), (0.2, 0.2)],
        &[(0.0, 0.0), (20.0, 0.0), (20.0, 30.0), (0.0, 30.0)],
    )
    .expect("calibration");
    let all = || -> Vec<RuleConfig> {
        intrusion_rules()
            .into_iter()
            .chain(movement_rules())
            .collect()
    };
    let cases = [
        ("20_tracks_4_intrusion_rules", scene(), intrusion_rules()),
        (
            "20_tracks_4_intrusion_rules_calibrated",
            scene().with_calibration(calibration.clone()),
            intrusion_rules(),
        ),
        (
            "20_tracks_wrong_way_density_crowd_movement",
            scene(),
            movement_rules(),
        ),
        ("20_tracks_all_7_rules", scene(), all()),
        (
            "20_tracks_all_7_rules_calibrated",
            scene().with_calibration(calibration),
            all(),
        ),
    ];
    for (name, scene, configs) in cases {
        let mut rules = CameraRules::build(scene, &configs, labels());
        assert_eq!(rules.rule_ids().len(), configs.len(), "every rule builds");
        let mut k = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let tracks = &frames[k % PERIOD];
                let events = rules.evaluate(FrameInput {
                    t_ns: (PERIOD + k) as u64 * FRAME_NS,
                    tracks: black_box(tracks),
                    detections: &[],
                    frame: None,
                    poses: &[],
                    models: &[],
                });
                k += 1;
                black_box(events.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
