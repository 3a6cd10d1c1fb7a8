//! One camera's supervisor: builds its pipeline, watches the bus in one place, loops files,
//! restarts any source that fails or stops delivering frames (files included) with backoff,
//! probes an unreachable network camera between restarts so it is rebuilt as soon as it answers
//! again, and keeps the camera's status for the operator.
//!
//! The appsink callback only copies the frame and pushes it into the camera's queue (drop-oldest,
//! never blocking). A file read as fast as possible (benchmarks) is pulled by the supervisor
//! instead, with back-pressure, so no frame is decoded in vain.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::pipeline::{launch_description_with, split_credentials, FullBranch, PipelineParams};
use super::probe::{Probe, PROBE_INTERVAL};
use super::status::{CameraState, CameraStatus};
use crate::clips::{tap, ClipRing};
use crate::config::Source;
use crate::evidence::{CameraEvidence, FullFrame};
use crate::frames::{Frame, FrameQueue};
use crate::metrics::Metrics;

/// Errors of one pipeline run; they end that run, never the engine.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("camera `{camera}`: cannot build the pipeline: {reason}")]
    Build { camera: String, reason: String },
    #[error("camera `{camera}`: {reason}")]
    Runtime { camera: String, reason: String },
}

/// Starts GStreamer once per process.
pub fn init() -> Result<(), IngestError> {
    gst::init().map_err(|e| IngestError::Init(e.to_string()))
}

/// Everything a camera supervisor needs.
pub struct CameraSpec {
    pub id: Arc<str>,
    pub params: PipelineParams,
    /// Restart the file from the beginning at its end.
    pub looping: bool,
    /// Threads for libav decoders (0 = libav's own choice, one per core).
    pub decode_threads: i32,
    /// Restart a source (live or file) that delivered no frame for this long.
    pub stall_timeout: Duration,
    /// Longest wait between two restarts.
    pub max_backoff: Duration,
    /// Privacy masks and full-resolution frames of the camera (`None`: neither).
    pub evidence: Option<Arc<CameraEvidence>>,
    /// Where the camera's compressed stream is kept for alert clips (`None`: no clips).
    pub clip_ring: Option<Arc<ClipRing>>,
}

impl CameraSpec {
    /// A source read once, as fast as frames are taken from the queue (no frame dropped, none
    /// decoded in vain), scaled to `width` x `height`: for benchmarks and tests on a file.
    pub fn read_once(id: &str, source: crate::config::Source, (width, height): (u32, u32)) -> Self {
        CameraSpec {
            id: Arc::from(id),
            params: PipelineParams {
                source,
                rtsp_transport: crate::config::RtspTransport::Tcp,
                rtsp_latency_ms: 200,
                detect_fps: 0.0,
                width,
                height,
                realtime: false,
            },
            looping: false,
            decode_threads: 1,
            stall_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(1),
            evidence: None,
            clip_ring: None,
        }
    }
}

/// A running camera; dropping it does not stop it, call [`CameraHandle::stop`].
pub struct CameraHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraHandle {
    /// Asks the supervisor to stop (pipeline to NULL) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread
            .as_ref()
            .map(|t| t.is_finished())
            .unwrap_or(true)
    }
}

/// Starts the supervisor thread of one camera.
pub fn spawn_camera(
    spec: CameraSpec,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    metrics: Metrics,
) -> Result<CameraHandle, IngestError> {
    // Idempotent; done here so no caller can start a pipeline before GStreamer is ready.
    init()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let name = format!("cam-{}", spec.id);
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || supervise(spec, queue, status, metrics, stop2))
        .map_err(|e| IngestError::Init(e.to_string()))?;
    Ok(CameraHandle {
        stop,
        thread: Some(thread),
    })
}

/// Per-camera counters shared by every pipeline instance of the camera.
struct Shared {
    camera: Arc<str>,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    metrics: Metrics,
    seq: AtomicU64,
    clock: Mutex<StreamClock>,
    /// Source size packed as w << 32 | h; 0 = not known yet for this pipeline instance.
    source_size: AtomicU64,
    got_frame: AtomicBool,
    evidence: Option<Arc<CameraEvidence>>,
}

/// Makes stream timestamps monotonic per camera across file loops and pipeline restarts.
#[derive(Default)]
struct StreamClock {
    base: u64,
    last: Option<u64>,
}

impl StreamClock {
    /// The timestamp `pts` gets now, without moving the clock (the full-resolution branch).
    fn peek(&self, pts: u64) -> u64 {
        self.base.saturating_add(pts)
    }

    fn stamp(&mut self, pts: u64) -> u64 {
        let mut ts = self.base.saturating_add(pts);
        if let Some(last) = self.last {
            if ts <= last {
                // The stream started again: continue one nominal frame after the last one.
                self.base = last.saturating_add(40_000_000).saturating_sub(pts);
                ts = self.base.saturating_add(pts);
            }
        }
        self.last = Some(ts);
        ts
    }
}

enum RunEnd {
    /// Asked to stop.
    Stopped,
    /// A file that does not loop reached its end.
    Finished,
    /// Error, end of a live stream or stall: try again.
    Retry(String),
}

fn supervise(
    spec: CameraSpec,
    queue: Arc<FrameQueue>,
    status: Arc<CameraStatus>,
    metrics: Metrics,
    stop: Arc<AtomicBool>,
) {
    let shared = Arc::new(Shared {
        camera: spec.id.clone(),
        queue,
        status: status.clone(),
        metrics: metrics.clone(),
        seq: AtomicU64::new(0),
        clock: Mutex::new(StreamClock::default()),
        source_size: AtomicU64::new(0),
        got_frame: AtomicBool::new(false),
        evidence: spec.evidence.clone(),
    });
    let cam = spec.id.to_string();
    let probe = Probe::of(&spec.params.source);
    let mut attempt: u32 = 0;
    let mut first = true;
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if !first {
            status.restarts.fetch_add(1, Ordering::Relaxed);
            metrics.camera_restarts.with_label_values(&[&cam]).inc();
        }
        first = false;
        set_state(&status, &metrics, CameraState::Starting, None);
        let started = Instant::now();
        match run_once(&spec, &shared, &stop) {
            Ok(RunEnd::Stopped) => break,
            Ok(RunEnd::Finished) => {
                tracing::info!(camera = %cam, "end of file");
                set_state(&status, &metrics, CameraState::Stopped, None);
                return;
            }
            Ok(RunEnd::Retry(reason))
            | Err(IngestError::Runtime { reason, .. })
            | Err(IngestError::Build { reason, .. }) => {
                // GStreamer messages may quote the URL: never show its credentials.
                let reason = scrub_credentials(&reason, &spec.params.source);
                // A run that delivered frames for a while resets the backoff.
                if started.elapsed() > Duration::from_secs(30) {
                    attempt = 0;
                }
                attempt = attempt.saturating_add(1);
                let wait = backoff(attempt, spec.max_backoff);
                tracing::warn!(camera = %cam, %reason, retry_in_ms = wait.as_millis() as u64, "camera pipeline stopped");
                // Files too are retried (a file may be replaced): reconnecting, like a camera.
                set_state(&status, &metrics, CameraState::Reconnecting, Some(reason));
                match wait_before_retry(wait, probe.as_ref(), &stop) {
                    Wait::Stopped => break,
                    Wait::Elapsed => {}
                    Wait::CameraBack => {
                        tracing::info!(camera = %cam, "camera answers again: reconnecting now");
                    }
                }
            }
            Err(e @ IngestError::Init(_)) => {
                set_state(&status, &metrics, CameraState::Failed, Some(e.to_string()));
                return;
            }
        }
    }
    set_state(&status, &metrics, CameraState::Stopped, None);
}

/// Removes the source's user and password from a message (GStreamer errors may quote the URL).
fn scrub_credentials(message: &str, source: &Source) -> String {
    let url = match source {
        Source::Rtsp { url } | Source::Http { url } => url,
        _ => return message.to_string(),
    };
    let (_, creds) = split_credentials(url);
    let mut out = message.replace(url.as_str(), &source.redacted());
    if let Some((_, pw)) = creds {
        let raw_userinfo = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.rsplit_once('@'))
            .map(|(u, _)| u.to_string());
        for secret in [raw_userinfo, Some(pw)].into_iter().flatten() {
            if !secret.is_empty() {
                out = out.replace(&secret, "***");
            }
        }
    }
    out
}

fn set_state(status: &CameraStatus, metrics: &Metrics, state: CameraState, error: Option<String>) {
    status.set_state(state, error);
    for s in CameraState::ALL {
        metrics
            .camera_state
            .with_label_values(&[&status.id, s.as_str()])
            .set(i64::from(s == state));
    }
}

/// Exponential backoff from 1 s to `cap`, with up to 20 % jitter so cameras that failed together
/// do not reconnect together.
fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 1000.0 * 0.2);
    base + jitter
}

/// How a wait between two pipeline runs ended.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    Stopped,
    Elapsed,
    /// The probe failed, then succeeded: the camera is back before the backoff ended.
    CameraBack,
}

/// Waits `d` (backoff), in small steps. With a probe, knocks at the camera every
/// [`PROBE_INTERVAL`]: once it has been seen unreachable, the first success ends the wait. A
/// camera reachable from the start (it answers TCP but the stream fails) waits the full backoff,
/// so a broken camera is never rebuilt faster than the backoff allows.
fn wait_before_retry(d: Duration, probe: Option<&Probe>, stop: &AtomicBool) -> Wait {
    let until = Instant::now() + d;
    let mut next_probe = Instant::now() + PROBE_INTERVAL.min(d / 2);
    let mut seen_down = false;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return Wait::Stopped;
        }
        if let Some(probe) = probe.filter(|_| Instant::now() >= next_probe) {
            next_probe = Instant::now() + PROBE_INTERVAL;
            if !probe.reachable() {
                seen_down = true;
            } else if seen_down {
                return Wait::CameraBack;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if stop.load(Ordering::SeqCst) {
        Wait::Stopped
    } else {
        Wait::Elapsed
    }
}

fn build(
    spec: &CameraSpec,
    shared: &Arc<Shared>,
) -> Result<(gst::Pipeline, gst_app::AppSink), IngestError> {
    let cam = spec.id.to_string();
    let berr = |reason: String| IngestError::Build {
        camera: cam.clone(),
        reason,
    };
    let (params, full) = detection_params(spec);
    if params.source != spec.params.source {
        let main = match &full {
            Some(FullBranch::MainCompressed(_)) => "kept compressed, decoded per alert",
            Some(_) => "decoded continuously",
            None => "not opened",
        };
        tracing::info!(camera = %spec.id, sub_stream = %params.source.redacted(), main_stream = main, "detection reads the sub-stream; snapshots come from the main stream");
    }
    let desc = launch_description_with(&params, full.as_ref());
    let element = gst::parse::launch(&desc).map_err(|e| berr(e.to_string()))?;
    let pipeline = element
        .downcast::<gst::Pipeline>()
        .map_err(|_| berr("the description is not a pipeline".into()))?;
    let appsink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| berr("no appsink named `sink`".into()))?;

    // Bound libav's decoder threads: with many cameras, one thread per core each oversubscribes.
    let threads = spec.decode_threads;
    // Clips: the main stream's compressed video, tapped at its decoder (never when frames are
    // pulled from a file as fast as possible: their time is not the clock's).
    let clips = spec
        .clip_ring
        .clone()
        .filter(|_| !spec.params.pull_mode())
        .map(|ring| (tap::main_decodebin(&pipeline), ring));
    // A main stream kept compressed only (sub-stream camera): tapped at its sink, never decoded.
    if let (Some(sink), Some((_, ring))) = (pipeline.by_name("main_sink"), &clips) {
        tap::attach(&sink, ring.clone());
    }
    pipeline.connect_deep_element_added(move |_, bin, element| {
        if let Some((decodebin, ring)) = &clips {
            tap::on_element_added(bin, element, decodebin, ring);
        }
        let is_libav = element
            .factory()
            .map(|f| f.name().starts_with("avdec_"))
            .unwrap_or(false);
        if is_libav && element.find_property("max-threads").is_some() {
            element.set_property("max-threads", threads);
        }
    });

    // Count every decoded frame, before the detection-rate filter.
    if let Some(pad) = pipeline.by_name("rate").and_then(|r| r.static_pad("sink")) {
        let sh = shared.clone();
        let counter = sh.metrics.frames_decoded.with_label_values(&[&sh.camera]);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            // Sources without a frame rate (MJPEG over HTTP) carry no buffer duration, which
            // videorate's max-rate cannot handle (GStreamer 1.22 aborts): give them a nominal one.
            if let Some(buffer) = info.buffer_mut() {
                if buffer.duration().is_none() {
                    buffer
                        .make_mut()
                        .set_duration(gst::ClockTime::from_mseconds(40));
                }
            }
            sh.status.frame_decoded();
            counter.inc();
            gst::PadProbeReturn::Ok
        });
    }
    shared.source_size.store(0, Ordering::SeqCst);
    shared.got_frame.store(false, Ordering::SeqCst);
    let scale = pipeline.by_name("scale");

    if !spec.params.pull_mode() {
        let sh = shared.clone();
        let dropped = sh
            .metrics
            .frames_dropped
            .with_label_values(&[&sh.camera, "queue_full"]);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = frame_from_sample(&sh, &sample, scale.as_ref()) {
                        if sh.queue.push(frame) {
                            sh.status.frames_dropped.fetch_add(1, Ordering::Relaxed);
                            dropped.inc();
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    connect_full_branch(&pipeline, shared);
    Ok((pipeline, appsink))
}

/// What the detection branch reads (the sub-stream when there is one) and the full-resolution
/// branch to add: with a sub-stream, the main stream is only parsed for the compressed ring when
/// snapshots are decoded on demand (decoded continuously only when a ring of decoded frames was
/// asked for: `bench-ingest --main-decoded`, the former way).
fn detection_params(spec: &CameraSpec) -> (PipelineParams, Option<FullBranch>) {
    let Some(ev) = spec.evidence.as_deref() else {
        return (spec.params.clone(), None);
    };
    let keeps_full = ev.ring().is_some();
    let main = spec.params.source.clone();
    match ev.detect_source() {
        Some(sub) => {
            let full = if keeps_full {
                Some(FullBranch::MainSource(main))
            } else {
                // A file read as fast as possible cannot be kept in step with the sub-stream.
                (ev.decodes_on_demand() && !spec.params.pull_mode())
                    .then_some(FullBranch::MainCompressed(main))
            };
            let params = PipelineParams {
                source: sub.clone(),
                ..spec.params.clone()
            };
            (params, full)
        }
        None => (spec.params.clone(), keeps_full.then_some(FullBranch::Tee)),
    }
}

/// The full-resolution appsink only copies its frame into the camera's ring (never waits).
fn connect_full_branch(pipeline: &gst::Pipeline, shared: &Arc<Shared>) {
    let Some(full) = pipeline
        .by_name("full")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
    else {
        return;
    };
    let sh = shared.clone();
    let full_frames = sh
        .metrics
        .evidence_full_frames
        .with_label_values(&[&sh.camera]);
    full.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let ring = sh.evidence.as_deref().and_then(CameraEvidence::ring);
                if let (Some(ring), Some(frame)) = (ring, full_frame_from_sample(&sh, &sample)) {
                    ring.push(frame);
                    full_frames.inc();
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// Copies an I420 sample, stamped on the detection clock.
fn full_frame_from_sample(sh: &Shared, sample: &gst::Sample) -> Option<FullFrame> {
    let pts = sample.buffer()?.pts().map(|t| t.nseconds()).unwrap_or(0);
    let pts_ns = sh.clock.lock().map(|c| c.peek(pts)).unwrap_or(pts);
    FullFrame::from_sample(sample, pts_ns)
}

/// Copies one sample into a [`Frame`]; `None` (and a log line) if it cannot be read.
fn frame_from_sample(
    sh: &Shared,
    sample: &gst::Sample,
    scale: Option<&gst::Element>,
) -> Option<Frame> {
    let buffer = sample.buffer()?;
    let caps = sample.caps()?;
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (w, h) = (info.width(), info.height());
    let row = w as usize * 3;
    let stride = usize::try_from(frame.plane_stride()[0]).ok()?;
    let plane = frame.plane_data(0).ok()?;
    let mut data = Vec::with_capacity(row * h as usize);
    if stride == row {
        data.extend_from_slice(plane.get(..row * h as usize)?);
    } else {
        for y in 0..h as usize {
            data.extend_from_slice(plane.get(y * stride..y * stride + row)?);
        }
    }
    // Privacy first: nothing downstream (health, motion, detector, snapshot) sees the masked area.
    if let Some(mask) = sh.evidence.as_deref().and_then(CameraEvidence::mask) {
        mask.apply(&mut data, w, h);
    }
    let mut size = sh.source_size.load(Ordering::Relaxed);
    if size == 0 {
        size = scale
            .and_then(|s| s.static_pad("sink"))
            .and_then(|p| p.current_caps())
            .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
            .map(|i| (u64::from(i.width()) << 32) | u64::from(i.height()))
            .unwrap_or((u64::from(w) << 32) | u64::from(h));
        sh.source_size.store(size, Ordering::Relaxed);
    }
    let pts = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
    let pts_ns = sh.clock.lock().map(|mut c| c.stamp(pts)).unwrap_or(pts);
    sh.got_frame.store(true, Ordering::Relaxed);
    Some(Frame {
        camera: sh.camera.clone(),
        seq: sh.seq.fetch_add(1, Ordering::Relaxed),
        pts_ns,
        captured_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        captured: Instant::now(),
        width: w,
        height: h,
        source_width: (size >> 32) as u32,
        source_height: (size & 0xffff_ffff) as u32,
        data,
    })
}

/// One life of the pipeline, from build to NULL.
fn run_once(
    spec: &CameraSpec,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
) -> Result<RunEnd, IngestError> {
    let cam = spec.id.to_string();
    let (pipeline, appsink) = build(spec, shared)?;
    let result = drive(spec, shared, stop, &pipeline, &appsink);
    // Always back to NULL, whatever happened, so no thread or socket is left behind.
    let _ = pipeline.set_state(gst::State::Null);
    result.map_err(|reason| IngestError::Runtime {
        camera: cam,
        reason,
    })
}

fn drive(
    spec: &CameraSpec,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
    pipeline: &gst::Pipeline,
    appsink: &gst_app::AppSink,
) -> Result<RunEnd, String> {
    let bus = pipeline.bus().ok_or("pipeline has no bus")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| first_error(&bus).unwrap_or_else(|| "cannot start the pipeline".into()))?;
    let is_file = matches!(spec.params.source, Source::File { .. });
    let pull = spec.params.pull_mode();
    let scale = pipeline.by_name("scale");
    let mut last_progress = Instant::now();
    let mut last_seq = shared.seq.load(Ordering::Relaxed);
    // Frame count at the start of this pass over the file: a pass without a frame is an error,
    // not a loop to spin in forever.
    let mut pass_start = last_seq;
    let mut pending: Option<Frame> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(RunEnd::Stopped);
        }
        // Back-pressure path: hand the pending frame to the queue when there is room.
        if pull {
            if let Some(f) = pending.take() {
                if let Err(f) = shared.queue.try_push(f) {
                    pending = Some(f);
                }
            }
            if pending.is_none() {
                if let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(5)) {
                    pending = frame_from_sample(shared, &sample, scale.as_ref());
                }
            } else {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        let timeout = if pull {
            gst::ClockTime::ZERO
        } else {
            gst::ClockTime::from_mseconds(100)
        };
        if let Some(msg) = bus.timed_pop(timeout) {
            use gst::MessageView;
            match msg.view() {
                MessageView::Error(e) => {
                    let src = e
                        .src()
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default();
                    return Err(format!("{} ({src})", e.error()));
                }
                MessageView::Warning(w) => {
                    let warning = scrub_credentials(&w.error().to_string(), &spec.params.source);
                    tracing::warn!(camera = %spec.id, %warning, "pipeline warning");
                }
                MessageView::Eos(_) => {
                    if pull && !drain_pull(shared, appsink, scale.as_ref(), &mut pending, stop) {
                        return Ok(RunEnd::Stopped);
                    }
                    if is_file && shared.seq.load(Ordering::Relaxed) == pass_start {
                        return Ok(RunEnd::Retry(
                            "the file ended without a single decodable frame (truncated or \
                             damaged?)"
                                .into(),
                        ));
                    }
                    if is_file && spec.looping {
                        pass_start = shared.seq.load(Ordering::Relaxed);
                        pipeline
                            .seek_simple(
                                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                                gst::ClockTime::ZERO,
                            )
                            .map_err(|_| "cannot seek back to the start of the file".to_string())?;
                        continue;
                    }
                    if is_file {
                        return Ok(RunEnd::Finished);
                    }
                    return Ok(RunEnd::Retry("the stream ended".into()));
                }
                _ => {}
            }
        }
        let seq = shared.seq.load(Ordering::Relaxed);
        if seq != last_seq {
            last_seq = seq;
            last_progress = Instant::now();
            if shared.status.state() != CameraState::Live {
                set_state(&shared.status, &shared.metrics, CameraState::Live, None);
                tracing::info!(camera = %spec.id, "camera live");
            }
        } else if pending.is_some() {
            // A frame waiting for room in the queue: the detector's delay, not the source's.
            last_progress = Instant::now();
        } else if last_progress.elapsed() > spec.stall_timeout {
            // Every source, files included: no state lasts without a frame, an error or a retry.
            return Ok(RunEnd::Retry(format!(
                "no frame for {} s (stall)",
                spec.stall_timeout.as_secs_f32()
            )));
        }
    }
}

/// At the end of a file read with back-pressure: hands the pending frame and those still in the
/// appsink to the queue. `false` when asked to stop meanwhile.
fn drain_pull(
    shared: &Arc<Shared>,
    appsink: &gst_app::AppSink,
    scale: Option<&gst::Element>,
    pending: &mut Option<Frame>,
    stop: &AtomicBool,
) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let frame = match pending.take() {
            Some(f) => f,
            None => match appsink
                .try_pull_sample(gst::ClockTime::ZERO)
                .and_then(|s| frame_from_sample(shared, &s, scale))
            {
                Some(f) => f,
                None => return true,
            },
        };
        if let Err(f) = shared.queue.try_push(frame) {
            *pending = Some(f);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The first error message waiting on the bus, if any.
fn first_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_clock_is_monotonic_across_loops() {
        let mut c = StreamClock::default();
        assert_eq!(c.stamp(0), 0);
        assert_eq!(c.stamp(100), 100);
        let after_loop = c.stamp(0);
        assert!(after_loop > 100);
        assert!(c.stamp(40) > after_loop);
    }

    #[test]
    fn credentials_are_scrubbed_from_errors() {
        let src = Source::Rtsp {
            url: "rtsp://admin:s3cret@10.0.0.5/cam".into(),
        };
        let m = scrub_credentials(
            "Could not open rtsp://admin:s3cret@10.0.0.5/cam; password s3cret refused",
            &src,
        );
        assert!(!m.contains("s3cret"), "{m}");
        assert!(m.contains("rtsp://***@10.0.0.5/cam"), "{m}");
    }

    #[test]
    fn backoff_grows_to_the_cap_with_bounded_jitter() {
        let cap = Duration::from_secs(30);
        let b1 = backoff(1, cap);
        assert!(b1 >= Duration::from_secs(1) && b1 <= Duration::from_millis(1200));
        let b3 = backoff(3, cap);
        assert!(b3 >= Duration::from_secs(4) && b3 <= Duration::from_millis(4800));
        let b20 = backoff(20, cap);
        assert!(b20 >= cap && b20 <= cap.mul_f64(1.2));
    }
}
