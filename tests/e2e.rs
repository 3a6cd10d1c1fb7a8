//! End to end: the real `vigie` binary on real footage (vtest.avi), over a file and over RTSP
//! from the project's own gst-rtsp-server, with alerts read from the live stream, the REST API and
//! the journal.

mod common;

use std::time::Duration;

use common::*;

fn assert_alert_in_zone(alert: &serde_json::Value) {
    let b = &alert["boxes"][0]["box"];
    let (x1, x2, y2) = (
        b[0].as_f64().unwrap() as f32,
        b[2].as_f64().unwrap() as f32,
        b[3].as_f64().unwrap() as f32,
    );
    let ground = ((x1 + x2) / 2.0, y2);
    assert!(
        point_in_polygon(ground, ESPLANADE),
        "ground point {ground:?} of alert {alert} is not in the zone"
    );
}

#[test]
fn file_camera_raises_intrusion_alerts_that_an_operator_decides() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip();
    // A second rule on a zone nobody walks on (the roof of the building): it must stay silent.
    let roof = "[[cameras.zones]]\nid = \"roof\"\npoints = [[0.40, 0.0], [0.75, 0.0], [0.75, 0.08], [0.40, 0.08]]\n\
                [[cameras.rules]]\nid = \"roof-intrusion\"\ntype = \"intrusion\"\nzone = \"roof\"\nclasses = [\"person\"]\nmin_seconds = 0.5\n";
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            header(dir.path()),
            clip_camera("parvis", &clip.to_string_lossy(), false, ""),
            roof
        ),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let mut alerts = Vec::new();
    while let Some((id, a)) =
        sse.next_alert(Duration::from_secs(if alerts.is_empty() { 90 } else { 30 }))
    {
        alerts.push((id, a));
        if alerts.len() >= 3 {
            break;
        }
    }
    assert!(
        alerts.len() >= 2,
        "expected at least 2 intrusion alerts on the esplanade, got {}; log:\n{}",
        alerts.len(),
        vigie.log()
    );
    for (id, a) in &alerts {
        assert_eq!(a["event_type"], "intrusion");
        assert_eq!(a["camera_id"], "parvis");
        assert_eq!(a["rule_id"], "esplanade-intrusion");
        assert_eq!(a["status"], "new");
        assert_alert_in_zone(a);
        // In the journal, through the API.
        let got = vigie.get_json(&format!("/api/alerts/{id}"));
        assert_eq!(got["id"], *id);
        // The snapshot is a JPEG.
        let bytes = vigie.snapshot_jpeg(*id);
        assert!(bytes.len() > 1000 && bytes[..2] == [0xFF, 0xD8]);
    }
    // Ids increase: one incident, one alert, in order.
    assert!(alerts.windows(2).all(|w| w[0].0 < w[1].0));

    // An operator, logged in, confirms the first and dismisses the second.
    let operator = vigie.login("agent1");
    let (first, _) = &alerts[0];
    let resp = operator
        .post(&format!("/api/alerts/{first}/decision"))
        .send_json(
            serde_json::json!({"decision": "confirmed", "comment": "personne sur le chantier"}),
        )
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (second, _) = &alerts[1];
    operator
        .post(&format!("/api/alerts/{second}/decision"))
        .send_json(serde_json::json!({"decision": "false_alarm", "reason": "shadow_or_reflection"}))
        .unwrap();
    let a = vigie.get_json(&format!("/api/alerts/{first}"));
    assert_eq!(a["status"], "confirmed");
    // The decision carries the authenticated account.
    assert_eq!(a["decision"]["operator"], "agent1");
    assert_eq!(
        vigie.get_json(&format!("/api/alerts/{second}"))["status"],
        "false_alarm"
    );

    // Malformed requests get a 4xx with a reason.
    let bad = operator
        .post(&format!("/api/alerts/{first}/decision"))
        .send_json(serde_json::json!({"decision": "arrest"}));
    match bad {
        Err(ureq::Error::Status(code, _)) => assert!((400..500).contains(&code)),
        other => panic!("an unknown decision was accepted: {other:?}"),
    }
    match vigie.get("/api/alerts/not-a-number").call() {
        Err(ureq::Error::Status(400, _)) => {}
        other => panic!("expected 400, got {other:?}"),
    }
    match vigie.get("/api/alerts/999999").call() {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("expected 404, got {other:?}"),
    }

    // The camera is visible, metrics count frames and alerts.
    let cams = vigie.get_json("/api/cameras");
    assert_eq!(cams[0]["id"], "parvis");
    assert!(cams[0]["frames_inferred"].as_u64().unwrap() > 0);
    let metrics = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    assert!(metrics.contains("vigie_alerts_total{camera=\"parvis\",rule=\"esplanade-intrusion\"}"));
    assert!(metrics.contains("vigie_detect_inference_seconds_bucket"));
    assert!(metrics.contains("vigie_ingest_frames_decoded_total{camera=\"parvis\"}"));

    // Clean shutdown on SIGTERM; the decisions are in the journal file itself.
    assert_eq!(vigie.terminate(), Some(0));
    let db = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    let roof: i64 = db
        .query_row(
            "SELECT count(*) FROM alerts WHERE rule_id = 'roof-intrusion'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(roof, 0, "nobody walks on the roof");
    let decisions: i64 = db
        .query_row(
            "SELECT count(*) FROM alert_transitions WHERE action IN ('confirm', 'false_alarm')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(decisions, 2);
}

fn rtsp_camera_raises_alerts(codec: &str) {
    let server = RtspServer::start(&clip(), &["--codec", codec]);
    let url = server.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cameras(dir.path(), &clip_camera("rtsp-cam", &url, true, ""));
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let alert = sse.next_alert(Duration::from_secs(90));
    let cams = vigie.get_json("/api/cameras");
    drop(server);
    let (_, a) = alert.unwrap_or_else(|| {
        panic!(
            "no alert over RTSP ({codec}); cameras {cams}; log:\n{}",
            vigie.log()
        )
    });
    assert_eq!(a["camera_id"], "rtsp-cam");
    assert_eq!(a["event_type"], "intrusion");
    assert_alert_in_zone(&a);
    assert_eq!(cams[0]["state"], "live");
    assert!(!cams[0]["source"].as_str().unwrap().is_empty());
}

#[test]
fn rtsp_h264_camera_raises_alerts() {
    rtsp_camera_raises_alerts("h264");
}

#[test]
fn rtsp_h265_camera_raises_alerts() {
    rtsp_camera_raises_alerts("h265");
}

#[test]
fn kill_9_loses_no_delivered_alert_and_the_stream_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip();
    let cfg = write_cameras(
        dir.path(),
        &clip_camera("parvis", &clip.to_string_lossy(), false, "loop = true"),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let mut delivered = Vec::new();
    while delivered.len() < 3 {
        match sse.next_alert(Duration::from_secs(90)) {
            Some((id, _)) => delivered.push(id),
            None => break,
        }
    }
    assert!(
        !delivered.is_empty(),
        "no alert before the kill; log:\n{}",
        vigie.log()
    );
    vigie.kill9();
    drop(sse);

    // Restart on the same journal.
    let vigie = Vigie::start(&cfg);
    for id in &delivered {
        let a = vigie.get_json(&format!("/api/alerts/{id}"));
        assert_eq!(
            a["id"], *id,
            "alert {id} delivered before the kill is missing"
        );
    }
    // A console that saw everything up to the last id resumes after it, and misses nothing.
    let last = *delivered.last().unwrap();
    let resumed = Sse::connect(&vigie, Some(last));
    let (next, _) = resumed
        .next_alert(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("no alert after restart; log:\n{}", vigie.log()));
    assert!(next > last, "resumed at {next}, after {last}");
    // A console that saw nothing gets every journaled alert in order, the delivered ones first.
    let fresh = Sse::connect(&vigie, Some(0));
    let mut replay = Vec::new();
    while let Some((id, _)) = fresh.next_alert(Duration::from_secs(5)) {
        replay.push(id);
        if replay.len() >= delivered.len() {
            break;
        }
    }
    assert_eq!(&replay[..], &delivered[..]);
}
