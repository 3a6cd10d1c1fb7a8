//! Full-resolution frames kept for evidence: a tiny per-camera ring of recent decoded frames (I420,
//! as the decoder gives them: half the bytes of BGR, and no colour conversion for frames no alert
//! needs), at the detection timestamps. An alert's snapshot takes the one closest in time to the
//! frame the detector saw and converts only that one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

/// One decoded full-resolution frame, planar I420 without padding: Y (`w*h`), then U and V
/// (`ceil(w/2)*ceil(h/2)` each).
#[derive(Debug, Clone)]
pub struct FullFrame {
    /// Stream timestamp on the camera's detection clock (see `ingest`).
    pub pts_ns: u64,
    pub width: u32,
    pub height: u32,
    pub i420: Vec<u8>,
}

impl FullFrame {
    /// Bytes of an I420 frame of this size.
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    }

    /// Copies an I420 sample (planes without their padding), stamped `pts_ns`. `None` when it
    /// is not a readable I420 frame.
    pub fn from_sample(sample: &gst::Sample, pts_ns: u64) -> Option<FullFrame> {
        let buffer = sample.buffer()?;
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        if info.format() != gst_video::VideoFormat::I420 {
            return None;
        }
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
        let (w, h) = (info.width(), info.height());
        let mut i420 = Vec::with_capacity(Self::i420_len(w, h));
        let (cw, ch) = ((w as usize).div_ceil(2), (h as usize).div_ceil(2));
        for (plane, (pw, ph)) in [(w as usize, h as usize), (cw, ch), (cw, ch)]
            .into_iter()
            .enumerate()
        {
            let stride = usize::try_from(*frame.plane_stride().get(plane)?).ok()?;
            let data = frame.plane_data(plane as u32).ok()?;
            for y in 0..ph {
                i420.extend_from_slice(data.get(y * stride..y * stride + pw)?);
            }
        }
        Some(FullFrame {
            pts_ns,
            width: w,
            height: h,
            i420,
        })
    }

    /// Packed BGR pixels (BT.601, limited range: what SD/HD camera encoders produce). `None` when
    /// the buffer does not match the size.
    pub fn to_bgr(&self) -> Option<Vec<u8>> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || self.i420.len() != Self::i420_len(self.width, self.height) {
            return None;
        }
        let cw = w.div_ceil(2);
        let (y_plane, chroma) = self.i420.split_at(w * h);
        let (u_plane, v_plane) = chroma.split_at(cw * h.div_ceil(2));
        let mut out = vec![0u8; w * h * 3];
        for (y, row) in out.chunks_exact_mut(w * 3).enumerate() {
            let luma = &y_plane[y * w..(y + 1) * w];
            let (u_row, v_row) = (&u_plane[(y / 2) * cw..], &v_plane[(y / 2) * cw..]);
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let c = 298 * (i32::from(luma[x]) - 16);
                let d = i32::from(u_row[x / 2]) - 128;
                let e = i32::from(v_row[x / 2]) - 128;
                let clamp = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
                px[0] = clamp(c + 516 * d);
                px[1] = clamp(c - 100 * d - 208 * e);
                px[2] = clamp(c + 409 * e);
            }
        }
        Some(out)
    }
}

/// The last few full-resolution frames of one camera.
#[derive(Debug)]
pub struct FrameRing {
    frames: Mutex<VecDeque<Arc<FullFrame>>>,
    capacity: usize,
}

impl FrameRing {
    /// Holds at most `capacity` frames (at least 1); the oldest goes first.
    pub fn new(capacity: usize) -> FrameRing {
        FrameRing {
            frames: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            capacity: capacity.max(1),
        }
    }

    /// Adds a frame without ever waiting (called from GStreamer's streaming thread): `false`
    /// when a reader held the ring at that instant and the frame was not kept.
    pub fn push(&self, frame: FullFrame) -> bool {
        let Ok(mut frames) = self.frames.try_lock() else {
            return false;
        };
        if frames.len() == self.capacity {
            frames.pop_front();
        }
        frames.push_back(Arc::new(frame));
        true
    }

    /// The frame whose timestamp is closest to `pts_ns`, if it is within `tolerance_ns`.
    pub fn nearest(&self, pts_ns: u64, tolerance_ns: u64) -> Option<Arc<FullFrame>> {
        let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        frames
            .iter()
            .min_by_key(|f| f.pts_ns.abs_diff(pts_ns))
            .filter(|f| f.pts_ns.abs_diff(pts_ns) <= tolerance_ns)
            .cloned()
    }

    /// Timestamp of the newest frame held, if any.
    pub fn newest_pts(&self) -> Option<u64> {
        let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        frames.back().map(|f| f.pts_ns)
    }

    /// Frames held now.
    pub fn len(&self) -> usize {
        self.frames.lock().map(|f| f.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixel bytes held now.
    pub fn bytes(&self) -> usize {
        self.frames
            .lock()
            .map(|f| f.iter().map(|x| x.i420.len()).sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(pts_ns: u64, (w, h): (u32, u32), yuv: [u8; 3]) -> FullFrame {
        let luma = (w * h) as usize;
        let chroma = (FullFrame::i420_len(w, h) - luma) / 2;
        let mut i420 = vec![yuv[0]; luma];
        i420.extend(std::iter::repeat_n(yuv[1], chroma));
        i420.extend(std::iter::repeat_n(yuv[2], chroma));
        FullFrame {
            pts_ns,
            width: w,
            height: h,
            i420,
        }
    }

    #[test]
    fn the_ring_keeps_the_last_frames_and_finds_the_nearest() {
        let ring = FrameRing::new(3);
        for i in 0..5u64 {
            assert!(ring.push(solid(i * 200_000_000, (4, 2), [16, 128, 128])));
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.newest_pts(), Some(800_000_000));
        assert_eq!(ring.bytes(), 3 * FullFrame::i420_len(4, 2));
        let f = ring.nearest(610_000_000, 50_000_000).unwrap();
        assert_eq!(f.pts_ns, 600_000_000);
        // The first two are gone; far from every frame held: none.
        assert!(ring.nearest(0, 50_000_000).is_none());
        assert!(ring.nearest(2_000_000_000, 50_000_000).is_none());
    }

    #[test]
    fn i420_converts_to_bgr() {
        // Limited-range black, white and pure red (BT.601: Y 81, U 90, V 240).
        let black = solid(0, (4, 4), [16, 128, 128]).to_bgr().unwrap();
        assert!(black.iter().all(|&c| c == 0));
        let white = solid(0, (3, 3), [235, 128, 128]).to_bgr().unwrap();
        assert_eq!(white.len(), 27);
        assert!(white.iter().all(|&c| c == 255));
        let red = solid(0, (2, 2), [81, 90, 240]).to_bgr().unwrap();
        let (b, g, r) = (red[0], red[1], red[2]);
        assert!(r > 250 && g < 5 && b < 5, "{b} {g} {r}");
        let mut short = solid(0, (4, 4), [0, 0, 0]);
        short.i420.pop();
        assert!(short.to_bgr().is_none());
    }
}
