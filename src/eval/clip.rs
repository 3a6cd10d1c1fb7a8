//! Clip segments: the frames of `[start, end)` of a clip, optionally one in `speed`, re-encoded
//! **losslessly** (FFV1 in Matroska) with timestamps from 0 at the clip's own frame rate. The
//! engine then decodes exactly the pixels it would have decoded from the original clip, so a
//! segment costs only its own frames and changes no detection.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::overlay::{Canvas, Painter};
use super::EvalError;

/// What to keep of a clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    pub start: f64,
    pub end: Option<f64>,
    pub speed: u32,
}

/// How the written segment maps back to the original clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Original clip time of the segment's first frame.
    pub origin: f64,
    /// Original seconds per segment second.
    pub speed: u32,
    pub frames: u64,
}

impl Segment {
    /// The identity mapping (the clip itself is played).
    pub fn whole() -> Segment {
        Segment {
            origin: 0.0,
            speed: 1,
            frames: 0,
        }
    }

    /// Original clip seconds of a segment timestamp.
    pub fn clip_seconds(&self, segment_ns: u64) -> f64 {
        self.origin + segment_ns as f64 / 1e9 * f64::from(self.speed)
    }
}

fn err(clip: &Path, message: impl Into<String>) -> EvalError {
    EvalError::Clip {
        clip: clip.to_path_buf(),
        message: message.into(),
    }
}

/// Writes the segment of `src` to `dst` (a `.mkv` file), with `painter`'s overlays drawn on
/// every frame when there is one (the frames are then converted to BGRx first, still losslessly
/// written).
pub fn write_segment(
    src: &Path,
    dst: &Path,
    cut: Cut,
    painter: Option<&mut Painter>,
) -> Result<Segment, EvalError> {
    gst::init().map_err(|e| err(src, e.to_string()))?;
    let convert = if painter.is_some() {
        " ! videoconvert ! video/x-raw,format=BGRx"
    } else {
        ""
    };
    let reader = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin{convert} ! appsink name=sink sync=false max-buffers=4 drop=false",
        quote(&src.to_string_lossy())
    ))
    .map_err(|e| err(src, e.to_string()))?;
    let writer = gst::parse::launch(&format!(
        "appsrc name=src format=time ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        quote(&dst.to_string_lossy())
    ))
    .map_err(|e| {
        err(
            src,
            format!("cannot build the FFV1 writer (gstreamer1.0-libav): {e}"),
        )
    })?;
    let sink = app_element::<gst_app::AppSink>(&reader, "sink", src)?;
    let appsrc = app_element::<gst_app::AppSrc>(&writer, "src", src)?;
    let result = copy(&reader, &writer, (&sink, &appsrc), cut, painter, src);
    let _ = reader.set_state(gst::State::Null);
    let _ = writer.set_state(gst::State::Null);
    result
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn app_element<T: IsA<gst::Element>>(
    pipeline: &gst::Element,
    name: &str,
    clip: &Path,
) -> Result<T, EvalError> {
    pipeline
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name(name))
        .and_then(|e| e.downcast::<T>().ok())
        .ok_or_else(|| err(clip, format!("no `{name}` element")))
}

fn copy(
    reader: &gst::Element,
    writer: &gst::Element,
    (sink, appsrc): (&gst_app::AppSink, &gst_app::AppSrc),
    cut: Cut,
    mut painter: Option<&mut Painter>,
    clip: &Path,
) -> Result<Segment, EvalError> {
    reader
        .set_state(gst::State::Playing)
        .map_err(|_| err(clip, "cannot start decoding"))?;
    writer
        .set_state(gst::State::Playing)
        .map_err(|_| err(clip, "cannot start the writer"))?;
    let start_ns = (cut.start * 1e9).round() as u64;
    let end_ns = cut.end.map(|e| (e * 1e9).round() as u64);
    let mut seen: u64 = 0;
    let mut kept: u64 = 0;
    let mut origin = None;
    let mut frame_ns = 0;
    let mut index: u64 = 0;
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample
            .buffer()
            .ok_or_else(|| err(clip, "a sample without a buffer"))?;
        let pts = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
        index += 1;
        if let Some(p) = painter.as_deref_mut().filter(|p| p.wants_frames()) {
            offer(p, index - 1, &sample, clip)?;
        }
        if end_ns.is_some_and(|e| pts >= e) {
            break;
        }
        if pts < start_ns {
            continue;
        }
        seen += 1;
        if !(seen - 1).is_multiple_of(u64::from(cut.speed)) {
            continue;
        }
        if origin.is_none() {
            let caps = sample
                .caps_owned()
                .ok_or_else(|| err(clip, "a sample without caps"))?;
            frame_ns = frame_duration(&caps, buffer).ok_or_else(|| err(clip, "no frame rate"))?;
            appsrc.set_caps(Some(&caps));
            origin = Some(pts);
        }
        let mut out = buffer.copy();
        {
            let b = out.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(kept * frame_ns));
            b.set_dts(gst::ClockTime::NONE);
            b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
        }
        if let Some(p) = painter.as_deref() {
            paint(p, pts as f64 / 1e9, index - 1, &sample, &mut out, clip)?;
        }
        appsrc
            .push_buffer(out)
            .map_err(|e| err(clip, format!("writing the segment: {e:?}")))?;
        kept += 1;
    }
    let origin = origin.ok_or_else(|| err(clip, "no frame in the requested segment"))?;
    appsrc
        .end_of_stream()
        .map_err(|e| err(clip, format!("closing the segment: {e:?}")))?;
    wait_eos(writer, clip)?;
    Ok(Segment {
        origin: origin as f64 / 1e9,
        speed: cut.speed,
        frames: kept,
    })
}

/// Width, height and row stride of a BGRx sample.
fn layout(sample: &gst::Sample, clip: &Path) -> Result<(usize, usize, usize), EvalError> {
    let caps = sample
        .caps()
        .ok_or_else(|| err(clip, "a sample without caps"))?;
    let info = gstreamer_video::VideoInfo::from_caps(caps)
        .map_err(|e| err(clip, format!("not raw video: {e}")))?;
    let stride = info.stride().first().copied().unwrap_or(0).max(0) as usize;
    Ok((info.width() as usize, info.height() as usize, stride))
}

fn offer(p: &mut Painter, index: u64, sample: &gst::Sample, clip: &Path) -> Result<(), EvalError> {
    let size = layout(sample, clip)?;
    let buffer = sample
        .buffer()
        .ok_or_else(|| err(clip, "a sample without a buffer"))?;
    let map = buffer
        .map_readable()
        .map_err(|e| err(clip, format!("reading a frame: {e}")))?;
    p.offer(index, map.as_slice(), size);
    Ok(())
}

fn paint(
    p: &Painter,
    t: f64,
    index: u64,
    sample: &gst::Sample,
    out: &mut gst::Buffer,
    clip: &Path,
) -> Result<(), EvalError> {
    let (width, height, stride) = layout(sample, clip)?;
    let mut map = out
        .make_mut()
        .map_writable()
        .map_err(|e| err(clip, format!("writing a frame: {e}")))?;
    let mut canvas = Canvas {
        data: map.as_mut_slice(),
        width,
        height,
        stride,
    };
    p.paint(t, index, &mut canvas).map_err(|e| err(clip, e))
}

/// Nanoseconds per frame: the caps' frame rate, else the buffer's duration.
fn frame_duration(caps: &gst::CapsRef, buffer: &gst::BufferRef) -> Option<u64> {
    let rate = caps
        .structure(0)
        .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
        .filter(|f| f.numer() > 0 && f.denom() > 0);
    match rate {
        Some(f) => Some(1_000_000_000 * f.denom() as u64 / f.numer() as u64),
        None => buffer.duration().map(|d| d.nseconds()).filter(|&d| d > 0),
    }
}

fn wait_eos(pipeline: &gst::Element, clip: &Path) -> Result<(), EvalError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| err(clip, "writer has no bus"))?;
    let timeout = gst::ClockTime::from_seconds(120);
    for msg in bus.iter_timed(timeout) {
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(err(clip, format!("writing: {}", e.error()))),
            _ => {}
        }
    }
    Err(err(clip, "the segment writer did not finish"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::PathBuf;

    fn clip() -> PathBuf {
        let p = std::env::var_os("VIGIE_CLIP")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/media/vtest.avi")
            });
        assert!(
            p.is_file(),
            "{} is missing: run deploy/setup.sh",
            p.display()
        );
        p
    }

    /// Hashes of the decoded frames of a file, with their timestamps.
    fn decoded(path: &Path) -> Vec<(u64, Vec<u8>)> {
        gst::init().unwrap();
        let p = gst::parse::launch(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
            path.display()
        ))
        .unwrap();
        let sink = app_element::<gst_app::AppSink>(&p, "sink", path).unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let mut out = Vec::new();
        while let Ok(s) = sink.pull_sample() {
            let b = s.buffer().unwrap();
            let map = b.map_readable().unwrap();
            out.push((
                b.pts().unwrap().nseconds(),
                Sha256::digest(map.as_slice()).to_vec(),
            ));
        }
        p.set_state(gst::State::Null).unwrap();
        out
    }

    #[test]
    fn a_segment_holds_exactly_the_original_pixels_of_its_frames() {
        let src = clip();
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("seg.mkv");
        let cut = Cut {
            start: 2.0,
            end: Some(3.0),
            speed: 2,
        };
        let seg = write_segment(&src, &dst, cut, None).unwrap();
        assert_eq!(seg.origin, 2.0);
        assert_eq!(seg.frames, 5);
        let original: Vec<_> = decoded(&src)
            .into_iter()
            .filter(|(t, _)| (2_000_000_000..3_000_000_000).contains(t))
            .step_by(2)
            .collect();
        let written = decoded(&dst);
        assert_eq!(written.len(), 5);
        for (k, ((t, h), (t0, h0))) in written.iter().zip(&original).enumerate() {
            assert_eq!(h, h0, "frame {k} differs");
            assert_eq!(*t, k as u64 * 100_000_000, "played at the clip's own rate");
            assert_eq!(seg.clip_seconds(*t), *t0 as f64 / 1e9);
        }
    }
}
