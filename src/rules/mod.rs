//! Rules that turn tracks into events. One [`RuleEngine`] per camera.
//!
//! The first event type is **zone intrusion** ([`IntrusionRule`]). An event is a *signal* for a
//! human operator, never an action: it carries a short [`Event::explanation`] of why it fired.
//!
//! ## Intrusion semantics
//!
//! A track *counts* for a rule on an update when it is **confirmed**, **matched in this update**
//! (`missed == false`), of one of the rule's `classes` and its score is `>= min_score`. Its
//! position is its box's **ground point** (bottom centre), tested with [`point_in_polygon`]
//! (boundary = inside).
//!
//! * **Entry**: the first counting update with the ground point inside opens an *entry* at that
//!   update's timestamp. A counting update with the ground point outside ends it.
//! * **Dwell** is clock time since the entry opened: `t_ns - entered_ns`.
//! * **Firing**: on a counting update inside, once dwell >= `min_seconds`, the entry is decided:
//!   one event, unless the rule's cooldown suppresses it. Either way the entry is then *handled*:
//!   it never fires again, in particular not later when the cooldown ends (an operator does not
//!   want a late duplicate of an incident already signalled). A new event for the same track
//!   needs it to leave (a counting update outside) and re-enter.
//! * **Cooldown** is per rule (a rule watches one zone, so per rule and zone; two rules on the
//!   same zone have independent cooldowns). It runs from the last event that *fired*: suppressed
//!   entries do not extend it. `cooldown_seconds = 0` disables it.
//! * **Short misses** (`missed == true`), and updates that do not count (score below
//!   `min_score`), *hold* the entry: they neither end it nor fire it, since the predicted box is not
//!   evidence of where the object is. Dwell keeps running by the clock, so if the object is seen
//!   again inside, the time of the miss counts and the event may fire on that first matched
//!   update. If the track disappears instead, no event.
//! * **Cleanup**: state of tracks absent from the `tracks` passed to [`RuleEngine::evaluate`] (the
//!   tracker dropped them) is discarded on that call.
//! * If `t_ns` goes backwards (a file source looping), the engine resets first.

mod geometry;

pub use geometry::{point_in_polygon, BOUNDARY_EPSILON};

use std::collections::HashMap;

use crate::detect::BBox;
use crate::track::Track;

/// A named area of the image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    /// Vertices in normalised image coordinates, in order (either orientation), at least 3.
    pub polygon: Vec<(f32, f32)>,
}

/// Alert when an object of `classes` has its ground point inside zone `zone` for `min_seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrusionRule {
    pub id: String,
    /// Index into the engine's zones.
    pub zone: usize,
    /// Class ids (model label indices) that trigger the rule. Empty: nothing triggers it.
    pub classes: Vec<u16>,
    pub min_seconds: f32,
    pub cooldown_seconds: f32,
    pub min_score: f32,
}

/// One rule of any event type.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSpec {
    Intrusion(IntrusionRule),
}

impl RuleSpec {
    pub fn id(&self) -> &str {
        match self {
            RuleSpec::Intrusion(r) => &r.id,
        }
    }
    pub fn event_type(&self) -> EventType {
        match self {
            RuleSpec::Intrusion(_) => EventType::Intrusion,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Intrusion,
}

impl EventType {
    /// The snake_case name, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Intrusion => "intrusion",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something an operator should look at.
#[derive(Debug, Clone)]
pub struct Event {
    pub rule_id: String,
    pub event_type: EventType,
    pub zone_id: String,
    pub track_id: u64,
    pub class_id: u16,
    /// Score of the track's last matched detection.
    pub score: f32,
    /// The track's box at `t_ns`.
    pub bbox: BBox,
    pub t_ns: u64,
    /// Seconds the object had been inside when the event fired.
    pub dwell_seconds: f32,
    /// Short human-readable explanation: rule, zone, class, how long, thresholds.
    pub explanation: String,
}

/// A configuration problem found by [`validate`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("zone '{zone}': a polygon needs at least 3 points, got {points}")]
    ZoneTooFewPoints { zone: String, points: usize },
    #[error("zone '{zone}': polygon coordinates must be finite")]
    ZoneNotFinite { zone: String },
    #[error("zone id '{zone}' is used twice")]
    DuplicateZone { zone: String },
    #[error("rule id '{rule}' is used twice")]
    DuplicateRule { rule: String },
    #[error("rule '{rule}': zone index {zone} out of range ({zones} zones)")]
    RuleZoneOutOfRange {
        rule: String,
        zone: usize,
        zones: usize,
    },
    #[error("rule '{rule}': no classes configured, it could never fire")]
    RuleNoClasses { rule: String },
    #[error("rule '{rule}': {field} must be finite and >= 0")]
    RuleBadValue { rule: String, field: &'static str },
}

/// Check zones and rules before building a [`RuleEngine`] (which never fails: it ignores rules
/// pointing at a missing zone and never matches degenerate polygons).
pub fn validate(zones: &[Zone], rules: &[RuleSpec]) -> Result<(), RuleError> {
    for (i, z) in zones.iter().enumerate() {
        if z.polygon.len() < 3 {
            return Err(RuleError::ZoneTooFewPoints {
                zone: z.id.clone(),
                points: z.polygon.len(),
            });
        }
        if z.polygon
            .iter()
            .any(|p| !p.0.is_finite() || !p.1.is_finite())
        {
            return Err(RuleError::ZoneNotFinite { zone: z.id.clone() });
        }
        if zones[..i].iter().any(|o| o.id == z.id) {
            return Err(RuleError::DuplicateZone { zone: z.id.clone() });
        }
    }
    for (i, spec) in rules.iter().enumerate() {
        if rules[..i].iter().any(|o| o.id() == spec.id()) {
            return Err(RuleError::DuplicateRule {
                rule: spec.id().to_owned(),
            });
        }
        match spec {
            RuleSpec::Intrusion(r) => {
                if r.zone >= zones.len() {
                    return Err(RuleError::RuleZoneOutOfRange {
                        rule: r.id.clone(),
                        zone: r.zone,
                        zones: zones.len(),
                    });
                }
                if r.classes.is_empty() {
                    return Err(RuleError::RuleNoClasses { rule: r.id.clone() });
                }
                for (field, v) in [
                    ("min_seconds", r.min_seconds),
                    ("cooldown_seconds", r.cooldown_seconds),
                    ("min_score", r.min_score),
                ] {
                    if !v.is_finite() || v < 0.0 {
                        return Err(RuleError::RuleBadValue {
                            rule: r.id.clone(),
                            field,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Axis-aligned bounds of a zone, for a cheap rejection before the polygon test.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

impl Bounds {
    fn of(polygon: &[(f32, f32)]) -> Option<Bounds> {
        if polygon.len() < 3 || polygon.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
            return None;
        }
        let mut b = Bounds {
            x1: f32::INFINITY,
            y1: f32::INFINITY,
            x2: f32::NEG_INFINITY,
            y2: f32::NEG_INFINITY,
        };
        for &(x, y) in polygon {
            b.x1 = b.x1.min(x);
            b.y1 = b.y1.min(y);
            b.x2 = b.x2.max(x);
            b.y2 = b.y2.max(y);
        }
        // Widen by the boundary tolerance (and then some) so boundary points reach the full test.
        let m = 1e-5;
        b.x1 -= m;
        b.y1 -= m;
        b.x2 += m;
        b.y2 += m;
        Some(b)
    }
    fn contains(&self, p: (f32, f32)) -> bool {
        p.0 >= self.x1 && p.0 <= self.x2 && p.1 >= self.y1 && p.1 <= self.y2
    }
}

/// An open entry of one track into one rule's zone.
#[derive(Debug, Clone, Copy)]
struct Entry {
    entered_ns: u64,
    /// Decided: fired or suppressed by the cooldown; never fires again.
    handled: bool,
    /// `RuleEngine::generation` of the last evaluate that saw this track.
    seen: u64,
}

#[derive(Debug, Clone)]
struct IntrusionState {
    rule: IntrusionRule,
    min_ns: u64,
    cooldown_ns: u64,
    last_fired_ns: Option<u64>,
    entries: HashMap<u64, Entry>,
}

/// Evaluates the rules of one camera on its tracks.
#[derive(Debug, Clone)]
pub struct RuleEngine {
    labels: Vec<String>,
    zones: Vec<Zone>,
    bounds: Vec<Option<Bounds>>,
    rules: Vec<IntrusionState>,
    last_t_ns: Option<u64>,
    generation: u64,
}

fn seconds_to_ns(s: f32) -> u64 {
    if s.is_finite() && s > 0.0 {
        (f64::from(s) * 1e9).round() as u64
    } else {
        0
    }
}

impl RuleEngine {
    /// Build the engine. Never fails: a rule whose zone index is out of range is ignored (with a
    /// warning), a zone with a degenerate polygon never contains anything, negative or non-finite
    /// durations count as 0. Use [`validate`] first to report such problems.
    /// Names classes in explanations (the model's labels, by class id).
    pub fn with_labels(mut self, labels: Vec<String>) -> Self {
        self.labels = labels;
        self
    }

    pub fn new(zones: Vec<Zone>, rules: Vec<RuleSpec>) -> Self {
        let bounds = zones.iter().map(|z| Bounds::of(&z.polygon)).collect();
        let mut states = Vec::with_capacity(rules.len());
        for spec in rules {
            match spec {
                RuleSpec::Intrusion(rule) => {
                    if rule.zone >= zones.len() {
                        tracing::warn!(
                            rule = %rule.id,
                            zone = rule.zone,
                            zones = zones.len(),
                            "intrusion rule ignored: zone index out of range"
                        );
                        continue;
                    }
                    states.push(IntrusionState {
                        min_ns: seconds_to_ns(rule.min_seconds),
                        cooldown_ns: seconds_to_ns(rule.cooldown_seconds),
                        rule,
                        last_fired_ns: None,
                        entries: HashMap::new(),
                    });
                }
            }
        }
        RuleEngine {
            labels: Vec::new(),
            zones,
            bounds,
            rules: states,
            last_t_ns: None,
            generation: 0,
        }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Forget all entries and cooldowns.
    pub fn reset(&mut self) {
        for r in &mut self.rules {
            r.entries.clear();
            r.last_fired_ns = None;
        }
        self.last_t_ns = None;
    }

    /// Evaluate all rules on the live tracks of the frame at `t_ns` (as returned by
    /// [`crate::track::Tracker::update`]); returns the events that fire now, in rule order then
    /// track order.
    pub fn evaluate(&mut self, tracks: &[Track], t_ns: u64) -> Vec<Event> {
        if self.last_t_ns.is_some_and(|last| t_ns < last) {
            tracing::debug!(t_ns, "rules: timestamp went backwards, resetting");
            self.reset();
        }
        self.last_t_ns = Some(t_ns);
        self.generation += 1;
        let gen = self.generation;
        let mut events = Vec::new();

        for st in &mut self.rules {
            let zi = st.rule.zone;
            let (Some(zone), Some(bounds)) = (self.zones.get(zi), self.bounds.get(zi)) else {
                continue;
            };
            for track in tracks {
                if !st.rule.classes.contains(&track.class_id) {
                    continue;
                }
                if let Some(e) = st.entries.get_mut(&track.id) {
                    e.seen = gen;
                }
                let counts = track.confirmed && !track.missed && track.score >= st.rule.min_score;
                if !counts {
                    continue; // hold
                }
                let ground = track.bbox.ground_point();
                let inside = bounds.is_some_and(|b| b.contains(ground))
                    && point_in_polygon(ground, &zone.polygon);
                if !inside {
                    st.entries.remove(&track.id);
                    continue;
                }
                let entry = st.entries.entry(track.id).or_insert(Entry {
                    entered_ns: t_ns,
                    handled: false,
                    seen: gen,
                });
                if entry.handled {
                    continue;
                }
                let dwell_ns = t_ns.saturating_sub(entry.entered_ns);
                if dwell_ns < st.min_ns {
                    continue;
                }
                entry.handled = true;
                let in_cooldown = st
                    .last_fired_ns
                    .is_some_and(|last| t_ns.saturating_sub(last) < st.cooldown_ns);
                if in_cooldown {
                    tracing::debug!(
                        rule = %st.rule.id,
                        track = track.id,
                        "intrusion suppressed by the zone cooldown"
                    );
                    continue;
                }
                st.last_fired_ns = Some(t_ns);
                let dwell_seconds = (dwell_ns as f64 / 1e9) as f32;
                events.push(Event {
                    rule_id: st.rule.id.clone(),
                    event_type: EventType::Intrusion,
                    zone_id: zone.id.clone(),
                    track_id: track.id,
                    class_id: track.class_id,
                    score: track.score,
                    bbox: track.bbox,
                    t_ns,
                    dwell_seconds,
                    explanation: format!(
                        "Intrusion rule '{}': a {} (track {}, score {:.2}) has \
                         stood inside zone '{}' ({}) for {:.1} s; threshold {:.1} s, minimum \
                         score {:.2}, one alert per entry, zone cooldown {:.0} s.",
                        st.rule.id,
                        self.labels
                            .get(usize::from(track.class_id))
                            .cloned()
                            .unwrap_or_else(|| format!("object of class {}", track.class_id)),
                        track.id,
                        track.score,
                        zone.name,
                        zone.id,
                        dwell_seconds,
                        st.rule.min_seconds,
                        st.rule.min_score,
                        st.rule.cooldown_seconds,
                    ),
                });
            }
            st.entries.retain(|_, e| e.seen == gen);
        }
        events
    }

    #[cfg(test)]
    fn open_entries(&self) -> usize {
        self.rules.iter().map(|r| r.entries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    const PERSON: u16 = 0;
    const CAR: u16 = 2;

    /// Zone: x 0.2..0.6, y 0.4..0.9.
    fn zone() -> Zone {
        Zone {
            id: "z1".into(),
            name: "Quai 2".into(),
            polygon: vec![(0.2, 0.4), (0.6, 0.4), (0.6, 0.9), (0.2, 0.9)],
        }
    }

    fn rule(min_seconds: f32, cooldown_seconds: f32) -> IntrusionRule {
        IntrusionRule {
            id: "r1".into(),
            zone: 0,
            classes: vec![PERSON],
            min_seconds,
            cooldown_seconds,
            min_score: 0.5,
        }
    }

    fn engine(min_seconds: f32, cooldown_seconds: f32) -> RuleEngine {
        RuleEngine::new(
            vec![zone()],
            vec![RuleSpec::Intrusion(rule(min_seconds, cooldown_seconds))],
        )
    }

    /// A confirmed, matched track whose ground point (feet) is at `(x, y)`.
    fn track(id: u64, class_id: u16, x: f32, y: f32) -> Track {
        Track {
            id,
            class_id,
            bbox: BBox::new(x - 0.03, y - 0.2, x + 0.03, y),
            score: 0.9,
            hits: 10,
            confirmed: true,
            missed: false,
            first_seen_ns: 0,
            last_seen_ns: 0,
            velocity: (0.0, 0.0),
        }
    }

    const IN: (f32, f32) = (0.4, 0.7);
    const OUT: (f32, f32) = (0.8, 0.7);

    /// Run `frames` (t_ns, tracks) through `e`, collecting the events.
    fn run(e: &mut RuleEngine, frames: impl IntoIterator<Item = (u64, Vec<Track>)>) -> Vec<Event> {
        let mut out = Vec::new();
        for (t, tracks) in frames {
            out.extend(e.evaluate(&tracks, t));
        }
        out
    }

    /// Person at `pos(t)` every 100 ms from `from` to `to` (ns, inclusive).
    fn walk(
        id: u64,
        from: u64,
        to: u64,
        pos: impl Fn(u64) -> (f32, f32),
    ) -> Vec<(u64, Vec<Track>)> {
        (from / (100 * MS)..=to / (100 * MS))
            .map(|k| {
                let t = k * 100 * MS;
                let (x, y) = pos(t);
                (t, vec![track(id, PERSON, x, y)])
            })
            .collect()
    }

    #[test]
    fn dwell_below_min_seconds_no_event() {
        let mut e = engine(2.0, 30.0);
        let mut frames = walk(1, 0, 1_900 * MS, |_| IN);
        frames.extend(walk(1, 2_000 * MS, 5 * S, |_| OUT));
        assert!(run(&mut e, frames).is_empty());
    }

    #[test]
    fn dwell_above_min_seconds_exactly_one_event() {
        let mut e = engine(2.0, 0.0);
        let events = run(&mut e, walk(7, 500 * MS, 20 * S, |_| IN));
        assert_eq!(events.len(), 1, "{events:?}");
        let ev = &events[0];
        assert_eq!(ev.rule_id, "r1");
        assert_eq!(ev.event_type, EventType::Intrusion);
        assert_eq!(ev.zone_id, "z1");
        assert_eq!(ev.track_id, 7);
        assert_eq!(ev.class_id, PERSON);
        assert_eq!(ev.t_ns, 2_500 * MS);
        assert!((ev.dwell_seconds - 2.0).abs() < 1e-6);
        assert_eq!(ev.bbox.ground_point(), IN);
        for needle in ["r1", "Quai 2", "z1", "class 0", "2.0 s", "track 7"] {
            assert!(
                ev.explanation.contains(needle),
                "{needle}: {}",
                ev.explanation
            );
        }
    }

    #[test]
    fn min_seconds_zero_fires_on_first_counting_update() {
        let mut e = engine(0.0, 0.0);
        let events = e.evaluate(&[track(1, PERSON, IN.0, IN.1)], 42);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].dwell_seconds, 0.0);
    }

    #[test]
    fn leave_and_reenter_after_cooldown_second_event() {
        let mut e = engine(2.0, 10.0);
        let mut frames = walk(1, 0, 3 * S, |_| IN); // fires at 2 s
        frames.extend(walk(1, 3_100 * MS, 4 * S, |_| OUT));
        frames.extend(walk(1, 4_100 * MS, 9 * S, |_| IN)); // re-entry inside cooldown: suppressed
        frames.extend(walk(1, 9_100 * MS, 10 * S, |_| OUT));
        frames.extend(walk(1, 10_100 * MS, 20 * S, |_| IN)); // after cooldown: fires at 12.1 s
        let events = run(&mut e, frames);
        let times: Vec<u64> = events.iter().map(|e| e.t_ns).collect();
        assert_eq!(times, vec![2 * S, 12_100 * MS]);
        assert!((events[1].dwell_seconds - 2.0).abs() < 1e-6);
    }

    /// An entry suppressed by the cooldown is handled: it does not fire when the cooldown ends.
    #[test]
    fn suppressed_entry_never_fires_late() {
        let mut e = engine(2.0, 10.0);
        let frames = (0..=300u64).map(|k| {
            let t = k * 100 * MS;
            let mut tracks = vec![track(1, PERSON, IN.0, IN.1)];
            if t >= S {
                tracks.push(track(2, PERSON, 0.3, 0.8)); // enters at 1 s, 2 s dwell at 3 s
            }
            (t, tracks)
        });
        let events = run(&mut e, frames);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].track_id, 1);
    }

    #[test]
    fn two_people_entering_together_one_event() {
        let mut e = engine(2.0, 30.0);
        let frames = (0..=100u64).map(|k| {
            (
                k * 100 * MS,
                vec![track(3, PERSON, 0.35, 0.7), track(4, PERSON, 0.45, 0.7)],
            )
        });
        let events = run(&mut e, frames);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].track_id, 3);
    }

    #[test]
    fn class_not_configured_no_event() {
        let mut e = engine(1.0, 0.0);
        let frames = (0..=50u64).map(|k| (k * 100 * MS, vec![track(1, CAR, IN.0, IN.1)]));
        assert!(run(&mut e, frames).is_empty());
        assert_eq!(e.open_entries(), 0);
    }

    #[test]
    fn unconfirmed_or_low_score_tracks_do_not_count() {
        let mut e = engine(1.0, 0.0);
        let frames = (0..=50u64).map(|k| {
            let mut a = track(1, PERSON, IN.0, IN.1);
            a.confirmed = false;
            let mut b = track(2, PERSON, IN.0, IN.1);
            b.score = 0.4;
            (k * 100 * MS, vec![a, b])
        });
        assert!(run(&mut e, frames).is_empty());
    }

    /// Box centre inside the zone but feet below it: no event. Feet inside, centre above the
    /// zone: event.
    #[test]
    fn ground_point_not_box_centre() {
        let mut e = engine(1.0, 0.0);
        let mut feet_out = track(1, PERSON, 0.4, 0.95);
        feet_out.bbox = BBox::new(0.35, 0.5, 0.45, 0.95); // centre (0.4, 0.725) inside
        let mut feet_in = track(2, PERSON, 0.5, 0.5);
        feet_in.bbox = BBox::new(0.45, 0.0, 0.55, 0.5); // centre (0.5, 0.25) outside
        let frames = (0..=30u64).map(|k| (k * 100 * MS, vec![feet_out.clone(), feet_in.clone()]));
        let events = run(&mut e, frames);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].track_id, 2);
    }

    /// A short miss holds the entry: the predicted box wandering outside neither ends it nor
    /// fires; dwell keeps running and the event fires on the next matched update inside.
    #[test]
    fn short_miss_holds_entry() {
        let mut e = engine(2.0, 0.0);
        let mut frames = walk(1, 0, S, |_| IN);
        frames.extend((11..=25u64).map(|k| {
            let mut t = track(1, PERSON, OUT.0, OUT.1); // predicted box, outside
            t.missed = true;
            (k * 100 * MS, vec![t])
        }));
        frames.extend(walk(1, 2_600 * MS, 3 * S, |_| IN));
        let events = run(&mut e, frames);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].t_ns, 2_600 * MS);
        assert!((events[0].dwell_seconds - 2.6).abs() < 1e-5);
    }

    #[test]
    fn disappeared_track_state_cleaned_up() {
        let mut e = engine(2.0, 0.0);
        run(&mut e, walk(1, 0, 1_500 * MS, |_| IN));
        assert_eq!(e.open_entries(), 1);
        assert!(e.evaluate(&[], 1_600 * MS).is_empty());
        assert_eq!(e.open_entries(), 0);
        // Same id again (not something the tracker does): a fresh entry, dwell from now.
        let events = run(&mut e, walk(1, 1_700 * MS, 3_600 * MS, |_| IN));
        assert!(events.is_empty());
        let events = e.evaluate(&[track(1, PERSON, IN.0, IN.1)], 3_700 * MS);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn leaving_ends_entry_and_dwell_restarts() {
        let mut e = engine(2.0, 0.0);
        let mut frames = walk(1, 0, 1_500 * MS, |_| IN);
        frames.extend(walk(1, 1_600 * MS, 1_600 * MS, |_| OUT));
        frames.extend(walk(1, 1_700 * MS, 3_600 * MS, |_| IN));
        assert!(run(&mut e, frames).is_empty());
        assert_eq!(
            e.evaluate(&[track(1, PERSON, IN.0, IN.1)], 3_700 * MS)
                .len(),
            1
        );
    }

    #[test]
    fn timestamp_backwards_resets() {
        let mut e = engine(2.0, 60.0);
        assert_eq!(run(&mut e, walk(1, 0, 3 * S, |_| IN)).len(), 1);
        // File source loops: time restarts, cooldown and entries are forgotten.
        assert_eq!(run(&mut e, walk(2, 0, 3 * S, |_| IN)).len(), 1);
    }

    #[test]
    fn concave_zone_with_tracks() {
        // "U" zone: the notch x 0.4..0.6, y 0.1..0.6 is outside.
        let z = Zone {
            id: "u".into(),
            name: "U".into(),
            polygon: vec![
                (0.2, 0.1),
                (0.4, 0.1),
                (0.4, 0.6),
                (0.6, 0.6),
                (0.6, 0.1),
                (0.8, 0.1),
                (0.8, 0.9),
                (0.2, 0.9),
            ],
        };
        let mut e = RuleEngine::new(vec![z], vec![RuleSpec::Intrusion(rule(0.5, 0.0))]);
        let frames = (0..=10u64).map(|k| {
            (
                k * 100 * MS,
                vec![track(1, PERSON, 0.5, 0.3), track(2, PERSON, 0.3, 0.3)],
            )
        });
        let events = run(&mut e, frames);
        assert_eq!(
            events.iter().map(|e| e.track_id).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn rules_are_independent() {
        let mut cars = rule(1.0, 30.0);
        cars.id = "r2".into();
        cars.classes = vec![CAR];
        let mut e = RuleEngine::new(
            vec![zone()],
            vec![
                RuleSpec::Intrusion(rule(1.0, 30.0)),
                RuleSpec::Intrusion(cars),
            ],
        );
        let frames = (0..=20u64).map(|k| {
            (
                k * 100 * MS,
                vec![track(1, PERSON, IN.0, IN.1), track(2, CAR, 0.3, 0.8)],
            )
        });
        let events = run(&mut e, frames);
        let got: Vec<(&str, u64)> = events
            .iter()
            .map(|e| (e.rule_id.as_str(), e.track_id))
            .collect();
        assert_eq!(got, vec![("r1", 1), ("r2", 2)]);
    }

    #[test]
    fn invalid_configuration() {
        let good = || RuleSpec::Intrusion(rule(1.0, 1.0));
        assert_eq!(validate(&[zone()], &[good()]), Ok(()));
        let mut bad_zone = zone();
        bad_zone.polygon.truncate(2);
        assert!(matches!(
            validate(&[bad_zone.clone()], &[good()]),
            Err(RuleError::ZoneTooFewPoints { points: 2, .. })
        ));
        let mut r = rule(1.0, 1.0);
        r.zone = 3;
        assert!(matches!(
            validate(&[zone()], &[RuleSpec::Intrusion(r.clone())]),
            Err(RuleError::RuleZoneOutOfRange { zone: 3, .. })
        ));
        let mut nc = rule(1.0, 1.0);
        nc.classes.clear();
        assert!(matches!(
            validate(&[zone()], &[RuleSpec::Intrusion(nc)]),
            Err(RuleError::RuleNoClasses { .. })
        ));
        let mut neg = rule(-1.0, 1.0);
        neg.id = "neg".into();
        assert_eq!(
            validate(&[zone()], &[RuleSpec::Intrusion(neg)]),
            Err(RuleError::RuleBadValue {
                rule: "neg".into(),
                field: "min_seconds"
            })
        );
        assert!(matches!(
            validate(&[zone(), zone()], &[]),
            Err(RuleError::DuplicateZone { .. })
        ));
        assert!(matches!(
            validate(&[zone()], &[good(), good()]),
            Err(RuleError::DuplicateRule { .. })
        ));
        // The engine itself never panics on them: the rule is ignored, the zone never matches.
        let mut e = RuleEngine::new(vec![bad_zone], vec![RuleSpec::Intrusion(r), good()]);
        let frames = (0..=20u64).map(|k| (k * 100 * MS, vec![track(1, PERSON, IN.0, IN.1)]));
        assert!(run(&mut e, frames).is_empty());
        assert_eq!(e.zones().len(), 1);
    }

    #[test]
    fn event_type_names() {
        assert_eq!(EventType::Intrusion.as_str(), "intrusion");
        assert_eq!(EventType::Intrusion.to_string(), "intrusion");
        assert_eq!(
            serde_json::to_string(&EventType::Intrusion).ok().as_deref(),
            Some("\"intrusion\"")
        );
        assert_eq!(
            RuleSpec::Intrusion(rule(1.0, 1.0)).event_type(),
            EventType::Intrusion
        );
    }

    /// End to end with the tracker: a person walks into the zone and stops there.
    #[test]
    fn with_tracker() {
        use crate::detect::Detection;
        use crate::track::{Tracker, TrackerConfig};
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut e = engine(2.0, 30.0);
        let mut events = Vec::new();
        for k in 0..60u64 {
            let t = k * 100 * MS;
            // Walks right from x 0.0 at 0.2/s along y 0.7 (feet), stops at x 0.4.
            let x = (0.2 * k as f32 * 0.1).min(0.4);
            let d = Detection {
                class_id: PERSON,
                score: 0.8,
                bbox: BBox::new(x - 0.03, 0.5, x + 0.03, 0.7),
            };
            let tracks = tracker.update(&[d], t);
            events.extend(e.evaluate(tracks, t));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].track_id, 1);
        // Feet cross x = 0.2 at t = 1.0 s; the event fires 2 s later.
        assert_eq!(events[0].t_ns, 3 * S);
    }
}
