//! What a rule hands on: an [`Event`] of one of the decree's event types (or a camera fault),
//! with the objects involved, what to draw on the snapshot, a plain-words explanation and the
//! measured values behind it.

use serde::{Deserialize, Serialize};

use crate::detect::BBox;

/// Declares the closed list of event types with their names and console labels: one line each.
macro_rules! event_types {
    ($($variant:ident = $name:literal, fr: $fr:literal, en: $en:literal;)+) => {
        /// Every event type Vigie may raise: the eight of décret 2023-828 and the camera faults.
        /// A closed list: governance (authorisations, transparency registers) refers to it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The snake_case name, as serialised (journal, API, MQTT).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// Console label in French.
            pub fn label_fr(self) -> &'static str {
                match self {
                    $(EventType::$variant => $fr,)+
                }
            }

            /// Console label in English.
            pub fn label_en(self) -> &'static str {
                match self {
                    $(EventType::$variant => $en,)+
                }
            }

            pub fn parse(name: &str) -> Option<EventType> {
                match name {
                    $($name => Some(EventType::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    Intrusion = "intrusion", fr: "Intrusion en zone interdite", en: "Intrusion";
    WrongWay = "wrong_way", fr: "Circulation à contresens", en: "Wrong way";
    Density = "density", fr: "Densité excessive", en: "Excessive density";
    CrowdMovement = "crowd_movement", fr: "Mouvement de foule", en: "Crowd movement";
    PersonOnGround = "person_on_ground", fr: "Personne au sol", en: "Person on the ground";
    AbandonedObject = "abandoned_object", fr: "Objet abandonné", en: "Abandoned object";
    Fire = "fire", fr: "Départ de feu", en: "Fire start";
    Weapon = "weapon", fr: "Présence d'arme", en: "Weapon";
    CameraOffline = "camera_offline", fr: "Caméra hors ligne", en: "Camera offline";
    CameraFrozen = "camera_frozen", fr: "Image figée", en: "Image frozen";
    CameraObstructed = "camera_obstructed", fr: "Caméra obstruée", en: "Camera obstructed";
    CameraRestored = "camera_restored", fr: "Caméra rétablie", en: "Camera restored";
}

impl EventType {
    /// A camera fault (rule `camera_health`), not an event of the scene.
    pub fn is_camera_fault(self) -> bool {
        matches!(
            self,
            EventType::CameraOffline
                | EventType::CameraFrozen
                | EventType::CameraObstructed
                | EventType::CameraRestored
        )
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measured value behind an event and the threshold it crossed, for explanations that can be
/// exported and checked (e.g. `dwell 1.2 s >= 1.0 s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// snake_case name, e.g. `dwell`, `depth`, `people`.
    pub name: String,
    pub value: f64,
    /// The configured threshold it was compared with, when there is one.
    pub threshold: Option<f64>,
    /// `s`, `m`, `body`, `persons/m2`, `m/s`, `count`…
    pub unit: String,
}

impl Measurement {
    pub fn new(name: &str, value: f64, threshold: Option<f64>, unit: &str) -> Self {
        Measurement {
            name: name.to_string(),
            value,
            threshold,
            unit: unit.to_string(),
        }
    }
}

/// An arrow in normalised image coordinates (e.g. a line's allowed direction).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrow {
    pub from: (f32, f32),
    pub to: (f32, f32),
}

/// What the snapshot shows besides the objects' boxes: zone outlines, lines, arrows and a count.
/// All coordinates normalised to the frame (0..1, origin top left).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    pub polygons: Vec<Vec<(f32, f32)>>,
    pub lines: Vec<Vec<(f32, f32)>>,
    pub arrows: Vec<Arrow>,
    /// A number drawn in a corner (people in an incident, persons in a zone…).
    pub count: Option<u32>,
}

impl Overlay {
    /// Nothing but the boxes.
    pub fn none() -> Self {
        Overlay::default()
    }

    /// A zone outline.
    pub fn polygon(points: &[(f32, f32)]) -> Self {
        Overlay {
            polygons: vec![points.to_vec()],
            ..Overlay::default()
        }
    }

    /// A polyline with an arrow for its direction.
    pub fn line(points: &[(f32, f32)], arrow: Option<Arrow>) -> Self {
        Overlay {
            lines: vec![points.to_vec()],
            arrows: arrow.into_iter().collect(),
            ..Overlay::default()
        }
    }

    pub fn with_count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }
}

/// An object an event is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventObject {
    pub track_id: Option<u64>,
    pub class_id: u16,
    /// Score of the last matched detection.
    pub score: f32,
    /// Box at the time of the event.
    pub bbox: BBox,
}

/// Which incident an event belongs to. Ids are unique in the process ([`super::incident`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentRef {
    pub id: u64,
    /// `false`: the event opens the incident (a new alert); `true`: it updates an open one.
    pub update: bool,
}

/// Something an operator should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub rule_id: String,
    pub event_type: EventType,
    /// Stream timestamp of the frame that fired it.
    pub t_ns: u64,
    pub zone_id: Option<String>,
    /// The objects involved, the main one first.
    pub objects: Vec<EventObject>,
    /// How sure the algorithm is, 0..1 (the main object's score for most rules).
    pub confidence: f32,
    /// How many people the event is about, when the rule counts them.
    pub people: Option<u32>,
    pub incident: Option<IncidentRef>,
    pub overlay: Overlay,
    /// Short plain-words explanation: rule, zone, what was measured, thresholds.
    pub explanation: String,
    /// The measured values and thresholds behind the explanation.
    pub measurements: Vec<Measurement>,
}

impl Event {
    /// An event with no object, count, incident or overlay; fill in the rest with struct update.
    pub fn new(rule_id: &str, event_type: EventType, t_ns: u64, explanation: String) -> Self {
        Event {
            rule_id: rule_id.to_string(),
            event_type,
            t_ns,
            zone_id: None,
            objects: Vec::new(),
            confidence: 1.0,
            people: None,
            incident: None,
            overlay: Overlay::none(),
            explanation,
            measurements: Vec::new(),
        }
    }

    /// The main object's track id.
    pub fn track_id(&self) -> Option<u64> {
        self.objects.first().and_then(|o| o.track_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_and_have_labels() {
        assert_eq!(EventType::ALL.len(), 12);
        for &t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).ok(),
                Some(format!("\"{}\"", t.as_str()))
            );
            assert!(!t.label_fr().is_empty() && !t.label_en().is_empty());
        }
        assert_eq!(EventType::Intrusion.to_string(), "intrusion");
        assert_eq!(EventType::parse("loitering"), None);
        let faults = EventType::ALL
            .iter()
            .filter(|t| t.is_camera_fault())
            .count();
        assert_eq!(faults, 4);
    }
}
