//! `type = "intrusion"`: an object of the configured classes stands inside a forbidden zone.
//!
//! A track *counts* on a frame when it is evidence ([`Object::is_evidence`]: confirmed, matched
//! in this frame, score >= `min_score`) and of one of `classes`. Its position is its box's ground
//! point (bottom centre), tested against the zone polygon (boundary = inside).
//!
//! * **Entry**: the first counting frame with the ground point inside opens an entry; a counting
//!   frame outside ends it. Dwell is clock time since the entry opened.
//! * **Firing**: once dwell >= `min_seconds` the entry is decided: one event, unless the rule's
//!   cooldown suppresses it. Either way the entry never fires again.
//! * **Cooldown** per rule, from the last event that fired; `cooldown_seconds = 0` disables it.
//! * Frames where the track does not count *hold* the entry (neither end nor fire it).

use serde::Deserialize;

use super::context::{FrameContext, Object};
use super::dwell::{ns_to_seconds, seconds_to_ns, Cooldown, PerTrack};
use super::event::{Event, EventObject, EventType, Measurement, Overlay};
use super::{CameraBuild, CameraCheck, Rule, RuleSpec};
use crate::check::Problems;

fn default_min_seconds() -> f32 {
    1.0
}
fn default_cooldown() -> f32 {
    30.0
}
fn default_min_score() -> f32 {
    0.4
}

/// `[[cameras.rules]]` with `type = "intrusion"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    /// Zone id on the same camera.
    pub zone: String,
    /// Model labels that count (e.g. `person`, `car`).
    pub classes: Vec<String>,
    /// Seconds the ground point must stay inside before an alert.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f32,
    /// After an alert, further entries stay silent this long.
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: f32,
    /// Detections below this score do not count for this rule.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
}

impl RuleSpec for Config {
    fn id(&self) -> &str {
        &self.id
    }

    fn event_type(&self) -> EventType {
        EventType::Intrusion
    }

    fn validate(&self, cx: &CameraCheck<'_>, path: &str, p: &mut Problems) {
        cx.zone(p, format!("{path}.zone"), &self.zone);
        cx.classes(p, &format!("{path}.classes"), &self.classes, true);
        p.range(format!("{path}.min_seconds"), self.min_seconds, 0.0, 3600.0);
        p.range(
            format!("{path}.cooldown_seconds"),
            self.cooldown_seconds,
            0.0,
            86400.0,
        );
        p.fraction(format!("{path}.min_score"), self.min_score);
    }

    fn build(&self, cx: &CameraBuild<'_>) -> Option<Box<dyn Rule>> {
        let zone = cx.zone(&self.id, &self.zone)?;
        Some(Box::new(Intrusion {
            classes: cx.class_ids(&self.classes),
            zone,
            min_ns: seconds_to_ns(self.min_seconds),
            cooldown: Cooldown::new(seconds_to_ns(self.cooldown_seconds)),
            entries: PerTrack::default(),
            config: self.clone(),
        }))
    }
}

/// An open entry of one track into the zone.
#[derive(Debug, Clone, Copy)]
struct Entry {
    entered_ns: u64,
    /// Decided: fired or suppressed by the cooldown; never fires again.
    handled: bool,
}

/// The running intrusion rule.
pub struct Intrusion {
    config: Config,
    classes: Vec<u16>,
    zone: usize,
    min_ns: u64,
    cooldown: Cooldown,
    entries: PerTrack<Entry>,
}

impl Rule for Intrusion {
    fn id(&self) -> &str {
        &self.config.id
    }

    fn event_type(&self) -> EventType {
        EventType::Intrusion
    }

    fn reset(&mut self) {
        self.entries.clear();
        self.cooldown.reset();
    }

    fn evaluate(&mut self, cx: &FrameContext<'_>, out: &mut Vec<Event>) {
        self.entries.begin();
        for o in cx.objects {
            if !self.classes.contains(&o.class_id) {
                continue;
            }
            self.entries.get_mut(o.track_id); // keep its entry while the track lives
            if !o.is_evidence(self.config.min_score) {
                continue; // hold
            }
            if let Some(ev) = self.observe(cx, o) {
                out.push(ev);
            }
        }
        self.entries.sweep();
    }
}

impl Intrusion {
    /// One counting observation of `o`; the event if it fires now.
    fn observe(&mut self, cx: &FrameContext<'_>, o: &Object) -> Option<Event> {
        let zone = cx.scene.zones.get(self.zone)?;
        if !zone.contains_image_point(o.foot) {
            self.entries.remove(o.track_id);
            return None;
        }
        let t = cx.t_ns;
        let entry = self.entries.entry(o.track_id, || Entry {
            entered_ns: t,
            handled: false,
        });
        let dwell_ns = t.saturating_sub(entry.entered_ns);
        if entry.handled || dwell_ns < self.min_ns {
            return None;
        }
        entry.handled = true;
        if !self.cooldown.ready(t) {
            tracing::debug!(rule = %self.config.id, track = o.track_id, "intrusion suppressed by the zone cooldown");
            return None;
        }
        self.cooldown.start(t);
        Some(self.event(cx, o, ns_to_seconds(dwell_ns)))
    }

    fn event(&self, cx: &FrameContext<'_>, o: &Object, dwell: f64) -> Event {
        let c = &self.config;
        let zone = &cx.scene.zones[self.zone];
        let explanation = format!(
            "Intrusion rule '{}': a {} (track {}, score {:.2}) has stood inside zone '{}' ({}) \
             for {dwell:.1} s; threshold {:.1} s, minimum score {:.2}, one alert per entry, zone \
             cooldown {:.0} s.",
            c.id,
            cx.label(o.class_id),
            o.track_id,
            o.score,
            zone.name,
            zone.id,
            c.min_seconds,
            c.min_score,
            c.cooldown_seconds,
        );
        Event {
            zone_id: Some(zone.id.clone()),
            objects: vec![EventObject {
                track_id: Some(o.track_id),
                class_id: o.class_id,
                score: o.score,
                bbox: o.bbox,
            }],
            confidence: o.score,
            overlay: Overlay::polygon(&zone.polygon),
            measurements: vec![
                Measurement::new("dwell", dwell, Some(f64::from(c.min_seconds)), "s"),
                Measurement::new(
                    "score",
                    f64::from(o.score),
                    Some(f64::from(c.min_score)),
                    "",
                ),
            ],
            ..Event::new(&c.id, EventType::Intrusion, cx.t_ns, explanation)
        }
    }
}

#[cfg(test)]
mod tests;
