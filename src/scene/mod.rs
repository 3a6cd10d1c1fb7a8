//! Scene models from the pixels of one camera, below the rules: what a box detector cannot give.
//!
//! - [`BackgroundModel`]: dual (short-term / long-term) background over a polygon on a small
//!   frame; reports **static foreground blobs** (new, still things: candidates for an abandoned
//!   object) and re-learns on a global light change instead of reporting it.
//! - [`FlameDetector`]: classical fire cues over a polygon: flame-coloured pixels (YCbCr),
//!   flicker, non-shrinking area, minimum area, persistence in N of M frames.
//!
//! Both take the engine's packed BGR frames (any size, usually the detector's 416x416) with a
//! timestamp in seconds, work on a downscaled copy, and return boxes in normalised frame
//! coordinates like [`crate::detect::BBox`]. One instance per camera and rule; `&mut self`.

mod background;
mod blobs;
mod flame;
mod region;

pub use background::{BackgroundModel, BackgroundParams, BackgroundUpdate, StaticBlob};
pub use blobs::{label_blobs, Blob};
pub use flame::{FlameDetector, FlameParams, FlameReading, Flickers};
pub use region::{downscale_bgr, Region};

/// Errors of the scene models; each names the parameter or buffer at fault.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SceneError {
    /// A parameter is out of range.
    #[error("{field}: {message}")]
    InvalidParam {
        field: &'static str,
        message: String,
    },
    /// The polygon is unusable (fewer than 3 points, not finite, or covering no pixel).
    #[error("region polygon: {0}")]
    InvalidRegion(String),
    /// A frame does not have the size the model was built for.
    #[error("frame: expected {expected} bytes ({width}x{height} BGR), got {actual}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
}

/// Checks that `v` is finite and within `lo..=hi`.
fn check_range(field: &'static str, v: f32, lo: f32, hi: f32) -> Result<(), SceneError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(SceneError::InvalidParam {
            field,
            message: format!("{v} is not in {lo}..={hi}"),
        })
    }
}
