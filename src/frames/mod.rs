//! Frames as they leave ingest, and the bounded lock-free queue that holds them until a detector
//! takes them. When the queue is full the **oldest** frame is dropped (a live camera's newest image
//! is the one that matters) and the drop is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_queue::ArrayQueue;

pub mod motion;

/// One decoded image, already scaled to the detector's input size, packed BGR (3 bytes a pixel,
/// rows of `width * 3` bytes, no padding).
#[derive(Clone)]
pub struct Frame {
    /// Camera id from the configuration.
    pub camera: Arc<str>,
    /// Per-camera sequence number, counting every frame delivered by the pipeline.
    pub seq: u64,
    /// Stream timestamp in nanoseconds, monotonic per camera (a looping file keeps counting).
    pub pts_ns: u64,
    /// Wall-clock capture time, milliseconds since the Unix epoch.
    pub captured_at_ms: i64,
    /// Monotonic capture instant, for latency measurement.
    pub captured: Instant,
    /// Size of `data`.
    pub width: u32,
    pub height: u32,
    /// Size of the image the camera sent, before scaling (for snapshots with the right aspect).
    pub source_width: u32,
    pub source_height: u32,
    /// Packed BGR pixels.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("camera", &self.camera)
            .field("seq", &self.seq)
            .field("pts_ns", &self.pts_ns)
            .field("size", &(self.width, self.height))
            .field("source", &(self.source_width, self.source_height))
            .finish()
    }
}

/// Bounded, lock-free, drop-oldest queue of frames for one camera.
pub struct FrameQueue {
    inner: ArrayQueue<Frame>,
    dropped: AtomicU64,
    pushed: AtomicU64,
}

impl FrameQueue {
    /// A queue holding at most `capacity` frames (at least 1).
    pub fn new(capacity: usize) -> Self {
        FrameQueue {
            inner: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
        }
    }

    /// Never blocks. Returns `true` when an older frame had to be dropped to make room.
    pub fn push(&self, frame: Frame) -> bool {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if self.inner.force_push(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Pushes only when there is room; gives the frame back otherwise. For sources that may wait
    /// (a file read as fast as possible), never for a live camera.
    pub fn try_push(&self, frame: Frame) -> Result<(), Frame> {
        self.inner.push(frame)?;
        self.pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn pop(&self) -> Option<Frame> {
        self.inner.pop()
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Frames dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Frames accepted into the queue (including those later dropped).
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame {
            camera: Arc::from("cam"),
            seq,
            pts_ns: seq * 40_000_000,
            captured_at_ms: 0,
            captured: Instant::now(),
            width: 2,
            height: 1,
            source_width: 4,
            source_height: 2,
            data: vec![0; 6],
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let q = FrameQueue::new(2);
        assert!(!q.push(frame(1)));
        assert!(!q.push(frame(2)));
        assert!(q.push(frame(3)));
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.pop().map(|f| f.seq), Some(2));
        assert_eq!(q.pop().map(|f| f.seq), Some(3));
        assert!(q.pop().is_none());
    }

    #[test]
    fn try_push_refuses_when_full_without_dropping() {
        let q = FrameQueue::new(1);
        assert!(q.try_push(frame(1)).is_ok());
        let back = q.try_push(frame(2)).unwrap_err();
        assert_eq!(back.seq, 2);
        assert_eq!(q.dropped(), 0);
        assert_eq!(q.pop().map(|f| f.seq), Some(1));
    }
}
