//! The model manifest (`models/models.toml`): which model files the project ships, their
//! SHA-256, provenance, tensor formats and labels.
//!
//! This module does not touch ONNX Runtime: configuration validation loads the manifest and
//! resolves label names with [`ModelSpec::class_id`] without loading any native library.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::DetectError;

/// The whole manifest: a list of `[[model]]` tables.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    /// The file the manifest was read from (empty for [`Manifest::parse`] without a path).
    #[serde(skip)]
    pub path: PathBuf,
}

/// One model of the manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name used by the configuration, e.g. `nanodet-m-416`.
    pub name: String,
    /// What the model outputs: boxes with `labels` (default) or poses with `keypoints`.
    #[serde(default)]
    pub kind: ModelKind,
    /// What the model may be used for (manifest key `use`). Defaults to `["object_detection"]`
    /// for a detector; required for other kinds. A biometric use refuses the whole manifest.
    #[serde(default, rename = "use")]
    pub uses: Vec<ModelUse>,
    /// File name, relative to the model directory (the manifest's directory).
    pub file: String,
    /// Lower-case hex SHA-256 of the file; a file with another hash is refused.
    pub sha256: String,
    /// Licence of the weights (SPDX identifier where possible).
    pub licence: String,
    /// Where the weights come from.
    pub upstream: String,
    /// How the file was produced (conversion notes).
    pub provenance: String,
    /// Class labels in the model's output order; the index is the class id (detectors).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Keypoint names in the model's output order (pose models: the 17 COCO keypoints).
    #[serde(default)]
    pub keypoints: Vec<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
}

/// The model's single input tensor and the pre-processing it expects.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// `[1, 3, height, width]` for NCHW, `[1, height, width, 3]` for NHWC.
    pub shape: [u32; 4],
    pub layout: Layout,
    pub channel_order: ChannelOrder,
    /// Element type of the input tensor (default `float32`).
    #[serde(default)]
    pub dtype: InputType,
    /// Per-channel mean, in `channel_order`: `x = (pixel - mean) / std` (float inputs; an
    /// `int32` input takes raw 0..255 pixels and must leave the defaults 0 and 1).
    #[serde(default)]
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in `channel_order`.
    #[serde(default = "unit_std")]
    pub std: [f32; 3],
    pub resize: ResizeMode,
    /// The graph's input height and width are symbolic: it accepts other sizes than `shape`
    /// (`[detector] input`). `shape` stays the default size. Detectors only.
    #[serde(default)]
    pub dynamic_size: Option<DynamicSize>,
}

/// Which input sizes a model with symbolic height and width accepts (manifest
/// `dynamic_size = { multiple = 32 }`): both sides multiples of `multiple` (itself a multiple of
/// every output stride) within [`DynamicSize::MIN`]..=[`DynamicSize::MAX`] pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicSize {
    pub multiple: u32,
}

impl DynamicSize {
    /// Smallest side accepted (below it NanoDet's stride-32 grid has fewer than 4 cells).
    pub const MIN: u32 = 128;
    /// Largest side accepted (3x the trained size: beyond it people are far from trained scales
    /// and the CPU cost explodes).
    pub const MAX: u32 = 1280;
}

fn unit_std() -> [f32; 3] {
    [1.0; 3]
}

/// Tensor layout of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

/// Channel order of the input planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ChannelOrder {
    #[serde(rename = "BGR")]
    Bgr,
    #[serde(rename = "RGB")]
    Rgb,
}

/// Element type of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    Float32,
    /// Raw pixel values 0..255 as 32-bit integers.
    Int32,
}

/// What a model outputs, and so which part of the engine may load it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Boxes with class labels (`[detector] model`, `Detector`).
    #[default]
    Detector,
    /// People's keypoints (`PoseEstimator`).
    Pose,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Detector => "detector",
            ModelKind::Pose => "pose",
        })
    }
}

/// A declared use of a model (manifest key `use`). The biometric uses are listed so that a
/// manifest declaring one is refused with a clear reason rather than an "unknown value": the
/// project must never run biometric models (décret 2023-828).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelUse {
    /// People, vehicles and objects (the decree's event types that need boxes).
    ObjectDetection,
    /// Body posture from keypoints (a person on the ground after a fall).
    Posture,
    /// Fire or smoke (a city-supplied model).
    Fire,
    /// Weapons (a city-supplied model).
    Weapon,
    // Biometric uses: always refused.
    Face,
    FaceDetection,
    FaceRecognition,
    FaceLandmarks,
    #[serde(alias = "re_identification", alias = "reid")]
    Reidentification,
    Iris,
    Age,
    Gender,
    Emotion,
    Gait,
    Biometric,
}

impl ModelUse {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelUse::ObjectDetection => "object_detection",
            ModelUse::Posture => "posture",
            ModelUse::Fire => "fire",
            ModelUse::Weapon => "weapon",
            ModelUse::Face => "face",
            ModelUse::FaceDetection => "face_detection",
            ModelUse::FaceRecognition => "face_recognition",
            ModelUse::FaceLandmarks => "face_landmarks",
            ModelUse::Reidentification => "reidentification",
            ModelUse::Iris => "iris",
            ModelUse::Age => "age",
            ModelUse::Gender => "gender",
            ModelUse::Emotion => "emotion",
            ModelUse::Gait => "gait",
            ModelUse::Biometric => "biometric",
        }
    }

    /// Whether this use identifies, characterises or re-identifies people by their body.
    pub fn is_biometric(self) -> bool {
        !matches!(
            self,
            ModelUse::ObjectDetection | ModelUse::Posture | ModelUse::Fire | ModelUse::Weapon
        )
    }

    /// Whether a model of `kind` may declare this use.
    fn fits(self, kind: ModelKind) -> bool {
        match kind {
            ModelKind::Detector => matches!(
                self,
                ModelUse::ObjectDetection | ModelUse::Fire | ModelUse::Weapon
            ),
            ModelKind::Pose => self == ModelUse::Posture,
        }
    }
}

/// How a frame is brought to the input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// The whole frame is resized to the input size (aspect ratio not kept, no letterbox), so
    /// normalised coordinates in the input are normalised coordinates in the frame.
    Stretch,
}

/// The model's output tensors and how to decode them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub format: OutputFormat,
    /// Feature-map strides, in input pixels (detectors).
    #[serde(default)]
    pub strides: Vec<u32>,
    /// Distribution bins per box side (NanoDet `reg_max + 1`).
    #[serde(default)]
    pub bins_per_side: u32,
    /// Most people one inference reports (pose models).
    #[serde(default)]
    pub max_people: u32,
}

/// Output decoding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// NanoDet: per stride a class tensor `[1, N, classes]` (sigmoid applied) and a box tensor
    /// `[1, N, 4 * bins]` (distribution over distances, softmax not applied).
    Nanodet,
    /// MoveNet MultiPose: one tensor `[1, max_people, 3 * keypoints + 5]`: per person the
    /// keypoints as (y, x, score), then (ymin, xmin, ymax, xmax, score), normalised to the input.
    #[serde(rename = "movenet_multipose")]
    MovenetMultipose,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, DetectError> {
        let text = std::fs::read_to_string(path).map_err(|source| DetectError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    /// Parses and validates manifest text; `origin` is only used in error messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Manifest, DetectError> {
        let mut manifest: Manifest =
            toml::from_str(text).map_err(|e| DetectError::ManifestParse {
                path: origin.to_path_buf(),
                message: e.to_string(),
            })?;
        manifest.path = origin.to_path_buf();
        for m in &mut manifest.models {
            if m.uses.is_empty() && m.kind == ModelKind::Detector {
                m.uses.push(ModelUse::ObjectDetection);
            }
        }
        manifest.validate()?;
        Ok(manifest)
    }

    /// The model called `name`, if the manifest lists it.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Like [`Manifest::model`], with an error naming the manifest and the models it lists.
    pub fn require_model(&self, name: &str) -> Result<&ModelSpec, DetectError> {
        self.model(name).ok_or_else(|| DetectError::UnknownModel {
            name: name.to_string(),
            path: self.path.clone(),
            available: self
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Like [`Manifest::require_model`], and the model must be of `kind` (a pose model given as
    /// `[detector] model`, or a detector given to the pose estimator, is refused).
    pub fn require_kind(&self, name: &str, kind: ModelKind) -> Result<&ModelSpec, DetectError> {
        let spec = self.require_model(name)?;
        if spec.kind != kind {
            return Err(DetectError::WrongKind {
                path: self.path.clone(),
                model: name.to_string(),
                kind: spec.kind,
                expected: kind,
            });
        }
        Ok(spec)
    }

    /// The directory model files are relative to: the manifest's own directory.
    pub fn model_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn validate(&self) -> Result<(), DetectError> {
        let path = &self.path;
        let invalid =
            |model: &str, field: &'static str, message: String| DetectError::ManifestInvalid {
                path: path.clone(),
                model: model.to_string(),
                field,
                message,
            };
        if self.models.is_empty() {
            return Err(DetectError::ManifestParse {
                path: path.clone(),
                message: "no [[model]] entry".to_string(),
            });
        }
        let mut names = HashSet::new();
        for m in &self.models {
            let n = m.name.as_str();
            if n.trim().is_empty() {
                return Err(invalid(n, "name", "empty".into()));
            }
            if !names.insert(n) {
                return Err(invalid(n, "name", "listed twice".into()));
            }
            let file = Path::new(&m.file);
            if m.file.is_empty() || !file.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(invalid(
                    n,
                    "file",
                    format!(
                        "`{}` must be a relative path inside the model directory",
                        m.file
                    ),
                ));
            }
            if m.sha256.len() != 64
                || !m
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(invalid(
                    n,
                    "sha256",
                    format!("`{}` is not 64 lower-case hex digits", m.sha256),
                ));
            }
            for (field, value) in [
                ("licence", &m.licence),
                ("upstream", &m.upstream),
                ("provenance", &m.provenance),
            ] {
                if value.trim().is_empty() {
                    return Err(invalid(n, field, "empty".into()));
                }
            }
            self.validate_uses(m)?;
            if m.kind == ModelKind::Pose {
                validate_pose(m).map_err(|(field, message)| invalid(n, field, message))?;
                continue;
            }
            detector_input_format(&m.input)
                .map_err(|(field, message)| invalid(n, field, message))?;
            if m.output.format != OutputFormat::Nanodet {
                return Err(invalid(
                    n,
                    "output.format",
                    "a detector's output format must be `nanodet`".into(),
                ));
            }
            if m.labels.is_empty() || m.labels.len() > usize::from(u16::MAX) {
                return Err(invalid(
                    n,
                    "labels",
                    format!("{} labels (need 1 to {})", m.labels.len(), u16::MAX),
                ));
            }
            let mut seen = HashSet::new();
            for label in &m.labels {
                if label.trim().is_empty() {
                    return Err(invalid(n, "labels", "empty label".into()));
                }
                if !seen.insert(label.as_str()) {
                    return Err(invalid(n, "labels", format!("`{label}` listed twice")));
                }
            }
            let [batch, channels, h, w] = m.input.shape;
            if batch != 1 || channels != 3 || h == 0 || w == 0 || h > 8192 || w > 8192 {
                return Err(invalid(
                    n,
                    "input.shape",
                    format!(
                        "{:?} is not [1, 3, height, width] with a plausible size",
                        m.input.shape
                    ),
                ));
            }
            if m.input.name.is_empty() {
                return Err(invalid(n, "input.name", "empty".into()));
            }
            if m.input.mean.iter().any(|v| !v.is_finite()) {
                return Err(invalid(n, "input.mean", "not finite".into()));
            }
            if m.input.std.iter().any(|v| !v.is_finite() || *v <= 0.0) {
                return Err(invalid(n, "input.std", "must be finite and > 0".into()));
            }
            if m.output.strides.is_empty() {
                return Err(invalid(n, "output.strides", "empty".into()));
            }
            for &s in &m.output.strides {
                if s == 0 || !h.is_multiple_of(s) || !w.is_multiple_of(s) {
                    return Err(invalid(
                        n,
                        "output.strides",
                        format!("stride {s} does not divide the input size {w}x{h}"),
                    ));
                }
            }
            if let Some(d) = m.input.dynamic_size {
                let fits = |s: &u32| d.multiple.is_multiple_of(*s);
                if d.multiple == 0 || !m.output.strides.iter().all(fits) {
                    return Err(invalid(
                        n,
                        "input.dynamic_size.multiple",
                        format!("{} is not a multiple of every output stride", d.multiple),
                    ));
                }
            }
            if m.output.bins_per_side < 2 {
                return Err(invalid(n, "output.bins_per_side", "must be >= 2".into()));
            }
            if m.labels.len() == 4 * m.output.bins_per_side as usize {
                // Outputs are matched by shape: class and box tensors must differ in width.
                return Err(invalid(
                    n,
                    "labels",
                    "as many labels as 4 * bins_per_side: class and box outputs would be \
                     indistinguishable"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

impl Manifest {
    /// Refuses biometric uses (with the reason) and uses that do not fit the model's kind.
    fn validate_uses(&self, m: &ModelSpec) -> Result<(), DetectError> {
        if let Some(&biometric) = m.uses.iter().find(|u| u.is_biometric()) {
            return Err(DetectError::BiometricModel {
                path: self.path.clone(),
                model: m.name.clone(),
                declared: biometric.as_str().to_string(),
            });
        }
        let invalid = |message: String| DetectError::ManifestInvalid {
            path: self.path.clone(),
            model: m.name.clone(),
            field: "use",
            message,
        };
        if m.uses.is_empty() {
            return Err(invalid(format!(
                "required for a {} model (e.g. use = [\"posture\"])",
                m.kind
            )));
        }
        if let Some(u) = m.uses.iter().find(|u| !u.fits(m.kind)) {
            return Err(invalid(format!(
                "`{}` is not a use of a {} model",
                u.as_str(),
                m.kind
            )));
        }
        Ok(())
    }
}

/// The 17 COCO keypoints, in the order pose models output them.
pub const COCO_KEYPOINTS: [&str; 17] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
];

/// A detector's input must be NCHW, BGR, float32 (what [`crate::detect::preprocess_bgr`] makes).
fn detector_input_format(i: &InputSpec) -> Result<(), (&'static str, String)> {
    if i.layout != Layout::Nchw {
        return Err(("input.layout", "`NHWC`: a detector input is NCHW".into()));
    }
    if i.channel_order != ChannelOrder::Bgr {
        return Err((
            "input.channel_order",
            "`RGB`: a detector input is BGR".into(),
        ));
    }
    if i.dtype != InputType::Float32 {
        return Err(("input.dtype", "`int32`: a detector input is float32".into()));
    }
    Ok(())
}

/// Checks a pose model's entry; the error is `(field, message)`.
fn validate_pose(m: &ModelSpec) -> Result<(), (&'static str, String)> {
    if m.keypoints != COCO_KEYPOINTS {
        return Err((
            "keypoints",
            format!("must be the 17 COCO keypoints in order: {COCO_KEYPOINTS:?}"),
        ));
    }
    if !m.labels.is_empty() {
        return Err(("labels", "a pose model has keypoints, not labels".into()));
    }
    let i = &m.input;
    if i.dynamic_size.is_some() {
        return Err((
            "input.dynamic_size",
            "detectors only (pose sizes are `frame_input`/`crop_input`)".into(),
        ));
    }
    if (i.layout, i.channel_order, i.dtype) != (Layout::Nhwc, ChannelOrder::Rgb, InputType::Int32) {
        return Err((
            "input",
            "a pose model input must be layout = \"NHWC\", channel_order = \"RGB\", \
             dtype = \"int32\""
                .into(),
        ));
    }
    if i.mean != [0.0; 3] || i.std != [1.0; 3] {
        return Err((
            "input.mean",
            "an int32 input takes raw pixels: no mean/std".into(),
        ));
    }
    let [batch, h, w, channels] = i.shape;
    if batch != 1
        || channels != 3
        || h == 0
        || w == 0
        || !h.is_multiple_of(32)
        || !w.is_multiple_of(32)
        || h > 2048
        || w > 2048
    {
        return Err((
            "input.shape",
            format!(
                "{:?} is not [1, height, width, 3] with sides multiples of 32",
                i.shape
            ),
        ));
    }
    if i.name.is_empty() {
        return Err(("input.name", "empty".into()));
    }
    if m.output.format != OutputFormat::MovenetMultipose {
        return Err((
            "output.format",
            "a pose model's output format must be `movenet_multipose`".into(),
        ));
    }
    if !(1..=64).contains(&m.output.max_people) {
        return Err((
            "output.max_people",
            format!("{} is not in 1..=64", m.output.max_people),
        ));
    }
    Ok(())
}

impl ModelSpec {
    /// The class id of `label` (exact, case-sensitive match), if the model has it.
    pub fn class_id(&self, label: &str) -> Option<u16> {
        self.labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// The label of a class id.
    pub fn label(&self, class_id: u16) -> Option<&str> {
        self.labels.get(usize::from(class_id)).map(String::as_str)
    }

    /// Whether this model can run at `width x height`: its own size, or any size its
    /// `input.dynamic_size` allows. The error says why not.
    pub fn check_input_size(&self, width: u32, height: u32) -> Result<(), String> {
        if (width, height) == self.input_size() {
            return Ok(());
        }
        let Some(d) = self.input.dynamic_size else {
            let (w, h) = self.input_size();
            return Err(format!(
                "{width}x{height}: model `{}` has a fixed {w}x{h} input (its manifest declares no \
                 `input.dynamic_size`)",
                self.name
            ));
        };
        let range = DynamicSize::MIN..=DynamicSize::MAX;
        if !range.contains(&width) || !range.contains(&height) {
            return Err(format!(
                "{width}x{height}: each side must be in {}..={}",
                DynamicSize::MIN,
                DynamicSize::MAX
            ));
        }
        if !width.is_multiple_of(d.multiple) || !height.is_multiple_of(d.multiple) {
            return Err(format!(
                "{width}x{height}: both sides must be multiples of {} (model `{}`)",
                d.multiple, self.name
            ));
        }
        Ok(())
    }

    /// Input size `(width, height)` in pixels.
    pub fn input_size(&self) -> (u32, u32) {
        match self.input.layout {
            Layout::Nchw => (self.input.shape[3], self.input.shape[2]),
            Layout::Nhwc => (self.input.shape[2], self.input.shape[1]),
        }
    }

    /// Path of the model file inside `model_dir`.
    pub fn file_path(&self, model_dir: &Path) -> PathBuf {
        model_dir.join(&self.file)
    }
}

/// Lower-case hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn open_model(model_dir: &Path, spec: &ModelSpec) -> Result<(PathBuf, File), DetectError> {
    let path = spec.file_path(model_dir);
    match File::open(&path) {
        Ok(f) => Ok((path, f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DetectError::ModelFileMissing {
            path,
            model: spec.name.clone(),
        }),
        Err(source) => Err(DetectError::Io { path, source }),
    }
}

fn check_hash(path: &Path, spec: &ModelSpec, actual: String) -> Result<(), DetectError> {
    if actual == spec.sha256 {
        Ok(())
    } else {
        Err(DetectError::HashMismatch {
            path: path.to_path_buf(),
            model: spec.name.clone(),
            expected: spec.sha256.clone(),
            actual,
        })
    }
}

/// Checks that the model file exists and has the manifest's SHA-256; returns its path.
pub fn verify_file(model_dir: &Path, spec: &ModelSpec) -> Result<PathBuf, DetectError> {
    let (path, mut file) = open_model(model_dir, spec)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|source| DetectError::Io {
            path: path.clone(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    check_hash(&path, spec, hex(&hasher.finalize()))?;
    Ok(path)
}

/// Reads the model file and checks its SHA-256; returns the path and the verified bytes (so the
/// bytes given to ONNX Runtime are exactly the ones hashed).
pub(crate) fn read_verified(
    model_dir: &Path,
    spec: &ModelSpec,
) -> Result<(PathBuf, Vec<u8>), DetectError> {
    let (path, mut file) = open_model(model_dir, spec)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| DetectError::Io {
            path: path.clone(),
            source,
        })?;
    check_hash(&path, spec, sha256_hex(&bytes))?;
    Ok((path, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_manifest() -> Manifest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
        Manifest::load(&path).unwrap()
    }

    #[test]
    fn repo_manifest_loads_with_coco_labels() {
        let m = repo_manifest();
        let spec = m.model("nanodet-m-416").unwrap();
        assert_eq!(spec.labels.len(), 80);
        assert_eq!(spec.class_id("person"), Some(0));
        assert_eq!(spec.class_id("bicycle"), Some(1));
        assert_eq!(spec.class_id("car"), Some(2));
        assert_eq!(spec.class_id("motorcycle"), Some(3));
        assert_eq!(spec.class_id("bus"), Some(5));
        assert_eq!(spec.class_id("truck"), Some(7));
        assert_eq!(spec.class_id("backpack"), Some(24));
        assert_eq!(spec.class_id("umbrella"), Some(25));
        assert_eq!(spec.class_id("handbag"), Some(26));
        assert_eq!(spec.class_id("suitcase"), Some(28));
        assert_eq!(spec.class_id("knife"), Some(43));
        assert_eq!(spec.class_id("toothbrush"), Some(79));
        assert_eq!(spec.class_id("Person"), None);
        assert_eq!(spec.label(16), Some("dog"));
        assert_eq!(spec.input_size(), (416, 416));
        assert_eq!(spec.input.name, "input_1:0");
        assert_eq!(spec.output.strides, vec![8, 16, 32]);
        assert_eq!(spec.output.bins_per_side, 11);
        assert!(m.model("movenet").is_none());
        assert!(m.model("movenet-multipose").is_some());
        let err = m.require_model("nope").unwrap_err().to_string();
        assert!(
            err.contains("nanodet-m-416") && err.contains("models.toml"),
            "{err}"
        );
    }

    #[test]
    fn dynamic_input_sizes_are_declared_and_checked() {
        let m = repo_manifest();
        for name in ["nanodet-m-416", "nanodet-m-416-int8"] {
            let spec = m.model(name).unwrap();
            assert_eq!(spec.input.dynamic_size, Some(DynamicSize { multiple: 32 }));
            assert_eq!(
                spec.input_size(),
                (416, 416),
                "shape stays the default size"
            );
            for (w, h) in [(416, 416), (416, 288), (416, 224), (128, 1280)] {
                assert_eq!(spec.check_input_size(w, h), Ok(()), "{w}x{h}");
            }
            for (w, h, why) in [
                (400, 288, "multiples of 32"),
                (416, 300, "multiples of 32"),
                (96, 96, "128..=1280"),
                (1312, 416, "128..=1280"),
            ] {
                let err = spec.check_input_size(w, h).unwrap_err();
                assert!(err.contains(why), "{w}x{h}: {err}");
            }
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let fixed = Manifest::parse(
            &text.replace("dynamic_size = { multiple = 32 }", ""),
            Path::new("m.toml"),
        )
        .unwrap();
        let spec = fixed.model("nanodet-m-416").unwrap();
        assert_eq!(spec.check_input_size(416, 416), Ok(()));
        let err = spec.check_input_size(416, 288).unwrap_err();
        assert!(err.contains("fixed 416x416 input"), "{err}");
        for multiple in ["16", "0", "48"] {
            let bad = text.replace(
                "dynamic_size = { multiple = 32 }",
                &format!("dynamic_size = {{ multiple = {multiple} }}"),
            );
            let err = Manifest::parse(&bad, Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("input.dynamic_size.multiple"), "{err}");
        }
        let pose = text.replace(
            "shape = [1, 256, 256, 3]",
            "shape = [1, 256, 256, 3]\ndynamic_size = { multiple = 32 }",
        );
        let err = Manifest::parse(&pose, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("input.dynamic_size"), "{err}");
    }

    #[test]
    fn unknown_field_is_refused_with_file_name() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let altered = text.replacen("licence =", "colour = \"red\"\nlicence =", 1);
        let err = Manifest::parse(&altered, Path::new("x/models.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/models.toml") && err.contains("colour"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let spec = repo_manifest().model("nanodet-m-416").unwrap().clone();
        let cases = [
            (text.replace(&spec.sha256, "abc"), "sha256"),
            (
                text.replace(
                    "file = \"nanodet-m-416.onnx\"",
                    "file = \"../nanodet-m-416.onnx\"",
                ),
                "file",
            ),
            (text.replace("\"BGR\"", "\"RGB\""), "RGB"),
            (text.replace("[8, 16, 32]", "[8, 16, 30]"), "output.strides"),
            (
                text.replace("\"person\",", "\"person\", \"person\","),
                "labels",
            ),
        ];
        for (altered, needle) in cases {
            assert_ne!(
                altered, text,
                "test case for {needle} did not alter the text"
            );
            let err = Manifest::parse(&altered, Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle) && err.contains("m.toml"), "{err}");
        }
    }

    #[test]
    fn verify_file_refuses_missing_and_altered_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = repo_manifest().model("nanodet-m-416").unwrap().clone();

        let err = verify_file(dir.path(), &spec).unwrap_err();
        assert!(matches!(err, DetectError::ModelFileMissing { .. }));
        let msg = err.to_string();
        assert!(msg.contains("nanodet-m-416.onnx"), "{msg}");

        std::fs::write(dir.path().join(&spec.file), b"not a model").unwrap();
        let err = verify_file(dir.path(), &spec).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DetectError::HashMismatch { .. }));
        assert!(msg.contains("nanodet-m-416.onnx"), "{msg}");
        assert!(msg.contains(&spec.sha256), "{msg}");
        assert!(msg.contains(&sha256_hex(b"not a model")), "{msg}");

        spec.sha256 = sha256_hex(b"not a model");
        assert_eq!(
            verify_file(dir.path(), &spec).unwrap(),
            dir.path().join(&spec.file)
        );
        let (_, bytes) = read_verified(dir.path(), &spec).unwrap();
        assert_eq!(bytes, b"not a model");
    }

    #[test]
    fn shipped_model_files_match_manifest() {
        let m = repo_manifest();
        let names: Vec<&str> = m.models.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["nanodet-m-416", "nanodet-m-416-int8", "movenet-multipose"]
        );
        for spec in &m.models {
            verify_file(&m.model_dir(), spec).unwrap();
        }
        // The int8 variant keeps the float model's interface.
        let (a, b) = (
            m.model("nanodet-m-416").unwrap(),
            m.model("nanodet-m-416-int8").unwrap(),
        );
        assert_eq!(
            (&a.labels, &a.input, &a.output, a.kind, &a.uses),
            (&b.labels, &b.input, &b.output, b.kind, &b.uses)
        );
    }

    fn repo_text() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/models.toml");
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn kinds_and_uses_are_read_and_default_to_a_detector() {
        let m = repo_manifest();
        let det = m.model("nanodet-m-416").unwrap();
        assert_eq!(
            (det.kind, det.uses.as_slice()),
            (ModelKind::Detector, &[ModelUse::ObjectDetection][..])
        );
        let pose = m.model("movenet-multipose").unwrap();
        assert_eq!(
            (pose.kind, pose.uses.as_slice()),
            (ModelKind::Pose, &[ModelUse::Posture][..])
        );
        assert_eq!(pose.keypoints, COCO_KEYPOINTS);
        assert_eq!(pose.input_size(), (256, 256));
        assert_eq!(pose.input.dtype, InputType::Int32);
        assert_eq!(pose.output.max_people, 6);
        assert!(pose.labels.is_empty());

        // The manifest as it was before kinds existed (no `kind`, no `use`) is still valid.
        let old = repo_text()
            .replace("kind = \"detector\"\n", "")
            .replace("use = [\"object_detection\"]\n", "");
        assert!(!old.contains("\"object_detection\"]"));
        let m = Manifest::parse(&old, Path::new("old.toml")).unwrap();
        let det = m.model("nanodet-m-416").unwrap();
        assert_eq!(
            (det.kind, det.uses.as_slice()),
            (ModelKind::Detector, &[ModelUse::ObjectDetection][..])
        );
    }

    #[test]
    fn a_biometric_use_refuses_the_manifest() {
        for declared in [
            "face_recognition",
            "reidentification",
            "reid",
            "age",
            "face",
            "emotion",
        ] {
            let text = repo_text().replace(
                "use = [\"posture\"]",
                &format!("use = [\"posture\", \"{declared}\"]"),
            );
            let err = Manifest::parse(&text, Path::new("m.toml")).unwrap_err();
            assert!(matches!(err, DetectError::BiometricModel { .. }), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains("m.toml")
                    && msg.contains("movenet-multipose")
                    && msg.contains("`use`")
                    && msg.contains("biometric")
                    && msg.contains("2023-828"),
                "{msg}"
            );
        }
        // An unknown use is a parse error that lists the known ones.
        let text = repo_text().replace("use = [\"posture\"]", "use = [\"dancing\"]");
        let msg = Manifest::parse(&text, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("dancing") && msg.contains("posture"), "{msg}");
    }

    #[test]
    fn pose_entries_are_checked_naming_the_field() {
        let text = repo_text();
        let cases = [
            (text.replace("use = [\"posture\"]\n", ""), "`use`"),
            (
                text.replace("use = [\"posture\"]", "use = [\"object_detection\"]"),
                "`use`",
            ),
            (
                text.replace("use = [\"object_detection\"]", "use = [\"posture\"]"),
                "`use`",
            ),
            (text.replace("\"right_hip\", ", ""), "keypoints"),
            (
                text.replace("shape = [1, 256, 256, 3]", "shape = [1, 250, 256, 3]"),
                "input.shape",
            ),
            (
                text.replace("dtype = \"int32\"", "dtype = \"float32\""),
                "`input`",
            ),
            (
                text.replace("max_people = 6", "max_people = 0"),
                "output.max_people",
            ),
            (
                text.replace("format = \"movenet_multipose\"", "format = \"nanodet\""),
                "output.format",
            ),
            (
                text.replacen("format = \"nanodet\"", "format = \"movenet_multipose\"", 1),
                "output.format",
            ),
            (
                text.replacen("layout = \"NCHW\"", "layout = \"NHWC\"", 1),
                "input.layout",
            ),
        ];
        for (altered, needle) in cases {
            assert_ne!(altered, text, "case {needle} did not alter the text");
            let err = Manifest::parse(&altered, Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("m.toml"),
                "{needle}: {err}"
            );
        }
    }

    #[test]
    fn require_kind_refuses_the_other_kind() {
        let m = repo_manifest();
        assert!(m.require_kind("movenet-multipose", ModelKind::Pose).is_ok());
        let err = m
            .require_kind("movenet-multipose", ModelKind::Detector)
            .unwrap_err();
        assert!(matches!(err, DetectError::WrongKind { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("`movenet-multipose` is a pose model")
                && msg.contains("not a detector model"),
            "{msg}"
        );
        let msg = m
            .require_kind("nanodet-m-416", ModelKind::Pose)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is a detector model"), "{msg}");
    }
}
