//! Configuration problems with their path (`cameras[1].rules[0].zone: …`), shared by every part
//! that validates itself: [`crate::config`] for the file, [`crate::rules`] for each rule type.
//! A leaf module, so that both can use it without importing each other.

use std::fmt;

/// One problem in a configuration file, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Collects problems; every check runs, none stops at the first.
#[derive(Debug, Default)]
pub struct Problems {
    pub errors: Vec<ConfigError>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// `value` must lie in `lo..=hi` (and be finite).
    pub fn range(&mut self, path: impl Into<String>, value: f32, lo: f32, hi: f32) {
        if !(value >= lo && value <= hi) {
            self.push(path, format!("{value} is out of range {lo}..={hi}"));
        }
    }

    /// `value` must lie strictly between 0 and 1.
    pub fn fraction(&mut self, path: impl Into<String>, value: f32) {
        if !(value > 0.0 && value < 1.0) {
            self.push(path, format!("{value} must be between 0 and 1"));
        }
    }

    /// A short stable identifier: 1 to 64 letters, digits, `-` or `_`.
    pub fn id(&mut self, path: impl Into<String>, id: &str) -> bool {
        let ok = valid_id(id);
        if !ok {
            self.push(
                path,
                format!("`{id}` must be 1 to 64 letters, digits, `-` or `_`"),
            );
        }
        ok
    }

    /// Normalised image points: each coordinate in 0..=1.
    pub fn image_points(&mut self, path: &str, points: &[[f32; 2]]) {
        for (k, pt) in points.iter().enumerate() {
            if !pt.iter().all(|v| (0.0..=1.0).contains(v)) {
                self.push(
                    format!("{path}[{k}]"),
                    format!(
                        "[{}, {}] is outside the image: coordinates are normalised to 0..1",
                        pt[0], pt[1]
                    ),
                );
            }
        }
    }
}

/// 1 to 64 letters, digits, `-` or `_`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_report_with_their_path() {
        let mut p = Problems::default();
        p.range("a.x", f32::NAN, 0.0, 1.0);
        p.range("a.y", 0.5, 0.0, 1.0);
        p.fraction("a.z", 1.0);
        assert!(!p.id("a.id", "no spaces"));
        p.image_points("a.points", &[[0.5, 0.5], [1.5, 0.0]]);
        let got: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("a.x: NaN is out of range"));
        assert!(got[1].starts_with("a.z: 1 must be between 0 and 1"));
        assert!(got[2].starts_with("a.id: `no spaces`"));
        assert!(got[3].starts_with("a.points[1]: [1.5, 0] is outside the image"));
    }
}
