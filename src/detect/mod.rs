//! Object detection: the model manifest, pre-processing, the ONNX Runtime session, decoding and
//! per-class NMS.
//!
//! - [`Manifest`] (`models/models.toml`): model files, SHA-256, provenance, tensor formats, labels.
//!   Free of ONNX Runtime, so configuration validation can resolve labels with
//!   [`ModelSpec::class_id`] without loading the native library.
//! - [`preprocess_bgr`]: packed BGR frame → normalised NCHW tensor (fast path at input size,
//!   OpenCV-equal bilinear resize otherwise); [`load_image_bgr`] for image files.
//! - [`decode_nanodet`] / [`nms_per_class`]: pure post-processing.
//! - [`init_runtime`] and [`Detector`]: the ONNX Runtime session, one detector per inference thread.
//! - [`pose`]: MoveNet MultiPose decoding, person crops and [`PoseEstimator`] (its own session,
//!   one per inference thread); [`posture`]: torso angle, hip height, lying (pure geometry).

mod detector;
mod error;
pub mod manifest;
pub mod pose;
pub mod postprocess;
pub mod posture;
pub mod preprocess;
mod provider;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod pose_golden_tests;

pub use detector::{init_runtime, Detector, DetectorOptions, RawOutputs};
pub use error::DetectError;
pub use manifest::{verify_file, Manifest, ModelKind, ModelSpec, ModelUse};
pub use pose::{
    Crop, Joint, Keypoint, Orientation, PersonPose, Pose, PoseEstimator, PoseImage, PoseOptions,
};
pub use postprocess::{
    decode_nanodet, decode_nanodet_with, nms_per_class, NanodetParams, OutputTensor, RawDetection,
};
pub use preprocess::{load_image_bgr, preprocess_bgr, preprocess_rgb_i32, resize_bgr};
pub use provider::ExecutionProvider;

/// An axis-aligned box in **normalised image coordinates** (0..1 of the frame's width and height),
/// `x1 <= x2`, `y1 <= y2`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        BBox { x1, y1, x2, y2 }
    }
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    /// Bottom centre: where the object touches the ground.
    pub fn ground_point(&self) -> (f32, f32) {
        ((self.x1 + self.x2) * 0.5, self.y2)
    }
}

/// One detected object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Index into the model's label list (COCO order for nanodet).
    pub class_id: u16,
    pub score: f32,
    pub bbox: BBox,
}
