//! `[clips]`: the short video kept with each alert (see `clips`). Read at start.

use serde::{Deserialize, Serialize};

/// Longest window on either side of an alert, in seconds.
const MAX_SECONDS: f32 = 30.0;
/// Largest ring of compressed video per camera, in MiB.
const MAX_RING_MB: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClipsConfig {
    /// A clip per alert, for every camera whose compressed stream can be tapped.
    pub enabled: bool,
    /// Seconds of video before the alert's frame.
    pub pre_seconds: f32,
    /// Seconds of video after it.
    pub post_seconds: f32,
    /// Most compressed video a camera's ring holds, in MiB (a 4 Mbit/s camera needs about
    /// 10 MiB for the default 5 + 5 s and its margin).
    pub ring_max_mb: u32,
}

impl Default for ClipsConfig {
    fn default() -> Self {
        ClipsConfig {
            enabled: true,
            pre_seconds: 5.0,
            post_seconds: 5.0,
            ring_max_mb: 64,
        }
    }
}

impl ClipsConfig {
    /// Problems as `(field, message)`, for the caller to prefix with `clips.`.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        for (field, v) in [
            ("pre_seconds", self.pre_seconds),
            ("post_seconds", self.post_seconds),
        ] {
            if !(0.0..=MAX_SECONDS).contains(&v) {
                errors.push((field, format!("{v} is out of range 0..={MAX_SECONDS}")));
            }
        }
        if self.pre_seconds + self.post_seconds < 1.0 && errors.is_empty() {
            errors.push((
                "post_seconds",
                "pre_seconds + post_seconds must be at least 1 s".to_string(),
            ));
        }
        if !(1..=MAX_RING_MB).contains(&self.ring_max_mb) {
            errors.push((
                "ring_max_mb",
                format!("{} is out of range 1..={MAX_RING_MB}", self.ring_max_mb),
            ));
        }
        errors
    }

    /// Milliseconds before and after the alert.
    pub fn window_ms(&self) -> (i64, i64) {
        (
            (self.pre_seconds * 1000.0).round() as i64,
            (self.post_seconds * 1000.0).round() as i64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert!(ClipsConfig::default().check().is_empty());
        let bad = ClipsConfig {
            enabled: true,
            pre_seconds: -1.0,
            post_seconds: f32::NAN,
            ring_max_mb: 0,
        };
        let fields: Vec<&str> = bad.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["pre_seconds", "post_seconds", "ring_max_mb"]);
        let empty = ClipsConfig {
            pre_seconds: 0.0,
            post_seconds: 0.5,
            ..ClipsConfig::default()
        };
        assert_eq!(empty.check()[0].0, "post_seconds");
        assert_eq!(ClipsConfig::default().window_ms(), (5000, 5000));
    }
}
