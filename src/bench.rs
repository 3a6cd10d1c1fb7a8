//! `vigie bench`: N copies of a clip through the full pipeline as fast as possible, then, in the
//! same run on the same machine, the same pipelines without inference (decode-only) and the
//! detector alone on a fixed image (inference-only), so the ratios hold on a noisy machine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alerts::{AlertBus, Journal};
use crate::config::Config;
use crate::detect::{init_runtime, Detector, Manifest};
use crate::engine::{Engine, EngineOptions};
use crate::metrics::Metrics;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Video clip to read (e.g. vtest.avi).
    #[arg(long, required = true)]
    pub clip: Option<PathBuf>,
    /// How many cameras read the clip at once.
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Detector workers (one ONNX Runtime session each).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub intra_threads: usize,
    /// Stop each phase after this many seconds even if the clips are not finished.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// Model manifest.
    #[arg(long, default_value = "models/models.toml")]
    pub manifest: PathBuf,
    /// Model name in the manifest (e.g. nanodet-m-416-int8).
    #[arg(long, default_value = "nanodet-m-416")]
    pub model: String,
    /// Inference-only phase length in seconds.
    #[arg(long, default_value_t = 10)]
    pub inference_seconds: u64,
    /// Let ONNX Runtime threads spin while idle.
    #[arg(long)]
    pub spinning: bool,
    /// Run only these phases (comma-separated: full, decode, inference); default all three.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Pose cost instead: the full pipeline twice in this run, detection only and with a
    /// `person_on_ground` rule on every camera; prints CPU per analysed frame and the ratio.
    #[arg(long)]
    pub pose: bool,
    /// Pose readings per second of that rule (`pose_fps`); with `--pose`.
    #[arg(long, default_value_t = 2.5)]
    pub pose_fps: f32,
    /// Analysed frames per second per camera (`detect_fps`; 0 = every frame).
    #[arg(long, default_value_t = 0.0)]
    pub detect_fps: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Journal(#[from] crate::alerts::JournalError),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
}

/// Results of one phase that runs cameras.
pub(crate) struct PhaseResult {
    pub seconds: f64,
    /// CPU time of the whole process (user + system) during the phase.
    pub cpu_seconds: f64,
    /// Detector and pose model time, summed over cameras.
    pub detect_seconds: f64,
    pub pose_seconds: f64,
    pub pose_frames: u64,
    pub pose_people: u64,
    pub per_camera: Vec<(String, u64, u64, u64)>,
    pub latencies_ms: Vec<f64>,
    pub alerts: u64,
}

/// The benchmark's configuration; `pose_fps`: add a `person_on_ground` rule at that rate.
pub(crate) fn bench_config(args: &BenchArgs, pose_fps: Option<f32>) -> Result<Config, BenchError> {
    let clip = args.clip.as_deref().unwrap_or(Path::new(""));
    let clip = std::fs::canonicalize(clip)
        .map_err(|e| BenchError::Config(format!("clip {}: {e}", clip.display())))?;
    let manifest = std::fs::canonicalize(&args.manifest)
        .map_err(|e| BenchError::Config(format!("manifest {}: {e}", args.manifest.display())))?;
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[detector]\nmanifest = {:?}\nmodel = {:?}\nworkers = {}\nintra_threads = {}\nspinning = {}\n",
        manifest.to_string_lossy(),
        args.model,
        args.workers,
        args.intra_threads,
        args.spinning
    );
    for i in 0..args.cameras {
        // A zone over the walkway of vtest.avi, so the alert path (snapshot, journal) is measured.
        text.push_str(&format!(
            "[[cameras]]\nid = \"bench-{i}\"\nsource = {:?}\nrealtime = false\ndetect_fps = {}\nqueue_capacity = 2\n\
             [[cameras.zones]]\nid = \"walkway\"\npoints = [[0.0, 0.3], [1.0, 0.3], [1.0, 0.8], [0.0, 0.8]]\n\
             [[cameras.rules]]\nid = \"walkway-intrusion\"\ntype = \"intrusion\"\nzone = \"walkway\"\nclasses = [\"person\"]\nmin_seconds = 0.5\ncooldown_seconds = 5\n",
            clip.to_string_lossy(),
            args.detect_fps
        ));
        if let Some(fps) = pose_fps {
            text.push_str(&format!(
                "[[cameras.rules]]\nid = \"fall\"\ntype = \"person_on_ground\"\npose_fps = {fps}\n"
            ));
        }
    }
    Config::from_toml(&text, Path::new("/")).map_err(|errs| {
        BenchError::Config(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

pub(crate) fn run_phase(
    config: &Config,
    decode_only: bool,
    max: Duration,
) -> Result<PhaseResult, BenchError> {
    let dir = std::env::temp_dir().join(format!(
        "vigie-bench-{}-{}",
        std::process::id(),
        if decode_only { "decode" } else { "full" }
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let journal = Arc::new(Journal::open(dir.join("journal.db"))?);
    let metrics = Metrics::new();
    let bus = AlertBus::new(journal.clone(), 4096, metrics.clone());
    let probe = metrics.clone();
    let mut rx = bus.subscribe();
    let done = Arc::new(AtomicBool::new(false));
    let alerts = Arc::new(AtomicU64::new(0));
    let collector = {
        let done = done.clone();
        let alerts = alerts.clone();
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match rx.try_recv() {
                    Ok(a) => {
                        alerts.fetch_add(1, Ordering::Relaxed);
                        lat.push((a.created_at_ms - a.frame_time_ms) as f64);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            lat
        })
    };
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let engine = Engine::start(
        config,
        bus,
        metrics,
        EngineOptions {
            decode_only,
            ..Default::default()
        },
    )?;
    let statuses = engine.statuses();
    while !engine.is_idle() && start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let per_camera = statuses
        .iter()
        .map(|s| {
            let snap = s.snapshot();
            (
                snap.id,
                snap.frames_decoded,
                snap.frames_inferred,
                snap.frames_dropped,
            )
        })
        .collect();
    engine.shutdown();
    done.store(true, Ordering::SeqCst);
    let latencies_ms = collector.join().unwrap_or_default();
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);
    let ids: Vec<String> = statuses.iter().map(|s| s.snapshot().id).collect();
    let sum = |h: &prometheus::HistogramVec| -> f64 {
        ids.iter()
            .map(|id| h.with_label_values(&[id]).get_sample_sum())
            .sum()
    };
    let count = |c: &prometheus::IntCounterVec| -> u64 {
        ids.iter().map(|id| c.with_label_values(&[id]).get()).sum()
    };
    Ok(PhaseResult {
        seconds,
        cpu_seconds: cpu,
        detect_seconds: sum(&probe.inference_seconds),
        pose_seconds: sum(&probe.pose_seconds),
        pose_frames: count(&probe.pose_frames),
        pose_people: count(&probe.pose_people),
        per_camera,
        latencies_ms,
        alerts: alerts.load(Ordering::Relaxed),
    })
}

/// The detector alone, `workers` threads in parallel, on one fixed frame.
fn inference_only(config: &Config, seconds: u64) -> Result<(u64, f64), BenchError> {
    let manifest_path = config.resolve(&config.detector.manifest);
    let manifest = Manifest::load(&manifest_path)?;
    let model_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    init_runtime(None)?;
    let opts = config.detector_options();
    let mut detectors = Vec::new();
    for _ in 0..config.detector.workers {
        detectors.push(Detector::load(
            &manifest,
            &model_dir,
            &config.detector.model,
            opts,
        )?);
    }
    // A fixed real frame: the first frame of the clip, through the camera's own pipeline.
    let (w, h) = detectors
        .first()
        .map(|d| d.input_size())
        .unwrap_or((416, 416));
    let frame = first_frame(config, w, h)?;
    let image: Arc<Vec<u8>> = Arc::new(frame.data);
    let count = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let threads: Vec<_> = detectors
        .into_iter()
        .map(|mut d| {
            let image = image.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                while Instant::now() < stop_at {
                    if d.detect_bgr(&image, w, h).is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok((count.load(Ordering::Relaxed), start.elapsed().as_secs_f64()))
}

/// The first frame of the first camera, decoded and scaled by the ingest pipeline.
fn first_frame(config: &Config, w: u32, h: u32) -> Result<crate::frames::Frame, BenchError> {
    use crate::ingest::{spawn_camera, CameraSpec, CameraStatus};
    let cam = config
        .cameras
        .first()
        .ok_or_else(|| BenchError::Config("no camera".into()))?;
    let source = cam
        .parsed_source
        .clone()
        .ok_or_else(|| BenchError::Config("no source".into()))?;
    let queue = Arc::new(crate::frames::FrameQueue::new(1));
    let status = Arc::new(CameraStatus::new(
        &cam.id,
        &cam.name,
        "",
        &source.redacted(),
    ));
    let handle = spawn_camera(
        CameraSpec::read_once(&cam.id, source, (w, h)),
        queue.clone(),
        status,
        Metrics::new(),
    )
    .map_err(crate::engine::EngineError::from)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let frame = loop {
        if let Some(f) = queue.pop() {
            break Some(f);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    handle.stop();
    frame.ok_or_else(|| BenchError::Config("the clip gave no frame".into()))
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied()
}

/// Peak resident set size of this process so far, in MiB (VmHWM).
/// User + system CPU time of this process so far.
pub(crate) fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    if args.pose {
        return crate::bench_pose::run(args);
    }
    let config = bench_config(args, None)?;
    let max = Duration::from_secs(args.max_seconds);
    println!(
        "vigie bench: {} camera(s) on {}, model {}, detection on every frame, {} worker(s) x {} intra-op thread(s), {} CPU(s)",
        args.cameras,
        args.clip.as_deref().unwrap_or(Path::new("")).display(),
        args.model,
        args.workers,
        args.intra_threads,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let want = |p: &str| args.only.is_empty() || args.only.iter().any(|o| o == p);
    let mut full_fps = 0.0;
    if want("full") {
        full_fps = report_full(&run_phase(&config, false, max)?);
    }
    let mut dec_fps = f64::INFINITY;
    if want("decode") {
        let dec = run_phase(&config, true, max)?;
        let dec_frames: u64 = dec.per_camera.iter().map(|c| c.1).sum();
        dec_fps = dec_frames as f64 / dec.seconds;
        println!(
            "\n[decode-only] {:.1} s: {} frames, {:.1} frames/s",
            dec.seconds, dec_frames, dec_fps
        );
    }
    let mut inf_fps = f64::INFINITY;
    if want("inference") {
        let (n, secs) = inference_only(&config, args.inference_seconds)?;
        inf_fps = n as f64 / secs;
        println!("[inference-only] {secs:.1} s: {n} frames, {inf_fps:.1} frames/s");
    }
    let bound = dec_fps.min(inf_fps);
    if want("full") && bound.is_finite() && bound > 0.0 {
        println!(
            "\nfull / min(decode-only, inference-only) = {:.1} / {:.1} = {:.2}",
            full_fps,
            bound,
            full_fps / bound
        );
    }
    Ok(())
}

/// Prints the full-pipeline table; returns the total inferred frames per second.
fn report_full(full: &PhaseResult) -> f64 {
    let rss = peak_rss_mib();
    println!("\n[full pipeline] {:.1} s", full.seconds);
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "camera", "decoded", "inferred", "dropped", "decoded/s", "inferred/s"
    );
    let (mut td, mut ti, mut tdrop) = (0, 0, 0);
    for (id, d, i, drop) in &full.per_camera {
        println!(
            "{:<12} {:>10} {:>10} {:>10} {:>12.1} {:>12.1}",
            id,
            d,
            i,
            drop,
            *d as f64 / full.seconds,
            *i as f64 / full.seconds
        );
        td += d;
        ti += i;
        tdrop += drop;
    }
    let full_fps = ti as f64 / full.seconds;
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>12.1} {:>12.1}",
        "total",
        td,
        ti,
        tdrop,
        td as f64 / full.seconds,
        full_fps
    );
    let mut lat = full.latencies_ms.clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    match (percentile(&lat, 0.5), percentile(&lat, 0.95)) {
        (Some(p50), Some(p95)) => println!(
            "alerts: {}   frame-to-alert latency p50 {:.0} ms, p95 {:.0} ms",
            full.alerts, p50, p95
        ),
        _ => println!("alerts: {} (no latency sample)", full.alerts),
    }
    if let Some(r) = rss {
        println!("peak RSS (full pipeline): {r:.0} MiB");
    }

    full_fps
}
