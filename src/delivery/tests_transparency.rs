//! Issue 10 §4 and §6 through `app()`: an alert's transparency document (who may read it, HTML
//! and JSON, the thresholds of its own configuration version), the cameras' public summary, and
//! shadow alerts (hidden from operators, reviewed and judged by evaluators).

use super::tests::Answer;
use super::tests_access::{as_user, login, state_with};
use super::*;
use crate::alerts::test_support::new_alert;
use crate::auth::{AuthSettings, Role};
use crate::governance::transparency::tests::config;

/// Every role's session.
async fn sessions(state: &AppState) -> Vec<(Role, (String, String))> {
    let mut out = Vec::new();
    for role in Role::ALL {
        out.push((role, login(state, role.as_str()).await));
    }
    out
}

async fn get_as(state: &AppState, s: &(String, String), uri: &str) -> Answer {
    as_user(state, s, "GET", uri, None).await
}

#[tokio::test]
async fn an_alert_is_explained_to_supervisors_and_auditors_with_its_own_thresholds() {
    let (_d, state) = state_with(AuthSettings::default());
    let j = &state.journal;
    let v1 = j
        .record_config("start", &config(0.4, "live").parameters(), None)
        .unwrap();
    let mut new = new_alert("c1");
    new.config_version = Some(v1);
    new.explanation = "personne <script>alert(1)</script> dans la zone".into();
    let id = j.insert(&new).unwrap().id;
    j.record_config("reload", &config(0.55, "live").parameters(), None)
        .unwrap();
    let uri = format!("/api/alerts/{id}/transparency");
    for (role, s) in sessions(&state).await {
        let a = get_as(&state, &s, &uri).await;
        match role {
            Role::Supervisor | Role::Auditor => {
                assert_eq!(a.status, 200, "{role}: {}", a.text);
                let ct = a.headers["content-type"].to_str().unwrap();
                assert!(ct.starts_with("text/html"), "{ct}");
                assert!(a.text.contains("min_score = 0.4,"), "{}", a.text);
                assert!(!a.text.contains("0.55"), "{}", a.text);
                assert!(a.text.contains("lang=\"fr\""));
                assert!(!a.text.contains("<script>"), "{}", a.text);
                assert!(a.text.contains("&lt;script&gt;"), "{}", a.text);
            }
            _ => assert_eq!(a.status, 403, "{role}: {}", a.text),
        }
    }
    let auditor = login(&state, "auditor").await;
    let a = get_as(&state, &auditor, &format!("{uri}?format=json")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["parameters"]["config_version"], v1);
    assert_eq!(
        a.body["parameters"]["rule"]["min_score"],
        serde_json::json!(0.4)
    );
    assert_eq!(a.body["text"].as_array().unwrap().len(), 4);
    let a = request_accept(&state, &auditor, &uri, "application/json").await;
    assert_eq!(a.body["alert_id"], id, "{}", a.text);
    let a = get_as(&state, &auditor, &format!("{uri}?format=xml")).await;
    assert_eq!(a.status, 400);
    let a = get_as(&state, &auditor, "/api/alerts/999/transparency").await;
    assert_eq!(a.status, 404);
}

async fn request_accept(
    state: &AppState,
    (cookie, csrf): &(String, String),
    uri: &str,
    accept: &str,
) -> Answer {
    super::tests::request(
        state,
        "GET",
        uri,
        &[
            super::tests::HOST,
            ("cookie", cookie),
            ("x-csrf-token", csrf),
            ("accept", accept),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn every_role_reads_the_public_summary_of_the_cameras() {
    let (_d, state) = state_with(AuthSettings::default());
    state
        .journal
        .record_config("start", &config(0.4, "shadow").parameters(), None)
        .unwrap();
    for (role, s) in sessions(&state).await {
        let a = get_as(&state, &s, "/api/cameras/c1/transparency").await;
        assert_eq!(a.status, 200, "{role}: {}", a.text);
        assert!(a
            .text
            .contains("Intrusion en zone interdite : en évaluation"));
        assert!(a.text.contains("Marché &lt;de&gt; Noël"), "{}", a.text);
        assert!(!a.text.contains("rtsp"), "{}", a.text);
    }
    let admin = login(&state, "admin").await;
    let a = get_as(&state, &admin, "/api/cameras/nope/transparency").await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = get_as(&state, &admin, "/api/transparency?format=json").await;
    assert_eq!(a.body["cameras"][0]["camera_id"], "c1", "{}", a.text);
    assert_eq!(a.body["cameras"][0]["rules"][0]["mode"], "shadow");
}

#[tokio::test]
async fn shadow_alerts_reach_no_operator_and_evaluators_judge_them() {
    let (_d, state) = state_with(AuthSettings::default());
    let mut new = new_alert("c1");
    new.shadow = true;
    let shadow = state
        .bus
        .publish(new, std::time::Instant::now())
        .unwrap()
        .id;
    let op = login(&state, "operator").await;
    let a = get_as(&state, &op, "/api/alerts").await;
    let ids: Vec<i64> = a.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1]);
    for path in ["", "/snapshot.jpg", "/history", "/decisions"] {
        let a = get_as(&state, &op, &format!("/api/alerts/{shadow}{path}")).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text);
    }
    let a = as_user(
        &state,
        &op,
        "POST",
        &format!("/api/alerts/{shadow}/take"),
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(get_as(&state, &op, "/api/shadow-alerts").await.status, 403);

    let auditor = login(&state, "auditor").await;
    let a = get_as(&state, &auditor, "/api/shadow-alerts").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["alerts"][0]["id"], shadow);
    assert_eq!(a.body["alerts"][0]["shadow"], true);
    assert!(a.body["alerts"][0]["verdict"].is_null());
    let snap = get_as(
        &state,
        &auditor,
        &format!("/api/alerts/{shadow}/snapshot.jpg"),
    )
    .await;
    assert_eq!(snap.status, 200);
    let verdict = format!("/api/shadow-alerts/{shadow}/verdict");
    let body = r#"{"verdict":"false_alarm","comment":"ombre"}"#;
    let a = as_user(&state, &auditor, "POST", &verdict, Some(body)).await;
    assert_eq!(a.status, 403, "{}", a.text);

    let sup = login(&state, "supervisor").await;
    let a = as_user(&state, &sup, "POST", &verdict, Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["verdict"]["by"], "supervisor");
    for (bad, status) in [
        (r#"{"verdict":"maybe"}"#, 422),
        (r#"{}"#, 422),
        (r#"{"verdict":"true_alarm","x":1}"#, 422),
    ] {
        let a = as_user(&state, &sup, "POST", &verdict, Some(bad)).await;
        assert_eq!(a.status, status, "{bad}: {}", a.text);
    }
    let live = "/api/shadow-alerts/1/verdict";
    let a = as_user(&state, &sup, "POST", live, Some(body)).await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = get_as(&state, &sup, "/api/shadow-alerts").await;
    assert_eq!(a.body["alerts"][0]["verdict"]["verdict"], "false_alarm");
    assert_eq!(a.body["rules"][0]["false_alarm_share"], 1.0);
    let stats = get_as(&state, &sup, "/api/stats").await;
    assert_eq!(stats.body["alerts_by_status"]["new"], 1, "{}", stats.text);
    assert_eq!(stats.body["shadow"][0]["alerts"], 1, "{}", stats.text);
    assert!(state.journal.verify().unwrap().intact());
}
