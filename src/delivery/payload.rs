//! What outputs send: the Vigie JSON envelope of an outbox event (MQTT `<prefix>/alerts`,
//! `<prefix>/decisions`, `<prefix>/cameras/<id>/state`, webhook bodies), the ONVIF-style event
//! message (`<prefix>/onvif-ej/RuleEngine/…`), and the webhook signature.
//!
//! Bytes depend only on the stored event and the configuration, so a retry sends exactly the
//! same message (same signature) and receivers can drop duplicates by `event_id` (or, on
//! `<prefix>/alerts`, by `alert.id`).

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::alerts::{OutboxItem, OutboxKind};

/// One MQTT message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// Event types with a standard ONVIF rule topic: `(event_type, topic under RuleEngine/, the
/// Data item set to true)`. Any other rule event goes to `RuleEngine/Vigie/<EventType>` with
/// `State`.
const ONVIF_RULES: &[(&str, &str, &str)] =
    &[("intrusion", "FieldDetector/ObjectsInside", "IsInside")];

/// `2024-05-01T10:00:00.123Z` from milliseconds since the epoch.
pub fn utc_time(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

/// Links in the alert (`snapshot_url`, and any later `*_url` such as a clip) made absolute with
/// `public_url`; left relative without one.
fn absolutize(alert: &mut Value, public_url: Option<&str>) {
    let (Some(base), Some(obj)) = (public_url, alert.as_object_mut()) else {
        return;
    };
    let base = base.trim_end_matches('/');
    for (key, v) in obj.iter_mut() {
        if let Some(path) = v
            .as_str()
            .filter(|p| key.ends_with("_url") && p.starts_with('/'))
        {
            *v = Value::String(format!("{base}{path}"));
        }
    }
}

/// The Vigie JSON of an event: `{"event", "event_id", "created_at", "alert" | "camera"}`.
pub fn vigie_json(item: &OutboxItem, public_url: Option<&str>) -> Value {
    let mut body = item.body.clone();
    let key = match item.kind {
        OutboxKind::Alert | OutboxKind::Decision | OutboxKind::Still => {
            absolutize(&mut body, public_url);
            "alert"
        }
        OutboxKind::CameraState => "camera",
    };
    json!({
        "event": item.kind.as_str(),
        "event_id": item.event_id,
        "created_at": utc_time(item.created_at_ms),
        key: body,
    })
}

fn camel(s: &str) -> String {
    s.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The ONVIF-style message of a rule alert (`None` for camera faults, decisions and states):
/// topic `<prefix>/onvif-ej/RuleEngine/<RuleType>/&<camera>/<rule>`, payload with `UtcTime`,
/// `Source` and `Data`.
pub fn onvif_message(item: &OutboxItem, prefix: &str, public_url: Option<&str>) -> Option<Message> {
    if item.kind != OutboxKind::Alert {
        return None;
    }
    let a = &item.body;
    let event_type = a["event_type"].as_str()?;
    if crate::alerts::camera_state_of(event_type).is_some() {
        return None;
    }
    let (camera, rule) = (a["camera_id"].as_str()?, a["rule_id"].as_str()?);
    let (local, flag) = match ONVIF_RULES.iter().find(|(t, _, _)| *t == event_type) {
        Some((_, local, flag)) => ((*local).to_string(), *flag),
        None => (format!("Vigie/{}", camel(event_type)), "State"),
    };
    let mut absolute = a.clone();
    absolutize(&mut absolute, public_url);
    let payload = json!({
        "UtcTime": utc_time(a["frame_time_ms"].as_i64().unwrap_or(item.created_at_ms)),
        "Source": {
            "VideoSourceConfigurationToken": camera,
            "VideoAnalyticsConfigurationToken": "vigie",
            "Rule": rule,
        },
        "Data": {
            flag: true,
            "ObjectId": a["track_id"],
            "ClassTypes": a["boxes"][0]["label"],
            "Likelihood": a["confidence"],
            "AlertId": a["id"],
            "EventType": event_type,
            "Zone": a["zone_id"],
            "Explanation": a["explanation"],
            "SnapshotUrl": absolute["snapshot_url"],
        },
    });
    Some(Message {
        topic: format!("{prefix}/onvif-ej/RuleEngine/{local}/&{camera}/{rule}"),
        payload: payload.to_string().into_bytes(),
        retain: false,
    })
}

/// Every MQTT message of an event: an alert gives its ONVIF message (rule alerts) and
/// `<prefix>/alerts`; a decision `<prefix>/decisions`; an attached still `<prefix>/stills`; a
/// camera state the retained `<prefix>/cameras/<id>/state`.
pub fn mqtt_messages(item: &OutboxItem, prefix: &str, public_url: Option<&str>) -> Vec<Message> {
    let vigie = vigie_json(item, public_url).to_string().into_bytes();
    let message = |topic: String, retain| Message {
        topic,
        payload: vigie.clone(),
        retain,
    };
    match item.kind {
        OutboxKind::Alert => onvif_message(item, prefix, public_url)
            .into_iter()
            .chain([message(format!("{prefix}/alerts"), false)])
            .collect(),
        OutboxKind::Decision => vec![message(format!("{prefix}/decisions"), false)],
        OutboxKind::Still => vec![message(format!("{prefix}/stills"), false)],
        OutboxKind::CameraState => {
            let camera = item.body["camera_id"].as_str().unwrap_or("unknown");
            vec![message(format!("{prefix}/cameras/{camera}/state"), true)]
        }
    }
}

/// `X-Vigie-Signature`: `sha256=` and the lowercase hex HMAC-SHA256 of the body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_item(kind: OutboxKind) -> OutboxItem {
        OutboxItem {
            id: 3,
            event_id: 17,
            kind,
            body: json!({
                "id": 42,
                "camera_id": "parvis",
                "camera_name": "Parvis",
                "rule_id": "esplanade-intrusion",
                "event_type": "intrusion",
                "zone_id": "esplanade",
                "frame_time_ms": 1_700_000_000_123i64,
                "confidence": 0.8,
                "track_id": 7,
                "boxes": [{"class_id": 0, "label": "person", "score": 0.8, "box": [0.1, 0.2, 0.3, 0.4]}],
                "explanation": "person in zone esplanade for 1.2 s",
                "status": "new",
                "snapshot_url": "/api/alerts/42/snapshot.jpg",
                "decision": null,
            }),
            created_at_ms: 1_700_000_000_500,
            attempts: 0,
        }
    }

    #[test]
    fn utc_time_has_milliseconds_and_z() {
        assert_eq!(utc_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(utc_time(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn vigie_json_wraps_the_alert_with_absolute_links() {
        let v = vigie_json(
            &alert_item(OutboxKind::Alert),
            Some("https://vigie.csu.example/"),
        );
        assert_eq!(v["event"], "alert");
        assert_eq!(v["event_id"], 17);
        assert_eq!(v["created_at"], "2023-11-14T22:13:20.500Z");
        assert_eq!(v["alert"]["id"], 42);
        assert_eq!(
            v["alert"]["snapshot_url"],
            "https://vigie.csu.example/api/alerts/42/snapshot.jpg"
        );
        // Without a public URL the link stays relative.
        let rel = vigie_json(&alert_item(OutboxKind::Decision), None);
        assert_eq!(rel["event"], "decision");
        assert_eq!(rel["alert"]["snapshot_url"], "/api/alerts/42/snapshot.jpg");
    }

    #[test]
    fn alert_gives_an_onvif_message_then_the_vigie_one() {
        let msgs = mqtt_messages(&alert_item(OutboxKind::Alert), "csu/vigie", None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].topic,
            "csu/vigie/onvif-ej/RuleEngine/FieldDetector/ObjectsInside/&parvis/esplanade-intrusion"
        );
        let onvif: Value = serde_json::from_slice(&msgs[0].payload).unwrap();
        assert_eq!(onvif["UtcTime"], "2023-11-14T22:13:20.123Z");
        assert_eq!(onvif["Source"]["VideoSourceConfigurationToken"], "parvis");
        assert_eq!(onvif["Source"]["Rule"], "esplanade-intrusion");
        assert_eq!(onvif["Data"]["IsInside"], true);
        assert_eq!(onvif["Data"]["ObjectId"], 7);
        assert_eq!(onvif["Data"]["AlertId"], 42);
        assert_eq!(onvif["Data"]["ClassTypes"], "person");
        assert_eq!(msgs[1].topic, "csu/vigie/alerts");
        assert!(!msgs[0].retain && !msgs[1].retain);
        let vigie: Value = serde_json::from_slice(&msgs[1].payload).unwrap();
        assert_eq!(vigie["alert"]["id"], 42);
    }

    #[test]
    fn other_rules_get_a_vigie_rule_topic_and_faults_none() {
        let mut item = alert_item(OutboxKind::Alert);
        item.body["event_type"] = json!("abandoned_object");
        let m = onvif_message(&item, "p", None).unwrap();
        assert_eq!(
            m.topic,
            "p/onvif-ej/RuleEngine/Vigie/AbandonedObject/&parvis/esplanade-intrusion"
        );
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["Data"]["State"], true);
        item.body["event_type"] = json!("camera_offline");
        assert!(onvif_message(&item, "p", None).is_none());
        assert_eq!(mqtt_messages(&item, "p", None).len(), 1);
    }

    #[test]
    fn decisions_stills_and_retained_camera_states() {
        let d = mqtt_messages(&alert_item(OutboxKind::Decision), "p", None);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].topic, "p/decisions");
        let mut still = alert_item(OutboxKind::Still);
        still.body["still_url"] = json!("/api/alerts/42/still.jpg");
        let s = mqtt_messages(&still, "p", Some("https://x"));
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].topic.as_str(), s[0].retain), ("p/stills", false));
        let v: Value = serde_json::from_slice(&s[0].payload).unwrap();
        assert_eq!(v["event"], "still");
        assert_eq!(v["alert"]["still_url"], "https://x/api/alerts/42/still.jpg");
        let state = OutboxItem {
            kind: OutboxKind::CameraState,
            body: json!({"camera_id": "gate", "state": "offline", "alert_id": 5}),
            ..alert_item(OutboxKind::CameraState)
        };
        let m = mqtt_messages(&state, "p", Some("https://x"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].topic, "p/cameras/gate/state");
        assert!(m[0].retain);
        let v: Value = serde_json::from_slice(&m[0].payload).unwrap();
        assert_eq!(v["event"], "camera_state");
        assert_eq!(v["camera"]["state"], "offline");
    }

    #[test]
    fn the_same_event_gives_the_same_bytes() {
        let item = alert_item(OutboxKind::Alert);
        assert_eq!(
            mqtt_messages(&item, "p", Some("http://h")),
            mqtt_messages(&item.clone(), "p", Some("http://h"))
        );
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(sign(b"other", b"x"), sign(b"Jefe", b"x"));
    }
}
