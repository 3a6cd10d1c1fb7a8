//! A camera's evidence settings: privacy masks (blacked out before analysis and in everything
//! stored or shown), the main stream when detection reads a sub-stream, and whether snapshots
//! come from the full-resolution frame.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::camera::{parse_source, Positions};
use super::CameraConfig;
use crate::check::Problems;

/// One privacy mask: a polygon in normalised image coordinates (0..1, origin top left), like a
/// zone. Everything inside it is black before the detector sees the frame and in every image.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyMaskConfig {
    /// Optional name, for the operator (for example `windows-building-a`).
    #[serde(default)]
    pub id: String,
    pub points: Vec<[f32; 2]>,
}

impl PrivacyMaskConfig {
    /// The polygon as `(x, y)` pairs.
    pub fn polygon(&self) -> Vec<(f32, f32)> {
        self.points.iter().map(|p| (p[0], p[1])).collect()
    }
}

impl CameraConfig {
    /// Checks the masks and the sub-stream, and parses `detect_source`. `p` is the camera's path
    /// (`cameras[2]`).
    pub(super) fn validate_evidence(&mut self, p: &str, base_dir: &Path, problems: &mut Problems) {
        for (j, m) in self.privacy_masks.iter().enumerate() {
            let j = Positions::of(&self.positions.privacy_masks, j);
            let at = format!("{p}.privacy_masks[{j}].points");
            if m.points.len() < 3 {
                problems.push(
                    &at,
                    format!("a polygon needs at least 3 points, got {}", m.points.len()),
                );
            }
            problems.image_points(&at, &m.points);
        }
        let Some(detect) = self.detect_source.as_deref() else {
            return;
        };
        let at = format!("{p}.detect_source");
        if detect.trim() == self.source.trim() {
            problems.push(
                at,
                "is the same as `source`: leave it out to detect on the main stream",
            );
            return;
        }
        self.parsed_detect_source = parse_source(detect, &at, base_dir, problems);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::PathBuf;

    fn config(camera_extra: &str) -> Result<Config, Vec<String>> {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let text = format!(
            "[detector]\nmanifest = \"../models/models.toml\"\n\
             [[cameras]]\nid = \"cam-1\"\nsource = \"test:ball\"\n{camera_extra}\n"
        );
        Config::from_toml(&text, &base).map_err(|e| e.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn masks_and_sub_stream_load() {
        let cfg = config(
            "detect_source = \"rtsp://127.0.0.1:8554/sub\"\n\
             [[cameras.privacy_masks]]\nid = \"windows\"\npoints = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]]\n",
        )
        .expect("valid");
        let cam = &cfg.cameras[0];
        assert_eq!(cam.privacy_masks.len(), 1);
        assert_eq!(cam.privacy_masks[0].polygon()[2], (0.3, 0.4));
        assert!(cam.parsed_detect_source.is_some());
        assert!(cam.snapshot_full_resolution);
    }

    #[test]
    fn bad_masks_and_sub_streams_are_named_with_their_path() {
        let errors = config(
            "detect_source = \"ftp://nowhere/x\"\n\
             [[cameras.privacy_masks]]\npoints = \"everywhere\"\n\
             [[cameras.privacy_masks]]\npoints = [[0.1, 0.1], [1.3, 0.1], [0.3, 0.4]]\n\
             [[cameras.privacy_masks]]\npoints = [[0.1, 0.1], [0.2, 0.2]]\n\
             [[cameras.privacy_masks]]\npoints = [[0.1, 0.1], [0.2, 0.2], [0.2, 0.5]]\nshape = \"square\"\n",
        )
        .unwrap_err();
        let has = |prefix: &str| errors.iter().any(|e| e.starts_with(prefix));
        // A mask that cannot be read hides neither the others (named at their place in the file)
        // nor the camera's own errors.
        assert!(has("cameras[0].privacy_masks[0].points: "), "{errors:?}");
        assert!(
            has("cameras[0].privacy_masks[1].points[1]: [1.3, 0.1] is outside"),
            "{errors:?}"
        );
        assert!(
            has("cameras[0].privacy_masks[2].points: a polygon needs at least 3"),
            "{errors:?}"
        );
        assert!(has("cameras[0].privacy_masks[3].shape"), "{errors:?}");
        assert!(has("cameras[0].detect_source: "), "{errors:?}");
        let same = config("detect_source = \"test:ball\"").unwrap_err();
        assert!(
            same[0].starts_with("cameras[0].detect_source: is the same"),
            "{same:?}"
        );
        let missing = config("detect_source = \"/nowhere/sub.mp4\"").unwrap_err();
        assert!(
            missing[0].starts_with("cameras[0].detect_source: file /nowhere/sub.mp4 does not"),
            "{missing:?}"
        );
    }
}
