//! `vigie bench capacity`: how many live cameras this machine holds at a target detection rate.
//!
//! N cameras read the same source live (a file played at its own rate and looping, or an
//! `rtsp://` URL) through the whole engine (decode, scale, motion gating if asked, detection,
//! tracking, an intrusion rule, the journal). N grows until one step fails:
//! - a camera decides fewer than 98 % of its target rate (frames analysed by the detector, plus
//!   frames skipped by motion gating, which are decided too);
//! - more than 1 % of the frames handed to detection are dropped (queue full, or too old);
//! - p95 of frame-to-decision (capture to the end of the frame's analysis, which includes the
//!   alert journaled for a frame that raised one) is over the limit;
//! - p95 of frame-to-alert (capture to the alert's journal commit) is over the limit. It is the
//!   same time for a camera analysed on its main stream; for a camera with a sub-stream, the
//!   alert waits for its full-resolution snapshot after the frame is decided.
//!
//! Prints one table row per step and a JSON summary; CPU is the process's user + system time
//! over the window (100 % = one core), RSS is measured above the process's RSS before the first
//! step (so it includes the detector sessions).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alerts::{AlertBus, Journal};
use crate::bench_ingest::{cores, cpu_seconds, memory_mib};
use crate::config::{Config, Source};
use crate::engine::{Engine, EngineOptions};
use crate::ingest::CameraState;
use crate::metrics::{LatencySamples, Metrics};

/// The intrusion zone of the benchmark (the paved square of vtest.avi, as in the demo).
const ZONE: &str = "[[0.57, 0.41], [1.0, 0.41], [1.0, 0.73], [0.78, 0.69], [0.57, 0.54]]";

#[derive(Debug, Clone, clap::Args)]
pub struct CapacityArgs {
    /// What every camera reads: a video file (played at its own rate, looping; e.g. the 720p25
    /// clip of deploy/make-bench-clip.sh) or an rtsp:// URL.
    #[arg(long)]
    pub source: String,
    /// A sub-stream every camera's detection reads (`detect_source`): a file (e.g. the 640x360
    /// clip of `deploy/make-bench-clip.sh … 640x360`) or an rtsp:// URL. `--source` is then the
    /// main stream, kept compressed for snapshots and clips.
    #[arg(long)]
    pub detect_source: Option<String>,
    /// Target detection rate per camera (frames per second).
    #[arg(long, default_value_t = 5.0)]
    pub detect_fps: f32,
    /// Camera counts to try, in order (e.g. `6,8,10`); default: --from, --from + --step, ...
    #[arg(long, value_delimiter = ',')]
    pub cameras: Vec<usize>,
    #[arg(long, default_value_t = 2)]
    pub from: usize,
    #[arg(long, default_value_t = 2)]
    pub step: usize,
    #[arg(long, default_value_t = 64)]
    pub max: usize,
    /// Measured window per step, after every camera is live and the warm-up.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    #[arg(long, default_value_t = 8)]
    pub warmup: u64,
    /// Limit on p95 frame-to-decision (frame-to-alert for frames that raise one), ms.
    #[arg(long, default_value_t = 300.0)]
    pub latency_limit_ms: f64,
    /// Model name in the manifest (e.g. nanodet-m-416-int8).
    #[arg(long, default_value = "nanodet-m-416")]
    pub model: String,
    #[arg(long, default_value = "models/models.toml")]
    pub manifest: PathBuf,
    /// Detector input `WIDTHxHEIGHT` (`[detector] input`, e.g. 416x224 for a 16:9 sub-stream);
    /// default: the model's own size.
    #[arg(long, value_parser = crate::config::parse_input_size)]
    pub input: Option<[u32; 2]>,
    /// Detector workers (one ONNX Runtime session each).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub intra_threads: usize,
    /// Motion gating on every camera (`[cameras.motion] enabled = true`, default settings).
    #[arg(long)]
    pub motion: bool,
    /// Snapshots from the detector's frame (`snapshot_full_resolution = false`): no main-stream
    /// decode per alert, so a sub-stream camera's alert is not held back by it.
    #[arg(long)]
    pub detector_snapshots: bool,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Go on with the next counts after a failed step (default: stop at the first failure).
    #[arg(long)]
    pub keep_going: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("{0}")]
    Args(String),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Journal(#[from] crate::alerts::JournalError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One step: N cameras for one window.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub cameras: usize,
    pub seconds: f64,
    /// Frames decided per second (analysed + skipped by motion gating), worst camera and mean.
    pub min_rate: f64,
    pub mean_rate: f64,
    /// Of which analysed by the detector (mean per camera).
    pub detector_rate: f64,
    /// Frames skipped by motion gating, % of the decided ones.
    pub skipped_pct: f64,
    /// Frames dropped (queue full or too old), % of those handed to detection.
    pub dropped_pct: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// p95 of frame-to-alert over the alerts journaled in the window (NaN: none).
    pub alert_p95_ms: f64,
    pub alerts: u64,
    /// Full-resolution stills decoded from the main stream in the window (sub-stream cameras
    /// whose snapshots come from the main stream), and those that could not be made.
    pub stills: u64,
    pub stills_failed: u64,
    /// Process CPU over the window per camera, % of one core.
    pub cpu_per_camera_pct: f64,
    pub rss_mib: f64,
    pub rss_per_camera_mib: f64,
    /// Empty when the step held; otherwise every limit it broke.
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    source: String,
    model: &'a str,
    /// `[detector] input` (`None`: the model's size).
    input: Option<[u32; 2]>,
    detect_fps: f32,
    motion_gating: bool,
    detector_snapshots: bool,
    workers: usize,
    intra_threads: usize,
    latency_limit_ms: f64,
    cores: usize,
    /// The largest camera count that held, before the first failure.
    held: usize,
    steps: &'a [Step],
}

pub fn run(args: &CapacityArgs) -> Result<(), CapacityError> {
    let counts = counts(args)?;
    crate::ingest::init().map_err(crate::engine::EngineError::from)?;
    let (base_rss, _) = memory_mib();
    let source = Source::parse(&args.source, Path::new("."))
        .map_err(|e| CapacityError::Args(format!("--source: {e}")))?;
    println!(
        "bench capacity: {}{} at {} detections/s per camera, model {}{}, {} worker(s) x {} \
         thread(s), motion gating {}, snapshots from {}, p95 limit {} ms, {} cores",
        source.redacted(),
        args.detect_source
            .as_deref()
            .map(|d| format!(" (detection on the sub-stream {d})"))
            .unwrap_or_default(),
        args.detect_fps,
        args.model,
        args.input
            .map(|[w, h]| format!(" at {w}x{h}"))
            .unwrap_or_default(),
        args.workers,
        args.intra_threads,
        if args.motion { "on" } else { "off" },
        if args.detector_snapshots {
            "the detector's frame"
        } else {
            "the main stream"
        },
        args.latency_limit_ms,
        cores()
    );
    println!(
        "{:>4} {:>15} {:>8} {:>8} {:>8} {:>20} {:>7} {:>14} {:>13} {:>9} {:>10}  verdict",
        "N",
        "rate min/mean",
        "skipped",
        "dropped",
        "p50 ms",
        "p95 / p99 ms",
        "alerts",
        "alert p95 ms",
        "stills ok/no",
        "CPU/cam",
        "RSS/cam"
    );
    let mut steps = Vec::new();
    let mut held = 0;
    for n in counts {
        let step = run_step(args, n, base_rss)?;
        println!(
            "{:>4} {:>7.2}/{:<7.2} {:>7.1}% {:>7.2}% {:>8.0} {:>9.0} / {:<8.0} {:>7} {:>14.0} {:>6}/{:<6} {:>8.1}% {:>6.1} MiB  {}",
            step.cameras,
            step.min_rate,
            step.mean_rate,
            step.skipped_pct,
            step.dropped_pct,
            step.p50_ms,
            step.p95_ms,
            step.p99_ms,
            step.alerts,
            step.alert_p95_ms,
            step.stills,
            step.stills_failed,
            step.cpu_per_camera_pct,
            step.rss_per_camera_mib,
            if step.failures.is_empty() {
                "held".to_string()
            } else {
                format!("NOT held: {}", step.failures.join("; "))
            }
        );
        let ok = step.failures.is_empty();
        if ok && steps.iter().all(|s: &Step| s.failures.is_empty()) {
            held = n;
        }
        steps.push(step);
        if !ok && !args.keep_going {
            break;
        }
    }
    let summary = Summary {
        source: source.redacted(),
        model: &args.model,
        input: args.input,
        detect_fps: args.detect_fps,
        motion_gating: args.motion,
        detector_snapshots: args.detector_snapshots,
        workers: args.workers,
        intra_threads: args.intra_threads,
        latency_limit_ms: args.latency_limit_ms,
        cores: cores(),
        held,
        steps: &steps,
    };
    println!("held: {held} cameras");
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    println!("{json}");
    if let Some(path) = &args.json {
        std::fs::write(path, &json).map_err(|source| CapacityError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn counts(args: &CapacityArgs) -> Result<Vec<usize>, CapacityError> {
    if args.detect_fps.is_nan()
        || args.detect_fps <= 0.0
        || args.seconds == 0
        || args.step == 0
        || args.from == 0
    {
        return Err(CapacityError::Args(
            "--detect-fps, --seconds, --from and --step must be positive".into(),
        ));
    }
    if args.cameras.contains(&0) {
        return Err(CapacityError::Args("--cameras: counts start at 1".into()));
    }
    Ok(if args.cameras.is_empty() {
        (args.from..=args.max.max(args.from))
            .step_by(args.step)
            .collect()
    } else {
        args.cameras.clone()
    })
}

/// The engine configuration of one step: `n` cameras on the source, an intrusion rule each.
fn step_config(args: &CapacityArgs, n: usize, journal: &Path) -> Result<Config, CapacityError> {
    let manifest = std::fs::canonicalize(&args.manifest)
        .map_err(|e| CapacityError::Args(format!("--manifest {}: {e}", args.manifest.display())))?;
    let (source, is_file) = camera_source(&args.source, "--source")?;
    let detect_source = match &args.detect_source {
        Some(d) => format!(
            "detect_source = {:?}\n",
            camera_source(d, "--detect-source")?.0
        ),
        None => String::new(),
    };
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[journal]\npath = {:?}\n[detector]\nmanifest = {:?}\n\
         model = {:?}\nworkers = {}\nintra_threads = {}\n",
        journal.to_string_lossy(),
        manifest.to_string_lossy(),
        args.model,
        args.workers,
        args.intra_threads,
    );
    if let Some([w, h]) = args.input {
        text.push_str(&format!("input = [{w}, {h}]\n"));
    }
    for i in 0..n {
        text.push_str(&format!(
            "[[cameras]]\nid = \"cam-{i:02}\"\nsource = {source:?}\n{detect_source}loop = {is_file}\nrealtime = true\n\
             detect_fps = {}\nqueue_capacity = 2\nsnapshot_full_resolution = {}\n[cameras.motion]\nenabled = {}\n\
             [[cameras.zones]]\nid = \"esplanade\"\npoints = {ZONE}\n\
             [[cameras.rules]]\nid = \"esplanade-intrusion\"\ntype = \"intrusion\"\nzone = \"esplanade\"\n\
             classes = [\"person\"]\nmin_seconds = 1.0\ncooldown_seconds = 10\n",
            args.detect_fps, !args.detector_snapshots, args.motion
        ));
    }
    Config::from_toml(&text, Path::new("/")).map_err(|errs| {
        CapacityError::Args(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// A camera source as the configuration takes it (a file made absolute), and whether it is a
/// file.
fn camera_source(arg: &str, flag: &str) -> Result<(String, bool), CapacityError> {
    let is_file = !arg.contains("://") || arg.starts_with("file:");
    if !is_file {
        return Ok((arg.to_string(), false));
    }
    let path = std::fs::canonicalize(arg.trim_start_matches("file:"))
        .map_err(|e| CapacityError::Args(format!("{flag} {arg}: {e}")))?;
    Ok((path.to_string_lossy().into_owned(), true))
}

/// Per camera: (analysed, skipped by motion gating, dropped, alerts).
fn counters(metrics: &Metrics, n: usize) -> Vec<[u64; 4]> {
    (0..n)
        .map(|i| {
            let id = format!("cam-{i:02}");
            let dropped = |cause: &str| {
                metrics
                    .frames_dropped
                    .with_label_values(&[&id, cause])
                    .get()
            };
            [
                metrics.frames_inferred.with_label_values(&[&id]).get(),
                metrics
                    .frames_skipped
                    .with_label_values(&[&id, "no_motion"])
                    .get(),
                dropped("queue_full") + dropped("too_old"),
                metrics
                    .alerts
                    .with_label_values(&[&id, "esplanade-intrusion"])
                    .get(),
            ]
        })
        .collect()
}

fn run_step(args: &CapacityArgs, n: usize, base_rss: f64) -> Result<Step, CapacityError> {
    let dir = std::env::temp_dir().join(format!("vigie-capacity-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let journal_path = dir.join("journal.db");
    let config = step_config(args, n, &journal_path)?;
    let journal = Arc::new(Journal::open(&journal_path)?);
    let metrics = Metrics::new();
    let samples = Arc::new(LatencySamples::default());
    let alert_samples = Arc::new(LatencySamples::default());
    let bus = AlertBus::new(journal.clone(), 4096, metrics.clone())
        .with_alert_latency(alert_samples.clone());
    let engine = Engine::start(
        &config,
        bus,
        metrics.clone(),
        EngineOptions {
            decision_latency: Some(samples.clone()),
            ..Default::default()
        },
    )?;
    let statuses = engine.statuses();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !statuses.iter().all(|s| s.state() == CameraState::Live) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(args.warmup));
    let before = counters(&metrics, n);
    let stills0 = stills(&metrics);
    let cpu0 = cpu_seconds("self").unwrap_or(0.0);
    samples.take();
    alert_samples.take();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let dt = t0.elapsed().as_secs_f64();
    let after = counters(&metrics, n);
    let stills1 = stills(&metrics);
    let cpu1 = cpu_seconds("self").unwrap_or(0.0);
    let latencies = Latencies::sorted(samples.take(), alert_samples.take());
    let (rss, _) = memory_mib();
    engine.shutdown();
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);

    let deltas: Vec<[u64; 4]> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| std::array::from_fn(|k| a[k].saturating_sub(b[k])))
        .collect();
    let mut step = judge(
        args,
        n,
        dt,
        &deltas,
        &latencies,
        cpu1 - cpu0,
        rss - base_rss,
        rss,
    );
    (step.stills, step.stills_failed) = (stills1[0] - stills0[0], stills1[1] - stills0[1]);
    Ok(step)
}

/// Full-resolution stills decoded so far, and those that could not be.
fn stills(metrics: &Metrics) -> [u64; 2] {
    ["decoded", "fallback"].map(|o| metrics.evidence_stills.with_label_values(&[o]).get())
}

/// The window's latency samples, each sorted: frame-to-decision and frame-to-alert (seconds).
struct Latencies {
    decision: Vec<f64>,
    alert: Vec<f64>,
}

impl Latencies {
    fn sorted(mut decision: Vec<f64>, mut alert: Vec<f64>) -> Self {
        decision.sort_by(|a, b| a.total_cmp(b));
        alert.sort_by(|a, b| a.total_cmp(b));
        Latencies { decision, alert }
    }
}

fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] * 1000.0
}

/// Applies the three limits to one step's measurements.
#[allow(clippy::too_many_arguments)]
fn judge(
    args: &CapacityArgs,
    n: usize,
    dt: f64,
    deltas: &[[u64; 4]],
    latency: &Latencies,
    cpu_seconds: f64,
    rss_above_base: f64,
    rss: f64,
) -> Step {
    let rates: Vec<f64> = deltas.iter().map(|d| (d[0] + d[1]) as f64 / dt).collect();
    let sum = |k: usize| deltas.iter().map(|d| d[k]).sum::<u64>() as f64;
    let (analysed, skipped, dropped) = (sum(0), sum(1), sum(2));
    let decided = analysed + skipped;
    let nf = n as f64;
    let min_rate = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let step = Step {
        cameras: n,
        seconds: dt,
        min_rate,
        mean_rate: decided / dt / nf,
        detector_rate: analysed / dt / nf,
        skipped_pct: pct(skipped, decided),
        dropped_pct: pct(dropped, decided + dropped),
        p50_ms: percentile_ms(&latency.decision, 0.50),
        p95_ms: percentile_ms(&latency.decision, 0.95),
        p99_ms: percentile_ms(&latency.decision, 0.99),
        alert_p95_ms: percentile_ms(&latency.alert, 0.95),
        alerts: sum(3) as u64,
        stills: 0,
        stills_failed: 0,
        cpu_per_camera_pct: cpu_seconds / dt * 100.0 / nf,
        rss_mib: rss,
        rss_per_camera_mib: rss_above_base / nf,
        failures: Vec::new(),
    };
    let mut failures = Vec::new();
    let target = f64::from(args.detect_fps);
    if step.min_rate.is_nan() || step.min_rate < 0.98 * target {
        failures.push(format!(
            "a camera at {:.2}/s < 98 % of {target}/s",
            step.min_rate
        ));
    }
    if step.dropped_pct > 1.0 {
        failures.push(format!("{:.2} % dropped > 1 %", step.dropped_pct));
    }
    // No latency sample at all (NaN) fails too.
    if step.p95_ms.is_nan() || step.p95_ms > args.latency_limit_ms {
        failures.push(format!(
            "p95 {:.0} ms > {} ms",
            step.p95_ms, args.latency_limit_ms
        ));
    }
    // A window without alerts has no frame-to-alert to judge (the decision p95 still applies).
    if step.alert_p95_ms > args.latency_limit_ms {
        failures.push(format!(
            "alert p95 {:.0} ms > {} ms",
            step.alert_p95_ms, args.latency_limit_ms
        ));
    }
    Step { failures, ..step }
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CapacityArgs,
    }

    fn args(extra: &[&str]) -> CapacityArgs {
        let mut argv = vec!["capacity", "--source", "x.mp4"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    #[test]
    fn counts_follow_from_step_max_or_the_list() {
        assert_eq!(
            counts(&args(&["--from", "4", "--step", "4", "--max", "14"])).unwrap(),
            [4, 8, 12]
        );
        assert_eq!(counts(&args(&["--cameras", "6,8,10"])).unwrap(), [6, 8, 10]);
        assert!(counts(&args(&["--step", "0"])).is_err());
        assert!(counts(&args(&["--cameras", "0"])).is_err());
    }

    #[test]
    fn each_limit_fails_a_step_on_its_own() {
        let a = args(&[]);
        // 2 cameras, 10 s at 5/s: 50 decided each, nothing dropped, 100 ms latency.
        let good = [[50, 0, 0, 1], [40, 10, 0, 0]];
        let lat = Latencies::sorted(vec![0.1; 100], vec![0.2]);
        let s = judge(&a, 2, 10.0, &good, &lat, 5.0, 100.0, 150.0);
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        assert_eq!((s.min_rate, s.skipped_pct, s.alerts), (5.0, 10.0, 1));
        assert_eq!((s.cpu_per_camera_pct, s.rss_per_camera_mib), (25.0, 50.0));
        // One camera at 4.8/s (96 %).
        let slow = judge(
            &a,
            2,
            10.0,
            &[[50, 0, 0, 0], [48, 0, 0, 0]],
            &lat,
            1.0,
            1.0,
            1.0,
        );
        assert_eq!(slow.failures.len(), 1, "{:?}", slow.failures);
        assert!(slow.failures[0].contains("4.80"));
        // 2 dropped of 102: 1.96 %.
        let drops = judge(
            &a,
            2,
            10.0,
            &[[50, 0, 2, 0], [50, 0, 0, 0]],
            &lat,
            1.0,
            1.0,
            1.0,
        );
        assert_eq!(drops.failures.len(), 1, "{:?}", drops.failures);
        assert!(drops.failures[0].contains("dropped"));
        // p95 over 300 ms: 10 of 100 samples at 400 ms.
        let mut slow_lat = vec![0.1; 90];
        slow_lat.extend(vec![0.4; 10]);
        let slow_lat = Latencies::sorted(slow_lat, vec![]);
        let late = judge(&a, 2, 10.0, &good, &slow_lat, 1.0, 1.0, 1.0);
        assert_eq!(late.failures.len(), 1, "{:?}", late.failures);
        assert!(late.failures[0].contains("p95 400 ms"));
        // Alerts journaled late (a sub-stream camera's snapshot): 2 of 3 at 900 ms.
        let slow_alerts = Latencies::sorted(vec![0.1; 100], vec![0.1, 0.9, 0.9]);
        let late = judge(&a, 2, 10.0, &good, &slow_alerts, 1.0, 1.0, 1.0);
        assert_eq!(late.failures.len(), 1, "{:?}", late.failures);
        assert!(late.failures[0].contains("alert p95 900 ms"));
        // No sample at all is a failure, not a pass.
        let none = judge(
            &a,
            2,
            10.0,
            &good,
            &Latencies::sorted(vec![], vec![]),
            1.0,
            1.0,
            1.0,
        );
        assert!(none.failures.iter().any(|f| f.contains("p95")));
    }
}
