//! `type = "person_on_ground"`: a person who fell and stays on the ground (décret 2023-828).
//!
//! Needs poses: the camera runs the pose model (`model`, MoveNet MultiPose) at most `pose_fps`
//! times per second, only on frames with persons ([`super::Needs`]). Per person track:
//! * **Posture** on each frame with a pose for the track ([`crate::detect::posture::classify`]):
//!   lying when the torso is more than `lying_deg` from vertical, or, with weak keypoints, when the
//!   box is wider than tall. Between pose frames the last pose's posture holds for
//!   [`POSE_MEMORY_NS`]; after that (or with no pose at all: beyond the model's 6 people) the box
//!   shape decides.
//! * **Fall**: between two pose readings at most `fall_seconds` apart, the torso turned by at
//!   least `turn_deg` towards horizontal, or the hips dropped by at least `hip_drop` body heights
//!   (the box height of the earlier reading). Or, with no confident keypoints while upright,
//!   the detector saw the person clearly upright (display width / height at most
//!   [`CLEARLY_UPRIGHT`], score at least [`UPRIGHT_BOX_SCORE`]) at most `fall_seconds` before
//!   a lying torso from confident keypoints: the box shape decides the posture when the
//!   keypoints are weak, both ways ([`fall_from_box`]; a far person the whole-frame pose does
//!   not see).
//! * **Lying down**: lying without a break longer than [`GRACE_NS`], its box centre staying
//!   within `max_movement` body lengths (the box's longer side) of where it lay down; moving
//!   farther restarts the count there.
//! * **Alert**: lying for `min_seconds` after a fall (the fall at most `2 × fall_seconds` before
//!   the lying began, or during its first `fall_seconds`). Someone lying down without a fall
//!   (sleeping on a bench, a picnic) is not alerted unless `require_fall = false`. One alert per
//!   lying episode; getting up ends the episode and forgets the fall.
//!
//! Angles are in the image (see [`crate::detect::posture`]): on a camera looking steeply down,
//! upright people far from the centre look tilted; `lying_deg` is an image threshold.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Object, Pose};
use super::dwell::{ns_to_seconds, seconds_to_ns, PerTrack};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::group::ranges;
use super::{rule_identity, CameraBuild, CameraCheck, Needs, PoseNeed, Rule, RuleSpec};
use crate::check::Problems;
use crate::detect::posture::{
    classify, hip_point, torso, turn_deg, width_over_height, Basis, Posture, PostureParams,
};

/// How long the posture read from a pose holds on frames without one.
pub const POSE_MEMORY_NS: u64 = 1_500_000_000;
/// A lying run survives readings of "not lying" shorter than this (one misread pose).
pub const GRACE_NS: u64 = 1_000_000_000;
/// A box at most this wide for its height (display units) is clearly upright: a person
/// standing or walking (about 0.3-0.5), not one sitting, crouching or half down.
pub const CLEARLY_UPRIGHT: f32 = 0.5;
/// Detection score from which a clearly upright box stands in for a torso the keypoints do not
/// show (the detector, not a guess of the tracker, saw an upright person).
pub const UPRIGHT_BOX_SCORE: f32 = 0.5;

fn default_min_seconds() -> f32 {
    10.0
}
fn default_true() -> bool {
    true
}
fn default_fall_seconds() -> f32 {
    1.5
}
fn default_turn() -> f32 {
    60.0
}
fn default_hip_drop() -> f32 {
    0.3
}
fn default_lying() -> f32 {
    60.0
}
fn default_movement() -> f32 {
    0.5
}
fn default_min_score() -> f32 {
    0.3
}
fn default_pose_fps() -> f32 {
    2.5
}
fn default_model() -> String {
    "movenet-multipose".to_string()
}

/// `[[cameras.rules]]` with `type = "person_on_ground"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera (the person's feet inside); none: the whole image.
    #[serde(default)]
    pub zone: Option<String>,
    /// Seconds lying, after a fall, before the alert.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Alert only after a fall (default); `false`: anyone lying `min_seconds`.
    #[serde(default = "default_true")]
    pub require_fall: bool,
    /// Window of a fall (s): the turn or the drop happens within it.
    #[serde(default = "default_fall_seconds")]
    pub fall_seconds: f32,
    /// Torso turn of a fall (degrees).
    #[serde(default = "default_turn")]
    pub turn_deg: f32,
    /// Hip drop of a fall, in body heights (the earlier box height).
    #[serde(default = "default_hip_drop")]
    pub hip_drop: f32,
    /// Lying: torso more than this from vertical (degrees, in the image).
    #[serde(default = "default_lying")]
    pub lying_deg: f32,
    /// Little movement: the box centre stays within this many body lengths while lying.
    #[serde(default = "default_movement")]
    pub max_movement: f32,
    /// Person tracks below this detection score are not looked at.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Pose readings per second (the pose model's rate on this camera).
    #[serde(default = "default_pose_fps")]
    pub pose_fps: f32,
    /// Pose model, by its manifest name.
    #[serde(default = "default_model")]
    pub model: String,
}

impl RuleSpec for Config {
    rule_identity!(EventType::PersonOnGround, optional_zone: zone);

    fn needs(&self) -> Needs {
        Needs {
            poses: Some(PoseNeed {
                model: self.model.clone(),
                fps: self.pose_fps,
                // Lying `min_seconds`, the fall up to `2 × fall_seconds` before: long enough
                // to decide on a person the detector no longer sees, no longer.
                hold_lying_seconds: self.min_seconds + 2.0 * self.fall_seconds,
            }),
            ..Needs::default()
        }
    }

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        if let Some(z) = &self.zone {
            cx.zone(p, format!("{path}.zone"), z);
        }
        ranges(
            p,
            path,
            &[
                ("min_seconds", self.min_seconds, 1.0, 3600.0),
                ("fall_seconds", self.fall_seconds, 0.2, 5.0),
                ("turn_deg", self.turn_deg, 20.0, 180.0),
                ("hip_drop", self.hip_drop, 0.05, 2.0),
                ("lying_deg", self.lying_deg, 30.0, 89.0),
                ("max_movement", self.max_movement, 0.0, 10.0),
                ("pose_fps", self.pose_fps, 0.5, 30.0),
            ],
        );
        p.fraction(format!("{path}.min_score"), self.min_score);
        if self.pose_fps * self.fall_seconds < 2.0 {
            p.push(
                format!("{path}.pose_fps"),
                format!(
                    "{} poses/s see fewer than 2 readings in fall_seconds = {}: a fall cannot \
                     be measured",
                    self.pose_fps, self.fall_seconds
                ),
            );
        }
        cx.pose_model(p, &format!("{path}.model"), &self.model);
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = match &self.zone {
            Some(z) => Some(cx.zone(&self.id, z)?),
            None => None,
        };
        Some(Box::new(PersonOnGround {
            person: cx.class_ids(&["person".to_string()]).first().copied(),
            zone,
            params: PostureParams {
                lying_torso_deg: self.lying_deg,
                ..PostureParams::default()
            },
            tracks: PerTrack::default(),
            config: self.clone(),
        }))
    }
}

/// One pose reading of a track.
#[derive(Debug, Clone, Copy)]
struct Reading {
    t_ns: u64,
    posture: Posture,
    /// Box height at the reading (the body height of a hip drop).
    body: f32,
    /// The box taller than wide (display units): a body a fall can start from. A pose read on
    /// a lying box may come out upright (pose models lean towards upright bodies); such a
    /// reading is not the start of a fall.
    upright_box: bool,
}

/// What made a fall.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FallKind {
    Turn {
        deg: f32,
    },
    HipDrop {
        bodies: f32,
    },
    /// A turn from a clearly upright detector box (no keypoints read then) to a lying torso
    /// ([`fall_from_box`]).
    BoxTurn {
        deg: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Fall {
    t_ns: u64,
    /// Seconds between the two readings.
    over_s: f64,
    kind: FallKind,
}

/// A run of lying readings.
#[derive(Debug, Clone, Copy)]
struct Lying {
    since_ns: u64,
    /// Box centre (display units) where it began.
    at: (f32, f32),
    /// Last "lying" reading.
    last_ns: u64,
    fall: Option<Fall>,
    alerted: bool,
}

#[derive(Debug, Default)]
struct TrackState {
    /// Pose readings within the fall window.
    readings: VecDeque<Reading>,
    fall: Option<Fall>,
    lying: Option<Lying>,
    /// Last frame the detector saw this person clearly upright while no confident keypoints
    /// were read: a far person the pose does not see, and also any person on the frames
    /// between pose frames ([`fall_from_box`]).
    upright_ns: Option<u64>,
}

/// The running rule.
pub struct PersonOnGround {
    config: Config,
    person: Option<u16>,
    zone: Option<usize>,
    params: PostureParams,
    tracks: PerTrack<TrackState>,
}

impl Rule for PersonOnGround {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::PersonOnGround
    }

    fn reset(&mut self) {
        self.tracks.clear();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        self.tracks.begin();
        for o in cx.objects {
            if Some(o.class_id) != self.person || !o.is_evidence(self.config.min_score) {
                // Keep the state of a person briefly missed (a fallen person is hard to see).
                self.tracks.get_mut(o.track_id);
                continue;
            }
            if let Some(z) = self.zone.and_then(|z| cx.scene.zones.get(z)) {
                if !z.contains_image_point(o.foot) {
                    continue;
                }
            }
            let pose = cx.poses.iter().find(|p| p.track_id == Some(o.track_id));
            if let Some(ev) = self.observe(cx, o, pose) {
                out.push(ev);
            }
        }
        self.tracks.sweep();
    }
}

impl PersonOnGround {
    /// One frame of one person; the event if it fires now.
    fn observe(&mut self, cx: &FrameContext<'_>, o: &Object, pose: Option<&Pose>) -> Option<Event> {
        let c = &self.config;
        let (aspect, t) = (cx.scene.aspect(), cx.t_ns);
        let fall_ns = seconds_to_ns(c.fall_seconds);
        let params = self.params;
        let st = self.tracks.entry(o.track_id, TrackState::default);
        if pose.is_none() && !cx.poses.is_empty() {
            tracing::debug!(
                track = o.track_id,
                t_ns = t,
                det = o.score,
                w_over_h = width_over_height(o.bbox, aspect),
                "no pose for the track on a pose frame"
            );
        }
        let posture = match pose {
            Some(p) => {
                let reading = Reading {
                    t_ns: t,
                    posture: classify(Some(&p.pose), o.bbox, aspect, &params),
                    body: o.bbox.height(),
                    upright_box: width_over_height(o.bbox, aspect) < 1.0,
                };
                log_reading(o, p, &reading, aspect);
                let box_fall = fall_from_box(st.upright_ns, &reading, p, c);
                if let Some(f) =
                    detect_fall(&st.readings, &reading, &p.pose, c, aspect).or(box_fall)
                {
                    tracing::debug!(track = o.track_id, t_ns = t, fall = ?f, "fall");
                    st.fall = Some(f);
                    if let Some(l) = st.lying.as_mut().filter(|l| f.t_ns <= l.since_ns + fall_ns) {
                        l.fall.get_or_insert(f);
                    }
                }
                st.readings.push_back(reading);
                while st.readings.front().is_some_and(|r| r.t_ns + fall_ns < t) {
                    st.readings.pop_front();
                }
                reading.posture
            }
            None => match st.readings.back() {
                Some(r) if t.saturating_sub(r.t_ns) <= POSE_MEMORY_NS && r.t_ns <= t => r.posture,
                _ => classify(None, o.bbox, aspect, &params),
            },
        };
        let torso_read = pose.is_some_and(|p| p.pose.score >= params.weak_pose_score);
        if !torso_read && o.score >= UPRIGHT_BOX_SCORE && clearly_upright(o, aspect) {
            st.upright_ns = Some(t);
        }
        let centre = centre(o, aspect);
        if posture.lying {
            let recent = st.fall.filter(|f| f.t_ns + 2 * fall_ns >= t);
            let l = st.lying.get_or_insert(Lying {
                since_ns: t,
                at: centre,
                last_ns: t,
                fall: recent,
                alerted: false,
            });
            l.last_ns = t;
            let moved = dist(l.at, centre) / body_length(o, aspect);
            if moved > c.max_movement {
                // Moving on the ground: the count restarts here, the fall is kept.
                (l.since_ns, l.at) = (t, centre);
            }
        } else if st
            .lying
            .is_some_and(|l| t.saturating_sub(l.last_ns) > GRACE_NS)
        {
            // Up again: the episode and its fall are over.
            st.lying = None;
            st.fall = None;
        }
        let l = st.lying.as_mut()?;
        let held = ns_to_seconds(t.saturating_sub(l.since_ns));
        if l.alerted || held < f64::from(c.min_seconds) || (c.require_fall && l.fall.is_none()) {
            return None;
        }
        l.alerted = true;
        let (l, moved) = (*l, dist(l.at, centre) / body_length(o, aspect));
        Some(self.event(cx, o, &posture, l, held, moved))
    }

    fn event(
        &self,
        cx: &FrameContext<'_>,
        o: &Object,
        posture: &Posture,
        l: Lying,
        held: f64,
        moved: f32,
    ) -> Event {
        let c = &self.config;
        let fall = match l.fall {
            Some(f) => format!(
                "fell {:.1} s before ({}), then ",
                ns_to_seconds(cx.t_ns.saturating_sub(f.t_ns)),
                explain_fall(&f)
            ),
            None => "no fall seen (require_fall = false); ".to_string(),
        };
        let explanation = format!(
            "Person on the ground rule '{}': person track {} {fall}lying for {held:.1} s \
             (threshold {:.0} s), {}, moved {moved:.2} body lengths (at most {:.2}). Posture \
             from pose keypoints read {:.1} times per second; lying = torso more than {:.0}° \
             from vertical in the image, or the box wider than tall when keypoints are weak.",
            c.id,
            o.track_id,
            c.min_seconds,
            posture.explain(),
            c.max_movement,
            c.pose_fps,
            c.lying_deg,
        );
        let mut measurements = vec![
            Measurement::new("lying", held, Some(f64::from(c.min_seconds)), "s"),
            Measurement::new(
                "movement",
                f64::from(moved),
                Some(f64::from(c.max_movement)),
                "body",
            ),
        ];
        match posture.basis {
            Basis::Torso { tilt_deg } => measurements.push(Measurement::new(
                "torso_tilt",
                f64::from(tilt_deg),
                Some(f64::from(c.lying_deg)),
                "deg",
            )),
            Basis::BoxShape { width_over_height } => measurements.push(Measurement::new(
                "box_width_over_height",
                f64::from(width_over_height),
                Some(f64::from(self.params.wide_ratio)),
                "ratio",
            )),
        }
        if let Some(f) = l.fall {
            measurements.push(match f.kind {
                FallKind::Turn { deg } | FallKind::BoxTurn { deg } => Measurement::new(
                    "fall_turn",
                    f64::from(deg),
                    Some(f64::from(c.turn_deg)),
                    "deg",
                ),
                FallKind::HipDrop { bodies } => Measurement::new(
                    "fall_hip_drop",
                    f64::from(bodies),
                    Some(f64::from(c.hip_drop)),
                    "body",
                ),
            });
            measurements.push(Measurement::new(
                "fall_within",
                f.over_s,
                Some(f64::from(c.fall_seconds)),
                "s",
            ));
        }
        let zone = self.zone.and_then(|z| cx.scene.zones.get(z));
        Event {
            zone_id: zone.map(|z| z.id.clone()),
            objects: vec![EventObject {
                track_id: Some(o.track_id),
                class_id: o.class_id,
                score: o.score,
                bbox: o.bbox,
            }],
            confidence: o.score,
            people: Some(1),
            overlay: zone.map_or_else(Overlay::none, |z| Overlay::polygon(&z.polygon)),
            measurements,
            ..Event::new(&c.id, EventType::PersonOnGround, cx.t_ns, explanation)
        }
    }
}

/// A fall between an earlier reading (within `fall_seconds`, its box taller than wide) and
/// `now`: the torso turned by at least `turn_deg` towards horizontal, or the hips dropped by
/// `hip_drop` body heights. The largest turn wins, then the largest drop.
fn detect_fall(
    earlier: &VecDeque<Reading>,
    now: &Reading,
    pose: &crate::detect::Pose,
    c: &Config,
    aspect: f32,
) -> Option<Fall> {
    let fall_ns = seconds_to_ns(c.fall_seconds);
    let min = PostureParams::default().min_keypoint_score;
    let torso_now = torso(pose, aspect, min);
    let hips_now = hip_point(pose, min);
    let window = earlier
        .iter()
        .filter(|r| r.t_ns < now.t_ns && now.t_ns - r.t_ns <= fall_ns && r.upright_box);
    let mut best: Option<Fall> = None;
    for r in window {
        let over_s = ns_to_seconds(now.t_ns - r.t_ns);
        let turn = match (r.posture.torso, torso_now) {
            (Some(a), Some(b)) if b.tilt_deg >= a.tilt_deg => turn_deg(&a, &b),
            _ => 0.0,
        };
        let drop = match (r.posture.hips, hips_now) {
            (Some(a), Some(b)) if r.body > 0.0 => (b.1 - a.1) / r.body,
            _ => 0.0,
        };
        let candidate = if turn >= c.turn_deg {
            Fall {
                t_ns: now.t_ns,
                over_s,
                kind: FallKind::Turn { deg: turn },
            }
        } else if drop >= c.hip_drop {
            Fall {
                t_ns: now.t_ns,
                over_s,
                kind: FallKind::HipDrop { bodies: drop },
            }
        } else {
            continue;
        };
        best = Some(match best {
            Some(b) if rank(&b) >= rank(&candidate) => b,
            _ => candidate,
        });
    }
    best
}

/// One pose reading of a track, at debug level (what a fall is measured from).
fn log_reading(o: &Object, p: &Pose, r: &Reading, aspect: f32) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let torso = r
        .posture
        .torso
        .map(|t| (t.tilt_deg.round(), t.heading_deg.round()));
    tracing::debug!(
        track = o.track_id,
        t_ns = r.t_ns,
        det = o.score,
        pose = p.pose.score,
        rotated = p.rotated,
        w_over_h = width_over_height(o.bbox, aspect),
        basis = ?r.posture.basis,
        lying = r.posture.lying,
        ?torso,
        "pose reading"
    );
}

/// A fall from the box, for a person whose keypoints were not read while upright (a far
/// person the whole-frame pose does not see): the detector saw them clearly upright at
/// `upright_ns` (box at most [`CLEARLY_UPRIGHT`] wide for its height, score at least
/// [`UPRIGHT_BOX_SCORE`]), and `now` reads them lying from confident keypoints at most
/// `fall_seconds` later; the box stands for a vertical torso, as the box shape decides lying
/// when the keypoints are weak. For a pose that continues a lost track on two agreeing
/// readings, the lying was read at the first of them (`lying_since_ns`).
fn fall_from_box(upright_ns: Option<u64>, now: &Reading, p: &Pose, c: &Config) -> Option<Fall> {
    let (up, torso) = (upright_ns?, now.posture.torso?);
    if !(now.posture.lying && matches!(now.posture.basis, Basis::Torso { .. })) {
        return None;
    }
    let read = p.lying_since_ns.unwrap_or(now.t_ns).min(now.t_ns);
    // Turned from upright (heading 0): the heading's size, 0..=180 (as `turn_deg` from 0).
    let turn = torso.heading_deg.abs();
    let within = read > up && read - up <= seconds_to_ns(c.fall_seconds);
    (within && turn >= c.turn_deg).then(|| Fall {
        t_ns: now.t_ns,
        over_s: ns_to_seconds(read - up),
        kind: FallKind::BoxTurn { deg: turn },
    })
}

/// Display width / height at most [`CLEARLY_UPRIGHT`].
fn clearly_upright(o: &Object, aspect: f32) -> bool {
    let r = width_over_height(o.bbox, aspect);
    r > 0.0 && r <= CLEARLY_UPRIGHT
}

/// Turns before drops, larger first.
fn rank(f: &Fall) -> (u8, f32) {
    match f.kind {
        FallKind::Turn { deg } | FallKind::BoxTurn { deg } => (1, deg),
        FallKind::HipDrop { bodies } => (0, bodies),
    }
}

fn explain_fall(f: &Fall) -> String {
    match f.kind {
        FallKind::Turn { deg } => format!("torso turned {deg:.0}° in {:.1} s", f.over_s),
        FallKind::BoxTurn { deg } => format!(
            "seen clearly upright by the detector (box, no keypoints), then torso {deg:.0}° from \
             vertical {:.1} s later",
            f.over_s
        ),
        FallKind::HipDrop { bodies } => {
            format!("hips dropped {bodies:.2} body heights in {:.1} s", f.over_s)
        }
    }
}

/// Box centre in display units (x scaled by the aspect).
fn centre(o: &Object, aspect: f32) -> (f32, f32) {
    let b = o.bbox;
    ((b.x1 + b.x2) * 0.5 * aspect, (b.y1 + b.y2) * 0.5)
}

/// The box's longer side in display units: the body's length standing or lying.
fn body_length(o: &Object, aspect: f32) -> f32 {
    (o.bbox.width() * aspect).max(o.bbox.height()).max(1e-6)
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

#[cfg(test)]
mod tests;
