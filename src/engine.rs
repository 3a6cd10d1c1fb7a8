//! Wires the stages together for a validated configuration: one ingest supervisor per camera,
//! a bounded frame queue per camera, and detector workers (each owning its ONNX Runtime session)
//! that serve the cameras round-robin, then track, apply the rules and hand events to the alert
//! bus (journal first, then delivery).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::alerts::{render_snapshot, AlertBox, AlertBus, NewAlert};
use crate::config::{CameraConfig, Config, RuleKind};
use crate::detect::{init_runtime, Detection, Detector, DetectorOptions, Manifest};
use crate::frames::{Frame, FrameQueue};
use crate::health::{Fault, FaultEvent, FaultKind, FrameStats, HealthMonitor};
use crate::ingest::{self, CameraHandle, CameraSpec, CameraStatus, PipelineParams};
use crate::metrics::Metrics;
use crate::rules::{IntrusionRule, RuleEngine, RuleSpec, Zone};
use crate::track::{Tracker, TrackerConfig};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error("detector: {0}")]
    Detect(#[from] crate::detect::DetectError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// How the engine runs; the defaults are those of `vigie run`.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Skip detection: frames are taken from the queues and thrown away (decode-only benchmark).
    pub decode_only: bool,
}

/// Analysis state of one camera: only one worker at a time holds it, so frames of a camera are
/// tracked in order.
struct Analysis {
    tracker: Tracker,
    rules: RuleEngine,
    health: HealthMonitor,
}

struct CameraCtx {
    id: Arc<str>,
    name: String,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    busy: AtomicBool,
    analysis: Mutex<Analysis>,
    /// Frames older than this when taken are dropped, never analysed late (`None`: no limit).
    max_frame_age: Option<Duration>,
    /// The last frame taken, for the snapshot of a fault alert.
    last_frame: Mutex<Option<Arc<Frame>>>,
}

/// A running engine. [`Engine::shutdown`] stops it cleanly.
pub struct Engine {
    cameras: Vec<Arc<CameraCtx>>,
    handles: Vec<CameraHandle>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
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
            score_threshold: config.detector.score_threshold,
            nms_iou: config.detector.nms_iou,
            spinning: config.detector.spinning,
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
                    det_opts.clone(),
                )?);
            }
        }
        let (in_w, in_h) = manifest
            .model(&config.detector.model)
            .map(|m| m.input_size())
            .unwrap_or((416, 416));
        let labels: Arc<Vec<String>> = Arc::new(config.labels.clone());

        let stop = Arc::new(AtomicBool::new(false));
        let mut cameras = Vec::new();
        let mut handles = Vec::new();
        for cam in config.cameras.iter().filter(|c| c.enabled) {
            let Some(source) = cam.parsed_source.clone() else {
                continue;
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
                    detect_fps: cam.detect_fps,
                    width: in_w,
                    height: in_h,
                    realtime: cam.realtime,
                },
                looping: cam.r#loop,
                decode_threads: 1,
                stall_timeout: Duration::from_secs(10),
                max_backoff: Duration::from_secs(30),
            };
            let ctx = Arc::new(CameraCtx {
                id,
                name: cam.name.clone(),
                queue: queue.clone(),
                status: status.clone(),
                busy: AtomicBool::new(false),
                analysis: Mutex::new(Analysis {
                    tracker: Tracker::new(tracker_config(config)),
                    rules: rule_engine(config, cam),
                    health: HealthMonitor::new(cam.health, Instant::now()),
                }),
                // A file read as fast as possible waits for the detector: its frames are not
                // live, so they never get too old.
                max_frame_age: (cam.max_frame_age_ms > 0 && !spec.params.pull_mode())
                    .then(|| Duration::from_millis(cam.max_frame_age_ms)),
                last_frame: Mutex::new(None),
            });
            handles.push(ingest::spawn_camera(spec, queue, status, metrics.clone())?);
            cameras.push(ctx);
        }

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
            let t = std::thread::Builder::new()
                .name(format!("detect-{w}"))
                .spawn(move || worker(w, cams, detector, bus, metrics, labels, stop))
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
        tracing::info!(
            cameras = cameras.len(),
            workers = workers.len(),
            "engine started"
        );
        Ok(Engine {
            cameras,
            handles,
            workers,
            stop,
        })
    }

    /// The status of every running camera, for the API.
    pub fn statuses(&self) -> Vec<Arc<CameraStatus>> {
        self.cameras.iter().map(|c| c.status.clone()).collect()
    }

    /// True when every camera has stopped (files at their end) and every queue is drained.
    pub fn is_idle(&self) -> bool {
        self.handles.iter().all(CameraHandle::is_finished)
            && self
                .cameras
                .iter()
                .all(|c| c.queue.is_empty() && !c.busy.load(Ordering::SeqCst))
    }

    /// Stops the cameras (pipelines to NULL), then the workers.
    pub fn shutdown(self) {
        for h in self.handles {
            h.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            let _ = w.join();
        }
        tracing::info!("engine stopped");
    }
}

fn tracker_config(config: &Config) -> TrackerConfig {
    TrackerConfig {
        iou_threshold: config.tracker.iou_threshold,
        min_hits: config.tracker.min_hits,
        max_missed_seconds: config.tracker.max_missed_seconds,
        min_score: config.detector.score_threshold,
    }
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

fn worker(
    index: usize,
    cameras: Vec<Arc<CameraCtx>>,
    mut detector: Option<Detector>,
    bus: AlertBus,
    metrics: Metrics,
    labels: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
) {
    let n = cameras.len();
    let mut cursor = index;
    while !stop.load(Ordering::SeqCst) {
        let mut worked = false;
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
                    process(cam, frame, det, &bus, &metrics, &labels);
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

fn process(
    cam: &CameraCtx,
    frame: Frame,
    detector: &mut Detector,
    bus: &AlertBus,
    metrics: &Metrics,
    labels: &[String],
) {
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
            return;
        }
    }
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

    let (events, zones) = {
        let mut a = lock(&cam.analysis);
        let Analysis { tracker, rules, .. } = &mut *a;
        let tracks = tracker.update(&detections, frame.pts_ns);
        let events = rules.evaluate(tracks, frame.pts_ns);
        if events.is_empty() {
            return;
        }
        (events, rules.zones().to_vec())
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
            camera_name: cam.name.clone(),
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
        };
        match bus.publish(new, frame.captured) {
            Ok(alert) => tracing::info!(
                camera = %cam.id,
                rule = %ev.rule_id,
                alert_id = alert.id,
                "alert journaled"
            ),
            Err(e) => tracing::error!(camera = %cam.id, error = %e, "alert could not be journaled"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere; the state is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every 500 ms: offline detection (it must fire when no frame comes at all) and the last frame
/// age gauge.
fn health_ticker(
    cameras: Vec<Arc<CameraCtx>>,
    bus: AlertBus,
    metrics: Metrics,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        for cam in &cameras {
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
        camera_name: cam.name.clone(),
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
