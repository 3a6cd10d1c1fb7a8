//! Multi-object tracking per camera (SORT-like).
//!
//! One [`Tracker`] per camera. Each call to [`Tracker::update`] takes the detections of one frame
//! and the frame's capture timestamp (ns) and returns every live track.
//!
//! * **Motion model**: a constant-velocity Kalman filter on the box centre (one independent 2-state
//!   filter per axis) and a random-walk filter on width and height (see `kalman.rs`). Tracks are
//!   predicted to the frame's timestamp with `dt` taken from timestamps, never from frame counts,
//!   because the detection rate varies.
//! * **Association**: IoU between each track's *predicted* box and each detection **of the same
//!   class**; pairs with IoU >= `iou_threshold` (and > 0) are matched greedily, highest IoU first
//!   (ties: lower track id, then lower detection index). Greedy is not globally optimal but is
//!   what SORT-style trackers do well enough at city-camera densities, and it is deterministic.
//!   Every detection may continue an existing track; only detections with `score >= min_score`
//!   start new (tentative) tracks.
//! * **Life cycle**: a track is `confirmed` once it has `min_hits` matches (the first detection
//!   counts) and stays confirmed. An unmatched track is kept, `missed == true`, with its predicted
//!   box, until it has not been matched for more than `max_missed_seconds` (time-based, the same
//!   rule for tentative and confirmed tracks); when re-matched it keeps its id.
//! * **Ids** are per tracker (one per camera), start at 1, increase monotonically and are never
//!   reused, not even across [`Tracker::reset`]: downstream state keyed by track id can never
//!   confuse two objects.
//! * If a timestamp goes backwards (a file source looping), the tracker resets itself first.
//!
//! Non-finite detections (NaN/inf score or coordinates) are ignored; detections with an empty box
//! never start a track.

mod kalman;

use crate::detect::{BBox, Detection};
use kalman::BoxFilter;

/// Tracker settings. `Default` gives the values documented on each field.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrackerConfig {
    /// Minimum IoU between a predicted box and a detection to associate them (default 0.3).
    pub iou_threshold: f32,
    /// Matches needed before a track is confirmed (default 2; 0 or 1: confirmed at once).
    pub min_hits: u32,
    /// A track not matched for longer than this is removed (default 1.5 s).
    pub max_missed_seconds: f32,
    /// Minimum detection score to start a new track (default 0.0: the detector's own threshold).
    pub min_score: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_threshold: 0.3,
            min_hits: 2,
            max_missed_seconds: 1.5,
            min_score: 0.0,
        }
    }
}

/// One tracked object, as seen after the latest [`Tracker::update`].
#[derive(Debug, Clone)]
pub struct Track {
    /// Per-camera id, starting at 1, never reused.
    pub id: u64,
    pub class_id: u16,
    /// The matched detection's box, or the predicted box while `missed`.
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// Number of detections matched to this track, the first one included.
    pub hits: u32,
    /// `hits >= min_hits` at some point; never goes back to false.
    pub confirmed: bool,
    /// Not matched in this update.
    pub missed: bool,
    /// Timestamp of the first detection.
    pub first_seen_ns: u64,
    /// Timestamp of the last matched detection.
    pub last_seen_ns: u64,
    /// Estimated velocity of the box centre, normalised units per second.
    pub velocity: (f32, f32),
}

/// Multi-object tracker for one camera.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    max_missed_ns: u64,
    /// Live tracks, in increasing id order; `filters[i]` is the motion state of `tracks[i]`.
    tracks: Vec<Track>,
    filters: Vec<BoxFilter>,
    /// Time the filters were last predicted to.
    last_t_ns: Option<u64>,
    next_id: u64,
    // Scratch buffers, kept to avoid allocating on every frame.
    pairs: Vec<(f32, u32, u32)>,
    det_used: Vec<bool>,
    track_used: Vec<bool>,
}

impl Tracker {
    /// A tracker with `cfg`; out-of-range values are clamped (`iou_threshold` to 0..=1,
    /// `max_missed_seconds` to >= 0), non-finite ones replaced by the defaults.
    pub fn new(cfg: TrackerConfig) -> Self {
        let d = TrackerConfig::default();
        let iou_threshold = if cfg.iou_threshold.is_finite() {
            cfg.iou_threshold.clamp(0.0, 1.0)
        } else {
            d.iou_threshold
        };
        let max_missed_seconds = if cfg.max_missed_seconds.is_finite() {
            cfg.max_missed_seconds.max(0.0)
        } else {
            d.max_missed_seconds
        };
        let min_score = if cfg.min_score.is_finite() {
            cfg.min_score
        } else {
            d.min_score
        };
        let cfg = TrackerConfig {
            iou_threshold,
            min_hits: cfg.min_hits,
            max_missed_seconds,
            min_score,
        };
        Tracker {
            cfg,
            max_missed_ns: (f64::from(max_missed_seconds) * 1e9) as u64,
            tracks: Vec::new(),
            filters: Vec::new(),
            last_t_ns: None,
            next_id: 1,
            pairs: Vec::new(),
            det_used: Vec::new(),
            track_used: Vec::new(),
        }
    }

    /// The effective (sanitised) configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Live tracks after the last update, in increasing id order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Drop every track (ids keep increasing: they are never reused).
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.filters.clear();
        self.last_t_ns = None;
    }

    /// Feed the detections of one frame captured at `t_ns`; returns all live tracks (matched this
    /// frame, or in a miss shorter than `max_missed_seconds`), in increasing id order.
    pub fn update(&mut self, detections: &[Detection], t_ns: u64) -> &[Track] {
        if let Some(last) = self.last_t_ns {
            if t_ns < last {
                tracing::debug!(t_ns, last, "tracker: timestamp went backwards, resetting");
                self.reset();
            }
        }
        let dt = match self.last_t_ns {
            Some(last) => (t_ns.saturating_sub(last) as f64 / 1e9) as f32,
            None => 0.0,
        };
        self.last_t_ns = Some(t_ns);

        // 1. Drop stale tracks, predict the others to `t_ns`.
        self.remove_stale(t_ns);
        for (track, filter) in self.tracks.iter_mut().zip(self.filters.iter_mut()) {
            filter.predict(dt);
            track.bbox = filter.bbox();
            track.velocity = filter.velocity();
            track.missed = true;
        }

        // 2. Candidate pairs: same class, IoU above threshold.
        self.pairs.clear();
        let thr = self.cfg.iou_threshold;
        for (ti, track) in self.tracks.iter().enumerate() {
            for (di, det) in detections.iter().enumerate() {
                if det.class_id != track.class_id || !is_finite(det) {
                    continue;
                }
                let iou = track.bbox.iou(&det.bbox);
                if iou > 0.0 && iou >= thr {
                    self.pairs.push((iou, ti as u32, di as u32));
                }
            }
        }
        // Highest IoU first; ties by track (= id order), then detection index.
        self.pairs
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

        // 3. Greedy assignment.
        self.det_used.clear();
        self.det_used.resize(detections.len(), false);
        self.track_used.clear();
        self.track_used.resize(self.tracks.len(), false);
        let min_hits = self.cfg.min_hits;
        for &(_, ti, di) in &self.pairs {
            let (ti, di) = (ti as usize, di as usize);
            if self.track_used[ti] || self.det_used[di] {
                continue;
            }
            self.track_used[ti] = true;
            self.det_used[di] = true;
            let det = &detections[di];
            let filter = &mut self.filters[ti];
            filter.update(&det.bbox);
            let track = &mut self.tracks[ti];
            track.bbox = det.bbox;
            track.score = det.score;
            track.hits = track.hits.saturating_add(1);
            track.confirmed |= track.hits >= min_hits;
            track.missed = false;
            track.last_seen_ns = t_ns;
            track.velocity = filter.velocity();
        }

        // 4. New tentative tracks from unmatched detections.
        for (di, det) in detections.iter().enumerate() {
            if self.det_used[di]
                || !is_finite(det)
                || det.score < self.cfg.min_score
                || det.bbox.area() <= 0.0
            {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.filters.push(BoxFilter::new(&det.bbox));
            self.tracks.push(Track {
                id,
                class_id: det.class_id,
                bbox: det.bbox,
                score: det.score,
                hits: 1,
                confirmed: 1 >= min_hits,
                missed: false,
                first_seen_ns: t_ns,
                last_seen_ns: t_ns,
                velocity: (0.0, 0.0),
            });
        }
        &self.tracks
    }

    /// Remove tracks not matched for more than `max_missed_seconds`, keeping id order.
    fn remove_stale(&mut self, t_ns: u64) {
        let mut w = 0;
        for r in 0..self.tracks.len() {
            let age = t_ns.saturating_sub(self.tracks[r].last_seen_ns);
            if age <= self.max_missed_ns {
                self.tracks.swap(w, r);
                self.filters.swap(w, r);
                w += 1;
            }
        }
        self.tracks.truncate(w);
        self.filters.truncate(w);
    }
}

fn is_finite(d: &Detection) -> bool {
    d.score.is_finite()
        && d.bbox.x1.is_finite()
        && d.bbox.y1.is_finite()
        && d.bbox.x2.is_finite()
        && d.bbox.y2.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const PERSON: u16 = 0;
    const CAR: u16 = 2;

    fn det(class_id: u16, cx: f32, cy: f32, w: f32, h: f32) -> Detection {
        Detection {
            class_id,
            score: 0.9,
            bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
        }
    }

    fn ids(tracks: &[Track]) -> Vec<u64> {
        tracks.iter().map(|t| t.id).collect()
    }

    #[test]
    fn defaults() {
        let c = TrackerConfig::default();
        assert_eq!(c.iou_threshold, 0.3);
        assert_eq!(c.min_hits, 2);
        assert_eq!(c.max_missed_seconds, 1.5);
    }

    #[test]
    fn confirmation_after_min_hits() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let t = tr.update(&[det(PERSON, 0.5, 0.5, 0.1, 0.3)], 0);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].id, 1);
        assert!(!t[0].confirmed);
        assert_eq!(t[0].hits, 1);
        let t = tr.update(&[det(PERSON, 0.51, 0.5, 0.1, 0.3)], 100 * MS);
        assert!(t[0].confirmed);
        assert_eq!(t[0].hits, 2);
        assert_eq!(t[0].first_seen_ns, 0);
        assert_eq!(t[0].last_seen_ns, 100 * MS);
    }

    /// A person walking at 0.3 frame/s keeps one id through 3 frames without detection; without
    /// motion prediction the last box would no longer overlap the new detection enough.
    #[test]
    fn walking_person_survives_three_frame_miss() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let v = 0.3f32;
        for k in 0..20u64 {
            let t_s = k as f32 * 0.1;
            let dets = if (8..11).contains(&k) {
                vec![]
            } else {
                vec![det(PERSON, 0.1 + v * t_s, 0.6, 0.06, 0.2)]
            };
            let tracks = tr.update(&dets, k * 100 * MS);
            assert_eq!(ids(tracks), vec![1], "frame {k}");
            assert_eq!(tracks[0].missed, (8..11).contains(&k), "frame {k}");
            if k == 10 {
                // Predicted box follows the person during the miss.
                let cx = (tracks[0].bbox.x1 + tracks[0].bbox.x2) / 2.0;
                assert!((cx - (0.1 + v * 1.0)).abs() < 0.01, "cx {cx}");
            }
        }
        let t = &tr.tracks()[0];
        assert!(t.confirmed);
        assert_eq!(t.hits, 17);
        assert!((t.velocity.0 - v).abs() < 0.02, "vx {:?}", t.velocity);
        assert!(t.velocity.1.abs() < 0.02);
    }

    /// Two people walking towards each other; at the crossing the last box of one is closer to
    /// the other's detection, only the motion prediction keeps the ids right.
    #[test]
    fn crossing_people_keep_ids() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut id_a = 0;
        let mut id_b = 0;
        for k in 0..16u64 {
            let kf = k as f32;
            let a = det(PERSON, 0.2 + 0.05 * kf, 0.50, 0.1, 0.3);
            let b = det(PERSON, 0.825 - 0.05 * kf, 0.52, 0.1, 0.3);
            // Alternate the order to make sure the index does not decide.
            let dets = if k % 2 == 0 { vec![a, b] } else { vec![b, a] };
            let tracks = tr.update(&dets, k * 100 * MS);
            assert_eq!(tracks.len(), 2, "frame {k}");
            let ta = tracks.iter().find(|t| t.bbox == a.bbox);
            let tb = tracks.iter().find(|t| t.bbox == b.bbox);
            let (Some(ta), Some(tb)) = (ta, tb) else {
                panic!("frame {k}: detections not matched: {tracks:?}");
            };
            if k == 0 {
                id_a = ta.id;
                id_b = tb.id;
            }
            assert_eq!((ta.id, tb.id), (id_a, id_b), "frame {k}");
        }
        assert_ne!(id_a, id_b);
    }

    #[test]
    fn different_classes_never_associate() {
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.update(&[det(PERSON, 0.5, 0.5, 0.2, 0.3)], 0);
        let tracks = tr.update(&[det(CAR, 0.5, 0.5, 0.2, 0.3)], 100 * MS);
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[0].id, tracks[0].class_id), (1, PERSON));
        assert!(tracks[0].missed);
        assert_eq!(tracks[0].hits, 1);
        assert_eq!((tracks[1].id, tracks[1].class_id), (2, CAR));
        assert!(!tracks[1].missed);
    }

    #[test]
    fn stale_track_removed_after_max_missed_seconds() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let d = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[d], 0);
        tr.update(&[d], 100 * MS);
        // 1.5 s after the last match: still alive (missed).
        assert_eq!(tr.update(&[], 1_000 * MS).len(), 1);
        let t = tr.update(&[], 1_600 * MS);
        assert_eq!(t.len(), 1);
        assert!(t[0].missed && t[0].confirmed);
        // Just over 1.5 s: gone; a detection at the same place starts a new track.
        let t = tr.update(&[d], 1_601 * MS);
        assert_eq!(ids(t), vec![2]);
        assert!(!t[0].confirmed);
    }

    #[test]
    fn track_rematched_after_miss_keeps_id_and_confirmation() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let d = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[d], 0);
        tr.update(&[d], 100 * MS);
        tr.update(&[], 800 * MS);
        let t = tr.update(&[d], 1_500 * MS);
        assert_eq!(ids(t), vec![1]);
        assert!(t[0].confirmed && !t[0].missed);
        assert_eq!(t[0].hits, 3);
    }

    #[test]
    fn ids_never_reused() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut seen = Vec::new();
        let mut t_ns = 0;
        for round in 0..4 {
            let x = 0.2 + 0.2 * round as f32;
            for _ in 0..3 {
                for tk in tr.update(&[det(PERSON, x, 0.5, 0.1, 0.3)], t_ns) {
                    if !seen.contains(&tk.id) {
                        seen.push(tk.id);
                    }
                }
                t_ns += 100 * MS;
            }
            t_ns += 2_000 * MS; // everything goes stale
        }
        // Explicit reset and a timestamp going backwards do not restart the ids either.
        tr.reset();
        seen.push(tr.update(&[det(PERSON, 0.5, 0.5, 0.1, 0.3)], t_ns)[0].id);
        seen.push(tr.update(&[det(CAR, 0.5, 0.5, 0.1, 0.3)], 0)[0].id);
        assert_eq!(seen, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn timestamp_backwards_resets() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let d = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[d], 5_000 * MS);
        tr.update(&[d], 5_100 * MS);
        let t = tr.update(&[d], 0);
        assert_eq!(ids(t), vec![2]);
        assert_eq!(t[0].first_seen_ns, 0);
    }

    /// Detections arrive at irregular intervals (10 ms to 400 ms); the object moves at a constant
    /// speed in time. One id throughout, the velocity is per second, not per frame.
    #[test]
    fn irregular_frame_intervals() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let (vx, vy) = (0.25f32, -0.05f32);
        let gaps_ms = [0u64, 100, 40, 250, 15, 300, 100, 60, 400, 20, 350, 200];
        let mut t_ms = 0;
        for g in gaps_ms {
            t_ms += g;
            let s = t_ms as f32 / 1000.0;
            let tracks = tr.update(
                &[det(CAR, 0.1 + vx * s, 0.7 + vy * s, 0.15, 0.1)],
                t_ms * MS,
            );
            assert_eq!(ids(tracks), vec![1], "t {t_ms} ms");
        }
        let t = &tr.tracks()[0];
        assert!((t.velocity.0 - vx).abs() < 0.01, "{:?}", t.velocity);
        assert!((t.velocity.1 - vy).abs() < 0.01, "{:?}", t.velocity);
    }

    #[test]
    fn low_score_detection_continues_but_never_starts_a_track() {
        let cfg = TrackerConfig {
            min_score: 0.5,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(cfg);
        let mut weak = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        weak.score = 0.3;
        assert!(tr.update(&[weak], 0).is_empty());
        let strong = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[strong], 100 * MS);
        let t = tr.update(&[weak], 200 * MS);
        assert_eq!(ids(t), vec![1]);
        assert!(!t[0].missed && t[0].confirmed);
        assert_eq!(t[0].score, 0.3);
    }

    #[test]
    fn iou_threshold_and_invalid_detections() {
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.update(&[det(PERSON, 0.5, 0.5, 0.1, 0.1)], 0);
        // IoU of boxes shifted by half a width ≈ 0.33 ≥ 0.3: matched.
        let t = tr.update(&[det(PERSON, 0.55, 0.5, 0.1, 0.1)], 0);
        assert_eq!(ids(t), vec![1]);
        // Far from the track's filtered box (IoU < 0.3): a new track.
        let t = tr.update(&[det(PERSON, 0.61, 0.5, 0.1, 0.1)], 0);
        assert_eq!(ids(t), vec![1, 2]);
        let mut nan = det(PERSON, 0.5, 0.5, 0.1, 0.1);
        nan.bbox.x1 = f32::NAN;
        let empty = det(PERSON, 0.3, 0.3, 0.0, 0.0);
        let t = tr.update(&[nan, empty], 0);
        assert_eq!(ids(t), vec![1, 2]);
        assert!(t.iter().all(|t| t.missed));
    }

    #[test]
    fn many_objects_in_id_order() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let dets: Vec<Detection> = (0..30)
            .map(|i| det(PERSON, 0.03 + 0.032 * i as f32, 0.5, 0.02, 0.1))
            .collect();
        for k in 0..5 {
            let t = tr.update(&dets, k * 66 * MS);
            assert_eq!(ids(t), (1..=30).collect::<Vec<u64>>());
        }
    }
}

#[cfg(test)]
mod mot_tests;
