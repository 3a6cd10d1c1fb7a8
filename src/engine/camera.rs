//! One running camera: its frame queue, status, and the analysis state (tracker, rules, health,
//! motion gate) that only one worker at a time holds.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::pose::PoseClock;
use super::EngineError;
use crate::clips::mask::from_privacy_mask;
use crate::clips::{ClipRing, ClipRings, RingStills, SNAPSHOT_KEEP_MS};
use crate::config::{CameraConfig, Config};
use crate::evidence::CameraEvidence;
use crate::frames::motion::MotionGate;
use crate::frames::{Frame, FrameQueue};
use crate::health::HealthMonitor;
use crate::ingest::{self, CameraHandle, CameraSpec, CameraStatus, PipelineParams};
use crate::metrics::Metrics;
use crate::rules::{point_in_polygon, CameraRules};
use crate::track::{Tracker, TrackerConfig};

/// Analysis state of one camera: only one worker at a time holds it, so frames of a camera are
/// tracked in order.
pub(super) struct Analysis {
    pub tracker: Tracker,
    pub rules: CameraRules,
    pub health: HealthMonitor,
    /// `None` when the camera's motion gating is off.
    pub motion: Option<MotionGate>,
    /// The configuration version these rules come from, journaled with each alert.
    pub config_version: Option<i64>,
    /// When the pose model last ran for this camera.
    pub pose_clock: PoseClock,
    /// Where someone was lying lately (cameras whose rules hold lying people).
    pub lying: super::lying::LyingMemory,
    /// When each second detector last ran for this camera, by model name.
    pub model_clocks: std::collections::HashMap<String, PoseClock>,
}

pub(super) struct CameraCtx {
    pub id: Arc<str>,
    /// Shown in alerts; a reload may rename the camera in place.
    pub name: RwLock<String>,
    pub queue: Arc<FrameQueue>,
    pub status: Arc<CameraStatus>,
    pub busy: AtomicBool,
    pub analysis: Mutex<Analysis>,
    /// Frames older than this when taken are dropped, never analysed late (`None`: no limit).
    pub max_frame_age: Option<Duration>,
    /// The last frame taken, for the snapshot of a fault alert.
    pub last_frame: Mutex<Option<Arc<Frame>>>,
    /// Privacy masks and full-resolution frames (shared with ingest); picks the frame a rule
    /// alert's snapshot is drawn on.
    pub evidence: Arc<CameraEvidence>,
}

impl CameraCtx {
    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Builds one camera's context and starts its supervisor; `None` when it has no source.
pub(super) fn start_camera(
    config: &Config,
    cam: &CameraConfig,
    (in_w, in_h): (u32, u32),
    metrics: &Metrics,
    (config_version, clips): (Option<i64>, Option<&ClipRings>),
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
    let (evidence, clip_ring) = evidence_and_ring(cam, clips, metrics);
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
        evidence: Some(evidence.clone()),
        clip_ring,
    };
    let ctx = Arc::new(CameraCtx {
        id,
        name: RwLock::new(cam.name.clone()),
        queue: queue.clone(),
        status: status.clone(),
        busy: AtomicBool::new(false),
        analysis: Mutex::new(Analysis {
            tracker: Tracker::new(tracker_config(config)),
            rules: camera_rules(config, cam),
            health: HealthMonitor::new(cam.health, Instant::now()),
            motion: motion_gate(cam, (in_w, in_h)),
            config_version,
            pose_clock: PoseClock::default(),
            lying: Default::default(),
            model_clocks: Default::default(),
        }),
        // A file read as fast as possible waits for the detector: its frames are not live, so
        // they never get too old.
        max_frame_age: (cam.max_frame_age_ms > 0 && !spec.params.pull_mode())
            .then(|| Duration::from_millis(cam.max_frame_age_ms)),
        last_frame: Mutex::new(None),
        evidence,
    });
    let handle = ingest::spawn_camera(spec, queue, status, metrics.clone())?;
    Ok(Some((ctx, handle)))
}

/// The camera's evidence and the ring its compressed main stream is tapped into: the clip
/// ring (clips hide the camera's privacy masks like its snapshots), and for a sub-stream camera
/// whose snapshots are decoded on demand, a ring even when clips are off.
fn evidence_and_ring(
    cam: &CameraConfig,
    clips: Option<&ClipRings>,
    metrics: &Metrics,
) -> (Arc<CameraEvidence>, Option<Arc<ClipRing>>) {
    let evidence = CameraEvidence::new(cam);
    let mask = evidence.mask().cloned().map(from_privacy_mask);
    let clip_ring = clips.and_then(|c| c.start(&cam.id, mask));
    if !evidence.decodes_on_demand() {
        return (Arc::new(evidence), clip_ring);
    }
    let ring = clip_ring.unwrap_or_else(|| {
        let bytes = crate::config::ClipsConfig::default().ring_max_mb as usize * 1024 * 1024;
        Arc::new(ClipRing::new(SNAPSHOT_KEEP_MS, bytes))
    });
    let stills = Arc::new(RingStills::new(ring.clone(), metrics.clone()));
    (Arc::new(evidence.with_stills(stills)), Some(ring))
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
pub(super) fn motion_gate(cam: &CameraConfig, size: (u32, u32)) -> Option<MotionGate> {
    let regions: Option<Vec<Vec<(f32, f32)>>> = cam
        .rules
        .iter()
        .map(|r| {
            let zone = cam.zones.iter().find(|z| Some(z.id.as_str()) == r.zone())?;
            Some(zone.points.iter().map(|p| (p[0], p[1])).collect())
        })
        .collect();
    MotionGate::new(&cam.motion, cam.detect_fps, size, |p| match &regions {
        Some(zones) if !zones.is_empty() => zones.iter().any(|z| point_in_polygon(p, z)),
        _ => true,
    })
}

/// Builds a camera's rules from its (validated) configuration.
pub(super) fn camera_rules(config: &Config, cam: &CameraConfig) -> CameraRules {
    CameraRules::build(cam.scene(), &cam.rules, config.labels.clone())
}
