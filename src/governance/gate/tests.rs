use super::*;

fn journal() -> (tempfile::TempDir, Arc<Journal>) {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(Journal::open(dir.path().join("journal.db")).unwrap());
    (dir, j)
}

fn authorisation(start: &str, end: &str) -> AuthorisationConfig {
    AuthorisationConfig {
        reference: "arrêté 2025-1".into(),
        authority: "Préfecture".into(),
        purpose: "test".into(),
        cameras: vec!["parvis".into()],
        event_types: vec!["intrusion".into()],
        start: start.into(),
        end: end.into(),
    }
}

fn kinds(j: &Journal) -> Vec<String> {
    j.events(&[STOPPED, RESUMED, AUTHORISATION_STATE])
        .unwrap()
        .into_iter()
        .map(|(k, b)| format!("{k}:{}", b["state"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn without_authorisations_only_the_decree_list_and_the_stop_apply() {
    let (_d, j) = journal();
    let gate = AlertingGate::open(j, &[]).unwrap();
    let now = now_ms();
    assert!(gate.decide("parvis", "intrusion", now).is_ok());
    let e = gate.decide("parvis", "face_match", now).unwrap_err();
    assert!(e.contains("2023-828"), "{e}");
    assert!(!gate.view(now).authorisations_enforced);
}

#[test]
fn an_authorisation_covers_its_cameras_and_types_only_while_in_force() {
    let (_d, j) = journal();
    let a = authorisation("2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z");
    let gate = AlertingGate::open(j.clone(), &[a]).unwrap();
    let start = crate::governance::parse_time("2025-01-01T00:00:00Z").unwrap();
    assert!(gate.decide("parvis", "intrusion", start).is_ok());
    assert!(gate
        .decide("parvis", "intrusion", start + 3_599_999)
        .is_ok());
    // The minute it expires.
    let e = gate
        .decide("parvis", "intrusion", start + 3_600_000)
        .unwrap_err();
    assert!(e.contains("expired"), "{e}");
    let e = gate.decide("parvis", "intrusion", start - 1).unwrap_err();
    assert!(e.contains("not yet in force"), "{e}");
    let e = gate.decide("gare", "intrusion", start).unwrap_err();
    assert!(e.contains("no authorisation covers"), "{e}");
    assert!(gate.decide("parvis", "fire", start).is_err());
    // Camera faults always pass, whatever the authorisations.
    assert!(gate.decide("gare", "camera_offline", start - 1).is_ok());
    // Opened now (2026 or later), the authorisation is expired: journaled once.
    assert_eq!(kinds(&j), ["authorisation_state:expired"]);
    gate.refresh(now_ms()).unwrap();
    drop(gate);
    let _again = AlertingGate::open(
        j.clone(),
        &[authorisation(
            "2025-01-01T00:00:00Z",
            "2025-01-01T01:00:00Z",
        )],
    )
    .unwrap();
    assert_eq!(kinds(&j), ["authorisation_state:expired"]);
}

#[test]
fn state_changes_are_journaled_when_they_happen() {
    let (_d, j) = journal();
    let now = now_ms();
    let start = crate::governance::format_time(now + 60_000);
    let end = crate::governance::format_time(now + 120_000);
    let gate = AlertingGate::open(j.clone(), &[authorisation(&start, &end)]).unwrap();
    assert_eq!(kinds(&j), ["authorisation_state:not_yet_in_force"]);
    gate.refresh(now + 60_000).unwrap();
    gate.refresh(now + 90_000).unwrap();
    gate.refresh(now + 120_000).unwrap();
    assert_eq!(
        kinds(&j),
        [
            "authorisation_state:not_yet_in_force",
            "authorisation_state:in_force",
            "authorisation_state:expired"
        ]
    );
    assert!(j.verify().unwrap().intact());
}

#[test]
fn a_stop_withholds_everything_but_camera_faults_and_survives_a_restart() {
    let (_d, j) = journal();
    let gate = AlertingGate::open(j.clone(), &[]).unwrap();
    let now = now_ms();
    assert!(gate.stop(None, "sup", "supervisor", "  ").is_err());
    gate.stop(Some("parvis"), "sup", "supervisor", "maintenance")
        .unwrap();
    assert!(gate.decide("parvis", "intrusion", now).is_err());
    assert!(gate.decide("gare", "intrusion", now).is_ok());
    gate.stop(None, "admin", "admin", "ordre du préfet")
        .unwrap();
    let e = gate.decide("gare", "intrusion", now).unwrap_err();
    assert!(e.contains("ordre du préfet"), "{e}");
    assert!(gate.decide("gare", "camera_frozen", now).is_ok());
    drop(gate);
    // Restarted: still stopped.
    let gate = AlertingGate::open(j.clone(), &[]).unwrap();
    assert_eq!(gate.view(now).stopped.unwrap().reason, "ordre du préfet");
    assert!(gate.decide("gare", "intrusion", now).is_err());
    gate.resume(None, "sup", "supervisor").unwrap();
    assert!(gate.resume(None, "sup", "supervisor").is_err());
    assert!(gate.decide("gare", "intrusion", now).is_ok());
    assert!(gate.decide("parvis", "intrusion", now).is_err());
    gate.resume(Some("parvis"), "sup", "supervisor").unwrap();
    assert!(gate.decide("parvis", "intrusion", now).is_ok());
    assert_eq!(kinds(&j).len(), 4);
    assert!(j.verify().unwrap().intact());
}

#[test]
fn the_bus_journals_nothing_the_gate_refuses() {
    let (_d, j) = journal();
    let gate = Arc::new(AlertingGate::open(j.clone(), &[]).unwrap());
    let bus = crate::alerts::AlertBus::new(j.clone(), 8, crate::metrics::Metrics::new())
        .with_gate(gate.clone());
    gate.stop(None, "sup", "supervisor", "test").unwrap();
    let mut new = crate::alerts::test_support::new_alert("parvis");
    new.event_type = crate::rules::EventType::Intrusion;
    let e = bus
        .publish(new.clone(), std::time::Instant::now())
        .unwrap_err();
    assert!(matches!(e, JournalError::Withheld(_)), "{e}");
    assert_eq!(j.last_id().unwrap(), 0);
    let mut fault = new.clone();
    fault.event_type = crate::rules::EventType::CameraOffline;
    fault.rule_id = "camera_health".into();
    assert!(bus.publish(fault, std::time::Instant::now()).is_ok());
    gate.resume(None, "sup", "supervisor").unwrap();
    assert!(bus.publish(new, std::time::Instant::now()).is_ok());
    assert_eq!(j.last_id().unwrap(), 2);
}
