//! Tracker update on a synthetic moving scene, with the detections the engine gives the
//! tracker: the objects' own (mostly above the detector threshold, some frames below) plus as
//! many low-score false detections (cones, bollards) as objects (rules: `benches/rules.rs`).
//!
//! `cargo bench --bench track`

use std::f32::consts::TAU;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vigie::detect::{BBox, Detection};
use vigie::track::{Tracker, TrackerConfig};

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

criterion_group!(benches, bench_tracker);
criterion_main!(benches);
