//! Ingest robustness, end to end: the real binary, real footage, real servers on 127.0.0.1
//! (`vigie serve-rtsp`, and a small MJPEG-over-HTTP server written here).
//!
//! Run one at a time: `cargo test --release --test ingest -- --test-threads=1`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Runs a gst-launch-1.0 line (the test's own footage preparation).
fn gst_launch(args: &str) {
    let st = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(args.split_whitespace())
        .status()
        .expect("gst-launch-1.0");
    assert!(st.success(), "gst-launch-1.0 {args} failed");
}

/// Encodes the pedestrian clip to H.264 in MP4 (the first `frames` frames at `width`x`height`).
fn h264_clip(dir: &Path, name: &str, width: u32, height: u32, frames: u32) -> PathBuf {
    let out = dir.join(name);
    gst_launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width={width},height={height},format=I420 \
         ! identity eos-after={frames} ! x264enc speed-preset=ultrafast key-int-max=10 bframes=0 bitrate=1200 \
         ! h264parse ! mp4mux ! filesink location={}",
        clip().display(),
        out.display()
    ));
    assert!(out.is_file());
    out
}

fn camera(id: &str, source: &str, extra: &str) -> String {
    format!("[[cameras]]\nid = \"{id}\"\nsource = {source:?}\n{extra}\n")
}

fn cameras(vigie: &Vigie) -> Vec<serde_json::Value> {
    vigie
        .get_json("/api/cameras")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn camera_json(vigie: &Vigie, id: &str) -> serde_json::Value {
    cameras(vigie)
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("camera {id} missing from /api/cameras"))
}

fn get_text(vigie: &Vigie, path: &str) -> (u16, String) {
    match vigie.get(path).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

fn assert_running(vigie: &mut Vigie) {
    assert!(
        vigie.child.try_wait().expect("try_wait").is_none(),
        "vigie exited; log:\n{}",
        vigie.log()
    );
    let (code, _) = get_text(vigie, "/healthz");
    assert_eq!(code, 200, "/healthz; log:\n{}", vigie.log());
}

#[test]
fn a_paused_server_is_detected_as_a_stall_and_the_camera_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let clip = h264_clip(dir.path(), "stall.mp4", 384, 288, 795);
    let server = RtspServer::start(&clip, &["--passthrough"]);
    let cfg = write_cameras(
        dir.path(),
        &camera(
            "stalled",
            &server.url,
            "detect_fps = 1\nstall_seconds = 3\nreconnect_max_seconds = 2",
        ),
    );
    let vigie = Vigie::start(&cfg);
    wait_for(Duration::from_secs(30), || {
        (camera_json(&vigie, "stalled")["state"] == "live").then_some(())
    })
    .unwrap_or_else(|| panic!("never live; log:\n{}", vigie.log()));
    assert_eq!(camera_json(&vigie, "stalled")["restarts"], 0);

    // The server process stops: its sockets stay open but no packet arrives.
    server.signal("STOP");
    let stalled = wait_for(Duration::from_secs(20), || {
        let c = camera_json(&vigie, "stalled");
        let err = c["last_error"].as_str().unwrap_or("").to_string();
        (c["state"] != "live" && err.contains("no frame") && c["restarts"].as_u64() >= Some(1))
            .then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "stall not detected: {}; log:\n{}",
            camera_json(&vigie, "stalled"),
            vigie.log()
        )
    });
    assert!(
        ["reconnecting", "starting"].contains(&stalled["state"].as_str().unwrap_or("")),
        "{stalled}"
    );
    // Attempts go on, each one counted (backoff capped at 2 s, stall after 3 s).
    let r1 = stalled["restarts"].as_u64().unwrap();
    wait_for(Duration::from_secs(20), || {
        (camera_json(&vigie, "stalled")["restarts"].as_u64() > Some(r1)).then_some(())
    })
    .unwrap_or_else(|| panic!("no further attempt; log:\n{}", vigie.log()));
    let metrics = get_text(&vigie, "/metrics").1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vigie_ingest_restarts_total{camera=\"stalled\"}")),
        "{metrics}"
    );

    // The server resumes: the camera is live again and decodes.
    server.signal("CONT");
    let back = wait_for(Duration::from_secs(40), || {
        let c = camera_json(&vigie, "stalled");
        (c["state"] == "live").then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "not live after SIGCONT: {}; log:\n{}",
            camera_json(&vigie, "stalled"),
            vigie.log()
        )
    });
    let decoded = back["frames_decoded"].as_u64().unwrap();
    wait_for(Duration::from_secs(10), || {
        (camera_json(&vigie, "stalled")["frames_decoded"].as_u64() > Some(decoded + 10))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no frames after coming back; log:\n{}", vigie.log()));
    assert!(back["last_error"].is_null(), "{back}");
}

/// Overwrites `len` bytes at each fraction of the file with pseudo-random bytes.
fn corrupt(path: &Path, at: &[f64], len: usize) -> Vec<u64> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut seed: u32 = 0x1234_5678;
    let mut offsets = Vec::new();
    for f in at {
        let start = (bytes.len() as f64 * f) as usize;
        for b in bytes.iter_mut().skip(start).take(len) {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (seed >> 24) as u8;
        }
        offsets.push(start as u64);
    }
    std::fs::write(path, bytes).unwrap();
    offsets
}

#[test]
fn a_partly_corrupted_stream_keeps_decoding_or_restarts_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    // 300 frames (30 s at 10 fps); the moov box is at the end of the file, untouched.
    let clip = h264_clip(dir.path(), "corrupt.mp4", 768, 576, 300);
    corrupt(&clip, &[0.25, 0.35, 0.45, 0.55], 3000);
    let server = RtspServer::start(&clip, &["--passthrough"]);
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            header(dir.path()),
            camera(
                "damaged",
                &server.url,
                "detect_fps = 2\nreconnect_max_seconds = 2"
            ),
            // A healthy camera next to it must not be affected.
            camera("healthy", "test:ball", "detect_fps = 1")
        ),
    );
    let mut vigie = Vigie::start(&cfg);
    // Past the last damaged range (~60 % of 300 frames), or restarted and live again.
    let outcome = wait_for(Duration::from_secs(90), || {
        let c = camera_json(&vigie, "damaged");
        let decoded = c["frames_decoded"].as_u64().unwrap_or(0);
        let restarts = c["restarts"].as_u64().unwrap_or(0);
        if restarts == 0 && decoded >= 200 {
            Some(format!("decoded past the damage ({decoded} frames)"))
        } else if restarts >= 1 && c["state"] == "live" && decoded > 0 {
            Some(format!("restarted ({restarts}) and live again"))
        } else {
            None
        }
    })
    .unwrap_or_else(|| {
        panic!(
            "neither decoded past the damage nor restarted: {}; log:\n{}",
            camera_json(&vigie, "damaged"),
            vigie.log()
        )
    });
    eprintln!("corrupted stream: {outcome}");
    assert_running(&mut vigie);
    let healthy = camera_json(&vigie, "healthy");
    assert_eq!(healthy["state"], "live", "{healthy}");
    assert_eq!(healthy["restarts"], 0, "{healthy}");
    drop(server);
}

#[test]
fn sixteen_cameras_at_once_all_go_live_and_keep_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let clip = h264_clip(dir.path(), "small.mp4", 320, 240, 795);
    // One server, a fresh pipeline per client (non-shared factory), no re-encoding.
    let server = RtspServer::start(&clip, &["--passthrough"]);
    let mut text = header(dir.path());
    for i in 0..16 {
        text.push_str(&camera(
            &format!("cam-{i:02}"),
            &server.url,
            "detect_fps = 1",
        ));
    }
    let cfg = write_config(dir.path(), &text);
    let mut vigie = Vigie::start(&cfg);
    let first = wait_for(Duration::from_secs(60), || {
        let cams = cameras(&vigie);
        (cams.len() == 16 && cams.iter().all(|c| c["state"] == "live")).then_some(cams)
    })
    .unwrap_or_else(|| panic!("not all live: {:?}; log:\n{}", cameras(&vigie), vigie.log()));
    // Every camera keeps decoding: 25 more frames each (2.5 s of the 10 fps clip), waited for
    // without a rate (a loaded 2-core machine may be slower), while all stay live.
    let grew = |later: &[serde_json::Value]| {
        first.iter().zip(later).all(|(a, b)| {
            let n = |c: &serde_json::Value, k: &str| c[k].as_u64().unwrap_or(0);
            b["state"] == "live"
                && n(b, "frames_decoded") >= n(a, "frames_decoded") + 25
                && n(b, "frames_inferred") > 0
        })
    };
    let mut last = Vec::new();
    let ok = wait_for(Duration::from_secs(60), || {
        last = cameras(&vigie);
        grew(&last).then_some(())
    });
    assert!(
        ok.is_some(),
        "a camera stopped decoding or left live: before {first:?}\nafter {last:?}\nlog:\n{}",
        vigie.log()
    );
    assert_running(&mut vigie);
    drop(server);
}

#[test]
fn credentials_never_appear_in_the_api_metrics_alerts_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&clip(), &[]);
    let url = format!("rtsp://user:s3cret@127.0.0.1:{}/cam", server.port());
    // A second camera with credentials that cannot connect: its errors are logged and shown.
    let dead = "rtsp://admin:s3cret@127.0.0.1:1/cam";
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            header(dir.path()),
            clip_camera("secret-cam", &url, true, ""),
            camera("dead-cam", dead, "reconnect_max_seconds = 1")
        ),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let (id, alert) = sse
        .next_alert(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("no alert; log:\n{}", vigie.log()));
    assert_eq!(alert["camera_id"], "secret-cam");
    let dead_cam = wait_for(Duration::from_secs(20), || {
        let c = camera_json(&vigie, "dead-cam");
        (c["restarts"].as_u64() >= Some(1) && !c["last_error"].is_null()).then_some(c)
    })
    .unwrap_or_else(|| panic!("the dead camera never failed; log:\n{}", vigie.log()));
    let cams = vigie.get_json("/api/cameras").to_string();
    let metrics = get_text(&vigie, "/metrics").1;
    let alert_json = vigie.get_json(&format!("/api/alerts/{id}")).to_string();
    let alerts = vigie.get_json("/api/alerts").to_string();
    let log = vigie.log();
    for (what, text) in [
        ("/api/cameras", &cams),
        ("/metrics", &metrics),
        ("the alert", &alert_json),
        ("/api/alerts", &alerts),
        ("the SSE alert", &alert.to_string()),
        ("the log", &log),
    ] {
        assert!(
            !text.contains("s3cret"),
            "{what} shows the password:\n{text}"
        );
    }
    assert!(cams.contains("rtsp://***@127.0.0.1"), "{cams}");
    assert!(
        log.contains("dead-cam"),
        "the dead camera's errors are logged"
    );
    assert!(dead_cam["state"] != "live", "{dead_cam}");
}

fn rtsp_camera_alerts(server_args: &[&str], extra: &str) {
    let server = RtspServer::start(&clip(), server_args);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cameras(
        dir.path(),
        &clip_camera("rtsp-cam", &server.url, true, extra),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let alert = sse.next_alert(Duration::from_secs(90));
    let cam = camera_json(&vigie, "rtsp-cam");
    let (_, a) = alert.unwrap_or_else(|| {
        panic!(
            "no alert over RTSP {server_args:?} {extra}; camera {cam}; log:\n{}",
            vigie.log()
        )
    });
    assert_eq!(a["camera_id"], "rtsp-cam");
    assert_eq!(a["event_type"], "intrusion");
    assert_eq!(cam["state"], "live");
    assert!(cam["frames_inferred"].as_u64().unwrap() > 0);
}

#[test]
fn rtsp_mjpeg_camera_raises_alerts() {
    rtsp_camera_alerts(&["--codec", "mjpeg"], "");
}

#[test]
fn rtsp_over_udp_raises_alerts() {
    rtsp_camera_alerts(&["--codec", "h264"], "rtsp_transport = \"udp\"");
}

fn base64(input: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A minimal MJPEG-over-HTTP camera: Basic authentication, then `multipart/x-mixed-replace`
/// JPEG frames at 10 fps, looping over `frames`. Returns the port and a stop flag.
fn mjpeg_http_server(frames: Vec<Vec<u8>>, user: &str, password: &str) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(frames);
    let expected = format!("basic {}", base64(format!("{user}:{password}").as_bytes()));
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if stop2.load(Ordering::SeqCst) {
                return;
            }
            let frames = frames.clone();
            let expected = expected.clone();
            let stop = stop2.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.trim().to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("authorization:") {
                        authorized = v.trim() == expected.to_ascii_lowercase();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                if !authorized {
                    let _ = conn.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=vigieframe\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                );
                for f in frames.iter().cycle() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let head = format!(
                        "--vigieframe\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        f.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(f).is_err()
                        || conn.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    (port, stop)
}

#[test]
fn http_mjpeg_camera_with_credentials_raises_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let jpegs = dir.path().join("jpeg");
    std::fs::create_dir(&jpegs).unwrap();
    gst_launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! jpegenc quality=80 ! multifilesink location={}/f%05d.jpg",
        clip().display(),
        jpegs.display()
    ));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&jpegs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() > 700, "{} frames", names.len());
    let frames: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let (port, stop) = mjpeg_http_server(frames, "op", "s3cret");
    let url = format!("http://op:s3cret@127.0.0.1:{port}/video.mjpg");
    let cfg = write_cameras(dir.path(), &clip_camera("http-cam", &url, true, ""));
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let alert = sse.next_alert(Duration::from_secs(90));
    let cam = camera_json(&vigie, "http-cam");
    stop.store(true, Ordering::SeqCst);
    let (_, a) = alert.unwrap_or_else(|| {
        panic!(
            "no alert over HTTP MJPEG; camera {cam}; log:\n{}",
            vigie.log()
        )
    });
    assert_eq!(a["camera_id"], "http-cam");
    assert_eq!(a["event_type"], "intrusion");
    assert_eq!(cam["state"], "live", "{cam}");
    assert!(cam["frames_decoded"].as_u64().unwrap() > 10, "{cam}");
    assert!(cam["frames_inferred"].as_u64().unwrap() > 0, "{cam}");
    assert_eq!(
        cam["source"],
        format!("http://***@127.0.0.1:{port}/video.mjpg")
    );
    assert!(!vigie.log().contains("s3cret"));
}

/// Offset just past the start of the `mdat` box of an MP4 (the index, `moov`, is before it in a
/// file written with `faststart`).
fn mdat_offset(bytes: &[u8]) -> usize {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if &bytes[at + 4..at + 8] == b"mdat" {
            return at + 8;
        }
        assert!(size >= 8, "unexpected box size {size} at {at}");
        at += size;
    }
    panic!("no mdat box");
}

/// Without ANSI colours, so log fields read `key=value`.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Issue 12 §2: a damaged file never leaves its camera `starting` for ever. Two damaged MP4s of
/// the real clip loop next to healthy cameras: one cut at 40 % (its index, written last by
/// mp4mux, is missing), one whose index is intact but whose frames are all cut off (it ends at
/// once; the looping camera used to seek back to its start for ever, `starting`, no attempt
/// counted). Both must be shown `reconnecting` with their error, attempts counted.
#[test]
fn damaged_looping_files_are_retried_and_shown_reconnecting_never_stuck_starting() {
    let dir = tempfile::tempdir().unwrap();
    let whole = h264_clip(dir.path(), "whole.mp4", 768, 576, 300);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 40 / 100]).unwrap();
    let faststart = dir.path().join("faststart.mp4");
    gst_launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! mp4mux faststart=true ! filesink location={}",
        whole.display(),
        faststart.display()
    ));
    let bytes = std::fs::read(&faststart).unwrap();
    let hollow = dir.path().join("hollow.mp4");
    std::fs::write(&hollow, &bytes[..mdat_offset(&bytes) + 100]).unwrap();

    let others: String = (1..=3)
        .map(|i| {
            camera(
                &format!("ok{i}"),
                &clip().to_string_lossy(),
                "loop = true\ndetect_fps = 1",
            )
        })
        .collect();
    let cfg = write_cameras(
        dir.path(),
        &format!(
            "{}{}{others}",
            camera("cut", &cut.to_string_lossy(), "loop = true"),
            camera("hollow", &hollow.to_string_lossy(), "loop = true"),
        ),
    );
    let mut vigie = Vigie::start(&cfg);
    for id in ["cut", "hollow"] {
        let c = wait_for(Duration::from_secs(40), || {
            let c = camera_json(&vigie, id);
            (c["state"] == "reconnecting"
                && c["last_error"].is_string()
                && c["restarts"].as_u64().unwrap_or(0) >= 2)
                .then_some(c)
        })
        .unwrap_or_else(|| {
            panic!(
                "camera {id} not retried: {}; log:\n{}",
                camera_json(&vigie, id),
                vigie.log()
            )
        });
        eprintln!("{id}: {c}");
    }
    for i in 1..=3 {
        let c = camera_json(&vigie, &format!("ok{i}"));
        assert_eq!(c["state"], "live", "{c}");
    }
    assert_running(&mut vigie);
    // The start line counts detector workers only (the health thread is not one).
    let log = plain(&vigie.log());
    let line = log
        .lines()
        .find(|l| l.contains("engine started"))
        .expect("engine started line");
    assert!(line.contains("workers=1"), "{line}");
}
