//! Wires the stages together for a validated configuration: one ingest supervisor per camera,
//! a bounded frame queue per camera, and detector workers (each owning its ONNX Runtime session)
//! that serve the cameras round-robin, then track, apply the rules and hand events to the alert
//! bus (journal first, then delivery).
//!
//! The set of cameras can change while running ([`Engine::apply`], hot reload): workers read a
//! snapshot of the current set each round, so adding or removing a camera never stops the others.

mod camera;
mod lying;
mod models;
mod pose;
mod publish;
mod stills;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::alerts::{AlertBus, Journal, JournalError};
use crate::clips::ClipRings;
use crate::config::diff::{diff, restart_required, CameraChange, ReloadReport};
use crate::config::{CameraConfig, Config};
use crate::detect::{init_runtime, Detector, Manifest};
use crate::ingest::{self, CameraHandle, CameraStatus};
use crate::metrics::{LatencySamples, Metrics};
use camera::{camera_rules, motion_gate, start_camera, CameraCtx};
use worker::{health_ticker, worker, Shared};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error("detector: {0}")]
    Detect(#[from] crate::detect::DetectError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A reload changed settings that are read only at start; nothing was changed.
    #[error("restart required: {} cannot change while running", .0.join(", "))]
    RestartRequired(Vec<String>),
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The configuration could not be recorded in the journal's parameter history: it is not
    /// applied.
    #[error("cannot record the configuration in the journal: {0}")]
    Journal(#[from] JournalError),
}

/// How the engine runs; the defaults are those of `vigie run`.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Skip detection: frames are taken from the queues and thrown away (decode-only benchmark).
    pub decode_only: bool,
    /// Also records every frame's capture-to-decision time here (benchmarks needing exact
    /// percentiles; `/metrics` has the histogram).
    pub decision_latency: Option<Arc<LatencySamples>>,
    /// Keeps each camera's compressed stream for alert clips (`None`: no clips).
    pub clips: Option<Arc<ClipRings>>,
}

/// The current set of cameras: workers clone the inner `Arc` (a cheap snapshot) each round.
type CameraSet = Arc<RwLock<Arc<Vec<Arc<CameraCtx>>>>>;

/// The configuration in force and the supervisors of the running cameras, by camera id.
struct Running {
    config: Config,
    handles: Vec<(String, CameraHandle)>,
    /// Set by [`Engine::shutdown`]: no reload may start a camera any more.
    closed: bool,
}

/// A running engine. [`Engine::shutdown`] stops it cleanly.
pub struct Engine {
    cameras: CameraSet,
    /// The cameras' status as `/api/cameras` lists it; follows every reload.
    statuses: Arc<RwLock<Vec<Arc<CameraStatus>>>>,
    /// Held for a whole reload, so two reloads cannot interleave.
    running: Mutex<Running>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    metrics: Metrics,
    /// The detector's input size, the size every pipeline scales to.
    input_size: (u32, u32),
    /// Where each configuration that comes into force is recorded.
    journal: Arc<Journal>,
    /// The model's name and SHA-256 (from the manifest; the file is checked against it).
    model: Option<(String, String)>,
    /// The cameras' clip rings, when clips are made.
    clips: Option<Arc<ClipRings>>,
    /// Alerts handed to the `snapshots` thread and not published yet.
    stills_pending: Arc<AtomicUsize>,
}

impl Engine {
    /// Starts every enabled camera and the detector workers.
    pub fn start(
        config: &Config,
        bus: AlertBus,
        metrics: Metrics,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        ingest::init()?;
        let Loaded {
            detectors,
            input_size,
            model,
        } = load_detectors(config, &options, &metrics)?;
        let poses = Arc::new(pose_loader(config));
        let second = Arc::new(detector_loader(config));
        let worker_count = detectors.len();
        let journal = bus.journal().clone();
        // Recorded before any camera starts: every alert names the version in force.
        let version = record_config(&journal, "start", config, &model)?;
        let mut cameras = Vec::new();
        let mut handles = Vec::new();
        for cam in config.cameras.iter().filter(|c| c.enabled) {
            let clips = options.clips.as_deref();
            let started = start_camera(config, cam, input_size, &metrics, (version, clips))?;
            if let Some((ctx, handle)) = started {
                handles.push((cam.id.clone(), handle));
                cameras.push(ctx);
            }
        }
        let statuses = Arc::new(RwLock::new(
            cameras.iter().map(|c| c.status.clone()).collect::<Vec<_>>(),
        ));
        let count = cameras.len();
        let cameras: CameraSet = Arc::new(RwLock::new(Arc::new(cameras)));
        let stop = Arc::new(AtomicBool::new(false));
        let labels = Arc::new(config.labels.clone());
        // Joined after the workers (their senders gone, they attach what is left, then end).
        let (stills, stills_threads) = if options.decode_only {
            (None, Vec::new())
        } else {
            let (tx, t) =
                stills::spawn(bus.clone(), labels.clone()).map_err(EngineError::Thread)?;
            (Some(tx), t)
        };
        let shared = || Shared {
            bus: bus.clone(),
            metrics: metrics.clone(),
            labels: labels.clone(),
            stop: stop.clone(),
            latency: options.decision_latency.clone(),
            poses: poses.clone(),
            detectors: second.clone(),
            stills: stills.clone(),
        };
        let stills_pending = stills
            .as_ref()
            .map_or_else(|| Arc::new(AtomicUsize::new(0)), |s| s.pending());
        let mut workers = spawn_workers(&cameras, detectors, &options, shared)?;
        drop(stills);
        workers.extend(stills_threads);
        // Detector workers only: the health thread is not one.
        tracing::info!(cameras = count, workers = worker_count, "engine started");
        Ok(Engine {
            cameras,
            statuses,
            running: Mutex::new(Running {
                config: config.clone(),
                handles,
                closed: false,
            }),
            workers: Mutex::new(workers),
            stop,
            metrics,
            input_size,
            journal,
            model,
            clips: options.clips.clone(),
            stills_pending,
        })
    }

    /// The status of every running camera, for the API.
    pub fn statuses(&self) -> Vec<Arc<CameraStatus>> {
        read(&self.statuses).clone()
    }

    /// The shared list of camera statuses (`/api/cameras`); every reload updates it.
    pub fn status_list(&self) -> Arc<RwLock<Vec<Arc<CameraStatus>>>> {
        self.statuses.clone()
    }

    /// True when every camera has stopped (files at their end), every queue is drained and every
    /// alert waiting for its on-demand snapshot is published.
    pub fn is_idle(&self) -> bool {
        let running = lock(&self.running);
        running.handles.iter().all(|(_, h)| h.is_finished())
            && read(&self.cameras)
                .iter()
                .all(|c| c.queue.is_empty() && !c.busy.load(Ordering::SeqCst))
            && self.stills_pending.load(Ordering::SeqCst) == 0
    }

    /// Applies a new, validated configuration without a restart: cameras that left the file are
    /// stopped, new ones started, those whose pipeline settings changed are restarted, those whose
    /// zones, rules, name or location changed get new rules in place (their pipeline and tracker
    /// untouched, so no frame is lost), the others are left alone. Settings read only at start
    /// (`[server]`, `[journal]`, `[detector]`, `[tracker]`, `[forecast]`) refuse the whole reload
    /// with [`EngineError::RestartRequired`], and nothing changes.
    ///
    /// If a camera cannot be started (no thread), the rest is applied and the error returned.
    pub fn apply(&self, new: &Config) -> Result<ReloadReport, EngineError> {
        let mut running = lock(&self.running);
        if running.closed {
            return Err(EngineError::ShuttingDown);
        }
        let fields = restart_required(&running.config, new);
        if !fields.is_empty() {
            return Err(EngineError::RestartRequired(fields));
        }
        // Recorded before anything changes: every alert the new rules raise names this version.
        let version = record_config(&self.journal, "reload", new, &self.model)?;
        let changes = diff(&running.config, new);
        // Stop first what goes away, so a source is never opened twice at once.
        for (id, change) in &changes {
            if matches!(change, CameraChange::Removed | CameraChange::Restarted) {
                if let Some(pos) = running.handles.iter().position(|(i, _)| i == id) {
                    let (_, handle) = running.handles.remove(pos);
                    handle.stop();
                    tracing::info!(camera = %id, "camera stopped by reload");
                }
            }
        }
        let mut report = ReloadReport::default();
        let mut next = Vec::new();
        let mut failure = None;
        for cam in new.cameras.iter().filter(|c| c.enabled) {
            let change = changes
                .iter()
                .find(|(i, _)| *i == cam.id)
                .map_or(CameraChange::Added, |(_, c)| *c);
            match self.apply_camera(new, cam, (change, version), &mut running, &mut report) {
                Ok(Some(ctx)) => next.push(ctx),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(camera = %cam.id, error = %e, "camera could not be started by reload");
                    failure.get_or_insert(e);
                }
            }
        }
        for (id, change) in &changes {
            if *change == CameraChange::Removed {
                report.removed.push(id.clone());
            }
        }
        let statuses: Vec<Arc<CameraStatus>> = next.iter().map(|c| c.status.clone()).collect();
        *self.cameras.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        *self.statuses.write().unwrap_or_else(|e| e.into_inner()) = statuses;
        running.config = new.clone();
        tracing::info!(
            added = ?report.added,
            removed = ?report.removed,
            restarted = ?report.restarted,
            updated = ?report.updated,
            unchanged = report.unchanged.len(),
            "configuration reloaded"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// One camera of a reload: kept, updated in place, or (re)started. Returns its context in
    /// the new set, if it runs.
    fn apply_camera(
        &self,
        new: &Config,
        cam: &CameraConfig,
        (change, version): (CameraChange, Option<i64>),
        running: &mut Running,
        report: &mut ReloadReport,
    ) -> Result<Option<Arc<CameraCtx>>, EngineError> {
        let existing = read(&self.cameras)
            .iter()
            .find(|c| *c.id == *cam.id)
            .cloned();
        match (change, existing) {
            (CameraChange::Unchanged, Some(ctx)) => {
                lock(&ctx.analysis).config_version = version;
                report.unchanged.push(cam.id.clone());
                Ok(Some(ctx))
            }
            (CameraChange::Updated, Some(ctx)) => {
                {
                    let mut a = lock(&ctx.analysis);
                    a.rules = camera_rules(new, cam);
                    a.motion = motion_gate(cam, self.input_size);
                    a.config_version = version;
                }
                *ctx.name.write().unwrap_or_else(|e| e.into_inner()) = cam.name.clone();
                ctx.status.set_labels(&cam.name, &cam.location);
                tracing::info!(camera = %cam.id, "camera zones and rules updated by reload");
                report.updated.push(cam.id.clone());
                Ok(Some(ctx))
            }
            (change, _) => {
                let clips = self.clips.as_deref();
                let started =
                    start_camera(new, cam, self.input_size, &self.metrics, (version, clips))?;
                let Some((ctx, handle)) = started else {
                    return Ok(None);
                };
                running.handles.push((cam.id.clone(), handle));
                tracing::info!(camera = %cam.id, ?change, "camera started by reload");
                if change == CameraChange::Restarted {
                    report.restarted.push(cam.id.clone());
                } else {
                    report.added.push(cam.id.clone());
                }
                Ok(Some(ctx))
            }
        }
    }

    /// Stops the cameras (pipelines to NULL), then the workers. Calling it again does nothing.
    pub fn shutdown(&self) {
        let handles = {
            let mut running = lock(&self.running);
            running.closed = true;
            std::mem::take(&mut running.handles)
        };
        for (_, h) in handles {
            h.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        let workers = std::mem::take(&mut *lock(&self.workers));
        for w in workers {
            let _ = w.join();
        }
        tracing::info!("engine stopped");
    }
}

/// A poisoned lock only means a panic elsewhere; the data is still whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Records `config` in the journal's parameter history; returns its version.
fn record_config(
    journal: &Journal,
    reason: &str,
    config: &Config,
    model: &Option<(String, String)>,
) -> Result<Option<i64>, EngineError> {
    let model = model.as_ref().map(|(n, h)| (n.as_str(), h.as_str()));
    let version = journal.record_config(reason, &config.parameters(), model)?;
    tracing::info!(version, reason, "configuration version in force");
    Ok(Some(version))
}

/// What [`load_detectors`] loads.
struct Loaded {
    /// None when only decoding.
    detectors: Vec<Detector>,
    input_size: (u32, u32),
    /// The model's name and SHA-256, from the manifest.
    model: Option<(String, String)>,
}

/// The detector sessions (none when only decoding), the model's input size and its hash.
fn load_detectors(
    config: &Config,
    options: &EngineOptions,
    metrics: &Metrics,
) -> Result<Loaded, EngineError> {
    let manifest_path = config.resolve(&config.detector.manifest);
    let manifest = Manifest::load(&manifest_path)?;
    let model_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut det_opts = config.detector_options();
    // Down to the tracker's low score: those detections only continue tracks.
    det_opts.score_threshold = det_opts.score_threshold.min(config.tracker.low_score);
    let mut detectors = Vec::new();
    if !options.decode_only {
        let dylib = config
            .detector
            .onnxruntime
            .as_ref()
            .map(|p| config.resolve(p));
        init_runtime(dylib.as_deref())?;
        for _ in 0..config.detector.workers {
            detectors.push(Detector::load(
                &manifest,
                &model_dir,
                &config.detector.model,
                det_opts,
            )?);
        }
        if let Some(d) = detectors.first() {
            let (requested, used) = (det_opts.execution_provider, d.execution_provider());
            metrics
                .execution_provider
                .with_label_values(&[requested.as_str(), used.as_str()])
                .set(1);
            tracing::info!(
                requested = requested.as_str(),
                used = used.as_str(),
                "detector execution provider"
            );
        }
    }
    let spec = manifest.model(&config.detector.model);
    Ok(Loaded {
        detectors,
        // `[detector] input` (checked by the config and by `Detector::load`), else the model's.
        input_size: config
            .detector
            .input
            .map(|[w, h]| (w, h))
            .or(spec.map(|m| m.input_size()))
            .unwrap_or((416, 416)),
        model: spec.map(|m| (m.name.clone(), m.sha256.clone())),
    })
}

/// Where workers load pose models from: the detector's manifest.
fn pose_loader(config: &Config) -> pose::PoseLoader {
    let path = config.resolve(&config.detector.manifest);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    pose::PoseLoader::new(Manifest::load(&path), dir)
}

/// Where workers load second detectors (a rule's `model`) from: the detector's manifest.
fn detector_loader(config: &Config) -> models::DetectorLoader {
    let path = config.resolve(&config.detector.manifest);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    models::DetectorLoader::new(Manifest::load(&path), dir)
}

/// One worker per detector (one when only decoding), plus the health ticker.
fn spawn_workers(
    cameras: &CameraSet,
    detectors: Vec<Detector>,
    options: &EngineOptions,
    shared: impl Fn() -> Shared,
) -> Result<Vec<JoinHandle<()>>, EngineError> {
    let mut workers = Vec::new();
    let count = if options.decode_only {
        1
    } else {
        detectors.len()
    };
    let mut detectors = detectors.into_iter();
    for w in 0..count {
        let (detector, cams, shared) = (detectors.next(), cameras.clone(), shared());
        let t = std::thread::Builder::new()
            .name(format!("detect-{w}"))
            .spawn(move || worker(w, cams, detector, shared))
            .map_err(EngineError::Thread)?;
        workers.push(t);
    }
    if !options.decode_only {
        let (cams, s) = (cameras.clone(), shared());
        let t = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || health_ticker(cams, s.bus, s.metrics, s.stop))
            .map_err(EngineError::Thread)?;
        workers.push(t);
    }
    Ok(workers)
}
