//! `vigie bench --pose`: what poses cost. The full pipeline runs twice in one invocation on the
//! same clip and machine: detection only, then with a `person_on_ground` rule on every camera
//! (pose model at the rule's `pose_fps`, only on frames with persons). Reported: process CPU
//! per analysed frame of each run and their ratio (the target: at most 1.5x with 5
//! people in view), and the model times behind it.

use std::time::Duration;

use crate::bench::{bench_config, run_phase, BenchArgs, BenchError, PhaseResult};

pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    let max = Duration::from_secs(args.max_seconds);
    println!(
        "vigie bench --pose: {} camera(s) on {}, model {}, detect_fps {} (0 = every frame), \
         pose_fps {}, {} worker(s) x {} intra-op thread(s), {} CPU(s)",
        args.cameras,
        args.clip
            .as_deref()
            .unwrap_or(std::path::Path::new(""))
            .display(),
        args.model,
        args.detect_fps,
        args.pose_fps,
        args.workers,
        args.intra_threads,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let base = run_phase(&bench_config(args, None)?, false, max)?;
    let pose = run_phase(&bench_config(args, Some(args.pose_fps))?, false, max)?;
    let base_cpu = report("detection only", &base);
    let pose_cpu = report("with person_on_ground", &pose);
    if base_cpu > 0.0 {
        println!(
            "\nCPU per analysed frame, with person_on_ground / detection only = {:.1} / {:.1} ms = {:.2}x",
            pose_cpu * 1e3,
            base_cpu * 1e3,
            pose_cpu / base_cpu
        );
    }
    if pose.detect_seconds > 0.0 {
        println!(
            "pose model time / detector time (same run) = {:.1} / {:.1} s = {:.2}",
            pose.pose_seconds,
            pose.detect_seconds,
            pose.pose_seconds / pose.detect_seconds
        );
    }
    Ok(())
}

/// Prints one run; returns its CPU seconds per analysed frame.
fn report(name: &str, r: &PhaseResult) -> f64 {
    let inferred: u64 = r.per_camera.iter().map(|c| c.2).sum();
    let per_frame = if inferred > 0 {
        r.cpu_seconds / inferred as f64
    } else {
        0.0
    };
    let people = if r.pose_frames > 0 {
        r.pose_people as f64 / r.pose_frames as f64
    } else {
        0.0
    };
    println!(
        "\n[{name}] {:.1} s wall, {:.1} s CPU, {inferred} analysed frames: {:.1} ms CPU/frame; \
         detector {:.1} s; pose model {:.1} s on {} frames ({people:.1} persons in view per pose \
         frame); {} alerts",
        r.seconds,
        r.cpu_seconds,
        per_frame * 1e3,
        r.detect_seconds,
        r.pose_seconds,
        r.pose_frames,
        r.alerts
    );
    per_frame
}
