//! Human pose (MoveNet MultiPose, 17 COCO keypoints per person), for posture only: a person lying
//! on the ground. Never used to identify anyone.
//!
//! - [`decode_movenet`]: the model's `[1, people, 56]` output → [`Pose`]s (pure, tested against an
//!   independent reference);
//! - [`Crop`] / [`Affine`] / [`sample_crop`]: person crops (square in display units, with a
//!   margin, optionally rotated 90°) and the mapping of keypoints back to the frame;
//! - [`PoseEstimator`]: one ONNX Runtime session and its buffers (one per worker thread), on the
//!   whole frame or on person crops, with the "lying person" retry on rotated crops.
//!
//! Every coordinate is normalised to the frame (0..1 of its width and height), like
//! [`crate::detect::BBox`].

mod crop;
mod estimator;
mod movenet;

pub use crop::{sample_crop, Affine, Crop, Orientation};
pub use estimator::{PersonPose, PoseEstimator, PoseImage, PoseOptions};
pub use movenet::{decode_movenet, VALUES_PER_PERSON};

use super::BBox;

/// Keypoints per person (COCO order, see [`Joint`]).
pub const KEYPOINTS: usize = 17;

/// The 17 COCO keypoints, in the model's output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joint {
    Nose,
    LeftEye,
    RightEye,
    LeftEar,
    RightEar,
    LeftShoulder,
    RightShoulder,
    LeftElbow,
    RightElbow,
    LeftWrist,
    RightWrist,
    LeftHip,
    RightHip,
    LeftKnee,
    RightKnee,
    LeftAnkle,
    RightAnkle,
}

/// One keypoint: position (normalised frame coordinates) and the model's confidence (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

/// One person's pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// In [`Joint`] order.
    pub keypoints: [Keypoint; KEYPOINTS],
    /// The model's person box (its score is low even for clear people: prefer `score`).
    pub bbox: BBox,
    pub box_score: f32,
    /// Mean of the 17 keypoint scores: the pose's confidence.
    pub score: f32,
}

impl Pose {
    /// The keypoint of `joint`.
    pub fn joint(&self, joint: Joint) -> Keypoint {
        self.keypoints[joint as usize]
    }

    /// The same pose with every point mapped by `to_frame` (keypoints, and the box as the bounds
    /// of its mapped corners).
    pub fn mapped(&self, to_frame: &Affine) -> Pose {
        let mut out = *self;
        for k in &mut out.keypoints {
            (k.x, k.y) = to_frame.apply(k.x, k.y);
        }
        let b = self.bbox;
        let corners = [(b.x1, b.y1), (b.x2, b.y1), (b.x1, b.y2), (b.x2, b.y2)]
            .map(|(x, y)| to_frame.apply(x, y));
        let xs = corners.map(|c| c.0);
        let ys = corners.map(|c| c.1);
        let min = |v: [f32; 4]| v.into_iter().fold(f32::INFINITY, f32::min);
        let max = |v: [f32; 4]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
        out.bbox = BBox::new(min(xs), min(ys), max(xs), max(ys));
        out
    }

    /// Score-weighted centre of the keypoints scoring at least `min_score`, if any.
    pub fn centre(&self, min_score: f32) -> Option<(f32, f32)> {
        let (mut sx, mut sy, mut sw) = (0.0f32, 0.0f32, 0.0f32);
        for k in self.keypoints.iter().filter(|k| k.score >= min_score) {
            sx += k.x * k.score;
            sy += k.y * k.score;
            sw += k.score;
        }
        (sw > 0.0).then(|| (sx / sw, sy / sw))
    }
}
