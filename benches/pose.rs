//! Pose and scene benchmarks (criterion), measured beside detection on the same real frame so the
//! ratios hold on a noisy machine:
//! - `pose/detect_416`: nanodet `detect_bgr` on a real 416x416 frame of vtest.avi with 5 or more
//!   people (1 intra-op thread, the engine's default) = the detection-only cost per frame;
//! - `pose/frame_256`: `PoseEstimator::estimate_frame` (the whole frame stretched to 256x256);
//!   `pose/frame_256x192`: the same at 256x192 (the picture's 4:3 shape);
//! - `pose/crops_5_{256,192,128}`: `estimate_people` on the 5 most confident person boxes of that
//!   frame, square crops of 256, 192 and 128 pixels (one inference per person);
//! - `pose/decode_movenet`: decoding one `[1, 6, 56]` output;
//! - `scene/background_416`, `scene/flame_416`: one update of the background model and of the
//!   fire cues (whole-frame polygon) on real 416x416 frames.
//!
//! Needs `ORT_DYLIB_PATH` and the clip (`make setup`). Before the runs it prints what the pose
//! model finds on the frame, and over 20 frames how many detected people get a confident pose
//! from the whole frame and from crops.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vigie::detect::pose::decode_movenet;
use vigie::detect::{
    BBox, Detector, DetectorOptions, Manifest, PoseEstimator, PoseImage, PoseOptions,
};
use vigie::scene::{BackgroundModel, BackgroundParams, FlameDetector, FlameParams};
use vigie::testing::{clip_path, decode_clip, SIDE};

const WHOLE: [(f32, f32); 4] = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
/// vtest.avi is 768x576: the 416x416 frames show a 4:3 picture.
const ASPECT: f32 = 4.0 / 3.0;

fn manifest() -> Manifest {
    Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml"))
        .expect("models/models.toml")
}

fn estimator(crop: u32, frame: (u32, u32)) -> PoseEstimator {
    let m = manifest();
    let opts = PoseOptions {
        crop_input: Some(crop),
        frame_input: Some(frame),
        ..Default::default()
    };
    PoseEstimator::load(&m, &m.model_dir(), "movenet-multipose", opts).expect("pose model")
}

/// The first frame (of the first 300) where the detector sees at least 5 people, and its 5 most
/// confident person boxes.
fn busy_frame(det: &mut Detector, frames: &[Vec<u8>]) -> (usize, Vec<BBox>) {
    for (n, f) in frames.iter().enumerate() {
        let mut people: Vec<_> = det
            .detect_bgr(f, SIDE, SIDE)
            .expect("detection")
            .into_iter()
            .filter(|d| d.class_id == 0)
            .collect();
        if people.len() >= 5 {
            people.sort_by(|a, b| b.score.total_cmp(&a.score));
            return (n, people.iter().take(5).map(|d| d.bbox).collect());
        }
    }
    panic!(
        "no frame with 5 people in the first {} frames",
        frames.len()
    );
}

fn report_quality(est: &mut PoseEstimator, img: &PoseImage<'_>, people: &[BBox], crop: u32) {
    let found = est.estimate_people(img, people).expect("pose");
    let scores: Vec<String> = found
        .iter()
        .map(|p| p.map_or("-".to_string(), |p| format!("{:.2}", p.pose.score)))
        .collect();
    eprintln!("crops of {crop}: per-person pose scores {scores:?}");
}

/// Over 20 frames (every 15th), how many detected people get a pose scoring >= 0.3: from the
/// whole frame (a pose whose keypoints are centred in the person's box) and from crops.
fn quality_sweep(
    det: &mut Detector,
    frames: &[Vec<u8>],
    whole: &mut PoseEstimator,
    crops: &mut [(u32, PoseEstimator)],
) {
    let (mut people, mut from_whole) = (0usize, 0usize);
    let mut from_crops = vec![0usize; crops.len()];
    for f in frames.iter().step_by(15).take(20) {
        let img = PoseImage::new(f, SIDE, SIDE).with_aspect(ASPECT);
        let boxes: Vec<BBox> = det
            .detect_bgr(f, SIDE, SIDE)
            .expect("detection")
            .into_iter()
            .filter(|d| d.class_id == 0)
            .map(|d| d.bbox)
            .collect();
        people += boxes.len();
        let poses = whole.estimate_frame(&img).expect("pose");
        from_whole += boxes
            .iter()
            .filter(|b| {
                poses.iter().any(|p| {
                    p.score >= 0.3
                        && p.centre(0.2)
                            .is_some_and(|(x, y)| x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2)
                })
            })
            .count();
        for ((_, est), n) in crops.iter_mut().zip(&mut from_crops) {
            *n += est
                .estimate_people(&img, &boxes)
                .expect("pose")
                .iter()
                .filter(|p| p.is_some_and(|p| p.pose.score >= 0.3))
                .count();
        }
    }
    eprintln!("quality over 20 frames: {people} people detected; with a pose >= 0.3: whole frame {from_whole}");
    for ((s, _), n) in crops.iter().zip(&from_crops) {
        eprintln!("  crops of {s}: {n}");
    }
}

/// CPU time of this thread, seconds (with 1 intra-op thread ONNX Runtime runs on the caller's
/// thread, so this is the whole cost, and it is not inflated by other processes' load).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Mean thread CPU milliseconds of `f` over `iters` calls (after one warm-up call).
fn cpu_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = thread_cpu();
    for _ in 0..iters {
        f();
    }
    (thread_cpu() - t0) * 1000.0 / iters as f64
}

fn bench_pose(c: &mut Criterion) {
    let frames = decode_clip(&clip_path(), SIDE, 300).expect("vtest.avi");
    let m = manifest();
    let det_opts = DetectorOptions {
        intra_threads: 1,
        score_threshold: 0.35,
        ..Default::default()
    };
    let mut det = Detector::load(&m, &m.model_dir(), "nanodet-m-416", det_opts).expect("detector");
    let (n, people) = busy_frame(&mut det, &frames);
    let frame = &frames[n];
    let img = PoseImage::new(frame, SIDE, SIDE).with_aspect(ASPECT);
    eprintln!("frame {n}: 5 people at {people:?}");

    let mut whole = estimator(256, (256, 256));
    let mut whole_43 = estimator(256, (256, 192));
    let poses = whole.estimate_frame(&img).expect("pose");
    eprintln!(
        "whole frame 256x256: {} poses >= 0.2, scores {:?}",
        poses.len(),
        poses
            .iter()
            .map(|p| (p.score * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    let mut crops: Vec<(u32, PoseEstimator)> = [256, 192, 128]
        .map(|s| (s, estimator(s, (256, 256))))
        .into();
    for (s, est) in &mut crops {
        report_quality(est, &img, &people, *s);
    }
    quality_sweep(&mut det, &frames, &mut whole, &mut crops);

    let mut bg = BackgroundModel::new(&WHOLE, SIDE, SIDE, BackgroundParams::default()).expect("bg");
    let mut flame = FlameDetector::new(&WHOLE, SIDE, SIDE, FlameParams::default()).expect("flame");
    let d = cpu_ms(20, || drop(det.detect_bgr(frame, SIDE, SIDE)));
    let mut rows = vec![("detect_416".to_string(), d)];
    rows.push((
        "frame_256".into(),
        cpu_ms(20, || drop(whole.estimate_frame(&img))),
    ));
    rows.push((
        "frame_256x192".into(),
        cpu_ms(20, || drop(whole_43.estimate_frame(&img))),
    ));
    for (s, est) in &mut crops {
        rows.push((
            format!("crops_5_{s}"),
            cpu_ms(5, || drop(est.estimate_people(&img, &people))),
        ));
    }
    let (mut i, mut t) = (0usize, 0.0f64);
    rows.push((
        "background_416".into(),
        cpu_ms(200, || {
            i = (i + 1) % frames.len();
            t += 0.2;
            drop(bg.update(&frames[i], t));
        }),
    ));
    let (mut i, mut t) = (0usize, 0.0f64);
    rows.push((
        "flame_416".into(),
        cpu_ms(200, || {
            i = (i + 1) % frames.len();
            t += 0.2;
            drop(flame.update(&frames[i], t, &[]));
        }),
    ));
    eprintln!("thread CPU time per call (ratio to detect_416):");
    for (name, ms) in &rows {
        eprintln!("  {name:<16} {ms:>8.2} ms  {:>5.2}x", ms / d);
    }

    let mut group = c.benchmark_group("pose");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("detect_416", |b| {
        b.iter(|| det.detect_bgr(black_box(frame), SIDE, SIDE))
    });
    group.bench_function("frame_256", |b| {
        b.iter(|| whole.estimate_frame(black_box(&img)))
    });
    group.bench_function("frame_256x192", |b| {
        b.iter(|| whole_43.estimate_frame(black_box(&img)))
    });
    for (s, est) in &mut crops {
        group.bench_function(format!("crops_5_{s}"), |b| {
            b.iter(|| est.estimate_people(black_box(&img), &people))
        });
    }
    let raw: Vec<f32> = (0..6 * 56).map(|i| (i % 56) as f32 / 56.0).collect();
    group.bench_function("decode_movenet", |b| {
        b.iter(|| decode_movenet(black_box(&raw), &[1, 6, 56]))
    });
    group.finish();

    let mut group = c.benchmark_group("scene");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let (mut i, mut t) = (0usize, 0.0f64);
    group.bench_function("background_416", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            t += 0.2;
            bg.update(black_box(&frames[i]), t)
        })
    });
    let (mut i, mut t) = (0usize, 0.0f64);
    group.bench_function("flame_416", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            t += 0.2;
            flame.update(black_box(&frames[i]), t, &[])
        })
    });
    group.finish();
}

criterion_group!(benches, bench_pose);
criterion_main!(benches);
