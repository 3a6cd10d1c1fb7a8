//! Where someone was already lying: a camera's short memory of lying-shaped person observations
//! (detections wider than tall, at any score the tracker sees, and the boxes of held tracks).
//!
//! The lying search ([`super::pose`]) holds a lost track on a lying pose found beside where it
//! was lost. When someone already lay there (a person asleep on the ground) and a walker's
//! track is lost right beside them, that pose is the sleeper's, not the walker's: held, the
//! walker's upright readings followed by the lying ones would read as a fall. So a lying pose
//! is refused for a track when a lying-shaped observation overlapping it was seen more than
//! [`BEFORE_NS`] before that track's last high detection (the person lay there while the track
//! was still seen upright elsewhere). A person who falls lies only after their last upright
//! detection: their own lying observations come after it.

use std::collections::VecDeque;

use crate::detect::{BBox, Detection};

/// How long a lying observation is remembered.
const KEEP_NS: u64 = 30_000_000_000;
/// A lying observation this long before a track's last high detection was someone else's (a
/// body going down is detected lying-shaped for a moment before its last upright detection).
pub(super) const BEFORE_NS: u64 = 2_000_000_000;
/// Most observations kept (a crowd of wide boxes cannot grow it without bound).
const MAX_SEEN: usize = 512;
/// Overlap (IoU) from which a remembered observation is the same place.
const SAME_PLACE_IOU: f32 = 0.3;
/// A weak lying pose found for a lost track starts a hold only with an earlier one for the same
/// track, this recent, at the same place ([`LyingMemory::agrees`]): about five pose frames at
/// 2.5/s.
const AGREE_NS: u64 = 2_000_000_000;
/// Most weak readings kept.
const MAX_WEAK: usize = 64;

/// A camera's lying observations of the last [`KEEP_NS`], and the weak lying poses found for
/// lost tracks in the last [`AGREE_NS`].
#[derive(Debug, Default)]
pub(super) struct LyingMemory {
    seen: VecDeque<(u64, BBox)>,
    /// (track id, time, pose box).
    weak: VecDeque<(u64, u64, BBox)>,
}

impl LyingMemory {
    /// Remembers this frame's lying-shaped person detections (`aspect`: displayed width /
    /// height); forgets what is older than [`KEEP_NS`], everything when time went back.
    pub fn observe(
        &mut self,
        t_ns: u64,
        detections: &[Detection],
        person: Option<u16>,
        aspect: f32,
    ) {
        if self.seen.back().is_some_and(|&(t, _)| t > t_ns) {
            self.seen.clear();
        }
        while self.seen.front().is_some_and(|&(t, _)| t + KEEP_NS < t_ns) {
            self.seen.pop_front();
        }
        let lying = detections
            .iter()
            .filter(|d| Some(d.class_id) == person && super::pose::wide(d.bbox, aspect));
        for d in lying {
            self.remember(t_ns, d.bbox);
        }
    }

    /// Remembers a held track's lying box.
    pub fn remember(&mut self, t_ns: u64, bbox: BBox) {
        if self.seen.len() >= MAX_SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back((t_ns, bbox));
    }

    /// Whether a weak lying pose found for lost track `id` at `t_ns` in `bbox` agrees with one
    /// found for the same track less than [`AGREE_NS`] before, at the same place: a person
    /// lying there reads the same way twice, a passing pattern on the ground rarely does. The
    /// reading is remembered for the next one. Returns when the earliest agreeing one was read.
    pub fn agrees(&mut self, id: u64, t_ns: u64, bbox: BBox) -> Option<u64> {
        self.weak
            .retain(|&(_, t, _)| t < t_ns && t_ns - t < AGREE_NS);
        let agrees = self
            .weak
            .iter()
            .find(|&&(i, _, b)| i == id && b.iou(&bbox) >= SAME_PLACE_IOU)
            .map(|&(_, t, _)| t);
        if self.weak.len() >= MAX_WEAK {
            self.weak.pop_front();
        }
        self.weak.push_back((id, t_ns, bbox));
        agrees
    }

    /// Whether someone lay where `bbox` is before `t_ns`.
    pub fn lying_before(&self, bbox: BBox, t_ns: u64) -> bool {
        self.seen
            .iter()
            .take_while(|&&(t, _)| t < t_ns)
            .any(|(_, b)| b.iou(&bbox) >= SAME_PLACE_IOU)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const LYING: BBox = BBox {
        x1: 0.6,
        y1: 0.48,
        x2: 0.75,
        y2: 0.53,
    };

    fn det(bbox: BBox, class_id: u16) -> Detection {
        Detection {
            class_id,
            score: 0.15,
            bbox,
        }
    }

    #[test]
    fn a_lying_box_seen_before_is_remembered_for_a_while() {
        let mut m = LyingMemory::default();
        let standing = BBox::new(0.5, 0.3, 0.55, 0.5);
        let bag = det(LYING, 24);
        m.observe(
            2 * S,
            &[det(LYING, 0), det(standing, 0), bag],
            Some(0),
            4.0 / 3.0,
        );
        assert!(m.lying_before(LYING, 3 * S));
        assert!(!m.lying_before(LYING, 2 * S), "not before it was seen");
        assert!(
            !m.lying_before(standing, 3 * S),
            "an upright box is not lying"
        );
        let elsewhere = BBox::new(0.1, 0.48, 0.25, 0.53);
        assert!(!m.lying_before(elsewhere, 3 * S));
        // Forgotten after KEEP_NS; everything when time goes back (a file looping).
        m.observe(40 * S, &[], Some(0), 4.0 / 3.0);
        assert!(!m.lying_before(LYING, 41 * S));
        m.observe(41 * S, &[det(LYING, 0)], Some(0), 4.0 / 3.0);
        m.observe(S, &[], Some(0), 4.0 / 3.0);
        assert!(!m.lying_before(LYING, 2 * S));
    }

    /// Two weak lying readings of the same lost track, close in time and place, agree; another
    /// track's, another place's, or one too old do not.
    #[test]
    fn weak_readings_agree_only_twice_for_the_same_track_and_place() {
        let mut m = LyingMemory::default();
        assert!(m.agrees(9, S, LYING).is_none(), "a first reading alone");
        assert!(m.agrees(4, S + S / 2, LYING).is_none(), "another track's");
        let elsewhere = BBox::new(0.1, 0.48, 0.25, 0.53);
        assert!(m.agrees(9, S + S / 2, elsewhere).is_none(), "another place");
        assert_eq!(m.agrees(9, 2 * S, LYING), Some(S), "since the first one");
        assert!(m.agrees(9, 10 * S, LYING).is_none(), "too long after");
        assert!(m.agrees(9, S, LYING).is_none(), "time went back");
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut m = LyingMemory::default();
        for k in 0..2 * MAX_SEEN as u64 {
            m.observe(k * 1_000_000, &[det(LYING, 0)], Some(0), 1.0);
        }
        assert_eq!(m.seen.len(), MAX_SEEN);
        for k in 0..2 * MAX_WEAK as u64 {
            m.agrees(k, k, LYING);
        }
        assert_eq!(m.weak.len(), MAX_WEAK);
    }
}
