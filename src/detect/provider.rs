//! Execution providers: where ONNX Runtime runs the model. CPU always works; CUDA and TensorRT
//! need an ONNX Runtime library built with them (the PyPI `onnxruntime` wheel that
//! `deploy/setup.sh` installs is CPU-only) and a GPU. An unavailable provider falls back to the
//! CPU with one log line; the provider actually used is reported by the detector (and exported
//! by the engine as `vigie_detect_execution_provider{requested, used}`).

use std::sync::atomic::{AtomicBool, Ordering};

use ort::session::builder::SessionBuilder;
use serde::{Deserialize, Serialize};

/// `[detector] execution_provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    Tensorrt,
}

impl ExecutionProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::Tensorrt => "tensorrt",
        }
    }
}

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Logs the fall-back to CPU once per process (every detector worker would say the same).
pub(crate) fn log_fallback(wanted: ExecutionProvider, reason: &str) {
    if !FALLBACK_LOGGED.swap(true, Ordering::SeqCst) {
        tracing::warn!(
            requested = wanted.as_str(),
            used = "cpu",
            %reason,
            "execution provider `{}` unavailable, falling back to CPU",
            wanted.as_str()
        );
    }
}

fn append<E: ort::ep::ExecutionProvider>(
    builder: &mut SessionBuilder,
    ep: E,
) -> Result<(), String> {
    match E::is_available() {
        Ok(true) => ep.register(builder).map_err(|e| e.to_string()),
        Ok(false) => Err(format!(
            "this ONNX Runtime library has no {} (a CPU-only build)",
            E::NAME
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Registers `wanted` on the session builder; returns the provider the session will use, or the
/// reason it cannot (the caller then builds a CPU session).
pub(crate) fn register(
    builder: &mut SessionBuilder,
    wanted: ExecutionProvider,
) -> Result<ExecutionProvider, String> {
    match wanted {
        ExecutionProvider::Cpu => {}
        ExecutionProvider::Cuda => append(builder, ort::ep::CUDA::default())?,
        ExecutionProvider::Tensorrt => {
            append(builder, ort::ep::TensorRT::default())?;
            // Nodes TensorRT does not take run on CUDA rather than on the CPU, where possible.
            let _ = append(builder, ort::ep::CUDA::default());
        }
    }
    Ok(wanted)
}
