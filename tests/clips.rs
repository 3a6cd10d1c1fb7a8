//! Alert clips end to end, through the real binary on real footage: a file camera (vtest.avi,
//! DivX in AVI: transcoded to H.264 for the clip) and an RTSP H.264 camera (`vigie serve-rtsp`:
//! remuxed, never re-encoded). Each clip is fetched over the API and decoded with GStreamer.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use gstreamer as gst;
use gstreamer::prelude::*;

/// What decoding a clip found.
#[derive(Debug)]
struct Decoded {
    /// Caps name of the MP4's video track.
    codec: String,
    frames: u64,
    /// From the first frame's timestamp to the end of the last one.
    seconds: f64,
    /// Mean luma of the first frame's left 45 % and right 40 %.
    luma_left_right: (f64, f64),
}

/// Demuxes and decodes every frame of an MP4 file.
fn decode(path: &Path) -> Decoded {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux name=demux demux.video_0 ! queue ! identity name=coded \
         ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! fakesink name=sink sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let codec = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stats = std::sync::Arc::new(std::sync::Mutex::new((0u64, u64::MAX, 0u64)));
    let coded = pipeline
        .by_name("coded")
        .unwrap()
        .static_pad("src")
        .unwrap();
    let c = codec.clone();
    coded.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if let Some(caps) = pad.current_caps() {
            *c.lock().unwrap() = caps.structure(0).unwrap().name().to_string();
        }
        gst::PadProbeReturn::Ok
    });
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let st = stats.clone();
    let luma = std::sync::Arc::new(std::sync::Mutex::new((0.0, 0.0)));
    let lu = luma.clone();
    sink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(b) = info.buffer() {
            let mut s = st.lock().unwrap();
            if s.0 == 0 {
                *lu.lock().unwrap() = left_right_luma(pad, b);
            }
            s.0 += 1;
            if let Some(pts) = b.pts() {
                let end = pts + b.duration().unwrap_or(gst::ClockTime::ZERO);
                s.1 = s.1.min(pts.nseconds());
                s.2 = s.2.max(end.nseconds());
            }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("decoding the clip timed out");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("the clip does not decode: {}", e.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let (frames, first, last) = *stats.lock().unwrap();
    let codec = codec.lock().unwrap().clone();
    let luma_left_right = *luma.lock().unwrap();
    Decoded {
        codec,
        frames,
        seconds: last.saturating_sub(first) as f64 / 1e9,
        luma_left_right,
    }
}

/// Mean luma of a GRAY8 frame's left 45 % and right 40 % of columns.
fn left_right_luma(pad: &gst::Pad, b: &gst::BufferRef) -> (f64, f64) {
    let info = gstreamer_video::VideoInfo::from_caps(&pad.current_caps().unwrap()).unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = info.stride()[0] as usize;
    let map = b.map_readable().unwrap();
    let mean = |cols: std::ops::Range<usize>| {
        let n = (cols.len() * h) as f64;
        let sum: u64 = (0..h)
            .flat_map(|y| cols.clone().map(move |x| y * stride + x))
            .map(|i| u64::from(map[i]))
            .sum();
        sum as f64 / n
    };
    (mean(0..w * 45 / 100), mean(w * 60 / 100..w))
}

/// The first alert of the esplanade rule whose frame is at least `after_s` seconds into the stream
/// (so the ring holds the seconds before it).
fn alert_after(vigie: &Vigie, after_s: f64) -> serde_json::Value {
    wait_for(Duration::from_secs(240), || {
        let list = vigie.get_json("/api/alerts?limit=100");
        list["alerts"]
            .as_array()?
            .iter()
            .filter(|a| a["rule_id"] == "esplanade-intrusion")
            .filter(|a| a["stream_ts_ns"].as_f64().unwrap_or(0.0) >= after_s * 1e9)
            .min_by_key(|a| a["id"].as_i64())
            .cloned()
    })
    .unwrap_or_else(|| panic!("no alert after {after_s} s; log:\n{}", vigie.log()))
}

/// Fetches the alert's clip once it is made (404 `pending` until then): its bytes.
fn fetch_clip(vigie: &Vigie, alert: &serde_json::Value) -> Vec<u8> {
    let id = alert["id"].as_i64().unwrap();
    let url = format!("/api/alerts/{id}/clip.mp4");
    assert_eq!(alert["clip_url"], url.as_str(), "{alert}");
    let resp = wait_for(Duration::from_secs(60), || match vigie.get(&url).call() {
        Ok(r) => Some(r),
        Err(ureq::Error::Status(404, r)) => {
            let body: serde_json::Value = r.into_json().unwrap();
            assert_eq!(body["reason"], "pending", "{body}");
            None
        }
        Err(e) => panic!("GET {url}: {e}"),
    })
    .unwrap_or_else(|| panic!("the clip was not made; log:\n{}", vigie.log()));
    assert_eq!(resp.header("content-type"), Some("video/mp4"));
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
    // A browser seeks with ranges.
    let part = vigie
        .get(&url)
        .set("Range", "bytes=100-199")
        .call()
        .unwrap();
    assert_eq!(part.status(), 206);
    let total = bytes.len();
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{total}").as_str())
    );
    let mut piece = Vec::new();
    std::io::Read::read_to_end(&mut part.into_reader(), &mut piece).unwrap();
    assert_eq!(piece, bytes[100..200]);
    bytes
}

/// The journal's row of the clip: method, duration, SHA-256.
fn clip_row(dir: &Path, id: i64) -> (String, i64, String) {
    let conn = rusqlite::Connection::open(dir.join("journal.db")).unwrap();
    conn.query_row(
        "SELECT method, duration_ms, sha256 FROM alert_clips WHERE alert_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn check_clip(dir: &Path, vigie: &Vigie, alert: &serde_json::Value, method: &str) -> Decoded {
    let bytes = fetch_clip(vigie, alert);
    let file = dir.join("fetched.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let decoded = decode(&file);
    let (stored_method, duration_ms, sha) = clip_row(dir, alert["id"].as_i64().unwrap());
    assert_eq!(stored_method, method);
    assert_eq!(sha, vigie::detect::manifest::sha256_hex(&bytes));
    assert_eq!(decoded.codec, "video/x-h264", "{decoded:?}");
    assert!(
        (decoded.seconds - duration_ms as f64 / 1000.0).abs() < 0.3,
        "{decoded:?} vs {duration_ms} ms"
    );
    decoded
}

#[test]
fn a_file_camera_alert_gets_a_transcoded_h264_clip_of_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip();
    let cfg = write_cameras(
        dir.path(),
        &clip_camera("parvis", &clip.to_string_lossy(), true, ""),
    );
    let vigie = Vigie::start(&cfg);
    let alert = alert_after(&vigie, 6.0);
    let d = check_clip(dir.path(), &vigie, &alert, "transcode");
    // 5 s before and after the alert, cut to the window (vtest.avi's keyframes are 25 s apart),
    // at 10 frames a second.
    assert!((9.0..=10.6).contains(&d.seconds), "{d:?}");
    assert!((90..=106).contains(&d.frames), "{d:?}");
}

#[test]
fn an_rtsp_h264_camera_alert_gets_a_remuxed_clip() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&clip(), &[]);
    let cfg = write_cameras(dir.path(), &clip_camera("rue", &server.url, true, ""));
    let vigie = Vigie::start(&cfg);
    let alert = alert_after(&vigie, 6.0);
    let d = check_clip(dir.path(), &vigie, &alert, "remux");
    // From the keyframe before the window (one a second from serve-rtsp): 10 to 11 s.
    assert!((9.0..=11.6).contains(&d.seconds), "{d:?}");
    assert!(d.frames >= 85, "{d:?}");
    // No mask: the left of the scene is there (see the masked camera below).
    assert!(d.luma_left_right.0 > 40.0, "{d:?}");
}

/// A camera with a privacy mask: its clip is transcoded (even an H.264 camera) and the mask is
/// black in every frame.
#[test]
fn a_masked_camera_gets_its_clip_with_the_mask_blacked_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&clip(), &[]);
    let mask = "[[cameras.privacy_masks]]\nid = \"left\"\npoints = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\n";
    let cfg = write_cameras(dir.path(), &clip_camera("rue", &server.url, true, mask));
    let vigie = Vigie::start(&cfg);
    let alert = alert_after(&vigie, 6.0);
    let d = check_clip(dir.path(), &vigie, &alert, "transcode");
    let (left, right) = d.luma_left_right;
    assert!(left < 20.0, "the masked half is not black: {d:?}");
    assert!(right > 40.0, "the unmasked half is not the scene: {d:?}");
    assert!((9.0..=10.6).contains(&d.seconds), "{d:?}");
}
