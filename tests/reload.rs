//! Hot reload with the real binary on real footage: cameras added, removed and changed while the
//! others run (`POST /api/config/reload` and SIGHUP); an invalid file and a change that needs a
//! restart change nothing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// The roof of the building: nobody walks there, a rule on it stays silent.
const ROOF: &[[f32; 2]] = &[[0.40, 0.0], [0.75, 0.0], [0.75, 0.08], [0.40, 0.08]];

/// A camera looping the clip at its own pace, with one intrusion rule on `zone` (if any).
fn camera(id: &str, zone: Option<(&str, &[[f32; 2]])>, extra: &str) -> String {
    let mut s = format!(
        "[[cameras]]\nid = \"{id}\"\nname = \"Camera {id}\"\nsource = {:?}\nloop = true\nrealtime = true\ndetect_fps = 2\n{extra}\n",
        clip().to_string_lossy()
    );
    if let Some((zid, pts)) = zone {
        s.push_str(&format!(
            "[[cameras.zones]]\nid = \"{zid}\"\npoints = {}\n\
             [[cameras.rules]]\nid = \"{zid}-intrusion\"\ntype = \"intrusion\"\nzone = \"{zid}\"\nclasses = [\"person\"]\nmin_seconds = 1.0\ncooldown_seconds = 10\nmin_score = 0.4\n",
            polygon_toml(pts)
        ));
    }
    s
}

/// `POST /api/config/reload`: status and JSON body, whatever the status.
fn reload(vigie: &Vigie) -> (u16, Value) {
    let r = vigie.admin_post("/api/config/reload").call();
    match r {
        Ok(resp) => (resp.status(), resp.into_json().expect("json")),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_json().expect("json")),
        Err(e) => panic!("POST /api/config/reload: {e}"),
    }
}

fn cameras(vigie: &Vigie) -> Vec<Value> {
    vigie
        .get_json("/api/cameras")
        .as_array()
        .cloned()
        .expect("camera list")
}

fn ids(vigie: &Vigie) -> Vec<String> {
    cameras(vigie)
        .iter()
        .map(|c| c["id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn camera_status(vigie: &Vigie, id: &str) -> Option<Value> {
    cameras(vigie).into_iter().find(|c| c["id"] == id)
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Waits until camera `id` is live and has decoded more than `after` frames.
fn wait_decoding(vigie: &Vigie, id: &str, after: u64) -> Value {
    wait_for(Duration::from_secs(60), || {
        camera_status(vigie, id)
            .filter(|c| c["state"] == "live" && u64_of(c, "frames_decoded") > after)
    })
    .unwrap_or_else(|| {
        panic!(
            "camera {id} did not decode past frame {after}: {:?}\nlog:\n{}",
            camera_status(vigie, id),
            vigie.log()
        )
    })
}

/// A camera's decoded-frame counter from `/metrics` (kept after the camera is removed).
fn decoded_metric(vigie: &Vigie, camera: &str) -> Option<f64> {
    let text = vigie
        .get("/metrics")
        .call()
        .expect("GET /metrics")
        .into_string()
        .expect("metrics text");
    let prefix = format!("vigie_ingest_frames_decoded_total{{camera=\"{camera}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn reload_adds_removes_and_changes_cameras_while_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A watches the roof (silent), B the esplanade.
    write_cameras(
        d,
        &format!(
            "{}{}",
            camera("a", Some(("roof", ROOF)), ""),
            camera("b", Some(("esplanade", ESPLANADE)), "")
        ),
    );
    let vigie = Vigie::start(&d.join("vigie.toml"));
    assert_eq!(ids(&vigie), ["a", "b"]);
    wait_decoding(&vigie, "b", 0);
    let a_before = wait_decoding(&vigie, "a", 5);

    // Remove B, add C, and move A's zone to the esplanade (its rules only).
    write_cameras(
        d,
        &format!(
            "{}{}",
            camera("a", Some(("esplanade", ESPLANADE)), ""),
            camera("c", None, "")
        ),
    );
    let sse = Sse::connect(&vigie, None);
    let (status, report) = reload(&vigie);
    assert_eq!(status, 200, "{report}\nlog:\n{}", vigie.log());
    assert_eq!(list(&report["added"]), ["c"], "{report}");
    assert_eq!(list(&report["removed"]), ["b"], "{report}");
    assert_eq!(list(&report["updated"]), ["a"], "{report}");
    assert!(list(&report["restarted"]).is_empty(), "{report}");
    assert!(list(&report["unchanged"]).is_empty(), "{report}");
    assert_eq!(ids(&vigie), ["a", "c"]);

    // A never stopped: same status object (uptime and counters carry on), no restart, frames
    // still coming.
    let a_after = wait_decoding(&vigie, "a", u64_of(&a_before, "frames_decoded"));
    assert_eq!(u64_of(&a_after, "restarts"), 0, "{a_after}");
    assert!(
        a_after["uptime_seconds"].as_f64().unwrap() > a_before["uptime_seconds"].as_f64().unwrap(),
        "A's status was replaced: {a_before} then {a_after}"
    );
    // C goes live.
    wait_decoding(&vigie, "c", 0);
    // B's pipeline is stopped: its counter no longer moves while A's does.
    let b_stopped = decoded_metric(&vigie, "b").expect("B's counter");
    let a_now = u64_of(&camera_status(&vigie, "a").unwrap(), "frames_decoded");
    wait_decoding(&vigie, "a", a_now + 5);
    assert_eq!(decoded_metric(&vigie, "b"), Some(b_stopped));

    // SIGHUP after another edit: D added, the rest untouched.
    write_cameras(
        d,
        &format!(
            "{}{}{}",
            camera("a", Some(("esplanade", ESPLANADE)), ""),
            camera("c", None, ""),
            camera("d", None, "")
        ),
    );
    let pid = vigie.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(sent.success());
    wait_for(Duration::from_secs(30), || {
        (ids(&vigie) == ["a", "c", "d"]).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "SIGHUP did not add D: {:?}\nlog:\n{}",
            ids(&vigie),
            vigie.log()
        )
    });
    wait_decoding(&vigie, "d", 0);
    assert!(
        vigie.log().contains("SIGHUP reload done"),
        "{}",
        vigie.log()
    );

    // An invalid file: an unknown key and a polygon outside the image. Nothing changes.
    let a_mid = wait_decoding(&vigie, "a", 0);
    let bad_zone: &[[f32; 2]] = &[[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]];
    write_cameras(
        d,
        &format!(
            "{}{}",
            camera("a", Some(("esplanade", ESPLANADE)), "colour = \"red\""),
            camera("c", Some(("bad", bad_zone)), "")
        ),
    );
    let (status, body) = reload(&vigie);
    assert_eq!(status, 422, "{body}");
    let errors = list(&body["errors"]);
    assert!(
        errors.iter().any(|e| e.starts_with("cameras[0].colour")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("cameras[1].zones[0].points[1]")),
        "{errors:?}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{body}"
    );
    assert_eq!(ids(&vigie), ["a", "c", "d"]);

    // A change that needs a restart is refused, naming the field; nothing changes (E is not
    // added).
    write_config(
        d,
        &format!(
            "{}{}{}{}",
            header(d).replace("workers = 1", "workers = 2"),
            camera("a", Some(("esplanade", ESPLANADE)), ""),
            camera("c", None, ""),
            camera("e", None, "")
        ),
    );
    let (status, body) = reload(&vigie);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("restart required"),
        "{body}"
    );
    assert!(
        list(&body["errors"])
            .iter()
            .any(|e| e.starts_with("detector.workers")),
        "{body}"
    );
    assert_eq!(ids(&vigie), ["a", "c", "d"]);

    // The engine kept running through all of it, A without a single restart.
    let a_end = wait_decoding(&vigie, "a", u64_of(&a_mid, "frames_decoded"));
    assert_eq!(u64_of(&a_end, "restarts"), 0, "{a_end}");

    // A's new rule raises alerts: the esplanade, which A did not watch before the reload.
    let (_, alert) = loop {
        let got = sse.next_alert(Duration::from_secs(150)).unwrap_or_else(|| {
            panic!(
                "no alert from A's new zone after the reload; log:\n{}",
                vigie.log()
            )
        });
        if got.1["camera_id"] == "a" {
            break got;
        }
    };
    assert_eq!(alert["rule_id"], "esplanade-intrusion", "{alert}");
    assert_eq!(alert["zone_id"], "esplanade", "{alert}");
    assert_eq!(vigie.terminate(), Some(0));
}
