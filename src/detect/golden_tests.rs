//! Golden tests against `shared/testdata/nanodet-reference.json` (an independent Python
//! implementation: onnxruntime + OpenCV). They need the shared data (`$VIGIE_SHARED`, or
//! `shared/` beside the repository) and the ONNX Runtime library (`ORT_DYLIB_PATH`); when either
//! is missing they fail, they never pass silently.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
struct Reference {
    model_sha256: String,
    images: std::collections::BTreeMap<String, RefImage>,
}

#[derive(Debug, Deserialize)]
struct RefImage {
    width: u32,
    height: u32,
    raw_input_tensor: Option<String>,
    detections: Vec<RefDet>,
}

#[derive(Debug, Deserialize)]
struct RefDet {
    class_id: u16,
    label: String,
    score: f32,
    box_input: [f32; 4],
    box_image: [f32; 4],
}

fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("VIGIE_SHARED") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    assert!(
        dir.join("testdata/nanodet-reference.json").is_file(),
        "shared test data not found in {} (set VIGIE_SHARED to the shared/ folder)",
        dir.display()
    );
    dir
}

fn reference() -> Reference {
    let path = shared_dir().join("testdata/nanodet-reference.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn manifest() -> Manifest {
    Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml")).unwrap()
}

fn detector() -> (Detector, ModelSpec) {
    let dylib = std::env::var_os("ORT_DYLIB_PATH").unwrap_or_else(|| {
        panic!(
            "ORT_DYLIB_PATH is not set: the golden tests need the ONNX Runtime library \
             (`make setup` installs it into .deps/onnxruntime; export \
             ORT_DYLIB_PATH=/path/to/libonnxruntime.so)"
        )
    });
    init_runtime(Some(Path::new(&dylib))).unwrap();
    let m = manifest();
    let spec = m.model("nanodet-m-416").unwrap().clone();
    let det = Detector::load(
        &m,
        &m.model_dir(),
        "nanodet-m-416",
        DetectorOptions::default(),
    )
    .unwrap();
    (det, spec)
}

fn read_f32_le(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len() % 4, 0, "{}", path.display());
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn describe(d: &RawDetection, labels: &[String]) -> String {
    format!(
        "{} {:.5} [{:.3}, {:.3}, {:.3}, {:.3}]",
        labels[usize::from(d.class_id)],
        d.score,
        d.x1,
        d.y1,
        d.x2,
        d.y2
    )
}

#[test]
fn reference_matches_manifest() {
    let r = reference();
    let m = manifest();
    let spec = m.model("nanodet-m-416").unwrap();
    assert_eq!(r.model_sha256, spec.sha256);
    for img in r.images.values() {
        for d in &img.detections {
            assert_eq!(spec.class_id(&d.label), Some(d.class_id), "{}", d.label);
        }
    }
}

/// (a) From the reference's own input tensors: same detections, boxes within 0.5 px, scores
/// within 1e-3.
#[test]
fn golden_raw_tensors() {
    let (mut det, spec) = detector();
    let r = reference();
    let mut checked = 0;
    for (name, img) in &r.images {
        let Some(tensor) = &img.raw_input_tensor else {
            continue;
        };
        let input = read_f32_le(&shared_dir().join("testdata").join(tensor));
        let got = det.detect_tensor(&input).unwrap();
        let listing = got
            .iter()
            .map(|d| describe(d, &spec.labels))
            .collect::<Vec<_>>()
            .join("\n  ");
        assert_eq!(
            got.len(),
            img.detections.len(),
            "{name}: detection count differs; got:\n  {listing}"
        );
        let mut used = vec![false; got.len()];
        for rd in &img.detections {
            let found = got.iter().enumerate().position(|(i, d)| {
                !used[i]
                    && d.class_id == rd.class_id
                    && (d.score - rd.score).abs() <= 1e-3
                    && [d.x1, d.y1, d.x2, d.y2]
                        .iter()
                        .zip(rd.box_input)
                        .all(|(a, b)| (a - b).abs() <= 0.5)
            });
            let i = found.unwrap_or_else(|| {
                panic!("{name}: no match for reference {rd:?}; got:\n  {listing}")
            });
            used[i] = true;
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "expected two raw input tensors (dog, person)");
}

fn to_image_coords(d: &RawDetection, w: u32, h: u32) -> BBox {
    let (sx, sy) = (w as f32 / 416.0, h as f32 / 416.0);
    BBox::new(d.x1 * sx, d.y1 * sy, d.x2 * sx, d.y2 * sy)
}

/// A reference detection that the JPEG path cannot reproduce, with the measured reason. Each
/// entry is an explicit, reviewed exception to criterion (b); the test fails if an entry stops
/// being needed, so the list cannot go stale.
struct KnownDivergence {
    image: &'static str,
    class_id: u16,
    ref_score: f32,
    /// The class we detect instead, on the same box (IoU >= 0.9, score within 0.05).
    instead_class_id: u16,
}

/// person.jpg, cow 0.49462: in the reference's class tensor, stride-16 cell 410 has cow 0.4946
/// vs horse 0.4879 (a 0.0067 margin); with our decoded pixels it has horse 0.4930 vs cow 0.4905,
/// so that cell becomes a horse (suppressed by the 0.526 horse) and the best remaining cow is
/// 0.377. Cause, measured: the `image` crate's JPEG decoder (zune-jpeg) rounds the 4:4:0 chroma
/// upsampling differently from libjpeg-turbo (OpenCV) on even rows: 6.8% of BGR bytes differ by
/// up to 4 levels. The resize is bit-exact with OpenCV (`resize_is_bit_exact_with_opencv`; also
/// 0 differing values against the reference tensors when fed OpenCV-decoded pixels), and from the
/// reference's own input tensor this detection is reproduced (`golden_raw_tensors`). The engine
/// itself never decodes JPEG (GStreamer delivers BGR frames).
const KNOWN_DIVERGENCES: &[KnownDivergence] = &[KnownDivergence {
    image: "person.jpg",
    class_id: 19,
    ref_score: 0.49462,
    instead_class_id: 17,
}];

/// (b) From the JPEG photos through `load_image_bgr` + `preprocess_bgr` (resize path): every
/// reference detection with score >= 0.4 is found (same class, IoU >= 0.9 in image coordinates,
/// score within 0.05), and every detection of ours with score >= 0.45 has a reference
/// counterpart (same class, IoU >= 0.9). Exceptions: [`KNOWN_DIVERGENCES`] only.
#[test]
fn golden_jpeg_photos() {
    let (mut det, spec) = detector();
    let r = reference();
    let (in_w, in_h) = det.input_size();
    let mut input = vec![0.0f32; 3 * in_w as usize * in_h as usize];
    let mut failures = Vec::new();
    for (name, img) in &r.images {
        let path = shared_dir().join("testdata/images").join(name);
        let (bgr, w, h) = load_image_bgr(&path).unwrap();
        assert_eq!((w, h), (img.width, img.height), "{name}");
        preprocess_bgr(
            &bgr,
            w,
            h,
            in_w,
            in_h,
            spec.input.mean,
            spec.input.std,
            &mut input,
        )
        .unwrap();
        let got = det.detect_tensor(&input).unwrap();
        let got_boxes: Vec<BBox> = got.iter().map(|d| to_image_coords(d, w, h)).collect();
        for (d, b) in got.iter().zip(&got_boxes) {
            eprintln!(
                "{name}: {} image [{:.1}, {:.1}, {:.1}, {:.1}]",
                describe(d, &spec.labels),
                b.x1,
                b.y1,
                b.x2,
                b.y2
            );
        }
        let ref_box = |rd: &RefDet| {
            BBox::new(
                rd.box_image[0],
                rd.box_image[1],
                rd.box_image[2],
                rd.box_image[3],
            )
        };
        let matches = |class_id: u16, rd: &RefDet| {
            got.iter().zip(&got_boxes).any(|(d, b)| {
                d.class_id == class_id
                    && b.iou(&ref_box(rd)) >= 0.9
                    && (d.score - rd.score).abs() <= 0.05
            })
        };
        for rd in img.detections.iter().filter(|d| d.score >= 0.4) {
            let known = KNOWN_DIVERGENCES
                .iter()
                .find(|k| k.image == name && k.class_id == rd.class_id && k.ref_score == rd.score);
            match (matches(rd.class_id, rd), known) {
                (true, None) => {}
                (false, None) => failures.push(format!("{name}: missed reference {rd:?}")),
                (true, Some(_)) => failures.push(format!(
                    "{name}: {rd:?} now matches: remove it from KNOWN_DIVERGENCES"
                )),
                (false, Some(k)) => {
                    if matches(k.instead_class_id, rd) {
                        eprintln!(
                            "{name}: KNOWN DIVERGENCE: reference {} {} detected as {} \
                             (see KNOWN_DIVERGENCES)",
                            rd.label,
                            rd.score,
                            spec.labels[usize::from(k.instead_class_id)]
                        );
                    } else {
                        failures.push(format!(
                            "{name}: missed reference {rd:?}, and not even as the known \
                             substitute class {}",
                            k.instead_class_id
                        ));
                    }
                }
            }
        }
        for (d, b) in got.iter().zip(&got_boxes).filter(|(d, _)| d.score >= 0.45) {
            let ok = img
                .detections
                .iter()
                .any(|rd| rd.class_id == d.class_id && b.iou(&ref_box(rd)) >= 0.9);
            if !ok {
                failures.push(format!(
                    "{name}: extra detection {} (image box {b:?})",
                    describe(d, &spec.labels)
                ));
            }
        }
        // detect_bgr gives the same result, normalised.
        let normalised = det.detect_bgr(&bgr, w, h).unwrap();
        assert_eq!(normalised.len(), got.len(), "{name}");
        for (n, d) in normalised.iter().zip(&got) {
            assert_eq!(n.class_id, d.class_id);
            assert_eq!(n.score, d.score);
            assert!((n.bbox.x1 * 416.0 - d.x1).abs() < 1e-3);
            assert!((n.bbox.y2 * 416.0 - d.y2).abs() < 1e-3);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How close our resize of the decoded JPEG is to the reference's input tensor (OpenCV decode +
/// resize). JPEG decoders may differ by a level or two; the resize itself should add nothing.
#[test]
fn resize_path_close_to_reference_tensor() {
    let r = reference();
    let spec = manifest().model("nanodet-m-416").unwrap().clone();
    for (name, img) in &r.images {
        let Some(tensor) = &img.raw_input_tensor else {
            continue;
        };
        let want = read_f32_le(&shared_dir().join("testdata").join(tensor));
        let (bgr, w, h) = load_image_bgr(&shared_dir().join("testdata/images").join(name)).unwrap();
        let mut got = vec![0.0f32; want.len()];
        preprocess_bgr(
            &bgr,
            w,
            h,
            416,
            416,
            spec.input.mean,
            spec.input.std,
            &mut got,
        )
        .unwrap();
        let plane = 416 * 416;
        let mut max_levels = 0.0f32;
        let mut sum_levels = 0.0f64;
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let levels = (a - b).abs() * spec.input.std[i / plane];
            max_levels = max_levels.max(levels);
            sum_levels += f64::from(levels);
        }
        let mean_levels = sum_levels / got.len() as f64;
        eprintln!(
            "{name}: resize vs reference tensor: mean {mean_levels:.4} levels, max {max_levels:.2}"
        );
        assert!(
            mean_levels < 1.0,
            "{name}: mean difference {mean_levels} levels"
        );
    }
}

#[test]
fn altered_or_missing_model_is_refused() {
    let m = manifest();
    let dir = tempfile::tempdir().unwrap();
    // Missing file.
    let err = Detector::load(&m, dir.path(), "nanodet-m-416", DetectorOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nanodet-m-416.onnx") && err.contains("does not exist"),
        "{err}"
    );
    // Altered file: one byte flipped.
    let mut bytes = std::fs::read(m.model_dir().join("nanodet-m-416.onnx")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(dir.path().join("nanodet-m-416.onnx"), &bytes).unwrap();
    let err =
        Detector::load(&m, dir.path(), "nanodet-m-416", DetectorOptions::default()).unwrap_err();
    assert!(matches!(err, DetectError::HashMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("nanodet-m-416.onnx") && msg.contains("sha256"),
        "{msg}"
    );
    // Unknown model name.
    let err = Detector::load(&m, dir.path(), "yolo", DetectorOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("yolo") && err.contains("models.toml"), "{err}");
}

#[test]
fn runtime_init_is_idempotent_and_checks_paths() {
    let dylib = std::env::var_os("ORT_DYLIB_PATH").unwrap_or_else(|| {
        panic!("ORT_DYLIB_PATH is not set (`make setup` installs ONNX Runtime)")
    });
    let p = init_runtime(Some(Path::new(&dylib))).unwrap();
    assert_eq!(init_runtime(None).unwrap(), p);
    assert_eq!(init_runtime(Some(&p)).unwrap(), p);
    let err = init_runtime(Some(Path::new("/elsewhere/libonnxruntime.so")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("already loaded"), "{err}");
}

#[test]
fn bad_input_sizes_are_errors_not_panics() {
    let (mut det, _) = detector();
    let err = det.detect_tensor(&[0.0; 10]).unwrap_err().to_string();
    assert!(err.contains("input tensor"), "{err}");
    let err = det
        .detect_bgr(&[0u8; 10], 416, 416)
        .unwrap_err()
        .to_string();
    assert!(err.contains("source BGR frame"), "{err}");
    // A blank frame at input size goes through the fast path without error.
    let frame = vec![114u8; 416 * 416 * 3];
    det.detect_bgr(&frame, 416, 416).unwrap();
}
