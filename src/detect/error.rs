//! The detection stage's error type. Every message names the file, field or buffer at fault.

use std::path::PathBuf;

/// Errors of the detection stage (manifest, model file, ONNX Runtime, buffers, decoding).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The manifest is not valid TOML or does not have the expected fields.
    #[error("model manifest {}: {message}", path.display())]
    ManifestParse { path: PathBuf, message: String },

    /// The manifest parsed but one of its fields holds an unusable value.
    #[error("model manifest {}: model `{model}`: field `{field}`: {message}", path.display())]
    ManifestInvalid {
        path: PathBuf,
        model: String,
        field: &'static str,
        message: String,
    },

    /// A model declares a biometric use: the whole manifest is refused.
    #[error(
        "model manifest {}: model `{model}`: field `use`: `{declared}` is a biometric use; \
         biometric models (face, re-identification, age, gender, emotion, ...) are refused \
         (décret 2023-828: no biometric identification, no face recognition, no \
         re-identification)",
        path.display()
    )]
    BiometricModel {
        path: PathBuf,
        model: String,
        declared: String,
    },

    /// A model of one kind was asked for as another (a pose model as `[detector] model`).
    #[error(
        "model `{model}` is a {kind} model (kind = \"{kind}\" in {}), not a {expected} model",
        path.display()
    )]
    WrongKind {
        path: PathBuf,
        model: String,
        kind: super::manifest::ModelKind,
        expected: super::manifest::ModelKind,
    },

    /// The requested model is not in the manifest.
    #[error("model `{name}` is not in the model manifest {} (it lists: {available})", path.display())]
    UnknownModel {
        name: String,
        path: PathBuf,
        available: String,
    },

    /// The model file named by the manifest does not exist.
    #[error(
        "model file {} (model `{model}`) does not exist; model files are part of the \
         repository (models/) and are never downloaded at run time",
        path.display()
    )]
    ModelFileMissing { path: PathBuf, model: String },

    /// The model file's SHA-256 differs from the manifest's.
    #[error(
        "model file {} (model `{model}`) has sha256 {actual}, but the manifest expects {expected}; \
         refusing to load an altered or different model",
        path.display()
    )]
    HashMismatch {
        path: PathBuf,
        model: String,
        expected: String,
        actual: String,
    },

    /// No ONNX Runtime library path was given and `ORT_DYLIB_PATH` is not set.
    #[error(
        "ONNX Runtime library not configured: pass its path or set ORT_DYLIB_PATH to \
         libonnxruntime.so (`make setup` installs it into .deps/onnxruntime)"
    )]
    RuntimeNotConfigured,

    /// The ONNX Runtime library file does not exist.
    #[error(
        "ONNX Runtime library {} does not exist (`make setup` installs it into .deps/onnxruntime)",
        path.display()
    )]
    RuntimeMissing { path: PathBuf },

    /// The ONNX Runtime library exists but could not be loaded or initialised.
    #[error("cannot initialise ONNX Runtime from {}: {message}", path.display())]
    RuntimeLoad { path: PathBuf, message: String },

    /// ONNX Runtime was already loaded from another library file in this process.
    #[error(
        "ONNX Runtime is already loaded from {} in this process; cannot switch to {}",
        loaded.display(),
        requested.display()
    )]
    RuntimeAlreadyLoaded { loaded: PathBuf, requested: PathBuf },

    /// ONNX Runtime refused to build a session for the model.
    #[error("cannot load model {} into ONNX Runtime: {message}", path.display())]
    Session { path: PathBuf, message: String },

    /// The model's inputs or outputs disagree with its manifest entry.
    #[error("model {} does not match its manifest: {message}", path.display())]
    ModelMismatch { path: PathBuf, message: String },

    /// Inference failed.
    #[error("inference with model `{model}` failed: {message}")]
    Inference { model: String, message: String },

    /// The detector options are out of range.
    #[error("detector option `{field}`: {message}")]
    InvalidOption {
        field: &'static str,
        message: String,
    },

    /// A buffer has the wrong size for the dimensions given with it.
    #[error("{what}: expected {expected} elements, got {actual}")]
    BufferSize {
        what: &'static str,
        expected: usize,
        actual: usize,
    },

    /// Image dimensions that cannot be processed (zero, or too large).
    #[error("{what}: invalid dimensions {width}x{height}")]
    Dimensions {
        what: &'static str,
        width: u32,
        height: u32,
    },

    /// An image file could not be decoded.
    #[error("cannot decode image {}: {message}", path.display())]
    ImageDecode { path: PathBuf, message: String },

    /// The model's output tensors do not have the layout the decoder expects.
    #[error("model output layout: {message}")]
    OutputLayout { message: String },
}
