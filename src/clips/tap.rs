//! The tap: a buffer probe on the sink pad of a camera's video decoder (inside `decodebin`) that
//! hands each compressed buffer, a shared reference, to the camera's [`ClipRing`]. Nothing is
//! copied or re-encoded; the decoder gets the same buffer.
//!
//! Time base: each buffer is stamped with the wall clock at which its frame reaches the
//! analysis. A live camera's frames are analysed as they are decoded (arrival time); a file
//! played in real time is paced by the pipeline clock, and its decoder runs a few frames ahead
//! (decodebin's queue), so the buffer's running time says when its frame will be shown.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::ClipRing;

/// A buffer is never stamped further ahead of its arrival than this (a clock that is not the
/// pipeline's pace: such a lead means "now").
const MAX_LEAD_MS: i64 = 10_000;

/// The bin that holds the camera's main stream's parser: `main_parse` (parsed, never decoded)
/// or `main_dec` when detection reads a sub-stream, `dec` otherwise. A `main_parse` stream is
/// tapped at its sink (`main_sink`, see [`attach`]), the others at their decoder.
pub fn main_decodebin(pipeline: &gst::Pipeline) -> String {
    if pipeline.by_name("main_parse").is_some() {
        "main_parse".into()
    } else if pipeline.by_name("main_dec").is_some() {
        "main_dec".into()
    } else {
        "dec".into()
    }
}

/// The ingest pipeline's `deep-element-added` hook: taps the video decoder that `decodebin`
/// (named `decodebin`) adds, and makes its parser repeat the parameter sets.
pub fn on_element_added(
    bin: &gst::Bin,
    element: &gst::Element,
    decodebin: &str,
    ring: &Arc<ClipRing>,
) {
    if bin.name() != decodebin {
        return;
    }
    repeat_parameter_sets(element);
    if is_video_decoder(element) {
        attach(element, ring.clone());
    }
}

/// `true` for a video decoder's element (`Codec/Decoder/Video`).
pub fn is_video_decoder(element: &gst::Element) -> bool {
    element.factory().is_some_and(|f| {
        let klass = f.klass();
        klass.contains("Decoder") && klass.contains("Video")
    })
}

/// Parsers that can repeat the stream's parameter sets before each keyframe: set so, a clip
/// that starts on any keyframe is decodable (a camera may send them only once).
pub fn repeat_parameter_sets(element: &gst::Element) {
    let is_parser = element
        .factory()
        .is_some_and(|f| f.klass().contains("Parser") && f.klass().contains("Video"));
    if is_parser && element.find_property("config-interval").is_some() {
        element.set_property("config-interval", -1i32);
    }
}

/// Adds the probe on `decoder`'s sink pad (a decoder, or the sink of a stream only parsed). The ring starts a new segment: this is a new
/// pipeline instance.
pub fn attach(decoder: &gst::Element, ring: Arc<ClipRing>) {
    let Some(pad) = decoder.static_pad("sink") else {
        return;
    };
    ring.restart();
    let element = decoder.downgrade();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(buffer) = info.buffer() {
            let lead = element
                .upgrade()
                .and_then(|e| lead_ms(&e, pad, buffer))
                .unwrap_or(0);
            let caps = pad.current_caps();
            ring.push(now_ms() + lead, caps.as_deref(), buffer.to_owned());
        }
        gst::PadProbeReturn::Ok
    });
}

/// How long before its frame is shown (pipeline clock) the buffer reaches the decoder, in ms;
/// 0 for a buffer already late (a live camera).
fn lead_ms(element: &gst::Element, pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<i64> {
    let clock = element.clock()?;
    let base = element.base_time()?;
    // Some demuxers (AVI) stamp only the decode time of frames other than keyframes.
    let pts = buffer.dts_or_pts()?;
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let running = event
        .segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(pts)?;
    let shown = base.nseconds().saturating_add(running.nseconds()) as i128;
    let now = clock.time().nseconds() as i128;
    let lead = ((shown - now) / 1_000_000).clamp(0, i128::from(MAX_LEAD_MS + 1)) as i64;
    (lead <= MAX_LEAD_MS).then_some(lead)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
