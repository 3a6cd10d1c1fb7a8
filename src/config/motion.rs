//! `[cameras.motion]`: motion gating of one camera (see [`crate::frames::motion`]).

use serde::Deserialize;

/// Skip the detector on frames where nothing moved inside the regions of the camera's rules,
/// keeping at least `min_detect_fps` detections per second.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// Off by default: every frame at `detect_fps` goes to the detector.
    pub enabled: bool,
    /// The detector still runs at least this often (stream time), motion or not, so tracks and
    /// rules about still objects (dwell, abandoned object, density) stay right.
    pub min_detect_fps: f32,
    /// Change of an 8x8 block's mean luma (0..255) since the last analysed frame that counts as
    /// motion.
    pub threshold: f32,
    /// Changed blocks inside the region needed to call it motion.
    pub min_blocks: u32,
    /// The rules' zones are grown by this fraction of the image, so an object about to enter a
    /// zone is already seen moving.
    pub margin: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            enabled: false,
            min_detect_fps: 1.0,
            threshold: 6.0,
            min_blocks: 2,
            margin: 0.05,
        }
    }
}

impl MotionConfig {
    /// Problems as `(field, message)`, for the caller to prefix with the camera's path.
    pub fn check(&self, detect_fps: f32) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if !(self.min_detect_fps > 0.0 && self.min_detect_fps <= 120.0) {
            errors.push((
                "min_detect_fps",
                format!(
                    "{} is out of range 0..=120 (0 excluded)",
                    self.min_detect_fps
                ),
            ));
        } else if detect_fps > 0.0 && self.min_detect_fps > detect_fps {
            errors.push((
                "min_detect_fps",
                format!(
                    "{} is more than the camera's detect_fps ({detect_fps})",
                    self.min_detect_fps
                ),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 255.0) {
            errors.push((
                "threshold",
                format!("{} is out of range 0..=255 (0 excluded)", self.threshold),
            ));
        }
        if !(1..=10_000).contains(&self.min_blocks) {
            errors.push((
                "min_blocks",
                format!("{} is out of range 1..=10000", self.min_blocks),
            ));
        }
        if !(0.0..=0.5).contains(&self.margin) {
            errors.push(("margin", format!("{} is out of range 0..=0.5", self.margin)));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(MotionConfig::default().check(5.0).is_empty());
        let bad = MotionConfig {
            min_detect_fps: 6.0,
            threshold: 0.0,
            min_blocks: 0,
            margin: 0.9,
            enabled: true,
        };
        let fields: Vec<&str> = bad.check(5.0).iter().map(|e| e.0).collect();
        assert_eq!(
            fields,
            ["min_detect_fps", "threshold", "min_blocks", "margin"]
        );
        // detect_fps = 0 (every frame): any positive minimum is fine.
        let ok = MotionConfig {
            min_detect_fps: 25.0,
            ..Default::default()
        };
        assert!(ok.check(0.0).is_empty());
    }
}
