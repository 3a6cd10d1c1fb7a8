//! The journal as an auditor gets it, with the real binary on real footage: every alert names the
//! configuration version and the model's SHA-256 in force; logins, failed logins, decisions and
//! a reload are chained; `vigie audit verify` finds an `UPDATE` or a `DELETE` made with the real
//! `sqlite3` behind the engine's back; `vigie audit export` writes a bundle the same command
//! verifies offline; `vigie audit config-at` gives the thresholds in force before and after the
//! reload.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use time::format_description::well_known::Rfc3339;

/// `vigie audit <args>`: exit code and standard output.
fn audit(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .output()
        .expect("run vigie audit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// The real `sqlite3` command line on `db` (installed by deploy/setup.sh).
fn sqlite3(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 is missing: run deploy/setup.sh");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of the journal, made by `sqlite3 .backup` (the WAL included).
fn copy_of(db: &Path, name: &str) -> std::path::PathBuf {
    let copy = db.with_file_name(name);
    sqlite3(db, &format!(".backup '{}'", copy.display()));
    copy
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap()
}

fn config_text(dir: &Path, min_score: f32) -> String {
    let camera = clip_camera("parvis", &clip().to_string_lossy(), false, "")
        .replace("min_score = 0.4", &format!("min_score = {min_score}"));
    format!("{}{}", header(dir), camera)
}

#[test]
fn the_journal_is_chained_verified_exported_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started = now_rfc3339();
    let cfg = write_config(d, &config_text(d, 0.4));
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let mut alerts = Vec::new();
    while let Some((id, a)) = sse.next_alert(Duration::from_secs(90)) {
        alerts.push((id, a));
        if alerts.len() >= 2 {
            break;
        }
    }
    assert!(
        alerts.len() >= 2,
        "expected 2 alerts; log:\n{}",
        vigie.log()
    );
    // Each alert names the configuration version and the model in force.
    let (first, a) = &alerts[0];
    let version = a["config_version"].as_i64().expect("config_version");
    let model = a["model_sha256"]
        .as_str()
        .expect("model_sha256")
        .to_string();
    assert_eq!(model.len(), 64, "{model}");
    let manifest = std::fs::read_to_string(repo().join("models/models.toml")).unwrap();
    assert!(
        manifest.contains(&model),
        "model sha256 {model} not in the manifest"
    );

    // A failed login, a login, a decision: all chained.
    let (status, _) = answer(
        ureq::post(&format!("{}/api/login", vigie.base))
            .send_json(serde_json::json!({"name": "agent2", "password": "pas le bon"})),
    );
    assert_eq!(status, 401);
    let operator = vigie.login("agent1");
    let resp = operator
        .post(&format!("/api/alerts/{first}/decision"))
        .send_json(serde_json::json!({"decision": "confirmed"}))
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A reload raises the threshold: a new version.
    let before_reload = now_rfc3339();
    std::thread::sleep(Duration::from_millis(1100));
    write_config(d, &config_text(d, 0.55));
    let (status, body) = answer(vigie.admin_post("/api/config/reload").call());
    assert_eq!(status, 200, "{body}");
    // Issue 10 §4, over HTTP: the alert's own thresholds, not the reloaded ones.
    let doc = vigie.get_json(&format!("/api/alerts/{first}/transparency?format=json"));
    assert_eq!(doc["parameters"]["config_version"], version, "{doc}");
    assert_eq!(
        doc["parameters"]["rule"]["min_score"],
        serde_json::json!(0.4),
        "{doc}"
    );
    assert_eq!(vigie.terminate(), Some(0));

    let db = d.join("journal.db");
    let db_arg = db.to_string_lossy().to_string();
    let (code, out) = audit(&["verify", "--journal", &db_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain intact"), "{out}");

    // The thresholds in force then and now.
    let (code, then) = audit(&["config-at", &before_reload, "--journal", &db_arg]);
    assert_eq!(code, 0, "{then}");
    assert!(
        then.contains(&format!("configuration version {version} (start)")),
        "{then}"
    );
    assert!(then.contains("min_score=0.4 "), "{then}");
    assert!(then.contains(&model), "{then}");
    let (code, now) = audit(&["config-at", "now", "--journal", &db_arg]);
    assert_eq!(code, 0, "{now}");
    assert!(
        now.contains("(reload)") && now.contains("min_score=0.55 "),
        "{now}"
    );

    // Issue 10 §4: `vigie audit explain` gives the thresholds in force at the alert, after the
    // reload changed them, with the measured values, the model and who decided.
    let (code, text) = audit(&["explain", &first.to_string(), "--journal", &db_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("min_score = 0.4,"), "{text}");
    assert!(!text.contains("min_score = 0.55"), "{text}");
    assert!(text.contains(&format!("version n° {version}")), "{text}");
    assert!(text.contains("Valeur mesurée"), "{text}");
    assert!(text.contains(&model), "{text}");
    assert!(
        text.contains("l'agent agent1 a décidé « alerte confirmée »"),
        "{text}"
    );
    let (code, text) = audit(&["summary", "--camera", "parvis", "--journal", &db_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Intrusion en zone interdite : en service"),
        "{text}"
    );
    let (code, text) = audit(&["explain", "999999", "--journal", &db_arg]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("alert 999999 not found"), "{text}");

    // The bundle of the period, verified offline; one edited byte breaks it.
    let bundle = d.join("bundle.jsonl");
    let (code, out) = audit(&[
        "export",
        "--journal",
        &db_arg,
        "--from",
        &started,
        "--to",
        "now",
        "--out",
        &bundle.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_file(&db).unwrap();
    let (code, out) = audit(&["verify", "--bundle", &bundle.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bundle intact"), "{out}");
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(text.contains("login_failed") && text.contains("\"transition\""));
    let edited = d.join("edited.jsonl");
    std::fs::write(&edited, text.replacen("\"agent1\"", "\"agent2\"", 1)).unwrap();
    let (code, out) = audit(&["verify", "--bundle", &edited.to_string_lossy()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bundle BROKEN"), "{out}");
}

/// The same journal edited with `sqlite3`: an UPDATE of an alert, a DELETE of an alert, a DELETE
/// of a failed login (its append-only trigger dropped first). Each is reported with its row.
#[test]
fn audit_verify_catches_sqlite3_edits_behind_the_engines_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write_config(d, &config_text(d, 0.4));
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let mut ids = Vec::new();
    while let Some((id, _)) = sse.next_alert(Duration::from_secs(90)) {
        ids.push(id);
        if ids.len() >= 2 {
            break;
        }
    }
    assert!(ids.len() >= 2, "expected 2 alerts; log:\n{}", vigie.log());
    let (status, _) = answer(
        ureq::post(&format!("{}/api/login", vigie.base))
            .send_json(serde_json::json!({"name": "agent2", "password": "pas le bon"})),
    );
    assert_eq!(status, 401);
    assert_eq!(vigie.terminate(), Some(0));
    let db = d.join("journal.db");
    let (code, out) = audit(&["verify", "--journal", &db.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");

    let cases = [
        (
            "update",
            format!("UPDATE alerts SET confidence = 0.99 WHERE id = {}", ids[0]),
            format!("alerts row {}", ids[0]),
        ),
        (
            "delete",
            format!(
                "PRAGMA foreign_keys = OFF; DELETE FROM outbox_events WHERE alert_id = {0};
                 DELETE FROM alerts WHERE id = {0}",
                ids[1]
            ),
            format!("alerts row {}", ids[1]),
        ),
        (
            "failed-login",
            "DROP TRIGGER security_events_append_only_delete;
             DELETE FROM security_events WHERE kind = 'login_failed'"
                .to_string(),
            "security_events row".to_string(),
        ),
    ];
    for (name, sql, row) in cases {
        let copy = copy_of(&db, &format!("{name}.db"));
        let (code, out) = audit(&["verify", "--journal", &copy.to_string_lossy()]);
        assert_eq!(code, 0, "{name}, before: {out}");
        sqlite3(&copy, &sql);
        let (code, out) = audit(&["verify", "--journal", &copy.to_string_lossy()]);
        assert_eq!(code, 1, "{name}: {out}");
        let first = out
            .lines()
            .find(|l| l.starts_with("first broken link"))
            .unwrap_or_else(|| panic!("{name}: {out}"));
        assert!(first.contains(&row), "{name}: {first}");
    }
}

/// Issue 10 §1: an authorisation that expires while the engine runs stops its rule at that
/// moment (the camera keeps being analysed, its events are withheld and counted); the change of
/// state is journaled and `check-config` then shows the rule inactive with the reason.
#[test]
fn an_expired_authorisation_stops_the_rule_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = time::OffsetDateTime::now_utc();
    let end = now + time::Duration::seconds(60);
    let end_ms = (end.unix_timestamp_nanos() / 1_000_000) as i64;
    let authorisation = format!(
        "[[authorisations]]\nreference = \"AP test\"\nauthority = \"Préfecture de test\"\n\
         purpose = \"essai\"\ncameras = [\"parvis\"]\nevent_types = [\"intrusion\"]\n\
         start = \"{}\"\nend = \"{}\"\n",
        (now - time::Duration::hours(1)).format(&Rfc3339).unwrap(),
        end.format(&Rfc3339).unwrap()
    );
    let camera = clip_camera("parvis", &clip().to_string_lossy(), false, "loop = true");
    let cfg = write_config(d, &format!("{}{authorisation}{camera}", header(d)));
    let (ok, out, err) = cli(&["check-config", &cfg.to_string_lossy()], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("rule parvis/esplanade-intrusion (intrusion): active"),
        "{out}"
    );
    assert!(
        out.contains("warning: authorisation \"AP test\" expires in 1 day"),
        "{out}"
    );

    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let mut created = Vec::new();
    let stop_at = std::time::Instant::now()
        + Duration::from_millis((end_ms - now_ms_here()).max(0) as u64 + 20_000);
    while std::time::Instant::now() < stop_at {
        let left = stop_at.saturating_duration_since(std::time::Instant::now());
        match sse.next_alert(left) {
            Some((_, a)) => created.push(a["created_at_ms"].as_i64().unwrap()),
            None => break,
        }
    }
    assert!(
        !created.is_empty(),
        "no alert while authorised; log:\n{}",
        vigie.log()
    );
    let late: Vec<i64> = created
        .iter()
        .filter(|t| **t > end_ms + 1000)
        .copied()
        .collect();
    assert!(
        late.is_empty(),
        "alerts after the expiry at {end_ms}: {late:?}"
    );
    // The rule kept running: its events were withheld and counted.
    let metrics = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    let withheld = metrics
        .lines()
        .find(|l| l.starts_with("vigie_alerts_withheld_total{camera=\"parvis\""))
        .unwrap_or_else(|| panic!("no withheld events counted:\n{metrics}"));
    assert!(!withheld.ends_with(" 0"), "{withheld}");
    let state = vigie.get_json("/api/alerting");
    assert_eq!(state["authorisations"][0]["state"], "expired", "{state}");
    assert_eq!(vigie.terminate(), Some(0));

    let db = rusqlite::Connection::open(d.join("journal.db")).unwrap();
    let states: Vec<String> = db
        .prepare("SELECT json_extract(body, '$.state') FROM audit_events WHERE kind = 'authorisation_state' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(states, ["in_force", "expired"]);
    let (ok, out, _) = cli(&["check-config", &cfg.to_string_lossy()], "");
    assert!(ok);
    assert!(
        out.contains("rule parvis/esplanade-intrusion (intrusion): INACTIVE: authorisation \"AP test\" is expired"),
        "{out}"
    );
    let (code, out) = audit(&[
        "verify",
        "--journal",
        &d.join("journal.db").to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}");
}

fn now_ms_here() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Issue 10 §6 with the real binary on vtest.avi: a rule in `mode = "shadow"` journals its
/// alerts for the evaluators and no operator hears of them; a reload putting it `live` is a
/// new configuration version, and from then on its alerts reach the operators.
#[test]
fn a_shadow_rule_reaches_no_operator_until_a_reload_puts_it_live() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = |mode: &str| {
        let camera = clip_camera("parvis", &clip().to_string_lossy(), false, "loop = true")
            .replace(
                "min_score = 0.4",
                &format!("min_score = 0.4\nmode = \"{mode}\""),
            );
        format!("{}{camera}", header(d))
    };
    let cfg = write_config(d, &text("shadow"));
    let vigie = Vigie::start(&cfg);
    let sse = Sse::connect(&vigie, None);
    let shadow = wait_for(Duration::from_secs(120), || {
        let page = vigie.get_json("/api/shadow-alerts");
        page["alerts"][0]["id"].as_i64()
    })
    .unwrap_or_else(|| panic!("no shadow alert; log:\n{}", vigie.log()));
    assert!(sse.next_alert(Duration::from_secs(2)).is_none());
    let listed = vigie.get_json("/api/alerts");
    assert_eq!(listed["alerts"], serde_json::json!([]), "{listed}");
    let metrics = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    assert!(
        metrics.contains("vigie_alerts_shadow_total{camera=\"parvis\""),
        "{metrics}"
    );
    // An evaluator's verdict (the supervisor token).
    let (status, body) = answer(
        vigie
            .post(&format!("/api/shadow-alerts/{shadow}/verdict"))
            .send_json(serde_json::json!({"verdict": "true_alarm"})),
    );
    assert_eq!(status, 200, "{body}");
    let before_reload = now_rfc3339();
    std::thread::sleep(Duration::from_millis(1100));
    write_config(d, &text("live"));
    let (status, body) = answer(vigie.admin_post("/api/config/reload").call());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["updated"], serde_json::json!(["parvis"]), "{body}");
    let (_, live) = sse
        .next_alert(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no live alert after going live; log:\n{}", vigie.log()));
    assert!(live.get("shadow").is_none(), "{live}");
    let stats = vigie.get_json("/api/stats");
    assert_eq!(stats["shadow"][0]["true_alarm"], 1, "{stats}");
    assert_eq!(vigie.terminate(), Some(0));

    let db_arg = d.join("journal.db").to_string_lossy().to_string();
    let (code, then) = audit(&["config-at", &before_reload, "--journal", &db_arg]);
    assert_eq!(code, 0, "{then}");
    assert!(then.contains("mode=shadow"), "{then}");
    let (code, now) = audit(&["config-at", "now", "--journal", &db_arg]);
    assert_eq!(code, 0, "{now}");
    assert!(
        now.contains("(reload)") && now.contains("mode=live"),
        "{now}"
    );
    let (code, text) = audit(&["explain", &shadow.to_string(), "--journal", &db_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("(mode évaluation)"), "{text}");
    assert!(text.contains("mode = shadow"), "{text}");
    let (code, out) = audit(&["verify", "--journal", &db_arg]);
    assert_eq!(code, 0, "{out}");
}
