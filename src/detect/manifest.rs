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
    /// Class labels in the model's output order; the index is the class id.
    pub labels: Vec<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
}

/// The model's single input tensor and the pre-processing it expects.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// `[1, 3, height, width]` for NCHW.
    pub shape: [u32; 4],
    pub layout: Layout,
    pub channel_order: ChannelOrder,
    /// Per-channel mean, in `channel_order`: `x = (pixel - mean) / std`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in `channel_order`.
    pub std: [f32; 3],
    pub resize: ResizeMode,
}

/// Tensor layout of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
}

/// Channel order of the input planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ChannelOrder {
    #[serde(rename = "BGR")]
    Bgr,
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
    /// Feature-map strides, in input pixels.
    pub strides: Vec<u32>,
    /// Distribution bins per box side (NanoDet `reg_max + 1`).
    pub bins_per_side: u32,
}

/// Output decoding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// NanoDet: per stride a class tensor `[1, N, classes]` (sigmoid applied) and a box tensor
    /// `[1, N, 4 * bins]` (distribution over distances, softmax not applied).
    Nanodet,
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

    /// Input size `(width, height)` in pixels.
    pub fn input_size(&self) -> (u32, u32) {
        (self.input.shape[3], self.input.shape[2])
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
        let err = m.require_model("nope").unwrap_err().to_string();
        assert!(
            err.contains("nanodet-m-416") && err.contains("models.toml"),
            "{err}"
        );
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
        assert_eq!(names, ["nanodet-m-416", "nanodet-m-416-int8"]);
        for spec in &m.models {
            verify_file(&m.model_dir(), spec).unwrap();
        }
        // The int8 variant keeps the float model's interface.
        let (a, b) = (&m.models[0], &m.models[1]);
        assert_eq!(
            (&a.labels, &a.input, &a.output),
            (&b.labels, &b.input, &b.output)
        );
    }
}
