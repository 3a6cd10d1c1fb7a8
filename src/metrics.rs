//! Prometheus metrics, one registry per engine. Names follow `vigie_<stage>_<what>_{total,seconds}`;
//! labels come from small fixed sets (camera, rule, cause) and never carry alert or track ids.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the engine exports.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Frames that came out of the decoder, per camera (before the detection-rate filter).
    pub frames_decoded: IntCounterVec,
    /// Frames dropped before detection, per camera and cause (`queue_full`, `too_old`).
    pub frames_dropped: IntCounterVec,
    /// Frames that went through the detector, per camera.
    pub frames_inferred: IntCounterVec,
    /// Detector run time per frame (pre-processing, inference, decoding, NMS), per camera.
    pub inference_seconds: HistogramVec,
    /// Pose model runs per camera (frames whose rules needed poses and showed persons).
    pub pose_frames: IntCounterVec,
    /// Person tracks looked for on those frames (the pose model's workload).
    pub pose_people: IntCounterVec,
    /// Pose model time per frame (whole frame plus lying-person crops).
    pub pose_seconds: HistogramVec,
    /// Lost person tracks held on a lying pose, one per track and frame (`Tracker::hold`).
    pub pose_holds: IntCounterVec,
    /// Capture of the triggering frame to the alert being journaled, per camera and rule.
    pub frame_to_alert_seconds: HistogramVec,
    /// Alerts journaled, per camera and rule.
    pub alerts: IntCounterVec,
    /// Pipeline (re)starts per camera.
    pub camera_restarts: IntCounterVec,
    /// Camera state as a one-hot gauge per camera and state.
    pub camera_state: IntGaugeVec,
    /// Alerts delivered on live streams, per sink (`sse`).
    pub alerts_delivered: IntCounterVec,
    /// Camera fault events, per camera and kind (`offline`, `frozen`, `obstructed`, `restored`).
    pub health_faults: IntCounterVec,
    /// 1 for the camera's open fault, per camera and kind (`offline`, `frozen`, `obstructed`).
    pub health_fault_open: IntGaugeVec,
    /// Seconds since the camera's last decoded frame (updated every 500 ms).
    pub last_frame_age_seconds: GaugeVec,
    /// Capture of a frame to the end of its analysis (tracking, rules and, for a frame that
    /// raised one, the alert journaled), per camera; also for frames skipped by motion gating.
    pub frame_to_decision_seconds: HistogramVec,
    /// Frames not given to the detector, per camera and cause (`no_motion`).
    pub frames_skipped: IntCounterVec,
    /// 1 for the execution provider in use, with the one requested (`cpu`, `cuda`, `tensorrt`).
    pub execution_provider: IntGaugeVec,
    /// What retention purges deleted (`images`, `alerts`, `decisions`).
    pub retention_purged: IntCounterVec,
    /// Events the governance gate did not let become alerts (stopped, not authorised).
    pub alerts_withheld: IntCounterVec,
    pub alerts_shadow: IntCounterVec,
    /// Alert clips by outcome (`remux`, `transcode`, `failed`).
    pub clips: IntCounterVec,
    /// Time to write one clip, by method (`remux`, `transcode`).
    pub clip_write_seconds: HistogramVec,
    /// Full-resolution frames decoded continuously into a camera's evidence ring (a camera
    /// without a sub-stream; a sub-stream camera decodes its main stream only per alert).
    pub evidence_full_frames: IntCounterVec,
    /// Full-resolution snapshots decoded on demand from the compressed ring, by outcome
    /// (`decoded`, `fallback`: the detector's frame was used).
    pub evidence_stills: IntCounterVec,
    /// Time to decode one on-demand snapshot frame (the GOP up to the alert's frame).
    pub evidence_still_seconds: HistogramVec,
}

/// Raw latency samples in seconds, for benchmarks that need exact percentiles.
#[derive(Debug, Default)]
pub struct LatencySamples(std::sync::Mutex<Vec<f64>>);

impl LatencySamples {
    pub fn record(&self, seconds: f64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(seconds);
    }

    /// Every sample so far, emptying the store.
    pub fn take(&self) -> Vec<f64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Fine between 150 and 500 ms, where the frame-to-alert limit of a loaded machine lies.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.75,
    1.0, 2.0, 5.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let frames_decoded = counter(
            "vigie_ingest_frames_decoded_total",
            "Frames decoded per camera.",
            &["camera"],
        );
        let frames_dropped = counter(
            "vigie_frames_dropped_total",
            "Frames dropped before detection, by cause.",
            &["camera", "cause"],
        );
        let frames_inferred = counter(
            "vigie_detect_frames_inferred_total",
            "Frames run through the detector.",
            &["camera"],
        );
        let inference_seconds = histogram(
            "vigie_detect_inference_seconds",
            "Detector time per frame (pre-processing, inference, decoding, NMS).",
            &["camera"],
        );
        let pose_frames = counter(
            "vigie_pose_frames_total",
            "Frames run through the pose model (a rule needs poses, persons in view).",
            &["camera"],
        );
        let pose_people = counter(
            "vigie_pose_people_total",
            "Person tracks looked for on the frames run through the pose model.",
            &["camera"],
        );
        let pose_holds = counter(
            "vigie_pose_held_tracks_total",
            "Lost person tracks held on a confident lying pose, one per track and frame.",
            &["camera"],
        );
        let pose_seconds = histogram(
            "vigie_pose_inference_seconds",
            "Pose model time per frame (whole frame plus lying-person crops).",
            &["camera"],
        );
        let frame_to_alert_seconds = histogram(
            "vigie_alerts_frame_to_alert_seconds",
            "From capture of the triggering frame to the alert committed in the journal.",
            &["camera", "rule"],
        );
        let alerts = counter(
            "vigie_alerts_total",
            "Alerts journaled, by camera and rule.",
            &["camera", "rule"],
        );
        let camera_restarts = counter(
            "vigie_ingest_restarts_total",
            "Camera pipeline starts after the first (reconnects, restarts).",
            &["camera"],
        );
        let camera_state = IntGaugeVec::new(
            Opts::new(
                "vigie_ingest_camera_state",
                "1 for the camera's current state (starting, live, reconnecting, failed, stopped).",
            ),
            &["camera", "state"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(camera_state.clone()))
            .expect("unique metric");
        let alerts_delivered = counter(
            "vigie_delivery_alerts_sent_total",
            "Alerts sent to live consoles, by sink.",
            &["sink"],
        );
        let health_faults = counter(
            "vigie_health_faults_total",
            "Camera fault events (offline, frozen, obstructed, restored).",
            &["camera", "kind"],
        );
        let health_fault_open = IntGaugeVec::new(
            Opts::new(
                "vigie_health_fault_open",
                "1 for the camera's open fault (offline, frozen, obstructed).",
            ),
            &["camera", "kind"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(health_fault_open.clone()))
            .expect("unique metric");
        let last_frame_age_seconds = GaugeVec::new(
            Opts::new(
                "vigie_ingest_last_frame_age_seconds",
                "Seconds since the camera's last decoded frame.",
            ),
            &["camera"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_frame_age_seconds.clone()))
            .expect("unique metric");
        let frame_to_decision_seconds = histogram(
            "vigie_detect_frame_to_decision_seconds",
            "From capture of a frame to the end of its analysis (alert journaled, if any).",
            &["camera"],
        );
        let frames_skipped = counter(
            "vigie_detect_frames_skipped_total",
            "Frames not given to the detector, by cause (no_motion).",
            &["camera", "cause"],
        );
        let execution_provider = IntGaugeVec::new(
            Opts::new(
                "vigie_detect_execution_provider",
                "1 for the execution provider in use (used), with the one configured (requested).",
            ),
            &["requested", "used"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(execution_provider.clone()))
            .expect("unique metric");
        let retention_purged = counter(
            "vigie_retention_purged_total",
            "What retention purges deleted (images, alerts, decisions).",
            &["what"],
        );
        let alerts_withheld = counter(
            "vigie_alerts_withheld_total",
            "Events the governance gate did not let become alerts (stopped, not authorised).",
            &["camera", "rule"],
        );
        let alerts_shadow = counter(
            "vigie_alerts_shadow_total",
            "Alerts of rules in shadow mode: journaled for evaluation, shown to no operator.",
            &["camera", "rule"],
        );
        let clips = counter(
            "vigie_clips_total",
            "Alert clips by outcome (remux, transcode, failed).",
            &["outcome"],
        );
        let clip_write_seconds = histogram(
            "vigie_clips_write_seconds",
            "Time to write one alert clip, by method (remux, transcode).",
            &["method"],
        );
        let evidence_full_frames = counter(
            "vigie_evidence_full_frames_total",
            "Full-resolution frames decoded continuously into the evidence ring, per camera.",
            &["camera"],
        );
        let evidence_stills = counter(
            "vigie_evidence_stills_total",
            "Snapshots of a sub-stream camera decoded on demand from its main stream, by outcome (decoded, fallback).",
            &["outcome"],
        );
        let evidence_still_seconds = histogram(
            "vigie_evidence_still_seconds",
            "Time to decode one on-demand full-resolution snapshot frame.",
            &["outcome"],
        );
        Metrics {
            registry,
            evidence_full_frames,
            evidence_stills,
            evidence_still_seconds,
            clips,
            clip_write_seconds,
            retention_purged,
            alerts_withheld,
            alerts_shadow,
            frame_to_decision_seconds,
            frames_skipped,
            execution_provider,
            frames_decoded,
            frames_dropped,
            frames_inferred,
            inference_seconds,
            pose_frames,
            pose_people,
            pose_holds,
            pose_seconds,
            frame_to_alert_seconds,
            alerts,
            camera_restarts,
            camera_state,
            alerts_delivered,
            health_faults,
            health_fault_open,
            last_frame_age_seconds,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
