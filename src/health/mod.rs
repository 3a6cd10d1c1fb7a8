//! Camera health: is the image still a live view of the scene? Three faults an operator must
//! hear about, decided per camera from cheap statistics of the frames the detector takes:
//!
//! - **offline**: no decoded frame for `offline_seconds` (decided by [`HealthMonitor::tick`], so
//!   it fires even when nothing arrives);
//! - **frozen**: frames keep arriving but the image has not changed for `frozen_seconds`
//!   (fingerprints of 16x16 block-mean luma compared with the first frame of the unchanged run:
//!   encoder noise moves block means by a fraction of a level, any motion or light change moves
//!   them by more);
//! - **obstructed**: lens covered, sprayed or blinded: for `obstructed_seconds`, the image detail
//!   (mean luma gradient) or the brightness has collapsed below `obstructed_ratio` of the
//!   camera's own recent baseline (an average over the last ~30 s of healthy frames, learned
//!   after 3 s). An almost uniform image (no detail at all, as a black or grey screen) counts even
//!   before a baseline exists, so a camera that starts covered is reported too.
//!
//! **One open fault per camera**: while a fault is open no other fault is raised for that camera,
//! so a camera that flaps or degrades further does not storm the operator. A frozen or obstructed
//! camera that then goes offline keeps its first fault (the console shows the camera state as
//! reconnecting meanwhile). A fault closes with one `restored` event when its condition has been
//! clear for [`RESTORE_SECONDS`] (for offline: frames arrive again). A black image is not also
//! counted as frozen: obstruction is the better explanation.
//!
//! Limitation: block means average sensor noise away, so a scene with no motion at all (an empty
//! corridor at night) for `frozen_seconds`
//! looks frozen; give such a camera a longer `frozen_seconds`, or 0 to disable the check.

use std::time::{Duration, Instant};

pub use crate::config::HealthConfig;

/// Side of the fingerprint grid (blocks per row and per column).
pub const GRID: usize = 16;
/// Seconds a fault's condition must stay clear before `restored`.
pub const RESTORE_SECONDS: f32 = 2.0;
/// Mean gradient (luma levels) below which an image is uniform: no real scene is that flat.
pub const UNIFORM_DETAIL: f32 = 0.6;
/// Seconds of healthy frames before the baseline is trusted.
pub const WARMUP_SECONDS: f32 = 3.0;
/// Time constant of the baseline's moving average.
pub const BASELINE_SECONDS: f32 = 30.0;
/// Frozen: mean absolute difference of block means (levels) below this...
pub const FROZEN_MEAN_DIFF: f32 = 0.6;
/// ...and no single block moved by more than this.
pub const FROZEN_MAX_DIFF: f32 = 3.0;

/// Cheap statistics of one BGR frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStats {
    /// Mean luma, 0..255.
    pub luma: f32,
    /// Mean absolute horizontal + vertical luma gradient between neighbouring samples.
    pub detail: f32,
    /// Mean luma of each block of a `GRID` x `GRID` grid, row by row.
    pub fingerprint: [f32; GRID * GRID],
}

impl FrameStats {
    /// Statistics of a packed BGR image (`w * h * 3` bytes), sampling every 2nd pixel of every
    /// 2nd row. A buffer of the wrong size gives the statistics of what is there (never panics).
    pub fn compute(bgr: &[u8], w: u32, h: u32) -> FrameStats {
        let (w, h) = (w as usize, h as usize);
        let mut fingerprint = [0f32; GRID * GRID];
        let mut counts = [0u32; GRID * GRID];
        if w == 0 || h == 0 || bgr.len() < w * h * 3 {
            return FrameStats {
                luma: 0.0,
                detail: 0.0,
                fingerprint,
            };
        }
        let luma_at = |x: usize, y: usize| -> f32 {
            let i = (y * w + x) * 3;
            // BT.601 weights, integer arithmetic.
            let (b, g, r) = (bgr[i] as u32, bgr[i + 1] as u32, bgr[i + 2] as u32);
            ((29 * b + 150 * g + 77 * r) >> 8) as f32
        };
        let (mut sum, mut grad, mut n, mut ng) = (0f64, 0f64, 0u64, 0u64);
        let mut prev_row: Vec<f32> = Vec::new();
        let mut row: Vec<f32> = Vec::with_capacity(w / 2 + 1);
        for y in (0..h).step_by(2) {
            row.clear();
            let by = y * GRID / h;
            for x in (0..w).step_by(2) {
                let l = luma_at(x, y);
                sum += f64::from(l);
                n += 1;
                if let Some(&left) = row.last() {
                    grad += f64::from((l - left).abs());
                    ng += 1;
                }
                if let Some(&up) = prev_row.get(row.len()) {
                    grad += f64::from((l - up).abs());
                    ng += 1;
                }
                let b = by * GRID + x * GRID / w;
                fingerprint[b] += l;
                counts[b] += 1;
                row.push(l);
            }
            std::mem::swap(&mut prev_row, &mut row);
        }
        for (f, c) in fingerprint.iter_mut().zip(counts) {
            if c > 0 {
                *f /= c as f32;
            }
        }
        FrameStats {
            luma: (sum / n.max(1) as f64) as f32,
            detail: (grad / ng.max(1) as f64) as f32,
            fingerprint,
        }
    }

    /// Mean and largest absolute difference of the block means of two frames.
    pub fn difference(&self, other: &FrameStats) -> (f32, f32) {
        let mut sum = 0f32;
        let mut max = 0f32;
        for (a, b) in self.fingerprint.iter().zip(other.fingerprint.iter()) {
            let d = (a - b).abs();
            sum += d;
            max = max.max(d);
        }
        (sum / (GRID * GRID) as f32, max)
    }

    /// True when `other` shows the same image, up to encoder noise.
    pub fn same_image(&self, other: &FrameStats) -> bool {
        let (mean, max) = self.difference(other);
        mean < FROZEN_MEAN_DIFF && max < FROZEN_MAX_DIFF
    }
}

/// A fault that can be open on a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Offline,
    Frozen,
    Obstructed,
}

impl Fault {
    pub const ALL: [Fault; 3] = [Fault::Offline, Fault::Frozen, Fault::Obstructed];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Offline => "offline",
            Fault::Frozen => "frozen",
            Fault::Obstructed => "obstructed",
        }
    }
}

/// What happened to a camera's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Offline,
    Frozen,
    Obstructed,
    /// The open fault `of` has cleared.
    Restored {
        of: Fault,
    },
}

impl FaultKind {
    /// The alert's `event_type`.
    pub fn event_type(self) -> &'static str {
        match self {
            FaultKind::Offline => "camera_offline",
            FaultKind::Frozen => "camera_frozen",
            FaultKind::Obstructed => "camera_obstructed",
            FaultKind::Restored { .. } => "camera_restored",
        }
    }

    /// Short label for metrics (`kind`).
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Offline => "offline",
            FaultKind::Frozen => "frozen",
            FaultKind::Obstructed => "obstructed",
            FaultKind::Restored { .. } => "restored",
        }
    }

    fn of(f: Fault) -> FaultKind {
        match f {
            Fault::Offline => FaultKind::Offline,
            Fault::Frozen => FaultKind::Frozen,
            Fault::Obstructed => FaultKind::Obstructed,
        }
    }
}

/// One health event for the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    pub kind: FaultKind,
    /// Plain words, with the measured values and the thresholds.
    pub explanation: String,
}

struct OpenFault {
    fault: Fault,
    since: Instant,
    clear_since: Option<Instant>,
}

/// Health of one camera, fed with every frame the detector takes and ticked regularly.
pub struct HealthMonitor {
    cfg: HealthConfig,
    created: Instant,
    open: Option<OpenFault>,
    last_t: Option<Instant>,
    /// Baseline (moving averages over healthy frames) and how many seconds it has seen.
    base_detail: f32,
    base_luma: f32,
    base_seconds: f32,
    base_init: bool,
    /// Start of the current run of collapsed frames, with the last collapsed frame's values.
    suspect_since: Option<Instant>,
    /// First frame of the current run of unchanged frames.
    unchanged: Option<(FrameStats, Instant)>,
    last: Option<FrameStats>,
}

fn secs(d: Duration) -> f32 {
    d.as_secs_f32()
}

impl HealthMonitor {
    pub fn new(cfg: HealthConfig, now: Instant) -> Self {
        HealthMonitor {
            cfg,
            created: now,
            open: None,
            last_t: None,
            base_detail: 0.0,
            base_luma: 0.0,
            base_seconds: 0.0,
            base_init: false,
            suspect_since: None,
            unchanged: None,
            last: None,
        }
    }

    /// The open fault, if any.
    pub fn open_fault(&self) -> Option<Fault> {
        self.open.as_ref().map(|o| o.fault)
    }

    fn baseline_ready(&self) -> bool {
        self.base_seconds >= WARMUP_SECONDS
    }

    /// Why this frame looks obstructed, if it does.
    fn collapse(&self, s: &FrameStats) -> Option<String> {
        let r = self.cfg.obstructed_ratio;
        if self.baseline_ready() {
            if s.detail < r * self.base_detail {
                return Some(format!(
                    "image detail {:.1} is below {:.0} % of this camera's recent level {:.1}",
                    s.detail,
                    r * 100.0,
                    self.base_detail
                ));
            }
            if s.luma < r * self.base_luma {
                return Some(format!(
                    "brightness {:.0} is below {:.0} % of this camera's recent level {:.0}",
                    s.luma,
                    r * 100.0,
                    self.base_luma
                ));
            }
        }
        if s.detail < UNIFORM_DETAIL {
            return Some(format!(
                "the image is uniform (detail {:.2}, brightness {:.0})",
                s.detail, s.luma
            ));
        }
        None
    }

    /// Feeds one frame taken at `t` (frames of a camera in order). Returns an event when a fault
    /// opens or the open one is restored.
    pub fn observe_frame(&mut self, stats: FrameStats, t: Instant) -> Option<FaultEvent> {
        let dt = self
            .last_t
            .map(|l| secs(t.saturating_duration_since(l)).min(1.0))
            .unwrap_or(0.0);
        self.last_t = Some(t);

        // Obstruction.
        let obstruct_on = self.cfg.obstructed_seconds > 0.0;
        let collapse = if obstruct_on {
            self.collapse(&stats)
        } else {
            None
        };
        if collapse.is_some() {
            self.suspect_since.get_or_insert(t);
        } else {
            self.suspect_since = None;
            // Learn the baseline from healthy frames only: a running mean during warm-up, then a
            // moving average over ~BASELINE_SECONDS.
            if !self.base_init {
                self.base_init = true;
                self.base_detail = stats.detail;
                self.base_luma = stats.luma;
            } else {
                let alpha = if self.base_seconds < WARMUP_SECONDS {
                    (dt / (self.base_seconds + dt).max(1e-3)).max(0.05)
                } else {
                    (dt / BASELINE_SECONDS).min(1.0)
                };
                self.base_detail += alpha * (stats.detail - self.base_detail);
                self.base_luma += alpha * (stats.luma - self.base_luma);
            }
            self.base_seconds += dt;
        }

        // Freeze: a collapsed image does not count (obstruction explains it better).
        let frozen_on = self.cfg.frozen_seconds > 0.0;
        let mut unchanged_for = 0.0;
        if !frozen_on || collapse.is_some() {
            self.unchanged = None;
        } else {
            match &self.unchanged {
                Some((first, since)) if first.same_image(&stats) => {
                    unchanged_for = secs(t.saturating_duration_since(*since));
                }
                _ => self.unchanged = Some((stats.clone(), t)),
            }
        }
        let frozen_now = frozen_on && unchanged_for >= self.cfg.frozen_seconds;
        let suspect_for = self
            .suspect_since
            .map(|s| secs(t.saturating_duration_since(s)))
            .unwrap_or(0.0);
        let last_diff = self
            .last
            .as_ref()
            .map(|l| stats.difference(l))
            .unwrap_or((0.0, 0.0));
        self.last = Some(stats);

        match &mut self.open {
            None => {
                if obstruct_on && suspect_for >= self.cfg.obstructed_seconds {
                    let why = collapse.unwrap_or_default();
                    return Some(self.open_fault_now(
                        Fault::Obstructed,
                        t,
                        format!(
                            "Camera obstructed (covered, sprayed or blinded?): {why}, for {:.1} s (threshold {} s).",
                            suspect_for, self.cfg.obstructed_seconds
                        ),
                    ));
                }
                if frozen_now {
                    return Some(self.open_fault_now(
                        Fault::Frozen,
                        t,
                        format!(
                            "Camera image frozen: frames keep arriving but the image has not changed for {:.1} s (threshold {} s; last change {:.2} levels on average, {:.2} at most).",
                            unchanged_for, self.cfg.frozen_seconds, last_diff.0, last_diff.1
                        ),
                    ));
                }
                None
            }
            Some(open) => {
                let cleared = match open.fault {
                    Fault::Offline => true,
                    Fault::Obstructed => collapse.is_none(),
                    Fault::Frozen => unchanged_for < self.cfg.frozen_seconds.max(RESTORE_SECONDS),
                };
                if !cleared {
                    open.clear_since = None;
                    return None;
                }
                let since = *open.clear_since.get_or_insert(t);
                let clear_for = secs(t.saturating_duration_since(since));
                if clear_for < RESTORE_SECONDS {
                    return None;
                }
                let fault = open.fault;
                let lasted = secs(t.saturating_duration_since(open.since));
                self.open = None;
                let detail = match fault {
                    Fault::Offline => "frames arrive again".to_string(),
                    Fault::Frozen => "the image changes again".to_string(),
                    Fault::Obstructed => format!(
                        "image detail {:.1} and brightness {:.0} are back near this camera's recent levels ({:.1}, {:.0})",
                        self.last.as_ref().map(|s| s.detail).unwrap_or(0.0),
                        self.last.as_ref().map(|s| s.luma).unwrap_or(0.0),
                        self.base_detail,
                        self.base_luma
                    ),
                };
                Some(FaultEvent {
                    kind: FaultKind::Restored { of: fault },
                    explanation: format!(
                        "Camera restored after being {} for {:.0} s: {detail} (for {:.1} s).",
                        fault.as_str(),
                        lasted,
                        clear_for
                    ),
                })
            }
        }
    }

    fn open_fault_now(&mut self, fault: Fault, t: Instant, explanation: String) -> FaultEvent {
        self.open = Some(OpenFault {
            fault,
            since: t,
            clear_since: None,
        });
        FaultEvent {
            kind: FaultKind::of(fault),
            explanation,
        }
    }

    /// Called regularly (every 500 ms) with the age of the camera's last decoded frame (`None`:
    /// no frame yet). Opens `offline` when no frame came for `offline_seconds`.
    pub fn tick(&mut self, now: Instant, last_frame_age: Option<Duration>) -> Option<FaultEvent> {
        let age = last_frame_age.unwrap_or_else(|| now.saturating_duration_since(self.created));
        let age_s = secs(age);
        if let Some(open) = &mut self.open {
            if open.fault == Fault::Offline && age_s > 1.0 {
                // Frames stopped again before the restore was confirmed.
                open.clear_since = None;
            }
            return None;
        }
        if self.cfg.offline_seconds <= 0.0 || age_s < self.cfg.offline_seconds {
            return None;
        }
        // The stream is gone: what was measured before no longer says anything.
        self.unchanged = None;
        self.suspect_since = None;
        self.last_t = None;
        let what = if last_frame_age.is_some() {
            format!("no frame for {age_s:.1} s")
        } else {
            format!("no frame received since the camera started {age_s:.1} s ago")
        };
        Some(self.open_fault_now(
            Fault::Offline,
            now,
            format!(
                "Camera offline: {what} (threshold {} s). The snapshot, if any, is the last image received, not a live view.",
                self.cfg.offline_seconds
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
