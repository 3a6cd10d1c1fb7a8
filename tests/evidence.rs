//! Evidence end to end, through the real binary on real footage (vtest.avi): privacy masks hide
//! an area from the detector and from every snapshot; snapshots are full resolution.

mod common;

use std::time::Duration;

use common::*;

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
    assert!(inside > 1000, "{inside} samples inside the mask");
    // Boxes of people next to the mask may be drawn over its edge; everything else is black.
    assert!(
        f64::from(black) / f64::from(inside) > 0.97,
        "{black} of {inside} pixels inside the mask are black"
    );
    // And outside it the square is not black.
    let p = img.get_pixel(w / 4, h / 2).0;
    assert!(p.iter().any(|&c| c > 40), "{p:?}");
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

#[test]
fn detection_on_the_sub_stream_gives_snapshots_from_the_main_stream() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main-720p.mp4");
    let sub = dir.path().join("sub-360p.mp4");
    encode_clip(&main, (1280, 720), 12);
    encode_clip(&sub, (640, 360), 12);
    let extra = format!("detect_source = {:?}", sub.to_string_lossy());
    // Both files played in real time, as two live streams of one camera.
    let cfg = write_cameras(
        dir.path(),
        &format!(
            "{}{ANYWHERE}",
            clip_camera("parvis", &main.to_string_lossy(), true, &extra)
        ),
    );
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let (id, alert) = sse
        .next_alert(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no alert; log:\n{}", vigie.log()));
    assert_eq!(alert["rule_id"], "anywhere");
    let img = snapshot(&vigie, id);
    // The main stream's frame, not the 640x360 sub-stream nor the 416x416 detector input.
    assert_eq!(img.dimensions(), (1280, 720), "log:\n{}", vigie.log());
    // Detection read the sub-stream.
    assert!(
        vigie
            .log()
            .contains("detection reads the sub-stream; snapshots come from the main stream"),
        "{}",
        vigie.log()
    );
    assert_eq!(vigie.terminate(), Some(0));
}
