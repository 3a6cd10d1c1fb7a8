//! Dual background model for abandoned-object candidates.
//!
//! On a small copy of the frame (box-averaged by `scale`), inside the rule's polygon:
//! - the **short-term** background follows the scene within seconds (`short_seconds`): a bag
//!   put down is absorbed into it after a second or two;
//! - the **long-term** background learns only where nothing differs from it (selective update,
//!   `long_seconds`): the bag stays foreground there.
//!
//! A cell that differs from the long-term background but no longer from the short-term one is
//! **static foreground**; its age counts the seconds it has been so (frozen, not reset, while
//! something moves over it: a crowd hiding the object does not restart the clock). 8-connected
//! static cells older than `min_static_seconds` form [`StaticBlob`]s.
//!
//! Light: the long-term background is scaled each frame by the global gain (median ratio of the
//! current luminance to the background's over the polygon), so a uniform light change is not
//! foreground. When a large part of the polygon still differs (`relearn_fraction`: lights
//! switched, camera moved, a strong non-uniform change), both backgrounds are re-learnt from the
//! current frame and the update says so (`relearned`) instead of reporting blobs. Blobs larger
//! than `max_blob_area` are treated the same way, locally (a shadow, a patch of sun).

use super::blobs::{label_blobs, Blob};
use super::region::{small_frame, Region};
use super::{check_range, SceneError};
use crate::detect::BBox;

/// Parameters of [`BackgroundModel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundParams {
    /// Downscale factor of the analysis grid (4: a 416x416 frame becomes 104x104).
    pub scale: u32,
    /// Time constant of the short-term background, seconds.
    pub short_seconds: f32,
    /// Time constant of the long-term background where it sees background, seconds.
    pub long_seconds: f32,
    /// A cell differs from a background when a channel differs by more than this (0..255).
    pub threshold: f32,
    /// A static cell joins a blob once static for this long, seconds.
    pub min_static_seconds: f32,
    /// Smallest blob reported, as a fraction of the frame area.
    pub min_blob_area: f32,
    /// Larger static blobs are light changes: re-learnt there, not reported.
    pub max_blob_area: f32,
    /// When more than this fraction of the polygon differs from the long-term background, both
    /// backgrounds are re-learnt.
    pub relearn_fraction: f32,
    /// Static cells older than this are learnt into the long-term background (the rule's window
    /// must be shorter), seconds.
    pub absorb_after_seconds: f32,
    /// A static cell that looks like the background again keeps its age this long before it is
    /// forgotten (one frame of a person's colour close to the ground's does not restart the
    /// clock), seconds.
    pub forget_seconds: f32,
    /// Cells whose difference from the long-term background switches on and off more often than
    /// this (per second, averaged over about 30 s) are unstable background — flapping tape,
    /// foliage, flickering light — and never static.
    pub max_flips_per_second: f32,
}

impl Default for BackgroundParams {
    fn default() -> Self {
        BackgroundParams {
            scale: 4,
            short_seconds: 1.5,
            long_seconds: 60.0,
            threshold: 25.0,
            min_static_seconds: 1.0,
            min_blob_area: 0.0003,
            max_blob_area: 0.05,
            relearn_fraction: 0.35,
            absorb_after_seconds: 900.0,
            forget_seconds: 2.0,
            max_flips_per_second: 0.25,
        }
    }
}

impl BackgroundParams {
    fn validate(&self) -> Result<(), SceneError> {
        check_range("scale", self.scale as f32, 1.0, 16.0)?;
        check_range("short_seconds", self.short_seconds, 0.1, 60.0)?;
        check_range(
            "long_seconds",
            self.long_seconds,
            self.short_seconds,
            3600.0,
        )?;
        check_range("threshold", self.threshold, 1.0, 254.0)?;
        check_range("min_static_seconds", self.min_static_seconds, 0.0, 600.0)?;
        check_range("min_blob_area", self.min_blob_area, 0.0, 1.0)?;
        check_range("max_blob_area", self.max_blob_area, self.min_blob_area, 1.0)?;
        check_range("relearn_fraction", self.relearn_fraction, 0.01, 1.0)?;
        check_range(
            "absorb_after_seconds",
            self.absorb_after_seconds,
            1.0,
            86400.0,
        )?;
        check_range("forget_seconds", self.forget_seconds, 0.0, 60.0)?;
        check_range(
            "max_flips_per_second",
            self.max_flips_per_second,
            0.0,
            100.0,
        )
    }
}

/// A still, new thing in the polygon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaticBlob {
    /// Normalised frame coordinates.
    pub bbox: BBox,
    /// Area of its cells, fraction of the frame.
    pub area: f32,
    /// Age of its oldest cell: how long it has been still (seconds, time hidden by something
    /// moving excluded).
    pub static_seconds: f32,
}

/// What one frame changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackgroundUpdate {
    /// Static blobs, largest first. Empty while learning and on a re-learning frame.
    pub blobs: Vec<StaticBlob>,
    /// Both backgrounds were re-learnt on this frame (global change): candidates found before
    /// are gone from the model; a rule should not read their disappearance as "taken away".
    pub relearned: bool,
    /// Current / long-term luminance over the polygon (1 = unchanged light).
    pub gain: f32,
    /// Fraction of the polygon that differs from the long-term background.
    pub foreground_fraction: f32,
}

/// Dual background over one polygon of one camera. One per camera and rule; feed every analysed
/// frame in time order with [`BackgroundModel::update`].
#[derive(Debug, Clone)]
pub struct BackgroundModel {
    params: BackgroundParams,
    frame: (u32, u32),
    region: Region,
    small: Vec<u8>,
    short: Vec<f32>,
    long: Vec<f32>,
    age: Vec<f32>,
    /// Seconds each aged cell has looked like the background again.
    gone: Vec<f32>,
    /// Whether each cell differed from the long-term background on the last frame.
    was_foreground: Vec<bool>,
    /// Per cell, how often that switches (per second, averaged over [`FLIP_SECONDS`]).
    flips: Vec<f32>,
    /// The threshold for this frame (scaled down in a darker scene).
    threshold: f32,
    last_t: Option<f64>,
    scratch: Vec<f32>,
}

/// Averaging time of the per-cell switching rate, seconds.
const FLIP_SECONDS: f32 = 30.0;

fn mean_colour(img: &[f32], cells: &[u32]) -> [f32; 3] {
    let mut sum = [0.0f32; 3];
    for &i in cells {
        for (c, s) in sum.iter_mut().enumerate() {
            *s += img[i as usize * 3 + c];
        }
    }
    sum.map(|s| s / cells.len().max(1) as f32)
}

fn luma(p: &[f32]) -> f32 {
    0.114 * p[0] + 0.587 * p[1] + 0.299 * p[2]
}

fn differs(a: &[f32], b: &[f32], gain: f32, threshold: f32) -> bool {
    (0..3).any(|c| (a[c] - b[c] * gain).abs() > threshold)
}

impl BackgroundModel {
    /// A model for frames of `frame_w x frame_h` over `polygon` (normalised frame coordinates).
    pub fn new(
        polygon: &[(f32, f32)],
        frame_w: u32,
        frame_h: u32,
        params: BackgroundParams,
    ) -> Result<BackgroundModel, SceneError> {
        params.validate()?;
        let (sw, sh) = (frame_w / params.scale, frame_h / params.scale);
        let region = Region::from_polygon(polygon, sw, sh)?;
        Ok(BackgroundModel {
            params,
            frame: (frame_w, frame_h),
            region,
            small: Vec::new(),
            short: Vec::new(),
            long: Vec::new(),
            age: vec![0.0; (sw * sh) as usize],
            gone: vec![0.0; (sw * sh) as usize],
            was_foreground: vec![false; (sw * sh) as usize],
            flips: vec![0.0; (sw * sh) as usize],
            threshold: params.threshold,
            last_t: None,
            scratch: Vec::new(),
        })
    }

    /// Forgets everything; the next frame starts learning again.
    pub fn reset(&mut self) {
        self.short.clear();
        self.long.clear();
        self.age.fill(0.0);
        self.gone.fill(0.0);
        self.was_foreground.fill(false);
        self.flips.fill(0.0);
        self.last_t = None;
    }

    /// Feeds one packed BGR frame taken at `t` seconds (any origin, increasing).
    pub fn update(&mut self, bgr: &[u8], t: f64) -> Result<BackgroundUpdate, SceneError> {
        small_frame(bgr, self.frame, self.params.scale, &mut self.small)?;
        let dt = match self.last_t {
            Some(prev) if !self.long.is_empty() => (t - prev).clamp(0.0, 5.0) as f32,
            _ => {
                self.relearn_all();
                self.last_t = Some(t);
                return Ok(BackgroundUpdate {
                    relearned: true,
                    gain: 1.0,
                    ..Default::default()
                });
            }
        };
        self.last_t = Some(t);
        let gain = self.gain();
        for v in &mut self.long {
            *v = (*v * gain).min(255.0);
        }
        // Differences shrink with the light: a darker scene gets a lower threshold.
        let level = self.long.iter().sum::<f32>() / self.long.len().max(1) as f32;
        self.threshold = self.params.threshold * (level / 128.0).clamp(0.35, 1.0);
        let foreground_fraction = self.step(dt);
        if foreground_fraction > self.params.relearn_fraction {
            self.relearn_all();
            return Ok(BackgroundUpdate {
                relearned: true,
                gain,
                foreground_fraction,
                ..Default::default()
            });
        }
        Ok(BackgroundUpdate {
            blobs: self.blobs(),
            relearned: false,
            gain,
            foreground_fraction,
        })
    }

    /// Learns `area` (normalised frame coordinates) into both backgrounds now: a candidate the
    /// rule has decided is not abandoned (a person, furniture, a dismissed alarm).
    pub fn absorb(&mut self, area: BBox) {
        if self.long.is_empty() {
            return;
        }
        let (sw, sh) = self.region.size();
        let x0 = (area.x1 * sw as f32).floor().max(0.0) as usize;
        let y0 = (area.y1 * sh as f32).floor().max(0.0) as usize;
        let x1 = ((area.x2 * sw as f32).ceil().max(0.0) as usize).min(sw);
        let y1 = ((area.y2 * sh as f32).ceil().max(0.0) as usize).min(sh);
        for y in y0..y1 {
            for x in x0..x1 {
                self.learn_cell(y * sw + x);
            }
        }
    }

    fn learn_cell(&mut self, i: usize) {
        for c in 0..3 {
            let v = f32::from(self.small[i * 3 + c]);
            self.short[i * 3 + c] = v;
            self.long[i * 3 + c] = v;
        }
        self.age[i] = 0.0;
        self.gone[i] = 0.0;
        self.was_foreground[i] = false;
    }

    fn relearn_all(&mut self) {
        self.short = self.small.iter().map(|&v| f32::from(v)).collect();
        self.long = self.short.clone();
        self.age.fill(0.0);
        self.gone.fill(0.0);
        self.was_foreground.fill(false);
    }

    /// Median over the polygon of current / long-term luminance (dark cells left out).
    fn gain(&mut self) -> f32 {
        self.scratch.clear();
        for &i in self.region.cells() {
            let i = i as usize * 3;
            let cur = [0, 1, 2].map(|c| f32::from(self.small[i + c]));
            let bg = luma(&self.long[i..i + 3]);
            if bg >= 16.0 {
                self.scratch.push(luma(&cur) / bg);
            }
        }
        if self.scratch.is_empty() {
            return 1.0;
        }
        let mid = self.scratch.len() / 2;
        let (_, m, _) = self.scratch.select_nth_unstable_by(mid, f32::total_cmp);
        m.clamp(0.2, 5.0)
    }

    /// Updates both backgrounds and the ages; returns the foreground fraction.
    fn step(&mut self, dt: f32) -> f32 {
        let p = self.params;
        let threshold = self.threshold;
        let a_short = 1.0 - (-dt / p.short_seconds).exp();
        let a_long = 1.0 - (-dt / p.long_seconds).exp();
        let a_flip = 1.0 - (-dt / FLIP_SECONDS).exp();
        let mut foreground = 0usize;
        for &i in self.region.cells() {
            let i = i as usize;
            let px = [0, 1, 2].map(|c| f32::from(self.small[i * 3 + c]));
            let s = &mut self.short[i * 3..i * 3 + 3];
            let moving = differs(&px, s, 1.0, threshold);
            for c in 0..3 {
                s[c] += a_short * (px[c] - s[c]);
            }
            let l = &mut self.long[i * 3..i * 3 + 3];
            let fg = differs(&px, l, 1.0, threshold);
            let flip = if fg != self.was_foreground[i] && dt > 0.0 {
                1.0 / dt
            } else {
                0.0
            };
            self.flips[i] += a_flip * (flip - self.flips[i]);
            self.was_foreground[i] = fg;
            if !fg {
                for c in 0..3 {
                    l[c] += a_long * (px[c] - l[c]);
                }
                if self.age[i] > 0.0 {
                    self.gone[i] += dt;
                    if self.gone[i] > p.forget_seconds {
                        self.age[i] = 0.0;
                    }
                }
                continue;
            }
            foreground += 1;
            self.gone[i] = 0.0;
            if !moving {
                self.age[i] += dt;
                if self.age[i] > p.absorb_after_seconds {
                    l.copy_from_slice(&px);
                    self.age[i] = 0.0;
                }
            }
        }
        foreground as f32 / self.region.cells().len() as f32
    }

    /// A ghost: something that was in the long-term background has left, the ground it hid now
    /// looks like its surroundings. An object contrasts with its surroundings now more than the
    /// background did there; a ghost contrasts less. Compared on mean colours of the blob and of
    /// a ring of cells around its bounds.
    fn is_ghost(&self, blob: &Blob) -> bool {
        let (sw, sh) = self.region.size();
        let (x0, y0) = (blob.x0.saturating_sub(2), blob.y0.saturating_sub(2));
        let (x1, y1) = ((blob.x1 + 2).min(sw), (blob.y1 + 2).min(sh));
        let inside: std::collections::HashSet<u32> = blob.cells.iter().copied().collect();
        let ring: Vec<u32> = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (y * sw + x) as u32))
            .filter(|i| !inside.contains(i))
            .collect();
        if ring.is_empty() {
            return false;
        }
        let small: Vec<f32> = self.small.iter().map(|&v| f32::from(v)).collect();
        let contrast = |img: &[f32]| {
            let a = mean_colour(img, &blob.cells);
            let b = mean_colour(img, &ring);
            (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0, f32::max)
        };
        contrast(&self.long) > contrast(&small) + self.threshold * 0.5
    }

    /// Static blobs now; larger than `max_blob_area` ones are re-learnt instead.
    fn blobs(&mut self) -> Vec<StaticBlob> {
        let p = self.params;
        let (sw, sh) = self.region.size();
        let mut mask = vec![false; sw * sh];
        for &i in self.region.cells() {
            let i = i as usize;
            let px = [0, 1, 2].map(|c| f32::from(self.small[i * 3 + c]));
            mask[i] = self.age[i] >= p.min_static_seconds.max(f32::MIN_POSITIVE)
                && self.gone[i] == 0.0
                && self.flips[i] <= p.max_flips_per_second
                && !differs(&px, &self.short[i * 3..i * 3 + 3], 1.0, self.threshold);
        }
        let cell_area = 1.0 / (sw * sh) as f32;
        let min_cells = (p.min_blob_area / cell_area).ceil().max(1.0) as usize;
        let mut out = Vec::new();
        for blob in label_blobs(&mask, sw, sh, min_cells) {
            let area = blob.cells.len() as f32 * cell_area;
            if area > p.max_blob_area {
                for &i in &blob.cells {
                    self.learn_cell(i as usize);
                }
                continue;
            }
            if self.is_ghost(&blob) {
                for &i in &blob.cells {
                    self.learn_cell(i as usize);
                }
                continue;
            }
            let oldest = blob
                .cells
                .iter()
                .map(|&i| self.age[i as usize])
                .fold(0.0, f32::max);
            out.push(StaticBlob {
                bbox: BBox::new(
                    blob.x0 as f32 / sw as f32,
                    blob.y0 as f32 / sh as f32,
                    blob.x1 as f32 / sw as f32,
                    blob.y1 as f32 / sh as f32,
                ),
                area,
                static_seconds: oldest,
            });
        }
        out.sort_by(|a, b| b.area.total_cmp(&a.area));
        out
    }
}

#[cfg(test)]
#[path = "background_tests.rs"]
mod tests;
