//! `type = "abandoned_object"`: an object left in the rule's `field` zone, its owner gone.
//!
//! * **Candidates**, each analysed frame, inside the zone: the detector's boxes of `classes`
//!   (backpack, handbag, suitcase) scoring at least `min_score`, and the static foreground blobs
//!   of a dual background model over the zone ([`crate::scene::BackgroundModel`]). A blob mostly
//!   covered by a person box is that person (sitting, lying), never a candidate. Objects present
//!   while the rule arms (its first `arm_seconds`: bins, furniture) are never candidates; the
//!   background model learns them as background from its first frame.
//! * **Static**: a candidate that moves less than a quarter of its size for `static_seconds`.
//! * **Owner**: the person track closest to the object when it became static (within
//!   `owner_distance`); **companions**: persons then within `owner_distance` of the owner who were
//!   first seen within 3 s of the owner (they arrived together).
//! * **Alarm**: nobody of them within `owner_distance` of the object (metres when calibrated,
//!   otherwise body heights of that person) for `min_seconds` (default 60, 30..300).
//! * **Changes in the scene**: a global light change re-learns the background and drops the blob
//!   candidates without an alert; a crowd hiding a candidate freezes its clocks (the background's
//!   ages freeze too), and a candidate unseen for [`LOST_NS`] is forgotten.

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Length, Object};
use super::dwell::{ns_to_seconds, seconds_to_ns};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::group::ranges;
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;
use crate::detect::BBox;
use crate::scene::{BackgroundModel, BackgroundParams};

/// A candidate not seen for this long is forgotten.
pub const LOST_NS: u64 = 10_000_000_000;
/// Persons first seen this close in time to the owner arrived with them.
const TOGETHER_NS: u64 = 3_000_000_000;

fn default_min_seconds() -> f32 {
    60.0
}
fn default_static() -> f32 {
    3.0
}
fn default_owner_m() -> f32 {
    3.0
}
fn default_owner_bodies() -> f32 {
    2.0
}
fn default_arm() -> f32 {
    5.0
}
fn default_min_score() -> f32 {
    0.3
}
fn bags() -> Vec<String> {
    ["backpack", "handbag", "suitcase"]
        .map(String::from)
        .to_vec()
}
fn default_true() -> bool {
    true
}

/// `[[cameras.rules]]` with `type = "abandoned_object"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id (the field watched).
    pub field: String,
    /// Seconds unattended before the alarm (30..300).
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Seconds still before a candidate is an object left.
    #[serde(default = "default_static")]
    pub static_seconds: f32,
    /// Owner distance on a calibrated camera (m).
    #[serde(default = "default_owner_m")]
    pub owner_distance_m: f32,
    /// Owner distance otherwise, in body heights of the person.
    #[serde(default = "default_owner_bodies")]
    pub owner_distance_bodies: f32,
    /// Seconds after start during which objects in view are furniture.
    #[serde(default = "default_arm")]
    pub arm_seconds: f32,
    #[serde(default = "bags")]
    pub classes: Vec<String>,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Also static foreground blobs of the background model (objects the detector has no class
    /// for).
    #[serde(default = "default_true")]
    pub blobs: bool,
}

impl RuleSpec for Config {
    rule_identity!(EventType::AbandonedObject, zone: field);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.field"), &self.field);
        ranges(
            p,
            path,
            &[
                ("min_seconds", self.min_seconds, 30.0, 300.0),
                ("static_seconds", self.static_seconds, 1.0, 60.0),
                ("owner_distance_m", self.owner_distance_m, 0.5, 50.0),
                (
                    "owner_distance_bodies",
                    self.owner_distance_bodies,
                    0.5,
                    20.0,
                ),
                ("arm_seconds", self.arm_seconds, 0.0, 600.0),
            ],
        );
        p.fraction(format!("{path}.min_score"), self.min_score);
        cx.classes(p, &format!("{path}.classes"), &self.classes, !self.blobs);
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.field)?;
        Some(Box::new(Abandoned {
            classes: cx.class_ids(&self.classes),
            person: cx.class_ids(&["person".to_string()]).first().copied(),
            zone,
            background: None,
            start_ns: None,
            candidates: Vec::new(),
            config: self.clone(),
        }))
    }
}

/// Where a candidate was seen.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Detector(u16),
    Blob,
}

#[derive(Debug, Clone)]
struct Candidate {
    bbox: BBox,
    source: Source,
    /// Centre where it has been still since `still_ns`.
    anchor: (f32, f32),
    still_ns: u64,
    last_ns: u64,
    /// Seen while the rule armed: never alerted.
    furniture: bool,
    /// Set when it became static: owner and companions (track ids).
    people: Option<Vec<u64>>,
    unattended_ns: Option<u64>,
    alerted: bool,
}

/// The running rule.
pub struct Abandoned {
    config: Config,
    classes: Vec<u16>,
    person: Option<u16>,
    zone: usize,
    /// Built on the first frame (it needs the frame size); `None` without frames or blobs.
    background: Option<BackgroundModel>,
    start_ns: Option<u64>,
    candidates: Vec<Candidate>,
}

impl Rule for Abandoned {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::AbandonedObject
    }

    fn reset(&mut self) {
        self.background = None;
        self.start_ns = None;
        self.candidates.clear();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        let Some(zone) = cx.scene.zones.get(self.zone) else {
            return;
        };
        let t = cx.t_ns;
        let arming = t < *self.start_ns.get_or_insert(t) + seconds_to_ns(self.config.arm_seconds);
        let persons: Vec<&Object> = cx.confirmed(self.person).collect();
        let mut seen: Vec<(BBox, Source, Option<u64>)> = cx
            .detections
            .iter()
            .filter(|d| self.classes.contains(&d.class_id) && d.score >= self.config.min_score)
            .filter(|d| zone.contains_image_point(d.bbox.ground_point()))
            .map(|d| (d.bbox, Source::Detector(d.class_id), None))
            .collect();
        match self.blobs(cx, &persons) {
            Some(blobs) => seen.extend(blobs),
            // Light change: the blob candidates are gone from the model, without an alert.
            None => self.candidates.retain(|c| c.source != Source::Blob),
        }
        for (bbox, source, still_since) in seen {
            self.observe(t, bbox, source, still_since, arming);
        }
        self.candidates
            .retain(|c| t.saturating_sub(c.last_ns) <= LOST_NS);
        for k in 0..self.candidates.len() {
            if let Some(ev) = self.check(cx, k, &persons) {
                out.push(ev);
            }
        }
    }
}

impl Abandoned {
    /// Static blobs as (box, source, still since); `None` on a re-learning frame.
    fn blobs(
        &mut self,
        cx: &FrameContext<'_>,
        persons: &[&Object],
    ) -> Option<Vec<(BBox, Source, Option<u64>)>> {
        let (Some(frame), true) = (cx.frame, self.config.blobs) else {
            return Some(Vec::new());
        };
        if self.background.is_none() {
            let polygon = &cx.scene.zones[self.zone].polygon;
            let params = BackgroundParams {
                min_static_seconds: self.config.static_seconds,
                ..BackgroundParams::default()
            };
            self.background = BackgroundModel::new(polygon, frame.width, frame.height, params)
                .map_err(
                    |e| tracing::warn!(rule = %self.config.id, error = %e, "no background model"),
                )
                .ok();
        }
        let bg = self.background.as_mut()?;
        let update = bg
            .update(&frame.data, ns_to_seconds(cx.t_ns))
            .map_err(|e| tracing::warn!(rule = %self.config.id, error = %e, "background update"))
            .ok()?;
        if update.relearned && !self.candidates.is_empty() {
            return None;
        }
        Some(
            update
                .blobs
                .iter()
                .filter(|b| !persons.iter().any(|p| covered(b.bbox, p.bbox) > 0.6))
                .map(|b| {
                    let since = cx.t_ns.saturating_sub(seconds_to_ns(b.static_seconds));
                    (b.bbox, Source::Blob, Some(since))
                })
                .collect(),
        )
    }

    /// One sighting: updates the candidate it matches, or adds one.
    fn observe(&mut self, t: u64, bbox: BBox, source: Source, since: Option<u64>, arming: bool) {
        let c = centre(bbox);
        let found = self
            .candidates
            .iter_mut()
            .find(|k| k.bbox.iou(&bbox) > 0.3 || dist(centre(k.bbox), c) < size(k.bbox) * 0.5);
        match found {
            Some(k) => {
                if dist(k.anchor, c) > size(k.bbox) * 0.25 {
                    // Moved: still again from now, owner picked again.
                    (k.anchor, k.still_ns, k.people, k.unattended_ns) = (c, t, None, None);
                }
                if let (Source::Blob, Some(s)) = (k.source, since) {
                    k.still_ns = k.still_ns.min(s);
                }
                if matches!(source, Source::Detector(_)) {
                    k.source = source;
                }
                k.bbox = bbox;
                k.last_ns = t;
                k.furniture |= arming;
            }
            None => self.candidates.push(Candidate {
                bbox,
                source,
                anchor: c,
                still_ns: since.unwrap_or(t).min(t),
                last_ns: t,
                furniture: arming,
                people: None,
                unattended_ns: None,
                alerted: false,
            }),
        }
    }

    /// Owner logic of candidate `k`; the event when its alarm fires now.
    fn check(&mut self, cx: &FrameContext<'_>, k: usize, persons: &[&Object]) -> Option<Event> {
        let c = &self.config;
        let (t, len) = (cx.t_ns, self.owner_length());
        let cand = &mut self.candidates[k];
        let static_ns = seconds_to_ns(c.static_seconds);
        if cand.furniture || cand.last_ns != t || t < cand.still_ns + static_ns {
            return None;
        }
        let spot = cx.scene.to_plane(cand.bbox.ground_point())?;
        let near = |o: &Object| {
            o.plane
                .is_some_and(|g| dist(g.position, spot) <= cx.length(o, len))
        };
        let people = cand
            .people
            .get_or_insert_with(|| owners(cx, persons, spot, len));
        let attended = persons
            .iter()
            .any(|o| !o.missed && people.contains(&o.track_id) && near(o));
        if attended {
            cand.unattended_ns = None;
            return None;
        }
        let since = *cand.unattended_ns.get_or_insert(t);
        let alone = ns_to_seconds(t - since);
        if cand.alerted || alone < f64::from(c.min_seconds) {
            return None;
        }
        cand.alerted = true;
        let cand = cand.clone();
        Some(self.event(cx, &cand, alone))
    }

    fn owner_length(&self) -> Length {
        Length {
            metres: self.config.owner_distance_m,
            bodies: self.config.owner_distance_bodies,
        }
    }

    fn event(&self, cx: &FrameContext<'_>, cand: &Candidate, alone: f64) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let (what, class_id) = match cand.source {
            Source::Detector(id) => (format!("a {} (detector)", cx.label(id)), id),
            Source::Blob => (
                "a still new object (background model)".to_string(),
                u16::MAX,
            ),
        };
        let owner = match cand.people.as_deref() {
            Some([owner, rest @ ..]) => format!(
                "its owner (track {owner}{}) is farther than {}",
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" and {} companion(s)", rest.len())
                },
                self.distance_text(cx)
            ),
            _ => "nobody was near it when it was left".to_string(),
        };
        let still = ns_to_seconds(cx.t_ns.saturating_sub(cand.still_ns));
        let explanation = format!(
            "Abandoned object rule '{}': in zone '{}' ({}), {what} has been still for {still:.0} \
             s; {owner} for {alone:.0} s (threshold {:.0} s).",
            c.id, zone.name, zone.id, c.min_seconds
        );
        Event {
            zone_id: Some(zone.id.clone()),
            objects: vec![EventObject {
                track_id: None,
                class_id,
                score: 1.0,
                bbox: cand.bbox,
            }],
            overlay: Overlay::polygon(&zone.polygon),
            measurements: vec![
                Measurement::new("unattended", alone, Some(f64::from(c.min_seconds)), "s"),
                Measurement::new("still", still, Some(f64::from(c.static_seconds)), "s"),
            ],
            ..Event::new(&c.id, EventType::AbandonedObject, cx.t_ns, explanation)
        }
    }

    fn distance_text(&self, cx: &FrameContext<'_>) -> String {
        if cx.calibrated {
            format!("{:.1} m", self.config.owner_distance_m)
        } else {
            format!("{:.1} body heights", self.config.owner_distance_bodies)
        }
    }
}

/// The owner (closest person within `len` of `spot`) first, then the persons near the owner
/// who were first seen within [`TOGETHER_NS`] of them.
fn owners(cx: &FrameContext<'_>, persons: &[&Object], spot: (f32, f32), len: Length) -> Vec<u64> {
    let at = |o: &Object| o.plane.map(|g| g.position);
    let Some(owner) = persons
        .iter()
        .filter(|o| at(o).is_some_and(|p| dist(p, spot) <= cx.length(o, len)))
        .min_by(|a, b| {
            let d = |o: &Object| at(o).map_or(f32::INFINITY, |p| dist(p, spot));
            d(a).total_cmp(&d(b))
        })
    else {
        return Vec::new();
    };
    let home = at(owner).unwrap_or(spot);
    let mut ids = vec![owner.track_id];
    ids.extend(
        persons
            .iter()
            .filter(|o| o.track_id != owner.track_id)
            .filter(|o| o.first_seen_ns.abs_diff(owner.first_seen_ns) <= TOGETHER_NS)
            .filter(|o| at(o).is_some_and(|p| dist(p, home) <= cx.length(o, len)))
            .map(|o| o.track_id),
    );
    ids
}

/// Fraction of `a`'s area inside `b`.
fn covered(a: BBox, b: BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    if a.area() > 0.0 {
        w * h / a.area()
    } else {
        0.0
    }
}

fn centre(b: BBox) -> (f32, f32) {
    ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5)
}

fn size(b: BBox) -> f32 {
    b.width().max(b.height()).max(1e-6)
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

#[cfg(test)]
mod tests;
