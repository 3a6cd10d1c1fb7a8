//! Accounts, roles, sessions and bad input through `app()`: who may call what, and every refusal
//! a clear JSON error that changes nothing.

use std::time::Duration;

use super::tests::{request, test_state, Answer, HOST};
use super::*;
use crate::auth::{AuthSettings, Role, SessionSettings};

pub(super) const PW: &str = "un mot de passe long";

/// A state whose accounts have one user per role (named after it) and the given settings.
pub(super) fn state_with(settings: AuthSettings) -> (tempfile::TempDir, AppState) {
    let (dir, state) = test_state();
    let auth = Arc::new(Auth::open(state.journal.path(), settings).unwrap());
    for role in Role::ALL {
        auth.store()
            .add_user(role.as_str(), role, PW, "test")
            .unwrap();
    }
    let mut state = state;
    state.auth = auth;
    (dir, state)
}

/// Logs `name` in; returns the cookie (`vigie_session=…`) and the CSRF token.
pub(super) async fn login(state: &AppState, name: &str) -> (String, String) {
    let body = json!({"name": name, "password": PW}).to_string();
    let a = request(state, "POST", "/api/login", &[HOST], Some(&body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let cookie = a.headers["set-cookie"].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    (pair, a.body["csrf_token"].as_str().unwrap().to_string())
}

pub(super) async fn as_user(
    state: &AppState,
    (cookie, csrf): &(String, String),
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> Answer {
    request(
        state,
        method,
        uri,
        &[HOST, ("cookie", cookie), ("x-csrf-token", csrf)],
        body,
    )
    .await
}

fn nothing_changed(state: &AppState) {
    assert!(
        state.journal.history(1).unwrap().is_empty(),
        "a step was recorded"
    );
    assert_eq!(
        state.journal.get(1).unwrap().unwrap().status,
        crate::alerts::AlertStatus::New
    );
}

#[tokio::test]
async fn without_credentials_only_health_the_console_and_login_answer() {
    let (_d, state) = state_with(AuthSettings::default());
    let anonymous = [HOST, ("authorization", "")];
    for path in ["/healthz", "/", "/console.js", "/console.css"] {
        let a = request(&state, "GET", path, &anonymous, None).await;
        assert_eq!(a.status, 200, "{path}");
    }
    for (method, path) in [
        ("GET", "/api/alerts"),
        ("GET", "/api/alerts/1"),
        ("GET", "/api/alerts/1/snapshot.jpg"),
        ("GET", "/api/alerts/1/history"),
        ("GET", "/api/alerts/live"),
        ("GET", "/api/cameras"),
        ("GET", "/api/session"),
        ("GET", "/api/stats"),
        ("GET", "/api/security/events"),
        ("GET", "/metrics"),
        ("GET", "/forecast"),
        ("POST", "/api/forecast"),
        ("POST", "/api/alerts/1/decision"),
        ("POST", "/api/alerts/1/take"),
        ("POST", "/api/config/reload"),
        ("POST", "/api/logout"),
        ("GET", "/nope"),
    ] {
        let a = request(&state, method, path, &anonymous, None).await;
        assert_eq!(a.status, 401, "{method} {path}");
        assert!(
            a.body["error"].as_str().unwrap().contains("authentication"),
            "{path}"
        );
        assert!(a.headers.contains_key("www-authenticate"));
    }
    let bad = [HOST, ("authorization", "Bearer vgt_0123")];
    let a = request(&state, "GET", "/api/alerts", &bad, None).await;
    assert_eq!(a.status, 401);
    assert!(a.body["error"].as_str().unwrap().contains("token"));
    nothing_changed(&state);
}

#[tokio::test]
async fn metrics_can_be_opened_by_the_config() {
    let settings = AuthSettings {
        metrics_public: true,
        ..AuthSettings::default()
    };
    let (_d, state) = state_with(settings);
    let a = request(
        &state,
        "GET",
        "/metrics",
        &[HOST, ("authorization", "")],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    // Only the metrics.
    let a = request(
        &state,
        "GET",
        "/api/cameras",
        &[HOST, ("authorization", "")],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn a_login_opens_a_strict_session_whose_writes_need_the_csrf_token() {
    let (_d, state) = state_with(AuthSettings::default());
    let body = json!({"name": "operator", "password": PW}).to_string();
    let a = request(&state, "POST", "/api/login", &[HOST], Some(&body)).await;
    assert_eq!(a.status, 200);
    let cookie = a.headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(a.body["role"], "operator");
    assert_eq!(a.body["account"], "operator");
    let session = login(&state, "operator").await;
    let me = as_user(&state, &session, "GET", "/api/session", None).await;
    assert_eq!(
        me.body["permissions"],
        json!(["cameras", "metrics", "forecast", "read_alerts", "act"])
    );

    // A write without (or with a wrong) CSRF token is refused and changes nothing.
    let take_without = request(
        &state,
        "POST",
        "/api/alerts/1/take",
        &[HOST, ("cookie", &session.0)],
        None,
    )
    .await;
    assert_eq!(take_without.status, 403, "{}", take_without.body);
    assert!(take_without.body["error"]
        .as_str()
        .unwrap()
        .contains("CSRF"));
    let wrong = (session.0.clone(), "0".repeat(64));
    assert_eq!(
        as_user(&state, &wrong, "POST", "/api/alerts/1/take", None)
            .await
            .status,
        403
    );
    nothing_changed(&state);
    // With it, the step is recorded under the account.
    let a = as_user(&state, &session, "POST", "/api/alerts/1/take", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["acknowledged"]["by"], "operator");

    // Logged out: the cookie is cleared and refused.
    let out = as_user(&state, &session, "POST", "/api/logout", None).await;
    assert_eq!(out.status, 200);
    assert!(out.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let a = as_user(&state, &session, "GET", "/api/alerts", None).await;
    assert_eq!(a.status, 401);
    let kinds: Vec<String> = state
        .auth
        .store()
        .events(None, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"logout".to_string()) && kinds.contains(&"login_ok".to_string()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn failed_logins_are_refused_journaled_then_rate_limited() {
    let settings = AuthSettings {
        limiter: crate::auth::LimiterSettings {
            window: Duration::from_secs(600),
            per_account: 3,
            per_address: 50,
        },
        ..AuthSettings::default()
    };
    let (_d, state) = state_with(settings);
    let wrong = json!({"name": "operator", "password": "pas le bon mot de passe"}).to_string();
    for _ in 0..3 {
        let a = request(&state, "POST", "/api/login", &[HOST], Some(&wrong)).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.body["error"], "wrong name or password");
        assert!(!a.headers.contains_key("set-cookie"));
    }
    let right = json!({"name": "operator", "password": PW}).to_string();
    let a = request(&state, "POST", "/api/login", &[HOST], Some(&right)).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert!(a.body["retry_after_seconds"].as_u64().unwrap() > 500);
    let failures = state
        .auth
        .store()
        .events(None, 20)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "login_failed")
        .count();
    assert_eq!(failures, 3);
    assert_eq!(state.auth.store().session_count().unwrap(), 0);
    // Malformed and incomplete logins: JSON errors.
    for (body, status) in [
        ("{", 400),
        (r#"{"name":"operator"}"#, 422),
        (r#"{"name":1,"password":"x"}"#, 422),
    ] {
        let a = request(&state, "POST", "/api/login", &[HOST], Some(body)).await;
        assert_eq!(a.status, status, "{body}");
        assert!(a.body["error"].is_string());
    }
}

/// The role table of the issue, route by route: 403 (journaled) for a wrong role, the route's
/// own answer otherwise.
#[tokio::test]
async fn each_role_reaches_only_its_routes() {
    let (_d, state) = state_with(AuthSettings::default());
    let routes: &[(&str, &str, Option<&str>, &[Role])] = &[
        ("GET", "/api/cameras", None, &Role::ALL),
        ("GET", "/metrics", None, &Role::ALL),
        (
            "GET",
            "/api/alerts",
            None,
            &[Role::Operator, Role::Supervisor, Role::Auditor],
        ),
        (
            "GET",
            "/api/alerts/1",
            None,
            &[Role::Operator, Role::Supervisor, Role::Auditor],
        ),
        (
            "GET",
            "/api/alerts/1/snapshot.jpg",
            None,
            &[Role::Operator, Role::Supervisor, Role::Auditor],
        ),
        (
            "GET",
            "/api/alerts/1/history",
            None,
            &[Role::Operator, Role::Supervisor, Role::Auditor],
        ),
        (
            "GET",
            "/api/alerts/1/decisions",
            None,
            &[Role::Operator, Role::Supervisor, Role::Auditor],
        ),
        (
            "POST",
            "/api/alerts/1/comment",
            Some(r#"{"comment":"vu"}"#),
            &[Role::Operator, Role::Supervisor],
        ),
        ("GET", "/api/stats", None, &[Role::Supervisor]),
        (
            "GET",
            "/api/security/events",
            None,
            &[Role::Auditor, Role::Admin],
        ),
        // 503: no reloader in this test, but past the role check.
        ("POST", "/api/config/reload", None, &[Role::Admin]),
    ];
    for role in Role::ALL {
        let session = login(&state, role.as_str()).await;
        for (method, path, body, allowed) in routes {
            let a = as_user(&state, &session, method, path, *body).await;
            if allowed.contains(&role) {
                assert!(
                    a.status != 403 && a.status != 401,
                    "{role} {method} {path}: {} {}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(a.status, 403, "{role} {method} {path}: {}", a.body);
                assert!(
                    a.body["error"].as_str().unwrap().contains(role.as_str()),
                    "{}",
                    a.body
                );
            }
        }
    }
    let comments = state.journal.history(1).unwrap();
    let by: Vec<&str> = comments.iter().map(|t| t.account.as_str()).collect();
    assert_eq!(by, ["operator", "supervisor"]);
    // Refusals are journaled (off the request, so give them a moment).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let forbidden = state
        .auth
        .store()
        .events(None, 200)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "forbidden")
        .count();
    assert!(forbidden >= 10, "{forbidden}");
}

/// Issue 9, "Bad input": each a JSON error, none changes anything.
#[tokio::test]
async fn bad_input_gets_json_errors_and_changes_nothing() {
    let settings = AuthSettings {
        sessions: SessionSettings {
            idle_ms: 1_000,
            max_ms: 60_000,
        },
        ..AuthSettings::default()
    };
    let (_d, state) = state_with(settings);
    let op = login(&state, "operator").await;
    // Malformed JSON: 400.
    for path in [
        "/api/alerts/1/decision",
        "/api/alerts/1/take",
        "/api/alerts/1/comment",
    ] {
        let a = as_user(&state, &op, "POST", path, Some(r#"{"comment": "#)).await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(
            a.body["error"].as_str().unwrap().contains("invalid"),
            "{}",
            a.body
        );
    }
    // An unknown alert: 404.
    for path in [
        "/api/alerts/99/decision",
        "/api/alerts/99/take",
        "/api/alerts/99/close",
        "/api/alerts/99/history",
    ] {
        let (method, body) = if path.ends_with("history") {
            ("GET", None)
        } else {
            ("POST", Some(r#"{"decision":"confirmed"}"#))
        };
        let body = if path.ends_with("decision") {
            body
        } else {
            None
        };
        let a = as_user(&state, &op, method, path, body).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert_eq!(a.body["error"], "alert 99 not found");
    }
    // A body over 64 KiB: 413, whether it says its length or not.
    let big = json!({"decision": "confirmed", "comment": "x".repeat(70 * 1024)}).to_string();
    let a = as_user(&state, &op, "POST", "/api/alerts/1/decision", Some(&big)).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(
        a.body["error"].as_str().unwrap().contains("64 KiB"),
        "{}",
        a.body
    );
    let a = request(
        &state,
        "POST",
        "/api/alerts/1/decision",
        &[
            HOST,
            ("cookie", &op.0),
            ("x-csrf-token", &op.1),
            ("transfer-encoding", "chunked"),
        ],
        Some(&big),
    )
    .await;
    assert_eq!(a.status, 413, "{}", a.body);
    // A wrong role: 403.
    let auditor = login(&state, "auditor").await;
    let a = as_user(
        &state,
        &auditor,
        "POST",
        "/api/alerts/1/decision",
        Some(r#"{"decision":"confirmed"}"#),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.body["error"], "role auditor may not decide alerts");
    let a = as_user(&state, &op, "POST", "/api/alerts/1/reopen", None).await;
    assert_eq!(a.status, 403);
    // An expired session: 401, and the cookie is cleared.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let a = as_user(
        &state,
        &op,
        "POST",
        "/api/alerts/1/decision",
        Some(r#"{"decision":"confirmed"}"#),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("session expired"),
        "{}",
        a.body
    );
    assert!(a.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    nothing_changed(&state);
    let expired = state
        .auth
        .store()
        .events(None, 50)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "session_expired")
        .count();
    assert!(expired >= 1);
}

#[tokio::test]
async fn the_life_cycle_over_http_with_conflicts_naming_who() {
    let (_d, state) = state_with(AuthSettings::default());
    let op = login(&state, "operator").await;
    let sup = login(&state, "supervisor").await;
    let a = as_user(
        &state,
        &op,
        "POST",
        "/api/alerts/1/take",
        Some(r#"{"comment":"j'y vais"}"#),
    )
    .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("acknowledged"))
    );
    // The supervisor cannot decide an alert another operator holds: 409, with who and when.
    let a = as_user(
        &state,
        &sup,
        "POST",
        "/api/alerts/1/decision",
        Some(r#"{"decision":"confirmed"}"#),
    )
    .await;
    assert_eq!(a.status, 409);
    assert_eq!(
        (a.body["by"].as_str(), a.body["status"].as_str()),
        (Some("operator"), Some("acknowledged"))
    );
    let a = as_user(
        &state,
        &op,
        "POST",
        "/api/alerts/1/decision",
        Some(r#"{"decision":"false_alarm","reason":"weather","comment":"pluie"}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["decision"]["reason"], "weather");
    let a = as_user(
        &state,
        &sup,
        "POST",
        "/api/alerts/1/decision",
        Some(r#"{"decision":"confirmed"}"#),
    )
    .await;
    assert_eq!((a.status, a.body["by"].as_str()), (409, Some("operator")));
    let a = as_user(&state, &op, "POST", "/api/alerts/1/close", None).await;
    assert_eq!(a.body["status"], "closed");
    let a = as_user(
        &state,
        &sup,
        "POST",
        "/api/alerts/1/reopen",
        Some(r#"{"comment":"à revoir"}"#),
    )
    .await;
    assert_eq!((a.status, a.body["status"].as_str()), (200, Some("new")));
    let h = as_user(&state, &op, "GET", "/api/alerts/1/history", None).await;
    let steps: Vec<(String, String)> = h.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["action"].as_str().unwrap().to_string(),
                t["account"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("take", "operator"),
        ("false_alarm", "operator"),
        ("close", "operator"),
        ("reopen", "supervisor"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected);
    // Unknown fields are refused; a comment step needs a comment.
    let a = as_user(
        &state,
        &op,
        "POST",
        "/api/alerts/1/take",
        Some(r#"{"note":"x"}"#),
    )
    .await;
    assert_eq!(a.status, 422);
    let a = as_user(&state, &op, "POST", "/api/alerts/1/comment", None).await;
    assert_eq!(a.status, 422);
    // Statistics see it.
    let s = as_user(&state, &sup, "GET", "/api/stats", None).await;
    assert_eq!(s.body["alerts_by_status"]["new"], 1);
}

/// Issue 10 §7: a supervisor or an admin stops alerting with a reason and resumes it; every
/// role sees the state; operators and auditors may not touch it; both steps are in the chain.
#[tokio::test]
async fn the_stop_switch_is_for_supervisors_and_admins_and_is_journaled() {
    let (_d, state) = state_with(AuthSettings::default());
    let gate =
        Arc::new(crate::governance::gate::AlertingGate::open(state.journal.clone(), &[]).unwrap());
    let state = state.with_gate(gate.clone());
    for role in [Role::Operator, Role::Auditor] {
        let s = login(&state, role.as_str()).await;
        let a = as_user(
            &state,
            &s,
            "POST",
            "/api/alerting/stop",
            Some(r#"{"reason":"x"}"#),
        )
        .await;
        assert_eq!(a.status, 403, "{role}: {}", a.body);
        let a = as_user(&state, &s, "GET", "/api/alerting", None).await;
        assert_eq!(a.status, 200, "{role}: {}", a.body);
    }
    let sup = login(&state, "supervisor").await;
    let a = as_user(&state, &sup, "POST", "/api/alerting/stop", Some("{}")).await;
    assert_eq!(a.status, 422, "a stop needs a reason: {}", a.body);
    let a = as_user(
        &state,
        &sup,
        "POST",
        "/api/alerting/stop",
        Some(r#"{"reason":"x","camera":"nope"}"#),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    let a = as_user(
        &state,
        &sup,
        "POST",
        "/api/alerting/stop",
        Some(r#"{"reason":"exercice préfectoral"}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["stopped"]["by"], "supervisor");
    assert_eq!(a.body["stopped"]["reason"], "exercice préfectoral");
    let now = crate::alerts::now_ms();
    assert!(gate.decide("c1", "intrusion", now).is_err());
    assert!(gate.decide("c1", "camera_offline", now).is_ok());
    let admin = login(&state, "admin").await;
    let a = as_user(&state, &admin, "POST", "/api/alerting/resume", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["stopped"].is_null());
    let a = as_user(&state, &admin, "POST", "/api/alerting/resume", None).await;
    assert_eq!(a.status, 422, "not stopped: {}", a.body);
    assert!(gate.decide("c1", "intrusion", now).is_ok());
    let kinds: Vec<String> = state
        .journal
        .events(&["alerting_stopped", "alerting_resumed"])
        .unwrap()
        .into_iter()
        .map(|(k, b)| format!("{k} {}", b["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        ["alerting_stopped supervisor", "alerting_resumed admin"]
    );
    assert!(state.journal.verify().unwrap().intact());
}
