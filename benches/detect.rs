//! Detection stage benchmarks (criterion, group "detect"):
//! - `preprocess_416_fast`: 416x416 BGR frame → input tensor (the engine's hot path, no resize);
//! - `preprocess_768x576_resize`: the OpenCV-equal bilinear resize path;
//! - `decode_nms`: NanoDet decoding + per-class NMS on real model outputs (dog.jpg), captured
//!   once in the setup (synthetic outputs if ONNX Runtime is not available);
//! - `inference_detect_tensor`: one `detect_tensor` (inference + decode + NMS) = the
//!   inference-only rate;
//! - `detect_bgr_416`: preprocess + inference + decode + NMS from a 416x416 BGR frame.
//!
//! Group "detect_model": `detect_tensor` of the float32 and int8 models side by side, at 1 and 2
//! intra-op threads (`fp32_1t`, `int8_1t`, `fp32_2t`, `int8_2t`), on the same real input.
//!
//! Needs `ORT_DYLIB_PATH` for the inference benches (skipped with a note otherwise); the real
//! input is the committed `tests/data/dog.nanodet-input.f32`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vigie::detect::{
    decode_nanodet, nms_per_class, preprocess_bgr, Detector, DetectorOptions, Manifest,
    OutputTensor,
};

const MEAN: [f32; 3] = [103.53, 116.28, 123.675];
const STD: [f32; 3] = [57.375, 57.12, 58.395];

fn frame(w: usize, h: usize) -> Vec<u8> {
    // A smooth gradient with some texture: realistic enough for memory traffic.
    (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 7 + y) as u8, (y * 3) as u8, (x ^ y) as u8]))
        .collect()
}

fn load_detector() -> Option<Detector> {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("note: ORT_DYLIB_PATH not set, inference benchmarks skipped");
        return None;
    }
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
    let result = Manifest::load(&manifest_path).and_then(|m| {
        Detector::load(
            &m,
            &m.model_dir(),
            "nanodet-m-416",
            DetectorOptions::default(),
        )
    });
    match result {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("note: cannot load the detector ({e}), inference benchmarks skipped");
            None
        }
    }
}

/// The reference input tensor of dog.jpg, or a pre-processed synthetic frame.
fn model_input() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dog.nanodet-input.f32");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 3 * 416 * 416 * 4 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        _ => {
            eprintln!(
                "note: {} not found, using a synthetic frame",
                path.display()
            );
            let mut input = vec![0.0f32; 3 * 416 * 416];
            let _ = preprocess_bgr(&frame(416, 416), 416, 416, 416, 416, MEAN, STD, &mut input);
            input
        }
    }
}

/// Plausible NanoDet outputs without a model: low background scores, a few confident cells, box
/// logits from a fixed pseudo-random sequence.
fn synthetic_outputs() -> Vec<(Vec<usize>, Vec<f32>)> {
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 8) as f32 / (1u32 << 24) as f32
    };
    let mut out = Vec::new();
    for s in [8usize, 16, 32] {
        let n = (416 / s) * (416 / s);
        let cls: Vec<f32> = (0..n * 80)
            .map(|_| {
                let v = next();
                if v > 0.9995 {
                    0.3 + v * 0.5
                } else {
                    v * 0.1
                }
            })
            .collect();
        let reg: Vec<f32> = (0..n * 44).map(|_| next() * 8.0 - 4.0).collect();
        out.push((vec![1, n, 80], cls));
        out.push((vec![1, n, 44], reg));
    }
    out
}

fn bench_detect(c: &mut Criterion) {
    let mut detector = load_detector();
    let input = model_input();

    let mut group = c.benchmark_group("detect");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let src416 = frame(416, 416);
    let mut out = vec![0.0f32; 3 * 416 * 416];
    group.bench_function("preprocess_416_fast", |b| {
        b.iter(|| preprocess_bgr(black_box(&src416), 416, 416, 416, 416, MEAN, STD, &mut out))
    });
    let src768 = frame(768, 576);
    group.bench_function("preprocess_768x576_resize", |b| {
        b.iter(|| preprocess_bgr(black_box(&src768), 768, 576, 416, 416, MEAN, STD, &mut out))
    });

    let raw = match detector.as_mut().map(|d| d.infer_raw(&input)) {
        Some(Ok(raw)) => raw,
        Some(Err(e)) => {
            eprintln!("note: inference failed ({e}), decode bench uses synthetic outputs");
            synthetic_outputs()
        }
        None => synthetic_outputs(),
    };
    let views: Vec<OutputTensor<'_>> = raw
        .iter()
        .map(|(shape, data)| OutputTensor { shape, data })
        .collect();
    if let Ok(dets) = decode_nanodet(&views, 416, 0.3) {
        eprintln!(
            "decode_nms input: {} candidates >= 0.3, {} after NMS",
            dets.len(),
            nms_per_class(dets, 0.5).len()
        );
    }
    group.bench_function("decode_nms", |b| {
        b.iter(|| decode_nanodet(black_box(&views), 416, 0.3).map(|d| nms_per_class(d, 0.5)))
    });
    // The engine runs the detector down to `[tracker] low_score` (0.1) for the tracker's second
    // association stage.
    group.bench_function("decode_nms_low_0.1", |b| {
        b.iter(|| decode_nanodet(black_box(&views), 416, 0.1).map(|d| nms_per_class(d, 0.5)))
    });

    if let Some(det) = detector.as_mut() {
        group.bench_function("inference_detect_tensor", |b| {
            b.iter(|| det.detect_tensor(black_box(&input)))
        });
        group.bench_function("detect_bgr_416", |b| {
            b.iter(|| det.detect_bgr(black_box(&src416), 416, 416))
        });
    }
    group.finish();
}

fn bench_models(c: &mut Criterion) {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("note: ORT_DYLIB_PATH not set, model benchmarks skipped");
        return;
    }
    let input = model_input();
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
    let Ok(manifest) = Manifest::load(&manifest_path) else {
        eprintln!("note: no model manifest, model benchmarks skipped");
        return;
    };
    let mut group = c.benchmark_group("detect_model");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for threads in [1, 2] {
        for (tag, model) in [("fp32", "nanodet-m-416"), ("int8", "nanodet-m-416-int8")] {
            let opts = DetectorOptions {
                intra_threads: threads,
                ..Default::default()
            };
            match Detector::load(&manifest, &manifest.model_dir(), model, opts) {
                Ok(mut det) => {
                    group.bench_function(format!("{tag}_{threads}t"), |b| {
                        b.iter(|| det.detect_tensor(black_box(&input)))
                    });
                }
                Err(e) => eprintln!("note: cannot load {model} ({e})"),
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_detect, bench_models);
criterion_main!(benches);
