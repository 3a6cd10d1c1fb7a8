//! One association step: which track continues with which detection.
//!
//! Candidate pairs are those whose IoU reaches the threshold; among them the assignment
//! maximises the total of `IoU - threshold` (the Hungarian algorithm, `pathfinding`'s
//! Kuhn–Munkres). This is what ByteTrack's `linear_assignment(cost = 1 - IoU, cost_limit =
//! 1 - threshold)` computes, and unlike a greedy "highest IoU first" it does not let one
//! ambiguous pair push two people onto the wrong detections.
//!
//! Most pairs are not in competition (one track, one detection, no other candidate for either):
//! they are taken directly, and only the tracks and detections that compete go into the matrix.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Scale of the integer weights (Kuhn–Munkres needs an `Ord` weight type).
const WEIGHT_SCALE: f32 = 1e6;

/// A candidate pair: `(iou, track index, detection index)`.
pub(crate) type Candidate = (f32, u32, u32);

/// Reusable buffers of the association.
#[derive(Debug, Clone, Default)]
pub(crate) struct Assigner {
    track_degree: Vec<u16>,
    det_degree: Vec<u16>,
    rows: Vec<u32>,
    cols: Vec<u32>,
}

impl Assigner {
    /// Chooses pairs among `candidates` (each with IoU >= `threshold`, indices below `n_tracks`
    /// and `n_dets`), each track and detection at most once, maximising the total
    /// `IoU - threshold`; pushes them to `out` as `(track, detection)`.
    pub(crate) fn assign(
        &mut self,
        candidates: &[Candidate],
        threshold: f32,
        n_tracks: usize,
        n_dets: usize,
        out: &mut Vec<(u32, u32)>,
    ) {
        self.count_degrees(candidates, n_tracks, n_dets);
        self.rows.clear();
        self.cols.clear();
        for &(_, t, d) in candidates {
            if self.track_degree[t as usize] == 1 && self.det_degree[d as usize] == 1 {
                out.push((t, d));
            } else {
                push_unique(&mut self.rows, t);
                push_unique(&mut self.cols, d);
            }
        }
        if self.rows.is_empty() {
            return;
        }
        self.solve_contested(candidates, threshold, out);
    }

    fn count_degrees(&mut self, candidates: &[Candidate], n_tracks: usize, n_dets: usize) {
        self.track_degree.clear();
        self.track_degree.resize(n_tracks, 0);
        self.det_degree.clear();
        self.det_degree.resize(n_dets, 0);
        for &(_, t, d) in candidates {
            let td = &mut self.track_degree[t as usize];
            *td = td.saturating_add(1);
            let dd = &mut self.det_degree[d as usize];
            *dd = dd.saturating_add(1);
        }
    }

    /// Kuhn–Munkres on the tracks (`rows`) and detections (`cols`) that compete.
    fn solve_contested(&self, candidates: &[Candidate], threshold: f32, out: &mut Vec<(u32, u32)>) {
        let (r, c) = (self.rows.len(), self.cols.len());
        // Kuhn–Munkres assigns every row: rows are the smaller side.
        let transposed = r > c;
        let (nr, nc) = if transposed { (c, r) } else { (r, c) };
        let mut w = Matrix::new(nr, nc, 0i64);
        for &(iou, t, d) in candidates {
            let (Some(ri), Some(ci)) = (index_of(&self.rows, t), index_of(&self.cols, d)) else {
                continue;
            };
            // +1: a pair exactly at the threshold still beats "no pair".
            let weight = ((iou - threshold).max(0.0) * WEIGHT_SCALE) as i64 + 1;
            let at = if transposed { (ci, ri) } else { (ri, ci) };
            w[at] = weight;
        }
        let (_, assignment) = kuhn_munkres(&w);
        for (a, &b) in assignment.iter().enumerate() {
            if w[(a, b)] <= 0 {
                continue;
            }
            let (ri, ci) = if transposed { (b, a) } else { (a, b) };
            out.push((self.rows[ri], self.cols[ci]));
        }
    }
}

fn push_unique(v: &mut Vec<u32>, x: u32) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn index_of(v: &[u32], x: u32) -> Option<usize> {
    v.iter().position(|&y| y == x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cands: &[Candidate], n_t: usize, n_d: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        Assigner::default().assign(cands, 0.3, n_t, n_d, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn uncontested_pairs_taken_directly() {
        assert_eq!(run(&[(0.9, 0, 1), (0.4, 1, 0)], 2, 2), vec![(0, 1), (1, 0)]);
        assert!(run(&[], 3, 3).is_empty());
    }

    /// Greedy would take the best pair (0.8: track 0 - det 0) and leave track 1 without its only
    /// candidate; the optimal assignment keeps both tracks.
    #[test]
    fn optimal_not_greedy() {
        let cands = [(0.8, 0, 0), (0.7, 0, 1), (0.75, 1, 0)];
        assert_eq!(run(&cands, 2, 2), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn more_tracks_than_detections_and_threshold_pairs() {
        // Three tracks compete for two detections (transposed matrix). Totals of IoU - 0.3:
        // {1-0, 2-1} 0.3 beats {0-0, 1-1} 0.25; the pair exactly at the threshold is taken.
        let cands = [(0.5, 0, 0), (0.6, 1, 0), (0.3, 2, 1), (0.35, 1, 1)];
        assert_eq!(run(&cands, 3, 2), vec![(1, 0), (2, 1)]);
        let cands = [(0.3, 0, 0), (0.3, 1, 0)];
        assert_eq!(run(&cands, 2, 1).len(), 1);
    }
}
