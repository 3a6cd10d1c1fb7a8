//! What the rest of the engine (and the operator) can see of a camera: its state, rates and the
//! last error, updated by the camera's supervisor and read by the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Frames dropped before detection, every cause.
    pub frames_dropped: AtomicU64,
    /// Of which: older than the camera's `max_frame_age_ms` when the detector would take them.
    pub frames_dropped_too_old: AtomicU64,
    pub restarts: AtomicU64,
    started: Instant,
}

struct StatusInner {
    state: CameraState,
    last_error: Option<String>,
    last_frame: Option<Instant>,
    /// Open camera fault (`offline`, `frozen`, `obstructed`), if any.
    fault: Option<&'static str>,
    rate: RateWindow,
    /// Name and location given by a configuration reload, shown instead of the initial ones.
    relabel: Option<(String, String)>,
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
    /// Frames dropped before detection, every cause, then by cause.
    pub frames_dropped: u64,
    pub frames_dropped_queue_full: u64,
    pub frames_dropped_too_old: u64,
    /// Reconnection attempts: every rebuild of the pipeline after an error, the end of a live
    /// stream or a stall (the same count as `vigie_ingest_restarts_total`).
    pub restarts: u64,
    /// Open camera fault (`offline`, `frozen`, `obstructed`): the image is not a live view.
    pub fault: Option<String>,
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
                fault: None,
                rate: RateWindow {
                    samples: Default::default(),
                },
                relabel: None,
            }),
            frames_decoded: AtomicU64::new(0),
            frames_inferred: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            frames_dropped_too_old: AtomicU64::new(0),
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

    /// Renames the camera in place (configuration reload): counters and state are kept.
    pub fn set_labels(&self, name: &str, location: &str) {
        self.lock().relabel = Some((name.to_string(), location.to_string()));
    }

    /// Called for every decoded frame (cheap: one lock, no allocation).
    pub fn frame_decoded(&self) {
        self.frames_decoded.fetch_add(1, Ordering::Relaxed);
        self.lock().last_frame = Some(Instant::now());
    }

    /// Time since the last decoded frame; `None` before the first one.
    pub fn last_frame_age(&self) -> Option<Duration> {
        self.lock().last_frame.map(|t| t.elapsed())
    }

    /// Records a frame dropped because it was too old for the detector.
    pub fn frame_dropped_too_old(&self) {
        self.frames_dropped.fetch_add(1, Ordering::Relaxed);
        self.frames_dropped_too_old.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets (or clears) the open camera fault shown to the operator.
    pub fn set_fault(&self, fault: Option<&'static str>) {
        self.lock().fault = fault;
    }

    pub fn fault(&self) -> Option<&'static str> {
        self.lock().fault
    }

    pub fn snapshot(&self) -> CameraSnapshot {
        let now = Instant::now();
        let decoded = self.frames_decoded.load(Ordering::Relaxed);
        let inferred = self.frames_inferred.load(Ordering::Relaxed);
        let too_old = self.frames_dropped_too_old.load(Ordering::Relaxed);
        let dropped = self.frames_dropped.load(Ordering::Relaxed).max(too_old);
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
        let (name, location) = match &inner.relabel {
            Some((n, l)) => (n.clone(), l.clone()),
            None => (self.name.clone(), self.location.clone()),
        };
        CameraSnapshot {
            id: self.id.clone(),
            name,
            location,
            source: self.source_redacted.clone(),
            state: inner.state,
            last_error: inner.last_error.clone(),
            fps_decoded,
            fps_inferred,
            frames_decoded: decoded,
            frames_inferred: inferred,
            frames_dropped: dropped,
            frames_dropped_queue_full: dropped.saturating_sub(too_old),
            frames_dropped_too_old: too_old,
            restarts: self.restarts.load(Ordering::Relaxed),
            fault: inner.fault.map(str::to_string),
            last_frame_age_seconds: inner
                .last_frame
                .map(|t| now.duration_since(t).as_secs_f64()),
            uptime_seconds: now.duration_since(self.started).as_secs_f64(),
        }
    }
}
