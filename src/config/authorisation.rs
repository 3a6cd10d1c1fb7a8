//! `[[authorisations]]`: the legal record an analysis runs under (décret 2023-828): which
//! authority allowed which event types on which cameras, for what purpose, from when to when.
//! The gate that applies it at alert publication is `governance::gate`.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

/// The event types of décret 2023-828, the closed list: nothing else may ever be raised.
pub const DECREE_EVENT_TYPES: &[&str] = &[
    "abandoned_object",
    "weapon",
    "wrong_way",
    "intrusion",
    "person_on_ground",
    "crowd_movement",
    "density",
    "fire",
];

/// Camera faults: about the video, not about people; always allowed, never gated.
pub const CAMERA_FAULTS: &[&str] = &[
    "camera_offline",
    "camera_frozen",
    "camera_obstructed",
    "camera_restored",
];

/// One authorisation, as the prefectoral order gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorisationConfig {
    /// The order's number and date, e.g. "arrêté préfectoral n° 2025-123 du 3 mars 2025".
    pub reference: String,
    /// Who granted it, e.g. "Préfecture de police".
    pub authority: String,
    /// What for, as the order says it.
    pub purpose: String,
    /// Camera ids it covers.
    pub cameras: Vec<String>,
    /// Event types it allows (from [`DECREE_EVENT_TYPES`]).
    pub event_types: Vec<String>,
    /// First instant it is in force: RFC 3339 (`2025-03-01T08:00:00+01:00`) or a date
    /// (`2025-03-01`, midnight UTC).
    pub start: String,
    /// Last day (a date: in force until the end of that day, UTC) or instant (RFC 3339,
    /// excluded) it is in force.
    pub end: String,
}

/// `[start_ms, end_ms)` of an authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// `2025-03-01T12:00:00+01:00` (RFC 3339) or a date `2025-03-01` (midnight UTC, or the next
/// midnight with `end_of_day`), as milliseconds since the Unix epoch.
pub fn parse_time_ms(text: &str, end_of_day: bool) -> Result<i64, String> {
    let text = text.trim();
    let at = match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let date = Date::parse(
                text,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| format!("{text:?} is not a date (2025-03-01) or an RFC 3339 time"))?;
            let midnight = date.with_time(Time::MIDNIGHT).assume_utc();
            if end_of_day {
                midnight + Duration::days(1)
            } else {
                midnight
            }
        }
    };
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|e| e.to_string())
}

impl AuthorisationConfig {
    /// When it is in force; `Err` when a date does not parse or the end is not after the start.
    pub fn period(&self) -> Result<Period, Vec<(&'static str, String)>> {
        let start = parse_time_ms(&self.start, false);
        let end = parse_time_ms(&self.end, true);
        match (start, end) {
            (Ok(start_ms), Ok(end_ms)) if end_ms > start_ms => Ok(Period { start_ms, end_ms }),
            (Ok(_), Ok(_)) => Err(vec![(
                "end",
                format!("{} is not after the start {}", self.end, self.start),
            )]),
            (start, end) => Err([("start", start.err()), ("end", end.err())]
                .into_iter()
                .filter_map(|(f, e)| e.map(|e| (f, e)))
                .collect()),
        }
    }

    /// Whether it covers `camera` and `event_type`.
    pub fn covers(&self, camera: &str, event_type: &str) -> bool {
        self.cameras.iter().any(|c| c == camera) && self.event_types.iter().any(|e| e == event_type)
    }

    /// Problems as `(field, message)`, for the caller to prefix with `authorisations[i].`.
    pub fn check(&self, camera_ids: &[&str]) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = Vec::new();
        for (field, value) in [
            ("reference", &self.reference),
            ("authority", &self.authority),
            ("purpose", &self.purpose),
        ] {
            if value.trim().is_empty() {
                errors.push((field.into(), "is required".into()));
            }
        }
        if self.cameras.is_empty() {
            errors.push(("cameras".into(), "names no camera".into()));
        }
        for (i, cam) in self.cameras.iter().enumerate() {
            if !camera_ids.contains(&cam.as_str()) {
                errors.push((format!("cameras[{i}]"), format!("unknown camera {cam:?}")));
            }
        }
        if self.event_types.is_empty() {
            errors.push(("event_types".into(), "names no event type".into()));
        }
        for (i, ev) in self.event_types.iter().enumerate() {
            if CAMERA_FAULTS.contains(&ev.as_str()) {
                errors.push((
                    format!("event_types[{i}]"),
                    format!("{ev:?} is a camera fault: always allowed, not authorised"),
                ));
            } else if !DECREE_EVENT_TYPES.contains(&ev.as_str()) {
                errors.push((
                    format!("event_types[{i}]"),
                    format!(
                        "{ev:?} is not in the closed list of décret 2023-828: {}",
                        DECREE_EVENT_TYPES.join(", ")
                    ),
                ));
            }
        }
        if let Err(e) = self.period() {
            errors.extend(e.into_iter().map(|(f, m)| (f.to_string(), m)));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> AuthorisationConfig {
        AuthorisationConfig {
            reference: "arrêté n° 2025-1".into(),
            authority: "Préfecture".into(),
            purpose: "sécurité du marché de Noël".into(),
            cameras: vec!["parvis".into()],
            event_types: vec!["intrusion".into()],
            start: "2025-12-01".into(),
            end: "2025-12-31".into(),
        }
    }

    #[test]
    fn a_date_end_includes_its_whole_day() {
        let p = auth().period().unwrap();
        assert_eq!(p.end_ms - p.start_ms, 31 * 24 * 3600 * 1000);
        let mut a = auth();
        a.start = "2025-12-01T08:00:00+01:00".into();
        a.end = "2025-12-01T09:00:00+01:00".into();
        let p = a.period().unwrap();
        assert_eq!(p.end_ms - p.start_ms, 3600 * 1000);
    }

    #[test]
    fn errors_name_their_field() {
        assert!(auth().check(&["parvis"]).is_empty());
        let mut a = auth();
        a.end = "2025-11-30".into();
        a.cameras.push("gare".into());
        a.event_types = vec!["face_recognition".into(), "camera_offline".into()];
        let fields: Vec<String> = a.check(&["parvis"]).into_iter().map(|e| e.0).collect();
        assert_eq!(
            fields,
            ["cameras[1]", "event_types[0]", "event_types[1]", "end"]
        );
        a.start = "demain".into();
        assert!(a.check(&["parvis"]).iter().any(|e| e.0 == "start"));
    }

    /// The gate's lists are the engine's closed list of event types, nothing more or less.
    #[test]
    fn the_lists_are_the_engine_event_types() {
        use crate::rules::EventType;
        for t in EventType::ALL {
            let (fault, decree) = (
                CAMERA_FAULTS.contains(&t.as_str()),
                DECREE_EVENT_TYPES.contains(&t.as_str()),
            );
            assert_eq!(
                (fault, decree),
                (t.is_camera_fault(), !t.is_camera_fault()),
                "{t:?}"
            );
        }
        assert_eq!(
            CAMERA_FAULTS.len() + DECREE_EVENT_TYPES.len(),
            EventType::ALL.len()
        );
    }
}
