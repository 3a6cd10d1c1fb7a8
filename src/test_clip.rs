//! Test support: the real clip `vtest.avi` decoded once per test binary with GStreamer.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Side of the decoded frames: the detector's 416x416 BGR, as the engine delivers them.
pub(crate) const SIDE: u32 = 416;

/// Every frame of the real clip (vtest.avi, 768x576 at 10 fps, 795 frames), scaled to
/// 416x416 packed BGR (`$VIGIE_CLIP` or `.deps/media/vtest.avi`).
pub(crate) fn vtest_frames() -> &'static [Vec<u8>] {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        use gstreamer as gst;
        use gstreamer::prelude::*;
        let clip = std::env::var_os("VIGIE_CLIP")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/media/vtest.avi")
            });
        assert!(clip.is_file(), "test clip {} missing", clip.display());
        gst::init().unwrap();
        let desc = format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=BGR,width={SIDE},height={SIDE} ! appsink name=sink sync=false max-buffers=4 drop=false",
            clip.display()
        );
        let pipeline = gst::parse::launch(&desc)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gstreamer_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut frames = Vec::new();
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            let buf = sample.buffer().unwrap();
            let map = buf.map_readable().unwrap();
            // 416 * 3 is a multiple of 4: no row padding.
            assert_eq!(map.len(), (SIDE * SIDE * 3) as usize);
            frames.push(map.to_vec());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(frames.len() > 700, "decoded {} frames", frames.len());
        frames
    })
}
