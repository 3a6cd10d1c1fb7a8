//! Bad input gets a clear error, nothing is lost, the rest keeps running.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// `vigie check-config FILE`: exit code and standard error.
fn check_config(cfg: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_lists_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}colour = \"red\"\n[[cameras]]\nid = \"a\"\nsource = \"/nonexistent/clip.avi\"\n\
             [[cameras.zones]]\nid = \"z\"\npoints = [[0.1, 0.1], [0.2, 0.2]]\n\
             [[cameras.rules]]\nid = \"r\"\ntype = \"intrusion\"\nzone = \"nowhere\"\nclasses = [\"dragon\"]\n",
            header(dir.path())
        ),
    );
    let (code, err) = check_config(&cfg);
    assert_eq!(code, Some(2));
    for expected in [
        "colour: unknown key",
        "cameras[0].source: file /nonexistent/clip.avi does not exist",
        "cameras[0].zones[0].points: a polygon needs at least 3 points",
        "cameras[0].rules[0].zone: no zone `nowhere`",
        "cameras[0].rules[0].classes[0]: `dragon` is not a class",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        err.contains(&cfg.to_string_lossy().to_string()),
        "the file is named:\n{err}"
    );
    // `run` refuses the same file before opening anything.
    let out = Command::new(BIN).arg("run").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn the_example_and_demo_configs_pass_check_config() {
    for name in ["deploy/demo.toml", "deploy/vigie.example.toml"] {
        let out = Command::new(BIN)
            .arg("check-config")
            .arg(repo().join(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A calibration: refused with its path when degenerate, its reprojection error printed when
/// accepted; a line needs two points.
#[test]
fn check_config_judges_calibrations_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let camera = clip_camera("a", &clip().to_string_lossy(), true, "");
    let calibrated = |image: &str| {
        format!(
            "{}{camera}[cameras.calibration]\nimage = {image}\n\
             ground = [[0.0, 0.0], [12.0, 0.0], [12.0, 20.0], [0.0, 20.0], [6.0, 6.67]]\n",
            header(dir.path())
        )
    };
    let check = |text: &str| {
        let cfg = write_config(dir.path(), text);
        Command::new(BIN)
            .arg("check-config")
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = check(&calibrated(
        "[[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4], [0.5, 0.65]]",
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("camera a: ground calibration from 5 point pairs, RMS reprojection error"),
        "{stdout}"
    );
    let bad = calibrated("[[0.1, 0.9], [0.5, 0.9], [0.9, 0.9], [0.3, 0.4], [0.5, 0.65]]")
        + "[[cameras.lines]]\nid = \"kerb\"\npoints = [[0.5, 0.5]]\n";
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "cameras[0].calibration.image: image points 0, 1 and 2 are on one line",
        "cameras[0].lines[0].points: a line needs at least 2 points, got 1",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn an_altered_model_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(repo().join("models/models.toml")).unwrap();
    let altered = manifest.replace(
        "78e325fa04d01b9e0c37679bb6abae469d4ede49a9774879a93d0170b901254d",
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    assert_ne!(manifest, altered, "the manifest names the model's sha256");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("models.toml"), altered).unwrap();
    std::os::unix::fs::symlink(
        repo().join("models/nanodet-m-416.onnx"),
        models.join("nanodet-m-416.onnx"),
    )
    .unwrap();
    let text = format!(
        "{}{}",
        header(dir.path()),
        clip_camera("a", &clip().to_string_lossy(), true, "")
    )
    .replace(
        &repo()
            .join("models/models.toml")
            .to_string_lossy()
            .to_string(),
        &models.join("models.toml").to_string_lossy(),
    );
    let cfg = write_config(dir.path(), &text);
    let out = Command::new(BIN)
        .arg("run")
        .arg(&cfg)
        .env("ORT_DYLIB_PATH", ort_dylib())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nanodet-m-416.onnx") && err.contains("sha256"),
        "{err}"
    );
}

#[test]
fn a_broken_camera_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    // Real footage with a run of bytes overwritten in the middle.
    let mut bytes = std::fs::read(clip()).unwrap();
    let mid = bytes.len() / 3;
    for (i, b) in bytes[mid..mid + 200_000].iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let corrupt = dir.path().join("corrupt.avi");
    std::fs::write(&corrupt, bytes).unwrap();
    // Not a video at all.
    let garbage = dir.path().join("garbage.avi");
    std::fs::write(&garbage, vec![0x42u8; 100_000]).unwrap();
    let text = format!(
        "{}{}{}{}{}",
        header(dir.path()),
        clip_camera("good", &clip().to_string_lossy(), false, "loop = true"),
        clip_camera("corrupt", &corrupt.to_string_lossy(), false, ""),
        clip_camera("garbage", &garbage.to_string_lossy(), false, ""),
        // Nobody listens on this port of loopback.
        clip_camera("unreachable", "rtsp://127.0.0.1:9/none", true, ""),
    );
    let cfg = write_config(dir.path(), &text);
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    // The corrupted clip may raise alerts too (most of it is intact): wait for the good camera's.
    let mut alert = None;
    while let Some((id, a)) = sse.next_alert(Duration::from_secs(90)) {
        if a["camera_id"] == "good" {
            alert = Some((id, a));
            break;
        }
    }
    let state = |id: &str| -> serde_json::Value {
        let cams = vigie.get_json("/api/cameras");
        cams.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    let (_, a) =
        alert.unwrap_or_else(|| panic!("no alert from the good camera; log:\n{}", vigie.log()));
    assert_eq!(a["camera_id"], "good");
    // The unreachable camera is reported, with its error, and retried.
    let unreachable = wait_for(Duration::from_secs(30), || {
        let c = state("unreachable");
        (c["state"] == "reconnecting" && c["last_error"].is_string()).then_some(c)
    })
    .unwrap_or_else(|| panic!("unreachable camera not reported: {}", state("unreachable")));
    assert!(unreachable["restarts"].as_u64().is_some());
    // The garbage file is reported as failing, not silently ignored.
    let garbage = wait_for(Duration::from_secs(30), || {
        let c = state("garbage");
        c["last_error"].is_string().then_some(c)
    })
    .unwrap_or_else(|| panic!("garbage camera error not reported: {}", state("garbage")));
    assert_ne!(garbage["state"], "live");
    // The corrupted clip decoded at least part of its frames, without taking anything down.
    let corrupt = wait_for(Duration::from_secs(60), || {
        let c = state("corrupt");
        (c["frames_decoded"].as_u64().unwrap_or(0) > 100).then_some(c)
    });
    assert!(corrupt.is_some(), "corrupt camera: {}", state("corrupt"));
    // Still serving, still alive.
    assert_eq!(vigie.get_json("/healthz")["status"], "ok");
    assert!(state("good")["frames_inferred"].as_u64().unwrap() > 0);
    let metrics = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    assert!(
        metrics
            .contains("vigie_ingest_camera_state{camera=\"unreachable\",state=\"reconnecting\"} 1"),
        "{metrics}"
    );
}

/// Issue 7's bad input for the movement rules: each is a `check-config` error with its path.
#[test]
fn check_config_names_every_bad_movement_rule_value() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[cameras.rules]]\nid = \"ww\"\ntype = \"wrong_way\"\nzone = \"path\"\n\
                 classes = [\"pedestrian\"]\n\
                 [[cameras.rules]]\nid = \"ww2\"\ntype = \"wrong_way\"\nzone = \"path\"\n\
                 ground_direction = [0.0, 1.0]\n\
                 [[cameras.rules]]\nid = \"d\"\ntype = \"density\"\nzone = \"path\"\n\
                 warn = 4.0\nalarm = 3.5\n\
                 [[cameras.rules]]\nid = \"c\"\ntype = \"crowd_movement\"\nzone = \"path\"\n\
                 min_people = 1\nrunning_body_per_s = -1.5\n";
    let cfg = write_cameras(
        dir.path(),
        &format!(
            "[[cameras]]\nid = \"a\"\nsource = {:?}\n[[cameras.zones]]\nid = \"path\"\n\
             points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]\n{rules}",
            repo().join("Cargo.toml").to_string_lossy()
        ),
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "cameras[0].rules[0].direction: missing: the allowed direction",
        "cameras[0].rules[0].classes[0]: `pedestrian` is not a class",
        "cameras[0].rules[1].ground_direction: camera `a` has no `[cameras.calibration]`",
        "cameras[0].rules[2].area_m2: missing: the zone's area in m2",
        "cameras[0].rules[2].alarm: 3.5 must be above warn (4)",
        "cameras[0].rules[3].min_people: 1 is out of range",
        "cameras[0].rules[3].running_body_per_s: -1.5 is out of range",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}
/// `POST path` with extra headers: status and JSON body, whatever the status.
fn post(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut req = ureq::post(&format!("{base}{path}")).timeout(Duration::from_secs(60));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.call() {
        Ok(r) => (r.status(), r.into_json().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    }
}

/// Issue 12 §5: an RTSP port above 65535 used to pass check-config and reload.
#[test]
fn an_impossible_rtsp_port_is_refused_by_check_config_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let camera = |port: u32| {
        format!("[[cameras]]\nid = \"quai\"\nsource = \"rtsp://127.0.0.1:{port}/cam\"\n")
    };
    let cfg = write_cameras(dir.path(), &camera(99999));
    let (code, err) = check_config(&cfg);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cameras[0].source") && err.contains("port"),
        "{err}"
    );

    // A running server refuses the same file on reload, and keeps its camera.
    let cfg = write_cameras(dir.path(), &camera(9));
    let vigie = Vigie::start(&cfg);
    write_cameras(dir.path(), &camera(99999));
    let admin = format!("Bearer {}", vigie.admin_token);
    let (code, body) = post(
        &vigie.base,
        "/api/config/reload",
        &[("Authorization", &admin)],
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("cameras[0].source") && e.contains("port")),
        "{body}"
    );
    assert_eq!(
        vigie.get_json("/api/cameras")[0]["source"],
        "rtsp://127.0.0.1:9/cam"
    );
}

/// Issue 12 §4 on the real binary: listening on every address is logged as a risk; other web
/// pages cannot reload the configuration, and a foreign Host name is refused (DNS rebinding).
#[test]
fn an_exposed_server_warns_and_refuses_foreign_pages_and_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cameras(
        dir.path(),
        "[[cameras]]\nid = \"mire\"\nsource = \"test:ball\"\ndetect_fps = 1\n",
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", "0.0.0.0:0");
    std::fs::write(&cfg, text).unwrap();
    let vigie = Vigie::start(&cfg);
    // The console URL names 0.0.0.0; reach it on loopback.
    let base = vigie.base.replace("0.0.0.0", "127.0.0.1");
    let log = wait_for(Duration::from_secs(10), || {
        let log = vigie.log();
        log.contains("not a loopback address").then_some(log)
    })
    .unwrap_or_else(|| {
        panic!(
            "no warning about the exposed address; log:\n{}",
            vigie.log()
        )
    });
    assert!(log.contains("authentication"), "{log}");

    let admin = format!("Bearer {}", vigie.admin_token);
    let (code, body) = post(
        &base,
        "/api/config/reload",
        &[("Origin", "http://evil.example"), ("Authorization", &admin)],
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("cross-site"),
        "{body}"
    );
    let (code, body) = post(&base, "/api/config/reload", &[("Authorization", &admin)]);
    assert_eq!(
        code, 200,
        "a client that is no browser still reloads: {body}"
    );
    match ureq::get(&format!("{base}/api/alerts"))
        .set("Host", "evil.example")
        .call()
    {
        Err(ureq::Error::Status(403, r)) => {
            let v: serde_json::Value = r.into_json().unwrap();
            assert!(
                v["error"].as_str().unwrap().contains("allowed_hosts"),
                "{v}"
            );
        }
        other => panic!("a foreign Host was served: {other:?}"),
    }
    let ok = ureq::get(&format!("{base}/api/alerts"))
        .set("Authorization", &format!("Bearer {}", vigie.token))
        .call()
        .unwrap();
    assert_eq!(ok.header("x-frame-options"), Some("DENY"));
}

/// Issue 8's bad input: a weapon rule without a city weapon model, a fire rule without a zone, a
/// pose model asked of a detector: each a clear `check-config` error naming the field.
#[test]
fn check_config_refuses_a_weapon_rule_without_a_model_and_a_fire_rule_without_a_zone() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[cameras.rules]]\nid = \"w\"\ntype = \"weapon\"\nclasses = [\"knife\"]\n\
                 [[cameras.rules]]\nid = \"p\"\ntype = \"person_on_ground\"\nmodel = \"nanodet-m-416\"\n\
                 [[cameras.rules]]\nid = \"f\"\ntype = \"fire\"\n";
    let cfg = write_cameras(
        dir.path(),
        &format!(
            "[[cameras]]\nid = \"a\"\nsource = {:?}\n{rules}",
            repo().join("Cargo.toml").to_string_lossy()
        ),
    );
    let (code, err) = check_config(&cfg);
    assert_eq!(code, Some(2));
    for expected in [
        "cameras[0].rules[0].type: the weapon rule needs a weapon model supplied by the city",
        "Vigie ships no weapon model",
        "cameras[0].rules[2]: missing field `zone`",
        "cameras[0].rules[1].model: model `nanodet-m-416` is a detector model",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}
