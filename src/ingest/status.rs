//! What the rest of the engine (and the operator) can see of a camera: its state, rates and the
//! last error, updated by the camera's supervisor and read by the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// Life cycle of one camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Starting,
    Live,
    Reconnecting,
    Failed,
    Stopped,
}

impl CameraState {
    pub const ALL: [CameraState; 5] = [
        CameraState::Starting,
        CameraState::Live,
        CameraState::Reconnecting,
        CameraState::Failed,
        CameraState::Stopped,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Live => "live",
            CameraState::Reconnecting => "reconnecting",
            CameraState::Failed => "failed",
            CameraState::Stopped => "stopped",
        }
    }
}

/// Shared, lock-light status of one camera.
pub struct CameraStatus {
    pub id: String,
    pub name: String,
    pub location: String,
    /// The source with any credentials removed.
    pub source_redacted: String,
    inner: Mutex<StatusInner>,
    pub frames_decoded: AtomicU64,
    pub frames_inferred: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub restarts: AtomicU64,
    started: Instant,
}

struct StatusInner {
    state: CameraState,
    last_error: Option<String>,
    last_frame: Option<Instant>,
    rate: RateWindow,
}

/// Frames per second over the last few seconds, from counter samples.
struct RateWindow {
    samples: std::collections::VecDeque<(Instant, u64, u64)>,
}

/// A point-in-time copy of a camera's status, as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct CameraSnapshot {
    pub id: String,
    pub name: String,
    pub location: String,
    pub source: String,
    pub state: CameraState,
    pub last_error: Option<String>,
    /// Decoded frames per second over the last seconds.
    pub fps_decoded: f64,
    /// Frames per second through the detector over the last seconds.
    pub fps_inferred: f64,
    pub frames_decoded: u64,
    pub frames_inferred: u64,
    pub frames_dropped: u64,
    /// Reconnection attempts: every rebuild of the pipeline after an error, the end of a live
    /// stream or a stall (the same count as `vigie_ingest_restarts_total`).
    pub restarts: u64,
    /// Seconds since the last decoded frame, if any.
    pub last_frame_age_seconds: Option<f64>,
    pub uptime_seconds: f64,
}

impl CameraStatus {
    pub fn new(id: &str, name: &str, location: &str, source_redacted: &str) -> Self {
        CameraStatus {
            id: id.to_string(),
            name: name.to_string(),
            location: location.to_string(),
            source_redacted: source_redacted.to_string(),
            inner: Mutex::new(StatusInner {
                state: CameraState::Starting,
                last_error: None,
                last_frame: None,
                rate: RateWindow {
                    samples: Default::default(),
                },
            }),
            frames_decoded: AtomicU64::new(0),
            frames_inferred: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        // A poisoned status lock only means a panic elsewhere; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> CameraState {
        self.lock().state
    }

    /// Sets the state; an error message is kept until the camera is live again.
    pub fn set_state(&self, state: CameraState, error: Option<String>) {
        let mut inner = self.lock();
        inner.state = state;
        if error.is_some() || state == CameraState::Live {
            inner.last_error = error;
        }
    }

    /// Called for every decoded frame (cheap: one lock, no allocation).
    pub fn frame_decoded(&self) {
        self.frames_decoded.fetch_add(1, Ordering::Relaxed);
        self.lock().last_frame = Some(Instant::now());
    }

    pub fn snapshot(&self) -> CameraSnapshot {
        let now = Instant::now();
        let decoded = self.frames_decoded.load(Ordering::Relaxed);
        let inferred = self.frames_inferred.load(Ordering::Relaxed);
        let mut inner = self.lock();
        let samples = &mut inner.rate.samples;
        samples.push_back((now, decoded, inferred));
        while samples.len() > 2 {
            match samples.front() {
                Some((t, _, _)) if now.duration_since(*t).as_secs_f64() > 5.0 => {
                    samples.pop_front();
                }
                _ => break,
            }
        }
        let (fps_decoded, fps_inferred) = match samples.front() {
            Some((t0, d0, i0)) if now.duration_since(*t0).as_secs_f64() >= 0.5 => {
                let dt = now.duration_since(*t0).as_secs_f64();
                ((decoded - d0) as f64 / dt, (inferred - i0) as f64 / dt)
            }
            _ => {
                // Not enough history yet: average since start.
                let dt = now.duration_since(self.started).as_secs_f64().max(1e-3);
                (decoded as f64 / dt, inferred as f64 / dt)
            }
        };
        CameraSnapshot {
            id: self.id.clone(),
            name: self.name.clone(),
            location: self.location.clone(),
            source: self.source_redacted.clone(),
            state: inner.state,
            last_error: inner.last_error.clone(),
            fps_decoded,
            fps_inferred,
            frames_decoded: decoded,
            frames_inferred: inferred,
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            last_frame_age_seconds: inner
                .last_frame
                .map(|t| now.duration_since(t).as_secs_f64()),
            uptime_seconds: now.duration_since(self.started).as_secs_f64(),
        }
    }
}
