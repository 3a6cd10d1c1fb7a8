//! Evidence end to end, through the real binary on real footage (vtest.avi): privacy masks hide
//! an area from the detector and from every snapshot; snapshots are full resolution, or for a
//! camera whose detection reads its sub-stream, the detector's frame at once and the main
//! stream's full-resolution still attached after.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::webhook::{Hook, Receiver};
use common::*;
use gstreamer as gst;
use gstreamer::prelude::*;

const HOOK_SECRET: &str = "evidence-webhook-key-0123456789";

/// A mask over the esplanade and a margin above it (people's bodies stand above their feet).
const MASK: &[[f32; 2]] = &[[0.5, 0.22], [1.0, 0.22], [1.0, 0.85], [0.5, 0.85]];

fn in_mask(x: f32, y: f32) -> bool {
    point_in_polygon((x, y), MASK)
}

/// A rule on (nearly) the whole image: fires on anyone. Not the whole image: a zone's edges along
/// the image border are never crossed, so a zone made only of them has no entry.
const ANYWHERE: &str = "[[cameras.zones]]\nid = \"all\"\npoints = [[0.01, 0.01], [0.99, 0.01], [0.99, 0.99], [0.01, 0.99]]\n\
     [[cameras.rules]]\nid = \"anywhere\"\ntype = \"intrusion\"\nzone = \"all\"\nclasses = [\"person\"]\nmin_seconds = 0.5\ncooldown_seconds = 5\nmin_score = 0.4\n";

/// The alert's snapshot, decoded.
fn snapshot(vigie: &Vigie, id: i64) -> image::RgbImage {
    image::load_from_memory(&vigie.snapshot_jpeg(id))
        .unwrap()
        .to_rgb8()
}

/// Waits until the camera has played its file to the end and every frame is analysed.
fn wait_until_stopped(vigie: &Vigie) {
    let done = wait_for(Duration::from_secs(300), || {
        let cams = vigie.get_json("/api/cameras");
        (cams[0]["state"] == "stopped").then_some(())
    });
    assert!(
        done.is_some(),
        "the clip did not end; log:\n{}",
        vigie.log()
    );
    // The last frames in the queue.
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn a_privacy_mask_hides_the_esplanade_from_detection_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip();
    // The esplanade rule (which fires on this clip without a mask: see e2e.rs), and a rule on the
    // whole image, which must still fire on people outside the mask.
    let extra = format!(
        "[[cameras.privacy_masks]]\nid = \"esplanade\"\npoints = {}\n",
        polygon_toml(MASK)
    );
    let cfg = write_cameras(
        dir.path(),
        &format!(
            "{}{ANYWHERE}",
            clip_camera("parvis", &clip.to_string_lossy(), false, &extra)
        ),
    );
    let (ok, out, err) = cli(&["check-config", &cfg.to_string_lossy()], "");
    assert!(ok, "{out}{err}");
    let vigie = Vigie::start(&cfg);
    wait_until_stopped(&vigie);
    let alerts = vigie.get_json("/api/alerts?limit=200");
    let alerts = alerts
        .as_array()
        .or_else(|| alerts["alerts"].as_array())
        .cloned()
        .unwrap_or_default();
    let esplanade = alerts
        .iter()
        .filter(|a| a["rule_id"] == "esplanade-intrusion")
        .count();
    assert_eq!(
        esplanade, 0,
        "the masked esplanade raised alerts: {alerts:?}"
    );
    let anywhere: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "anywhere")
        .collect();
    assert!(
        !anywhere.is_empty(),
        "people outside the mask must still be detected; log:\n{}",
        vigie.log()
    );
    for a in &anywhere {
        let b = &a["boxes"][0]["box"];
        let f = |i: usize| b[i].as_f64().unwrap() as f32;
        let (cx, cy) = ((f(0) + f(2)) / 2.0, (f(1) + f(3)) / 2.0);
        assert!(!in_mask(cx, cy), "a detection inside the mask: {a}");
    }
    // The snapshot is black inside the mask.
    let id = anywhere[0]["id"].as_i64().unwrap();
    let img = snapshot(&vigie, id);
    let (w, h) = img.dimensions();
    // From the full-resolution frame (vtest.avi is 768x576), not the 416x416 detector input.
    assert_eq!((w, h), (768, 576), "the snapshot is not full resolution");
    let (inside, black) = black_inside_mask(&img);
    assert!(inside > 1000, "{inside} samples inside the mask");
    // Boxes of people next to the mask may be drawn over its edge; everything else is black.
    assert!(
        f64::from(black) / f64::from(inside) > 0.97,
        "{black} of {inside} pixels inside the mask are black"
    );
    // And outside it the square is not black.
    let p = img.get_pixel(w / 4, h / 2).0;
    assert!(p.iter().any(|&c| c > 40), "{p:?}");
    // Without a sub-stream, the one decoded stream fills the full-resolution ring all along.
    let full = metric(
        &vigie,
        "vigie_evidence_full_frames_total{camera=\"parvis\"}",
    );
    assert!(full.unwrap_or(0.0) > 100.0, "{full:?}");
}

/// Samples (every 4th pixel) well inside the mask, and how many of them are black.
fn black_inside_mask(img: &image::RgbImage) -> (u32, u32) {
    let (w, h) = img.dimensions();
    let (mut inside, mut black) = (0u32, 0u32);
    for y in (0..h).step_by(4) {
        for x in (0..w).step_by(4) {
            let (xn, yn) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            // Well inside the mask (JPEG blurs its edge by a few pixels).
            if in_mask(xn - 0.02, yn)
                && in_mask(xn + 0.02, yn)
                && in_mask(xn, yn - 0.02)
                && in_mask(xn, yn + 0.02)
            {
                inside += 1;
                if img.get_pixel(x, y).0.iter().all(|&c| c < 24) {
                    black += 1;
                }
            }
        }
    }
    (inside, black)
}

/// The value of a metric line of `/metrics` (`name{labels}`), if there is one.
fn metric(vigie: &Vigie, line: &str) -> Option<f64> {
    let text = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

/// The first `seconds` of the clip as H.264 in MP4 at `width`x`height`, 25 fps: a camera's main
/// stream or sub-stream.
fn encode_clip(out: &std::path::Path, (width, height): (u32, u32), seconds: u32) {
    let status = std::process::Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", clip().display()))
        .args([
            "!",
            "decodebin",
            "!",
            "videoconvert",
            "!",
            "videoscale",
            "!",
            "videorate",
            "!",
        ])
        .arg(format!(
            "video/x-raw,width={width},height={height},framerate=25/1,format=I420"
        ))
        .args(["!", "identity"])
        .arg(format!("eos-after={}", seconds * 25))
        .args([
            "!",
            "x264enc",
            "speed-preset=ultrafast",
            "key-int-max=50",
            "bframes=0",
        ])
        .args(["!", "h264parse", "!", "mp4mux", "!", "filesink"])
        .arg(format!("location={}", out.display()))
        .status()
        .expect("gst-launch-1.0 (deploy/setup.sh installs GStreamer)");
    assert!(status.success(), "cannot encode {}", out.display());
}

/// The frames of a video file as RGB: (timestamp in ns, width, height, pixels), those within
/// `window_ns` of `t_ns` only.
fn frames_near(file: &Path, t_ns: u64, window_ns: u64) -> Vec<(u64, u32, u32, Vec<u8>)> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB \
         ! appsink name=sink sync=false",
        file.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gstreamer_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let info = gstreamer_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let b = sample.buffer().unwrap();
        let pts = b.pts().unwrap().nseconds();
        if pts.abs_diff(t_ns) > window_ns {
            continue;
        }
        let (w, h) = (info.width(), info.height());
        let stride = info.stride()[0] as usize;
        let map = b.map_readable().unwrap();
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h as usize {
            rgb.extend_from_slice(&map[y * stride..y * stride + w as usize * 3]);
        }
        out.push((pts, w, h, rgb));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// Mean squared difference of luma between the snapshot and a frame of the same size, on every
/// 4th pixel outside the mask (with a margin: the JPEG blurs its edge).
fn difference(img: &image::RgbImage, (w, h, rgb): (u32, u32, &[u8])) -> f64 {
    let luma =
        |p: &[u8]| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
    let (mut sum, mut n) = (0.0, 0u32);
    for y in (0..h).step_by(4) {
        for x in (0..w).step_by(4) {
            let (xn, yn) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            if in_mask(xn, yn)
                || in_mask(xn + 0.03, yn)
                || in_mask(xn, yn + 0.03)
                || in_mask(xn, yn - 0.03)
            {
                continue;
            }
            let i = ((y * w + x) * 3) as usize;
            let d = luma(&img.get_pixel(x, y).0) - luma(&rgb[i..i + 3]);
            sum += d * d;
            n += 1;
        }
    }
    sum / f64::from(n.max(1))
}

/// A camera whose detection reads its 640x360 sub-stream: the main stream (1280x720) is never
/// decoded continuously, only per alert from its compressed ring. The alert is journaled at once
/// with the detector's frame as snapshot; its full-resolution still, attached after, is the main
/// stream's frame of the alert's instant, masked; the alert's clip comes from the main stream.
#[test]
fn detection_on_the_sub_stream_gives_snapshots_decoded_on_demand_from_the_main_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (main, sub) = main_and_sub_stream(dir.path());
    // Both files played in real time, as two live streams of one camera.
    let (main_src, sub_src) = (main.to_string_lossy(), sub.to_string_lossy());
    sub_stream_camera_case(dir.path(), &main_src, &sub_src, &main, 120_000_000);
}

/// The same over RTSP: two `vigie serve-rtsp` servers send the two encoded files as they are
/// (`--passthrough`: the main stream keeps its 2 s GOP), each from its start when Vigie connects.
/// The two connections are made a few hundred milliseconds apart at most, so the snapshot may be
/// that much off the analysed frame's picture (an IP camera's two streams share one sensor and
/// clock); what is checked is that the on-demand decode picks the instant from the wall clock of
/// live streams, not the GOP's keyframe (up to 2 s earlier) nor a stale frame.
#[test]
fn detection_on_an_rtsp_sub_stream_gives_snapshots_of_the_alert_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (main, sub) = main_and_sub_stream(dir.path());
    let main_server = RtspServer::start(&main, &["--passthrough"]);
    let sub_server = RtspServer::start(&sub, &["--passthrough"]);
    sub_stream_camera_case(
        dir.path(),
        &main_server.url,
        &sub_server.url,
        &main,
        400_000_000,
    );
}

/// The first 14 s of vtest.avi as a camera's main stream (1280x720) and sub-stream (640x360).
fn main_and_sub_stream(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let main = dir.join("main-720p.mp4");
    let sub = dir.join("sub-360p.mp4");
    encode_clip(&main, (1280, 720), 14);
    encode_clip(&sub, (640, 360), 14);
    (main, sub)
}

/// One camera reading `main_src` with `detect_source = sub_src`, masked; its first alert's
/// snapshot is the detector's frame and its still must be `main_file`'s frame within
/// `tolerance_ns` of the analysed frame's timestamp.
fn sub_stream_camera_case(
    dir: &Path,
    main_src: &str,
    sub_src: &str,
    main_file: &Path,
    tolerance_ns: u64,
) {
    let extra = format!(
        "detect_source = {sub_src:?}\n[[cameras.privacy_masks]]\nid = \"esplanade\"\npoints = {}\n",
        polygon_toml(MASK)
    );
    // A webhook output: told of the alert, then of its still once attached.
    std::fs::write(dir.join("hook.key"), format!("{HOOK_SECRET}\n")).unwrap();
    let hook_port = free_port();
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let _receiver = Receiver::start(hook_port, HOOK_SECRET, hooks.clone());
    let output = format!(
        "[[outputs]]\ntype = \"webhook\"\nid = \"vms\"\nurl = \"http://127.0.0.1:{hook_port}/vigie\"\n\
         secret_file = \"hook.key\"\ntimeout_seconds = 3\nretry_max_seconds = 2\n"
    );
    let cfg = write_cameras(
        dir,
        &format!(
            "{}{ANYWHERE}{output}",
            clip_camera("parvis", main_src, true, &extra)
        ),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let (id, alert) = sse
        .next_alert(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no alert; log:\n{}", vigie.log()));
    assert_eq!(alert["rule_id"], "anywhere");
    // Delivered before the main stream was decoded: the detector's 416x416 frame, drawn at the
    // camera's 16:9, the still on its way.
    assert_eq!(alert["still_pending"], true, "{alert}");
    assert_eq!(snapshot(&vigie, id).dimensions(), (740, 416));
    let img = image::load_from_memory(&fetch_when_ready(
        &vigie,
        &format!("/api/alerts/{id}/still.jpg"),
    ))
    .unwrap()
    .to_rgb8();
    // The main stream's frame, not the 640x360 sub-stream nor the 416x416 detector input.
    assert_eq!(img.dimensions(), (1280, 720), "log:\n{}", vigie.log());
    let alert = vigie.get_json(&format!("/api/alerts/{id}"));
    assert_eq!(alert["still_url"], format!("/api/alerts/{id}/still.jpg"));
    assert_eq!(alert["still_pending"], serde_json::Value::Null, "{alert}");
    still_reaches_the_webhook(&vigie, &hooks, id);
    let log = vigie.log();
    assert!(
        log.contains("detection reads the sub-stream; snapshots come from the main stream")
            && log.contains("kept compressed, decoded per alert"),
        "{log}"
    );
    // Masked like every image.
    let (inside, black) = black_inside_mask(&img);
    assert!(
        inside > 1000 && f64::from(black) / f64::from(inside) > 0.97,
        "{black} of {inside}"
    );
    // Of the alert's instant: of the main stream's frames within 2.5 s of the analysed frame's
    // timestamp, the one the snapshot matches best is that instant's (the 10 fps clip is at
    // 25 fps: a picture lasts up to 3 frames, 120 ms).
    let t_ns = alert["stream_ts_ns"].as_u64().unwrap();
    let scores: Vec<(u64, f64)> = frames_near(main_file, t_ns, 2_500_000_000)
        .iter()
        .map(|(pts, w, h, rgb)| (*pts, difference(&img, (*w, *h, rgb))))
        .collect();
    eprintln!(
        "alert at {t_ns} ns; main-stream frames and their difference to the still: {scores:?}"
    );
    let best = scores
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .copied()
        .unwrap();
    assert!(
        best.0.abs_diff(t_ns) <= tolerance_ns,
        "the still is the main stream's frame at {} ms, the alert's frame is at {} ms: {scores:?}",
        best.0 / 1_000_000,
        t_ns / 1_000_000
    );
    // Not one main-stream frame decoded continuously; the still was decoded on demand.
    let full = metric(
        &vigie,
        "vigie_evidence_full_frames_total{camera=\"parvis\"}",
    );
    assert_eq!(full.unwrap_or(0.0), 0.0);
    let decoded = metric(&vigie, "vigie_evidence_stills_total{outcome=\"decoded\"}");
    assert!(
        decoded.unwrap_or(0.0) >= 1.0,
        "{decoded:?}; log:\n{}",
        vigie.log()
    );
    // The clip of a sub-stream camera: the main stream, masked (so transcoded), 1280x720.
    let clip = dir.join("clip.mp4");
    std::fs::write(
        &clip,
        fetch_when_ready(&vigie, &format!("/api/alerts/{id}/clip.mp4")),
    )
    .unwrap();
    let frames = frames_near(&clip, 0, u64::MAX);
    assert!(frames.len() >= 50, "{} frames", frames.len());
    let (_, w, h, rgb) = &frames[frames.len() / 2];
    assert_eq!((*w, *h), (1280, 720));
    let frame = image::RgbImage::from_raw(*w, *h, rgb.clone()).unwrap();
    let (inside, black) = black_inside_mask(&frame);
    assert!(
        f64::from(black) / f64::from(inside) > 0.97,
        "clip: {black} of {inside}"
    );
    assert_eq!(vigie.terminate(), Some(0));
}

/// The webhook got the alert, then a signed `still` event for the same alert
/// with its still's URL: an integrator's VMS learns that the full-resolution still exists.
fn still_reaches_the_webhook(vigie: &Vigie, hooks: &Mutex<Vec<Hook>>, id: i64) {
    let still = wait_for(Duration::from_secs(30), || {
        let got = hooks.lock().unwrap();
        got.iter()
            .find(|h| h.event == "still" && h.body["alert"]["id"] == id)
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "no `still` webhook for alert {id}: {:?}; log:\n{}",
            hooks.lock().unwrap(),
            vigie.log()
        )
    });
    assert!(still.signature_ok, "{still:?}");
    assert_eq!(still.body["event"], "still", "{:?}", still.body);
    let url = still.body["alert"]["still_url"]
        .as_str()
        .unwrap_or_default();
    assert!(
        url.ends_with(&format!("/api/alerts/{id}/still.jpg")),
        "{:?}",
        still.body
    );
    let got = hooks.lock().unwrap();
    let first = got
        .iter()
        .position(|h| h.event == "alert" && h.body["alert"]["id"] == id)
        .unwrap_or_else(|| panic!("the alert itself never reached the webhook: {got:?}"));
    let still_at = got
        .iter()
        .position(|h| h.event == "still" && h.body["alert"]["id"] == id);
    assert!(
        still_at > Some(first),
        "the still came before its alert: {got:?}"
    );
}

/// Waits for an alert's clip or still (404 `pending` while it is made) and returns its bytes.
fn fetch_when_ready(vigie: &Vigie, url: &str) -> Vec<u8> {
    let resp = wait_for(Duration::from_secs(60), || match vigie.get(url).call() {
        Ok(r) => Some(r),
        Err(ureq::Error::Status(404, r)) => {
            let body: serde_json::Value = r.into_json().unwrap();
            assert_eq!(body["reason"], "pending", "{body}; log:\n{}", vigie.log());
            None
        }
        Err(e) => panic!("GET {url}: {e}"),
    })
    .unwrap_or_else(|| panic!("{url} was not made; log:\n{}", vigie.log()));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
    bytes
}
