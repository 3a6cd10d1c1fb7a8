//! Alert clips: a short MP4 (H.264, played by any browser) of each alert, from `pre_seconds`
//! before its frame to `post_seconds` after (`[clips]`).
//!
//! - [`ring`]: per camera, the compressed stream as the camera sent it, in a ring bounded by
//!   time and bytes; [`tap`] fills it from the decoder's input inside the ingest pipeline
//!   (shared buffers: no copy, no encoder running all the time).
//! - [`service`]: after an alert is journaled (the clip never delays an alert), waits for the
//!   seconds after it, writes `clips/<alert id>.mp4` in the state directory with [`writer`]
//!   (remux for H.264, a one-off transcode for other codecs or a privacy mask, see [`mask`]),
//!   and journals it (`alert_clips`, chained).
//!
//! Cameras without a compressed stream (a synthetic `test:` source, MJPEG over HTTP, whose
//! JPEGs are decoded outside `decodebin`) have no clip.

pub mod bench;
pub mod mask;
pub mod ring;
pub mod service;
pub mod still;
pub mod tap;
pub mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::alerts::{ClipPolicy, NewAlert};
use crate::config::ClipsConfig;
use crate::rules::EventType;

pub use mask::MaskFn;
pub use ring::{ClipPackets, ClipRing, Coverage, GopPackets, Packet};
pub use still::RingStills;

/// What a ring keeps when it serves only the stills of a sub-stream camera (clips off), from a
/// keyframe: the frames waiting for analysis, and the stills' own lag. A still is decoded after
/// its alert at a low priority, so under load it may come seconds later: with 5 s kept, a burst
/// of alerts on a busy machine found the group of pictures of their instant already gone (the
/// oldest packet held 2.4–2.8 s after it). About 1.9 Mbit/s for the 720p bench clip: 5 MB.
pub const SNAPSHOT_KEEP_MS: i64 = 20_000;

/// Margin kept in a ring beyond the clip window: the time a clip may wait before it is
/// written (another clip being written, a camera that lags).
pub const RING_MARGIN_MS: i64 = 10_000;

/// One camera's ring and the privacy mask its clips must hide.
#[derive(Clone)]
pub struct CameraClips {
    pub ring: Arc<ClipRing>,
    pub mask: Option<MaskFn>,
}

/// A camera's ring (held by its ingest) and its mask.
type Entry = (Weak<ClipRing>, Option<MaskFn>);

/// The rings of the running cameras, by camera id. Ingest holds each ring (a stopped camera's
/// ring goes with it); clips being made hold theirs until written.
pub struct ClipRings {
    settings: ClipsConfig,
    rings: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for ClipRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipRings")
            .field("settings", &self.settings)
            .field("cameras", &self.lock().len())
            .finish()
    }
}

impl ClipRings {
    pub fn new(settings: ClipsConfig) -> ClipRings {
        ClipRings {
            settings,
            rings: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &ClipsConfig {
        &self.settings
    }

    /// A new ring for a camera (re)started now, its clips masked with `mask`; `None` when clips
    /// are off.
    pub fn start(&self, camera: &str, mask: Option<MaskFn>) -> Option<Arc<ClipRing>> {
        if !self.settings.enabled {
            return None;
        }
        let (pre, post) = self.settings.window_ms();
        let bytes = self.settings.ring_max_mb as usize * 1024 * 1024;
        let ring = Arc::new(ClipRing::new(pre + post + RING_MARGIN_MS, bytes));
        self.lock()
            .insert(camera.to_string(), (Arc::downgrade(&ring), mask));
        Some(ring)
    }

    /// The ring of a running camera.
    pub fn get(&self, camera: &str) -> Option<CameraClips> {
        let rings = self.lock();
        let (ring, mask) = rings.get(camera)?;
        Some(CameraClips {
            ring: ring.upgrade()?,
            mask: mask.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClipPolicy for ClipRings {
    /// A clip is expected for an alert about what a camera shows (not that it went offline or
    /// came back) whose ring has seen the compressed stream.
    fn expects_clip(&self, new: &NewAlert) -> bool {
        let about_video = !matches!(
            new.event_type,
            EventType::CameraOffline | EventType::CameraRestored
        );
        about_video
            && self
                .get(&new.camera_id)
                .is_some_and(|c| c.ring.caps().is_some())
    }
}
