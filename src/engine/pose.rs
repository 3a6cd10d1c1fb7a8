//! Pose scheduling: a camera runs a pose model only when one of its rules needs poses
//! ([`crate::rules::Needs`]), only on frames where the detector saw persons, and at most at the
//! rule's rate (`PoseNeed::fps`). Each worker thread owns its pose sessions ([`PoseModels`]),
//! loaded on first use.
//!
//! On a due frame the model runs once on the whole frame (256x192: about 0.6-0.7x the detector's
//! CPU, see the README); poses are matched to person tracks. A person box wider than tall whose
//! pose is missing or weak (pose models trained on upright people miss lying people) is retried
//! on its own crop, upright and turned 90° both ways, at most [`MAX_CROPS`] boxes per frame.
//!
//! **Lying people the detector lost.** A detector trained on upright people may score a person
//! lying on the ground far below its threshold, and their track would be removed before a rule
//! could see them lie. When a rule asks for it (`PoseNeed::hold_lying_seconds` > 0), the
//! confirmed person tracks lost in this update ([`Tracker::lost`]) are looked for where they
//! were lost ([`lying_regions`]: fallen to the left or to the right of the feet, or the last box
//! itself when it was already lying-shaped), with the same crop retry, at most [`MAX_LOST`]
//! tracks per pose frame, and never a track last seen at the image's edge (it walked out). A pose
//! found there continues the track ([`Tracker::hold`]) only when it is confident (mean keypoint
//! score at least `rotate_below`, 0.5: the score above which the engine already trusts a pose
//! without a retry; or at least [`HOLD_SCORE`] when a second such reading for the same track, at
//! the same place, agrees: [`super::lying::LyingMemory::agrees`]), **lying** (torso more than
//! 60° from vertical, read from the keypoints, never from a box shape), and nobody else's (its
//! centre outside every matched person's box). A person who walked away leaves no lying pose
//! behind, so their track ends as before.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::detect::posture::{classify, width_over_height, Basis, PostureParams};
use crate::detect::{
    BBox, Crop, DetectError, Detection, Manifest, Orientation, PoseEstimator, PoseImage,
    PoseOptions,
};
use crate::frames::Frame;
use crate::rules::{Pose, PoseNeed};
use crate::track::{Track, Tracker};

/// Whole-frame model input (width, height): 4:3, the size measured in `benches/pose.rs`.
pub(super) const FRAME_INPUT: (u32, u32) = (256, 192);
/// Crop input side of the lying-person retry.
pub(super) const CROP_INPUT: u32 = 128;
/// Most person boxes retried on crops per frame (each costs up to three crop inferences).
pub(super) const MAX_CROPS: usize = 2;
/// Most lost person tracks looked for per pose frame (each costs up to six crop inferences).
pub(super) const MAX_LOST: usize = 1;
/// Mean keypoint score from which a lying pose *continues* a hold (starting one needs
/// `rotate_below`, 0.5): `PostureParams::weak_pose_score`, the score from which
/// `person_on_ground` itself reads the posture from the keypoints. Hysteresis, as in ByteTrack's
/// two thresholds: strict to start, lenient to continue where the person already lies.
pub(super) const HOLD_SCORE: f32 = 0.3;
/// A lost track whose last box came this close to the image's edge (normalised) walked out of
/// the picture: not looked for.
const EDGE: f32 = 0.01;

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

/// The picture's displayed width / height.
pub(super) fn aspect(frame: &Frame) -> f32 {
    if frame.source_height > 0 {
        frame.source_width as f32 / frame.source_height as f32
    } else {
        frame.width as f32 / frame.height.max(1) as f32
    }
}

/// A confirmed person track lost in this update, and where it would lie.
#[derive(Debug, Clone)]
pub(super) struct Lost {
    pub id: u64,
    /// Where to look (normalised frame coordinates), each with the one turn that would stand
    /// a person lying there upright (one crop inference each).
    pub regions: Vec<(BBox, Orientation)>,
    /// Held, or held before (a detection ended the hold): a lying pose continues from a lower
    /// score ([`HOLD_SCORE`]).
    pub held: bool,
    /// When it was last seen upright (see [`super::lying`]): when a high detection last
    /// matched it, or 0 when it was held before and that detection was lying-shaped (the
    /// person held lying there, detected lying for a moment, never seen upright since).
    pub upright_ns: u64,
}

/// A lying pose found for a lost track: the observation that may hold it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lying {
    /// `track_id` is the lost track's.
    pub pose: Pose,
    /// The pose's box (its confident keypoints, grown 10 % of the body length per side).
    pub bbox: BBox,
    /// Scored at least the score a hold needs to start (or to continue, when held) on its own;
    /// a weaker lying pose (at least [`HOLD_SCORE`]) starts a hold only when a second reading
    /// agrees ([`super::lying::LyingMemory::agrees`]).
    pub confident: bool,
}

/// The lost person tracks to look for, at most [`MAX_LOST`] (held ones first, then the widest
/// last box, then the latest seen): lost ones, and those a low detection only continued when
/// that box is lying-shaped (wider than tall, display units: a walker half hidden keeps a narrow
/// box and is not looked for).
/// A lost track is also looked for around the person detection of this frame, too weak to match
/// it, that is lying-shaped and overlaps where it would lie ([`low_hint`]).
pub(super) fn lost_people(
    tracker: &Tracker,
    person: Option<u16>,
    aspect: f32,
    detections: &[Detection],
) -> Vec<Lost> {
    let mut lost: Vec<_> = tracker
        .lost()
        .filter(|l| Some(l.track.class_id) == person && !at_edge(l.last_box))
        .filter(|l| l.held || !l.low || wide(l.last_box, aspect))
        .collect();
    // Held tracks first (a person lying is watched without a break), then the widest last box
    // (a person caught mid-fall is wider than a walker lost behind someone), then the latest.
    lost.sort_by(|a, b| {
        a.held
            .cmp(&b.held)
            .reverse()
            .then_with(|| {
                width_over_height(b.last_box, aspect)
                    .total_cmp(&width_over_height(a.last_box, aspect))
            })
            .then_with(|| b.track.last_seen_ns.cmp(&a.track.last_seen_ns))
    });
    lost.into_iter()
        .take(MAX_LOST)
        .map(|l| {
            let mut regions = lying_regions(l.last_box, aspect);
            if !l.low && !l.held {
                if let Some(hint) = low_hint(&regions, detections, person, aspect) {
                    regions.extend(lying_regions(hint, aspect));
                }
            }
            Lost {
                id: l.track.id,
                regions,
                held: l.held || l.was_held,
                upright_ns: if l.was_held && !l.low && wide(l.last_box, aspect) {
                    0
                } else {
                    l.last_high_ns
                },
            }
        })
        .collect()
}

/// Wider than tall in display units (`aspect` = width / height).
pub(super) fn wide(b: BBox, aspect: f32) -> bool {
    width_over_height(b, aspect) > 1.0
}

/// The best-scoring person detection below the tracker's threshold (no track took it) that is
/// lying-shaped and overlaps one of `regions`: where the detector still half sees the person
/// who fell, when the last box (taken mid-fall) puts the regions beside them. Only a hint of
/// where to look: the pose found there must still be confident and lying.
fn low_hint(
    regions: &[(BBox, Orientation)],
    detections: &[Detection],
    person: Option<u16>,
    aspect: f32,
) -> Option<BBox> {
    detections
        .iter()
        .filter(|d| Some(d.class_id) == person && wide(d.bbox, aspect))
        .filter(|d| regions.iter().any(|(r, _)| r.iou(&d.bbox) > 0.0))
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .map(|d| d.bbox)
}

fn at_edge(b: BBox) -> bool {
    b.x1 <= EDGE || b.y1 <= EDGE || b.x2 >= 1.0 - EDGE || b.y2 >= 1.0 - EDGE
}

/// Where a person last seen in `last` lies after a fall, and how to turn each crop so that the
/// person stands upright in the model input (the model is trained on upright people; the
/// upright crop is not tried: only a lying pose may hold a track). An upright box of body
/// length `L` (its longer side): the body turned about the feet to either side, a region from
/// the feet `L` to the left (head on the left: turned clockwise) and one `L` to the right (turned
/// counter-clockwise), each 15 % of `L` beyond the feet, from `L / 2` above the feet to `L / 10`
/// below. A box already wider than tall (display units, `aspect` = width / height): that box,
/// grown 25 % per side, turned both ways (the head's side is unknown). Two crops either way.
pub fn lying_regions(last: BBox, aspect: f32) -> Vec<(BBox, Orientation)> {
    let aspect = if aspect.is_finite() && aspect > 0.0 {
        aspect
    } else {
        1.0
    };
    let (w, h) = (last.width(), last.height());
    if wide(last, aspect) {
        let (gx, gy) = (w * 0.25, h * 0.25);
        let grown = BBox::new(last.x1 - gx, last.y1 - gy, last.x2 + gx, last.y2 + gy);
        return vec![(grown, Orientation::Cw90), (grown, Orientation::Ccw90)];
    }
    let (fx, fy) = last.ground_point();
    let (lx, ly) = (h / aspect, h);
    let (top, bottom) = (fy - ly * 0.5, fy + ly * 0.1);
    vec![
        (
            BBox::new(fx - lx, top, fx + 0.15 * lx, bottom),
            Orientation::Cw90,
        ),
        (
            BBox::new(fx - 0.15 * lx, top, fx + lx, bottom),
            Orientation::Ccw90,
        ),
    ]
}

/// Poses of `people` in `frame` with `need`'s model, and lying poses of the `lost` tracks;
/// empty when the model cannot run.
pub(super) fn estimate(
    models: &mut PoseModels,
    need: &PoseNeed,
    frame: &Frame,
    people: &[&Track],
    lost: &[Lost],
) -> (Vec<Pose>, Vec<Lying>) {
    let Some(est) = models.get(&need.model) else {
        return (Vec::new(), Vec::new());
    };
    let img = PoseImage::new(&frame.data, frame.width, frame.height).with_aspect(aspect(frame));
    let found = estimate_people(est, &img, people).and_then(|poses| {
        let lying = if lost.is_empty() {
            Vec::new()
        } else {
            find_lying(est, &img, people, lost)?
        };
        Ok((poses, lying))
    });
    found.unwrap_or_else(|e| {
        tracing::error!(camera = %frame.camera, error = %e, "pose estimation failed");
        (Vec::new(), Vec::new())
    })
}

/// For each lost track, the best pose in its regions, kept when it is confident, lying, and
/// nobody else's (see the module documentation).
fn find_lying(
    est: &mut PoseEstimator,
    img: &PoseImage<'_>,
    people: &[&Track],
    lost: &[Lost],
) -> Result<Vec<Lying>, DetectError> {
    let (min_score, margin) = (est.options().rotate_below, est.options().crop_margin);
    let mut out: Vec<Lying> = Vec::new();
    for l in lost {
        let mut best: Option<(crate::detect::Pose, BBox, Orientation)> = None;
        for &(region, turn) in &l.regions {
            let crop = Crop::around(region, img.aspect, margin).turned(turn);
            let found = est.estimate_crop(img, &crop)?;
            // Best first: the best whose keypoints are centred in the region.
            let inside = found
                .into_iter()
                .find(|p| p.centre(0.2).is_some_and(|c| holds(region, c)));
            if let Some(p) = inside.filter(|p| best.is_none_or(|b| p.score > b.0.score)) {
                best = Some((p, region, turn));
            }
        }
        let Some((pose, region, turn)) = best else {
            tracing::debug!(
                track = l.id,
                held = l.held,
                regions = l.regions.len(),
                "no pose where a person track was lost"
            );
            continue;
        };
        let min = if l.held { HOLD_SCORE } else { min_score };
        let lying = accept_lying(&pose, img.aspect, HOLD_SCORE);
        let confident = pose.score >= min;
        tracing::debug!(
            track = l.id,
            held = l.held,
            score = pose.score,
            ?region,
            ?turn,
            lying = lying.is_some(),
            confident,
            "pose looked for where a person track was lost"
        );
        let Some(bbox) = lying else { continue };
        let centre = pose.centre(0.2).unwrap_or_default();
        // Its own box does not count (a held track continued by a low detection is matched).
        let taken = people
            .iter()
            .filter(|t| t.id != l.id)
            .map(|t| t.bbox)
            .chain(out.iter().map(|o| o.bbox));
        if taken.into_iter().any(|b| holds(b, centre)) {
            continue;
        }
        out.push(Lying {
            pose: Pose {
                track_id: Some(l.id),
                pose,
                rotated: true,
                lying_since_ns: None,
            },
            bbox,
            confident,
        });
    }
    Ok(out)
}

/// The pose's box when it is confident (mean keypoint score at least `min_score`) and lying
/// (torso more than 60° from vertical, from confident keypoints); `None` otherwise.
pub fn accept_lying(pose: &crate::detect::Pose, aspect: f32, min_score: f32) -> Option<BBox> {
    let params = PostureParams::default();
    let bbox = keypoint_box(pose, aspect, params.min_keypoint_score)?;
    let posture = classify(Some(pose), bbox, aspect, &params);
    let by_torso = matches!(posture.basis, Basis::Torso { .. });
    (pose.score >= min_score && by_torso && posture.lying).then_some(bbox)
}

/// The box of the keypoints scoring at least `min`, grown by 10 % of its longer side (display
/// units) on each side (keypoints are joints: the head's top and the feet's soles lie beyond).
fn keypoint_box(pose: &crate::detect::Pose, aspect: f32, min: f32) -> Option<BBox> {
    let pts = pose.keypoints.iter().filter(|k| k.score >= min);
    let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut n = 0;
    for k in pts {
        (x1, y1, x2, y2) = (x1.min(k.x), y1.min(k.y), x2.max(k.x), y2.max(k.y));
        n += 1;
    }
    if n < 2 {
        return None;
    }
    let long = ((x2 - x1) * aspect).max(y2 - y1) * 0.1;
    Some(BBox::new(
        x1 - long / aspect,
        y1 - long,
        x2 + long / aspect,
        y2 + long,
    ))
}

fn estimate_people(
    est: &mut PoseEstimator,
    img: &PoseImage<'_>,
    people: &[&Track],
) -> Result<Vec<Pose>, DetectError> {
    // Only lost tracks are looked for: a whole-frame pose would go to no track.
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let found = est.estimate_frame(img)?;
    let mut poses = match_to_tracks(&found, people);
    let rotate_below = est.options().rotate_below;
    let weak: Vec<&Track> = people
        .iter()
        .copied()
        .filter(|t| wide(t.bbox, img.aspect))
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
            lying_since_ns: None,
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
                lying_since_ns: None,
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
    use crate::detect::{Detection, Joint};
    use crate::track::TrackerConfig;

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
            held: false,
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

    /// A pose with shoulders at `s`, hips at `h` (keypoints scoring 0.9), the rest weak, mean
    /// score `score`.
    fn body(s: (f32, f32), h: (f32, f32), score: f32) -> crate::detect::Pose {
        let mut p = pose_at(0.5, 0.5, 0.05);
        for (j, (x, y)) in [
            (Joint::LeftShoulder, (s.0, s.1 - 0.01)),
            (Joint::RightShoulder, (s.0, s.1 + 0.01)),
            (Joint::LeftHip, (h.0, h.1 - 0.01)),
            (Joint::RightHip, (h.0, h.1 + 0.01)),
        ] {
            p.keypoints[j as usize] = Keypoint { x, y, score: 0.9 };
        }
        p.score = score;
        p
    }

    /// Only a confident pose whose torso lies holds a track, and its box is the keypoints'.
    #[test]
    fn only_a_confident_lying_pose_holds() {
        let aspect = 4.0 / 3.0;
        let lying = body((0.40, 0.70), (0.50, 0.71), 0.55);
        let b = accept_lying(&lying, aspect, 0.5).expect("lying, confident");
        assert!(
            b.x1 < 0.40 && b.x2 > 0.50 && b.y1 < 0.69 && b.y2 > 0.72,
            "{b:?}"
        );
        assert!(
            accept_lying(&lying, aspect, 0.6).is_none(),
            "not confident enough"
        );
        let standing = body((0.45, 0.50), (0.45, 0.62), 0.9);
        assert!(accept_lying(&standing, aspect, 0.5).is_none(), "upright");
        // Lying-shaped keypoints without a readable torso (shoulders and hips weak): refused,
        // the box shape never decides here.
        let mut weak = lying;
        for k in weak.keypoints.iter_mut() {
            k.score = k.score.min(0.25);
        }
        assert!(accept_lying(&weak, aspect, 0.2).is_none());
    }

    /// An upright box: two regions wider than tall, from the feet one body length to either
    /// side; a box already lying-shaped: that box, grown.
    #[test]
    fn lying_regions_cover_a_fall_to_either_side() {
        let aspect = 4.0 / 3.0;
        let upright = BBox::new(0.84, 0.75, 0.88, 0.92);
        let (fx, fy) = upright.ground_point();
        let l = upright.height() / aspect;
        let r = lying_regions(upright, aspect);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].1, r[1].1), (Orientation::Cw90, Orientation::Ccw90));
        for (b, _) in &r {
            assert!(b.width() * aspect > b.height(), "wide {b:?}");
            assert!(b.x1 <= fx && fx <= b.x2 && b.y1 < fy && fy < b.y2, "{b:?}");
        }
        assert!((r[0].0.x1 - (fx - l)).abs() < 1e-6 && (r[1].0.x2 - (fx + l)).abs() < 1e-6);
        let flat = BBox::new(0.7, 0.86, 0.86, 0.92);
        let r = lying_regions(flat, aspect);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, r[1].0);
        assert!(r[0].0.x1 < flat.x1 && r[0].0.x2 > flat.x2 && r[0].0.y1 < flat.y1);
        assert!(at_edge(BBox::new(0.95, 0.5, 0.995, 0.8)) && !at_edge(upright));
    }

    /// A person who walked out of the picture is not looked for; one lost inside is, held
    /// tracks first; matched and non-person tracks never.
    #[test]
    fn lost_people_are_those_lost_inside_the_picture() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let person = |x: f32| Detection {
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(x, 0.4, x + 0.05, 0.6),
        };
        let (inside, edge, stays) = (person(0.4), person(0.952), person(0.1));
        tr.update(&[inside, edge, stays], 0);
        tr.update(&[inside, edge, stays], 100_000_000);
        tr.update(&[stays], 200_000_000);
        let lost = lost_people(&tr, Some(0), 4.0 / 3.0, &[]);
        let ids: Vec<_> = lost
            .iter()
            .map(|l| (l.id, l.held, l.regions.len()))
            .collect();
        assert_eq!(ids, vec![(1, false, 2)]);
        assert!(lost_people(&tr, Some(2), 4.0 / 3.0, &[]).is_empty());
    }

    /// A held track that a lying-shaped high detection matched (the person lying there, seen by
    /// the detector for a moment) was not seen upright then: its `upright_ns` is 0. One an
    /// upright detection matched keeps that detection's time.
    #[test]
    fn a_lying_detection_of_a_held_track_is_no_upright_sighting() {
        let ms = 1_000_000;
        let person = |bbox| Detection {
            class_id: 0,
            score: 0.9,
            bbox,
        };
        let up = BBox::new(0.40, 0.40, 0.45, 0.60);
        let flat = BBox::new(0.36, 0.52, 0.50, 0.61);
        // Upright again where the track was held (IoU 0.39 with the held box).
        let risen = BBox::new(0.40, 0.47, 0.47, 0.61);
        for (seen, upright_ns) in [(flat, 0), (risen, 800 * ms)] {
            let mut tr = Tracker::new(TrackerConfig::default());
            for k in 0..3 {
                tr.update(&[person(up)], k * 200 * ms);
            }
            tr.update(&[], 600 * ms);
            assert!(tr.hold(1, (flat, 0.5), 600 * ms, 10.0));
            tr.update(&[person(seen)], 800 * ms);
            tr.update(&[], 1_000 * ms);
            let lost = lost_people(&tr, Some(0), 4.0 / 3.0, &[]);
            let got: Vec<_> = lost.iter().map(|l| (l.id, l.held, l.upright_ns)).collect();
            assert_eq!(got, vec![(1, true, upright_ns)], "{seen:?}");
        }
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

    /// `person.jpg` turned 90° clockwise (a built stand-in for someone lying, feet on the left),
    /// scaled to the engine's 416x416 frame: the pose model, the frame, its displayed aspect,
    /// and the person's box (the detector's box on the upright photo, turned).
    fn turned_person_frame() -> (PoseEstimator, Vec<u8>, f32, BBox) {
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
        let loader = PoseLoader::new(Ok(manifest.clone()), manifest.model_dir());
        let est = loader.load("movenet-multipose").unwrap();
        let lying = BBox::new(1.0 - b.y2, b.x1, 1.0 - b.y1, b.x2);
        (est, frame, tw as f32 / th as f32, lying)
    }

    /// The engine's path on a lying person: the real photo `person.jpg` turned 90° (a built
    /// stand-in for someone lying), scaled to the engine's 416x416 frame, its person box from
    /// the detector on the upright photo, turned. The whole-frame pass misses or under-scores
    /// the person; the crop retry finds a rotated pose with the torso lying.
    #[test]
    fn a_lying_person_gets_a_pose_from_the_turned_crop() {
        use crate::detect::posture::{classify, PostureParams};
        let (mut est, frame, aspect, lying_box) = turned_person_frame();
        let img = PoseImage::new(&frame, 416, 416).with_aspect(aspect);
        let lying = track(1, lying_box);
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

    /// A pose frame due only for a lost track runs no whole-frame pass: its poses would go to
    /// no track (the real photo upright, where the whole frame does find the person).
    #[test]
    fn no_whole_frame_pass_without_a_person_track() {
        use crate::detect::{load_image_bgr, resize_bgr};
        let (mut est, _, _, _) = turned_person_frame();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (bgr, w, h) = load_image_bgr(&root.join("tests/data/images/person.jpg")).unwrap();
        let mut frame = vec![0u8; 416 * 416 * 3];
        resize_bgr(&bgr, w, h, 416, 416, &mut frame).unwrap();
        let img = PoseImage::new(&frame, 416, 416).with_aspect(w as f32 / h as f32);
        assert!(!est.estimate_frame(&img).unwrap().is_empty());
        assert!(estimate_people(&mut est, &img, &[]).unwrap().is_empty());
    }

    /// The hold's path on the same turned photo: the track was lost while the person stood
    /// (its last box upright, standing on the lying body's feet end); the lying regions beside
    /// the feet find the lying pose, confident enough to start a hold.
    #[test]
    fn a_lost_upright_track_finds_the_lying_person_beside_its_feet() {
        let (mut est, frame, aspect, lying) = turned_person_frame();
        let img = PoseImage::new(&frame, 416, 416).with_aspect(aspect);
        // Turned clockwise: the feet are at the lying box's left end.
        let (fx, fy) = (lying.x1, (lying.y1 + lying.y2) * 0.5);
        let (bw, bh) = (lying.height() / aspect, lying.width() * aspect);
        let upright = BBox::new(fx - bw * 0.5, fy - bh, fx + bw * 0.5, fy);
        let lost = [Lost {
            id: 7,
            regions: lying_regions(upright, img.aspect),
            held: false,
            upright_ns: 0,
        }];
        let found = find_lying(&mut est, &img, &[], &lost).unwrap();
        let l = found.first().expect("a confident lying pose");
        eprintln!(
            "lost upright box, lying regions: pose score {:.2}, rotated {}, box IoU {:.2}",
            l.pose.pose.score,
            l.pose.rotated,
            l.bbox.iou(&lying)
        );
        assert_eq!(l.pose.track_id, Some(7));
        assert!(l.pose.rotated && l.pose.pose.score >= 0.5 && l.confident);
        assert!(l.bbox.iou(&lying) > 0.3, "{:?} vs {lying:?}", l.bbox);
        // The same pose inside a matched person's box is that person's: no hold.
        let other = track(3, lying);
        assert!(find_lying(&mut est, &img, &[&other], &lost)
            .unwrap()
            .is_empty());
    }
}
