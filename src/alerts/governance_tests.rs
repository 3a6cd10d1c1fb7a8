//! The record as an auditor sees it: every kind of row in the chain, tampering found with its
//! row, bundles checked offline, retention purges that keep the chain whole, and the parameter
//! history.

use std::io::BufReader;

use rusqlite::Connection;
use serde_json::json;

use super::test_support::new_alert;
use super::verify::{export, verify, verify_bundle};
use super::{Action, Actor, Journal, TransitionInput};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn open_temp() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path().join("journal.db")).unwrap();
    (dir, j)
}

fn operator(name: &str) -> Actor {
    Actor {
        name: name.into(),
        role: "operator".into(),
        supervisor: false,
    }
}

fn step(action: Action) -> TransitionInput {
    TransitionInput {
        action,
        reason: None,
        comment: None,
    }
}

/// A journal holding a row of every chained kind: three alerts (one taken and confirmed), two
/// configuration versions, a stop, a login and a failed login.
fn busy_journal() -> (tempfile::TempDir, Journal) {
    let (dir, j) = open_temp();
    let v1 = j
        .record_config(
            "start",
            &json!({"rules": [{"min_score": 0.4}]}),
            Some(("m", "aa")),
        )
        .unwrap();
    for cam in ["c1", "c2", "c3"] {
        let mut new = new_alert(cam);
        new.config_version = Some(v1);
        j.insert(&new).unwrap();
    }
    j.transition(1, &step(Action::Take), &operator("agent1"))
        .unwrap();
    j.transition(1, &step(Action::Confirm), &operator("agent1"))
        .unwrap();
    j.record_config(
        "reload",
        &json!({"rules": [{"min_score": 0.6}]}),
        Some(("m", "aa")),
    )
    .unwrap();
    j.record_event(
        "alerting_stopped",
        &json!({"by": "superviseur", "reason": "test"}),
    )
    .unwrap();
    let store = crate::auth::Store::open(j.path()).unwrap();
    store
        .record("login_ok", Some("agent1"), Some("127.0.0.1"), None)
        .unwrap();
    store
        .record("login_failed", Some("agent2"), Some("127.0.0.1"), None)
        .unwrap();
    (dir, j)
}

#[test]
fn every_kind_of_row_is_chained_and_verifies() {
    let (_dir, j) = busy_journal();
    let report = j.verify().unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.rows["alerts"], 3);
    assert_eq!(report.rows["alert_transitions"], 2);
    assert_eq!(report.rows["config_versions"], 2);
    assert_eq!(report.rows["security_events"], 2);
    // genesis, stop; 3 alerts + 2 status changes; 2 steps; 2 versions; 2 security events.
    assert_eq!(report.rows["audit_events"], 2);
    assert_eq!(report.links, 2 + 5 + 2 + 2 + 2);
    assert_eq!(report.images_checked, 3);
    let kinds: Vec<String> = j
        .lock()
        .prepare("SELECT kind FROM chain ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for k in ["genesis", "config", "alert", "transition", "alert_status"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    for k in ["alerting_stopped", "login_ok", "login_failed"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

/// What someone with the database file and `sqlite3` could do, and the row `verify` must name
/// first.
const TAMPERING: &[(&str, &str, &str, i64)] = &[
    (
        "edit an alert",
        "UPDATE alerts SET confidence = 0.99 WHERE id = 2",
        "alerts",
        2,
    ),
    (
        "delete an alert",
        "PRAGMA foreign_keys = OFF; DELETE FROM alerts WHERE id = 3",
        "alerts",
        3,
    ),
    (
        "rewrite who decided",
        "DROP TRIGGER alert_transitions_append_only_update;
         UPDATE alert_transitions SET account = 'agent2' WHERE id = 2",
        "alert_transitions",
        2,
    ),
    (
        "delete a failed login",
        "DROP TRIGGER security_events_append_only_delete;
         DELETE FROM security_events WHERE kind = 'login_failed'",
        "security_events",
        2,
    ),
    (
        "change a threshold in the history",
        "UPDATE config_versions SET parameters = '{\"rules\":[{\"min_score\":0.9}]}' WHERE id = 1",
        "config_versions",
        1,
    ),
    (
        "swap an image",
        "UPDATE alerts SET snapshot = x'ffd8ff00ffd9' WHERE id = 1",
        "alerts",
        1,
    ),
    (
        "insert an alert",
        "INSERT INTO alerts (camera_id, camera_name, rule_id, event_type, frame_time_ms,
             stream_ts_ns, created_at_ms, confidence, boxes, explanation, status)
         SELECT camera_id, camera_name, rule_id, event_type, frame_time_ms, stream_ts_ns,
             created_at_ms, confidence, boxes, explanation, 'new' FROM alerts WHERE id = 1",
        "alerts",
        4,
    ),
];

#[test]
fn tampering_behind_the_engines_back_is_found_with_its_row() {
    for (what, sql, table, row) in TAMPERING {
        let (dir, j) = busy_journal();
        drop(j);
        let path = dir.path().join("journal.db");
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        let report = verify(&Connection::open(&path).unwrap()).unwrap();
        assert!(!report.intact(), "{what}: not found");
        let first = report.first().unwrap();
        assert_eq!(
            (first.table.as_deref(), first.row_id),
            (Some(*table), Some(*row)),
            "{what}: {first}"
        );
    }
}

#[test]
fn rewriting_the_chain_itself_is_found() {
    let (dir, j) = busy_journal();
    drop(j);
    let path = dir.path().join("journal.db");
    let conn = Connection::open(&path).unwrap();
    // Recomputing one link's hash after editing its row is not enough: the next link names
    // the old hash.
    conn.execute_batch(
        "DROP TRIGGER chain_append_only_update; UPDATE alerts SET confidence = 0.5 WHERE id = 2",
    )
    .unwrap();
    let seq: i64 = conn
        .query_row(
            "SELECT MAX(seq) FROM chain WHERE source = 'alerts' AND row_id = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let row = super::chain::canonical_row(&conn, super::chain::table("alerts").unwrap(), 2)
        .unwrap()
        .unwrap();
    let mut link: super::chain::Link = conn
        .query_row(
            "SELECT seq, at_ms, kind, source, row_id, content_hash, prev_hash, hash FROM chain
             WHERE seq = ?1",
            [seq],
            super::chain::link_from_row,
        )
        .unwrap();
    link.content_hash = crate::detect::manifest::sha256_hex(row.as_bytes());
    link.hash = link.expected_hash();
    conn.execute(
        "UPDATE chain SET content = ?2, content_hash = ?3, hash = ?4 WHERE seq = ?1",
        rusqlite::params![seq, row, link.content_hash, link.hash],
    )
    .unwrap();
    let report = verify(&conn).unwrap();
    assert!(!report.intact());
    assert_eq!(
        report.first().unwrap().seq,
        Some(seq + 1),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_bundle_verifies_offline_and_any_edit_breaks_it() {
    let (_dir, j) = busy_journal();
    let mut bundle = Vec::new();
    let header = export(&j.lock(), None, None, &mut bundle).unwrap();
    assert_eq!(header.head.seq, j.chain_head().unwrap().unwrap().seq);
    let report = verify_bundle(&mut BufReader::new(&bundle[..]), None).unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    assert!(report.reaches_head);

    let text = String::from_utf8(bundle).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A row's value edited in the bundle.
    let edited = text.replacen("\"agent1\"", "\"agent9\"", 1);
    assert_ne!(edited, text);
    let r = verify_bundle(&mut BufReader::new(edited.as_bytes()), None).unwrap();
    assert!(!r.intact());
    // A line left out.
    let mut fewer = lines.clone();
    fewer.remove(4);
    let r = verify_bundle(&mut BufReader::new(fewer.join("\n").as_bytes()), None).unwrap();
    assert!(!r.intact());
    // A period: from the third link's time on, following the link before it.
    let at: i64 = j
        .lock()
        .query_row("SELECT at_ms FROM chain WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    let mut part = Vec::new();
    let h = export(&j.lock(), Some(at), None, &mut part).unwrap();
    assert!(h.first_seq <= 3 && h.before.seq == h.first_seq - 1);
    assert!(verify_bundle(&mut BufReader::new(&part[..]), None)
        .unwrap()
        .intact());
}

#[test]
fn retention_purges_leave_tombstones_and_a_valid_chain() {
    let (_dir, j) = busy_journal();
    let now = super::now_ms();
    // Nothing is old enough yet.
    assert_eq!(j.purge_images(now, 30).unwrap(), None);
    let images = j.purge_images(now + 31 * DAY_MS, 30).unwrap().unwrap();
    assert_eq!(images.images, 3);
    assert_eq!(j.snapshot(1).unwrap(), None);
    assert_eq!(j.image_purge(1).unwrap().unwrap().retention_days, 30);
    assert_eq!(
        j.get(1)
            .unwrap()
            .unwrap()
            .image_purged
            .unwrap()
            .retention_days,
        30
    );
    let report = j.verify().unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.images_purged, 3);

    // Below the legal minimum: refused, nothing deleted.
    assert!(j.purge_journal(now + 400 * DAY_MS, 100).is_err());
    assert!(j.get(1).unwrap().is_some());
    let journal = j.purge_journal(now + 366 * DAY_MS, 365).unwrap().unwrap();
    assert_eq!(journal.alerts, 3);
    assert_eq!(journal.decisions, 2);
    assert!(j.get(1).unwrap().is_none());
    let report = j.verify().unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.rows["alerts"], 0);
    // Every link of the purged rows: 3 alerts, 2 status changes, 2 steps.
    assert_eq!(report.links_purged, 7);
    // Security events and configuration versions are not alert rows: kept.
    assert_eq!(report.rows["security_events"], 2);
    // A purge's tombstone cannot be edited to hide what it took.
    let changed = j
        .lock()
        .execute(
            "UPDATE audit_events SET body = replace(body, '\"count\":7', '\"count\":6')
             WHERE kind = 'purge_journal'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    assert!(!j.verify().unwrap().intact());
}

#[test]
fn the_parameter_history_names_the_version_in_force() {
    let (_dir, j) = open_temp();
    let p1 = json!({"cameras": [{"rules": [{"id": "r", "min_score": 0.4}]}]});
    let p2 = json!({"cameras": [{"rules": [{"id": "r", "min_score": 0.6}]}]});
    let v1 = j
        .record_config("start", &p1, Some(("nanodet", "abc")))
        .unwrap();
    // A reload that changes nothing records nothing.
    assert_eq!(
        j.record_config("reload", &p1, Some(("nanodet", "abc")))
            .unwrap(),
        v1
    );
    let mut new = new_alert("c1");
    new.config_version = Some(v1);
    let a = j.insert(&new).unwrap();
    assert_eq!(a.config_version, Some(v1));
    assert_eq!(a.model_sha256.as_deref(), Some("abc"));
    let between = super::now_ms();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let v2 = j
        .record_config("reload", &p2, Some(("nanodet", "abc")))
        .unwrap();
    assert_ne!(v1, v2);
    let (then, until) = j.config_at(between).unwrap().unwrap();
    assert_eq!(then.id, v1);
    assert_eq!(then.parameters, p1);
    assert!(until.is_some());
    let (now, until) = j.config_at(super::now_ms()).unwrap().unwrap();
    assert_eq!((now.id, until), (v2, None));
    assert_eq!(now.parameters["cameras"][0]["rules"][0]["min_score"], 0.6);
    assert!(j.config_at(0).unwrap().is_none());
    // A restart records the configuration again, even unchanged.
    assert_ne!(j.record_config("start", &p2, None).unwrap(), v2);
    assert!(j.verify().unwrap().intact());
}

/// The journal purge takes an old alert's clip (row, link content and file) with it, and never
/// half an incident: an old first alert stays while a later alert of its incident is younger.
#[test]
fn the_journal_purge_takes_clips_and_keeps_incidents_whole() {
    let (dir, j) = open_temp();
    let mut head = new_alert("c1");
    head.incident = Some(crate::rules::IncidentRef {
        id: 1,
        update: false,
    });
    let head = j.insert(&head).unwrap();
    let lone = j.insert(&new_alert("c2")).unwrap();
    let file = dir.path().join("2.mp4");
    std::fs::write(&file, b"mp4").unwrap();
    j.record_clip(&super::NewClip {
        alert_id: lone.id,
        file: Ok(super::test_support::clip_info(&file)),
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = super::now_ms();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut later = new_alert("c1");
    later.incident_id = head.incident_id;
    later.incident = Some(crate::rules::IncidentRef {
        id: 1,
        update: true,
    });
    let later = j.insert(&later).unwrap();
    assert_eq!(later.incident_id, Some(head.id));

    let report = j
        .purge_journal(cutoff + 365 * DAY_MS, 365)
        .unwrap()
        .unwrap();
    assert_eq!((report.alerts, report.clips), (1, 1));
    assert!(j.get(lone.id).unwrap().is_none());
    assert!(j.clip(lone.id).unwrap().is_none(), "the clip row went");
    assert!(!file.exists(), "the clip file went");
    assert!(
        j.get(head.id).unwrap().is_some(),
        "the incident's first alert stays while a later one is younger"
    );
    let report = j.verify().unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.rows["alert_clips"], 0);
    // Once the whole incident is old, it goes whole.
    let report = j
        .purge_journal(super::now_ms() + 366 * DAY_MS, 365)
        .unwrap()
        .unwrap();
    assert_eq!(report.alerts, 2);
    assert!(j.verify().unwrap().intact());
}
