//! Multi-object tracking per camera, ByteTrack-style.
//!
//! One [`Tracker`] per camera. Each call to [`Tracker::update`] takes the detections of one frame
//! and the frame's capture timestamp (ns) and returns every live track.
//!
//! * **Motion model**: a constant-velocity Kalman filter on the box centre (one independent 2-state
//!   filter per axis) and a random-walk filter on width and height (see `kalman.rs`). Tracks are
//!   predicted to the frame's timestamp with `dt` taken from timestamps, never from frame counts,
//!   because the detection rate varies.
//! * **Association in three stages** (ByteTrack, Zhang et al., ECCV 2022), always between a
//!   track's *predicted* box and detections **of the same class**, each stage an optimal
//!   assignment on IoU (see `assign.rs`):
//!   1. confirmed tracks, including lost ones (re-association after an occlusion), with the
//!      *high* detections (`score >= min_score`), IoU >= `iou_threshold`, both boxes buffered
//!      by [`BUFFER_PER_SECOND`] times the seconds since the track's last match (C-BIoU);
//!   2. confirmed tracks still unmatched that were matched in the previous update, with the
//!      *low* detections (`low_score <= score < min_score`), plain IoU >=
//!      [`LOW_IOU_THRESHOLD`]: a person half hidden or blurred keeps their track instead of
//!      losing it for a frame;
//!   3. tentative tracks with the high detections left (buffered as in stage 1).
//!
//!   High detections left after that, with `score >= min_score + new_track_margin`, start new
//!   tentative tracks; low detections never start a track (a cone or a shadow scored 0.2 must
//!   not become an object).
//! * **Life cycle**: a new track is *tentative*; it becomes `confirmed` after `min_hits`
//!   consecutive matches (the first detection counts) and stays confirmed. A tentative track that
//!   misses one update is dropped (a one-frame false detection never becomes a track). A confirmed
//!   track that is not matched is *lost*: kept, `missed == true`, with its predicted box, and
//!   matched again (same id) when a high detection overlaps its prediction. A track is removed
//!   once it has gone `max_missed_seconds` without a *high* detection: low detections bridge a
//!   gap but cannot keep a track alive on their own (else a bollard scored 0.3 next to where a
//!   person stood would hold the person's track forever).
//! * **Holding a lying person** ([`Tracker::hold`]): a person who falls and lies still is often
//!   no longer detected (detectors trained on upright people score a lying one far below their
//!   threshold), so their track would be removed after `max_missed_seconds`. The engine, which
//!   runs a pose model for the rules that need one, may *hold* a lost confirmed track: an
//!   observation from a confident lying pose found where the track was lost, in the same update.
//!   A hold continues that track in place (same id, box from the pose, zero velocity), keeps it
//!   alive like a high detection, and lasts at most the `max_hold_seconds` the caller gives from
//!   the first hold; a high detection ends it. The tracker never creates a track from a hold,
//!   and a hold cannot find a track that is gone: what holds a track is a pose the engine
//!   checked (confident, lying, where the person was), never a weak detection (bollard problem
//!   above).
//! * **Ids** are per tracker (one per camera), start at 1, increase monotonically and are never
//!   reused, not even across [`Tracker::reset`]: downstream state keyed by track id can never
//!   confuse two objects.
//! * If a timestamp goes backwards (a file source looping), the tracker resets itself first.
//!
//! Non-finite detections (NaN/inf score or coordinates) are ignored; detections with an empty box
//! never start a track.

mod assign;
mod kalman;

use crate::detect::{BBox, Detection};
use assign::{Assigner, Candidate};
use kalman::BoxFilter;

/// Minimum IoU for the second stage (a low-score detection continuing a track). Stricter than
/// the first stage, as in ByteTrack: a weak detection must sit right where the track is expected.
pub const LOW_IOU_THRESHOLD: f32 = 0.5;

/// How much the boxes compared in the first and third stages grow (fraction of their width and
/// height) per second since the track's last match, as in C-BIoU (Yang et al., WACV 2023): the
/// longer a track goes unseen (frame interval, occlusion), the less its constant-velocity
/// prediction can be trusted, and the wider the match. 1.0: +10 % at 10 detections per second,
/// double size after one second of occlusion.
pub const BUFFER_PER_SECOND: f32 = 1.0;

/// Tracker settings. `Default` gives the values documented on each field.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrackerConfig {
    /// Minimum IoU between a predicted box and a high detection to associate them (default 0.3).
    pub iou_threshold: f32,
    /// Consecutive matches needed before a track is confirmed (default 2; 0 or 1: at once).
    pub min_hits: u32,
    /// A confirmed track not matched to a *high* detection for longer than this is removed
    /// (default 1.5 s): how long an occlusion may last and the person keep their id.
    pub max_missed_seconds: f32,
    /// *High* score: detections at or above it take part in the first stage and may start a
    /// track (default 0.0; the engine sets the detector's `score_threshold`).
    pub min_score: f32,
    /// *Low* score: detections in `low_score..min_score` only continue tracks that were matched
    /// in the previous update (second stage); below it they are ignored (default 0.1).
    pub low_score: f32,
    /// A new track needs a detection at least `min_score + new_track_margin` (default 0.1, as
    /// ByteTrack's `det_thresh`): objects that the detector only half believes in (a cone, a
    /// bollard scored around the threshold) do not become tracks.
    pub new_track_margin: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            iou_threshold: 0.3,
            min_hits: 2,
            max_missed_seconds: 1.5,
            min_score: 0.0,
            low_score: 0.1,
            new_track_margin: 0.1,
        }
    }
}

impl TrackerConfig {
    /// Out-of-range values clamped (`iou_threshold` to 0..=1, `max_missed_seconds` to >= 0),
    /// non-finite ones replaced by the defaults.
    fn sanitised(self) -> TrackerConfig {
        let d = TrackerConfig::default();
        let finite_or = |v: f32, default: f32| if v.is_finite() { v } else { default };
        TrackerConfig {
            iou_threshold: finite_or(self.iou_threshold, d.iou_threshold).clamp(0.0, 1.0),
            min_hits: self.min_hits,
            max_missed_seconds: finite_or(self.max_missed_seconds, d.max_missed_seconds).max(0.0),
            min_score: finite_or(self.min_score, d.min_score),
            low_score: finite_or(self.low_score, d.low_score),
            new_track_margin: finite_or(self.new_track_margin, d.new_track_margin).max(0.0),
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
    /// Score of the last matched detection (below `min_score` when a low detection continued
    /// the track).
    pub score: f32,
    /// Number of detections matched to this track, the first one included.
    pub hits: u32,
    /// `min_hits` consecutive matches reached at some point; never goes back to false.
    pub confirmed: bool,
    /// Not matched in this update (a confirmed track that is lost; tentative tracks that miss
    /// are dropped instead).
    pub missed: bool,
    /// Timestamp of the first detection.
    pub first_seen_ns: u64,
    /// Timestamp of the last matched detection.
    pub last_seen_ns: u64,
    /// Estimated velocity of the box centre, normalised units per second.
    pub velocity: (f32, f32),
    /// Continued in this update by a lying pose instead of a detection ([`Tracker::hold`]):
    /// `bbox` is the pose's box and `score` the pose's score.
    pub held: bool,
}

/// A confirmed track lost in the last update ([`Tracker::lost`]).
#[derive(Debug, Clone, Copy)]
pub struct LostTrack<'a> {
    pub track: &'a Track,
    /// The box of its last observation (detection or hold), not the prediction.
    pub last_box: BBox,
    /// Held ([`Tracker::hold`]) since its last high detection.
    pub held: bool,
    /// Held at some time before, the hold since ended by a high detection: this track was seen
    /// lying (a later hold may continue from the lower score of a held track).
    pub was_held: bool,
    /// Continued in this update by a low detection only (not missed): its last box is that
    /// detection's.
    pub low: bool,
    /// When a high detection last matched it.
    pub last_high_ns: u64,
}

/// Which detections and tracks an association stage considers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Confirmed tracks (lost ones included) × high detections.
    High,
    /// Confirmed tracks matched in the previous update × low detections.
    Low,
    /// Tentative tracks × high detections.
    Tentative,
}

/// What the tracker keeps about a track besides the public [`Track`].
#[derive(Debug, Clone)]
struct TrackState {
    filter: BoxFilter,
    /// Timestamp of the last match with a high detection.
    last_high_ns: u64,
    /// Matched in the previous update (eligible for the second stage).
    was_matched: bool,
    /// The box of the last observation (detection or hold), whatever the prediction says since.
    last_box: BBox,
    /// First hold since the last high detection; `None` when not held.
    held_since_ns: Option<u64>,
    /// Held at least once in this track's life.
    ever_held: bool,
    /// Last hold (keeps the track alive like a high detection).
    last_held_ns: u64,
}

/// Multi-object tracker for one camera.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    max_missed_ns: u64,
    /// Live tracks, in increasing id order; `states[i]` is the rest of `tracks[i]`.
    tracks: Vec<Track>,
    states: Vec<TrackState>,
    /// Time the filters were last predicted to.
    last_t_ns: Option<u64>,
    next_id: u64,
    // Scratch buffers, kept to avoid allocating on every frame.
    candidates: Vec<Candidate>,
    pairs: Vec<(u32, u32)>,
    det_used: Vec<bool>,
    track_used: Vec<bool>,
    assigner: Assigner,
}

impl Tracker {
    /// A tracker with `cfg`; out-of-range values are clamped (`iou_threshold` to 0..=1,
    /// `max_missed_seconds` to >= 0), non-finite ones replaced by the defaults.
    pub fn new(cfg: TrackerConfig) -> Self {
        let cfg = cfg.sanitised();
        Tracker {
            cfg,
            max_missed_ns: (f64::from(cfg.max_missed_seconds) * 1e9) as u64,
            tracks: Vec::new(),
            states: Vec::new(),
            last_t_ns: None,
            next_id: 1,
            candidates: Vec::new(),
            pairs: Vec::new(),
            det_used: Vec::new(),
            track_used: Vec::new(),
            assigner: Assigner::default(),
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
        self.states.clear();
        self.last_t_ns = None;
    }

    /// Feed the detections of one frame captured at `t_ns`; returns all live tracks (tentative,
    /// confirmed and matched, or lost for at most `max_missed_seconds`), in increasing id order.
    pub fn update(&mut self, detections: &[Detection], t_ns: u64) -> &[Track] {
        let dt = self.advance_clock(t_ns);
        self.remove_stale(t_ns);
        for (track, st) in self.tracks.iter_mut().zip(self.states.iter_mut()) {
            st.was_matched = !track.missed;
            st.filter.predict(dt);
            track.bbox = st.filter.bbox();
            track.velocity = st.filter.velocity();
            track.missed = true;
            track.held = false;
        }
        self.det_used.clear();
        self.det_used.resize(detections.len(), false);
        self.track_used.clear();
        self.track_used.resize(self.tracks.len(), false);
        for stage in [Stage::High, Stage::Low, Stage::Tentative] {
            self.associate(stage, detections, t_ns);
        }
        self.drop_missed_tentative();
        self.start_tracks(detections, t_ns);
        &self.tracks
    }

    /// Resets on a timestamp going backwards; returns the seconds since the previous update.
    fn advance_clock(&mut self, t_ns: u64) -> f32 {
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
        dt
    }

    /// Detections from this score on are *high*: nothing below `low_score` is ever used.
    fn high_score(&self) -> f32 {
        self.cfg.min_score.max(self.cfg.low_score)
    }

    /// One association stage: candidate pairs, optimal assignment, track updates.
    fn associate(&mut self, stage: Stage, detections: &[Detection], t_ns: u64) {
        let (lo, hi, thr) = match stage {
            Stage::High | Stage::Tentative => {
                (self.high_score(), f32::INFINITY, self.cfg.iou_threshold)
            }
            Stage::Low => (self.cfg.low_score, self.high_score(), LOW_IOU_THRESHOLD),
        };
        self.candidates.clear();
        for (ti, track) in self.tracks.iter().enumerate() {
            let eligible = match stage {
                Stage::High => track.confirmed,
                Stage::Low => track.confirmed && self.states[ti].was_matched,
                Stage::Tentative => !track.confirmed,
            };
            if !eligible || self.track_used[ti] {
                continue;
            }
            let unseen_s = (t_ns.saturating_sub(track.last_seen_ns) as f64 / 1e9) as f32;
            let buffer = BUFFER_PER_SECOND * unseen_s;
            for (di, det) in detections.iter().enumerate() {
                if self.det_used[di]
                    || det.class_id != track.class_id
                    || !is_finite(det)
                    || det.score < lo
                    || det.score >= hi
                {
                    continue;
                }
                let iou = match stage {
                    Stage::Low => track.bbox.iou(&det.bbox),
                    _ => buffered_iou(&track.bbox, &det.bbox, buffer),
                };
                if iou > 0.0 && iou >= thr {
                    self.candidates.push((iou, ti as u32, di as u32));
                }
            }
        }
        self.pairs.clear();
        self.assigner.assign(
            &self.candidates,
            thr,
            self.tracks.len(),
            detections.len(),
            &mut self.pairs,
        );
        for k in 0..self.pairs.len() {
            let (ti, di) = self.pairs[k];
            self.apply_match(ti as usize, &detections[di as usize], t_ns);
            self.det_used[di as usize] = true;
        }
    }

    fn apply_match(&mut self, ti: usize, det: &Detection, t_ns: u64) {
        self.track_used[ti] = true;
        let st = &mut self.states[ti];
        st.filter.update(&det.bbox);
        if det.score >= self.cfg.min_score.max(self.cfg.low_score) {
            st.last_high_ns = t_ns;
            st.held_since_ns = None;
        }
        st.last_box = det.bbox;
        let track = &mut self.tracks[ti];
        track.bbox = det.bbox;
        track.score = det.score;
        track.hits = track.hits.saturating_add(1);
        track.confirmed |= track.hits >= self.cfg.min_hits;
        track.missed = false;
        track.last_seen_ns = t_ns;
        track.velocity = st.filter.velocity();
    }

    /// A tentative track needs consecutive matches: one miss and it is gone.
    fn drop_missed_tentative(&mut self) {
        self.retain(|t, _| t.confirmed || !t.missed);
    }

    /// New tentative tracks from the high detections nobody took.
    fn start_tracks(&mut self, detections: &[Detection], t_ns: u64) {
        for (di, det) in detections.iter().enumerate() {
            if self.det_used[di]
                || !is_finite(det)
                || det.score < self.high_score() + self.cfg.new_track_margin
                || det.bbox.area() <= 0.0
            {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.states.push(TrackState {
                filter: BoxFilter::new(&det.bbox),
                last_high_ns: t_ns,
                was_matched: true,
                last_box: det.bbox,
                held_since_ns: None,
                ever_held: false,
                last_held_ns: 0,
            });
            self.tracks.push(Track {
                id,
                class_id: det.class_id,
                bbox: det.bbox,
                score: det.score,
                hits: 1,
                confirmed: 1 >= self.cfg.min_hits,
                missed: false,
                first_seen_ns: t_ns,
                last_seen_ns: t_ns,
                velocity: (0.0, 0.0),
                held: false,
            });
        }
    }

    /// Remove tracks not matched to a high detection nor held for more than
    /// `max_missed_seconds` (low detections bridge gaps, they cannot keep a track alive on their
    /// own).
    fn remove_stale(&mut self, t_ns: u64) {
        let max = self.max_missed_ns;
        self.retain(|_, st| t_ns.saturating_sub(st.last_high_ns.max(st.last_held_ns)) <= max);
    }

    /// The confirmed tracks that no high detection matched in the last update (not removed
    /// yet): lost (not matched), or continued by a low detection only (a low detection does not
    /// keep a track alive: only a high one or a hold does), each with the box of its last
    /// observation (where a person who fell would be lying) and whether it is being held.
    pub fn lost(&self) -> impl Iterator<Item = LostTrack<'_>> {
        let now = self.last_t_ns;
        self.tracks
            .iter()
            .zip(&self.states)
            .filter(move |(t, st)| t.confirmed && Some(st.last_high_ns) != now)
            .map(|(track, st)| LostTrack {
                track,
                last_box: st.last_box,
                held: st.held_since_ns.is_some(),
                was_held: st.ever_held && st.held_since_ns.is_none(),
                low: !track.missed,
                last_high_ns: st.last_high_ns,
            })
    }

    /// Continues confirmed track `id`, which no high detection matched in the last update (at
    /// `t_ns`: lost, or continued by a low detection only), with an observation that is not a
    /// detection: a confident lying pose the caller found where the track was lost (see the
    /// module documentation). The track takes `bbox` (zero velocity: lying still)
    /// and `score`, is no longer `missed`, and stays alive as after a high detection. Refused
    /// (`false`) when `id` is not such a track in the update at `t_ns`, when the box
    /// is empty or not finite, or when the track has been held for more than `max_hold_seconds`
    /// since its last high detection.
    pub fn hold(
        &mut self,
        id: u64,
        (bbox, score): (BBox, f32),
        t_ns: u64,
        max_hold_seconds: f32,
    ) -> bool {
        let finite = [bbox.x1, bbox.y1, bbox.x2, bbox.y2, score]
            .iter()
            .all(|v| v.is_finite());
        if !finite || bbox.area() <= 0.0 || self.last_t_ns != Some(t_ns) {
            return false;
        }
        let Some(i) = self.tracks.iter().position(|t| t.id == id) else {
            return false;
        };
        let (track, st) = (&mut self.tracks[i], &mut self.states[i]);
        let since = st.held_since_ns.unwrap_or(t_ns);
        let max_ns = (f64::from(max_hold_seconds.max(0.0)) * 1e9) as u64;
        // Lost, or continued by a low detection only; never seen by a high one now.
        if !track.confirmed || st.last_high_ns == t_ns || t_ns - since > max_ns {
            return false;
        }
        st.held_since_ns = Some(since);
        st.ever_held = true;
        st.filter = BoxFilter::new(&bbox);
        st.last_box = bbox;
        st.last_held_ns = t_ns;
        *track = Track {
            bbox,
            score,
            missed: false,
            held: true,
            last_seen_ns: t_ns,
            velocity: (0.0, 0.0),
            ..track.clone()
        };
        true
    }

    /// Keeps the tracks (and their states) for which `keep` holds, in id order.
    fn retain(&mut self, keep: impl Fn(&Track, &TrackState) -> bool) {
        let mut w = 0;
        for r in 0..self.tracks.len() {
            if keep(&self.tracks[r], &self.states[r]) {
                self.tracks.swap(w, r);
                self.states.swap(w, r);
                w += 1;
            }
        }
        self.tracks.truncate(w);
        self.states.truncate(w);
    }
}

/// IoU of the two boxes each widened and heightened by the fraction `buffer` (C-BIoU).
fn buffered_iou(a: &BBox, b: &BBox, buffer: f32) -> f32 {
    if buffer <= 0.0 {
        return a.iou(b);
    }
    let grow = |r: &BBox| {
        let (dw, dh) = (r.width() * buffer * 0.5, r.height() * buffer * 0.5);
        BBox::new(r.x1 - dw, r.y1 - dh, r.x2 + dw, r.y2 + dh)
    };
    grow(a).iou(&grow(b))
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

    /// A new track is reported but not confirmed until `min_hits` consecutive matches; one miss
    /// before that and it is dropped, so the next detection starts over with a new id.
    #[test]
    fn unconfirmed_track_needs_consecutive_hits() {
        let cfg = TrackerConfig {
            min_hits: 3,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(cfg);
        let d = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        for k in 0..2u64 {
            let t = tr.update(&[d], k * 100 * MS);
            assert_eq!(ids(t), vec![1]);
            assert!(!t[0].confirmed, "frame {k}");
        }
        assert!(tr.update(&[], 200 * MS).is_empty());
        for k in 3..6u64 {
            let t = tr.update(&[d], k * 100 * MS);
            assert_eq!(ids(t), vec![2]);
            assert_eq!(t[0].confirmed, k == 5, "frame {k}");
        }
    }

    /// Two people walk in opposite directions; B is hidden (no detection at all) for 8 frames
    /// (0.8 s) while passing behind a pillar, and comes out on the other side, next to where A
    /// is. Both keep their ids: B's lost track is re-associated through its Kalman prediction.
    #[test]
    fn occlusion_of_eight_frames_keeps_the_id() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..30u64 {
            let kf = k as f32;
            let a = det(PERSON, 0.8 - 0.015 * kf, 0.52, 0.06, 0.2);
            let b = det(PERSON, 0.2 + 0.02 * kf, 0.5, 0.06, 0.2);
            let hidden = (12..20).contains(&k);
            let dets = if hidden { vec![a] } else { vec![a, b] };
            let t = tr.update(&dets, k * 100 * MS);
            assert_eq!(ids(t), vec![1, 2], "frame {k}");
            assert_eq!(t[1].missed, hidden, "frame {k}");
            if !hidden {
                assert_eq!((t[0].bbox, t[1].bbox), (a.bbox, b.bbox), "frame {k}");
            }
        }
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
        tr.update(&[det(PERSON, 0.5, 0.5, 0.2, 0.3)], 100 * MS);
        let mut car = det(CAR, 0.5, 0.5, 0.2, 0.3);
        let tracks = tr.update(&[car], 200 * MS);
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[0].id, tracks[0].class_id), (1, PERSON));
        assert!(tracks[0].missed);
        assert_eq!(tracks[0].hits, 2);
        assert_eq!((tracks[1].id, tracks[1].class_id), (2, CAR));
        assert!(!tracks[1].missed);
        // Nor in the second stage: a low-score car does not continue the person.
        car.score = 0.2;
        let cfg = TrackerConfig {
            min_score: 0.5,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(cfg);
        tr.update(&[det(PERSON, 0.5, 0.5, 0.2, 0.3)], 0);
        tr.update(&[det(PERSON, 0.5, 0.5, 0.2, 0.3)], 100 * MS);
        let tracks = tr.update(&[car], 200 * MS);
        assert_eq!(ids(tracks), vec![1]);
        assert!(tracks[0].missed);
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
    fn low_score_detection_never_starts_a_track() {
        let cfg = TrackerConfig {
            min_score: 0.5,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(cfg);
        // A bollard scored 0.3 (low) or 0.55 (high, but under min_score + new_track_margin)
        // for 5 s: never a track.
        for k in 0..50u64 {
            let mut weak = det(PERSON, 0.5, 0.5, 0.05, 0.1);
            weak.score = if k % 2 == 0 { 0.3 } else { 0.55 };
            assert!(tr.update(&[weak], k * 100 * MS).is_empty(), "frame {k}");
        }
        // From 0.6 on it is a detection like any other.
        let mut sure = det(PERSON, 0.5, 0.5, 0.05, 0.1);
        sure.score = 0.6;
        assert_eq!(ids(tr.update(&[sure], 5_000 * MS)), vec![1]);
    }

    /// ByteTrack's point: a person whose score drops under `min_score` for a few frames (half
    /// hidden, blurred) keeps their track, matched and with the detection's box, instead of
    /// being lost. With the second stage off (`low_score = min_score`) the same frames are misses.
    #[test]
    fn two_stage_keeps_track_through_low_score_frames() {
        for second_stage in [true, false] {
            let cfg = TrackerConfig {
                min_score: 0.5,
                low_score: if second_stage { 0.1 } else { 0.5 },
                ..TrackerConfig::default()
            };
            let mut tr = Tracker::new(cfg);
            for k in 0..12u64 {
                let mut d = det(PERSON, 0.2 + 0.03 * k as f32, 0.5, 0.08, 0.25);
                let weak = (4..8).contains(&k);
                if weak {
                    d.score = 0.2;
                }
                let t = tr.update(&[d], k * 100 * MS);
                assert_eq!(ids(t), vec![1], "frame {k}");
                assert_eq!(t[0].missed, weak && !second_stage, "frame {k}");
                if weak && second_stage {
                    assert_eq!((t[0].bbox, t[0].score), (d.bbox, 0.2), "frame {k}");
                }
            }
        }
    }

    /// A tracker with `min_score` 0.5 and one confirmed person (id 1, seen at 0 and 100 ms),
    /// with that person's detection at score 0.9 and at 0.3 (low).
    fn confirmed_person_high_05() -> (Tracker, Detection, Detection) {
        let cfg = TrackerConfig {
            min_score: 0.5,
            ..TrackerConfig::default()
        };
        let mut tr = Tracker::new(cfg);
        let strong = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[strong], 0);
        tr.update(&[strong], 100 * MS);
        let mut weak = strong;
        weak.score = 0.3;
        (tr, strong, weak)
    }

    /// A low detection never takes a track it was not already following: only tracks matched
    /// in the previous update take part in the second stage, and only with IoU >= 0.5.
    #[test]
    fn low_score_detection_only_continues_a_fresh_track() {
        let (mut tr, strong, weak) = confirmed_person_high_05();
        // Lost for a frame: the weak detection on the spot does not revive it.
        assert!(tr.update(&[], 200 * MS)[0].missed);
        assert!(tr.update(&[weak], 300 * MS)[0].missed);
        // A strong one does (first stage, lost tracks included).
        assert!(!tr.update(&[strong], 400 * MS)[0].missed);
        // Overlapping by IoU 0.43 < 0.5: not enough for a weak detection.
        let mut shifted = det(PERSON, 0.54, 0.5, 0.1, 0.3);
        shifted.score = 0.3;
        assert!(tr.update(&[shifted], 500 * MS)[0].missed);
    }

    /// Low detections bridge gaps but cannot keep a track alive alone: `max_missed_seconds`
    /// after its last high detection the track is gone even if low ones keep coming.
    #[test]
    fn low_score_detections_alone_do_not_keep_a_track() {
        let (mut tr, _, weak) = confirmed_person_high_05();
        for k in 2..=16u64 {
            let t = tr.update(&[weak], k * 100 * MS);
            assert_eq!(ids(t), vec![1], "frame {k}");
            assert!(!t[0].missed);
        }
        assert!(tr.update(&[weak], 1_700 * MS).is_empty());
    }

    /// The box of a person lying where `det(PERSON, 0.5, 0.5, 0.1, 0.3)` stood.
    const LYING: BBox = BBox {
        x1: 0.35,
        y1: 0.58,
        x2: 0.6,
        y2: 0.66,
    };

    /// A person falls and is no longer detected: held on lying poses (one every 400 ms), the
    /// track keeps its id and takes the pose's box, past `max_missed_seconds`, for at most
    /// `max_hold_seconds`; then it ends `max_missed_seconds` after the last accepted hold.
    /// Without holds the same track is gone after 1.5 s.
    #[test]
    fn a_lying_person_is_held_in_place_for_a_bounded_time() {
        let (mut tr, strong, _) = confirmed_person_high_05();
        let t = tr.update(&[], 200 * MS);
        assert!(t[0].missed && !t[0].held);
        let lost: Vec<_> = tr
            .lost()
            .map(|l| (l.track.id, l.last_box, l.held))
            .collect();
        assert_eq!(
            lost,
            vec![(1, strong.bbox, false)],
            "last box, not the prediction"
        );
        for k in 0..=25u64 {
            let t_ns = 200 * MS + k * 400 * MS;
            if k > 0 {
                tr.update(&[], t_ns);
                assert!(tr.lost().all(|l| l.held), "k {k}");
            }
            let held = tr.hold(1, (LYING, 0.55), t_ns, 10.0);
            // Held from 0.2 s: accepted up to 10.2 s (k = 25 is 10.2 s).
            assert!(held, "k {k}");
            let t = &tr.tracks()[0];
            assert_eq!((t.id, t.bbox, t.score), (1, LYING, 0.55));
            assert!(t.held && !t.missed && t.confirmed);
            assert_eq!(t.velocity, (0.0, 0.0));
        }
        // 10.6 s: more than 10 s held, refused; the track lives on 1.5 s after the last hold.
        tr.update(&[], 10_600 * MS);
        assert!(!tr.hold(1, (LYING, 0.55), 10_600 * MS, 10.0));
        let t = tr.update(&[], 11_700 * MS);
        assert_eq!(ids(t), vec![1]);
        assert!(t[0].missed && !t[0].held);
        assert!(tr.update(&[], 11_800 * MS).is_empty());
    }

    /// A hold never makes a track: not for an unknown id, a tentative track, a track matched
    /// in this update, an update that is not the last one, an empty or non-finite box, nor a
    /// track already removed.
    #[test]
    fn a_hold_never_creates_or_revives_a_track() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let d = det(PERSON, 0.5, 0.5, 0.1, 0.3);
        tr.update(&[d], 0);
        // Tentative (one hit) and matched.
        assert!(!tr.hold(1, (LYING, 0.9), 0, 10.0));
        tr.update(&[d], 100 * MS);
        assert!(
            !tr.hold(1, (LYING, 0.9), 100 * MS, 10.0),
            "matched in this update"
        );
        tr.update(&[], 200 * MS);
        assert!(!tr.hold(2, (LYING, 0.9), 200 * MS, 10.0), "unknown id");
        assert!(
            !tr.hold(1, (LYING, 0.9), 100 * MS, 10.0),
            "not the last update"
        );
        let empty = BBox::new(0.5, 0.5, 0.5, 0.6);
        assert!(!tr.hold(1, (empty, 0.9), 200 * MS, 10.0));
        assert!(!tr.hold(1, (LYING, f32::NAN), 200 * MS, 10.0));
        assert_eq!(ids(tr.tracks()), vec![1]);
        assert!(tr.tracks()[0].missed, "refused holds change nothing");
        tr.update(&[], 1_700 * MS);
        assert!(tr.tracks().is_empty());
        assert!(!tr.hold(1, (LYING, 0.9), 1_700 * MS, 10.0), "gone");
        assert!(tr.tracks().is_empty());
    }

    /// A held person whose weak detection (nanodet scores a lying person about 0.13) continues
    /// the track in the second stage is still looked for and held: the low detections alone
    /// would let the track end 1.5 s after the last hold.
    #[test]
    fn a_held_track_continued_by_low_detections_stays_held() {
        let (mut tr, _, _) = confirmed_person_high_05();
        tr.update(&[], 200 * MS);
        assert!(tr.hold(1, (LYING, 0.55), 200 * MS, 10.0));
        let weak = Detection {
            class_id: PERSON,
            score: 0.13,
            bbox: LYING,
        };
        for k in 1..=20u64 {
            let t_ns = 200 * MS + k * 200 * MS;
            let t = tr.update(&[weak], t_ns);
            assert_eq!(ids(t), vec![1], "k {k}");
            assert!(!t[0].missed && !t[0].held, "low detection, k {k}");
            let lost: Vec<_> = tr.lost().map(|l| (l.track.id, l.held)).collect();
            assert_eq!(lost, vec![(1, true)], "k {k}");
            if k % 2 == 0 {
                assert!(tr.hold(1, (LYING, 0.5), t_ns, 10.0), "k {k}");
            }
        }
        // A track continued by a low detection and never held is reported (`low`, its box the
        // low detection's: the engine looks there when that box is lying-shaped) and may be
        // held; one a high detection matched is not.
        let (mut tr, _, weak) = confirmed_person_high_05();
        tr.update(&[weak], 200 * MS);
        let lost: Vec<_> = tr
            .lost()
            .map(|l| (l.track.id, l.low, l.held, l.last_box))
            .collect();
        assert_eq!(lost, vec![(1, true, false, weak.bbox)]);
        assert!(tr.hold(1, (LYING, 0.5), 200 * MS, 10.0));
        let (mut tr, strong, _) = confirmed_person_high_05();
        tr.update(&[strong], 200 * MS);
        assert_eq!(tr.lost().count(), 0);
        assert!(!tr.hold(1, (LYING, 0.5), 200 * MS, 10.0));
    }

    /// The detector sees the person again: a high detection matches the held track (same id)
    /// and ends the hold; a later hold starts a new, full `max_hold_seconds`.
    #[test]
    fn a_high_detection_ends_the_hold() {
        let (mut tr, _, _) = confirmed_person_high_05();
        tr.update(&[], 200 * MS);
        assert!(tr.hold(1, (LYING, 0.55), 200 * MS, 1.0));
        tr.update(&[], 600 * MS);
        assert!(tr.hold(1, (LYING, 0.55), 600 * MS, 1.0));
        let up = det(PERSON, 0.48, 0.62, 0.24, 0.08);
        let t = tr.update(&[up], 1_000 * MS);
        assert_eq!(ids(t), vec![1]);
        assert!(!t[0].held && !t[0].missed);
        tr.update(&[], 1_400 * MS);
        assert!(tr
            .lost()
            .all(|l| !l.held && l.was_held && l.last_box == up.bbox));
        assert!(tr.hold(1, (LYING, 0.55), 1_400 * MS, 1.0));
        tr.update(&[], 2_300 * MS);
        assert!(
            tr.hold(1, (LYING, 0.55), 2_300 * MS, 1.0),
            "0.9 s into the new hold"
        );
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
        // Confirmed track 1 is lost; tentative track 2 missed once and is gone.
        assert_eq!(ids(t), vec![1]);
        assert!(t[0].missed);
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
