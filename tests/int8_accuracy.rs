//! Accuracy guard of the int8 model (`nanodet-m-416-int8`, made by deploy/quantize/quantize.sh):
//! on real frames of vtest.avi that were NOT used for its calibration (frames 400 and later; the
//! calibration used 0..=396), decoded at test time by Vigie's own file pipeline, its person
//! detections must match the float32 model's (same class, IoU >= 0.5) with recall >= 0.97 and
//! precision >= 0.97.

mod common;

use vigie::detect::{init_runtime, Detection, Detector, DetectorOptions, Manifest};
use vigie::frames::Frame;

/// First frame not used for calibration (deploy/quantize/quantize.py `CALIB_FRAMES`).
const FIRST_UNSEEN: u64 = 400;
const PERSON: u16 = 0;

/// Every `step`-th frame from [`FIRST_UNSEEN`] on, scaled to 416x416 BGR by the file pipeline.
fn unseen_frames(step: u64) -> Vec<Frame> {
    common::vtest_frames(
        (416, 416),
        |seq| seq >= FIRST_UNSEEN && (seq - FIRST_UNSEEN).is_multiple_of(step),
        usize::MAX,
    )
}

fn persons(det: &mut Detector, frame: &Frame) -> Vec<Detection> {
    det.detect_bgr(&frame.data, frame.width, frame.height)
        .expect("detect")
        .into_iter()
        .filter(|d| d.class_id == PERSON)
        .collect()
}

fn boxes(d: &[Detection]) -> Vec<vigie::detect::BBox> {
    d.iter().map(|d| d.bbox).collect()
}

#[test]
fn int8_person_detections_match_fp32_on_unseen_frames() {
    init_runtime(Some(std::path::Path::new(&common::ort_dylib()))).expect("ONNX Runtime");
    let manifest = Manifest::load(&common::repo().join("models/models.toml")).expect("manifest");
    // The engine's default detection threshold ([detector] score_threshold).
    let opts = DetectorOptions {
        intra_threads: 1,
        score_threshold: 0.35,
        ..Default::default()
    };
    let dir = manifest.model_dir();
    let mut fp32 = Detector::load(&manifest, &dir, "nanodet-m-416", opts).expect("fp32 model");
    let mut int8 = Detector::load(&manifest, &dir, "nanodet-m-416-int8", opts).expect("int8");

    let frames = unseen_frames(2);
    assert!(frames.len() >= 190, "only {} frames decoded", frames.len());
    let (mut n32, mut n8, mut both) = (0usize, 0usize, 0usize);
    for f in &frames {
        let a = persons(&mut fp32, f);
        let b = persons(&mut int8, f);
        n32 += a.len();
        n8 += b.len();
        both += common::matched_boxes(&boxes(&a), &boxes(&b));
    }
    let recall = both as f64 / n32 as f64;
    let precision = both as f64 / n8 as f64;
    println!(
        "{} frames (>= {FIRST_UNSEEN}): fp32 {n32} persons, int8 {n8}, matched {both}: \
         recall {recall:.3}, precision {precision:.3}",
        frames.len()
    );
    // The clip has people in every frame: a model that finds nobody must not pass.
    assert!(n32 >= 5 * frames.len(), "fp32 found only {n32} persons");
    assert!(recall >= 0.97, "int8 recall {recall:.3} < 0.97");
    assert!(precision >= 0.97, "int8 precision {precision:.3} < 0.97");
}
