//! Golden tests against `tests/data/nanodet-reference.json` (an independent Python
//! implementation: onnxruntime + OpenCV; provenance and licences in `tests/data/README.md`).
//! They need the ONNX Runtime library (`ORT_DYLIB_PATH`); when it is missing they fail, they
//! never pass silently.

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

/// The golden data committed with the repository (a fresh clone has everything it needs).
pub(super) fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    assert!(
        dir.join("nanodet-reference.json").is_file(),
        "golden test data not found in {}",
        dir.display()
    );
    dir
}

fn reference() -> Reference {
    let path = data_dir().join("nanodet-reference.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub(super) fn manifest() -> Manifest {
    Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml")).unwrap()
}

/// Loads ONNX Runtime from `ORT_DYLIB_PATH`; panics with the way to install it when unset.
pub(super) fn init_ort() {
    let dylib = std::env::var_os("ORT_DYLIB_PATH").unwrap_or_else(|| {
        panic!(
            "ORT_DYLIB_PATH is not set: the golden tests need the ONNX Runtime library \
             (`make setup` installs it into .deps/onnxruntime; export \
             ORT_DYLIB_PATH=/path/to/libonnxruntime.so)"
        )
    });
    init_runtime(Some(Path::new(&dylib))).unwrap();
}

fn detector() -> (Detector, ModelSpec) {
    init_ort();
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
        let input = read_f32_le(&data_dir().join(tensor));
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

/// Decodes a JPEG file to packed BGR with libjpeg-turbo, as the reference did (OpenCV's
/// `cv2.imread`: accurate islow IDCT, fancy upsampling, which are TurboJPEG's defaults). The
/// `image` crate's decoder (zune-jpeg, used by [`load_image_bgr`]) rounds chroma upsampling
/// differently, enough to flip a close class decision in person.jpg; the engine itself never
/// decodes JPEG (GStreamer delivers BGR frames), so this is a test-only concern.
pub(super) fn decode_jpeg_bgr(path: &Path) -> (Vec<u8>, u32, u32) {
    let jpeg = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let img = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::BGR)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(img.pitch, img.width * 3, "{}", path.display());
    (
        img.pixels,
        u32::try_from(img.width).unwrap(),
        u32::try_from(img.height).unwrap(),
    )
}

/// (b) From the JPEG photos, decoded with libjpeg-turbo like the reference ([`decode_jpeg_bgr`]),
/// through `preprocess_bgr` (resize path): every reference detection with score >= 0.4 is found
/// (same class, IoU >= 0.9 in image coordinates, score within 0.05), and every detection of ours
/// with score >= 0.45 has a reference counterpart (same class, IoU >= 0.9). No exceptions.
#[test]
fn golden_jpeg_photos() {
    let (mut det, spec) = detector();
    let r = reference();
    let (in_w, in_h) = det.input_size();
    let mut input = vec![0.0f32; 3 * in_w as usize * in_h as usize];
    let mut failures = Vec::new();
    for (name, img) in &r.images {
        let path = data_dir().join("images").join(name);
        let (bgr, w, h) = decode_jpeg_bgr(&path);
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
        let matches = |rd: &RefDet| {
            got.iter().zip(&got_boxes).any(|(d, b)| {
                d.class_id == rd.class_id
                    && b.iou(&ref_box(rd)) >= 0.9
                    && (d.score - rd.score).abs() <= 0.05
            })
        };
        for rd in img.detections.iter().filter(|d| d.score >= 0.4) {
            if !matches(rd) {
                failures.push(format!("{name}: missed reference {rd:?}"));
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

/// With libjpeg-turbo decoding (as the reference), our pre-processing reproduces the
/// reference's input tensors (OpenCV decode + resize + normalise) up to float rounding: the
/// resize is bit-exact with OpenCV, so only the normalisation arithmetic may differ.
#[test]
fn preprocess_matches_reference_tensor() {
    let r = reference();
    let spec = manifest().model("nanodet-m-416").unwrap().clone();
    let mut checked = 0;
    for (name, img) in &r.images {
        let Some(tensor) = &img.raw_input_tensor else {
            continue;
        };
        let want = read_f32_le(&data_dir().join(tensor));
        let (bgr, w, h) = decode_jpeg_bgr(&data_dir().join("images").join(name));
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
        let (mut max_abs, mut max_levels, mut differing) = (0.0f32, 0.0f32, 0usize);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let d = (a - b).abs();
            if d > 0.0 {
                differing += 1;
            }
            max_abs = max_abs.max(d);
            max_levels = max_levels.max(d * spec.input.std[i / plane]);
        }
        eprintln!(
            "{name}: tensor vs reference: max |diff| {max_abs:e} ({max_levels:e} levels), \
             {differing} of {} values differ",
            got.len()
        );
        assert!(
            max_levels < 1e-3,
            "{name}: max difference {max_levels} levels ({max_abs} in the tensor)"
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "expected two raw input tensors (dog, person)");
}

/// Informational: how far the `image` crate's JPEG decoder ([`load_image_bgr`]) is from
/// libjpeg-turbo on the test photos (why the golden test decodes with libjpeg-turbo).
#[test]
fn jpeg_decoders_compared() {
    let dir = data_dir().join("images");
    for name in reference().images.keys() {
        let (a, aw, ah) = load_image_bgr(&dir.join(name)).unwrap();
        let (b, bw, bh) = decode_jpeg_bgr(&dir.join(name));
        assert_eq!((aw, ah), (bw, bh), "{name}");
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let max = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        eprintln!(
            "{name}: image crate vs libjpeg-turbo: {differing} of {} BGR bytes differ ({:.2}%), \
             max {max} levels",
            a.len(),
            100.0 * differing as f64 / a.len() as f64
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

/// `DetectorOptions::input_size` on the shipped (dynamic H/W) model: a 416x288 input runs and
/// gives the stride grids of 52x36, 26x18 and 13x9 cells; a size the manifest refuses is an
/// error naming the option, before any inference.
#[test]
fn a_non_square_input_size_runs_with_its_own_grids() {
    init_ort();
    let m = manifest();
    let opts = DetectorOptions {
        input_size: Some((416, 288)),
        ..Default::default()
    };
    let mut det = Detector::load(&m, &m.model_dir(), "nanodet-m-416", opts).unwrap();
    assert_eq!(det.input_size(), (416, 288));
    let raw = det.infer_raw(&vec![0.0f32; 3 * 416 * 288]).unwrap();
    let mut anchors: Vec<usize> = raw.iter().map(|(shape, _)| shape[1]).collect();
    anchors.sort_unstable();
    assert_eq!(anchors, [117, 117, 468, 468, 1872, 1872]);
    let frame = vec![114u8; 768 * 576 * 3];
    det.detect_bgr(&frame, 768, 576).unwrap();
    let bad = DetectorOptions {
        input_size: Some((416, 300)),
        ..Default::default()
    };
    let err = Detector::load(&m, &m.model_dir(), "nanodet-m-416", bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input_size") && err.contains("multiples of 32"),
        "{err}"
    );
}
