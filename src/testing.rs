//! Test and benchmark support, not used by the engine: the real clip `vtest.avi` decoded with
//! GStreamer into the detector's 416x416 BGR frames.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;

/// Side of the decoded frames: the detector's 416x416 BGR, as the engine delivers them.
pub const SIDE: u32 = 416;

/// `$VIGIE_CLIP`, else `.deps/media/vtest.avi` in the repository.
pub fn clip_path() -> PathBuf {
    std::env::var_os("VIGIE_CLIP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/media/vtest.avi"))
}

/// Decodes up to `max_frames` frames of `path`, scaled to `side x side` packed BGR.
pub fn decode_clip(path: &Path, side: u32, max_frames: usize) -> Result<Vec<Vec<u8>>, String> {
    if !path.is_file() {
        return Err(format!(
            "clip {} missing (`make setup` installs vtest.avi)",
            path.display()
        ));
    }
    gst::init().map_err(|e| e.to_string())?;
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=BGR,width={side},height={side} ! appsink name=sink sync=false max-buffers=4 drop=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gstreamer_app::AppSink>().ok())
        .ok_or("no appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    let expected = (side * side * 3) as usize;
    while frames.len() < max_frames {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
            break;
        };
        let map = sample
            .buffer()
            .and_then(|b| b.map_readable().ok())
            .ok_or("unreadable buffer")?;
        // side * 3 is a multiple of 4 for even sides: no row padding.
        if map.len() != expected {
            return Err(format!("frame of {} bytes, expected {expected}", map.len()));
        }
        frames.push(map.to_vec());
    }
    let _ = pipeline.set_state(gst::State::Null);
    Ok(frames)
}

/// Every frame of the real clip (768x576 at 10 fps, 795 frames) at 416x416, decoded once per
/// test binary.
#[cfg(test)]
pub(crate) fn vtest_frames() -> &'static [Vec<u8>] {
    static FRAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(|| {
        let frames = decode_clip(&clip_path(), SIDE, usize::MAX).unwrap();
        assert!(frames.len() > 700, "decoded {} frames", frames.len());
        frames
    })
}

/// xorshift32 (Marsaglia, 2003): a seeded pseudo-random sequence, the same on every run and
/// machine, for built test pictures (the flames `vigie eval` draws, and the rule tests'). A seed
/// of 0 stays 0: callers give an odd one.
pub struct XorShift(pub u32);

impl XorShift {
    /// The next value, in `0..1`.
    pub fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32
    }
}
