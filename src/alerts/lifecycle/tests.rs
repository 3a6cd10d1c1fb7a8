use super::super::test_support::new_alert;
use super::*;

fn actor(name: &str, supervisor: bool) -> Actor {
    Actor {
        name: name.to_string(),
        role: if supervisor { "supervisor" } else { "operator" }.to_string(),
        supervisor,
    }
}

fn step(action: Action) -> TransitionInput {
    TransitionInput {
        action,
        reason: (action == Action::FalseAlarm).then_some(FalseAlarmReason::ShadowOrReflection),
        comment: None,
    }
}

fn open(outputs: &[&str]) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path().join("journal.db"))
        .unwrap()
        .with_outputs(outputs.iter().map(|s| s.to_string()).collect());
    (dir, j)
}

fn conflict(r: Result<(Alert, Option<Transition>), JournalError>) -> Conflict {
    match r {
        Err(JournalError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn the_whole_path_new_taken_decided_closed_with_comments() {
    let (_d, j) = open(&[]);
    let a = j.insert(&new_alert("c1")).unwrap();
    let camille = actor("camille", false);
    let (taken, t) = j.transition(a.id, &step(Action::Take), &camille).unwrap();
    assert_eq!(taken.status, AlertStatus::Acknowledged);
    let ack = taken.acknowledged.clone().unwrap();
    assert_eq!(ack.by, "camille");
    let t = t.unwrap();
    assert_eq!(
        (t.from, t.to, t.action),
        (AlertStatus::New, AlertStatus::Acknowledged, Action::Take)
    );
    assert_eq!(t.role.as_deref(), Some("operator"));
    // Taking it again changes nothing and records nothing.
    let (again, none) = j.transition(a.id, &step(Action::Take), &camille).unwrap();
    assert!(none.is_none());
    assert_eq!(again, taken);
    let note = TransitionInput {
        action: Action::Comment,
        reason: None,
        comment: Some("  je regarde la caméra 2  ".into()),
    };
    let (noted, t) = j.transition(a.id, &note, &camille).unwrap();
    assert_eq!(noted.status, AlertStatus::Acknowledged);
    assert_eq!(
        t.unwrap().comment.as_deref(),
        Some("je regarde la caméra 2")
    );
    let (dismissed, _) = j
        .transition(a.id, &step(Action::FalseAlarm), &camille)
        .unwrap();
    assert_eq!(dismissed.status, AlertStatus::FalseAlarm);
    assert!(dismissed.acknowledged.is_none());
    let d = dismissed.decision.clone().unwrap();
    assert_eq!(d.reason, Some(FalseAlarmReason::ShadowOrReflection));
    assert_eq!(
        (d.operator.as_str(), d.role.as_deref()),
        ("camille", Some("operator"))
    );
    let close = TransitionInput {
        action: Action::Close,
        reason: None,
        comment: Some("clos".into()),
    };
    let (closed, _) = j.transition(a.id, &close, &actor("lou", false)).unwrap();
    assert_eq!(closed.status, AlertStatus::Closed);
    assert_eq!(closed.closed.as_ref().unwrap().by, "lou");
    assert_eq!(
        closed.decision, dismissed.decision,
        "the decision it stands on stays visible"
    );
    let history: Vec<Action> = j
        .history(a.id)
        .unwrap()
        .into_iter()
        .map(|t| t.action)
        .collect();
    assert_eq!(
        history,
        [
            Action::Take,
            Action::Comment,
            Action::FalseAlarm,
            Action::Close
        ]
    );
    assert_eq!(j.list(None, 5).unwrap()[0], closed);
}

#[test]
fn the_first_operator_wins_and_the_second_learns_who() {
    let (_d, j) = open(&[]);
    let a = j.insert(&new_alert("c1")).unwrap();
    let (camille, lou) = (actor("camille", false), actor("lou", false));
    j.transition(a.id, &step(Action::Take), &camille).unwrap();
    for action in [
        Action::Take,
        Action::Confirm,
        Action::FalseAlarm,
        Action::Release,
    ] {
        let c = conflict(j.transition(a.id, &step(action), &lou));
        assert_eq!(c.by.as_deref(), Some("camille"), "{action:?}");
        assert_eq!(c.status, AlertStatus::Acknowledged);
        assert!(c.at_ms.is_some());
    }
    j.transition(a.id, &step(Action::Confirm), &camille)
        .unwrap();
    for action in [Action::Take, Action::Confirm, Action::FalseAlarm] {
        let c = conflict(j.transition(a.id, &step(action), &lou));
        assert_eq!(c.by.as_deref(), Some("camille"));
        assert!(c.message.contains("already decided"), "{}", c.message);
    }
    // Deciding without taking first is allowed on a new alert.
    let b = j.insert(&new_alert("c1")).unwrap();
    let (confirmed, _) = j.transition(b.id, &step(Action::Confirm), &lou).unwrap();
    assert_eq!(confirmed.status, AlertStatus::Confirmed);
    assert_eq!(
        j.history(a.id).unwrap().len(),
        2,
        "refused steps record nothing"
    );
}

#[test]
fn two_threads_deciding_at_once_one_wins() {
    let (_d, j) = open(&[]);
    let j = std::sync::Arc::new(j);
    for _ in 0..10 {
        let id = j.insert(&new_alert("c1")).unwrap().id;
        let handles: Vec<_> = ["camille", "lou"]
            .into_iter()
            .map(|name| {
                let j = j.clone();
                std::thread::spawn(move || {
                    j.transition(id, &step(Action::Confirm), &actor(name, false))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert_eq!(j.decisions(id).unwrap().len(), 1);
    }
}

#[test]
fn releasing_closing_and_reopening_follow_the_rules() {
    let (_d, j) = open(&[]);
    let a = j.insert(&new_alert("c1")).unwrap();
    let (camille, lou, sam) = (
        actor("camille", false),
        actor("lou", false),
        actor("sam", true),
    );
    // Nothing to release, nothing to close, nothing to reopen on a new alert.
    for (action, who) in [
        (Action::Release, &camille),
        (Action::Close, &camille),
        (Action::Reopen, &sam),
    ] {
        conflict(j.transition(a.id, &step(action), who));
    }
    j.transition(a.id, &step(Action::Take), &camille).unwrap();
    // A supervisor may release another operator's alert.
    let (released, _) = j.transition(a.id, &step(Action::Release), &sam).unwrap();
    assert_eq!(released.status, AlertStatus::New);
    j.transition(a.id, &step(Action::Take), &lou).unwrap();
    let (own, _) = j.transition(a.id, &step(Action::Release), &lou).unwrap();
    assert_eq!(own.status, AlertStatus::New);
    j.transition(a.id, &step(Action::Confirm), &lou).unwrap();
    // Only a supervisor reopens.
    assert!(matches!(
        j.transition(a.id, &step(Action::Reopen), &camille),
        Err(JournalError::Forbidden(_))
    ));
    j.transition(a.id, &step(Action::Close), &camille).unwrap();
    let c = conflict(j.transition(a.id, &step(Action::Close), &lou));
    assert_eq!(c.by.as_deref(), Some("camille"));
    let (reopened, _) = j.transition(a.id, &step(Action::Reopen), &sam).unwrap();
    assert_eq!(reopened.status, AlertStatus::New);
    assert!(reopened.decision.is_none() && reopened.closed.is_none());
    assert_eq!(
        j.decisions(a.id).unwrap().len(),
        1,
        "the history keeps the decision"
    );
}

#[test]
fn inputs_are_checked_before_anything_is_recorded() {
    let (_d, j) = open(&[]);
    let a = j.insert(&new_alert("c1")).unwrap();
    let camille = actor("camille", false);
    let invalid = |input: TransitionInput, who: &Actor| {
        matches!(
            j.transition(a.id, &input, who),
            Err(JournalError::Invalid(_))
        )
    };
    let mut no_reason = step(Action::FalseAlarm);
    no_reason.reason = None;
    assert!(invalid(no_reason, &camille));
    let mut reason_on_confirm = step(Action::Confirm);
    reason_on_confirm.reason = Some(FalseAlarmReason::Animal);
    assert!(invalid(reason_on_confirm, &camille));
    assert!(invalid(step(Action::Comment), &camille));
    let mut long = step(Action::Take);
    long.comment = Some("x".repeat(MAX_COMMENT_LEN + 1));
    assert!(invalid(long, &camille));
    assert!(invalid(step(Action::Take), &actor("  ", false)));
    assert!(invalid(step(Action::Take), &actor("a\u{1b}b", false)));
    assert!(matches!(
        j.transition(99, &step(Action::Take), &camille),
        Err(JournalError::NotFound(99))
    ));
    assert!(j.history(a.id).unwrap().is_empty());
    assert!(matches!(j.history(99), Err(JournalError::NotFound(99))));
}

#[test]
fn every_step_goes_to_the_outbox_in_the_same_transaction() {
    let (_d, j) = open(&["hook"]);
    let a = j.insert(&new_alert("c1")).unwrap();
    let camille = actor("camille", false);
    j.transition(a.id, &step(Action::Take), &camille).unwrap();
    j.transition(a.id, &step(Action::FalseAlarm), &camille)
        .unwrap();
    let due = j.outbox_due("hook", now_ms() + 1, 10).unwrap();
    let statuses: Vec<&str> = due
        .iter()
        .map(|i| i.body["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["new", "acknowledged", "false_alarm"]);
    assert_eq!(due[1].kind, OutboxKind::Decision);
    assert_eq!(due[1].body["acknowledged"]["by"], "camille");
    assert_eq!(due[2].body["decision"]["reason"], "shadow_or_reflection");
    assert_eq!(due[2].body["decision"]["operator"], "camille");
    // A refused outbox row refuses the step.
    j.lock()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'full'); END;",
        )
        .unwrap();
    assert!(j.transition(a.id, &step(Action::Close), &camille).is_err());
    assert_eq!(
        j.get(a.id).unwrap().unwrap().status,
        AlertStatus::FalseAlarm
    );
    assert_eq!(j.history(a.id).unwrap().len(), 2);
}

#[test]
fn an_update_of_an_incident_is_decided_through_its_incident() {
    let (_d, j) = open(&[]);
    let first = j.insert(&new_alert("c1")).unwrap();
    let update = j.insert(&new_alert("c1")).unwrap();
    // The second alert updates the first one's incident (as the alert bus links them).
    j.lock()
        .execute_batch(&format!(
            "UPDATE alerts SET incident_id = {0} WHERE id IN ({0}, {1});",
            first.id, update.id
        ))
        .unwrap();
    let camille = actor("camille", false);
    match j.transition(update.id, &step(Action::Confirm), &camille) {
        Err(JournalError::Invalid(m)) => {
            assert!(m.contains(&format!("incident {}", first.id)), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(j
        .transition(first.id, &step(Action::Confirm), &camille)
        .is_ok());
}

#[test]
fn names_of_actions_reasons_and_statuses_round_trip() {
    for a in Action::ALL {
        assert_eq!(Action::parse(a.as_str()), Some(a));
        assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
    }
    for r in FalseAlarmReason::ALL {
        assert_eq!(FalseAlarmReason::parse(r.as_str()), Some(r));
        assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
    }
    for s in AlertStatus::ALL {
        assert_eq!(AlertStatus::parse(s.as_str()), Some(s));
    }
    assert!(reasons().contains("\"shadow_or_reflection\""));
}
