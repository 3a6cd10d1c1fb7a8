//! Tracker update and rule evaluation on a synthetic moving scene, with the detections the engine
//! gives the tracker: the objects' own (mostly above the detector threshold, some frames below)
//! plus as many low-score false detections (cones, bollards) as objects.
//!
//! `cargo bench --bench track`

use std::f32::consts::TAU;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vigie::detect::{BBox, Detection};
use vigie::rules::{IntrusionRule, RuleEngine, RuleSpec, Zone};
use vigie::track::{Track, Tracker, TrackerConfig};

/// Frames in one period of the scene; the motion is periodic so cycling through them is seamless.
const PERIOD: usize = 300;
/// 15 detection frames per second.
const FRAME_NS: u64 = 66_666_667;

/// The engine's tracker settings: high = detector threshold, low = `[tracker] low_score`.
fn config() -> TrackerConfig {
    TrackerConfig {
        min_score: 0.35,
        low_score: 0.1,
        ..TrackerConfig::default()
    }
}

/// `n` objects, each on its own circle, one full turn per `PERIOD` frames (a few tenths of the
/// frame per second), two classes, one frame in ten with a score under the detector threshold;
/// plus `n` static low-score false detections. Returns the detections of each frame of one period.
fn scene(n: usize) -> Vec<Vec<Detection>> {
    let cols = (n as f32).sqrt().ceil() as usize;
    (0..PERIOD)
        .map(|f| {
            let objects = (0..n).map(|i| {
                let (col, row) = ((i % cols) as f32, (i / cols) as f32);
                let cell = 1.0 / cols as f32;
                let phase = TAU * (f as f32 / PERIOD as f32) + i as f32;
                let r = cell * 0.3;
                let cx = (col + 0.5) * cell + r * phase.cos();
                let cy = (row + 0.5) * cell + r * phase.sin();
                let (w, h) = (cell * 0.3, cell * 0.5);
                let phase_score = ((i * 7 + f) % 10) as f32 / 10.0;
                Detection {
                    class_id: if i % 5 == 0 { 2 } else { 0 },
                    score: if phase_score == 0.0 {
                        0.25
                    } else {
                        0.5 + 0.4 * phase_score
                    },
                    bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
                }
            });
            let junk = (0..n).map(|i| {
                let (x, y) = ((i * 37 % 100) as f32 / 100.0, (i * 61 % 100) as f32 / 100.0);
                Detection {
                    class_id: 0,
                    score: 0.1 + 0.2 * ((i + f) % 3) as f32 / 3.0,
                    bbox: BBox::new(x, y, x + 0.02, y + 0.04),
                }
            });
            objects.chain(junk).collect()
        })
        .collect()
}

fn bench_tracker(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker_update");
    g.sample_size(20);
    for n in [10usize, 20, 50] {
        let frames = scene(n);
        let mut tracker = Tracker::new(config());
        let mut k = 0u64;
        // Warm up so the tracks exist and are confirmed.
        for f in frames.iter().take(10) {
            tracker.update(f, k * FRAME_NS);
            k += 1;
        }
        let live = tracker.tracks();
        assert!(
            live.len() == n && live.iter().all(|t| t.confirmed && !t.missed),
            "the synthetic scene must be tracked steadily: {} tracks",
            live.len()
        );
        g.bench_with_input(BenchmarkId::from_parameter(n), &frames, |b, frames| {
            b.iter(|| {
                let f = &frames[k as usize % PERIOD];
                let tracks = tracker.update(black_box(f), k * FRAME_NS);
                k += 1;
                black_box(tracks.len())
            })
        });
    }
    g.finish();
}

/// Four intrusion rules, each on a concave zone in one quadrant.
fn rule_engine() -> RuleEngine {
    let zones: Vec<Zone> = (0..4)
        .map(|i| {
            let (x, y) = ((i % 2) as f32 * 0.5, (i / 2) as f32 * 0.5);
            Zone {
                id: format!("z{i}"),
                name: format!("Zone {i}"),
                // A concave pentagon in each quadrant.
                polygon: vec![
                    (x + 0.05, y + 0.05),
                    (x + 0.45, y + 0.05),
                    (x + 0.45, y + 0.45),
                    (x + 0.25, y + 0.2),
                    (x + 0.05, y + 0.45),
                ],
            }
        })
        .collect();
    let rules: Vec<RuleSpec> = (0..4)
        .map(|i| {
            RuleSpec::Intrusion(IntrusionRule {
                id: format!("r{i}"),
                zone: i,
                classes: vec![0, 2],
                min_seconds: 3.0,
                cooldown_seconds: 10.0,
                min_score: 0.5,
            })
        })
        .collect();
    RuleEngine::new(zones, rules)
}

fn bench_rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules_evaluate");
    g.sample_size(20);
    for n in [20usize, 50] {
        let frames = scene(n);
        // The tracks of each frame, as the tracker returns them.
        let mut tracker = Tracker::new(config());
        let track_frames: Vec<Vec<Track>> = (0..PERIOD * 2)
            .map(|k| {
                tracker
                    .update(&frames[k % PERIOD], k as u64 * FRAME_NS)
                    .to_vec()
            })
            .skip(PERIOD)
            .collect();
        let mut engine = rule_engine();
        let mut k = 0u64;
        g.bench_function(format!("{n}_tracks_4_zones"), |b| {
            b.iter(|| {
                let tracks = &track_frames[k as usize % PERIOD];
                let events = engine.evaluate(black_box(tracks), k * FRAME_NS);
                k += 1;
                black_box(events.len())
            })
        });
    }
    g.finish();
}

/// What the engine does per frame after inference, at the reference load of 20 tracks.
fn bench_tracker_and_rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker_and_rules");
    g.sample_size(20);
    let frames = scene(20);
    let mut tracker = Tracker::new(config());
    let mut engine = rule_engine();
    let mut k = 0u64;
    g.bench_function("20_tracks_4_zones", |b| {
        b.iter(|| {
            let tracks = tracker.update(black_box(&frames[k as usize % PERIOD]), k * FRAME_NS);
            let events = engine.evaluate(tracks, k * FRAME_NS);
            k += 1;
            black_box(events.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench_tracker, bench_rules, bench_tracker_and_rules);
criterion_main!(benches);
