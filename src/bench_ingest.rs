//! `vigie bench-ingest`: the cost of camera ingest alone. N cameras read the same live source
//! (typically `vigie serve-rtsp --passthrough` of a 720p25 H.264 clip on loopback) through
//! decode and scaling to the detector's input, as `vigie run` does, with no detection: one
//! thread takes the frames out of the queues and throws them away. Prints, over a measured
//! window after every camera is live: frames per second per camera, frames lost (dropped from a
//! full queue, or never decoded compared with the nominal rate), the process CPU per camera and
//! the memory per camera.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clips::{ClipRing, RingStills};
use crate::config::{RtspTransport, Source};
use crate::evidence::CameraEvidence;
use crate::frames::FrameQueue;
use crate::ingest::{spawn_camera, CameraSpec, CameraState, CameraStatus, PipelineParams};
use crate::metrics::Metrics;

#[derive(Debug, clap::Args)]
pub struct BenchIngestArgs {
    /// Live source every camera reads (rtsp://…, http://… MJPEG, or test:PATTERN).
    #[arg(long)]
    pub url: String,
    /// How many cameras read it at once.
    #[arg(long, default_value_t = 16)]
    pub cameras: usize,
    /// Length of the measured window, after every camera is live.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Output size of the scaler (the detector's input).
    #[arg(long, default_value_t = 416)]
    pub width: u32,
    #[arg(long, default_value_t = 416)]
    pub height: u32,
    /// Nominal frame rate of the source, to count frames that never arrived.
    #[arg(long, default_value_t = 25.0)]
    pub expected_fps: f64,
    /// Threads of each camera's software decoder (0 = one per core).
    #[arg(long, default_value_t = 1)]
    pub decode_threads: i32,
    /// RTSP jitter buffer (`rtsp_latency_ms`).
    #[arg(long, default_value_t = 200)]
    pub latency_ms: u32,
    /// RTSP transport.
    #[arg(long, default_value = "tcp")]
    pub transport: String,
    /// Process id of the RTSP server, to report its CPU over the same window.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Detection rate (`detect_fps`): frames past the rate filter are scaled; 0 = every frame.
    #[arg(long, default_value_t = 0.0)]
    pub detect_fps: f32,
    /// Keep full-resolution frames for snapshots, as `snapshot_full_resolution` does.
    #[arg(long)]
    pub full_resolution: bool,
    /// A sub-stream for detection (`detect_source`); `--url` is then the main stream, kept
    /// compressed for snapshots decoded per alert (with --full-resolution).
    #[arg(long)]
    pub detect_url: Option<String>,
    /// With --detect-url and --full-resolution: decode the main stream continuously into a ring
    /// of full frames, the former way, to compare.
    #[arg(long)]
    pub main_decoded: bool,
    /// Tap each camera's compressed stream into a clip ring (`[clips]` defaults), and report
    /// the rings and the cost of one clip.
    #[arg(long)]
    pub clips: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchIngestError {
    #[error("{0}")]
    Args(String),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
}

/// CPU time (user + system) of a process in seconds, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at indices 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// `VmRSS` and `VmHWM` of this process in MiB.
pub(crate) fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The evidence side of each camera, as `vigie run` builds it for these settings, and its
/// compressed ring when its snapshots are decoded on demand.
fn evidence(
    args: &BenchIngestArgs,
    detect_source: Option<Source>,
    metrics: &Metrics,
) -> (Option<Arc<CameraEvidence>>, Option<Arc<ClipRing>>) {
    let sub = detect_source.is_some();
    if sub && args.full_resolution && !args.main_decoded {
        let ring = Arc::new(ClipRing::new(
            crate::clips::SNAPSHOT_KEEP_MS,
            64 * 1024 * 1024,
        ));
        let stills = Arc::new(RingStills::new(ring.clone(), metrics.clone()));
        let ev = CameraEvidence::from_parts(None, detect_source, 0).with_stills(stills);
        return (Some(Arc::new(ev)), Some(ring));
    }
    let per_analysed = if sub { 2 } else { 1 };
    let frames = if args.full_resolution {
        per_analysed * (2 + crate::evidence::RING_SLACK)
    } else {
        0
    };
    let ev = (frames > 0 || sub)
        .then(|| Arc::new(CameraEvidence::from_parts(None, detect_source, frames)));
    (ev, None)
}

pub fn run(args: &BenchIngestArgs) -> Result<(), BenchIngestError> {
    if args.cameras == 0 || args.seconds == 0 {
        return Err(BenchIngestError::Args(
            "--cameras and --seconds must be at least 1".into(),
        ));
    }
    let source = Source::parse(&args.url, std::path::Path::new("."))
        .map_err(|e| BenchIngestError::Args(format!("--url: {e}")))?;
    if !source.is_live() && !matches!(source, Source::Test { .. }) {
        return Err(BenchIngestError::Args(
            "--url must be a live source (rtsp://, http:// or test:)".into(),
        ));
    }
    let transport = match args.transport.as_str() {
        "tcp" => RtspTransport::Tcp,
        "udp" => RtspTransport::Udp,
        t => {
            return Err(BenchIngestError::Args(format!(
                "--transport {t}: tcp or udp"
            )))
        }
    };
    let detect_source = match &args.detect_url {
        Some(u) => Some(
            Source::parse(u, std::path::Path::new("."))
                .map_err(|e| BenchIngestError::Args(format!("--detect-url: {e}")))?,
        ),
        None => None,
    };
    crate::ingest::init()?;
    let (base_rss, _) = memory_mib();
    println!(
        "bench-ingest: {} cameras of {} -> decode + scale to {}x{} BGR, no detection; {} cores",
        args.cameras,
        source.redacted(),
        args.width,
        args.height,
        cores()
    );
    println!(
        "detect_fps {}; full-resolution frames kept: {}; detection sub-stream: {}",
        args.detect_fps,
        args.full_resolution,
        detect_source
            .as_ref()
            .map(Source::redacted)
            .unwrap_or("none".into())
    );
    println!("base RSS (GStreamer initialised, 0 cameras): {base_rss:.1} MiB");

    let metrics = Metrics::new();
    let clip_rings = crate::clips::ClipRings::new(crate::config::ClipsConfig::default());
    let mut rings = Vec::new();
    let mut cams = Vec::new();
    let mut handles = Vec::new();
    for i in 0..args.cameras {
        let id = format!("cam-{i:02}");
        let queue = Arc::new(FrameQueue::new(2));
        let status = Arc::new(CameraStatus::new(&id, &id, "", &source.redacted()));
        let (ev, snapshot_ring) = evidence(args, detect_source.clone(), &metrics);
        let spec = CameraSpec {
            id: Arc::from(id.as_str()),
            params: PipelineParams {
                source: source.clone(),
                rtsp_transport: transport,
                rtsp_latency_ms: args.latency_ms,
                detect_fps: args.detect_fps,
                width: args.width,
                height: args.height,
                realtime: true,
            },
            looping: false,
            decode_threads: args.decode_threads,
            stall_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
            evidence: ev,
            clip_ring: args
                .clips
                .then(|| clip_rings.start(&id, None))
                .flatten()
                .or(snapshot_ring),
        };
        rings.extend(spec.clip_ring.clone());
        handles.push(spawn_camera(
            spec,
            queue.clone(),
            status.clone(),
            metrics.clone(),
        )?);
        cams.push((queue, status));
    }
    // The consumer: takes every frame out and throws it away, as a detector that keeps up would.
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let queues: Vec<Arc<FrameQueue>> = cams.iter().map(|(q, _)| q.clone()).collect();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut taken = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut any = false;
                for q in &queues {
                    if let Some(f) = q.pop() {
                        taken += u64::from(f.width > 0);
                        any = true;
                    }
                }
                if !any {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            taken
        })
    };

    // Wait until every camera is live (bounded), then let them settle.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !cams.iter().all(|(_, s)| s.state() == CameraState::Live) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let live = cams
        .iter()
        .filter(|(_, s)| s.state() == CameraState::Live)
        .count();
    println!("{live}/{} cameras live; settling 3 s", args.cameras);
    std::thread::sleep(Duration::from_secs(3));

    let snap = |cams: &Vec<(Arc<FrameQueue>, Arc<CameraStatus>)>| -> Vec<(u64, u64, u64)> {
        cams.iter()
            .map(|(_, s)| {
                (
                    s.frames_decoded.load(Ordering::Relaxed),
                    s.frames_dropped.load(Ordering::Relaxed),
                    s.restarts.load(Ordering::Relaxed),
                )
            })
            .collect()
    };
    let server_pid = args.server_pid.map(|p| p.to_string());
    let before = snap(&cams);
    let cpu0 = cpu_seconds("self").unwrap_or(0.0);
    let srv0 = server_pid.as_deref().and_then(cpu_seconds);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let dt = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds("self").unwrap_or(0.0);
    let srv1 = server_pid.as_deref().and_then(cpu_seconds);
    let after = snap(&cams);
    let (rss, hwm) = memory_mib();

    stop.store(true, Ordering::SeqCst);
    let _ = consumer.join();
    for h in handles {
        h.stop();
    }

    let expected = args.expected_fps * dt;
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "camera", "fps in", "decoded", "q-dropped", "missing", "lost %", "restarts"
    );
    let (mut tot_dec, mut tot_drop, mut tot_missing, mut worst) = (0u64, 0u64, 0.0f64, 0.0f64);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let decoded = a.0 - b.0;
        let dropped = a.1 - b.1;
        let missing = (expected - decoded as f64).max(0.0);
        let lost = (dropped as f64 + missing) / expected * 100.0;
        worst = worst.max(lost);
        tot_dec += decoded;
        tot_drop += dropped;
        tot_missing += missing;
        println!(
            "cam-{i:02}   {:>9.2} {:>9} {:>9} {:>9.0} {:>7.2}% {:>8}",
            decoded as f64 / dt,
            decoded,
            dropped,
            missing,
            lost,
            a.2 - b.2
        );
    }
    let n = args.cameras as f64;
    let cpu_pct = (cpu1 - cpu0) / dt * 100.0;
    let lost_pct = (tot_drop as f64 + tot_missing) / (expected * n) * 100.0;
    println!(
        "total: {:.1} frames/s decoded and scaled ({:.2} per camera, nominal {:.1}); lost {:.2}% \
         ({} dropped from full queues, {:.0} never decoded), worst camera {:.2}%",
        tot_dec as f64 / dt,
        tot_dec as f64 / dt / n,
        args.expected_fps,
        lost_pct,
        tot_drop,
        tot_missing,
        worst
    );
    println!(
        "CPU (vigie process): {:.1}% of one core in all = {:.1}% per camera ({} cores: {:.1}% of the machine)",
        cpu_pct,
        cpu_pct / n,
        cores(),
        cpu_pct / cores() as f64
    );
    if let (Some(a), Some(b)) = (srv0, srv1) {
        println!(
            "CPU (RTSP server pid {}): {:.1}% of one core",
            args.server_pid.unwrap_or(0),
            (b - a) / dt * 100.0
        );
    }
    println!(
        "RSS: {:.1} MiB now, {:.1} MiB peak; {:.1} MiB per camera above the base of {:.1} MiB",
        rss,
        hwm,
        (rss - base_rss) / n,
        base_rss
    );
    if args.clips {
        crate::clips::bench::report(&rings, 10);
    }
    if detect_source.is_some() && args.full_resolution && !args.main_decoded {
        crate::clips::bench::report_stills(&rings);
    }
    Ok(())
}
