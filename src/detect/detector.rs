//! The ONNX Runtime side: loading the runtime library once per process, and a [`Detector`] that
//! owns one session and its input buffer (one detector per inference thread).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::TensorRef;

use super::manifest::read_verified;
use super::manifest::{ModelKind, ModelSpec};
use super::postprocess::{decode_nanodet_with, nms_per_class, NanodetParams, OutputTensor};
use super::preprocess::preprocess_bgr;
use super::provider::{self, ExecutionProvider};
use super::{DetectError, Detection, Manifest, RawDetection};

/// The loaded runtime: the library it came from and the process-wide environment.
struct Runtime {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

fn requested_path(dylib: Option<&Path>) -> Result<PathBuf, DetectError> {
    match dylib {
        Some(p) => Ok(p.to_path_buf()),
        None => match std::env::var_os("ORT_DYLIB_PATH") {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => Err(DetectError::RuntimeNotConfigured),
        },
    }
}

/// The library to load: `dylib`, else `ORT_DYLIB_PATH`; it must be an existing file (`ort`
/// panics rather than erroring on some load failures, so this is checked first).
fn resolve_dylib(dylib: Option<&Path>) -> Result<PathBuf, DetectError> {
    let path = requested_path(dylib)?;
    if !path.is_file() {
        return Err(DetectError::RuntimeMissing { path });
    }
    Ok(path)
}

fn already_loaded(rt: &Runtime, dylib: Option<&Path>) -> Result<PathBuf, DetectError> {
    match dylib {
        Some(p) if p != rt.path => Err(DetectError::RuntimeAlreadyLoaded {
            loaded: rt.path.clone(),
            requested: p.to_path_buf(),
        }),
        _ => Ok(rt.path.clone()),
    }
}

fn build_environment(path: &Path) -> Result<Environment, String> {
    let builder = ort::init_from(path).map_err(|e| e.to_string())?;
    builder
        .with_name("vigie")
        .build()
        .map_err(|e| e.to_string())
}

/// Loads the ONNX Runtime shared library and creates the process-wide environment. Uses `dylib`
/// if given, else the `ORT_DYLIB_PATH` environment variable; returns the library path in use.
///
/// Idempotent: later calls return the path loaded first (a different explicit path is an error,
/// since a process can load the runtime only once). [`Detector::load`] calls it with `None` if
/// nothing has been loaded yet.
pub fn init_runtime(dylib: Option<&Path>) -> Result<PathBuf, DetectError> {
    if let Some(rt) = RUNTIME.get() {
        return already_loaded(rt, dylib);
    }
    let _guard = RUNTIME_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return already_loaded(rt, dylib);
    }
    let path = resolve_dylib(dylib)?;
    let env = build_environment(&path).map_err(|message| DetectError::RuntimeLoad {
        path: path.clone(),
        message,
    })?;
    let rt = RUNTIME.get_or_init(|| Runtime { path, env });
    Ok(rt.path.clone())
}

fn runtime() -> Result<&'static Runtime, DetectError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    init_runtime(None)?;
    RUNTIME.get().ok_or(DetectError::RuntimeNotConfigured)
}

/// Raw model outputs: `(shape, data)` per output, in the model's output order.
pub type RawOutputs = Vec<(Vec<usize>, Vec<f32>)>;

/// Inference options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorOptions {
    /// ONNX Runtime intra-op threads for this detector's session.
    pub intra_threads: usize,
    /// Minimum class probability of a detection.
    pub score_threshold: f32,
    /// Per-class NMS: a box overlapping a better box of its class by IoU > this is dropped.
    pub nms_iou: f32,
    /// Let ONNX Runtime's intra-op threads spin while waiting for work. Off by default: the
    /// cores are shared with the decoders, and spinning threads take CPU time from them.
    pub spinning: bool,
    /// Where to run the model; an unavailable provider falls back to the CPU.
    pub execution_provider: ExecutionProvider,
    /// Input `(width, height)` other than the model's `shape`; only for a model whose manifest
    /// declares `input.dynamic_size` (see [`ModelSpec::check_input_size`]). `None`: the shape.
    pub input_size: Option<(u32, u32)>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            intra_threads: 2,
            score_threshold: 0.3,
            nms_iou: 0.5,
            spinning: false,
            execution_provider: ExecutionProvider::Cpu,
            input_size: None,
        }
    }
}

impl DetectorOptions {
    fn validate(&self) -> Result<(), DetectError> {
        if self.intra_threads == 0 || self.intra_threads > 256 {
            return Err(DetectError::InvalidOption {
                field: "intra_threads",
                message: format!("{} is not in 1..=256", self.intra_threads),
            });
        }
        for (field, v) in [
            ("score_threshold", self.score_threshold),
            ("nms_iou", self.nms_iou),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(DetectError::InvalidOption {
                    field,
                    message: format!("{v} is not in 0..=1"),
                });
            }
        }
        Ok(())
    }
}

fn session_builder(env: &Environment, opts: &DetectorOptions) -> ort::Result<SessionBuilder> {
    Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_intra_threads(opts.intra_threads)?
        .with_intra_op_spinning(opts.spinning)
        .map_err(ort::Error::from)
}

/// A session on the requested execution provider, or on the CPU (one log line) when that
/// provider is unavailable or cannot take the model. Returns the provider used.
fn build_session(
    env: &Environment,
    model: &[u8],
    opts: &DetectorOptions,
) -> ort::Result<(Session, ExecutionProvider)> {
    let wanted = opts.execution_provider;
    if wanted != ExecutionProvider::Cpu {
        let mut builder = session_builder(env, opts)?;
        let reason = match provider::register(&mut builder, wanted) {
            Ok(used) => match builder.commit_from_memory(model) {
                Ok(session) => return Ok((session, used)),
                Err(e) => e.to_string(),
            },
            Err(reason) => reason,
        };
        provider::log_fallback(wanted, &reason);
    }
    let session = session_builder(env, opts)?.commit_from_memory(model)?;
    Ok((session, ExecutionProvider::Cpu))
}

/// What [`open_session`] returns: the manifest entry, the file path, the session and the
/// execution provider it runs on.
pub(super) type OpenedSession<'m> = (&'m ModelSpec, PathBuf, Session, ExecutionProvider);

/// Finds model `name` of `kind` in `manifest`, checks its file's SHA-256 (before ONNX Runtime
/// sees it) and builds a session with the options' threads, spinning and execution provider
/// (falling back to the CPU with one log line when the provider is unavailable).
pub(super) fn open_session<'m>(
    manifest: &'m Manifest,
    model_dir: &Path,
    name: &str,
    kind: ModelKind,
    opts: &DetectorOptions,
) -> Result<OpenedSession<'m>, DetectError> {
    let spec = manifest.require_kind(name, kind)?;
    let (path, bytes) = read_verified(model_dir, spec)?;
    let rt = runtime()?;
    let (session, provider) =
        build_session(&rt.env, &bytes, opts).map_err(|e| DetectError::Session {
            path: path.clone(),
            message: e.to_string(),
        })?;
    Ok((spec, path, session, provider))
}

/// An object detector: one ONNX Runtime session plus its reusable input buffer. `detect_*` take
/// `&mut self`; use one detector per inference thread.
pub struct Detector {
    session: Session,
    model_name: String,
    model_path: PathBuf,
    input_name: String,
    input_w: u32,
    input_h: u32,
    mean: [f32; 3],
    std: [f32; 3],
    labels: Vec<String>,
    decode: NanodetParams,
    opts: DetectorOptions,
    provider: ExecutionProvider,
    input: Vec<f32>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.model_name)
            .field("path", &self.model_path)
            .field("input", &(self.input_w, self.input_h))
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Loads model `model_name` of `manifest` from `model_dir`: checks the file's SHA-256 against
    /// the manifest (before ONNX Runtime is touched), builds a session with all graph
    /// optimisations and `opts.intra_threads` threads, and checks the model's input name and
    /// output count against the manifest. Initialises the runtime from `ORT_DYLIB_PATH` if
    /// [`init_runtime`] was not called.
    pub fn load(
        manifest: &Manifest,
        model_dir: &Path,
        model_name: &str,
        opts: DetectorOptions,
    ) -> Result<Detector, DetectError> {
        opts.validate()?;
        let (spec, path, session, provider) =
            open_session(manifest, model_dir, model_name, ModelKind::Detector, &opts)?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if inputs != [spec.input.name.as_str()] {
            return Err(DetectError::ModelMismatch {
                path,
                message: format!(
                    "inputs are {inputs:?}, manifest field `input.name` says [{:?}]",
                    spec.input.name
                ),
            });
        }
        let n_outputs = session.outputs().len();
        if n_outputs != 2 * spec.output.strides.len() {
            return Err(DetectError::ModelMismatch {
                path,
                message: format!(
                    "{n_outputs} outputs, manifest field `output.strides` implies {}",
                    2 * spec.output.strides.len()
                ),
            });
        }

        let (input_w, input_h) = opts.input_size.unwrap_or(spec.input_size());
        spec.check_input_size(input_w, input_h)
            .map_err(|message| DetectError::InvalidOption {
                field: "input_size",
                message,
            })?;
        let mut decode = NanodetParams::from_spec(spec);
        (decode.input_w, decode.input_h) = (input_w, input_h);
        Ok(Detector {
            session,
            model_name: spec.name.clone(),
            model_path: path,
            input_name: spec.input.name.clone(),
            input_w,
            input_h,
            mean: spec.input.mean,
            std: spec.input.std,
            labels: spec.labels.clone(),
            decode,
            opts,
            provider,
            input: vec![0.0; 3 * input_w as usize * input_h as usize],
        })
    }

    /// The execution provider the session actually runs on (CPU after a fall-back).
    pub fn execution_provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Class labels, indexed by `class_id`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Model input size `(width, height)`.
    pub fn input_size(&self) -> (u32, u32) {
        (self.input_w, self.input_h)
    }

    /// The model's manifest name.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The options this detector was loaded with.
    pub fn options(&self) -> &DetectorOptions {
        &self.opts
    }

    /// Detects objects in a packed BGR frame (`w * h * 3` bytes, stride `w * 3`). Boxes are
    /// normalised (0..1) frame coordinates: the frame is stretched to the input size, so
    /// normalised input coordinates are normalised frame coordinates. Sorted by decreasing score.
    pub fn detect_bgr(
        &mut self,
        bgr: &[u8],
        w: u32,
        h: u32,
    ) -> Result<Vec<Detection>, DetectError> {
        preprocess_bgr(
            bgr,
            w,
            h,
            self.input_w,
            self.input_h,
            self.mean,
            self.std,
            &mut self.input,
        )?;
        let raw = self.run_decode(None)?;
        Ok(raw
            .iter()
            .map(|d| d.to_detection(self.input_w, self.input_h))
            .collect())
    }

    /// Runs the model on an already pre-processed input tensor (NCHW float32, `3 * input_w *
    /// input_h` values); returns detections in input pixel coordinates after threshold and
    /// per-class NMS, sorted by decreasing score.
    pub fn detect_tensor(&mut self, input: &[f32]) -> Result<Vec<RawDetection>, DetectError> {
        self.run_decode(Some(input))
    }

    /// Runs the model and returns its raw outputs as `(shape, data)` in the model's output order,
    /// without decoding (for benchmarks and diagnostics).
    pub fn infer_raw(&mut self, input: &[f32]) -> Result<RawOutputs, DetectError> {
        let (model, session) = (&self.model_name, &mut self.session);
        let shape = [1usize, 3, self.input_h as usize, self.input_w as usize];
        check_input_len(input, &shape)?;
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| inference(model, e))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| inference(model, e))?;
        let mut raw = Vec::with_capacity(outputs.len());
        for i in 0..outputs.len() {
            let (shape, data) = extract(model, &outputs[i], i)?;
            raw.push((to_usize_shape(model, i, shape)?, data.to_vec()));
        }
        Ok(raw)
    }

    /// Runs on `input` (or on the detector's own buffer when `None`), decodes and applies NMS.
    fn run_decode(&mut self, input: Option<&[f32]>) -> Result<Vec<RawDetection>, DetectError> {
        let input = input.unwrap_or(&self.input);
        let model = &self.model_name;
        let shape = [1usize, 3, self.input_h as usize, self.input_w as usize];
        check_input_len(input, &shape)?;
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| inference(model, e))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| inference(model, e))?;
        let mut shapes = Vec::with_capacity(outputs.len());
        let mut datas = Vec::with_capacity(outputs.len());
        for i in 0..outputs.len() {
            let (shape, data) = extract(model, &outputs[i], i)?;
            shapes.push(to_usize_shape(model, i, shape)?);
            datas.push(data);
        }
        let views: Vec<OutputTensor<'_>> = shapes
            .iter()
            .zip(&datas)
            .map(|(shape, data)| OutputTensor { shape, data })
            .collect();
        let dets = decode_nanodet_with(&views, &self.decode, self.opts.score_threshold)?;
        Ok(nms_per_class(dets, self.opts.nms_iou))
    }

    /// The input tensor name (as in the manifest).
    pub fn input_name(&self) -> &str {
        &self.input_name
    }
}

pub(super) fn inference(model: &str, e: impl std::fmt::Display) -> DetectError {
    DetectError::Inference {
        model: model.to_string(),
        message: e.to_string(),
    }
}

fn check_input_len(input: &[f32], shape: &[usize; 4]) -> Result<(), DetectError> {
    let expected = shape.iter().product();
    if input.len() != expected {
        return Err(DetectError::BufferSize {
            what: "input tensor (3 * input_w * input_h floats)",
            expected,
            actual: input.len(),
        });
    }
    Ok(())
}

fn extract<'a>(
    model: &str,
    value: &'a ort::value::DynValue,
    index: usize,
) -> Result<(&'a [i64], &'a [f32]), DetectError> {
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference(model, format!("output #{index}: {e}")))?;
    Ok((shape, data))
}

pub(super) fn to_usize_shape(
    model: &str,
    index: usize,
    shape: &[i64],
) -> Result<Vec<usize>, DetectError> {
    shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            inference(
                model,
                format!("output #{index} has dynamic shape {shape:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dylib_is_named_with_setup_hint() {
        let err = resolve_dylib(Some(Path::new("/nonexistent/libonnxruntime.so.1.31.1")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/libonnxruntime.so.1.31.1")
                && err.contains("make setup")
                && err.contains(".deps/onnxruntime"),
            "{err}"
        );
        assert!(DetectError::RuntimeNotConfigured
            .to_string()
            .contains("ORT_DYLIB_PATH"));
    }

    /// Here ONNX Runtime is the CPU-only wheel: asking for CUDA or TensorRT must give a working
    /// CPU session with the same detections. (With a GPU build, the provider must be the one
    /// asked for, with the same detections.)
    #[test]
    fn unavailable_provider_falls_back_to_cpu_with_same_detections() {
        use ort::ep::ExecutionProvider as _;
        let dylib = std::env::var_os("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH (make setup)");
        init_runtime(Some(Path::new(&dylib))).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = Manifest::load(&root.join("models/models.toml")).unwrap();
        let bytes = std::fs::read(root.join("tests/data/person.nanodet-input.f32")).unwrap();
        let input: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let load = |ep| {
            let opts = DetectorOptions {
                execution_provider: ep,
                ..Default::default()
            };
            Detector::load(&manifest, &manifest.model_dir(), "nanodet-m-416", opts).unwrap()
        };
        let mut cpu = load(ExecutionProvider::Cpu);
        assert_eq!(cpu.execution_provider(), ExecutionProvider::Cpu);
        let expected = cpu.detect_tensor(&input).unwrap();
        assert!(!expected.is_empty());
        for (ep, available) in [
            (ExecutionProvider::Cuda, ort::ep::CUDA::is_available()),
            (
                ExecutionProvider::Tensorrt,
                ort::ep::TensorRT::is_available(),
            ),
        ] {
            let mut det = load(ep);
            let want = if available.unwrap_or(false) {
                ep
            } else {
                ExecutionProvider::Cpu
            };
            assert_eq!(det.execution_provider(), want, "{ep:?}");
            let got = det.detect_tensor(&input).unwrap();
            assert_eq!(got.len(), expected.len(), "{ep:?}");
            for (a, b) in got.iter().zip(&expected) {
                assert_eq!(a.class_id, b.class_id);
                assert!((a.score - b.score).abs() < 1e-3 && (a.x1 - b.x1).abs() < 0.5);
            }
        }
    }

    #[test]
    fn options_are_validated() {
        assert!(DetectorOptions::default().validate().is_ok());
        let bad = DetectorOptions {
            intra_threads: 0,
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("intra_threads"));
        let bad = DetectorOptions {
            nms_iou: 1.5,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("nms_iou"));
    }
}
