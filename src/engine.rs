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
}

struct CameraCtx {
    id: Arc<str>,
    name: String,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    busy: AtomicBool,
    analysis: Mutex<Analysis>,
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
                name: cam.name.clone(),
                queue: queue.clone(),
                status: status.clone(),
                busy: AtomicBool::new(false),
                analysis: Mutex::new(Analysis {
                    tracker: Tracker::new(tracker_config(config)),
                    rules: rule_engine(config, cam),
                }),
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
        let mut a = match cam.analysis.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        let Analysis { tracker, rules } = &mut *a;
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
