//! Motion gating: decides, before the detector, whether a frame can be skipped because nothing
//! moved inside the regions the camera's rules watch since the last frame that was analysed.
//!
//! Cheap by design (about the cost of the health statistics): the small frame (the detector's
//! input, e.g. 416x416 BGR) is cut into 8x8-pixel blocks and each block's mean luma is compared
//! with the same block in the **last analysed frame** (not the previous frame, so slow changes
//! add up). A frame is analysed when at least `min_blocks` blocks of the region changed by more
//! than `threshold` luma levels, or when the last analysed frame is older than
//! `1 / min_detect_fps` (stream time), so tracks and rules about still objects stay fresh.

use crate::config::MotionConfig;

/// Side of a block in pixels.
pub const BLOCK: u32 = 8;

/// Why a frame goes to the detector, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    /// Something changed inside the region (or no frame was analysed yet).
    Motion,
    /// Nothing changed, but the minimum detection rate asks for a frame.
    Refresh,
    /// Nothing changed inside the region: the detector is skipped.
    Skip,
}

impl GateDecision {
    pub fn analyse(self) -> bool {
        self != GateDecision::Skip
    }
}

/// The gate of one camera.
#[derive(Debug, Clone)]
pub struct MotionGate {
    threshold: f32,
    min_blocks: u32,
    /// Longest stream time between two analysed frames.
    max_gap_ns: u64,
    /// Blocks per row and per column of the frames this gate expects.
    grid: (u32, u32),
    /// Which blocks belong to the watched region (grown by the margin).
    mask: Vec<bool>,
    /// Block means of the last analysed frame, and its stream time.
    reference: Option<(Vec<f32>, u64)>,
    means: Vec<f32>,
}

impl MotionGate {
    /// A gate for frames of `size` (the detector's input) whose rules watch the points for which
    /// `inside` (normalised coordinates) is true; the region is grown by `config.margin`.
    /// `None` when gating is disabled.
    pub fn new(
        config: &MotionConfig,
        detect_fps: f32,
        (w, h): (u32, u32),
        inside: impl Fn((f32, f32)) -> bool,
    ) -> Option<MotionGate> {
        if !config.enabled {
            return None;
        }
        // Never less often than min_detect_fps (nor more often than the camera's own rate).
        let fps = if detect_fps > 0.0 {
            config.min_detect_fps.min(detect_fps)
        } else {
            config.min_detect_fps
        };
        let grid = (w / BLOCK, h / BLOCK);
        Some(MotionGate {
            threshold: config.threshold,
            min_blocks: config.min_blocks.max(1),
            max_gap_ns: (1e9 / f64::from(fps.max(0.01))) as u64,
            grid,
            mask: block_mask(grid, config.margin, inside),
            reference: None,
            means: Vec::new(),
        })
    }

    /// Decides for one packed BGR frame (`w * h * 3` bytes) at stream time `pts_ns`. A frame
    /// that is analysed (not [`GateDecision::Skip`]) becomes the new reference.
    pub fn decide(&mut self, bgr: &[u8], w: u32, h: u32, pts_ns: u64) -> GateDecision {
        if (w / BLOCK, h / BLOCK) != self.grid {
            // Not the size the region was laid on: never skip such a frame.
            return GateDecision::Motion;
        }
        block_means(bgr, w, h, &mut self.means);
        let decision = match &self.reference {
            None => GateDecision::Motion,
            Some((reference, t)) => {
                let changed = self
                    .means
                    .iter()
                    .zip(reference)
                    .zip(&self.mask)
                    .filter(|((m, r), inside)| **inside && (*m - *r).abs() > self.threshold)
                    .count();
                if changed >= self.min_blocks as usize {
                    GateDecision::Motion
                } else if pts_ns.saturating_sub(*t) >= self.max_gap_ns || pts_ns < *t {
                    GateDecision::Refresh
                } else {
                    GateDecision::Skip
                }
            }
        };
        if decision.analyse() {
            match &mut self.reference {
                Some((r, t)) => {
                    r.clone_from(&self.means);
                    *t = pts_ns;
                }
                None => self.reference = Some((self.means.clone(), pts_ns)),
            }
        }
        decision
    }
}

/// Mean luma (BT.601 weights) of every full 8x8 block, row-major.
fn block_means(bgr: &[u8], w: u32, h: u32, out: &mut Vec<f32>) {
    let (gw, gh) = ((w / BLOCK) as usize, (h / BLOCK) as usize);
    let (w, b) = (w as usize, BLOCK as usize);
    out.clear();
    out.resize(gw * gh, 0.0);
    if bgr.len() < w * h as usize * 3 {
        return;
    }
    let mut row_sums = vec![0u32; gw];
    for by in 0..gh {
        row_sums.iter_mut().for_each(|s| *s = 0);
        for y in by * b..(by + 1) * b {
            let line = &bgr[y * w * 3..(y * w + gw * b) * 3];
            for (bx, block) in line.chunks_exact(b * 3).enumerate() {
                // Luma * 256 ≈ 29 B + 150 G + 77 R.
                row_sums[bx] += block
                    .chunks_exact(3)
                    .map(|p| 29 * u32::from(p[0]) + 150 * u32::from(p[1]) + 77 * u32::from(p[2]))
                    .sum::<u32>();
            }
        }
        let scale = 1.0 / (256.0 * (b * b) as f32);
        for (bx, s) in row_sums.iter().enumerate() {
            out[by * gw + bx] = *s as f32 * scale;
        }
    }
}

/// Blocks whose centre is `inside`, grown by `margin` (a fraction of the image side): a block
/// counts when a block within that distance is inside.
fn block_mask((gw, gh): (u32, u32), margin: f32, inside: impl Fn((f32, f32)) -> bool) -> Vec<bool> {
    let core: Vec<bool> = (0..gh)
        .flat_map(|y| (0..gw).map(move |x| (x, y)))
        .map(|(x, y)| inside(((x as f32 + 0.5) / gw as f32, (y as f32 + 0.5) / gh as f32)))
        .collect();
    let r = (margin.max(0.0) * gw.max(gh) as f32).ceil() as i64;
    let (gw, gh) = (i64::from(gw), i64::from(gh));
    let at = |x: i64, y: i64| x >= 0 && y >= 0 && x < gw && y < gh && core[(y * gw + x) as usize];
    (0..gh)
        .flat_map(|y| (0..gw).map(move |x| (x, y)))
        .map(|(x, y)| (y - r..=y + r).any(|ny| (x - r..=x + r).any(|nx| at(nx, ny))))
        .collect()
}

#[cfg(test)]
mod tests;
