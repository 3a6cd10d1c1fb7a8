//! Writes one clip: the ring's packets into an MP4 that a browser plays (H.264, `faststart`).
//!
//! - H.264 without privacy mask: **remux** only (`appsrc ! h264parse ! mp4mux`): no decoding.
//! - Any other codec, or a camera with a privacy mask: **transcode** once, for this clip only
//!   (`appsrc ! decodebin ! videoconvert ! I420 ! [mask] ! x264enc ! mp4mux`).
//!
//! The file is written beside its final name and renamed when whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::mask::{MaskFn, PixelMask};
use super::ring::ClipPackets;
use crate::detect::manifest::sha256_hex;

/// Longest a clip may take to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// How a clip was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Remux,
    Transcode,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Remux => "remux",
            Method::Transcode => "transcode",
        }
    }
}

/// A clip written to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// From the first frame's timestamp to the end of the last one.
    pub duration_ms: i64,
    /// Wall clock of the first frame (ms since the epoch).
    pub start_ms: i64,
    pub frames: usize,
    /// The camera's codec (caps name without `video/x-`).
    pub codec: String,
    pub method: Method,
    pub masked: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("no packet to write")]
    Empty,
    #[error("cannot build the clip pipeline: {0}")]
    Build(String),
    #[error("writing the clip failed: {0}")]
    Pipeline(String),
    #[error("writing the clip took longer than {} s", WRITE_TIMEOUT.as_secs())]
    Timeout,
    #[error("clip file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The launch description for `method`; the source is `appsrc name=src`, the sink
/// `filesink name=sink`.
fn description(method: Method) -> &'static str {
    match method {
        Method::Remux => {
            "appsrc name=src format=time ! h264parse \
             ! video/x-h264,stream-format=avc,alignment=au \
             ! mp4mux faststart=true ! filesink name=sink"
        }
        // One encoder thread: a clip must not take the cores the live cameras need.
        Method::Transcode => {
            "appsrc name=src format=time ! decodebin ! videoconvert \
             ! video/x-raw,format=I420 ! identity name=mask \
             ! x264enc speed-preset=ultrafast threads=1 \
             ! video/x-h264,profile=constrained-baseline ! h264parse \
             ! mp4mux faststart=true ! filesink name=sink"
        }
    }
}

/// Writes `clip` to `path` (its folder is created), blacking out `mask` when given.
pub fn write(
    clip: &ClipPackets,
    mask: Option<&MaskFn>,
    path: &Path,
) -> Result<ClipFile, ClipError> {
    let first = clip.packets.first().ok_or(ClipError::Empty)?;
    let codec = clip
        .caps
        .structure(0)
        .map(|s| s.name().trim_start_matches("video/x-").to_string())
        .unwrap_or_default();
    let method = if codec == "h264" && mask.is_none() {
        Method::Remux
    } else {
        Method::Transcode
    };
    let io = |source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A transcoded clip starts at the window, whatever the keyframe it is decoded from.
    let skip_ms = match method {
        Method::Remux => 0,
        Method::Transcode => (clip.from_ms - first.at_ms).max(0),
    };
    tracing::debug!(
        packets = clip.packets.len(),
        first_at_ms = first.at_ms,
        from_ms = clip.from_ms,
        last_at_ms = clip.packets.last().map(|p| p.at_ms),
        first_pts = ?first.buffer.pts(),
        last_ts = ?clip.packets.last().and_then(|p| p.buffer.dts_or_pts()),
        skip_ms,
        "writing a clip"
    );
    let part = path.with_extension("mp4.part");
    run(clip, mask, (method, skip_ms), &part)?;
    std::fs::rename(&part, path).map_err(io)?;
    let data = std::fs::read(path).map_err(io)?;
    Ok(ClipFile {
        path: path.to_path_buf(),
        bytes: data.len() as u64,
        sha256: sha256_hex(&data),
        duration_ms: (duration_ms(clip) - skip_ms).max(0),
        start_ms: first.at_ms + skip_ms,
        frames: clip.packets.len(),
        codec,
        method,
        masked: mask.is_some(),
    })
}

fn run(
    clip: &ClipPackets,
    mask: Option<&MaskFn>,
    (method, skip_ms): (Method, i64),
    out: &Path,
) -> Result<(), ClipError> {
    let build = |e: String| ClipError::Build(e);
    let (pipeline, src) = appsrc_pipeline(description(method)).map_err(build)?;
    let sink = pipeline
        .by_name("sink")
        .ok_or_else(|| build("no filesink".into()))?;
    sink.set_property("location", out.to_string_lossy().to_string());
    src.set_caps(Some(&clip.caps));
    if let Some(raw) = pipeline.by_name("mask") {
        let skip = gst::ClockTime::from_mseconds(skip_ms.max(0) as u64);
        add_frame_probe(&raw, mask.cloned(), skip);
    }
    let result = push_and_wait(&pipeline, &src, clip);
    let _ = pipeline.set_state(gst::State::Null);
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result
}

fn push_and_wait(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    clip: &ClipPackets,
) -> Result<(), ClipError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| ClipError::Build("no bus".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| ClipError::Pipeline(bus_error(&bus).unwrap_or_else(|| e.to_string())))?;
    let base = base_time(clip);
    for (i, p) in clip.packets.iter().enumerate() {
        let mut b = p.buffer.copy();
        {
            let b = b.make_mut();
            b.set_pts(p.buffer.pts().map(|t| t.saturating_sub(base)));
            b.set_dts(p.buffer.dts().map(|t| t.saturating_sub(base)));
            if i == 0 {
                b.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        if src.push_buffer(b).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let done = bus.timed_pop_filtered(
        gst::ClockTime::from_mseconds(WRITE_TIMEOUT.as_millis() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match done.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(e)) => Err(ClipError::Pipeline(e.error().to_string())),
        _ => Err(ClipError::Timeout),
    }
}

/// The pipeline of `description` and its `appsrc name=src` (clips and on-demand snapshots).
pub(super) fn appsrc_pipeline(
    description: &str,
) -> Result<(gst::Pipeline, gst_app::AppSrc), String> {
    let pipeline = gst::parse::launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or("no appsrc")?;
    Ok((pipeline, src))
}

/// The first error message waiting on the bus, if any.
pub(super) fn bus_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}

/// The earliest timestamp of the first packet: the clip's zero.
fn base_time(clip: &ClipPackets) -> gst::ClockTime {
    clip.packets
        .first()
        .and_then(|p| match (p.buffer.dts(), p.buffer.pts()) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        })
        .unwrap_or(gst::ClockTime::ZERO)
}

fn duration_ms(clip: &ClipPackets) -> i64 {
    // Some demuxers (AVI) stamp only the decode time of frames other than keyframes.
    let ts = clip.packets.iter().filter_map(|p| p.buffer.dts_or_pts());
    let (Some(min), Some(max)) = (ts.clone().min(), ts.max()) else {
        return 0;
    };
    let last = clip
        .packets
        .iter()
        .filter(|p| p.buffer.dts_or_pts() == Some(max))
        .find_map(|p| p.buffer.duration())
        .unwrap_or(gst::ClockTime::ZERO);
    ((max - min) + last).mseconds() as i64
}

/// A mask learned for one frame size (`None`: it hides nothing at that size).
type Learned = ((u32, u32), Option<PixelMask>);

/// On every raw frame before it is encoded: drops those before `skip` (decoded only because
/// the clip starts on a keyframe before its window), moves the others back by `skip`, and
/// blacks out the mask. A frame that cannot be masked is dropped, never encoded as it is.
fn add_frame_probe(element: &gst::Element, mask: Option<MaskFn>, skip: gst::ClockTime) {
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    let learned: std::sync::Mutex<Option<Learned>> = Default::default();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        match buffer.pts() {
            Some(pts) if pts < skip => return gst::PadProbeReturn::Drop,
            Some(pts) if skip > gst::ClockTime::ZERO => {
                buffer.make_mut().set_pts(pts - skip);
            }
            _ => {}
        }
        let Some(mask) = &mask else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(vinfo) = pad
            .current_caps()
            .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
        else {
            return gst::PadProbeReturn::Drop;
        };
        let size = (vinfo.width(), vinfo.height());
        let mut learned = learned.lock().unwrap_or_else(|e| e.into_inner());
        if learned.as_ref().map(|(s, _)| *s) != Some(size) {
            *learned = Some((size, PixelMask::learn(mask, size.0, size.1)));
        }
        let Some((_, Some(m))) = learned.as_ref() else {
            return gst::PadProbeReturn::Ok;
        };
        match mask_frame(m, buffer.make_mut(), &vinfo) {
            Some(()) => gst::PadProbeReturn::Ok,
            None => gst::PadProbeReturn::Drop,
        }
    });
}

fn mask_frame(
    m: &PixelMask,
    buffer: &mut gst::BufferRef,
    vinfo: &gst_video::VideoInfo,
) -> Option<()> {
    let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, vinfo).ok()?;
    for plane in 0..3u32 {
        let stride = usize::try_from(*frame.plane_stride().get(plane as usize)?).ok()?;
        let data = frame.plane_data_mut(plane).ok()?;
        m.apply_plane(plane as usize, data, stride);
    }
    Some(())
}
