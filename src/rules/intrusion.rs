//! `type = "intrusion"`: people (or objects of the configured classes) inside a forbidden
//! zone.
//!
//! * **Evidence**: an object counts on a frame when it is confirmed, matched in this frame, of
//!   one of `classes`, with score >= `min_score` ([`Object::is_evidence`]). Its position is its
//!   ground point (bottom centre of the box) in the rule plane ([`super::context`]). Other
//!   frames *hold* its state (a predicted box is not evidence).
//! * **Entering needs a margin**: the ground point must be inside the zone by at least the
//!   margin (`margin_m` metres when the camera is calibrated, else `margin_body` times the box
//!   height) on every counting frame for `min_seconds`; a frame less deep restarts the count.
//!   Someone walking along the edge, feet on the line, never enters. Zone edges along the image
//!   border are not boundaries (nobody crosses them): someone coming into view there is inside.
//! * **Leaving needs the same margin** outside (hysteresis): a person inside stays inside while
//!   their feet wander near the edge.
//! * **One incident, one alert** ([`super::incident`]): when a person enters and is not already
//!   part of an open incident, a new incident opens with them and everyone entering with them
//!   (counting towards `min_seconds`, within `group_m`/`group_body`, moving alike): one alert,
//!   with the number of people. Later, within the incident:
//!   - a member re-entering updates it silently;
//!   - a new track that first appears inside the zone by the margin (it did not walk in), where
//!     a member was lost at most `relink_seconds` before, near enough to have walked there (at
//!     [`RELINK_SPEED`]), is that member with a new track id: silent. A track that first
//!     appears at the image border is coming into view: a newcomer, never a relinked member
//!     (a second alert for someone who stepped out of view and back is the lesser evil than a
//!     newcomer's entry hidden);
//!   - someone entering next to a member and moving alike (velocities within [`GROUP_SPEED`])
//!     within `group_seconds` of the last joining is part of the group: the count goes up, and
//!     an update alert (same incident) follows, at most one per `cooldown_seconds` of that
//!     incident.
//!
//!   Anyone else entering opens a new incident with its own alert at once: the cooldown is per
//!   incident, never zone-wide, so a false alarm never hides a new person's entry.
//! * An incident closes `incident_seconds` after its last member was last inside.
//! * **Latency**: the alert fires on the first frame at which the person has been inside by the
//!   margin for `min_seconds`: at 5 detections per second, at most `min_seconds` + 0.2 s after
//!   the feet crossed the margin.

use serde::{Deserialize, Serialize};

use super::context::{FrameContext, Length, Object};
use super::dwell::{ns_to_seconds, seconds_to_ns, Change, Dwell, Level, PerTrack};
use super::event::{Event, EventObject, EventType, IncidentRef, Measurement, Overlay};
use super::incident::{Incident, Incidents, Member};
use super::{rule_identity, CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;

/// How fast a lost person may have walked to where a new track appears (per second).
pub const RELINK_SPEED: Length = Length {
    metres: 1.5,
    bodies: 1.0,
};

/// People entering together move alike: their velocities differ by at most this (per second).
/// Two people walking side by side differ by a few tenths of a metre per second; two people
/// crossing each other by twice their walking speed.
pub const GROUP_SPEED: Length = Length {
    metres: 0.7,
    bodies: 0.5,
};

/// A box this close to the image border (fraction of the image) is coming into view.
const AT_BORDER: f32 = 0.01;

macro_rules! defaults {
    ($($name:ident: $v:expr,)+) => { $(fn $name() -> f32 { $v })+ };
}
defaults! {
    default_min_seconds: 1.0,
    default_min_score: 0.4,
    default_margin_m: 0.3,
    default_margin_body: 0.15,
    default_cooldown: 15.0,
    default_incident: 30.0,
    default_group_m: 2.0,
    default_group_body: 1.2,
    default_group_seconds: 10.0,
    default_relink_seconds: 5.0,
}

/// `[[cameras.rules]]` with `type = "intrusion"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera.
    pub zone: String,
    /// Model labels that count (e.g. `person`, `car`).
    pub classes: Vec<String>,
    /// Detections below this score do not count for this rule.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Seconds the ground point must stay inside by the margin before an alert.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// Calibrated cameras: inside (and outside, to leave) by this many metres.
    #[serde(default = "default_margin_m")]
    pub margin_m: f32,
    /// Uncalibrated cameras: inside (and outside) by this fraction of the box height.
    #[serde(default = "default_margin_body")]
    pub margin_body: f32,
    /// Least time between two alerts of one incident (never zone-wide).
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f32,
    /// An incident stays open this long after its people were last inside: re-entries and new
    /// track ids of the same people within it update it instead of raising a new alert.
    #[serde(default = "default_incident")]
    pub incident_seconds: f32,
    /// People entering within this distance of each other are one group (calibrated, metres).
    #[serde(default = "default_group_m")]
    pub group_m: f32,
    /// The same for uncalibrated cameras, in body heights.
    #[serde(default = "default_group_body")]
    pub group_body: f32,
    /// ... and within this many seconds of the group's last entry.
    #[serde(default = "default_group_seconds")]
    pub group_seconds: f32,
    /// A new track appearing inside the zone (not at the image border) where a member of an
    /// open incident was lost at most this long before is that member (a new track id).
    #[serde(default = "default_relink_seconds")]
    pub relink_seconds: f32,
}

impl RuleSpec for Config {
    rule_identity!(EventType::Intrusion, zone: zone);

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        cx.classes(p, &format!("{path}.classes"), &self.classes, true);
        p.fraction(format!("{path}.min_score"), self.min_score);
        for (key, v, hi) in [
            ("min_seconds", self.min_seconds, 3600.0),
            ("margin_m", self.margin_m, 10.0),
            ("margin_body", self.margin_body, 5.0),
            ("cooldown_seconds", self.cooldown_seconds, 86400.0),
            ("incident_seconds", self.incident_seconds, 86400.0),
            ("group_m", self.group_m, 50.0),
            ("group_body", self.group_body, 20.0),
            ("group_seconds", self.group_seconds, 600.0),
            ("relink_seconds", self.relink_seconds, 600.0),
        ] {
            p.range(format!("{path}.{key}"), v, 0.0, hi);
        }
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        Some(Box::new(Intrusion {
            classes: cx.class_ids(&self.classes),
            zone,
            min_ns: seconds_to_ns(self.min_seconds),
            group_ns: seconds_to_ns(self.group_seconds),
            relink_ns: seconds_to_ns(self.relink_seconds),
            margin: Length {
                metres: self.margin_m,
                bodies: self.margin_body,
            },
            group: Length {
                metres: self.group_m,
                bodies: self.group_body,
            },
            tracks: PerTrack::default(),
            incidents: Incidents::new(
                seconds_to_ns(self.incident_seconds),
                seconds_to_ns(self.cooldown_seconds),
            ),
            config: self.clone(),
        }))
    }
}

/// What the rule keeps about one track.
#[derive(Debug, Clone, Copy, Default)]
struct TrackState {
    /// Inside by the margin (active), or counting towards `min_seconds` (pending).
    inside: Dwell,
    /// First counting observation: time and plane position.
    first: Option<(u64, (f32, f32))>,
    /// Observed outside by the margin at least once: it walked in, it is nobody's new id.
    seen_outside: bool,
    /// First observed inside by the margin: it appeared in the zone (after an occlusion), it may
    /// be a lost member's new track id.
    first_inside: bool,
    /// First observed touching the image border: it is coming into view, a newcomer.
    first_at_border: bool,
    /// At the last counting observation: plane position and velocity, depth and margin (plane
    /// units).
    position: (f32, f32),
    velocity: (f32, f32),
    depth: f32,
    margin: f32,
}

impl TrackState {
    fn member(&self, track_id: u64, t_ns: u64) -> Member {
        Member {
            track_id,
            last_seen_ns: t_ns,
            last_position: self.position,
            last_velocity: self.velocity,
        }
    }
}

/// The box touches the image border.
fn at_border(o: &Object) -> bool {
    let b = &o.bbox;
    b.x1 <= AT_BORDER || b.y1 <= AT_BORDER || b.x2 >= 1.0 - AT_BORDER || b.y2 >= 1.0 - AT_BORDER
}

/// The running intrusion rule.
pub struct Intrusion {
    config: Config,
    classes: Vec<u16>,
    zone: usize,
    min_ns: u64,
    group_ns: u64,
    relink_ns: u64,
    margin: Length,
    group: Length,
    tracks: PerTrack<TrackState>,
    incidents: Incidents,
}

impl Rule for Intrusion {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::Intrusion
    }

    fn reset(&mut self) {
        self.tracks.clear();
        self.incidents.clear();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        if cx.scene.zones.get(self.zone).is_none() {
            return;
        }
        self.tracks.begin();
        let mut entered = Vec::new();
        for o in cx.objects {
            if !self.classes.contains(&o.class_id) {
                continue;
            }
            if let Some(since) = self.observe(cx, o) {
                entered.push((o, since));
            }
        }
        for (o, since) in entered {
            self.decide(cx, o, since, out);
        }
        for id in self.incidents.due_updates(cx.t_ns) {
            if let Some(inc) = self.incidents.get(id) {
                out.push(self.update_event(cx, inc));
            }
        }
        self.incidents.expire(cx.t_ns);
        self.tracks.sweep();
    }
}

impl Intrusion {
    /// Updates `o`'s state; `Some(since)` when it has just entered (inside by the margin for
    /// `min_seconds` since `since`).
    fn observe(&mut self, cx: &FrameContext<'_>, o: &Object) -> Option<u64> {
        let zone = &cx.scene.zones[self.zone];
        let margin = cx.length(o, self.margin);
        let state = self.tracks.entry(o.track_id, TrackState::default);
        if !o.is_evidence(self.config.min_score) {
            return None;
        }
        let plane = o.plane?;
        let depth = zone.depth(plane.position);
        let t = cx.t_ns;
        if state.first.is_none() {
            state.first = Some((t, plane.position));
            state.first_inside = depth >= margin;
            state.first_at_border = at_border(o);
        }
        state.seen_outside |= depth <= -margin;
        (state.position, state.velocity) = (plane.position, plane.velocity);
        (state.depth, state.margin) = (depth, margin);
        let change = state
            .inside
            .update(t, Level::of(depth, margin, -margin), self.min_ns);
        let active = state.inside.is_active();
        let seen = state.member(o.track_id, t);
        self.incidents.observe(&seen, active);
        match change {
            Change::Activated { since_ns } => Some(since_ns),
            _ => None,
        }
    }

    /// `o` has just entered: part of an open incident (silently, or as a newcomer to a group),
    /// or the first of a new one (an alert).
    fn decide(&mut self, cx: &FrameContext<'_>, o: &Object, since: u64, out: &mut Vec<Event>) {
        let (rule, track, t) = (&self.config.id, o.track_id, ns_to_seconds(cx.t_ns));
        if let Some(id) = self.incidents.of_track(track) {
            tracing::debug!(
                rule,
                track,
                t,
                incident = id,
                "intrusion: a member re-entered"
            );
            return;
        }
        let Some(state) = self.tracks.get(o.track_id).copied() else {
            return;
        };
        let member = state.member(o.track_id, cx.t_ns);
        let maybe_lost_member = !state.seen_outside && state.first_inside && !state.first_at_border;
        if let (true, Some(first)) = (maybe_lost_member, state.first) {
            let base = cx.length(o, self.group);
            let speed = cx.length(o, RELINK_SPEED);
            let relinked = self
                .incidents
                .relink(o.track_id, first, self.relink_ns, |gap| base + speed * gap);
            if let Some(id) = relinked {
                tracing::debug!(
                    rule,
                    track,
                    t,
                    incident = id,
                    "intrusion: a lost member's new id"
                );
                self.incidents.observe(&member, true);
                return;
            }
        }
        let reach = cx.length(o, self.group);
        let alike = cx.length(o, GROUP_SPEED);
        if let Some(id) = self
            .incidents
            .together(&member, reach, alike, self.group_ns)
        {
            tracing::debug!(rule, track, t, incident = id, "intrusion: joined the group");
            self.incidents.join(id, member, cx.t_ns);
            return;
        }
        let mut members = vec![member];
        members.extend(self.entering_with(cx, o, &member, (reach, alike)));
        let inc = self.incidents.open(cx.t_ns, members).clone();
        let with: Vec<u64> = inc.members.iter().map(|m| m.track_id).collect();
        let (pos, vel) = (state.position, state.velocity);
        tracing::debug!(
            rule,
            track,
            t,
            incident = inc.id,
            ?with,
            ?pos,
            ?vel,
            "intrusion: new incident"
        );
        out.push(self.open_event(cx, o, &state, since, &inc));
    }

    /// Others counting towards entry (or just entered) next to `who` and moving alike, in no
    /// incident yet.
    fn entering_with(
        &self,
        cx: &FrameContext<'_>,
        o: &Object,
        who: &Member,
        (reach, alike): (f32, f32),
    ) -> Vec<Member> {
        let dist = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
        cx.objects
            .iter()
            .filter(|x| x.track_id != o.track_id && self.classes.contains(&x.class_id))
            .filter(|x| x.is_evidence(self.config.min_score))
            .filter(|x| self.incidents.of_track(x.track_id).is_none())
            .filter_map(|x| {
                let s = self.tracks.get(x.track_id)?;
                let counting = s.inside.is_active() || s.inside.pending_since().is_some();
                let near = dist(s.position, who.last_position) <= reach;
                let moving_alike = dist(s.velocity, who.last_velocity) <= alike;
                (counting && near && moving_alike).then(|| s.member(x.track_id, cx.t_ns))
            })
            .collect()
    }

    /// The boxes of the incident's members seen in this frame, `main` first.
    fn members_seen(cx: &FrameContext<'_>, inc: &Incident, main: u64) -> Vec<EventObject> {
        let mut ids: Vec<u64> = inc.members.iter().map(|m| m.track_id).collect();
        ids.sort_by_key(|&id| id != main);
        ids.iter()
            .filter_map(|id| cx.objects.iter().find(|o| o.track_id == *id))
            .map(|o| EventObject {
                track_id: Some(o.track_id),
                class_id: o.class_id,
                score: o.score,
                bbox: o.bbox,
            })
            .collect()
    }

    fn people_words(&self, cx: &FrameContext<'_>, class_id: u16, n: u32) -> String {
        let label = cx.label(class_id);
        if n == 1 {
            format!("1 {label}")
        } else {
            format!("{n} {label}s")
        }
    }

    fn open_event(
        &self,
        cx: &FrameContext<'_>,
        o: &Object,
        state: &TrackState,
        since: u64,
        inc: &Incident,
    ) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let dwell = ns_to_seconds(cx.t_ns.saturating_sub(since));
        let (depth, unit) = cx.readable(o, state.depth);
        let (margin, _) = cx.readable(o, state.margin);
        let people = inc.people();
        let explanation = format!(
            "Intrusion into zone '{}' ({}): {}. A {} (track {}, score {:.2}) has been inside by              at least {margin:.2} {unit} for {dwell:.1} s (now {depth:.2} {unit} inside);              thresholds: {:.1} s, margin {margin:.2} {unit}, minimum score {:.2}. Rule '{}': the              same people re-entering or re-detected within {:.0} s update this incident;              updates at most every {:.0} s.",
            zone.name,
            zone.id,
            self.people_words(cx, o.class_id, people),
            cx.label(o.class_id),
            o.track_id,
            o.score,
            c.min_seconds,
            c.min_score,
            c.id,
            c.incident_seconds,
            c.cooldown_seconds,
        );
        Event {
            zone_id: Some(zone.id.clone()),
            objects: Self::members_seen(cx, inc, o.track_id),
            confidence: o.score,
            people: Some(people),
            incident: Some(IncidentRef {
                id: inc.id,
                update: false,
            }),
            overlay: Overlay::polygon(&zone.polygon).with_count(people),
            measurements: vec![
                Measurement::new("dwell", dwell, Some(f64::from(c.min_seconds)), "s"),
                Measurement::new("depth", depth, Some(margin), unit),
                Measurement::new(
                    "score",
                    f64::from(o.score),
                    Some(f64::from(c.min_score)),
                    "",
                ),
                Measurement::new("people", f64::from(people), None, "count"),
            ],
            ..Event::new(&c.id, EventType::Intrusion, cx.t_ns, explanation)
        }
    }

    fn update_event(&self, cx: &FrameContext<'_>, inc: &Incident) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let last = inc.members.last().map_or(0, |m| m.track_id);
        let objects = Self::members_seen(cx, inc, last);
        let class = objects.first().map_or(0, |o| o.class_id);
        let people = inc.people();
        let explanation = format!(
            "Intrusion into zone '{}' ({}): now {}, who entered together (within {:.0} s and              {:.1} {} of each other). Update of the incident opened {:.0} s ago; rule '{}'.",
            zone.name,
            zone.id,
            self.people_words(cx, class, people),
            c.group_seconds,
            if cx.calibrated { c.group_m } else { c.group_body },
            if cx.calibrated { "m" } else { "body heights" },
            ns_to_seconds(cx.t_ns.saturating_sub(inc.opened_ns)),
            c.id,
        );
        Event {
            zone_id: Some(zone.id.clone()),
            confidence: objects.first().map_or(1.0, |o| o.score),
            objects,
            people: Some(people),
            incident: Some(IncidentRef {
                id: inc.id,
                update: true,
            }),
            overlay: Overlay::polygon(&zone.polygon).with_count(people),
            measurements: vec![Measurement::new("people", f64::from(people), None, "count")],
            ..Event::new(&c.id, EventType::Intrusion, cx.t_ns, explanation)
        }
    }
}

#[cfg(test)]
mod tests;
