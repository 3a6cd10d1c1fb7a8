//! Evidence for the operator: what an alert shows and keeps. Per camera, [`CameraEvidence`]
//! holds the privacy masks (applied by ingest to every frame before analysis, and to every
//! full-resolution image given out here) and the recent full-resolution frames, and picks the
//! frame an alert's snapshot is drawn on.
//!
//! Ingest writes into it; the engine asks it for an alert's snapshot frame, which
//! `alerts::NewAlert` draws. It knows neither.
//!
//! A camera with a sub-stream (`detect_source`) does not decode its main stream all the time:
//! its alert is journaled at once with the detector's frame as snapshot, and the main stream's
//! frame of that instant is decoded afterwards by a [`StillSource`] (the compressed ring of
//! `clips`, wired by the engine), off the detection workers, to be attached as the alert's
//! full-resolution still ([`CameraEvidence::still_frame`]).

pub mod frames;
pub mod masks;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{CameraConfig, Source};
use crate::frames::Frame;

pub use frames::{FrameRing, FullFrame};
pub use masks::PrivacyMask;

/// Full frames kept beyond the camera's frame queue: those in the appsink (2), the tee's queue
/// (1), the supervisor's hand (1) and the detector's (1), plus one. The detector's frame is
/// always among them, since the full branch runs at most that far ahead of it.
pub const RING_SLACK: usize = 6;
/// Longest a snapshot waits for the main stream's frame of its time when that stream lags (a
/// sub-stream decodes faster than the main stream; both start together).
pub const MAX_WAIT: Duration = Duration::from_millis(500);
/// Farthest a full frame may be from the analysed one, in time, to serve as its snapshot.
pub const MATCH_TOLERANCE_NS: u64 = 250_000_000;
/// Longest an alert of a sub-stream camera waits for its on-demand snapshot, from the end of
/// its frame's analysis (waiting for the main stream's packets, then decoding their group of
/// pictures); past it, the detector's frame is used and the reason logged.
pub const STILL_DEADLINE: Duration = Duration::from_secs(2);

/// Decodes, on demand, the full-resolution frame of a given instant from the main stream kept
/// compressed.
pub trait StillSource: Send + Sync + std::fmt::Debug {
    /// The frame closest to wall-clock `at_ms` (ms since the epoch, the analysed frame's
    /// `captured_at_ms`) within `tolerance_ms`, as I420; waits for that instant's packets until
    /// `deadline` (the decode itself has its own limit). `Err` says why there is none.
    fn still(&self, at_ms: i64, tolerance_ms: i64, deadline: Instant) -> Result<FullFrame, String>;
}

/// The evidence side of one camera.
#[derive(Debug)]
pub struct CameraEvidence {
    mask: Option<PrivacyMask>,
    /// The sub-stream detection reads, when the camera has one.
    detect_source: Option<Source>,
    /// Recent full-resolution frames decoded continuously; `None` when snapshots come from the
    /// detector's frame or are decoded on demand.
    ring: Option<FrameRing>,
    /// Full-resolution snapshots asked for a camera with a sub-stream: decoded on demand.
    on_demand: bool,
    /// Where they are decoded from (set by the engine once the camera's ring exists).
    stills: Option<Arc<dyn StillSource>>,
}

impl CameraEvidence {
    /// From the camera's validated configuration.
    /// With a sub-stream, full-resolution snapshots are decoded on demand: give them their
    /// source with [`CameraEvidence::with_stills`].
    pub fn new(cam: &CameraConfig) -> CameraEvidence {
        let sub = cam.parsed_detect_source.is_some();
        let capacity = cam.queue_capacity + RING_SLACK;
        // A file read as fast as possible cannot be kept in step with its sub-stream: its main
        // stream is not opened, and snapshots are the detector's frame.
        let in_step = cam.realtime || !matches!(cam.parsed_source, Some(Source::File { .. }));
        CameraEvidence {
            mask: PrivacyMask::new(cam.privacy_masks.iter().map(|m| m.polygon()).collect()),
            detect_source: cam.parsed_detect_source.clone(),
            ring: (cam.snapshot_full_resolution && !sub).then(|| FrameRing::new(capacity)),
            on_demand: cam.snapshot_full_resolution && sub && in_step,
            stills: None,
        }
    }

    /// Snapshots decoded on demand from `stills` (a camera with a sub-stream).
    pub fn with_stills(mut self, stills: Arc<dyn StillSource>) -> CameraEvidence {
        self.on_demand = true;
        self.stills = Some(stills);
        self
    }

    /// `true` when the camera's full-resolution snapshots are decoded per alert (so its alerts
    /// are published off the detection workers).
    pub fn decodes_on_demand(&self) -> bool {
        self.on_demand
    }

    /// From its parts (tests and benchmarks): `full_frames` = 0 keeps none.
    pub fn from_parts(
        mask: Option<PrivacyMask>,
        detect_source: Option<Source>,
        full_frames: usize,
    ) -> CameraEvidence {
        CameraEvidence {
            mask,
            detect_source,
            ring: (full_frames > 0).then(|| FrameRing::new(full_frames)),
            on_demand: false,
            stills: None,
        }
    }

    /// The sub-stream detection reads, if any.
    pub fn detect_source(&self) -> Option<&Source> {
        self.detect_source.as_ref()
    }

    /// The ring of full-resolution frames ingest fills, if the camera keeps them.
    pub fn ring(&self) -> Option<&FrameRing> {
        self.ring.as_ref()
    }

    /// The camera's privacy masks; `None` when it has none.
    pub fn mask(&self) -> Option<&PrivacyMask> {
        self.mask.as_ref()
    }

    /// The frame an alert raised on `frame` (the detector's frame, already masked by ingest) is
    /// drawn on: the full-resolution frame closest in time (masked here), or `frame` itself when
    /// none is close enough, or when the camera's full-resolution picture is decoded on demand
    /// (it comes after, as the alert's still: [`CameraEvidence::still_frame`]). Boxes and
    /// overlays are normalised, so they fit either.
    pub fn snapshot_frame<'a>(&self, frame: &'a Frame) -> Cow<'a, Frame> {
        match (self.on_demand, self.full_frame(frame)) {
            (false, Some(full)) => Cow::Owned(full),
            _ => Cow::Borrowed(frame),
        }
    }

    /// The full-resolution still of `frame`'s instant for a camera whose snapshots are decoded
    /// on demand: the main stream's frame decoded now (giving up at `deadline`), converted and
    /// masked. `Err` says why there is none.
    pub fn still_frame(&self, frame: &Frame, deadline: Instant) -> Result<Frame, String> {
        let stills = self
            .stills
            .as_deref()
            .ok_or_else(|| "no compressed main stream is kept".to_string())?;
        self.decode(stills, frame, deadline)
    }

    fn decode(
        &self,
        stills: &dyn StillSource,
        frame: &Frame,
        deadline: Instant,
    ) -> Result<Frame, String> {
        let tolerance_ms = (MATCH_TOLERANCE_NS / 1_000_000) as i64;
        let full = stills.still(frame.captured_at_ms, tolerance_ms, deadline)?;
        self.masked(frame, &full)
            .ok_or_else(|| "the decoded frame is not a readable I420 picture".to_string())
    }

    /// The full-resolution frame for `frame`, converted to BGR and masked.
    fn full_frame(&self, frame: &Frame) -> Option<Frame> {
        let ring = self.ring()?;
        let deadline = Instant::now() + MAX_WAIT;
        while ring.newest_pts().is_none_or(|t| t < frame.pts_ns) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(full) = ring.nearest(frame.pts_ns, MATCH_TOLERANCE_NS) else {
            tracing::debug!(camera = %frame.camera, pts_ns = frame.pts_ns, newest_full_pts_ns = ?ring.newest_pts(), held = ring.len(), "no full-resolution frame close in time: snapshot from the detector's frame");
            return None;
        };
        self.masked(frame, &full)
    }

    /// `full` in BGR with the privacy masks, in place of the analysed `frame`.
    fn masked(&self, frame: &Frame, full: &FullFrame) -> Option<Frame> {
        let mut data = full.to_bgr()?;
        if let Some(mask) = &self.mask {
            mask.apply(&mut data, full.width, full.height);
        }
        Some(Frame {
            camera: frame.camera.clone(),
            seq: frame.seq,
            pts_ns: if self.on_demand {
                frame.pts_ns
            } else {
                full.pts_ns
            },
            captured_at_ms: frame.captured_at_ms,
            captured: frame.captured,
            width: full.width,
            height: full.height,
            source_width: full.width,
            source_height: full.height,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn detector_frame(pts_ns: u64) -> Frame {
        Frame {
            camera: Arc::from("cam"),
            seq: 1,
            pts_ns,
            captured_at_ms: 0,
            captured: Instant::now(),
            width: 32,
            height: 32,
            source_width: 64,
            source_height: 48,
            data: vec![90; 32 * 32 * 3],
        }
    }

    fn full(pts_ns: u64) -> FullFrame {
        let (w, h) = (64, 48);
        let mut i420 = vec![180u8; (w * h) as usize];
        i420.resize(FullFrame::i420_len(w, h), 128);
        FullFrame {
            pts_ns,
            width: w,
            height: h,
            i420,
        }
    }

    fn decode(jpeg: &[u8]) -> image::RgbImage {
        image::load_from_memory(jpeg).unwrap().to_rgb8()
    }

    /// The alert snapshot as `alerts` draws it, on the frame evidence picks.
    fn snapshot(ev: &CameraEvidence, frame: &Frame) -> Vec<u8> {
        crate::alerts::render_snapshot(&ev.snapshot_frame(frame), &[], &Default::default()).unwrap()
    }

    /// The full-resolution still as the engine draws it, or why there is none.
    fn still(ev: &CameraEvidence, frame: &Frame) -> Result<Vec<u8>, String> {
        let full = ev.still_frame(frame, Instant::now() + STILL_DEADLINE)?;
        Ok(crate::alerts::render_snapshot(&full, &[], &Default::default()).unwrap())
    }

    #[test]
    fn the_snapshot_uses_the_full_frame_closest_in_time_and_masks_it() {
        let mask = PrivacyMask::new(vec![vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]);
        let ev = CameraEvidence::from_parts(mask, None, 4);
        let ring = ev.ring().unwrap();
        ring.push(full(1_000_000_000));
        ring.push(full(1_200_000_000));
        let img = decode(&snapshot(&ev, &detector_frame(1_190_000_000)));
        assert_eq!(img.dimensions(), (64, 48));
        // Left half masked, right half the full frame's light grey (Y 180).
        assert!(img.get_pixel(10, 24).0.iter().all(|&c| c < 12));
        assert!(img.get_pixel(50, 24).0.iter().all(|&c| c > 170));
    }

    /// A main stream decoded on demand: the frame of a given instant, or why there is none.
    #[derive(Debug)]
    struct Stills {
        at_ms: i64,
    }

    impl StillSource for Stills {
        fn still(&self, at_ms: i64, tolerance_ms: i64, _: Instant) -> Result<FullFrame, String> {
            (at_ms.abs_diff(self.at_ms) <= tolerance_ms.unsigned_abs())
                .then(|| full(0))
                .ok_or_else(|| "not held".to_string())
        }
    }

    #[test]
    fn a_sub_stream_camera_decodes_its_still_on_demand_and_masks_it() {
        let mask = PrivacyMask::new(vec![vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]);
        let sub = Some(Source::Test {
            pattern: "ball".into(),
        });
        let ev =
            CameraEvidence::from_parts(mask, sub, 0).with_stills(Arc::new(Stills { at_ms: 5_000 }));
        assert!(ev.decodes_on_demand() && ev.ring().is_none());
        let mut frame = detector_frame(1_000_000_000);
        frame.captured_at_ms = 5_100;
        let img = decode(&still(&ev, &frame).unwrap());
        assert_eq!(img.dimensions(), (64, 48));
        assert!(img.get_pixel(10, 24).0.iter().all(|&c| c < 12));
        assert!(img.get_pixel(50, 24).0.iter().all(|&c| c > 170));
        // The snapshot, delivered first, is the detector's frame (masked by ingest already).
        // Nothing decodable at that instant: no still, and the snapshot stays.
        frame.captured_at_ms = 9_000;
        assert_eq!(still(&ev, &frame).unwrap_err(), "not held");
        let img = decode(&snapshot(&ev, &frame));
        assert_eq!(img.dimensions(), (43, 32));
    }

    #[test]
    fn a_lagging_main_stream_is_waited_for() {
        let ev = Arc::new(CameraEvidence::from_parts(None, None, 4));
        ev.ring().unwrap().push(full(0));
        let late = ev.clone();
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            late.ring().unwrap().push(full(2_000_000_000));
        });
        let img = decode(&snapshot(&ev, &detector_frame(2_000_000_000)));
        pusher.join().unwrap();
        assert_eq!(img.dimensions(), (64, 48));
    }

    #[test]
    fn without_a_full_frame_close_in_time_the_detector_frame_is_used() {
        let ev = CameraEvidence::from_parts(None, None, 4);
        ev.ring().unwrap().push(full(0));
        let img = decode(&snapshot(&ev, &detector_frame(5_000_000_000)));
        // The detector's 32x32 frame at the source's 4:3 aspect.
        assert_eq!(img.dimensions(), (43, 32));
    }
}
