//! `type = "wrong_way"`: a tracked object moves through a zone against its allowed direction
//! (a one-way path, a lane, an exit-only doorway).
//!
//! A track *counts* on a frame when it is evidence ([`Object::is_evidence`]), of one of `classes`,
//! with its ground point inside the zone, and it is not *exempt*: seen moving together with an
//! object of `exempt_classes` (a person riding a bicycle: overlapping boxes moving alike), which
//! exempts the track for as long as it lives.
//!
//! * **Heading**: the track's mean velocity over the last second, in the rule plane
//!   ([`super::motion`]). A heading at least `angle_degrees` from the allowed direction starts (or
//!   continues) a *backward run*, anchored where that second began; any other heading ends it; a
//!   track standing still (below 0.15 body heights or 0.3 m per second) or with less than 0.4 s
//!   of history neither starts nor ends one.
//! * **Firing**: once the run has gone at least `min_distance_m` (calibrated) or
//!   `min_distance_body` body heights (uncalibrated) against the allowed direction, over at least
//!   `min_seconds`, with the run's overall displacement still at least `angle_degrees` from it.
//! * **One alert per passage**: an alerted track's incident stays open while it keeps going
//!   against the direction and for `incident_seconds` after it last did (stepping out of the zone
//!   and back, or pausing, within that time continues it; after it, a new backward run of the same
//!   track is a new alert). A track whose run passes the thresholds within 1 body height (2 m
//!   calibrated) of where an open incident's track was seen going back, at most 2 s before (a
//!   companion walking beside it, or the same person under a new track id), joins that incident
//!   instead of raising an alert.
//! * The allowed direction is `direction` (an image vector, x right, y down, mapped to the plane
//!   at the object's position, so it follows the perspective on a calibrated camera) or
//!   `ground_direction` (a vector on the ground, calibrated cameras only).

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Length, Object, Scene};
use super::dwell::{ns_to_seconds, seconds_to_ns, PerTrack};
use super::event::{Arrow, Event, EventType, Measurement, Overlay};
use super::group::{default_min_score, event_objects, persons, ranges};
use super::incident::new_incident;
use super::motion::{
    angle_degrees, dot, image_direction, norm, plane_direction, unit, vertex_centroid, Sample,
    Trail,
};
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;
use crate::detect::BBox;

fn default_angle() -> f32 {
    135.0
}
fn default_min_distance_m() -> f32 {
    2.0
}
fn default_min_distance_body() -> f32 {
    1.0
}
fn default_min_seconds() -> f32 {
    1.0
}
fn default_incident_seconds() -> f32 {
    10.0
}

/// `[[cameras.rules]]` with `type = "wrong_way"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera.
    pub zone: String,
    /// Allowed direction as an image vector (x right, y down).
    #[serde(default)]
    pub direction: Option<[f32; 2]>,
    /// Allowed direction on the ground (calibration axes); needs a calibrated camera.
    #[serde(default)]
    pub ground_direction: Option<[f32; 2]>,
    /// Motion at least this far (degrees) from the allowed direction counts as against it.
    #[serde(default = "default_angle")]
    pub angle_degrees: f32,
    /// Distance against the direction before an alert, calibrated cameras (m).
    #[serde(default = "default_min_distance_m")]
    pub min_distance_m: f32,
    /// The same, uncalibrated cameras (body heights of the object).
    #[serde(default = "default_min_distance_body")]
    pub min_distance_body: f32,
    /// Duration of the backward run before an alert (s).
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Model labels that count.
    #[serde(default = "persons")]
    pub classes: Vec<String>,
    /// Model labels whose presence with an object exempts it (e.g. `bicycle`).
    #[serde(default)]
    pub exempt_classes: Vec<String>,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// How long an alerted passage stays one incident after it last went against the direction (s).
    #[serde(default = "default_incident_seconds")]
    pub incident_seconds: f32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::WrongWay, zone: zone);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        self.validate_direction(cx, path, p);
        ranges(
            p,
            path,
            &[
                ("angle_degrees", self.angle_degrees, 90.0, 180.0),
                ("min_distance_m", self.min_distance_m, 0.0, 1000.0),
                ("min_distance_body", self.min_distance_body, 0.0, 100.0),
                ("min_seconds", self.min_seconds, 0.0, 3600.0),
                ("incident_seconds", self.incident_seconds, 0.0, 3600.0),
            ],
        );
        p.fraction(format!("{path}.min_score"), self.min_score);
        cx.classes(p, &format!("{path}.classes"), &self.classes, true);
        cx.classes(
            p,
            &format!("{path}.exempt_classes"),
            &self.exempt_classes,
            false,
        );
        for (k, c) in self.exempt_classes.iter().enumerate() {
            if self.classes.contains(c) {
                p.push(
                    format!("{path}.exempt_classes[{k}]"),
                    format!("`{c}` is also in `classes`: a class either counts or exempts"),
                );
            }
        }
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        let allowed = match (self.direction, self.ground_direction) {
            (Some([x, y]), None) => unit((x, y)).map(Allowed::Image),
            (None, Some([x, y])) if cx.scene.is_calibrated() => unit((x, y)).map(Allowed::Ground),
            _ => None,
        };
        let Some(allowed) = allowed else {
            tracing::warn!(rule = %self.id, "rule ignored: no usable allowed direction");
            return None;
        };
        Some(Box::new(WrongWay {
            params: Params {
                classes: cx.class_ids(&self.classes),
                exempt: cx.class_ids(&self.exempt_classes),
                zone,
                allowed,
                min_ns: seconds_to_ns(self.min_seconds),
                incident_ns: seconds_to_ns(self.incident_seconds),
                config: self.clone(),
            },
            tracks: PerTrack::default(),
            incidents: Incidents::default(),
        }))
    }
}

impl Config {
    fn validate_direction(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        let usable = |v: [f32; 2]| v.iter().all(|c| c.is_finite()) && unit((v[0], v[1])).is_some();
        match (self.direction, self.ground_direction) {
            (None, None) => p.push(
                format!("{path}.direction"),
                "missing: the allowed direction, `direction = [x, y]` in the image (x right, \
                 y down) or `ground_direction = [x, y]` on the ground (calibrated cameras)",
            ),
            (Some(_), Some(_)) => p.push(
                format!("{path}.ground_direction"),
                "give either `direction` (image) or `ground_direction` (ground), not both",
            ),
            (Some(d), None) if !usable(d) => p.push(
                format!("{path}.direction"),
                format!(
                    "[{}, {}] is not a direction: give a non-zero vector",
                    d[0], d[1]
                ),
            ),
            (None, Some(g)) if !usable(g) => p.push(
                format!("{path}.ground_direction"),
                format!(
                    "[{}, {}] is not a direction: give a non-zero vector",
                    g[0], g[1]
                ),
            ),
            (None, Some(_)) if !cx.calibrated => p.push(
                format!("{path}.ground_direction"),
                format!(
                    "camera `{}` has no `[cameras.calibration]`: give the direction in the \
                     image (`direction`) or calibrate the camera",
                    cx.camera
                ),
            ),
            _ => {}
        }
    }
}

/// The allowed direction, as configured (unit vector).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Allowed {
    Image((f32, f32)),
    Ground((f32, f32)),
}

impl Allowed {
    /// Unit plane direction at image point `p`.
    fn plane(self, scene: &Scene, p: (f32, f32)) -> Option<(f32, f32)> {
        match self {
            Allowed::Image(d) => plane_direction(scene, p, d),
            Allowed::Ground(g) => Some(g),
        }
    }

    /// Unit image direction at image point `p`, for the arrow on the snapshot.
    fn image(self, scene: &Scene, p: (f32, f32)) -> Option<(f32, f32)> {
        match self {
            Allowed::Image(d) => Some(d),
            Allowed::Ground(g) => image_direction(scene, p, g),
        }
    }
}

/// Window of the heading's velocity.
const HEADING_NS: u64 = 1_000_000_000;
/// History needed before a heading is read.
const HEADING_MIN_NS: u64 = 400_000_000;
/// Slower than this (per second) is standing still: no heading.
const STILL: Length = Length {
    metres: 0.3,
    bodies: 0.15,
};
/// A run starting this close to where an alerted passage was seen joins its incident.
const JOIN: Length = Length {
    metres: 2.0,
    bodies: 1.0,
};
/// ... and at most this long after it was last seen going back.
const JOIN_GAP_NS: u64 = 2_000_000_000;
/// An exempt-class box covering at least this fraction of the smaller box is "with" the object.
const EXEMPT_OVERLAP: f32 = 0.3;
/// Two velocities (normalised image units / s) differing by less than this plus half the faster
/// one are "moving alike".
const SAME_MOTION: f32 = 0.01;

struct Params {
    config: Config,
    classes: Vec<u16>,
    exempt: Vec<u16>,
    zone: usize,
    allowed: Allowed,
    min_ns: u64,
    incident_ns: u64,
}

/// What the rule remembers of one track.
#[derive(Debug, Clone, Default)]
struct TrackState {
    /// Positions while in the zone (cleared when it leaves).
    trail: Trail,
    /// Start of the current backward run.
    run: Option<Sample>,
    /// Seen moving with an exempt-class object: never counts.
    exempt: bool,
    /// Its heading read against the allowed direction on its last counting frame.
    against: bool,
}

/// An alerted passage: where and when its tracks were last seen in the zone.
#[derive(Debug, Clone, Copy)]
struct Incident {
    track_id: u64,
    last: Sample,
}

/// A backward run that passed every threshold.
#[derive(Debug, Clone, Copy)]
struct Run {
    anchor: Sample,
    now: Sample,
    /// Plane units against the allowed direction.
    progress: f32,
    angle: f32,
    min_distance: f32,
}

/// The running wrong-way rule.
pub struct WrongWay {
    params: Params,
    tracks: PerTrack<TrackState>,
    incidents: Incidents,
}

impl Rule for WrongWay {
    fn id(&self) -> &str {
        &self.params.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::WrongWay
    }

    fn reset(&mut self) {
        self.tracks.clear();
        self.incidents.clear();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        let WrongWay {
            params,
            tracks,
            incidents,
        } = self;
        let Some(zone) = cx.scene.zones.get(params.zone) else {
            return;
        };
        tracks.begin();
        for o in cx.objects {
            if !params.classes.contains(&o.class_id) {
                continue;
            }
            let st = tracks.entry(o.track_id, TrackState::default);
            if !o.is_evidence(params.config.min_score) {
                continue; // hold
            }
            st.exempt = st.exempt || params.with_exempt(cx, o);
            let sample = Sample::of(o, cx.t_ns);
            let Some(sample) = sample.filter(|_| zone.contains_image_point(o.foot)) else {
                st.trail.clear();
                st.run = None;
                st.against = false;
                continue;
            };
            st.trail.push(sample, HEADING_NS);
            if st.exempt {
                continue;
            }
            let run = params.observe(cx, o, st);
            if incidents.follow(o.track_id, sample, st.against) {
                st.run = None; // its run is the incident's: another alert needs a new one
                continue;
            }
            let Some(run) = run else {
                continue;
            };
            match incidents.joined(cx.length(o, JOIN), &run) {
                Some(other) => {
                    tracing::debug!(rule = %params.config.id, track = o.track_id, incident_track = other, "wrong way joins an open incident");
                }
                None => out.push(params.event(cx, o, &run)),
            }
            incidents.open(o.track_id, sample);
            st.run = None;
        }
        tracks.sweep();
        incidents.expire(cx.t_ns, params.incident_ns);
    }
}

/// The open incidents: alerted passages, by the tracks in them.
#[derive(Debug, Default)]
struct Incidents(Vec<Incident>);

impl Incidents {
    /// If `track` is in an open incident: follows it (`against`: it is still going back) and
    /// says so.
    fn follow(&mut self, track: u64, sample: Sample, against: bool) -> bool {
        let Some(i) = self.0.iter_mut().find(|i| i.track_id == track) else {
            return false;
        };
        if against {
            i.last = sample;
        }
        true
    }

    /// The track of an open incident that `run` belongs to: a companion going back beside it
    /// now, or the same person under a new track id starting where the incident's track was
    /// last seen going back (within `join` plane units and [`JOIN_GAP_NS`]).
    fn joined(&self, join: f32, run: &Run) -> Option<u64> {
        let near = |i: &Incident, s: &Sample| {
            s.t_ns.saturating_sub(i.last.t_ns) <= JOIN_GAP_NS
                && norm(sub(i.last.plane, s.plane)) <= join
        };
        self.0
            .iter()
            .find(|i| near(i, &run.now) || near(i, &run.anchor))
            .map(|i| i.track_id)
    }

    fn open(&mut self, track_id: u64, last: Sample) {
        self.0.push(Incident { track_id, last });
    }

    /// Closes the incidents not followed for `keep_ns`.
    fn expire(&mut self, t_ns: u64, keep_ns: u64) {
        self.0
            .retain(|i| t_ns.saturating_sub(i.last.t_ns) <= keep_ns);
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

fn sub(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0 - b.0, a.1 - b.1)
}

/// The part of `a`'s box covered by `b`, relative to the smaller of the two.
fn overlap(a: &BBox, b: &BBox) -> f32 {
    let ix = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let iy = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let smaller = a.area().min(b.area());
    if smaller > 0.0 {
        ix * iy / smaller
    } else {
        0.0
    }
}

impl Params {
    /// `o` overlaps a matched object of an exempt class that moves like it (a rider and their
    /// bicycle; not a pedestrian passing a parked one).
    fn with_exempt(&self, cx: &FrameContext<'_>, o: &Object) -> bool {
        if self.exempt.is_empty() {
            return false;
        }
        let v = o.image_velocity;
        cx.objects.iter().any(|e| {
            let alike = 0.5 * norm(v).max(norm(e.image_velocity)) + SAME_MOTION;
            self.exempt.contains(&e.class_id)
                && !e.missed
                && overlap(&o.bbox, &e.bbox) >= EXEMPT_OVERLAP
                && norm(sub(e.image_velocity, v)) <= alike
        })
    }

    /// Updates the backward run of a counting track; the run if it passes every threshold now.
    fn observe(&self, cx: &FrameContext<'_>, o: &Object, st: &mut TrackState) -> Option<Run> {
        st.against = false;
        let now = *st.trail.last()?;
        let dir = self.allowed.plane(cx.scene, o.foot)?;
        let c = &self.config;
        if let Some(v) = st.trail.velocity(HEADING_NS, HEADING_MIN_NS) {
            if norm(v) >= cx.length(o, STILL) {
                st.against = angle_degrees(v, dir).is_some_and(|a| a >= c.angle_degrees);
                if !st.against {
                    st.run = None;
                } else if st.run.is_none() {
                    st.run = st.trail.window_start(HEADING_NS).copied();
                }
            }
        }
        let anchor = st.run?;
        let moved = sub(now.plane, anchor.plane);
        let run = Run {
            anchor,
            now,
            progress: -dot(moved, dir),
            angle: angle_degrees(moved, dir)?,
            min_distance: cx.length(
                o,
                Length {
                    metres: c.min_distance_m,
                    bodies: c.min_distance_body,
                },
            ),
        };
        let long_enough = now.t_ns.saturating_sub(anchor.t_ns) >= self.min_ns;
        (long_enough && run.progress >= run.min_distance && run.angle >= c.angle_degrees)
            .then_some(run)
    }

    fn event(&self, cx: &FrameContext<'_>, o: &Object, run: &Run) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let seconds = ns_to_seconds(run.now.t_ns.saturating_sub(run.anchor.t_ns));
        let (dist, unit_name) = cx.readable(o, run.progress);
        let (min_dist, _) = cx.readable(o, run.min_distance);
        let unit_words = if unit_name == "m" {
            "m"
        } else {
            "body heights"
        };
        let allowed = match c.ground_direction {
            Some(g) => format!("ground direction [{}, {}]", g[0], g[1]),
            None => {
                let d = c.direction.unwrap_or([0.0, 0.0]);
                format!("image direction [{}, {}]", d[0], d[1])
            }
        };
        let explanation = format!(
            "Wrong-way rule '{}': a {} (track {}, score {:.2}) moved {dist:.1} {unit_words} \
             against the allowed {allowed} of zone '{}' ({}) over {seconds:.1} s, heading \
             {:.0}° from it; thresholds {min_dist:.1} {unit_words}, {:.1} s, {:.0}°; one alert \
             per passage.",
            c.id,
            cx.label(o.class_id),
            o.track_id,
            o.score,
            zone.name,
            zone.id,
            run.angle,
            c.min_seconds,
            c.angle_degrees,
        );
        let centre = vertex_centroid(&zone.polygon);
        let arrow = self.allowed.image(cx.scene, centre).map(|d| Arrow {
            from: (centre.0 - 0.05 * d.0, centre.1 - 0.05 * d.1),
            to: (centre.0 + 0.05 * d.0, centre.1 + 0.05 * d.1),
        });
        let overlay = Overlay {
            polygons: vec![zone.polygon.clone()],
            lines: vec![vec![run.anchor.image, run.now.image]],
            arrows: arrow.into_iter().collect(),
            count: None,
        };
        let (objects, confidence) = event_objects([o], 1);
        Event {
            zone_id: Some(zone.id.clone()),
            objects,
            confidence,
            people: Some(1),
            incident: Some(new_incident()),
            overlay,
            measurements: vec![
                Measurement::new("distance_against", dist, Some(min_dist), unit_name),
                Measurement::new("duration", seconds, Some(f64::from(c.min_seconds)), "s"),
                Measurement::new(
                    "angle",
                    f64::from(run.angle),
                    Some(f64::from(c.angle_degrees)),
                    "deg",
                ),
            ],
            ..Event::new(&c.id, EventType::WrongWay, cx.t_ns, explanation)
        }
    }
}

#[cfg(test)]
mod tests;
