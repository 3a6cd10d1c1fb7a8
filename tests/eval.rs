//! `vigie eval` on the labelled scenarios of `tests/scenarios/` (real binary, real footage, real
//! detector): precision and recall floors, and clear errors for bad or not-yet-loadable
//! scenarios.
//!
//! The floors of `intrusion_before_*` are what the intrusion rule of `main` before issue 7
//! measured (README, "Measuring the rules"); they guard against regressions of the pipeline and
//! of the evaluation itself (on this build `config.before.toml` runs the new intrusion rule with
//! the old keys). The `*_after` tests hold floors set from the numbers the rules of issue 7
//! measured (README), a little below them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{clip, ort_dylib, repo, BIN};

fn eval(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("eval")
        .args(args)
        .current_dir(repo())
        .env("ORT_DYLIB_PATH", ort_dylib())
        .env("VIGIE_CLIP", clip())
        .env("VIGIE_LOG", "warn")
        .output()
        .expect("run vigie eval");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    println!("{}", String::from_utf8_lossy(&out.stdout));
    out
}

/// Runs the scenarios, returns the JSON report; fails on any scenario error.
fn eval_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("eval.json");
    let mut all: Vec<&str> = args.to_vec();
    let json_arg = json.to_string_lossy().into_owned();
    all.extend(["--json", &json_arg]);
    let out = eval(&all);
    assert!(out.status.success(), "vigie eval failed");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The score of `rule` in `scenario` at `fps`.
fn rule<'a>(
    report: &'a serde_json::Value,
    scenario: &str,
    fps: f64,
    rule: &str,
) -> &'a serde_json::Value {
    let s = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == scenario && s["detect_fps"].as_f64() == Some(fps))
        .unwrap_or_else(|| panic!("no run of {scenario} at {fps} det/s"));
    s["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no rule {rule} in {scenario}"))
}

fn at_least(r: &serde_json::Value, key: &str, floor: f64) {
    let v = r[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} undefined: {r}"));
    assert!(
        v >= floor,
        "{} {key} = {v:.2}, floor {floor}: {r}",
        r["rule"]
    );
}

fn frames(report: &serde_json::Value, scenario: &str, fps: f64) -> u64 {
    run_count(report, scenario, fps, "frames_analysed")
}

/// A count of one run (`frames_analysed`, `frames_skipped`) of `scenario` at `fps`.
fn run_count(report: &serde_json::Value, scenario: &str, fps: f64, key: &str) -> u64 {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == scenario && s["detect_fps"].as_f64() == Some(fps))
        .map(|s| s[key].as_u64().unwrap())
        .unwrap()
}

#[test]
fn intrusion_before_meets_its_floors_at_5_and_10_detections_per_second() {
    let report = eval_json(&[
        "tests/scenarios/intrusion-square",
        "tests/scenarios/intrusion-kerb",
        "--config",
        "config.before.toml",
        "--detect-fps",
        "5,10",
    ]);
    // Every frame at the detection rate is analysed: 0-30 s and 45-79.5 s of a 10 frames/s clip.
    assert_eq!(frames(&report, "intrusion-square", 5.0), 150);
    assert_eq!(frames(&report, "intrusion-square", 10.0), 300);
    let kerb5 = frames(&report, "intrusion-kerb", 5.0);
    assert!((172..=174).contains(&kerb5), "{kerb5}");
    for fps in [5.0, 10.0] {
        let square = rule(&report, "intrusion-square", fps, "esplanade-intrusion");
        at_least(square, "precision", 0.99);
        at_least(square, "recall", 0.25);
        let kerb = rule(&report, "intrusion-kerb", fps, "lawn-intrusion");
        at_least(kerb, "precision", 0.99);
        at_least(kerb, "recall", 0.99);
    }
}

#[test]
fn every_scenario_ground_truth_and_config_is_valid() {
    let out = eval(&["--check", "tests/scenarios"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dirs: Vec<String> = std::fs::read_dir(repo().join("tests/scenarios"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("scenario.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(dirs.len() >= 5, "{dirs:?}");
    // Every scenario's config loads on this build (the rules of issue 7 are in).
    for name in &dirs {
        assert!(
            stdout.contains(&format!("{name}: ok (")),
            "{name}: not ok:\n{stdout}\n{stderr}"
        );
    }
    assert!(out.status.success(), "{stderr}");
    // Scenario and ground-truth files are read before the config: none of them is in error.
    assert!(!stderr.contains("scenario.toml:"), "{stderr}");
    assert!(!stderr.contains("ground_truth.toml:"), "{stderr}");
    // The intrusion scenarios' "before" configs load on this build.
    let before = eval(&[
        "--check",
        "tests/scenarios/intrusion-square",
        "tests/scenarios/intrusion-kerb",
        "--config",
        "config.before.toml",
    ]);
    assert!(before.status.success());
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn bad_scenario(gt: &str, rule_type: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "scenario.toml",
        "description = \"bad\"\nclip = \"vtest.avi\"\n",
    );
    write(
        d,
        "config.toml",
        &format!(
            "[detector]\nmanifest = {:?}\n[[cameras]]\nid = \"c\"\nsource = {:?}\n\
             [[cameras.zones]]\nid = \"z\"\npoints = [[0, 0], [1, 0], [1, 1]]\n\
             [[cameras.rules]]\nid = \"r\"\ntype = \"{rule_type}\"\nzone = \"z\"\nclasses = [\"person\"]\n",
            repo().join("models/models.toml").to_string_lossy(),
            clip().to_string_lossy()
        ),
    );
    write(d, "ground_truth.toml", gt);
    eval(&[d.to_str().unwrap()])
}

#[test]
fn a_bad_ground_truth_is_an_error_naming_the_file_and_the_field() {
    let out = bad_scenario(
        "[[events]]\ntype = \"intrusion\"\nrule = \"r\"\nstart = 5.0\nend = 4.0\n",
        "intrusion",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ground_truth.toml: events[0].end"), "{err}");
}

#[test]
fn a_config_this_build_cannot_load_is_an_error_naming_the_scenario() {
    let out = bad_scenario("events = []\n", "teleport");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not load on this build"), "{err}");
    assert!(err.contains("cameras[0].rules[0].type"), "{err}");
    assert!(err.contains("1 of 1 scenario runs failed"), "{err}");
}

// ---- The rules of issue 7. Measured (README): intrusion-square P 1.00 R 0.75 (6 of 8),
// intrusion-kerb P 1.00 R 1.00, wrong-way-path P 1.00 R 1.00 (5 of 5), at 5 and 10 det/s. ----

#[test]
fn intrusion_after_meets_its_floors() {
    let report = eval_json(&[
        "tests/scenarios/intrusion-square",
        "tests/scenarios/intrusion-kerb",
        "--detect-fps",
        "5,10",
    ]);
    for fps in [5.0, 10.0] {
        let square = rule(&report, "intrusion-square", fps, "esplanade-intrusion");
        // One false alert or one more missed entry passes; two do not.
        at_least(square, "precision", 0.85);
        at_least(square, "recall", 0.6);
        let kerb = rule(&report, "intrusion-kerb", fps, "lawn-intrusion");
        // The kerb walkers never fire: no false alert at all.
        at_least(kerb, "precision", 1.0);
        at_least(kerb, "recall", 1.0);
    }
    // Entry to alert <= min_seconds + 0.5 s at 5 detections/s (median).
    let square = rule(&report, "intrusion-square", 5.0, "esplanade-intrusion");
    assert!(
        square["latency_median"].as_f64().unwrap() <= 1.5,
        "{square}"
    );
}

#[test]
fn wrong_way_meets_its_floors() {
    let report = eval_json(&["tests/scenarios/wrong-way-path", "--detect-fps", "5,10"]);
    for fps in [5.0, 10.0] {
        let r = rule(&report, "wrong-way-path", fps, "left-path-wrong-way");
        // 5 events: one miss or one false alert passes, two do not.
        at_least(r, "precision", 0.8);
        at_least(r, "recall", 0.8);
    }
}

#[test]
fn no_density_nor_crowd_alert_on_walkers() {
    let report = eval_json(&["tests/scenarios/movement-negative"]);
    for r in ["paved-density", "paved-crowd"] {
        let s = rule(&report, "movement-negative", 5.0, r);
        assert_eq!(s["fp"], 0, "{s}");
    }
}

#[test]
#[ignore = "crowd_movement does not fire on the built clip (recall 0): its walkers measure \
            0.4-2.1 body heights/s (median) and the running share hovers around 0.5 without \
            holding 2 s; see README"]
fn crowd_movement_fires_on_the_built_fast_clip() {
    let report = eval_json(&["tests/scenarios/crowd-built-fast"]);
    let r = rule(&report, "crowd-built-fast", 10.0, "paved-crowd");
    at_least(r, "recall", 1.0);
    at_least(r, "precision", 0.5);
}

/// Issue 8's false-alarm test: `person_on_ground` (pose model at the rule's rate),
/// `abandoned_object` and `fire` over the whole of vtest.avi (pedestrians; nobody falls, no bag
/// is left, nothing burns): no alert.
#[test]
fn no_issue8_alert_on_vtest() {
    let report = eval_json(&["tests/scenarios/decree-negative"]);
    assert_eq!(frames(&report, "decree-negative", 5.0), 398);
    for id in ["fall", "lying-any", "left-bag", "fire"] {
        let r = rule(&report, "decree-negative", 5.0, id);
        assert_eq!(
            (r["fp"].as_u64(), r["tp"].as_u64()),
            (Some(0), Some(0)),
            "{r}"
        );
    }
}

/// Motion gating where it has something to skip: in `intrusion-lawn-quiet` nothing moves in the
/// zone for the first 50 s of vtest.avi, then a couple walks in. Measured at 5 det/s: without
/// gating 398 frames analysed, 0 skipped; with `--motion` 180 analysed, 218 skipped; both 1 TP,
/// 0 FP, 0 FN, latency 0.8 s. A gate that skips too much fails here (threshold 200, 0.1/s: the
/// event is missed; threshold 200, 1/s: found 5.2 s after the entry), and so does one that stops
/// skipping.
#[test]
fn motion_gating_skips_the_quiet_lawn_and_still_finds_the_entry() {
    let (name, plain_args) = (
        "intrusion-lawn-quiet",
        ["tests/scenarios/intrusion-lawn-quiet", "--detect-fps", "5"],
    );
    let plain = eval_json(&plain_args);
    let gated = eval_json(&[&plain_args[..], &["--motion"]].concat());
    assert_eq!(run_count(&plain, name, 5.0, "frames_skipped"), 0);
    let total = frames(&plain, name, 5.0);
    assert_eq!(total, 398);
    let (analysed, skipped) = (
        frames(&gated, name, 5.0),
        run_count(&gated, name, 5.0, "frames_skipped"),
    );
    assert_eq!(analysed + skipped, total);
    // 0-50 s is 250 frames at 5/s, of which the 1/s refresh keeps 50: most must be skipped.
    assert!(skipped >= 150, "{analysed} analysed, {skipped} skipped");
    let latency = |report: &serde_json::Value| {
        let r = rule(report, name, 5.0, "lower-lawn-intrusion");
        assert_eq!((count(r, "tp"), count(r, "fp")), (1, 0), "{r}");
        r["latency_median"].as_f64().unwrap()
    };
    // Gating may delay the alert by at most its minimum refresh (1 s at min_detect_fps = 1).
    let (without, with) = (latency(&plain), latency(&gated));
    assert!(
        with <= without + 1.0,
        "latency {with} s with gating, {without} s without"
    );
}

// ---- Issue 8's BUILT positives (tests/scenarios/*-built, README "Measuring the rules"):
// overlays drawn into real vtest.avi frames by `vigie eval` itself. Measured at 5 det/s:
// abandoned-built 1 TP / 0 FP (alert 42.9 s after the object is put down); fire-built 0 / 0 / 1
// FN (flicker hovers at its 0.1 threshold); fall-built 0 / 0 / 1 FN per rule (the lying person
// loses its detection). ----

fn count(r: &serde_json::Value, key: &str) -> u64 {
    r[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} undefined: {r}"))
}

#[test]
fn abandoned_object_fires_once_on_the_built_left_object() {
    let report = eval_json(&["tests/scenarios/abandoned-built"]);
    let r = rule(&report, "abandoned-built", 5.0, "left-bag");
    // One event: it must be found (a single event leaves no slack); one false alert passes.
    assert_eq!(count(r, "tp"), 1, "{r}");
    assert!(count(r, "fp") <= 1, "{r}");
    // Never before min_seconds (30 s) unattended; measured 42.9 s after it was put down.
    let latency = r["latency_median"].as_f64().unwrap();
    assert!((30.0..=50.0).contains(&latency), "{r}");
}

#[test]
fn no_false_fire_nor_fall_alert_on_the_built_clips() {
    let report = eval_json(&["tests/scenarios/fire-built", "tests/scenarios/fall-built"]);
    // The steady orange patch (from 2 s) and the walkers raise at most one false alert.
    let fire = rule(&report, "fire-built", 5.0, "fire");
    assert!(count(fire, "fp") <= 1, "{fire}");
    for id in ["fall", "lying-any"] {
        let r = rule(&report, "fall-built", 5.0, id);
        assert!(count(r, "fp") <= 1, "{r}");
    }
}

#[test]
#[ignore = "the fire rule misses the built flame: its flicker measures 0.06-0.12 against the \
            0.1 threshold; the boundary flicker would find it but stays off (person traps the \
            person-box exclusion does not remove); see README"]
fn fire_fires_on_the_built_flame() {
    let report = eval_json(&["tests/scenarios/fire-built"]);
    let r = rule(&report, "fire-built", 5.0, "fire");
    assert_eq!(count(r, "tp"), 1, "{r}");
    assert_eq!(count(r, "fp"), 0, "{r}");
}

/// The built fall: the pasted person loses its detection once turned (nanodet scores it about
/// 0.13); the engine holds its track on the lying pose found where it was lost, so both rules
/// see the fall and the 10 s lying, once, without a false alert.
#[test]
fn person_on_ground_fires_on_the_built_fall() {
    let report = eval_json(&["tests/scenarios/fall-built"]);
    for id in ["fall", "lying-any"] {
        let r = rule(&report, "fall-built", 5.0, id);
        assert_eq!(count(r, "tp"), 1, "{r}");
        assert_eq!(count(r, "fp"), 0, "{r}");
    }
}

/// Three more BUILT falls (tests/scenarios/fall-built-{square,path,slow}) and a person lying
/// there from the start while walkers pass (lying-built-square), ground truth decided before any
/// run. What is true today, asserted so that a change shows: no false alert on any of them
/// (before the lying memory, the sleeper gave a false `fall`: a walker's track lost beside them
/// was held on their pose); no `fall` alert on the slow lying down (45° per 1.5 s, not a fall:
/// the fall's start needs an upright box) while `lying-any` finds it (the track continued by low,
/// lying-shaped detections is looked for and held). The square's fall and the far path's (37 px)
/// are found by both rules (two agreeing weak lying readings start a hold; on the far path, whose
/// keypoints the whole-frame pose never reads, `fall` measures the turn from the last clearly
/// upright box to the first agreeing lying reading); `lying-any` misses the sleeper (README
/// "`person_on_ground`").
#[test]
fn person_on_ground_gives_no_false_alert_on_the_other_built_falls() {
    let report = eval_json(&[
        "tests/scenarios/fall-built-square",
        "tests/scenarios/fall-built-path",
        "tests/scenarios/fall-built-slow",
        "tests/scenarios/lying-built-square",
    ]);
    for scenario in [
        "fall-built-square",
        "fall-built-path",
        "fall-built-slow",
        "lying-built-square",
    ] {
        for id in ["fall", "lying-any"] {
            let r = rule(&report, scenario, 5.0, id);
            assert_eq!(count(r, "fp"), 0, "{scenario} {id}: {r}");
        }
    }
    let slow = rule(&report, "fall-built-slow", 5.0, "fall");
    assert_eq!(count(slow, "tp") + count(slow, "fn"), 0, "no event: {slow}");
    let slow = rule(&report, "fall-built-slow", 5.0, "lying-any");
    assert_eq!(count(slow, "tp"), 1, "{slow}");
    // Found since two agreeing weak lying readings start a hold and a lying-shaped detection
    // of a held person is no upright sighting (src/engine/lying.rs, pose.rs).
    for (scenario, id) in [
        ("fall-built-square", "fall"),
        ("fall-built-square", "lying-any"),
        ("fall-built-path", "lying-any"),
        ("fall-built-path", "fall"),
    ] {
        let r = rule(&report, scenario, 5.0, id);
        assert!(count(r, "tp") >= 1, "{scenario} {id}: {r}");
    }
}

// ---- The fire model slot with a STUB model (tests/data/models/fire-stub.onnx, made by
// deploy/stub-models/fire_stub.py): whatever the picture, one `fire` box over the bottom-right
// quarter of the frame. It checks the wiring (manifest, loading, scheduling, zone, modes)
// through the real binary and ONNX Runtime; it says nothing about fire. ----

/// A scenario folder using a copy of models/models.toml plus the stub's entry.
fn stub_scenario(rules: &str, gt: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let models = repo().join("models");
    let stub = repo().join("tests/data/models");
    let manifest = std::fs::read_to_string(models.join("models.toml")).unwrap()
        + "\n"
        + &std::fs::read_to_string(stub.join("fire-stub.toml")).unwrap();
    write(d, "models.toml", &manifest);
    std::fs::copy(
        models.join("nanodet-m-416.onnx"),
        d.join("nanodet-m-416.onnx"),
    )
    .unwrap();
    std::fs::copy(stub.join("fire-stub.onnx"), d.join("fire-stub.onnx")).unwrap();
    write(
        d,
        "scenario.toml",
        "description = \"fire model stub\"\nclip = \"vtest.avi\"\nend_seconds = 12.0\n",
    );
    write(
        d,
        "config.toml",
        &format!(
            "[detector]\nmanifest = \"models.toml\"\nmodel = \"nanodet-m-416\"\nworkers = 1\n\
             intra_threads = 2\n[[cameras]]\nid = \"c\"\nsource = {:?}\ndetect_fps = 5\n\
             [[cameras.zones]]\nid = \"br\"\npoints = [[0.55, 0.55], [1, 0.55], [1, 1], [0.55, 1]]\n\
             [[cameras.zones]]\nid = \"tl\"\npoints = [[0, 0], [0.45, 0], [0.45, 0.45], [0, 0.45]]\n\
             {rules}",
            clip().to_string_lossy()
        ),
    );
    write(d, "ground_truth.toml", gt);
    dir
}

#[test]
fn fire_model_stub_extends_and_confirms_through_the_engine() {
    let rule = |id: &str, zone: &str, mode: &str| {
        format!(
            "[[cameras.rules]]\nid = \"{id}\"\ntype = \"fire\"\nzone = \"{zone}\"\n\
             model = \"fire-stub\"\nmodel_mode = \"{mode}\"\n"
        )
    };
    let rules = rule("extend-in", "br", "extend")
        + &rule("confirm-in", "br", "confirm")
        + &rule("extend-out", "tl", "extend");
    let gt = "[[events]]\ntype = \"fire\"\nrule = \"extend-in\"\nstart = 0.0\nend = 12.0\n";
    let dir = stub_scenario(&rules, gt);
    let report = eval_json(&[dir.path().to_str().unwrap()]);
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // The model alone (extend) alerts once in its zone: 3 of 5 readings, then min_seconds 3.
    let r = rule_of(&report, &name, "extend-in");
    assert_eq!((count(r, "tp"), count(r, "fp")), (1, 0), "{r}");
    assert!(r["latency_median"].as_f64().unwrap() <= 4.5, "{r}");
    // Confirm: vtest.avi has no flame, so the model's box alone is not enough.
    let r = rule_of(&report, &name, "confirm-in");
    assert_eq!(count(r, "fp"), 0, "{r}");
    // The model's box is outside this zone.
    let r = rule_of(&report, &name, "extend-out");
    assert_eq!(count(r, "fp"), 0, "{r}");
}

fn rule_of<'a>(report: &'a serde_json::Value, scenario: &str, id: &str) -> &'a serde_json::Value {
    rule(report, scenario, 5.0, id)
}

#[test]
fn a_fire_rule_naming_a_model_without_the_fire_use_does_not_load() {
    let rules = "[[cameras.rules]]\nid = \"f\"\ntype = \"fire\"\nzone = \"br\"\n\
                 model = \"nanodet-m-416\"\n";
    let dir = stub_scenario(rules, "events = []\n");
    let out = eval(&["--check", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cameras[0].rules[0].model"), "{err}");
    assert!(err.contains("use = [\"fire\"]"), "{err}");
}
