//! One camera's configuration: its source and pipeline settings, fault thresholds, and what the
//! rules need: zones, lines, ground calibration and the rules themselves. Each part checks
//! itself; every problem is reported with its path.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MotionConfig, PrivacyMaskConfig, RtspTransport, Source};
use crate::check::Problems;
use crate::rules::{Calibration, CalibrationError, CameraCheck, Line, RuleConfig, Scene, Zone};

fn default_true() -> bool {
    true
}
fn default_detect_fps() -> f32 {
    5.0
}
fn default_queue() -> usize {
    2
}
fn default_stall_seconds() -> f32 {
    10.0
}
fn default_reconnect_max_seconds() -> f32 {
    30.0
}
fn default_decode_threads() -> u32 {
    1
}
fn default_rtsp_latency_ms() -> u32 {
    200
}

fn default_offline() -> f32 {
    10.0
}
fn default_frozen() -> f32 {
    20.0
}
fn default_obstructed() -> f32 {
    5.0
}
fn default_ratio() -> f32 {
    0.25
}

/// Camera fault thresholds of one camera (`[cameras.health]`), used by [`crate::health`]. A
/// duration of 0 disables that check.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// No decoded frame for this long: `camera_offline`.
    pub offline_seconds: f32,
    /// The image has not changed for this long while frames arrive: `camera_frozen`.
    pub frozen_seconds: f32,
    /// Detail or brightness collapsed for this long: `camera_obstructed`.
    pub obstructed_seconds: f32,
    /// Collapse = below this fraction of the camera's own recent baseline.
    pub obstructed_ratio: f32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            offline_seconds: default_offline(),
            frozen_seconds: default_frozen(),
            obstructed_seconds: default_obstructed(),
            obstructed_ratio: default_ratio(),
        }
    }
}

fn default_max_frame_age_ms() -> u64 {
    1000
}

/// One camera. Zones and rules are read separately so that an error in one of them does not hide
/// errors in the others.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short stable identifier (letters, digits, `-`, `_`), used in alerts, metrics and the API.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Where the camera is, in words, for the operator.
    #[serde(default)]
    pub location: String,
    /// `rtsp://…`, `rtsps://…`, `http(s)://…` (MJPEG), `file:PATH` (or a plain path), or
    /// `test:PATTERN`.
    pub source: String,
    /// Files only: start again at the end, as if the file were a live camera.
    #[serde(default)]
    pub r#loop: bool,
    /// Files only: play at the file's own frame rate (true), or as fast as possible (false).
    #[serde(default = "default_true")]
    pub realtime: bool,
    /// RTSP only: `tcp` (default) or `udp`.
    #[serde(default)]
    pub rtsp_transport: RtspTransport,
    /// RTSP only: jitter buffer of `rtspsrc` in milliseconds.
    #[serde(default = "default_rtsp_latency_ms")]
    pub rtsp_latency_ms: u32,
    /// No decoded frame for this long restarts the pipeline (every source, files included).
    #[serde(default = "default_stall_seconds")]
    pub stall_seconds: f32,
    /// Longest wait between two reconnection attempts (exponential backoff from 1 s).
    #[serde(default = "default_reconnect_max_seconds")]
    pub reconnect_max_seconds: f32,
    /// Threads of the software (libav) decoder; 0 = one per core.
    #[serde(default = "default_decode_threads")]
    pub decode_threads: u32,
    /// Detection rate in frames per second; 0 runs the detector on every decoded frame.
    #[serde(default = "default_detect_fps")]
    pub detect_fps: f32,
    /// Frames waiting for the detector; when full the oldest is dropped.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// A frame older than this when the detector would take it is dropped and counted, never
    /// analysed late; 0 = no limit.
    #[serde(default = "default_max_frame_age_ms")]
    pub max_frame_age_ms: u64,
    /// Fault alerts (offline, frozen, obstructed) thresholds.
    #[serde(default)]
    pub health: HealthConfig,
    /// Motion gating: skip the detector when nothing moves in the rules' zones.
    #[serde(default)]
    pub motion: MotionConfig,
    /// Ground calibration (`[cameras.calibration]`): rules measure in metres when present.
    #[serde(default)]
    pub calibration: Option<CalibrationConfig>,
    #[serde(skip)]
    pub zones: Vec<ZoneConfig>,
    #[serde(skip)]
    pub lines: Vec<LineConfig>,
    #[serde(skip)]
    pub rules: Vec<RuleConfig>,
    /// Parsed `source`, filled in by validation.
    #[serde(skip)]
    pub parsed_source: Option<Source>,
    /// The fitted `calibration`, filled in by validation.
    #[serde(skip)]
    pub fitted_calibration: Option<Calibration>,
    /// Polygons blacked out before analysis and in every image (see `config::evidence`); read
    /// one by one like zones.
    #[serde(skip_deserializing)]
    pub privacy_masks: Vec<PrivacyMaskConfig>,
    /// The camera's low-resolution sub-stream: detection and tracking read it, snapshots come
    /// from `source` (the main stream).
    #[serde(default)]
    pub detect_source: Option<String>,
    /// Snapshots from the full-resolution frame (true) or from the detector's frame (false).
    #[serde(default = "default_true")]
    pub snapshot_full_resolution: bool,
    /// Parsed `detect_source`, filled in by validation.
    #[serde(skip)]
    pub parsed_detect_source: Option<Source>,
    /// Where each zone, line, rule and privacy mask stood in the file, for error paths when an
    /// entry before it failed to parse (empty: same positions).
    #[serde(skip)]
    pub(crate) positions: Positions,
}

/// Positions in the file of the zones, lines, rules and privacy masks that parsed (see
/// `CameraConfig`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Positions {
    pub zones: Vec<usize>,
    pub lines: Vec<usize>,
    pub rules: Vec<usize>,
    pub privacy_masks: Vec<usize>,
}

impl Positions {
    /// The file position of the `j`-th parsed entry of `list`.
    pub(super) fn of(list: &[usize], j: usize) -> usize {
        list.get(j).copied().unwrap_or(j)
    }
}

/// A zone drawn on one camera's image, in normalised coordinates (0..1, origin top left).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub points: Vec<[f32; 2]>,
}

/// A polyline drawn on one camera's image (a kerb, a lane's edge), normalised coordinates.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub points: Vec<[f32; 2]>,
}

fn default_max_error_m() -> f32 {
    0.5
}

/// Image points (normalised) of a camera with their ground coordinates (metres).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationConfig {
    /// At least 4 points, no 3 on one line, normalised image coordinates.
    pub image: Vec<[f32; 2]>,
    /// The same points on the ground, metres, in the same order.
    pub ground: Vec<[f32; 2]>,
    /// RMS reprojection error (m) above which the calibration is refused.
    #[serde(default = "default_max_error_m")]
    pub max_error_m: f32,
}

impl CalibrationConfig {
    /// Fits the calibration; every problem is reported under `path` (`cameras[0].calibration`).
    pub fn fit(&self, path: &str, problems: &mut Problems) -> Option<Calibration> {
        problems.image_points(&format!("{path}.image"), &self.image);
        problems.range(format!("{path}.max_error_m"), self.max_error_m, 0.01, 100.0);
        let pts = |v: &[[f32; 2]]| -> Vec<(f64, f64)> {
            v.iter()
                .map(|p| (f64::from(p[0]), f64::from(p[1])))
                .collect()
        };
        let cal = match Calibration::fit(&pts(&self.image), &pts(&self.ground)) {
            Ok(c) => c,
            Err(e) => {
                let at = match &e {
                    CalibrationError::CountMismatch { .. } | CalibrationError::Folded(_) => {
                        format!("{path}.ground")
                    }
                    CalibrationError::TooFew(_) => format!("{path}.image"),
                    CalibrationError::Collinear { set, .. } => format!("{path}.{set}"),
                    CalibrationError::NotFinite | CalibrationError::Degenerate => path.to_string(),
                };
                problems.push(at, e.to_string());
                return None;
            }
        };
        if cal.rms_error_m > f64::from(self.max_error_m) {
            problems.push(
                path,
                format!(
                    "RMS reprojection error {:.2} m (largest {:.2} m) is above max_error_m {} m: a \
                     point pair is wrong, or the ground is not flat",
                    cal.rms_error_m, cal.max_error_m, self.max_error_m
                ),
            );
            return None;
        }
        Some(cal)
    }
}

/// Named shapes of one kind (`noun`, e.g. zones): valid, unique ids, at least `min` points, each
/// inside the image.
fn validate_shapes<'a>(
    path: &str,
    (noun, shape, min): (&str, &str, usize),
    (items, positions): (impl Iterator<Item = (&'a str, &'a [[f32; 2]])>, &[usize]),
    problems: &mut Problems,
) {
    let mut ids = HashSet::new();
    for (j, (id, points)) in items.enumerate() {
        let at = format!("{path}[{}]", Positions::of(positions, j));
        if problems.id(format!("{at}.id"), id) && !ids.insert(id) {
            problems.push(
                format!("{at}.id"),
                format!("`{id}` is used by another {noun} of this camera"),
            );
        }
        if points.len() < min {
            problems.push(
                format!("{at}.points"),
                format!("{shape} needs at least {min} points, got {}", points.len()),
            );
        }
        problems.image_points(&format!("{at}.points"), points);
    }
}

/// A camera stream (`source`, `detect_source`) parsed; a file must exist. Problems at `path`.
pub(super) fn parse_source(
    text: &str,
    path: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Source> {
    match Source::parse(text, base_dir) {
        Ok(Source::File { path: file }) if !file.is_file() => {
            problems.push(path, format!("file {} does not exist", file.display()));
            // Still parsed: the camera's other checks go on.
            Some(Source::File { path: file })
        }
        Ok(src) => Some(src),
        Err(m) => {
            problems.push(path, m);
            None
        }
    }
}

/// What the rules' checks need to know about the model.
pub(crate) struct ModelInfo<'a> {
    pub name: &'a str,
    pub labels: &'a [String],
    /// `None` when it could not be read (reported at `detector.manifest`).
    pub manifest: Option<&'a crate::detect::Manifest>,
}

impl CameraConfig {
    /// Every check of this camera; `p` is its path (`cameras[0]`).
    pub(crate) fn validate(
        &mut self,
        p: &str,
        base_dir: &Path,
        model: &ModelInfo<'_>,
        problems: &mut Problems,
    ) {
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        self.validate_source(p, base_dir, problems);
        self.validate_evidence(p, base_dir, problems);
        self.validate_pipeline(p, problems);
        self.validate_health(p, problems);
        self.validate_geometry(p, problems);
        self.fitted_calibration = self
            .calibration
            .as_ref()
            .and_then(|c| c.fit(&format!("{p}.calibration"), problems));
        self.validate_on_ground(p, problems);
        self.validate_rules(p, model, problems);
    }

    fn validate_source(&mut self, p: &str, base_dir: &Path, problems: &mut Problems) {
        let src = parse_source(&self.source, &format!("{p}.source"), base_dir, problems);
        if self.r#loop
            && src
                .as_ref()
                .is_some_and(|s| !matches!(s, Source::File { .. }))
        {
            problems.push(format!("{p}.loop"), "only a file source can loop");
        }
        self.parsed_source = src;
    }

    fn validate_pipeline(&self, p: &str, problems: &mut Problems) {
        if !(self.detect_fps >= 0.0 && self.detect_fps <= 120.0) {
            problems.push(
                format!("{p}.detect_fps"),
                format!(
                    "{} is out of range 0..=120 (0 = every frame)",
                    self.detect_fps
                ),
            );
        }
        if !(1..=256).contains(&self.queue_capacity) {
            problems.push(
                format!("{p}.queue_capacity"),
                format!("{} is out of range 1..=256", self.queue_capacity),
            );
        }
        if self.max_frame_age_ms > 600_000 {
            problems.push(
                format!("{p}.max_frame_age_ms"),
                format!(
                    "{} is out of range 0..=600000 (0 = no limit)",
                    self.max_frame_age_ms
                ),
            );
        }
        problems.range(
            format!("{p}.stall_seconds"),
            self.stall_seconds,
            1.0,
            3600.0,
        );
        problems.range(
            format!("{p}.reconnect_max_seconds"),
            self.reconnect_max_seconds,
            1.0,
            3600.0,
        );
        for (field, message) in self.motion.check(self.detect_fps) {
            problems.push(format!("{p}.motion.{field}"), message);
        }
        if self.decode_threads > 64 {
            problems.push(
                format!("{p}.decode_threads"),
                format!(
                    "{} is out of range 0..=64 (0 = one per core)",
                    self.decode_threads
                ),
            );
        }
        if self.rtsp_latency_ms > 10_000 {
            problems.push(
                format!("{p}.rtsp_latency_ms"),
                format!("{} is out of range 0..=10000", self.rtsp_latency_ms),
            );
        }
    }

    fn validate_health(&self, p: &str, problems: &mut Problems) {
        let hc = &self.health;
        for (name, v) in [
            ("offline_seconds", hc.offline_seconds),
            ("frozen_seconds", hc.frozen_seconds),
            ("obstructed_seconds", hc.obstructed_seconds),
        ] {
            if !(v == 0.0 || (0.5..=3600.0).contains(&v)) {
                problems.push(
                    format!("{p}.health.{name}"),
                    format!("{v} is out of range 0.5..=3600 (0 = check disabled)"),
                );
            }
        }
        problems.fraction(format!("{p}.health.obstructed_ratio"), hc.obstructed_ratio);
    }

    /// Zones and lines: valid, unique ids; enough points; inside the image.
    fn validate_geometry(&self, p: &str, problems: &mut Problems) {
        let zones = self.zones.iter().map(|z| (z.id.as_str(), &z.points[..]));
        validate_shapes(
            &format!("{p}.zones"),
            ("zone", "a polygon", 3),
            (zones, &self.positions.zones),
            problems,
        );
        let lines = self.lines.iter().map(|l| (l.id.as_str(), &l.points[..]));
        validate_shapes(
            &format!("{p}.lines"),
            ("line", "a line", 2),
            (lines, &self.positions.lines),
            problems,
        );
    }

    /// On a calibrated camera, every zone and line vertex must be on the visible ground.
    fn validate_on_ground(&self, p: &str, problems: &mut Problems) {
        let Some(cal) = &self.fitted_calibration else {
            return;
        };
        let shapes = self.zones.iter().map(|z| ("zones", &z.points));
        let shapes = shapes.chain(self.lines.iter().map(|l| ("lines", &l.points)));
        let mut counts = std::collections::HashMap::new();
        for (kind, points) in shapes {
            let j = counts.entry(kind).or_insert(0usize);
            for (k, pt) in points.iter().enumerate() {
                if cal.to_ground((pt[0], pt[1])).is_none() {
                    problems.push(
                        format!("{p}.{kind}[{j}].points[{k}]"),
                        format!(
                            "[{}, {}] is at or above the horizon of the calibration: not on the \
                             ground",
                            pt[0], pt[1]
                        ),
                    );
                }
            }
            *j += 1;
        }
    }

    /// One line for `check-config`: the calibration's reprojection error, if calibrated.
    pub fn calibration_summary(&self) -> Option<String> {
        let cal = self.fitted_calibration.as_ref()?;
        let note = if cal.points == 4 {
            " (4 pairs fit exactly: add a fifth pair to measure the error)"
        } else {
            ""
        };
        Some(format!(
            "camera {}: ground calibration from {} point pairs, RMS reprojection error {:.3} m, \
             largest {:.3} m{note}",
            self.id, cal.points, cal.rms_error_m, cal.max_error_m
        ))
    }

    /// Rule ids unique; each rule checks itself against this camera.
    fn validate_rules(&self, p: &str, model: &ModelInfo<'_>, problems: &mut Problems) {
        let cx = CameraCheck {
            camera: &self.id,
            zones: self.zones.iter().map(|z| z.id.as_str()).collect(),
            lines: self.lines.iter().map(|l| l.id.as_str()).collect(),
            calibrated: self.fitted_calibration.is_some(),
            labels: model.labels,
            model: model.name,
            manifest: model.manifest,
        };
        let mut ids = HashSet::new();
        for (j, r) in self.rules.iter().enumerate() {
            let rp = format!("{p}.rules[{}]", Positions::of(&self.positions.rules, j));
            if problems.id(format!("{rp}.id"), r.id()) && !ids.insert(r.id()) {
                problems.push(
                    format!("{rp}.id"),
                    format!("`{}` is used by another rule of this camera", r.id()),
                );
            }
            r.validate(&cx, &rp, problems);
        }
    }

    /// The zones, lines and calibration as the rules use them.
    pub fn scene(&self) -> Scene {
        let pts = |v: &[[f32; 2]]| v.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>();
        let scene = Scene::new(
            self.zones
                .iter()
                .map(|z| Zone::new(&z.id, &z.name, pts(&z.points)))
                .collect(),
            self.lines
                .iter()
                .map(|l| Line::new(&l.id, &l.name, pts(&l.points)))
                .collect(),
        );
        match &self.fitted_calibration {
            Some(c) => scene.with_calibration(c.clone()),
            None => scene,
        }
    }
}
