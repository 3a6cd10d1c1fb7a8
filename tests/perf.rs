//! The capacity features on the real binary: execution-provider fall-back to CPU, motion gating
//! (a still camera skips the detector, a busy one still raises its alerts), and
//! `vigie bench capacity`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn metrics(vigie: &Vigie) -> String {
    vigie
        .get("/metrics")
        .call()
        .expect("GET /metrics")
        .into_string()
        .expect("text")
}

/// The value of one sample line of the Prometheus text, e.g. `name{labels}`.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn cuda_falls_back_to_cpu_and_motion_gating_skips_only_still_frames() {
    let dir = tempfile::tempdir().unwrap();
    let motion = "[cameras.motion]\nenabled = true\nmin_detect_fps = 1.0\n";
    let busy = clip_camera(
        "busy",
        &clip().to_string_lossy(),
        true,
        &format!("loop = true\n{motion}"),
    );
    // A still live image (SMPTE 75 % bars: `smpte` itself has a moving part), same zone and rule.
    let still = clip_camera("still", "test:smpte75", true, motion);
    let text = format!(
        "{}execution_provider = \"cuda\"\n{busy}{still}",
        header(dir.path())
    );
    let vigie = Vigie::start(&write_config(dir.path(), &text));
    let sse = Sse::connect(&vigie, None);
    let alert = sse.next_alert(Duration::from_secs(60));
    assert!(
        alert.is_some_and(|(_, a)| a["camera_id"] == "busy"),
        "no alert from the busy camera with motion gating on; log:\n{}",
        vigie.log()
    );
    std::thread::sleep(Duration::from_secs(6));
    let m = metrics(&vigie);
    // The provider asked for is not in this (CPU-only) ONNX Runtime: CPU, said once, exported.
    assert!(
        m.contains("vigie_detect_execution_provider{requested=\"cuda\",used=\"cpu\"} 1"),
        "{m}"
    );
    let log = vigie.log();
    assert_eq!(
        log.matches("execution provider `cuda` unavailable, falling back to CPU")
            .count(),
        1,
        "{log}"
    );
    let inferred = |cam: &str| {
        sample(
            &m,
            &format!("vigie_detect_frames_inferred_total{{camera=\"{cam}\"}}"),
        )
    };
    let skipped = |cam: &str| {
        sample(
            &m,
            &format!("vigie_detect_frames_skipped_total{{camera=\"{cam}\",cause=\"no_motion\"}}"),
        )
    };
    // Still image at 5 frames/s with a 1/s minimum: about 4 of 5 frames skipped, and the
    // detector still runs.
    let (si, ss) = (inferred("still"), skipped("still"));
    assert!(
        si >= 3.0 && ss >= 2.0 * si,
        "still: {si} inferred, {ss} skipped\n{m}"
    );
    // People walk on the esplanade: most frames are analysed.
    let (bi, bs) = (inferred("busy"), skipped("busy"));
    assert!(bi > 2.0 * bs, "busy: {bi} inferred, {bs} skipped\n{m}");
    // Every decided frame has its latency, in the finer buckets.
    assert!(
        m.contains("vigie_detect_frame_to_decision_seconds_bucket{camera=\"still\",le=\"0.3\"}"),
        "{m}"
    );
}

#[test]
fn bench_capacity_reports_each_step_as_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("capacity.json");
    let out = Command::new(BIN)
        .current_dir(repo())
        .args(["bench", "capacity", "--source"])
        .arg(clip())
        .args(["--model", "nanodet-m-416-int8", "--cameras", "1"])
        .args(["--seconds", "4", "--warmup", "2", "--json"])
        .arg(&json)
        .env("ORT_DYLIB_PATH", ort_dylib())
        .env("VIGIE_LOG", "warn")
        .output()
        .expect("run vigie bench capacity");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("p95 / p99 ms") && stdout.contains("held:"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["model"], "nanodet-m-416-int8");
    let step = &summary["steps"][0];
    assert_eq!(step["cameras"], 1, "{summary}");
    // vtest.avi at 10 frames/s played live, detection at 5/s: frames were decided and timed.
    let rate = step["mean_rate"].as_f64().unwrap();
    assert!(rate > 1.0 && rate < 6.0, "{summary}");
    assert!(step["p50_ms"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(
        step["cpu_per_camera_pct"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
    // The step held, or says which limit it broke.
    let held = summary["held"].as_u64().unwrap();
    let failures = step["failures"].as_array().unwrap();
    assert_eq!(held == 1, failures.is_empty(), "{summary}");

    // `vigie bench` keeps its flags form: without --clip (and no subcommand) it is refused.
    let plain = Command::new(BIN).arg("bench").output().unwrap();
    assert!(!plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stderr).contains("--clip"));
}
