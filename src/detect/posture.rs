//! Posture from a pose: torso angle, hip position, lying or not. Pure geometry, no model.
//!
//! Angles are measured in display units: x is scaled by the picture's aspect (displayed width /
//! height), so a torso drawn at 45° on screen is 45° here even when the frame buffer is a
//! stretched 416x416. They are angles **in the image**: a camera looking steeply down sees
//! upright people tilted towards the image's vanishing point, so thresholds are image-space
//! thresholds.

use super::pose::{Joint, Pose};
use super::BBox;

/// Thresholds of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostureParams {
    /// A keypoint counts when its score is at least this.
    pub min_keypoint_score: f32,
    /// Lying when the torso is more than this many degrees from vertical.
    pub lying_torso_deg: f32,
    /// Below this mean keypoint score the keypoints are "weak": the box shape decides.
    pub weak_pose_score: f32,
    /// With weak keypoints, lying when the box's display width / height exceeds this.
    pub wide_ratio: f32,
}

impl Default for PostureParams {
    fn default() -> Self {
        PostureParams {
            min_keypoint_score: 0.3,
            lying_torso_deg: 60.0,
            weak_pose_score: 0.3,
            wide_ratio: 1.0,
        }
    }
}

/// The torso line from the shoulders' midpoint to the hips' midpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Torso {
    /// Shoulders' midpoint, normalised frame coordinates.
    pub shoulders: (f32, f32),
    /// Hips' midpoint, normalised frame coordinates.
    pub hips: (f32, f32),
    /// Angle from vertical, 0 (upright or upside down) to 90 (horizontal) degrees.
    pub tilt_deg: f32,
    /// Direction of shoulders → hips: 0 = hips straight below the shoulders, +90 = hips to the
    /// right, -90 = to the left, ±180 = above. The difference between two readings is how much
    /// the torso turned (see [`turn_deg`]).
    pub heading_deg: f32,
    /// Length in display units (fraction of the picture's height).
    pub length: f32,
}

/// Midpoint of the keypoints of `joints` scoring at least `min_score` (one is enough).
fn midpoint(pose: &Pose, joints: [Joint; 2], min_score: f32) -> Option<(f32, f32)> {
    let pts: Vec<_> = joints
        .iter()
        .map(|&j| pose.joint(j))
        .filter(|k| k.score >= min_score)
        .collect();
    (!pts.is_empty()).then(|| {
        let n = pts.len() as f32;
        (
            pts.iter().map(|k| k.x).sum::<f32>() / n,
            pts.iter().map(|k| k.y).sum::<f32>() / n,
        )
    })
}

/// The hips' midpoint (normalised frame coordinates), from the hips scoring at least
/// `min_score`.
pub fn hip_point(pose: &Pose, min_score: f32) -> Option<(f32, f32)> {
    midpoint(pose, [Joint::LeftHip, Joint::RightHip], min_score)
}

/// The torso, when at least one shoulder and one hip score at least `min_score`. `aspect` is
/// the picture's displayed width / height.
pub fn torso(pose: &Pose, aspect: f32, min_score: f32) -> Option<Torso> {
    let shoulders = midpoint(pose, [Joint::LeftShoulder, Joint::RightShoulder], min_score)?;
    let hips = hip_point(pose, min_score)?;
    let dx = (hips.0 - shoulders.0) * aspect;
    let dy = hips.1 - shoulders.1;
    let length = dx.hypot(dy);
    if length <= f32::EPSILON {
        return None;
    }
    Some(Torso {
        shoulders,
        hips,
        tilt_deg: dx.abs().atan2(dy.abs()).to_degrees(),
        heading_deg: dx.atan2(dy).to_degrees(),
        length,
    })
}

/// How far the torso turned between two headings, 0..=180 degrees.
pub fn turn_deg(before: &Torso, after: &Torso) -> f32 {
    let d = (after.heading_deg - before.heading_deg).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Height of the hips above the bottom of the person box, as a fraction of the box height
/// (about 0.5 standing; near 0 or undefined lying); `None` without a confident hip.
pub fn hip_height(pose: &Pose, person: BBox, min_score: f32) -> Option<f32> {
    let (_, y) = hip_point(pose, min_score)?;
    (person.height() > 0.0).then(|| (person.y2 - y) / person.height())
}

/// What decided [`Posture::lying`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// The torso angle (confident shoulders and hips).
    Torso { tilt_deg: f32 },
    /// The box shape (no pose, weak keypoints, or no torso).
    BoxShape { width_over_height: f32 },
}

/// A person's posture on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posture {
    pub lying: bool,
    pub basis: Basis,
    /// The torso when the keypoints showed one (even if weak overall).
    pub torso: Option<Torso>,
    /// Hips' midpoint, normalised frame coordinates.
    pub hips: Option<(f32, f32)>,
}

impl Posture {
    /// Plain words for an alert's explanation, e.g. "torso 78° from vertical".
    pub fn explain(&self) -> String {
        match self.basis {
            Basis::Torso { tilt_deg } => format!("torso {tilt_deg:.0}° from vertical"),
            Basis::BoxShape { width_over_height } => {
                format!("weak keypoints; person box {width_over_height:.1} times wider than tall")
            }
        }
    }
}

/// A box's width over its height in display units (`aspect` = the picture's displayed width /
/// height): about 0.3-0.5 for a person standing, above 1 for one lying; 0 for an empty box.
pub fn width_over_height(b: BBox, aspect: f32) -> f32 {
    if b.height() > 0.0 {
        b.width() * aspect / b.height()
    } else {
        0.0
    }
}

/// Lying or not: the torso more than `lying_torso_deg` from vertical when the keypoints are
/// confident (mean score ≥ `weak_pose_score` and a torso is visible); otherwise the person box
/// wider than tall (display width / height > `wide_ratio`). `aspect` is the picture's displayed
/// width / height; `person` the detector's box.
pub fn classify(pose: Option<&Pose>, person: BBox, aspect: f32, p: &PostureParams) -> Posture {
    let torso = pose.and_then(|pose| torso(pose, aspect, p.min_keypoint_score));
    let hips = pose.and_then(|pose| hip_point(pose, p.min_keypoint_score));
    let confident = pose.is_some_and(|pose| pose.score >= p.weak_pose_score);
    match torso {
        Some(t) if confident => Posture {
            lying: t.tilt_deg > p.lying_torso_deg,
            basis: Basis::Torso {
                tilt_deg: t.tilt_deg,
            },
            torso,
            hips,
        },
        _ => {
            let ratio = width_over_height(person, aspect);
            Posture {
                lying: ratio > p.wide_ratio,
                basis: Basis::BoxShape {
                    width_over_height: ratio,
                },
                torso,
                hips,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::pose::{Keypoint, KEYPOINTS};

    /// A pose with shoulders at `s` and hips at `h` (score `score`), other keypoints weak.
    fn pose(s: (f32, f32), h: (f32, f32), score: f32) -> Pose {
        let mut keypoints = [Keypoint {
            x: 0.5,
            y: 0.5,
            score: 0.05,
        }; KEYPOINTS];
        for (j, (x, y)) in [
            (Joint::LeftShoulder, (s.0 - 0.01, s.1)),
            (Joint::RightShoulder, (s.0 + 0.01, s.1)),
            (Joint::LeftHip, (h.0 - 0.01, h.1)),
            (Joint::RightHip, (h.0 + 0.01, h.1)),
        ] {
            keypoints[j as usize] = Keypoint { x, y, score: 0.9 };
        }
        Pose {
            keypoints,
            bbox: BBox::new(0.0, 0.0, 1.0, 1.0),
            box_score: 0.3,
            score,
        }
    }

    const TALL: BBox = BBox {
        x1: 0.45,
        y1: 0.2,
        x2: 0.55,
        y2: 0.8,
    };
    const WIDE: BBox = BBox {
        x1: 0.2,
        y1: 0.45,
        x2: 0.8,
        y2: 0.55,
    };

    #[test]
    fn upright_horizontal_and_diagonal_torsos() {
        let p = PostureParams::default();
        let up = pose((0.5, 0.3), (0.5, 0.5), 0.6);
        let t = torso(&up, 1.0, 0.3).unwrap();
        assert!(
            t.tilt_deg.abs() < 1e-4 && t.heading_deg.abs() < 1e-4,
            "{t:?}"
        );
        assert!((t.length - 0.2).abs() < 1e-6);
        assert!(!classify(Some(&up), TALL, 1.0, &p).lying);

        let flat = pose((0.3, 0.5), (0.5, 0.5), 0.6);
        let posture = classify(Some(&flat), WIDE, 1.0, &p);
        assert!(posture.lying, "{posture:?}");
        assert!(
            matches!(posture.basis, Basis::Torso { tilt_deg } if (tilt_deg - 90.0).abs() < 1e-4)
        );
        assert_eq!(posture.explain(), "torso 90° from vertical");

        // 0.1 across, 0.1 down: 45° on a square picture, not lying; on a 4:3 picture drawn in a
        // square buffer the same numbers are 53°.
        let diag = pose((0.4, 0.4), (0.5, 0.5), 0.6);
        assert!((torso(&diag, 1.0, 0.3).unwrap().tilt_deg - 45.0).abs() < 1e-3);
        assert!((torso(&diag, 4.0 / 3.0, 0.3).unwrap().tilt_deg - 53.13).abs() < 1e-2);
        assert!(!classify(Some(&diag), TALL, 1.0, &p).lying);
        // Just past 60°.
        let steep = pose((0.5 - 0.1 * 62f32.to_radians().tan(), 0.4), (0.5, 0.5), 0.6);
        assert!(classify(Some(&steep), TALL, 1.0, &p).lying);
    }

    #[test]
    fn turning_is_measured_across_the_wrap() {
        let down = torso(&pose((0.5, 0.3), (0.5, 0.5), 0.6), 1.0, 0.3).unwrap();
        let right = torso(&pose((0.3, 0.5), (0.5, 0.5), 0.6), 1.0, 0.3).unwrap();
        let left = torso(&pose((0.7, 0.5), (0.5, 0.5), 0.6), 1.0, 0.3).unwrap();
        let up = torso(&pose((0.5, 0.7), (0.5, 0.5), 0.6), 1.0, 0.3).unwrap();
        assert!((right.heading_deg - 90.0).abs() < 1e-3 && (left.heading_deg + 90.0).abs() < 1e-3);
        assert!((turn_deg(&down, &right) - 90.0).abs() < 1e-3);
        assert!((turn_deg(&left, &right) - 180.0).abs() < 1e-3);
        assert!((turn_deg(&up, &left) - 90.0).abs() < 1e-3);
        assert!(turn_deg(&down, &down).abs() < 1e-6);
    }

    #[test]
    fn weak_keypoints_fall_back_on_the_box_shape() {
        let p = PostureParams::default();
        let weak_upright = pose((0.5, 0.3), (0.5, 0.5), 0.1);
        let posture = classify(Some(&weak_upright), WIDE, 1.0, &p);
        assert!(posture.lying);
        assert!(
            matches!(posture.basis, Basis::BoxShape { width_over_height } if (width_over_height - 6.0).abs() < 1e-3)
        );
        assert!(posture.torso.is_some(), "the torso is still reported");
        assert!(!classify(None, TALL, 1.0, &p).lying);
        assert!(classify(None, WIDE, 1.0, &p).lying);
        // A 0.3 x 0.35 box is taller than wide on a square picture, wider on a 4:3 one.
        let b = BBox::new(0.3, 0.3, 0.6, 0.65);
        assert!(!classify(None, b, 1.0, &p).lying);
        assert!(classify(None, b, 4.0 / 3.0, &p).lying);
        // No confident hip: no torso, box decides.
        let mut no_hips = pose((0.3, 0.5), (0.5, 0.5), 0.6);
        no_hips.keypoints[Joint::LeftHip as usize].score = 0.1;
        no_hips.keypoints[Joint::RightHip as usize].score = 0.1;
        let posture = classify(Some(&no_hips), TALL, 1.0, &p);
        assert!(!posture.lying && posture.torso.is_none() && posture.hips.is_none());
        assert!(
            posture.explain().contains("weak keypoints"),
            "{}",
            posture.explain()
        );
    }

    /// The best pose of each photo in `tests/data/movenet-golden.json` (the Python reference's
    /// raw output, decoded) with the picture's aspect.
    fn photo_pose(name: &str) -> (Pose, f32) {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/movenet-golden.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let img = &doc["images"][name];
        let raw: Vec<f32> = serde_json::from_value(img["raw_output"].clone()).unwrap();
        let size: [f32; 2] = serde_json::from_value(img["size"].clone()).unwrap();
        let poses = crate::detect::pose::decode_movenet(&raw, &[1, 6, 56]).unwrap();
        let best = poses
            .into_iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .unwrap();
        (best, size[0] / size[1])
    }

    #[test]
    fn photo_poses_standing_and_turned() {
        let p = PostureParams::default();
        let (up, aspect) = photo_pose("person.jpg");
        let t = torso(&up, aspect, 0.3).unwrap();
        assert!(t.tilt_deg < 15.0, "{t:?}");
        let standing = classify(Some(&up), up.bbox, aspect, &p);
        assert!(!standing.lying, "{standing:?}");
        let h = hip_height(&up, up.bbox, 0.3).unwrap();
        assert!((0.3..0.7).contains(&h), "hip height {h}");

        // person.jpg turned 90° clockwise: the same person, lying with the head to the right.
        let (turned, aspect) = photo_pose("person.jpg rotated 90 cw");
        let t2 = torso(&turned, aspect, 0.3).unwrap();
        assert!(t2.tilt_deg > 75.0, "{t2:?}");
        assert!(
            t2.heading_deg < 0.0,
            "hips to the left of the shoulders: {t2:?}"
        );
        let lying = classify(Some(&turned), turned.bbox, aspect, &p);
        assert!(
            lying.lying && matches!(lying.basis, Basis::Torso { .. }),
            "{lying:?}"
        );
        // The turn between the two readings is about 90°.
        assert!(
            (turn_deg(&t, &t2) - 90.0).abs() < 15.0,
            "{}",
            turn_deg(&t, &t2)
        );
    }

    #[test]
    fn hip_height_in_the_box() {
        let up = pose((0.5, 0.3), (0.5, 0.5), 0.6);
        assert!((hip_height(&up, TALL, 0.3).unwrap() - 0.5).abs() < 1e-5);
        assert!(hip_height(&up, BBox::new(0.0, 0.5, 1.0, 0.5), 0.3).is_none());
        let one_hip = {
            let mut p = up;
            p.keypoints[Joint::LeftHip as usize].score = 0.0;
            p
        };
        assert_eq!(hip_point(&one_hip, 0.3), Some((0.51, 0.5)));
    }
}
