//! The per-camera ring of compressed video: the buffers the camera sent, as they enter the
//! decoder (shared references, never copied, never re-encoded), bounded by time and by bytes.
//!
//! Each packet carries the wall-clock time at which its frame reaches the analysis (see
//! [`super::tap`]), so an alert's frame time finds its place in the ring. A clip starts on a
//! keyframe: the ring always keeps the last keyframe at or before its time horizon, so the
//! oldest second it promises can be decoded.

use std::collections::VecDeque;
use std::sync::Mutex;

use gstreamer as gst;

/// One compressed buffer.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Wall clock (ms since the epoch) at which the frame is shown to the analysis.
    pub at_ms: i64,
    /// Decodable on its own (no `DELTA_UNIT` flag).
    pub keyframe: bool,
    /// Counts the stream's restarts (pipeline restarts, file loops, caps changes): timestamps
    /// only follow each other within one segment.
    pub segment: u64,
    pub buffer: gst::Buffer,
}

/// The packets of one clip, from a keyframe, and the caps that describe them.
#[derive(Debug, Clone)]
pub struct ClipPackets {
    pub caps: gst::Caps,
    pub packets: Vec<Packet>,
    /// Where the window starts (ms since the epoch): the packets before it are only there to
    /// decode from a keyframe (a transcoded clip drops their frames).
    pub from_ms: i64,
}

/// The packets to decode one frame: from the last keyframe before it, in its segment.
#[derive(Debug, Clone)]
pub struct GopPackets {
    pub caps: gst::Caps,
    pub packets: Vec<Packet>,
    /// Index in `packets` of the packet closest in time to the instant asked for.
    pub target: usize,
}

/// Packets kept after the target in a [`GopPackets`]: a decoder that reorders frames (B-frames)
/// gives the target's neighbours in display order only with them.
const REORDER_PACKETS: usize = 3;

/// How the newest packets stand against a clip window (see [`ClipRing::coverage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Nothing held yet (the camera has not sent a compressed buffer).
    Empty,
    /// The ring holds packets up to before the window's end: wait.
    Partial,
    /// The window's end is held, or the stream restarted after the alert: write now.
    Complete,
}

#[derive(Debug, Default)]
struct Inner {
    packets: VecDeque<Packet>,
    bytes: usize,
    caps: Option<gst::Caps>,
    segment: u64,
    /// Decode timestamp (or presentation) of the last buffer, to see a stream start again.
    last_ts: Option<gst::ClockTime>,
}

/// The ring of one camera. Pushing holds the lock for a push only (and a scan of one group of
/// pictures when the oldest one goes).
#[derive(Debug)]
pub struct ClipRing {
    inner: Mutex<Inner>,
    keep_ms: i64,
    max_bytes: usize,
}

/// A stream whose timestamps go back by more than this started again (a file loop, a seek).
const RESTART_BACKWARDS: gst::ClockTime = gst::ClockTime::from_seconds(1);
/// The oldest packet is dropped past this beyond the horizon even without a later keyframe (a
/// stream whose keyframes are that rare cannot make clips of the configured length anyway).
const MAX_GOP_MS: i64 = 30_000;

impl ClipRing {
    /// A ring that keeps at least `keep_ms` of video (from the last keyframe before it), and at
    /// most `max_bytes` of buffers.
    pub fn new(keep_ms: i64, max_bytes: usize) -> ClipRing {
        ClipRing {
            inner: Mutex::new(Inner::default()),
            keep_ms: keep_ms.max(0),
            max_bytes: max_bytes.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new segment (a new pipeline instance): the packets held stay, but a clip never
    /// joins them with the next ones.
    pub fn restart(&self) {
        let mut inner = self.lock();
        inner.segment += 1;
        inner.last_ts = None;
    }

    /// Adds a buffer seen at `at_ms` with its caps. Caps that differ from the last ones start a
    /// new segment.
    pub fn push(&self, at_ms: i64, caps: Option<&gst::CapsRef>, buffer: gst::Buffer) {
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let ts = buffer.dts_or_pts();
        let size = buffer.size();
        let mut inner = self.lock();
        if let Some(caps) = caps {
            if inner.caps.as_deref() != Some(caps) {
                inner.caps = Some(caps.to_owned());
                inner.segment += 1;
            }
        }
        if let (Some(ts), Some(last)) = (ts, inner.last_ts) {
            if ts + RESTART_BACKWARDS < last {
                inner.segment += 1;
            }
        }
        if ts.is_some() {
            inner.last_ts = ts;
        }
        let segment = inner.segment;
        inner.bytes += size;
        inner.packets.push_back(Packet {
            at_ms,
            keyframe,
            segment,
            buffer,
        });
        self.evict(&mut inner);
    }

    fn evict(&self, inner: &mut Inner) {
        let Some(newest) = inner.packets.back().map(|p| p.at_ms) else {
            return;
        };
        let horizon = newest - self.keep_ms;
        // Drop whole groups of pictures while the next keyframe is still at or before the
        // horizon: the last keyframe before it stays.
        while let Some(k) = next_keyframe(&inner.packets) {
            if inner.packets[k].at_ms > horizon {
                break;
            }
            drop_front(inner, k);
        }
        while inner
            .packets
            .front()
            .is_some_and(|p| p.at_ms < horizon - MAX_GOP_MS)
        {
            drop_front(inner, 1);
        }
        while inner.bytes > self.max_bytes && inner.packets.len() > 1 {
            let k = next_keyframe(&inner.packets).unwrap_or(1);
            drop_front(inner, k);
        }
    }

    /// Whether the packets after `alert_ms` reach `end_ms`.
    pub fn coverage(&self, alert_ms: i64, end_ms: i64) -> Coverage {
        let inner = self.lock();
        let Some(newest) = inner.packets.back() else {
            return Coverage::Empty;
        };
        if newest.at_ms >= end_ms {
            return Coverage::Complete;
        }
        // The stream restarted since the alert: what follows is another segment.
        match segment_at(&inner.packets, alert_ms) {
            Some(seg) if seg != newest.segment => Coverage::Complete,
            _ => Coverage::Partial,
        }
    }

    /// The packets of the window `start_ms..=end_ms` around `alert_ms`, in the segment that
    /// holds the alert: from the last keyframe at or before `start_ms` (or the segment's first
    /// keyframe after it, when the ring does not reach that far back), up to `end_ms`. `None`
    /// when nothing held covers the alert.
    pub fn clip(&self, start_ms: i64, alert_ms: i64, end_ms: i64) -> Option<ClipPackets> {
        let inner = self.lock();
        let caps = inner.caps.clone()?;
        let seg = segment_at(&inner.packets, alert_ms)?;
        let in_seg: Vec<&Packet> = inner.packets.iter().filter(|p| p.segment == seg).collect();
        let first = in_seg
            .iter()
            .rposition(|p| p.keyframe && p.at_ms <= start_ms)
            .or_else(|| in_seg.iter().position(|p| p.keyframe && p.at_ms <= end_ms))?;
        let packets: Vec<Packet> = in_seg[first..]
            .iter()
            .take_while(|p| p.at_ms <= end_ms)
            .map(|p| (*p).clone())
            .collect();
        if packets.last().is_none_or(|p| p.at_ms < alert_ms) {
            return None;
        }
        Some(ClipPackets {
            caps,
            packets,
            from_ms: start_ms,
        })
    }

    /// The group of pictures that decodes the frame closest to `at_ms` (within `tolerance_ms`):
    /// from the last keyframe at or before that frame, in the same segment, to a few packets
    /// after it. `None` when no packet is that close or no keyframe precedes it.
    pub fn gop_at(&self, at_ms: i64, tolerance_ms: i64) -> Option<GopPackets> {
        let inner = self.lock();
        let caps = inner.caps.clone()?;
        let (start, target, end) = select_gop(&inner.packets, at_ms, tolerance_ms)?;
        Some(GopPackets {
            caps,
            packets: inner.packets.range(start..end).cloned().collect(),
            target: target - start,
        })
    }

    /// Packets and bytes held now.
    pub fn stats(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.packets.len(), inner.bytes)
    }

    /// Wall clock of the newest packet.
    /// Why no group of pictures decodes the frame at `at_ms` (what [`ClipRing::gop_at`] saw):
    /// how far the nearest packet is, the span held around `at_ms`, and whether a keyframe of
    /// the same segment precedes it.
    pub fn miss(&self, at_ms: i64) -> String {
        let inner = self.lock();
        let (Some(first), Some(last)) = (inner.packets.front(), inner.packets.back()) else {
            return "nothing held".into();
        };
        let nearest = inner
            .packets
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.at_ms.abs_diff(at_ms));
        let keyed = nearest.is_some_and(|(i, p)| {
            (0..=i)
                .rev()
                .take_while(|&k| inner.packets[k].segment == p.segment)
                .any(|k| inner.packets[k].keyframe)
        });
        format!(
            "{} packets held from {} to {} ms of that instant, the nearest {} ms away, {}",
            inner.packets.len(),
            first.at_ms - at_ms,
            last.at_ms - at_ms,
            nearest.map_or(0, |(_, p)| p.at_ms - at_ms),
            if keyed {
                "after a keyframe of its segment"
            } else {
                "with no keyframe before it in its segment"
            }
        )
    }

    pub fn newest_ms(&self) -> Option<i64> {
        self.lock().packets.back().map(|p| p.at_ms)
    }

    /// Wall-clock span held, oldest to newest (ms).
    pub fn span_ms(&self) -> i64 {
        let inner = self.lock();
        match (inner.packets.front(), inner.packets.back()) {
            (Some(a), Some(b)) => b.at_ms - a.at_ms,
            _ => 0,
        }
    }

    /// The caps of the stream held, once a buffer has been seen.
    pub fn caps(&self) -> Option<gst::Caps> {
        self.lock().caps.clone()
    }
}

/// `(first, target, end)` indices of the packets that decode the frame closest to `at_ms`: the
/// target within `tolerance_ms`, the last keyframe at or before it in its segment, and the end
/// (exclusive) up to [`REORDER_PACKETS`] after it in the segment.
fn select_gop(
    packets: &VecDeque<Packet>,
    at_ms: i64,
    tolerance_ms: i64,
) -> Option<(usize, usize, usize)> {
    let (target, p) = packets
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| p.at_ms.abs_diff(at_ms))
        .filter(|(_, p)| p.at_ms.abs_diff(at_ms) <= tolerance_ms.unsigned_abs())?;
    let seg = p.segment;
    let first = (0..=target)
        .rev()
        .take_while(|&i| packets[i].segment == seg)
        .find(|&i| packets[i].keyframe)?;
    let end = (target + 1..packets.len())
        .take(REORDER_PACKETS)
        .take_while(|&i| packets[i].segment == seg)
        .last()
        .map_or(target + 1, |i| i + 1);
    Some((first, target, end))
}

/// Index of the first keyframe after the front packet.
fn next_keyframe(packets: &VecDeque<Packet>) -> Option<usize> {
    packets
        .iter()
        .skip(1)
        .position(|p| p.keyframe)
        .map(|i| i + 1)
}

fn drop_front(inner: &mut Inner, n: usize) {
    for p in inner.packets.drain(..n.min(inner.packets.len())) {
        inner.bytes = inner.bytes.saturating_sub(p.buffer.size());
    }
}

/// The segment of the last packet at or before `at_ms` (the first packet's when all are later).
fn segment_at(packets: &VecDeque<Packet>, at_ms: i64) -> Option<u64> {
    packets
        .iter()
        .rev()
        .find(|p| p.at_ms <= at_ms)
        .or_else(|| packets.front())
        .map(|p| p.segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> gst::Caps {
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .build()
    }

    /// A buffer of `size` bytes stamped `pts_ms`, a keyframe or not.
    fn buffer(pts_ms: u64, size: usize, key: bool) -> gst::Buffer {
        let mut b = gst::Buffer::from_slice(vec![0u8; size]);
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
            if !key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        b
    }

    /// 10 frames a second from `t0_ms`, a keyframe every `gop` frames, `n` frames.
    fn feed(ring: &ClipRing, t0_ms: i64, n: u64, gop: u64, size: usize) {
        let c = caps();
        for i in 0..n {
            let at = t0_ms + (i as i64) * 100;
            ring.push(at, Some(&c), buffer(i * 100, size, i % gop == 0));
        }
    }

    #[test]
    fn the_ring_keeps_its_time_window_from_a_keyframe() {
        gst::init().unwrap();
        let ring = ClipRing::new(3_000, usize::MAX);
        // 20 s at 10 fps, a keyframe every 2 s.
        feed(&ring, 0, 200, 20, 10);
        let (n, bytes) = ring.stats();
        assert_eq!(bytes, n * 10);
        // Newest at 19.9 s; horizon 16.9 s; the last keyframe at or before it is 16 s.
        assert_eq!(ring.span_ms(), 19_900 - 16_000);
        let inner = ring.lock();
        assert!(inner.packets.front().unwrap().keyframe);
        assert_eq!(inner.packets.front().unwrap().at_ms, 16_000);
    }

    #[test]
    fn a_clip_starts_on_the_keyframe_before_its_window() {
        gst::init().unwrap();
        let ring = ClipRing::new(15_000, usize::MAX);
        feed(&ring, 0, 200, 20, 10);
        // Alert at 10 s, window 7 s..13 s: starts on the 6 s keyframe, ends at 13 s.
        let clip = ring.clip(7_000, 10_000, 13_000).unwrap();
        assert_eq!(clip.packets.first().unwrap().at_ms, 6_000);
        assert!(clip.packets.first().unwrap().keyframe);
        assert_eq!(clip.packets.last().unwrap().at_ms, 13_000);
        assert_eq!(clip.packets.len(), 71);
        assert_eq!(ring.coverage(10_000, 13_000), Coverage::Complete);
        assert_eq!(ring.coverage(18_000, 23_000), Coverage::Partial);
        // Before what the ring holds: the first keyframe held starts the clip.
        let early = ring.clip(3_000, 6_000, 9_000).unwrap();
        assert_eq!(early.packets.first().unwrap().at_ms, 4_000);
        // Entirely after the newest packet: nothing covers the alert yet.
        assert!(ring.clip(30_000, 33_000, 36_000).is_none());
        assert_eq!(
            ClipRing::new(1, 1).coverage(0, 1),
            Coverage::Empty,
            "empty ring"
        );
    }

    #[test]
    fn the_byte_cap_drops_whole_groups_of_pictures() {
        gst::init().unwrap();
        // 1000 bytes a frame, a cap of 50 frames' worth, a keyframe every 20 frames.
        let ring = ClipRing::new(60_000, 50_000);
        feed(&ring, 0, 100, 20, 1000);
        let (n, bytes) = ring.stats();
        assert!(bytes <= 50_000, "{bytes}");
        assert_eq!(n, 40, "two groups of 20 fit under the cap");
        assert!(ring.lock().packets.front().unwrap().keyframe);
    }

    #[test]
    fn a_snapshot_decodes_from_the_keyframe_before_the_closest_frame() {
        gst::init().unwrap();
        let ring = ClipRing::new(60_000, usize::MAX);
        // 10 frames a second, a keyframe every 2 s.
        feed(&ring, 0, 100, 20, 10);
        // 5.04 s: the closest frame is 5.0 s; the keyframe before it 4.0 s.
        let gop = ring.gop_at(5_040, 250).unwrap();
        assert!(gop.packets[0].keyframe);
        assert_eq!(gop.packets[0].at_ms, 4_000);
        assert_eq!(gop.packets[gop.target].at_ms, 5_000);
        // Three packets after the target for a reordering decoder, no more.
        assert_eq!(gop.packets.last().unwrap().at_ms, 5_300);
        assert_eq!(gop.packets.len(), 14);
        // On a keyframe: it alone, and what follows.
        let on_key = ring.gop_at(5_960, 250).unwrap();
        assert_eq!(on_key.packets[on_key.target].at_ms, 6_000);
        assert_eq!(on_key.target, 0);
        // At the newest packet: nothing after it.
        let newest = ring.gop_at(9_900, 250).unwrap();
        assert_eq!(newest.packets.len(), newest.target + 1);
        // Farther than the tolerance from every packet: none.
        assert!(ring.gop_at(10_300, 250).is_none());
        assert!(ring.gop_at(-400, 250).is_none());
    }

    #[test]
    fn a_snapshot_never_decodes_across_a_restart() {
        gst::init().unwrap();
        let ring = ClipRing::new(60_000, usize::MAX);
        feed(&ring, 0, 50, 10, 10);
        // The stream starts again at 5 s, and its first packet is not a keyframe.
        let c = caps();
        for i in 0..10u64 {
            ring.push(
                5_000 + i as i64 * 100,
                Some(&c),
                buffer(i * 100, 10, i == 5),
            );
        }
        // 5.2 s is in the new segment, whose keyframe comes later: no decodable frame.
        assert!(ring.gop_at(5_200, 50).is_none());
        // 5.6 s decodes from the new segment's keyframe at 5.5 s.
        let gop = ring.gop_at(5_600, 50).unwrap();
        assert_eq!(gop.packets[0].at_ms, 5_500);
        // 4.9 s, the last frame of the first segment: its packets only.
        let end = ring.gop_at(4_900, 50).unwrap();
        assert_eq!(end.packets[0].at_ms, 4_000);
        assert_eq!(end.packets.last().unwrap().at_ms, 4_900);
    }

    #[test]
    fn a_clip_never_spans_a_restart() {
        gst::init().unwrap();
        let ring = ClipRing::new(60_000, usize::MAX);
        // 5 s, then the file loops: timestamps start again at 0 (wall clock goes on).
        feed(&ring, 0, 50, 10, 10);
        feed(&ring, 5_000, 50, 10, 10);
        let clip = ring.clip(1_000, 4_000, 8_000).unwrap();
        assert_eq!(clip.packets.last().unwrap().at_ms, 4_900);
        assert_eq!(ring.coverage(4_000, 8_000), Coverage::Complete);
        let after = ring.clip(5_500, 7_000, 9_000).unwrap();
        assert_eq!(after.packets.first().unwrap().at_ms, 5_000);
        // A new pipeline instance likewise.
        ring.restart();
        feed(&ring, 10_000, 5, 10, 10);
        let seg = ring.clip(9_000, 9_500, 11_000).unwrap();
        assert_eq!(seg.packets.last().unwrap().at_ms, 9_900);
    }
}
