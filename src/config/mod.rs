//! Configuration: one TOML file, read into plain serde structs (`deny_unknown_fields`), then
//! checked in one place, [`Config::load`], which collects **every** error with its path
//! (`cameras[1].zones[0].points`) before anything is built. `vigie check-config` runs exactly this
//! without opening a camera.

mod auth;
mod authorisation;
mod camera;
mod clips;
pub mod diff;
mod evidence;
mod motion;
mod outputs;
mod parameters;
mod parse;
mod retention;
mod source;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::check::ConfigError;
use crate::check::{valid_id, Problems};
pub use auth::{AuthConfig, TlsConfig};
pub use authorisation::{
    parse_time_ms, AuthorisationConfig, Period, CAMERA_FAULTS, DECREE_EVENT_TYPES,
};
pub use camera::{CalibrationConfig, CameraConfig, HealthConfig, LineConfig, ZoneConfig};
pub use clips::ClipsConfig;
pub use evidence::PrivacyMaskConfig;
pub use motion::MotionConfig;
pub use outputs::{MqttConfig, OutputConfig, Secret, WebhookConfig};
use parse::{rule, section, take_array};
pub use retention::{RetentionConfig, MIN_JOURNAL_DAYS};
pub use source::{redact_url, RtspTransport, Source};

/// Every problem found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} error{} in configuration",
            self.file.display(),
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP API and console, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// How outputs (MQTT, webhooks) link back to Vigie, e.g. `https://vigie.csu.example`:
    /// snapshot URLs in their messages are made absolute with it.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Other host names (or addresses) the server is reached by, e.g. `vigie.csu.local` behind a
    /// reverse proxy. Requests naming another host are refused (DNS rebinding); the address of
    /// `listen` (and `localhost` when it is loopback or 0.0.0.0) are always allowed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// `[server.tls]`: HTTPS with these certificate and key files; plain HTTP without.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            public_url: None,
            allowed_hosts: Vec::new(),
            tls: None,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("var")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// SQLite file of the alert journal (relative paths are relative to the config file);
    /// `<state_dir>/journal.db` when absent.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Model manifest (relative to the config file).
    pub manifest: PathBuf,
    /// Model name in the manifest.
    pub model: String,
    /// Detector input `[width, height]` in pixels; absent: the model's `shape` (416x416 for
    /// NanoDet-m). Another size needs a model declaring `input.dynamic_size`; both sides
    /// multiples of its `multiple` (32), within 128..=1280. Every camera is scaled to it: the
    /// camera's own aspect ratio (416x288 for 4:3, 416x224 for 16:9) saves detection work.
    pub input: Option<[u32; 2]>,
    /// Inference threads, each with its own ONNX Runtime session.
    pub workers: usize,
    /// Intra-op threads per session.
    pub intra_threads: usize,
    /// Detections below this score are discarded before tracking.
    pub score_threshold: f32,
    /// Per-class NMS IoU threshold.
    pub nms_iou: f32,
    /// Path to `libonnxruntime.so`; when absent, `ORT_DYLIB_PATH` is used.
    pub onnxruntime: Option<PathBuf>,
    /// Let ONNX Runtime threads spin while idle (faster on dedicated cores, slower when the
    /// decoders share them).
    pub spinning: bool,
    /// `cpu` (default), `cuda` or `tensorrt`; an unavailable provider falls back to CPU.
    pub execution_provider: crate::detect::ExecutionProvider,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            manifest: PathBuf::from("../models/models.toml"),
            model: "nanodet-m-416".to_string(),
            input: None,
            workers: 2,
            intra_threads: 1,
            score_threshold: 0.35,
            nms_iou: 0.5,
            onnxruntime: None,
            spinning: false,
            execution_provider: crate::detect::ExecutionProvider::Cpu,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    pub iou_threshold: f32,
    pub min_hits: u32,
    pub max_missed_seconds: f32,
    /// Detections from this score up to `detector.score_threshold` only continue existing tracks
    /// (ByteTrack's second stage); the detector runs down to the lower of the two.
    pub low_score: f32,
    /// A new track needs a detection scored at least `detector.score_threshold` + this.
    pub new_track_margin: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_threshold: 0.3,
            min_hits: 2,
            max_missed_seconds: 1.5,
            low_score: 0.1,
            new_track_margin: 0.1,
        }
    }
}

/// The planned-event risk forecast (independent of the cameras).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Model file written by `vigie forecast train`; serves `POST /api/forecast` and `/forecast`.
    pub model: Option<PathBuf>,
}

/// The whole validated configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The one folder Vigie writes to: the journal (`journal.db`, unless `journal.path` says
    /// otherwise), and the evidence stored beside it. Relative to the config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub detector: DetectorConfig,
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[serde(default)]
    pub forecast: ForecastConfig,
    /// How long images and journal rows are kept (`[retention]`).
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[clips]`: a short video per alert.
    #[serde(default)]
    pub clips: ClipsConfig,
    /// `[auth]`: sessions, login limits, `/metrics`.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[[authorisations]]`: the legal record each alert needs (none: the gate is off).
    #[serde(default)]
    pub authorisations: Vec<AuthorisationConfig>,
    #[serde(skip)]
    pub cameras: Vec<CameraConfig>,
    /// `[[outputs]]`: MQTT brokers and webhooks, fed by the journal's outbox.
    #[serde(skip)]
    pub outputs: Vec<OutputConfig>,
    /// Folder of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Labels of the configured model, read from the manifest during validation.
    #[serde(skip)]
    pub labels: Vec<String>,
}

impl Config {
    /// Reads, parses and validates a file. Every problem is reported at once.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let fail = |errors| ConfigErrors {
            file: path.to_path_buf(),
            errors,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(vec![ConfigError {
                path: String::new(),
                message: format!("cannot read the file: {e}"),
            }])
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_toml(&text, &base).map_err(fail)
    }

    /// Parses and validates TOML text; relative paths are resolved against `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Config, Vec<ConfigError>> {
        let mut problems = Problems::default();
        let mut root: toml::Value = match text.parse::<toml::Table>() {
            Ok(t) => toml::Value::Table(t),
            Err(e) => {
                return Err(vec![ConfigError::new(
                    "",
                    format!("not valid TOML: {}", e.to_string().trim()),
                )])
            }
        };
        let cameras_value = take_array(&mut root, "cameras", "", &mut problems);
        let outputs: Vec<(usize, OutputConfig)> =
            take_array(&mut root, "outputs", "", &mut problems)
                .into_iter()
                .enumerate()
                .filter_map(|(i, o)| {
                    Some((i, section(o, &format!("outputs[{i}]"), &mut problems)?))
                })
                .collect();
        let mut config: Option<Config> = section(root, "", &mut problems);
        let cameras: Vec<(usize, CameraConfig)> = cameras_value
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| {
                Some((i, read_camera(v, &format!("cameras[{i}]"), &mut problems)?))
            })
            .collect();
        if let Some(cfg) = config.as_mut() {
            cfg.base_dir = base_dir.to_path_buf();
            cfg.validate(cameras, &mut problems);
            cfg.auth.validate(&mut problems.errors);
            if let Some(tls) = &cfg.server.tls {
                tls.validate(base_dir, &mut problems.errors);
            }
            outputs::validate(
                &outputs,
                cfg.server.public_url.as_deref(),
                base_dir,
                &mut problems.errors,
            );
            cfg.outputs = outputs.into_iter().map(|(_, o)| o).collect();
        }
        match config {
            Some(cfg) if problems.errors.is_empty() => Ok(cfg),
            _ => Err(problems.errors),
        }
    }

    /// A path from the config, made absolute against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        resolve(&self.base_dir, p)
    }

    /// The state directory, absolute.
    pub fn state_dir(&self) -> PathBuf {
        self.resolve(&self.state_dir)
    }

    /// The journal file: `journal.path`, or `journal.db` in the state directory.
    pub fn journal_path(&self) -> PathBuf {
        match &self.journal.path {
            Some(p) => self.resolve(p),
            None => self.state_dir().join("journal.db"),
        }
    }

    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.server.listen.parse().ok()
    }

    /// The detector's settings as the detector takes them.
    pub fn detector_options(&self) -> crate::detect::DetectorOptions {
        let d = &self.detector;
        crate::detect::DetectorOptions {
            intra_threads: d.intra_threads,
            score_threshold: d.score_threshold,
            nms_iou: d.nms_iou,
            spinning: d.spinning,
            execution_provider: d.execution_provider,
            input_size: d.input.map(|[w, h]| (w, h)),
        }
    }

    /// Label index of a class name in the configured model.
    pub fn class_id(&self, label: &str) -> Option<u16> {
        self.labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// The semantic checks: every one runs, every problem is collected.
    fn validate(&mut self, mut cameras: Vec<(usize, CameraConfig)>, problems: &mut Problems) {
        self.validate_engine(problems);
        self.labels = self.model_labels(problems);
        if cameras.is_empty() {
            problems.push("cameras", "no camera is configured");
        }
        let manifest = crate::detect::Manifest::load(&self.resolve(&self.detector.manifest)).ok();
        let model = camera::ModelInfo {
            name: &self.detector.model,
            labels: &self.labels,
            manifest: manifest.as_ref(),
        };
        let mut ids = std::collections::HashSet::new();
        for (i, cam) in cameras.iter_mut() {
            let p = format!("cameras[{i}]");
            if problems.id(format!("{p}.id"), &cam.id) && !ids.insert(cam.id.clone()) {
                problems.push(
                    format!("{p}.id"),
                    format!("`{}` is used by another camera", cam.id),
                );
            }
            cam.validate(&p, &self.base_dir, &model, problems);
        }
        self.cameras = cameras.into_iter().map(|(_, c)| c).collect();
        self.validate_governance(problems);
    }

    /// `[retention]` and `[[authorisations]]` (whose cameras must exist).
    fn validate_governance(&self, problems: &mut Problems) {
        for (field, message) in self.retention.check() {
            problems.push(format!("retention.{field}"), message);
        }
        for (field, message) in self.clips.check() {
            problems.push(format!("clips.{field}"), message);
        }
        let camera_ids: Vec<&str> = self.cameras.iter().map(|c| c.id.as_str()).collect();
        for (i, a) in self.authorisations.iter().enumerate() {
            for (field, message) in a.check(&camera_ids) {
                problems.push(format!("authorisations[{i}].{field}"), message);
            }
        }
    }

    /// `[server]`, `[detector]`, `[tracker]`, `[forecast]`.
    fn validate_engine(&self, problems: &mut Problems) {
        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(
                "server.listen",
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    self.server.listen
                ),
            );
        }
        for (i, host) in self.server.allowed_hosts.iter().enumerate() {
            // A bare host: no scheme, port, path or wildcard.
            let bare = !host.contains([':', '/', '*']) || host.starts_with('[');
            if !bare || url::Host::parse(host).is_err() {
                problems.push(
                    format!("server.allowed_hosts[{i}]"),
                    format!("`{host}` is not a host name or address (no scheme, port or path)"),
                );
            }
        }
        let d = &self.detector;
        if !(1..=16).contains(&d.workers) {
            problems.push(
                "detector.workers",
                format!("{} is out of range 1..=16", d.workers),
            );
        }
        if !(1..=64).contains(&d.intra_threads) {
            problems.push(
                "detector.intra_threads",
                format!("{} is out of range 1..=64", d.intra_threads),
            );
        }
        problems.fraction("detector.score_threshold", d.score_threshold);
        problems.fraction("detector.nms_iou", d.nms_iou);
        let t = &self.tracker;
        problems.fraction("tracker.iou_threshold", t.iou_threshold);
        problems.range(
            "tracker.max_missed_seconds",
            t.max_missed_seconds,
            0.0,
            60.0,
        );
        problems.fraction("tracker.low_score", t.low_score);
        if !(t.new_track_margin >= 0.0 && t.new_track_margin < 1.0) {
            problems.push(
                "tracker.new_track_margin",
                format!("{} is out of range 0..1", t.new_track_margin),
            );
        }
        if let Some(model) = &self.forecast.model {
            let path = self.resolve(model);
            if !path.is_file() {
                problems.push(
                    "forecast.model",
                    format!("file {} does not exist", path.display()),
                );
            }
        }
    }

    /// The labels rules may name, from the model manifest.
    fn model_labels(&self, problems: &mut Problems) -> Vec<String> {
        let d = &self.detector;
        let manifest_path = self.resolve(&d.manifest);
        match crate::detect::Manifest::load(&manifest_path) {
            Ok(manifest) => match manifest.model(&d.model) {
                Some(spec) if spec.kind != crate::detect::ModelKind::Detector => problems.push(
                    "detector.model",
                    format!(
                        "model `{}` is a {} model in {} (kind = \"{}\"), not a detector",
                        d.model,
                        spec.kind,
                        manifest_path.display(),
                        spec.kind
                    ),
                ),
                Some(spec) => {
                    if let Some([w, h]) = d.input {
                        if let Err(why) = spec.check_input_size(w, h) {
                            problems.push("detector.input", why);
                        }
                    }
                    return spec.labels.clone();
                }
                None => problems.push(
                    "detector.model",
                    format!("no model `{}` in {}", d.model, manifest_path.display()),
                ),
            },
            Err(e) => problems.push("detector.manifest", e.to_string()),
        }
        Vec::new()
    }
}

/// Reads one `[[cameras]]` table: the camera itself, then its zones, lines, privacy masks and
/// rules one by one, so that an error in one does not hide errors in the others.
fn read_camera(
    mut value: toml::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<CameraConfig> {
    let zones = take_array(&mut value, "zones", path, problems);
    let lines = take_array(&mut value, "lines", path, problems);
    let rules = take_array(&mut value, "rules", path, problems);
    let masks = take_array(&mut value, "privacy_masks", path, problems);
    let cam: Option<CameraConfig> = section(value, path, problems);
    let (zones, zone_at) = parse_each(zones, &format!("{path}.zones"), problems, section);
    let (lines, line_at) = parse_each(lines, &format!("{path}.lines"), problems, section);
    let (rules, rule_at) = parse_each(rules, &format!("{path}.rules"), problems, rule);
    let (masks, mask_at) = parse_each(masks, &format!("{path}.privacy_masks"), problems, section);
    let mut cam = cam?;
    cam.zones = zones;
    cam.lines = lines;
    cam.rules = rules;
    cam.positions = camera::Positions {
        zones: zone_at,
        lines: line_at,
        rules: rule_at,
        privacy_masks: mask_at,
    };
    cam.privacy_masks = masks;
    Some(cam)
}

/// Parses each entry of a list with `parse`, keeping those that parse and their positions.
fn parse_each<T>(
    values: Vec<toml::Value>,
    path: &str,
    problems: &mut Problems,
    parse: impl Fn(toml::Value, &str, &mut Problems) -> Option<T>,
) -> (Vec<T>, Vec<usize>) {
    values
        .into_iter()
        .enumerate()
        .filter_map(|(j, v)| parse(v, &format!("{path}[{j}]"), problems).map(|t| (t, j)))
        .unzip()
}

/// A detector input size as the command line writes it, `WIDTHxHEIGHT` (e.g. `416x288`), for
/// `[detector] input` (`vigie eval --input`, `vigie bench capacity --input`). The model checks
/// the size itself when the config is validated.
pub fn parse_input_size(text: &str) -> Result<[u32; 2], String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some([w.trim().parse().ok()?, h.trim().parse().ok()?]));
    parsed.ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT, e.g. 416x288"))
}

pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests;
