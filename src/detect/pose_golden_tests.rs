//! Golden tests of the pose path against two independent Python implementations:
//! `tests/data/movenet-golden.json` (`deploy/reference/movenet_reference.py`: onnxruntime, numpy,
//! OpenCV) and `tests/data/movenet-reference.json` + `person.movenet-input.i32` (the shared
//! reference; provenance in `tests/data/README.md`). Tests that run the model need
//! `ORT_DYLIB_PATH`; without it they fail, never pass silently.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::golden_tests::{data_dir, decode_jpeg_bgr, init_ort, manifest};
use super::pose::{decode_movenet, Crop, Orientation, Pose, VALUES_PER_PERSON};
use super::*;

#[derive(Deserialize)]
struct Golden {
    model_sha256: String,
    images: BTreeMap<String, GoldenImage>,
}

#[derive(Deserialize)]
struct GoldenImage {
    file: String,
    rotated_90_cw: bool,
    size: [u32; 2],
    input_sha256: String,
    raw_output: Vec<f32>,
    people: Vec<GoldenPerson>,
    #[serde(default)]
    people_in_original: Vec<GoldenMapped>,
}

#[derive(Deserialize)]
struct GoldenPerson {
    keypoints: Vec<[f32; 3]>,
    box_xyxy: [f32; 4],
    box_score: f32,
    mean_keypoint_score: f32,
}

#[derive(Deserialize)]
struct GoldenMapped {
    keypoints: Vec<[f32; 3]>,
}

/// The shared reference (another independent implementation).
#[derive(Deserialize)]
struct Shared {
    model_sha256: String,
    images: BTreeMap<String, SharedImage>,
}

#[derive(Deserialize)]
struct SharedImage {
    raw_output: Vec<f32>,
    people: Vec<SharedPerson>,
}

#[derive(Deserialize)]
struct SharedPerson {
    keypoints: BTreeMap<String, [f32; 3]>,
    mean_keypoint_score: f32,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let text = std::fs::read_to_string(data_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn golden() -> Golden {
    load("movenet-golden.json")
}

fn shared() -> Shared {
    load("movenet-reference.json")
}

const SHAPE: [usize; 3] = [1, 6, VALUES_PER_PERSON];

/// Turns a packed BGR image 90° clockwise (as OpenCV's `ROTATE_90_CLOCKWISE`).
fn rotate_cw(bgr: &[u8], w: u32, h: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (w as usize, h as usize);
    let mut out = vec![0u8; bgr.len()];
    // Output (xr, yr), width h: source (x = yr, y = h - 1 - xr).
    for yr in 0..w {
        for xr in 0..h {
            let src = ((h - 1 - xr) * w + yr) * 3;
            let dst = (yr * h + xr) * 3;
            out[dst..dst + 3].copy_from_slice(&bgr[src..src + 3]);
        }
    }
    (out, h as u32, w as u32)
}

/// The photo of a golden entry, decoded like the reference (libjpeg-turbo) and turned if it was.
fn photo(img: &GoldenImage) -> (Vec<u8>, u32, u32) {
    let (bgr, w, h) = decode_jpeg_bgr(&data_dir().join("images").join(&img.file));
    let (bgr, w, h) = if img.rotated_90_cw {
        rotate_cw(&bgr, w, h)
    } else {
        (bgr, w, h)
    };
    assert_eq!([w, h], img.size, "{}", img.file);
    (bgr, w, h)
}

fn tensor_of(bgr: &[u8], w: u32, h: u32) -> Vec<i32> {
    let mut t = vec![0i32; 256 * 256 * 3];
    preprocess_rgb_i32(bgr, w, h, 256, 256, &mut t).unwrap();
    t
}

fn le_bytes(t: &[i32]) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn estimator(opts: PoseOptions) -> PoseEstimator {
    init_ort();
    let m = manifest();
    PoseEstimator::load(&m, &m.model_dir(), "movenet-multipose", opts).unwrap()
}

/// Largest |difference| between our poses and reference rows `(x, y, score)` per keypoint.
fn max_keypoint_diff(ours: &[Pose], theirs: &[Vec<[f32; 3]>]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 0.0f32;
    for (p, r) in ours.iter().zip(theirs) {
        for (k, [x, y, s]) in p.keypoints.iter().zip(r) {
            worst = worst
                .max((k.x - x).abs())
                .max((k.y - y).abs())
                .max((k.score - s).abs());
        }
    }
    worst
}

#[test]
fn references_are_for_the_shipped_model() {
    let m = manifest();
    let sha = &m.model("movenet-multipose").unwrap().sha256;
    assert_eq!(&golden().model_sha256, sha);
    assert_eq!(&shared().model_sha256, sha);
    assert_eq!(golden().images.len(), 5);
}

/// Decoding alone (no model run): the committed raw outputs decode to the people each reference
/// wrote, field by field.
#[test]
fn decoding_matches_both_references() {
    for (name, img) in golden().images {
        let poses = decode_movenet(&img.raw_output, &SHAPE).unwrap();
        let rows: Vec<_> = img.people.iter().map(|p| p.keypoints.clone()).collect();
        assert!(max_keypoint_diff(&poses, &rows) < 1e-6, "{name}");
        for (p, r) in poses.iter().zip(&img.people) {
            let b = [p.bbox.x1, p.bbox.y1, p.bbox.x2, p.bbox.y2];
            for (a, e) in b.iter().zip(r.box_xyxy) {
                assert!(
                    (a - e).abs() < 1e-6,
                    "{name}: box {b:?} vs {:?}",
                    r.box_xyxy
                );
            }
            assert!((p.box_score - r.box_score).abs() < 1e-6, "{name}");
            assert!((p.score - r.mean_keypoint_score).abs() < 1e-6, "{name}");
        }
    }
    for (name, img) in shared().images {
        let poses = decode_movenet(&img.raw_output, &SHAPE).unwrap();
        for (p, r) in poses.iter().zip(&img.people) {
            for (i, joint) in super::manifest::COCO_KEYPOINTS.iter().enumerate() {
                let [x, y, s] = r.keypoints[*joint];
                let k = p.keypoints[i];
                assert!(
                    (k.x - x).abs() < 1e-5 && (k.y - y).abs() < 1e-5 && (k.score - s).abs() < 1e-5,
                    "{name} {joint}: {k:?} vs {:?}",
                    [x, y, s]
                );
            }
            assert!((p.score - r.mean_keypoint_score).abs() < 1e-5, "{name}");
        }
    }
}

/// Our pre-processing (libjpeg-turbo decode, our rotation, OpenCV-equal resize, RGB int32) gives
/// both references' input tensors bit for bit.
#[test]
fn input_tensors_equal_both_references() {
    for (name, img) in golden().images {
        let (bgr, w, h) = photo(&img);
        let t = tensor_of(&bgr, w, h);
        assert_eq!(
            manifest::sha256_hex(&le_bytes(&t)),
            img.input_sha256,
            "{name}: input tensor differs from the Python reference's"
        );
        if name == "person.jpg" {
            let want = std::fs::read(data_dir().join("person.movenet-input.i32")).unwrap();
            assert_eq!(le_bytes(&t), want, "person.jpg vs person.movenet-input.i32");
        }
    }
}

/// The model run on our tensors gives both references' outputs, and the whole-frame API keeps
/// the people the references keep (mean keypoint score >= 0.2).
#[test]
fn inference_matches_both_references() {
    let mut est = estimator(PoseOptions::default());
    let shared = shared();
    for (name, img) in golden().images {
        let (bgr, w, h) = photo(&img);
        let poses = est.infer_tensor(&tensor_of(&bgr, w, h), 256, 256).unwrap();
        let golden_rows: Vec<_> = img.people.iter().map(|p| p.keypoints.clone()).collect();
        let d_golden = max_keypoint_diff(&poses, &golden_rows);
        let theirs = decode_movenet(&shared.images[&name].raw_output, &SHAPE).unwrap();
        let shared_rows: Vec<_> = theirs
            .iter()
            .map(|p| p.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect())
            .collect();
        let d_shared = max_keypoint_diff(&poses, &shared_rows);
        eprintln!("{name}: max |diff| vs movenet-golden {d_golden:.2e}, vs movenet-reference {d_shared:.2e}");
        assert!(
            d_golden < 1e-4 && d_shared < 1e-4,
            "{name}: {d_golden} {d_shared}"
        );

        let kept = est.estimate_frame(&PoseImage::new(&bgr, w, h)).unwrap();
        let want = img
            .people
            .iter()
            .filter(|p| p.mean_keypoint_score >= 0.2)
            .count();
        assert_eq!(kept.len(), want, "{name}");
    }
}

/// A crop turned 90° clockwise maps back like the reference's own un-rotation: the whole
/// person.jpg as a clockwise-turned crop (our bilinear sampler, not OpenCV's resize) gives the
/// rotated photo's pose, and mapped back to the upright photo it lands where the reference put
/// it (confident keypoints within 0.02).
#[test]
fn a_turned_crop_maps_back_like_the_reference() {
    let g = golden();
    let rotated = &g.images["person.jpg rotated 90 cw"];
    let upright = &g.images["person.jpg"];
    let (bgr, w, h) = photo(upright);
    let mut est = estimator(PoseOptions::default());
    let crop = Crop {
        region: BBox::new(0.0, 0.0, 1.0, 1.0),
        orientation: Orientation::Cw90,
    };
    let poses = est
        .estimate_crop(&PoseImage::new(&bgr, w, h), &crop)
        .unwrap();
    let best = poses.first().expect("a pose in the turned photo");
    let (i, want) = rotated
        .people
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.mean_keypoint_score.total_cmp(&b.1.mean_keypoint_score))
        .unwrap();
    assert!(
        (best.score - want.mean_keypoint_score).abs() < 0.03,
        "{} vs {}",
        best.score,
        want.mean_keypoint_score
    );
    let mapped = &rotated.people_in_original[i];
    let mut compared = 0;
    for (k, [x, y, s]) in best.keypoints.iter().zip(&mapped.keypoints) {
        if *s >= 0.3 {
            assert!(
                (k.x - x).abs() < 0.02 && (k.y - y).abs() < 0.02,
                "{k:?} vs {:?}",
                [x, y, s]
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} confident keypoints");
}

/// The most confident person box nanodet finds in a packed BGR image.
fn person_box(bgr: &[u8], w: u32, h: u32) -> BBox {
    let m = manifest();
    let mut det = Detector::load(
        &m,
        &m.model_dir(),
        "nanodet-m-416",
        DetectorOptions::default(),
    )
    .unwrap();
    det.detect_bgr(bgr, w, h)
        .unwrap()
        .into_iter()
        .filter(|d| d.class_id == 0)
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .expect("a person")
        .bbox
}

/// A person crop finds the same pose as the whole frame (confident keypoints within 0.03).
#[test]
fn a_person_crop_finds_the_whole_frame_pose() {
    let g = golden();
    let (bgr, w, h) = photo(&g.images["person.jpg"]);
    let mut est = estimator(PoseOptions::default());
    let img = PoseImage::new(&bgr, w, h);
    let whole = est.estimate_frame(&img).unwrap()[0];
    let person = person_box(&bgr, w, h);
    let found = est
        .estimate_person(&img, person)
        .unwrap()
        .expect("a pose in the crop");
    assert_eq!(found.crop.orientation, Orientation::Upright);
    eprintln!(
        "person.jpg: whole frame score {:.3}, person crop score {:.3}",
        whole.score, found.pose.score
    );
    let mut compared = 0;
    for (a, b) in found.pose.keypoints.iter().zip(&whole.keypoints) {
        if a.score >= 0.3 && b.score >= 0.3 {
            assert!(
                (a.x - b.x).abs() < 0.03 && (a.y - b.y).abs() < 0.03,
                "{a:?} vs {b:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} keypoints compared");
}

/// The lying-person retry, measured on person.jpg turned 90° clockwise (a built stand-in for a
/// person lying down, head to the right): the upright crop scores low, the crop turned back
/// (counter-clockwise) scores about as well as the upright photo, and its keypoints are the
/// upright photo's keypoints turned. The person box is the upright photo's detector box turned
/// with the photo: nanodet itself scores the turned person far below its 0.3 threshold (what a
/// tracker carrying the box from before a fall would give instead).
#[test]
fn lying_person_retry_on_the_turned_photo() {
    let g = golden();
    let (up_bgr, up_w, up_h) = photo(&g.images["person.jpg"]);
    let (bgr, w, h) = photo(&g.images["person.jpg rotated 90 cw"]);
    let img = PoseImage::new(&bgr, w, h);
    let b = person_box(&up_bgr, up_w, up_h);
    // The turned photo shows original (x, y) at (1 - y, x).
    let person = BBox::new(1.0 - b.y2, b.x1, 1.0 - b.y1, b.x2);
    assert!(
        person.width() * img.aspect > person.height(),
        "{person:?} is not wide"
    );

    let mut no_retry = estimator(PoseOptions {
        rotate_retry: false,
        ..Default::default()
    });
    let plain = no_retry.estimate_person(&img, person).unwrap();
    let whole = no_retry.estimate_frame(&img).unwrap();
    let mut est = estimator(PoseOptions::default());
    let retried = est
        .estimate_person(&img, person)
        .unwrap()
        .expect("a pose after the retry");
    let up_img = PoseImage::new(&up_bgr, up_w, up_h);
    let upright = est.estimate_person(&up_img, b).unwrap().unwrap();
    let plain_score = plain.map_or(0.0, |p| p.pose.score);
    let params = posture::PostureParams::default();
    let explain = |p: Option<&Pose>| posture::classify(p, person, img.aspect, &params).explain();
    eprintln!(
        "turned person.jpg: whole frame {:.3}, upright crop {plain_score:.3} ({}), retried crop \
         {:.3} ({:?}, {}); the upright photo's crop {:.3}",
        whole.first().map_or(0.0, |p| p.score),
        explain(plain.as_ref().map(|p| &p.pose)),
        retried.pose.score,
        retried.crop.orientation,
        explain(Some(&retried.pose)),
        upright.pose.score
    );
    let lying = posture::classify(Some(&retried.pose), person, img.aspect, &params);
    assert!(
        lying.lying && matches!(lying.basis, posture::Basis::Torso { tilt_deg } if tilt_deg > 75.0),
        "{lying:?}"
    );
    assert_eq!(retried.upright_score, plain_score);
    assert_eq!(retried.crop.orientation, Orientation::Ccw90);
    assert!(
        retried.pose.score > plain_score + 0.1,
        "{} vs {plain_score}",
        retried.pose.score
    );
    let mut compared = 0;
    for (a, b) in retried.pose.keypoints.iter().zip(&upright.pose.keypoints) {
        if a.score >= 0.3 && b.score >= 0.3 {
            assert!(
                (a.x - (1.0 - b.y)).abs() < 0.03 && (a.y - b.x).abs() < 0.03,
                "{a:?} vs {b:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} keypoints compared");
}

/// A pose model where a detector is expected, and the other way round, are clear errors.
#[test]
fn the_wrong_kind_of_model_is_refused_at_load() {
    init_ort();
    let m = manifest();
    let err = Detector::load(
        &m,
        &m.model_dir(),
        "movenet-multipose",
        DetectorOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("is a pose model"), "{err}");
    let err = PoseEstimator::load(&m, &m.model_dir(), "nanodet-m-416", PoseOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("is a detector model"), "{err}");
}

/// A pose model file that does not match its sha256 is refused before ONNX Runtime sees it.
#[test]
fn an_altered_pose_model_is_refused() {
    init_ort();
    let m = manifest();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("movenet-multipose.onnx"), b"not the model").unwrap();
    let err = PoseEstimator::load(&m, dir.path(), "movenet-multipose", PoseOptions::default())
        .unwrap_err();
    assert!(matches!(err, DetectError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("movenet-multipose.onnx"), "{err}");
}
