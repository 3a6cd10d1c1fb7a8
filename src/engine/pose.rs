//! Pose scheduling: a camera runs a pose model only when one of its rules needs poses
//! ([`crate::rules::Needs`]), only on frames where the detector saw persons, and at most at the
//! rule's rate (`PoseNeed::fps`). Each worker thread owns its pose sessions ([`PoseModels`]),
//! loaded on first use.
//!
//! On a due frame the model runs once on the whole frame (256x192: about 0.6-0.7x the detector's
//! CPU, see the README); poses are matched to person tracks. A person box wider than tall whose
//! pose is missing or weak (pose models trained on upright people miss lying people) is retried
//! on its own crop, upright and turned 90° both ways, at most [`MAX_CROPS`] boxes per frame.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::detect::{BBox, DetectError, Manifest, PoseEstimator, PoseImage, PoseOptions};
use crate::frames::Frame;
use crate::rules::{Pose, PoseNeed};
use crate::track::Track;

/// Whole-frame model input (width, height): 4:3, the size measured in `benches/pose.rs`.
pub(super) const FRAME_INPUT: (u32, u32) = (256, 192);
/// Crop input side of the lying-person retry.
pub(super) const CROP_INPUT: u32 = 128;
/// Most person boxes retried on crops per frame (each costs up to three crop inferences).
pub(super) const MAX_CROPS: usize = 2;

/// Where the pose models come from; shared by every worker.
pub(super) struct PoseLoader {
    manifest: Result<Manifest, String>,
    model_dir: PathBuf,
    options: PoseOptions,
}

impl PoseLoader {
    pub fn new(manifest: Result<Manifest, DetectError>, model_dir: PathBuf) -> Self {
        PoseLoader {
            manifest: manifest.map_err(|e| e.to_string()),
            model_dir,
            options: PoseOptions {
                frame_input: Some(FRAME_INPUT),
                crop_input: Some(CROP_INPUT),
                ..PoseOptions::default()
            },
        }
    }

    fn load(&self, model: &str) -> Result<PoseEstimator, String> {
        let manifest = self.manifest.as_ref().map_err(Clone::clone)?;
        PoseEstimator::load(manifest, &self.model_dir, model, self.options)
            .map_err(|e| e.to_string())
    }
}

/// One worker's pose sessions, by model name (`None`: it failed to load; not retried).
pub(super) struct PoseModels {
    loader: Arc<PoseLoader>,
    models: HashMap<String, Option<PoseEstimator>>,
}

impl PoseModels {
    pub fn new(loader: Arc<PoseLoader>) -> Self {
        PoseModels {
            loader,
            models: HashMap::new(),
        }
    }

    fn get(&mut self, model: &str) -> Option<&mut PoseEstimator> {
        let loader = &self.loader;
        self.models
            .entry(model.to_string())
            .or_insert_with(|| match loader.load(model) {
                Ok(e) => {
                    tracing::info!(model, "pose model loaded");
                    Some(e)
                }
                Err(e) => {
                    tracing::error!(model, error = %e, "pose model cannot be loaded: no poses");
                    None
                }
            })
            .as_mut()
    }
}

/// When a camera last ran the pose model.
#[derive(Debug, Default)]
pub(super) struct PoseClock {
    last_ns: Option<u64>,
}

impl PoseClock {
    /// Whether poses are due at `t_ns` at `fps` per second (always when time went backwards).
    pub fn due(&self, t_ns: u64, fps: f32) -> bool {
        let period = if fps > 0.0 { 1e9 / f64::from(fps) } else { 0.0 };
        // 10 % slack: frames come at the camera's rate, not exactly at the period.
        self.last_ns
            .is_none_or(|last| t_ns < last || (t_ns - last) as f64 >= period * 0.9)
    }

    pub fn ran(&mut self, t_ns: u64) {
        self.last_ns = Some(t_ns);
    }
}

/// The person tracks matched in this frame (the model looks for them).
pub(super) fn people(tracks: &[Track], person: Option<u16>) -> Vec<&Track> {
    tracks
        .iter()
        .filter(|t| Some(t.class_id) == person && !t.missed)
        .collect()
}

/// Poses of `people` in `frame` with `need`'s model; empty when the model cannot run.
pub(super) fn estimate(
    models: &mut PoseModels,
    need: &PoseNeed,
    frame: &Frame,
    people: &[&Track],
) -> Vec<Pose> {
    let Some(est) = models.get(&need.model) else {
        return Vec::new();
    };
    let aspect = if frame.source_height > 0 {
        frame.source_width as f32 / frame.source_height as f32
    } else {
        frame.width as f32 / frame.height.max(1) as f32
    };
    let img = PoseImage::new(&frame.data, frame.width, frame.height).with_aspect(aspect);
    match estimate_people(est, &img, people) {
        Ok(poses) => poses,
        Err(e) => {
            tracing::error!(camera = %frame.camera, error = %e, "pose estimation failed");
            Vec::new()
        }
    }
}

fn estimate_people(
    est: &mut PoseEstimator,
    img: &PoseImage<'_>,
    people: &[&Track],
) -> Result<Vec<Pose>, DetectError> {
    let found = est.estimate_frame(img)?;
    let mut poses = match_to_tracks(&found, people);
    let rotate_below = est.options().rotate_below;
    let weak: Vec<&Track> = people
        .iter()
        .copied()
        .filter(|t| t.bbox.width() * img.aspect > t.bbox.height())
        .filter(|t| {
            poses
                .iter()
                .find(|p| p.track_id == Some(t.id))
                .is_none_or(|p| p.pose.score < rotate_below)
        })
        .take(MAX_CROPS)
        .collect();
    for t in weak {
        let Some(pp) = est.estimate_person(img, t.bbox)? else {
            continue;
        };
        poses.retain(|p| p.track_id != Some(t.id));
        poses.push(Pose {
            track_id: Some(t.id),
            pose: pp.pose,
            rotated: pp.crop.orientation != crate::detect::Orientation::Upright,
        });
    }
    Ok(poses)
}

/// Each pose (best first) to the unmatched person whose box (grown 10 % per side) holds the
/// pose's keypoint centre, the one whose box overlaps the pose's box most; unmatched poses are
/// kept with no track.
pub(super) fn match_to_tracks(found: &[crate::detect::Pose], people: &[&Track]) -> Vec<Pose> {
    let mut taken = vec![false; people.len()];
    found
        .iter()
        .map(|p| {
            let best = p.centre(0.2).and_then(|c| {
                people
                    .iter()
                    .enumerate()
                    .filter(|(i, t)| !taken[*i] && holds(t.bbox, c))
                    .max_by(|a, b| p.bbox.iou(&a.1.bbox).total_cmp(&p.bbox.iou(&b.1.bbox)))
                    .map(|(i, t)| (i, t.id))
            });
            if let Some((i, _)) = best {
                taken[i] = true;
            }
            Pose {
                track_id: best.map(|(_, id)| id),
                pose: *p,
                rotated: false,
            }
        })
        .collect()
}

fn holds(b: BBox, (x, y): (f32, f32)) -> bool {
    let (gx, gy) = (b.width() * 0.1, b.height() * 0.1);
    x >= b.x1 - gx && x <= b.x2 + gx && y >= b.y1 - gy && y <= b.y2 + gy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::pose::KEYPOINTS;
    use crate::detect::Keypoint;

    fn track(id: u64, bbox: BBox) -> Track {
        Track {
            id,
            class_id: 0,
            bbox,
            score: 0.9,
            hits: 3,
            confirmed: true,
            missed: false,
            first_seen_ns: 0,
            last_seen_ns: 0,
            velocity: (0.0, 0.0),
        }
    }

    fn pose_at(x: f32, y: f32, score: f32) -> crate::detect::Pose {
        crate::detect::Pose {
            keypoints: [Keypoint { x, y, score }; KEYPOINTS],
            bbox: BBox::new(x - 0.05, y - 0.1, x + 0.05, y + 0.1),
            box_score: 0.3,
            score,
        }
    }

    #[test]
    fn poses_go_to_the_track_that_holds_them() {
        let a = track(1, BBox::new(0.1, 0.1, 0.2, 0.4));
        let b = track(2, BBox::new(0.5, 0.1, 0.6, 0.4));
        let people = [&a, &b];
        let found = [
            pose_at(0.55, 0.25, 0.8),
            pose_at(0.15, 0.25, 0.6),
            pose_at(0.9, 0.9, 0.5),
        ];
        let poses = match_to_tracks(&found, &people);
        let ids: Vec<_> = poses.iter().map(|p| p.track_id).collect();
        assert_eq!(ids, vec![Some(2), Some(1), None]);
        // A second pose in the same box does not take an already matched track.
        let found = [pose_at(0.15, 0.25, 0.8), pose_at(0.16, 0.26, 0.6)];
        let ids: Vec<_> = match_to_tracks(&found, &people[..1])
            .iter()
            .map(|p| p.track_id)
            .collect();
        assert_eq!(ids, vec![Some(1), None]);
    }

    #[test]
    fn the_clock_runs_at_the_rate_and_restarts_when_time_goes_back() {
        let mut c = PoseClock::default();
        assert!(c.due(0, 2.5));
        c.ran(0);
        // 5 analysed frames per second, poses at 2.5/s: every other frame.
        assert!(!c.due(200_000_000, 2.5));
        assert!(c.due(400_000_000, 2.5));
        c.ran(400_000_000);
        assert!(c.due(100, 2.5), "time went backwards");
    }

    #[test]
    fn only_matched_persons_are_looked_for() {
        let mut car = track(3, BBox::new(0.1, 0.1, 0.2, 0.2));
        car.class_id = 2;
        let mut gone = track(4, BBox::new(0.1, 0.1, 0.2, 0.2));
        gone.missed = true;
        let p = track(5, BBox::new(0.1, 0.1, 0.2, 0.2));
        let tracks = [car, gone, p];
        let ids: Vec<_> = people(&tracks, Some(0)).iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![5]);
        assert!(people(&tracks, None).is_empty());
    }

    /// A packed BGR image turned 90° clockwise.
    fn rotate_cw(bgr: &[u8], w: usize, h: usize) -> Vec<u8> {
        let mut out = vec![0u8; bgr.len()];
        for yr in 0..w {
            for xr in 0..h {
                let src = ((h - 1 - xr) * w + yr) * 3;
                let dst = (yr * h + xr) * 3;
                out[dst..dst + 3].copy_from_slice(&bgr[src..src + 3]);
            }
        }
        out
    }

    /// The engine's path on a lying person: the real photo `person.jpg` turned 90° (a built
    /// stand-in for someone lying), scaled to the engine's 416x416 frame, its person box from
    /// the detector on the upright photo, turned. The whole-frame pass misses or under-scores
    /// the person; the crop retry finds a rotated pose with the torso lying.
    #[test]
    fn a_lying_person_gets_a_pose_from_the_turned_crop() {
        use crate::detect::posture::{classify, PostureParams};
        use crate::detect::{init_runtime, load_image_bgr, resize_bgr, Detector, DetectorOptions};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dylib = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from);
        init_runtime(dylib.as_deref()).unwrap();
        let manifest = Manifest::load(&root.join("models/models.toml")).unwrap();
        let (bgr, w, h) = load_image_bgr(&root.join("tests/data/images/person.jpg")).unwrap();
        let opts = DetectorOptions::default();
        let mut det =
            Detector::load(&manifest, &manifest.model_dir(), "nanodet-m-416", opts).unwrap();
        let b = det
            .detect_bgr(&bgr, w, h)
            .unwrap()
            .into_iter()
            .filter(|d| d.class_id == 0)
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .unwrap()
            .bbox;
        let turned = rotate_cw(&bgr, w as usize, h as usize);
        let (tw, th) = (h, w);
        let mut frame = vec![0u8; 416 * 416 * 3];
        resize_bgr(&turned, tw, th, 416, 416, &mut frame).unwrap();
        let img = PoseImage::new(&frame, 416, 416).with_aspect(tw as f32 / th as f32);
        let lying = track(1, BBox::new(1.0 - b.y2, b.x1, 1.0 - b.y1, b.x2));
        let loader = PoseLoader::new(Ok(manifest.clone()), manifest.model_dir());
        let mut est = loader.load("movenet-multipose").unwrap();
        let whole = match_to_tracks(&est.estimate_frame(&img).unwrap(), &[&lying]);
        let whole_score = whole
            .iter()
            .find(|p| p.track_id == Some(1))
            .map_or(0.0, |p| p.pose.score);
        let poses = estimate_people(&mut est, &img, &[&lying]).unwrap();
        let pose = poses.iter().find(|p| p.track_id == Some(1)).unwrap();
        let posture = classify(
            Some(&pose.pose),
            lying.bbox,
            img.aspect,
            &PostureParams::default(),
        );
        eprintln!(
            "turned person.jpg in a 416x416 frame: whole frame (256x192) pose score {whole_score:.2}; \
             after the crop retry {:.2}, rotated {}, {}",
            pose.pose.score,
            pose.rotated,
            posture.explain()
        );
        assert!(pose.rotated, "the turned crop won");
        assert!(pose.pose.score > whole_score + 0.1);
        assert!(posture.lying, "{posture:?}");
        assert!(matches!(
            posture.basis,
            crate::detect::posture::Basis::Torso { .. }
        ));
    }
}
