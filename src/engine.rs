//! Wires the stages together for a validated configuration: one ingest supervisor per camera,
//! a bounded frame queue per camera, and detector workers (each owning its ONNX Runtime session)
//! that serve the cameras round-robin, then track, apply the rules and hand events to the alert
//! bus (journal first, then delivery).
//!
//! The set of cameras can change while running ([`Engine::apply`], hot reload): workers read a
//! snapshot of the current set each round, so adding or removing a camera never stops the others.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::alerts::{render_snapshot, AlertBox, AlertBus, Journal, JournalError, NewAlert};
use crate::config::{CameraConfig, Config, RuleKind};
use crate::detect::{init_runtime, Detection, Detector, DetectorOptions, Manifest};
use crate::frames::motion::MotionGate;
use crate::frames::{Frame, FrameQueue};
use crate::health::{Fault, FaultEvent, FaultKind, FrameStats, HealthMonitor};
use crate::ingest::{self, CameraHandle, CameraSpec, CameraStatus, PipelineParams};
use crate::metrics::{LatencySamples, Metrics};
use crate::reload::{diff, restart_required, CameraChange, ReloadReport};
use crate::rules::{point_in_polygon, IntrusionRule, RuleEngine, RuleSpec, Zone};
use crate::track::{Tracker, TrackerConfig};

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
}

/// Analysis state of one camera: only one worker at a time holds it, so frames of a camera are
/// tracked in order.
struct Analysis {
    tracker: Tracker,
    rules: RuleEngine,
    health: HealthMonitor,
    /// `None` when the camera's motion gating is off.
    motion: Option<MotionGate>,
    /// The configuration version these rules come from, journaled with each alert.
    config_version: Option<i64>,
}

struct CameraCtx {
    id: Arc<str>,
    /// Shown in alerts; a reload may rename the camera in place.
    name: RwLock<String>,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    busy: AtomicBool,
    analysis: Mutex<Analysis>,
    /// Frames older than this when taken are dropped, never analysed late (`None`: no limit).
    max_frame_age: Option<Duration>,
    /// The last frame taken, for the snapshot of a fault alert.
    last_frame: Mutex<Option<Arc<Frame>>>,
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
        let manifest_path = config.resolve(&config.detector.manifest);
        let manifest = Manifest::load(&manifest_path)?;
        let model_dir = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let det_opts = DetectorOptions {
            intra_threads: config.detector.intra_threads,
            // Down to the tracker's low score: those detections only continue tracks.
            score_threshold: config
                .detector
                .score_threshold
                .min(config.tracker.low_score),
            nms_iou: config.detector.nms_iou,
            spinning: config.detector.spinning,
            execution_provider: config.detector.execution_provider,
        };
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
        let (in_w, in_h) = manifest
            .model(&config.detector.model)
            .map(|m| m.input_size())
            .unwrap_or((416, 416));
        let labels: Arc<Vec<String>> = Arc::new(config.labels.clone());
        let model = manifest
            .model(&config.detector.model)
            .map(|m| (m.name.clone(), m.sha256.clone()));
        let journal = bus.journal().clone();
        let version = record_config(&journal, "start", config, &model)?;

        let stop = Arc::new(AtomicBool::new(false));
        let mut cameras = Vec::new();
        let mut handles = Vec::new();
        for cam in config.cameras.iter().filter(|c| c.enabled) {
            let started = start_camera(config, cam, (in_w, in_h), &metrics, version)?;
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

        let mut workers = Vec::new();
        let worker_count = if options.decode_only {
            1
        } else {
            detectors.len()
        };
        let mut detectors = detectors.into_iter();
        for w in 0..worker_count {
            let detector = detectors.next();
            let cams = cameras.clone();
            let stop = stop.clone();
            let bus = bus.clone();
            let metrics = metrics.clone();
            let labels = labels.clone();
            let latency = options.decision_latency.clone();
            let t = std::thread::Builder::new()
                .name(format!("detect-{w}"))
                .spawn(move || {
                    let out = WorkerOutputs {
                        bus,
                        metrics,
                        labels,
                        latency,
                    };
                    worker(w, cams, detector, out, stop)
                })
                .map_err(EngineError::Thread)?;
            workers.push(t);
        }
        if !options.decode_only {
            let cams = cameras.clone();
            let stop = stop.clone();
            let bus = bus.clone();
            let metrics = metrics.clone();
            let t = std::thread::Builder::new()
                .name("health".into())
                .spawn(move || health_ticker(cams, bus, metrics, stop))
                .map_err(EngineError::Thread)?;
            workers.push(t);
        }
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
            input_size: (in_w, in_h),
            journal,
            model,
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

    /// True when every camera has stopped (files at their end) and every queue is drained.
    pub fn is_idle(&self) -> bool {
        let running = lock(&self.running);
        running.handles.iter().all(|(_, h)| h.is_finished())
            && read(&self.cameras)
                .iter()
                .all(|c| c.queue.is_empty() && !c.busy.load(Ordering::SeqCst))
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
        let change_of = |id: &str| {
            changes
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, c)| *c)
                .unwrap_or(CameraChange::Added)
        };
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
        let current = read(&self.cameras).clone();
        let mut report = ReloadReport::default();
        let mut next = Vec::new();
        let mut failure = None;
        for cam in new.cameras.iter().filter(|c| c.enabled) {
            let change = change_of(&cam.id);
            let existing = current.iter().find(|c| *c.id == *cam.id).cloned();
            match (change, existing) {
                (CameraChange::Unchanged, Some(ctx)) => {
                    lock(&ctx.analysis).config_version = version;
                    report.unchanged.push(cam.id.clone());
                    next.push(ctx);
                }
                (CameraChange::Updated, Some(ctx)) => {
                    {
                        let mut a = ctx.analysis.lock().unwrap_or_else(|e| e.into_inner());
                        a.rules = rule_engine(new, cam);
                        a.motion = motion_gate(cam, self.input_size);
                        a.config_version = version;
                    }
                    *ctx.name.write().unwrap_or_else(|e| e.into_inner()) = cam.name.clone();
                    ctx.status.set_labels(&cam.name, &cam.location);
                    tracing::info!(camera = %cam.id, "camera zones and rules updated by reload");
                    report.updated.push(cam.id.clone());
                    next.push(ctx);
                }
                (change, _) => {
                    match start_camera(new, cam, self.input_size, &self.metrics, version) {
                        Ok(Some((ctx, handle))) => {
                            running.handles.push((cam.id.clone(), handle));
                            next.push(ctx);
                            tracing::info!(camera = %cam.id, ?change, "camera started by reload");
                            if change == CameraChange::Restarted {
                                report.restarted.push(cam.id.clone());
                            } else {
                                report.added.push(cam.id.clone());
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(camera = %cam.id, error = %e, "camera could not be started by reload");
                            failure.get_or_insert(e);
                        }
                    }
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

/// Builds one camera's context and starts its supervisor; `None` when it has no source.
fn start_camera(
    config: &Config,
    cam: &CameraConfig,
    (in_w, in_h): (u32, u32),
    metrics: &Metrics,
    config_version: Option<i64>,
) -> Result<Option<(Arc<CameraCtx>, CameraHandle)>, EngineError> {
    let Some(source) = cam.parsed_source.clone() else {
        return Ok(None);
    };
    let status = Arc::new(CameraStatus::new(
        &cam.id,
        &cam.name,
        &cam.location,
        &source.redacted(),
    ));
    let queue = Arc::new(FrameQueue::new(cam.queue_capacity));
    let id: Arc<str> = Arc::from(cam.id.as_str());
    let spec = CameraSpec {
        id: id.clone(),
        params: PipelineParams {
            source,
            rtsp_transport: cam.rtsp_transport,
            rtsp_latency_ms: cam.rtsp_latency_ms,
            detect_fps: cam.detect_fps,
            width: in_w,
            height: in_h,
            realtime: cam.realtime,
        },
        looping: cam.r#loop,
        decode_threads: i32::try_from(cam.decode_threads).unwrap_or(1),
        stall_timeout: Duration::from_secs_f32(cam.stall_seconds),
        max_backoff: Duration::from_secs_f32(cam.reconnect_max_seconds),
    };
    let ctx = Arc::new(CameraCtx {
        id,
        name: RwLock::new(cam.name.clone()),
        queue: queue.clone(),
        status: status.clone(),
        busy: AtomicBool::new(false),
        analysis: Mutex::new(Analysis {
            tracker: Tracker::new(tracker_config(config)),
            rules: rule_engine(config, cam),
            health: HealthMonitor::new(cam.health, Instant::now()),
            motion: motion_gate(cam, (in_w, in_h)),
            config_version,
        }),
        // A file read as fast as possible waits for the detector: its frames are not live, so
        // they never get too old.
        max_frame_age: (cam.max_frame_age_ms > 0 && !spec.params.pull_mode())
            .then(|| Duration::from_millis(cam.max_frame_age_ms)),
        last_frame: Mutex::new(None),
    });
    let handle = ingest::spawn_camera(spec, queue, status, metrics.clone())?;
    Ok(Some((ctx, handle)))
}

fn tracker_config(config: &Config) -> TrackerConfig {
    TrackerConfig {
        iou_threshold: config.tracker.iou_threshold,
        min_hits: config.tracker.min_hits,
        max_missed_seconds: config.tracker.max_missed_seconds,
        min_score: config.detector.score_threshold,
        low_score: config.tracker.low_score,
        new_track_margin: config.tracker.new_track_margin,
    }
}

/// The camera's motion gate (`None` when off): motion counts inside the zones its rules watch,
/// or anywhere when a rule watches no zone.
fn motion_gate(cam: &CameraConfig, size: (u32, u32)) -> Option<MotionGate> {
    let regions: Option<Vec<Vec<(f32, f32)>>> = cam
        .rules
        .iter()
        .map(|r| {
            let zone = cam.zones.iter().find(|z| z.id == r.zone)?;
            Some(zone.points.iter().map(|p| (p[0], p[1])).collect())
        })
        .collect();
    MotionGate::new(&cam.motion, cam.detect_fps, size, |p| match &regions {
        Some(zones) if !zones.is_empty() => zones.iter().any(|z| point_in_polygon(p, z)),
        _ => true,
    })
}

/// Builds a camera's rules from its (validated) configuration.
fn rule_engine(config: &Config, cam: &CameraConfig) -> RuleEngine {
    let zones: Vec<Zone> = cam
        .zones
        .iter()
        .map(|z| Zone {
            id: z.id.clone(),
            name: if z.name.is_empty() {
                z.id.clone()
            } else {
                z.name.clone()
            },
            polygon: z.points.iter().map(|p| (p[0], p[1])).collect(),
        })
        .collect();
    let rules = cam
        .rules
        .iter()
        .filter_map(|r| {
            let zone = zones.iter().position(|z| z.id == r.zone)?;
            match r.kind {
                RuleKind::Intrusion => Some(RuleSpec::Intrusion(IntrusionRule {
                    id: r.id.clone(),
                    zone,
                    classes: r
                        .classes
                        .iter()
                        .filter_map(|c| config.class_id(c))
                        .collect(),
                    min_seconds: r.min_seconds,
                    cooldown_seconds: r.cooldown_seconds,
                    min_score: r.min_score,
                })),
            }
        })
        .collect();
    RuleEngine::new(zones, rules).with_labels(config.labels.clone())
}

/// Where a detector worker sends its results.
struct WorkerOutputs {
    bus: AlertBus,
    metrics: Metrics,
    labels: Arc<Vec<String>>,
    latency: Option<Arc<LatencySamples>>,
}

fn worker(
    index: usize,
    camera_set: CameraSet,
    mut detector: Option<Detector>,
    out: WorkerOutputs,
    stop: Arc<AtomicBool>,
) {
    let WorkerOutputs {
        bus,
        metrics,
        labels,
        latency,
    } = out;
    let mut cursor = index;
    while !stop.load(Ordering::SeqCst) {
        let mut worked = false;
        // The current set, re-read each round: a reload adds or removes cameras between rounds.
        let cameras = read(&camera_set);
        let n = cameras.len();
        // Round-robin: one frame from the next camera that has one, so a busy camera cannot
        // starve the others.
        for k in 0..n {
            let i = (cursor + k) % n;
            let cam = &cameras[i];
            if cam.queue.is_empty()
                || cam
                    .busy
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                continue;
            }
            if let Some(frame) = cam.queue.pop() {
                if let Some(det) = detector.as_mut() {
                    let captured = frame.captured;
                    let decided = match admit(cam, frame, &bus, &metrics) {
                        Admission::Analyse(frame) => {
                            process(cam, frame, det, &bus, &metrics, &labels);
                            true
                        }
                        Admission::NoMotion => true,
                        Admission::TooOld => false,
                    };
                    if decided {
                        let secs = captured.elapsed().as_secs_f64();
                        metrics
                            .frame_to_decision_seconds
                            .with_label_values(&[&cam.id])
                            .observe(secs);
                        if let Some(l) = &latency {
                            l.record(secs);
                        }
                    }
                }
                worked = true;
            }
            cam.busy.store(false, Ordering::Release);
            cursor = (i + 1) % n.max(1);
            break;
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// What happens to a frame taken from a queue, before the detector.
enum Admission {
    /// Goes to the detector.
    Analyse(Arc<Frame>),
    /// Older than the camera's `max_frame_age_ms`: dropped and counted, never analysed late.
    TooOld,
    /// Motion gating: nothing moved in the rules' zones since the last analysed frame.
    NoMotion,
}

/// Health statistics (every frame), the age limit, then motion gating.
fn admit(cam: &CameraCtx, frame: Frame, bus: &AlertBus, metrics: &Metrics) -> Admission {
    // Health first, on every frame taken, even one too old to analyse: it is cheap, and fault
    // alerts must not degrade when the machine cannot keep up.
    let frame = Arc::new(frame);
    let stats = FrameStats::compute(&frame.data, frame.width, frame.height);
    let fault = lock(&cam.analysis)
        .health
        .observe_frame(stats, frame.captured);
    if let Ok(mut last) = cam.last_frame.lock() {
        *last = Some(frame.clone());
    }
    if let Some(ev) = fault {
        publish_fault(cam, ev, Some(&frame), bus, metrics);
    }
    if let Some(max) = cam.max_frame_age {
        let age = frame.captured.elapsed();
        if age > max {
            cam.status.frame_dropped_too_old();
            metrics
                .frames_dropped
                .with_label_values(&[&cam.id, "too_old"])
                .inc();
            tracing::debug!(camera = %cam.id, age_ms = age.as_millis() as u64, "frame too old, dropped");
            return Admission::TooOld;
        }
    }
    let gate = lock(&cam.analysis)
        .motion
        .as_mut()
        .map(|g| g.decide(&frame.data, frame.width, frame.height, frame.pts_ns));
    if gate.is_some_and(|d| !d.analyse()) {
        metrics
            .frames_skipped
            .with_label_values(&[&cam.id, "no_motion"])
            .inc();
        return Admission::NoMotion;
    }
    Admission::Analyse(frame)
}

fn process(
    cam: &CameraCtx,
    frame: Arc<Frame>,
    detector: &mut Detector,
    bus: &AlertBus,
    metrics: &Metrics,
    labels: &[String],
) {
    let t0 = Instant::now();
    let detections: Vec<Detection> =
        match detector.detect_bgr(&frame.data, frame.width, frame.height) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(camera = %cam.id, error = %e, "detection failed");
                return;
            }
        };
    metrics
        .inference_seconds
        .with_label_values(&[&cam.id])
        .observe(t0.elapsed().as_secs_f64());
    metrics.frames_inferred.with_label_values(&[&cam.id]).inc();
    cam.status.frames_inferred.fetch_add(1, Ordering::Relaxed);

    let (events, zones, config_version) = {
        let mut a = lock(&cam.analysis);
        let Analysis {
            tracker,
            rules,
            config_version,
            ..
        } = &mut *a;
        let tracks = tracker.update(&detections, frame.pts_ns);
        let events = rules.evaluate(tracks, frame.pts_ns);
        if events.is_empty() {
            return;
        }
        (events, rules.zones().to_vec(), *config_version)
    };
    for ev in events {
        let label = labels
            .get(usize::from(ev.class_id))
            .cloned()
            .unwrap_or_else(|| format!("class {}", ev.class_id));
        let zone = zones.iter().find(|z| z.id == ev.zone_id);
        let snapshot = match render_snapshot(
            &frame,
            &[(ev.bbox, label.clone())],
            zone.map(|z| z.polygon.as_slice()),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(camera = %cam.id, error = %e, "snapshot failed; alert kept without it");
                Vec::new()
            }
        };
        let new = NewAlert {
            camera_id: cam.id.to_string(),
            camera_name: read(&cam.name),
            rule_id: ev.rule_id.clone(),
            event_type: ev.event_type.as_str().to_string(),
            zone_id: Some(ev.zone_id.clone()),
            frame_time_ms: frame.captured_at_ms,
            stream_ts_ns: frame.pts_ns,
            confidence: ev.score,
            track_id: Some(ev.track_id),
            boxes: vec![AlertBox::new(ev.class_id, label, ev.score, ev.bbox)],
            explanation: ev.explanation.clone(),
            snapshot_jpeg: snapshot,
            config_version,
        };
        match bus.publish(new, frame.captured) {
            Ok(alert) => tracing::info!(
                camera = %cam.id,
                rule = %ev.rule_id,
                alert_id = alert.id,
                "alert journaled"
            ),
            // The governance gate refused it (stopped, not authorised): counted, not an error.
            Err(JournalError::Withheld(reason)) => {
                tracing::debug!(camera = %cam.id, rule = %ev.rule_id, %reason, "alert withheld")
            }
            Err(e) => tracing::error!(camera = %cam.id, error = %e, "alert could not be journaled"),
        }
    }
}

/// Every 500 ms: offline detection (it must fire when no frame comes at all) and the last frame
/// age gauge.
fn health_ticker(cameras: CameraSet, bus: AlertBus, metrics: Metrics, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let current = read(&cameras).clone();
        for cam in current.iter() {
            let age = cam.status.last_frame_age();
            if let Some(a) = age {
                metrics
                    .last_frame_age_seconds
                    .with_label_values(&[&cam.id])
                    .set(a.as_secs_f64());
            }
            // A file at its end (or a camera being stopped) is not a fault.
            if cam.status.state() == ingest::CameraState::Stopped {
                continue;
            }
            let ev = lock(&cam.analysis).health.tick(Instant::now(), age);
            if let Some(ev) = ev {
                let last = lock(&cam.last_frame).clone();
                publish_fault(cam, ev, last.as_deref(), &bus, &metrics);
            }
        }
        for _ in 0..10 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Journals a camera fault as an alert (rule `camera_health`), with the last frame as snapshot
/// when there is one, and updates the camera's status and metrics.
fn publish_fault(
    cam: &CameraCtx,
    ev: FaultEvent,
    frame: Option<&Frame>,
    bus: &AlertBus,
    metrics: &Metrics,
) {
    let open = match ev.kind {
        FaultKind::Offline => Some(Fault::Offline),
        FaultKind::Frozen => Some(Fault::Frozen),
        FaultKind::Obstructed => Some(Fault::Obstructed),
        FaultKind::Restored { .. } => None,
    };
    cam.status.set_fault(open.map(Fault::as_str));
    for f in Fault::ALL {
        metrics
            .health_fault_open
            .with_label_values(&[&cam.id, f.as_str()])
            .set(i64::from(open == Some(f)));
    }
    metrics
        .health_faults
        .with_label_values(&[&cam.id, ev.kind.label()])
        .inc();
    let snapshot = frame
        .map(|f| match render_snapshot(f, &[], None) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(camera = %cam.id, error = %e, "snapshot failed; alert kept without it");
                Vec::new()
            }
        })
        .unwrap_or_default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // An offline alert is about now, not about the last (old) frame.
    let (frame_time_ms, stream_ts_ns, captured) = match (frame, ev.kind) {
        (Some(f), k) if k != FaultKind::Offline => (f.captured_at_ms, f.pts_ns, f.captured),
        (Some(f), _) => (now_ms, f.pts_ns, Instant::now()),
        (None, _) => (now_ms, 0, Instant::now()),
    };
    let new = NewAlert {
        camera_id: cam.id.to_string(),
        camera_name: read(&cam.name),
        rule_id: "camera_health".to_string(),
        event_type: ev.kind.event_type().to_string(),
        zone_id: None,
        frame_time_ms,
        stream_ts_ns,
        confidence: 1.0,
        track_id: None,
        boxes: Vec::new(),
        explanation: ev.explanation,
        snapshot_jpeg: snapshot,
        config_version: lock(&cam.analysis).config_version,
    };
    match bus.publish(new, captured) {
        Ok(alert) => tracing::warn!(
            camera = %cam.id,
            event = ev.kind.event_type(),
            alert_id = alert.id,
            "camera health alert journaled"
        ),
        Err(e) => {
            tracing::error!(camera = %cam.id, error = %e, "camera health alert could not be journaled")
        }
    }
}
