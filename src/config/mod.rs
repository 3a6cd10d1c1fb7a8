//! Configuration: one TOML file, read into plain serde structs (`deny_unknown_fields`), then
//! checked in one place, [`Config::load`], which collects **every** error with its path
//! (`cameras[1].zones[0].points`) before anything is built. `vigie check-config` runs exactly this
//! without opening a camera.

mod auth;
mod authorisation;
mod motion;
mod outputs;
mod parameters;
mod retention;
mod source;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use auth::{AuthConfig, TlsConfig};
pub use authorisation::{
    parse_time_ms, AuthorisationConfig, Period, CAMERA_FAULTS, DECREE_EVENT_TYPES,
};
pub use motion::MotionConfig;
pub use outputs::{MqttConfig, OutputConfig, Secret, WebhookConfig};
pub use retention::{RetentionConfig, MIN_JOURNAL_DAYS};
pub use source::{redact_url, RtspTransport, Source};

/// One problem in a configuration file, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
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
    #[serde(skip)]
    pub zones: Vec<ZoneConfig>,
    #[serde(skip)]
    pub rules: Vec<RuleConfig>,
    /// Parsed `source`, filled in by validation.
    #[serde(skip)]
    pub parsed_source: Option<Source>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Intrusion,
}

fn default_min_seconds() -> f32 {
    1.0
}
fn default_cooldown() -> f32 {
    30.0
}
fn default_min_score() -> f32 {
    0.4
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: RuleKind,
    /// Zone id on the same camera.
    pub zone: String,
    /// Model labels that count (e.g. `person`, `car`).
    pub classes: Vec<String>,
    /// Seconds the ground point must stay inside before an alert.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// After an alert, further entries into the same zone stay silent this long.
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f32,
    /// Detections below this score do not count for this rule.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
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
        let mut errors = Vec::new();
        let mut root: toml::Value = match text.parse::<toml::Table>() {
            Ok(t) => toml::Value::Table(t),
            Err(e) => {
                return Err(vec![ConfigError {
                    path: String::new(),
                    message: format!("not valid TOML: {}", e.to_string().trim()),
                }])
            }
        };
        let cameras_value = take_array(&mut root, "cameras", "", &mut errors);
        let outputs: Vec<(usize, OutputConfig)> = take_array(&mut root, "outputs", "", &mut errors)
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, section(o, &format!("outputs[{i}]"), &mut errors)?)))
            .collect();
        let mut config: Option<Config> = section(root, "", &mut errors);
        let mut cameras = Vec::new();
        for (i, mut cam_value) in cameras_value.into_iter().enumerate() {
            let path = format!("cameras[{i}]");
            let zones_value = take_array(&mut cam_value, "zones", &path, &mut errors);
            let rules_value = take_array(&mut cam_value, "rules", &path, &mut errors);
            let cam: Option<CameraConfig> = section(cam_value, &path, &mut errors);
            let zones: Vec<ZoneConfig> = zones_value
                .into_iter()
                .enumerate()
                .filter_map(|(j, z)| section(z, &format!("{path}.zones[{j}]"), &mut errors))
                .collect();
            let rules: Vec<RuleConfig> = rules_value
                .into_iter()
                .enumerate()
                .filter_map(|(j, r)| section(r, &format!("{path}.rules[{j}]"), &mut errors))
                .collect();
            if let Some(mut cam) = cam {
                cam.zones = zones;
                cam.rules = rules;
                cameras.push((i, cam));
            }
        }
        if let Some(cfg) = config.as_mut() {
            cfg.base_dir = base_dir.to_path_buf();
            cfg.validate(&mut cameras, &mut errors);
            cfg.auth.validate(&mut errors);
            if let Some(tls) = &cfg.server.tls {
                tls.validate(base_dir, &mut errors);
            }
            outputs::validate(
                &outputs,
                cfg.server.public_url.as_deref(),
                base_dir,
                &mut errors,
            );
            cfg.cameras = cameras.into_iter().map(|(_, c)| c).collect();
            cfg.outputs = outputs.into_iter().map(|(_, o)| o).collect();
        }
        match config {
            Some(cfg) if errors.is_empty() => Ok(cfg),
            _ => Err(errors),
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

    /// Label index of a class name in the configured model.
    pub fn class_id(&self, label: &str) -> Option<u16> {
        self.labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// The semantic checks: every one runs, every problem is collected.
    fn validate(&mut self, cameras: &mut [(usize, CameraConfig)], errors: &mut Vec<ConfigError>) {
        let mut err = |path: String, message: String| errors.push(ConfigError { path, message });

        if self.server.listen.parse::<SocketAddr>().is_err() {
            err(
                "server.listen".into(),
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
                err(
                    format!("server.allowed_hosts[{i}]"),
                    format!("`{host}` is not a host name or address (no scheme, port or path)"),
                );
            }
        }
        let d = &self.detector;
        if !(1..=16).contains(&d.workers) {
            err(
                "detector.workers".into(),
                format!("{} is out of range 1..=16", d.workers),
            );
        }
        if !(1..=64).contains(&d.intra_threads) {
            err(
                "detector.intra_threads".into(),
                format!("{} is out of range 1..=64", d.intra_threads),
            );
        }
        for (name, v) in [
            ("score_threshold", d.score_threshold),
            ("nms_iou", d.nms_iou),
        ] {
            if !(v > 0.0 && v < 1.0) {
                err(
                    format!("detector.{name}"),
                    format!("{v} must be between 0 and 1"),
                );
            }
        }
        let t = &self.tracker;
        if !(t.iou_threshold > 0.0 && t.iou_threshold < 1.0) {
            err(
                "tracker.iou_threshold".into(),
                format!("{} must be between 0 and 1", t.iou_threshold),
            );
        }
        if !(t.max_missed_seconds >= 0.0 && t.max_missed_seconds <= 60.0) {
            err(
                "tracker.max_missed_seconds".into(),
                format!("{} is out of range 0..=60", t.max_missed_seconds),
            );
        }
        if !(t.low_score > 0.0 && t.low_score < 1.0) {
            err(
                "tracker.low_score".into(),
                format!("{} must be between 0 and 1", t.low_score),
            );
        }
        if !(t.new_track_margin >= 0.0 && t.new_track_margin < 1.0) {
            err(
                "tracker.new_track_margin".into(),
                format!("{} is out of range 0..1", t.new_track_margin),
            );
        }

        for (field, message) in self.retention.check() {
            err(format!("retention.{field}"), message);
        }
        let camera_ids: Vec<&str> = cameras.iter().map(|(_, c)| c.id.as_str()).collect();
        for (i, a) in self.authorisations.iter().enumerate() {
            for (field, message) in a.check(&camera_ids) {
                err(format!("authorisations[{i}].{field}"), message);
            }
        }
        if let Some(model) = &self.forecast.model {
            let path = self.resolve(model);
            if !path.is_file() {
                err(
                    "forecast.model".into(),
                    format!("file {} does not exist", path.display()),
                );
            }
        }

        // The model manifest gives the labels that rules may name.
        let manifest_path = self.resolve(&d.manifest);
        match crate::detect::Manifest::load(&manifest_path) {
            Ok(manifest) => match manifest.model(&d.model) {
                Some(spec) if spec.kind != crate::detect::ModelKind::Detector => err(
                    "detector.model".into(),
                    format!(
                        "model `{}` is a {} model in {} (kind = \"{}\"), not a detector",
                        d.model,
                        spec.kind,
                        manifest_path.display(),
                        spec.kind
                    ),
                ),
                Some(spec) => self.labels = spec.labels.clone(),
                None => err(
                    "detector.model".into(),
                    format!("no model `{}` in {}", d.model, manifest_path.display()),
                ),
            },
            Err(e) => err("detector.manifest".into(), e.to_string()),
        }

        if cameras.is_empty() {
            err("cameras".into(), "no camera is configured".into());
        }
        let mut ids = HashSet::new();
        for (i, cam) in cameras.iter_mut() {
            let p = format!("cameras[{i}]");
            if !valid_id(&cam.id) {
                err(
                    format!("{p}.id"),
                    format!("`{}` must be 1 to 64 letters, digits, `-` or `_`", cam.id),
                );
            } else if !ids.insert(cam.id.clone()) {
                err(
                    format!("{p}.id"),
                    format!("`{}` is used by another camera", cam.id),
                );
            }
            if cam.name.is_empty() {
                cam.name = cam.id.clone();
            }
            match Source::parse(&cam.source, &self.base_dir) {
                Ok(src) => {
                    if cam.r#loop && !matches!(src, Source::File { .. }) {
                        err(format!("{p}.loop"), "only a file source can loop".into());
                    }
                    if let Source::File { path } = &src {
                        if !path.is_file() {
                            err(
                                format!("{p}.source"),
                                format!("file {} does not exist", path.display()),
                            );
                        }
                    }
                    cam.parsed_source = Some(src);
                }
                Err(m) => err(format!("{p}.source"), m),
            }
            if !(cam.detect_fps >= 0.0 && cam.detect_fps <= 120.0) {
                err(
                    format!("{p}.detect_fps"),
                    format!(
                        "{} is out of range 0..=120 (0 = every frame)",
                        cam.detect_fps
                    ),
                );
            }
            if !(1..=256).contains(&cam.queue_capacity) {
                err(
                    format!("{p}.queue_capacity"),
                    format!("{} is out of range 1..=256", cam.queue_capacity),
                );
            }
            if cam.max_frame_age_ms > 600_000 {
                err(
                    format!("{p}.max_frame_age_ms"),
                    format!(
                        "{} is out of range 0..=600000 (0 = no limit)",
                        cam.max_frame_age_ms
                    ),
                );
            }
            for (field, message) in cam.motion.check(cam.detect_fps) {
                err(format!("{p}.motion.{field}"), message);
            }
            let hc = &cam.health;
            for (name, v) in [
                ("offline_seconds", hc.offline_seconds),
                ("frozen_seconds", hc.frozen_seconds),
                ("obstructed_seconds", hc.obstructed_seconds),
            ] {
                if !(v == 0.0 || (0.5..=3600.0).contains(&v)) {
                    err(
                        format!("{p}.health.{name}"),
                        format!("{v} is out of range 0.5..=3600 (0 = check disabled)"),
                    );
                }
            }
            if !(hc.obstructed_ratio > 0.0 && hc.obstructed_ratio < 1.0) {
                err(
                    format!("{p}.health.obstructed_ratio"),
                    format!("{} must be between 0 and 1", hc.obstructed_ratio),
                );
            }
            if !(cam.stall_seconds >= 1.0 && cam.stall_seconds <= 3600.0) {
                err(
                    format!("{p}.stall_seconds"),
                    format!("{} is out of range 1..=3600", cam.stall_seconds),
                );
            }
            if !(cam.reconnect_max_seconds >= 1.0 && cam.reconnect_max_seconds <= 3600.0) {
                err(
                    format!("{p}.reconnect_max_seconds"),
                    format!("{} is out of range 1..=3600", cam.reconnect_max_seconds),
                );
            }
            if cam.decode_threads > 64 {
                err(
                    format!("{p}.decode_threads"),
                    format!(
                        "{} is out of range 0..=64 (0 = one per core)",
                        cam.decode_threads
                    ),
                );
            }
            if cam.rtsp_latency_ms > 10_000 {
                err(
                    format!("{p}.rtsp_latency_ms"),
                    format!("{} is out of range 0..=10000", cam.rtsp_latency_ms),
                );
            }
            let mut zone_ids = HashSet::new();
            for (j, z) in cam.zones.iter().enumerate() {
                let zp = format!("{p}.zones[{j}]");
                if !valid_id(&z.id) {
                    err(format!("{zp}.id"), format!("`{}` is not a valid id", z.id));
                } else if !zone_ids.insert(z.id.clone()) {
                    err(
                        format!("{zp}.id"),
                        format!("`{}` is used by another zone of this camera", z.id),
                    );
                }
                if z.points.len() < 3 {
                    err(
                        format!("{zp}.points"),
                        format!("a polygon needs at least 3 points, got {}", z.points.len()),
                    );
                }
                for (k, pt) in z.points.iter().enumerate() {
                    if !pt.iter().all(|v| (0.0..=1.0).contains(v)) {
                        err(
                            format!("{zp}.points[{k}]"),
                            format!(
                                "[{}, {}] is outside the image: coordinates are normalised to 0..1",
                                pt[0], pt[1]
                            ),
                        );
                    }
                }
            }
            let mut rule_ids = HashSet::new();
            for (j, r) in cam.rules.iter().enumerate() {
                let rp = format!("{p}.rules[{j}]");
                if !valid_id(&r.id) {
                    err(format!("{rp}.id"), format!("`{}` is not a valid id", r.id));
                } else if !rule_ids.insert(r.id.clone()) {
                    err(
                        format!("{rp}.id"),
                        format!("`{}` is used by another rule of this camera", r.id),
                    );
                }
                if !cam.zones.iter().any(|z| z.id == r.zone) {
                    err(
                        format!("{rp}.zone"),
                        format!("no zone `{}` on camera `{}`", r.zone, cam.id),
                    );
                }
                if r.classes.is_empty() {
                    err(format!("{rp}.classes"), "name at least one class".into());
                }
                if !self.labels.is_empty() {
                    for (k, c) in r.classes.iter().enumerate() {
                        if !self.labels.iter().any(|l| l == c) {
                            err(
                                format!("{rp}.classes[{k}]"),
                                format!("`{c}` is not a class of model `{}`", self.detector.model),
                            );
                        }
                    }
                }
                if !(r.min_seconds >= 0.0 && r.min_seconds <= 3600.0) {
                    err(
                        format!("{rp}.min_seconds"),
                        format!("{} is out of range 0..=3600", r.min_seconds),
                    );
                }
                if !(r.cooldown_seconds >= 0.0 && r.cooldown_seconds <= 86400.0) {
                    err(
                        format!("{rp}.cooldown_seconds"),
                        format!("{} is out of range 0..=86400", r.cooldown_seconds),
                    );
                }
                if !(r.min_score > 0.0 && r.min_score < 1.0) {
                    err(
                        format!("{rp}.min_score"),
                        format!("{} must be between 0 and 1", r.min_score),
                    );
                }
            }
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

/// Removes an array of tables from `table[key]` so it can be read item by item.
fn take_array(
    value: &mut toml::Value,
    key: &str,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<toml::Value> {
    let Some(table) = value.as_table_mut() else {
        return Vec::new();
    };
    match table.remove(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                if item.is_table() {
                    out.push(item);
                } else {
                    errors.push(ConfigError {
                        path: format!("{}[{i}]", join_path(prefix, key)),
                        message: format!("expected a table, found a {}", item.type_str()),
                    });
                }
            }
            out
        }
        Some(other) => {
            errors.push(ConfigError {
                path: join_path(prefix, key),
                message: format!(
                    "expected an array of tables ([[{key}]]), found a {}",
                    other.type_str()
                ),
            });
            Vec::new()
        }
    }
}

/// Deserialises one section, collecting **every** unknown key (each one is removed and the
/// section read again) and the first type error, each with its full path. Unknown keys alone do
/// not stop the section from being read, so its values are still checked.
fn section<T: DeserializeOwned>(
    mut value: toml::Value,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) => return Some(t),
            Err(e) => {
                let inner = e.inner().to_string();
                let at = e.path().to_string();
                let at = if at == "." { String::new() } else { at };
                if let Some(key) = unknown_field(&inner) {
                    // The path ends with the unknown key itself.
                    errors.push(ConfigError {
                        path: join_path(prefix, &at),
                        message: format!("unknown key `{key}`{}", expected_suffix(&inner)),
                    });
                    if remove_at(&mut value, e.path(), &key) {
                        continue;
                    }
                } else {
                    errors.push(ConfigError {
                        path: join_path(prefix, &at),
                        message: clean_message(&inner),
                    });
                }
                return None;
            }
        }
    }
    None
}

fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

fn expected_suffix(msg: &str) -> String {
    match msg.find("expected") {
        Some(i) => format!(" ({})", msg[i..].trim_end_matches('\n')),
        None => String::new(),
    }
}

fn clean_message(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).trim().to_string()
}

/// Removes `key` from the table that holds it; `path` ends with the key itself.
fn remove_at(value: &mut toml::Value, path: &serde_path_to_error::Path, key: &str) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let parents = match segments.last() {
        Some(Segment::Map { key: last }) if last == key => &segments[..segments.len() - 1],
        _ => &segments[..],
    };
    let mut cur = value;
    for seg in parents {
        cur = match seg {
            Segment::Map { key } => match cur.get_mut(key.as_str()) {
                Some(v) => v,
                None => return false,
            },
            Segment::Seq { index } => match cur.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    cur.as_table_mut()
        .map(|t| t.remove(key).is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
