//! One full-resolution frame decoded on demand from a camera's compressed ring: the snapshot of
//! an alert of a camera whose detection reads its sub-stream, whose main stream is never decoded
//! continuously. Per snapshot, a short pipeline (`appsrc ! h264parse ! avdec_h264 max-threads=1
//! ! videoconvert ! I420 ! appsink`, see [`Chain`]) decodes the group of pictures from the keyframe before the alert's frame to that
//! frame (and the few packets after it a reordering decoder needs), and keeps the decoded frame
//! closest in time to it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::writer::{appsrc_pipeline, bus_error};
use super::{ClipRing, GopPackets};
use crate::evidence::{FullFrame, StillSource};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum StillError {
    #[error(
        "no packet of the main stream within {0} ms of the alert's frame, from a keyframe ({1})"
    )]
    NotHeld(i64, String),
    #[error("cannot build the snapshot decoder: {0}")]
    Build(String),
    #[error("decoding the main stream failed: {0}")]
    Decode(String),
    #[error("decoding the main stream took longer than the snapshot may wait")]
    Timeout,
    #[error("the main stream decoded no frame")]
    NoFrame,
}

/// Longest a still's decode may take once its packets are held.
pub const DECODE_LIMIT: Duration = Duration::from_secs(10);

/// A camera's compressed ring as the source of its on-demand snapshots.
#[derive(Clone)]
pub struct RingStills {
    ring: Arc<ClipRing>,
    metrics: Metrics,
}

impl std::fmt::Debug for RingStills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingStills")
            .field("ring", &self.ring.stats())
            .finish()
    }
}

impl RingStills {
    pub fn new(ring: Arc<ClipRing>, metrics: Metrics) -> RingStills {
        RingStills { ring, metrics }
    }

    /// Waits (until `deadline`) for the ring to hold the instant, then decodes its frame.
    fn decode_at(
        &self,
        at_ms: i64,
        tolerance_ms: i64,
        deadline: Instant,
    ) -> Result<FullFrame, StillError> {
        // A live main stream may arrive a little after the sub-stream's frame was analysed.
        while self.ring.newest_ms().is_none_or(|t| t < at_ms) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let gop = self
            .ring
            .gop_at(at_ms, tolerance_ms)
            .ok_or_else(|| StillError::NotHeld(tolerance_ms, self.ring.miss(at_ms)))?;
        // The decode has its own limit: a still decoded at a low priority on a busy machine is
        // late, not lost.
        decode(&gop, Instant::now() + DECODE_LIMIT)
    }
}

impl StillSource for RingStills {
    fn still(&self, at_ms: i64, tolerance_ms: i64, deadline: Instant) -> Result<FullFrame, String> {
        let t0 = Instant::now();
        let result = self.decode_at(at_ms, tolerance_ms, deadline);
        let outcome = if result.is_ok() {
            "decoded"
        } else {
            "fallback"
        };
        self.metrics
            .evidence_stills
            .with_label_values(&[outcome])
            .inc();
        self.metrics
            .evidence_still_seconds
            .with_label_values(&[outcome])
            .observe(t0.elapsed().as_secs_f64());
        result.map_err(|e| e.to_string())
    }
}

/// How a still's group of pictures is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// `appsrc ! decodebin`: whatever the caps (it finds the parser and decoder each time),
    /// in GStreamer's own threads.
    Decodebin,
    /// For H.264 and H.265, a named parser and a one-thread decoder fed **in the calling
    /// thread** (no element search, no streaming or decoder thread: the decode runs at the
    /// caller's priority); `Decodebin` for any other codec.
    ForCaps,
}

const TAIL: &str = "videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false";

impl Chain {
    /// The parser and decoder to feed in the calling thread, if this chain has them for `caps`.
    fn named(self, caps: &gst::Caps) -> Option<&'static str> {
        match (self, caps.structure(0).map(|s| s.name().as_str())) {
            (Chain::ForCaps, Some("video/x-h264")) => {
                Some("h264parse name=parse ! avdec_h264 max-threads=1")
            }
            (Chain::ForCaps, Some("video/x-h265")) => {
                Some("h265parse name=parse ! avdec_h265 max-threads=1")
            }
            _ => None,
        }
    }
}

/// Decodes `gop` and returns the frame whose timestamp is closest to its target packet's.
pub fn decode(gop: &GopPackets, deadline: Instant) -> Result<FullFrame, StillError> {
    decode_with(Chain::ForCaps, gop, deadline)
}

/// [`decode`] with the given chain (`benches/evidence.rs` compares them).
pub fn decode_with(
    chain: Chain,
    gop: &GopPackets,
    deadline: Instant,
) -> Result<FullFrame, StillError> {
    if let Some(named) = chain.named(&gop.caps) {
        return here::decode(named, gop, deadline);
    }
    let build = |e: String| StillError::Build(e);
    let description = format!("appsrc name=src format=time ! decodebin ! {TAIL} max-buffers=2");
    let (pipeline, src) = appsrc_pipeline(&description).map_err(build)?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| build("no appsink".into()))?;
    src.set_caps(Some(&gop.caps));
    let result = run(&pipeline, &src, &sink, gop, deadline);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    sink: &gst_app::AppSink,
    gop: &GopPackets,
    deadline: Instant,
) -> Result<FullFrame, StillError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| StillError::Build("no bus".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| StillError::Decode(bus_error(&bus).unwrap_or_else(|| e.to_string())))?;
    // appsrc queues without blocking: everything is pushed, then the frames are pulled.
    for (i, p) in gop.packets.iter().enumerate() {
        let mut b = p.buffer.copy();
        if i == 0 {
            b.make_mut().set_flags(gst::BufferFlags::DISCONT);
        }
        if src.push_buffer(b).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let target = target_pts(gop);
    let mut best: Option<(u64, gst::Sample)> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(StillError::Timeout);
        }
        if let Some(reason) = bus_error(&bus) {
            return Err(StillError::Decode(reason));
        }
        let wait = gst::ClockTime::from_mseconds(left.as_millis().min(100) as u64);
        let Some(sample) = sink.try_pull_sample(wait) else {
            if sink.is_eos() {
                break;
            }
            continue;
        };
        keep_closest(&mut best, sample, target);
    }
    closest_frame(best)
}

/// The timestamp of the packet a still is decoded for.
fn target_pts(gop: &GopPackets) -> Option<u64> {
    gop.packets
        .get(gop.target)
        .and_then(|p| p.buffer.pts().or(p.buffer.dts()))
        .map(|t| t.nseconds())
}

/// Keeps `sample` in `best` when it is at least as close to `target` (the later one wins a tie;
/// without timestamps to compare, the last frame decoded is the target's).
fn keep_closest(best: &mut Option<(u64, gst::Sample)>, sample: gst::Sample, target: Option<u64>) {
    let pts = sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds());
    let distance = match (pts, target) {
        (Some(p), Some(t)) => p.abs_diff(t),
        _ => 0,
    };
    if best.as_ref().is_none_or(|(d, _)| distance <= *d) {
        *best = Some((distance, sample));
    }
}

fn closest_frame(best: Option<(u64, gst::Sample)>) -> Result<FullFrame, StillError> {
    let (_, sample) = best.ok_or(StillError::NoFrame)?;
    let pts = sample
        .buffer()
        .and_then(|b| b.pts())
        .map_or(0, |t| t.nseconds());
    FullFrame::from_sample(&sample, pts).ok_or(StillError::NoFrame)
}

/// Decoding in the calling thread: the packets are pushed into the parser's sink pad, so the
/// parser, the one-thread decoder, the conversion and the sink's callback all run in it.
mod here {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;

    use super::super::writer::bus_error;
    use super::{closest_frame, keep_closest, target_pts, GopPackets, StillError, TAIL};
    use crate::evidence::FullFrame;

    type Best = Arc<Mutex<Option<(u64, gst::Sample)>>>;

    pub(super) fn decode(
        named: &str,
        gop: &GopPackets,
        deadline: Instant,
    ) -> Result<FullFrame, StillError> {
        let build = |e: String| StillError::Build(e);
        // `async=false`: the sink does not wait to preroll (nothing else would push).
        let pipeline = gst::parse::launch(&format!("{named} ! {TAIL} async=false"))
            .map_err(|e| build(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| build("not a pipeline".into()))?;
        let best: Best = Arc::default();
        let result = wire(&pipeline, gop, &best)
            .and_then(|pad| push(&pipeline, &pad, gop, deadline))
            .and_then(|()| closest_frame(best.lock().map_err(|_| StillError::NoFrame)?.take()));
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    /// The sink keeps the decoded frame closest to the target; returns the pad to feed.
    fn wire(
        pipeline: &gst::Pipeline,
        gop: &GopPackets,
        best: &Best,
    ) -> Result<gst::Pad, StillError> {
        let build = |e: &str| StillError::Build(e.to_string());
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| build("no appsink"))?;
        let pad = pipeline
            .by_name("parse")
            .and_then(|e| e.static_pad("sink"))
            .ok_or_else(|| build("no parser"))?;
        let (best, target) = (best.clone(), target_pts(gop));
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Ok(mut b) = best.lock() {
                        keep_closest(&mut b, sample, target);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| StillError::Build(e.to_string()))?;
        Ok(pad)
    }

    fn push(
        pipeline: &gst::Pipeline,
        pad: &gst::Pad,
        gop: &GopPackets,
        deadline: Instant,
    ) -> Result<(), StillError> {
        let bus = pipeline
            .bus()
            .ok_or_else(|| StillError::Build("no bus".into()))?;
        let failed = |e: String| StillError::Decode(bus_error(&bus).unwrap_or(e));
        pad.send_event(gst::event::StreamStart::new("vigie-still"));
        pad.send_event(gst::event::Caps::new(&gop.caps));
        let segment = gst::FormattedSegment::<gst::ClockTime>::new();
        pad.send_event(gst::event::Segment::new(&segment));
        for (i, p) in gop.packets.iter().enumerate() {
            if Instant::now() >= deadline {
                return Err(StillError::Timeout);
            }
            let mut b = p.buffer.copy();
            if i == 0 {
                b.make_mut().set_flags(gst::BufferFlags::DISCONT);
            }
            pad.chain(b).map_err(|e| failed(format!("{e:?}")))?;
        }
        // End of stream: the decoder gives the frames it still holds.
        pad.send_event(gst::event::Eos::new());
        match bus_error(&bus) {
            Some(reason) => Err(StillError::Decode(reason)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 s of a 320x240 test pattern at 25 fps in H.264 (a keyframe every second), tapped into a
    /// ring as ingest does, stamped 40 ms apart from `t0_ms`; and the first buffer's timestamp
    /// (x264enc starts its stream at 1000 hours).
    fn h264_ring(t0_ms: i64) -> (Arc<ClipRing>, u64) {
        gst::init().unwrap();
        let ring = Arc::new(ClipRing::new(60_000, usize::MAX));
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc speed-preset=ultrafast key-int-max=25 bframes=0 ! h264parse \
             ! appsink name=sink sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut i = 0i64;
        let mut first = None;
        while let Ok(sample) = sink.pull_sample() {
            let pts = sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds());
            first = first.or(pts);
            let caps = sample.caps().map(|c| c.to_owned());
            ring.push(
                t0_ms + i * 40,
                caps.as_deref(),
                sample.buffer_owned().unwrap(),
            );
            i += 1;
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(i, 75);
        (ring, first.unwrap())
    }

    #[test]
    fn the_frame_of_an_instant_is_decoded_from_its_group_of_pictures() {
        let (ring, zero) = h264_ring(10_000);
        let stills = RingStills::new(ring.clone(), Metrics::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        // 11.61 s: frame 40 (1.6 s into the stream), decoded from the keyframe at 1 s.
        let frame = stills.decode_at(11_610, 250, deadline).unwrap();
        assert_eq!((frame.width, frame.height), (320, 240));
        assert_eq!(frame.pts_ns - zero, 1_600_000_000);
        assert_eq!(frame.i420.len(), FullFrame::i420_len(320, 240));
        // Out of what the ring holds: an error, no frame.
        let missing = stills.decode_at(20_000, 250, Instant::now()).unwrap_err();
        assert!(matches!(missing, StillError::NotHeld(250, _)), "{missing}");
        assert!(
            missing.to_string().contains("the nearest -7040 ms away"),
            "{missing}"
        );
        // A deadline already past: given up.
        let late = decode(&ring.gop_at(11_610, 250).unwrap(), Instant::now()).unwrap_err();
        assert!(matches!(late, StillError::Timeout), "{late}");
    }

    #[test]
    fn decoding_in_the_calling_thread_gives_decodebin_s_frame() {
        let (ring, zero) = h264_ring(10_000);
        let deadline = Instant::now() + Duration::from_secs(30);
        for at_ms in [11_000, 11_600, 12_960] {
            let gop = ring.gop_at(at_ms, 250).unwrap();
            let here = decode_with(Chain::ForCaps, &gop, deadline).unwrap();
            let bin = decode_with(Chain::Decodebin, &gop, deadline).unwrap();
            assert_eq!(
                here.pts_ns - zero,
                u64::try_from(at_ms - 10_000).unwrap() * 1_000_000
            );
            assert_eq!(
                (here.pts_ns, &here.i420),
                (bin.pts_ns, &bin.i420),
                "{at_ms}"
            );
        }
    }
}
