//! Second detectors: a camera runs a detector other than its own (a city's fire model) only when
//! one of its rules names it ([`crate::rules::Needs::detectors`]), on the whole frame, at most at
//! the rule's rate. Like pose models, each worker thread loads its own sessions on first use; a
//! load error is logged once and that worker then runs without that model.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::detect::{DetectError, Detector, DetectorOptions, Manifest};
use crate::frames::Frame;
use crate::rules::{DetectorNeed, ModelOutput};

/// The lowest score a second detector reports; its rules filter higher (`model_min_score`).
const SCORE_FLOOR: f32 = 0.1;

/// Where the second detectors come from; shared by every worker.
pub(super) struct DetectorLoader {
    manifest: Result<Manifest, String>,
    model_dir: PathBuf,
}

impl DetectorLoader {
    pub fn new(manifest: Result<Manifest, DetectError>, model_dir: PathBuf) -> Self {
        DetectorLoader {
            manifest: manifest.map_err(|e| e.to_string()),
            model_dir,
        }
    }

    fn load(&self, model: &str) -> Result<Detector, String> {
        let manifest = self.manifest.as_ref().map_err(Clone::clone)?;
        let options = DetectorOptions {
            intra_threads: 1,
            score_threshold: SCORE_FLOOR,
            ..DetectorOptions::default()
        };
        Detector::load(manifest, &self.model_dir, model, options).map_err(|e| e.to_string())
    }
}

/// A loaded second detector and its labels.
type Loaded = (Detector, Arc<[String]>);

/// One worker's second detectors, by model name (`None`: it failed to load; not retried).
pub(super) struct SecondDetectors {
    loader: Arc<DetectorLoader>,
    models: HashMap<String, Option<Loaded>>,
}

impl SecondDetectors {
    pub fn new(loader: Arc<DetectorLoader>) -> Self {
        SecondDetectors {
            loader,
            models: HashMap::new(),
        }
    }

    /// `need`'s model on the whole frame; `None` when it cannot run.
    pub fn detect(&mut self, need: &DetectorNeed, frame: &Frame) -> Option<ModelOutput> {
        let loader = &self.loader;
        let (detector, labels) = self
            .models
            .entry(need.model.clone())
            .or_insert_with(|| match loader.load(&need.model) {
                Ok(d) => {
                    tracing::info!(model = %need.model, "second detector loaded");
                    let labels: Arc<[String]> = d.labels().into();
                    Some((d, labels))
                }
                Err(e) => {
                    tracing::error!(model = %need.model, error = %e, "second detector cannot be loaded: not run");
                    None
                }
            })
            .as_mut()?;
        match detector.detect_bgr(&frame.data, frame.width, frame.height) {
            Ok(detections) => Some(ModelOutput {
                model: need.model.clone(),
                labels: labels.clone(),
                detections,
            }),
            Err(e) => {
                tracing::error!(camera = %frame.camera, model = %need.model, error = %e, "second detector failed");
                None
            }
        }
    }
}
