use std::path::Path;

use super::*;
use crate::alerts::test_support::new_alert;
use crate::alerts::{Action, Actor, Journal, TransitionInput};
use crate::config::Config;

const MODEL_SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A configuration with camera `c1` (an intrusion rule `zone-intrusion` on zone `parvis` at
/// `min_score`, in `mode`) and an authorisation for it.
pub(crate) fn config(min_score: f32, mode: &str) -> Config {
    let text = format!(
        "[detector]\nmanifest = {:?}\n\
         [[authorisations]]\nreference = \"AP 2025-1\"\nauthority = \"Préfecture\"\n\
         purpose = \"Marché <de> Noël\"\ncameras = [\"c1\"]\nevent_types = [\"intrusion\"]\n\
         start = \"2020-01-01\"\nend = \"2040-12-31\"\n\
         [[cameras]]\nid = \"c1\"\nname = \"Parvis nord\"\nlocation = \"Place de la gare\"\n\
         source = \"rtsp://user:secret@10.0.0.1/live\"\n\
         [[cameras.zones]]\nid = \"parvis\"\npoints = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n\
         [[cameras.rules]]\nid = \"zone-intrusion\"\ntype = \"intrusion\"\nzone = \"parvis\"\n\
         classes = [\"person\"]\nmin_score = {min_score}\nmode = \"{mode}\"\n",
        format!("{}/models/models.toml", env!("CARGO_MANIFEST_DIR"))
    );
    Config::from_toml(&text, Path::new(".")).unwrap_or_else(|e| panic!("{e:?}"))
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Issue 10 §4: the explanation shows the thresholds in force when the alert fired, read from
/// its configuration version, after a reload changed them; and who decided what, when.
#[test]
fn an_alert_is_explained_from_its_own_version_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let model = Some(("nanodet-m-416", MODEL_SHA));
    let v1 = j
        .record_config("start", &config(0.4, "live").parameters(), model)
        .unwrap();
    let mut new = new_alert("c1");
    new.config_version = Some(v1);
    let a = j.insert(&new).unwrap();
    let v2 = j
        .record_config("reload", &config(0.55, "live").parameters(), model)
        .unwrap();
    assert_ne!(v1, v2);
    let agent = Actor {
        name: "agent1".into(),
        role: "operator".into(),
        supervisor: false,
    };
    for action in [Action::Take, Action::Confirm] {
        let step = TransitionInput {
            action,
            reason: None,
            comment: Some("vu <b>".into()),
        };
        j.transition(a.id, &step, &agent).unwrap();
    }
    let conn = read_only(&path);
    let e = explain(&conn, a.id).unwrap();
    assert_eq!(e.parameters.config_version, Some(v1));
    let rule = e.parameters.rule.as_ref().unwrap();
    assert_eq!(rule["min_score"], serde_json::json!(0.4));
    assert_eq!(rule["mode"], "live");
    assert_eq!(e.parameters.zone.as_ref().unwrap()["id"], "parvis");
    assert_eq!(e.data.model_sha256.as_deref(), Some(MODEL_SHA));
    assert_eq!(e.data.location.as_deref(), Some("Place de la gare"));
    assert_eq!(e.parameters.authorisations.len(), 1);
    assert!(e.parameters.authorisations[0].in_force);
    assert_eq!(e.contribution.steps.len(), 2);
    let text = to_text("t", &e.text);
    assert!(text.contains("min_score = 0.4,"), "{text}");
    assert!(!text.contains("0.55"), "{text}");
    assert!(
        text.contains("l'agent agent1 a décidé « alerte confirmée »"),
        "{text}"
    );
    assert!(
        text.contains("Valeur mesurée « dwell » : 3 s pour un seuil de 1 s"),
        "{text}"
    );
    assert!(text.contains(MODEL_SHA), "{text}");
    assert!(text.contains("AP 2025-1"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    let titles: Vec<&str> = e.text.iter().map(|s| &s.title[..2]).collect();
    assert_eq!(titles, ["1.", "2.", "3.", "4."]);
    // The operations in the order they ran.
    let order: Vec<&str> = e.operations.iter().map(|o| o.name).collect();
    assert_eq!(
        order,
        [
            "decode",
            "detection",
            "tracking",
            "rule",
            "gate",
            "journal",
            "human"
        ]
    );
    // HTML: every journaled value escaped.
    let html = to_html("Alerte", &[(String::new(), e.text.clone())]);
    assert!(html.contains("« vu &lt;b&gt; »"), "{html}");
    assert!(html.contains("Marché &lt;de&gt; Noël"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    // An unknown alert.
    assert!(matches!(
        explain(&conn, 99),
        Err(JournalError::NotFound(99))
    ));
}

/// An alert from before configuration versions, a camera fault, a shadow alert: each says what
/// is known and no more.
#[test]
fn what_was_not_journaled_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let old = j.insert(&new_alert("c1")).unwrap();
    let mut fault = new_alert("c1");
    fault.rule_id = "camera_health".into();
    fault.event_type = crate::rules::EventType::CameraOffline;
    fault.measurements.clear();
    let fault = j.insert(&fault).unwrap();
    let mut shadow = new_alert("c1");
    shadow.shadow = true;
    let shadow = j.insert(&shadow).unwrap();
    let conn = read_only(&path);
    let text = to_text("t", &explain(&conn, old.id).unwrap().text);
    assert!(
        text.contains("les seuils de l'époque ne sont pas connus"),
        "{text}"
    );
    assert!(
        text.contains("aucune décision d'agent n'est enregistrée"),
        "{text}"
    );
    let e = explain(&conn, fault.id).unwrap();
    let order: Vec<&str> = e.operations.iter().map(|o| o.name).collect();
    assert_eq!(
        order,
        ["decode", "camera_health", "gate", "journal", "human"]
    );
    let text = to_text("t", &e.text);
    assert!(text.contains("défaut technique de la caméra"), "{text}");
    let e = explain(&conn, shadow.id).unwrap();
    assert!(e.shadow);
    assert_eq!(e.operations.last().unwrap().name, "shadow");
    let text = to_text("t", &e.text);
    assert!(text.contains("n'a été montrée à aucun opérateur"), "{text}");
}

/// The public summary: what is analysed, under which authorisation, the retention; nothing
/// internal (no source URL, no zone coordinates, no rule id).
#[test]
fn a_camera_summary_is_fit_to_publish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let conn = read_only(&path);
    assert!(summary(&conn, None).is_err());
    j.record_config("start", &config(0.4, "shadow").parameters(), None)
        .unwrap();
    let all = summary(&conn, None).unwrap();
    assert_eq!(all.len(), 1);
    let s = &all[0];
    assert_eq!(s.rules[0].mode, "shadow");
    assert_eq!(s.rules[0].label, "Intrusion en zone interdite");
    assert_eq!((s.images_days, s.journal_days), (Some(30), Some(365)));
    let text = to_text("t", &s.text);
    assert!(
        text.contains("Intrusion en zone interdite : en évaluation"),
        "{text}"
    );
    assert!(
        text.contains("AP 2025-1, délivrée par Préfecture"),
        "{text}"
    );
    assert!(text.contains("Images : 30 jours"), "{text}");
    for secret in ["rtsp", "10.0.0.1", "zone-intrusion", "parvis", "0.1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(summary(&conn, Some("c1")).is_ok());
    assert!(summary(&conn, Some("nope")).is_err());
}
