//! Transparency and shadow review (issue 10 §4, §6):
//!
//! - `GET /api/alerts/{id}/transparency`: one alert explained (supervisor, auditor);
//! - `GET /api/cameras/{id}/transparency` and `GET /api/transparency`: what each camera is
//!   analysed for, for the public (every role);
//!
//! each as an HTML page in French, or JSON with `?format=json` or `Accept: application/json`
//! (see [`crate::governance::transparency`]); and
//!
//! - `GET /api/shadow-alerts?limit=&before=`: shadow alerts with their verdicts and the
//!   false-alarm rate of each rule (supervisor, auditor);
//! - `POST /api/shadow-alerts/{id}/verdict` `{"verdict": "true_alarm" | "false_alarm",
//!   "comment"?}`: an evaluator's verdict, journaled under the account (supervisor).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::access::Caller;
use super::{blocking, page_params, parse_alert_id, parse_body, query_params, ApiError, AppState};
use crate::alerts::{Actor, JournalError, Verdict};
use crate::auth::Permission;
use crate::governance::audit::open_read_only;
use crate::governance::transparency::{self, Section};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/alerts/{id}/transparency", get(alert_document))
        .route("/api/cameras/{id}/transparency", get(camera_document))
        .route("/api/transparency", get(all_cameras))
        .route("/api/shadow-alerts", get(shadow_alerts))
        .route("/api/shadow-alerts/{id}/verdict", post(verdict))
}

/// JSON when asked with `?format=json` or `Accept: application/json`; HTML otherwise (or with
/// `?format=html`). Another `format` is 400.
fn wants_json(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.get("format").map(String::as_str) {
        Some("json") => return Ok(true),
        Some("html") => return Ok(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be \"html\" or \"json\", got {other:?}"
            )))
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(accept.contains("application/json") && !accept.contains("text/html"))
}

/// Reads the journal through its own read-only connection, as `vigie audit` does.
async fn read<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Connection) -> Result<T, JournalError> + Send + 'static,
{
    let path = state.journal.path().to_path_buf();
    blocking(move || {
        let conn = open_read_only(&path).map_err(|e| JournalError::Invalid(e.to_string()))?;
        f(&conn)
    })
    .await
}

fn page(title: &str, parts: &[(String, Vec<Section>)]) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(transparency::to_html(title, parts)),
    )
        .into_response()
}

async fn alert_document(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(
        &state.auth,
        Permission::Explain,
        "read an alert's explanation",
    )?;
    let json = wants_json(&query_params(query)?, &headers)?;
    let e = read(&state, move |c| transparency::explain(c, id)).await?;
    if json {
        return Ok(Json(e).into_response());
    }
    let title = transparency::alert_title(&e);
    Ok(page(&title, &[(String::new(), e.text)]))
}

async fn camera_document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&state.auth, Permission::Cameras, "see the cameras")?;
    let json = wants_json(&query_params(query)?, &headers)?;
    let mut all = read(&state, |c| transparency::summary(c, None)).await?;
    all.retain(|s| s.camera_id == id);
    if all.is_empty() {
        return Err(ApiError::not_found(format!(
            "no camera {id:?} in the configuration in force"
        )));
    }
    summaries(all, json)
}

async fn all_cameras(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&state.auth, Permission::Cameras, "see the cameras")?;
    let json = wants_json(&query_params(query)?, &headers)?;
    let all = read(&state, |c| transparency::summary(c, None)).await?;
    summaries(all, json)
}

fn summaries(all: Vec<transparency::CameraSummary>, json: bool) -> Result<Response, ApiError> {
    if json {
        return Ok(Json(json!({ "cameras": all })).into_response());
    }
    let parts: Vec<(String, Vec<Section>)> = all
        .into_iter()
        .map(|s| (transparency::camera_title(&s), s.text))
        .collect();
    Ok(page("Vidéoprotection : ce que Vigie analyse", &parts))
}

async fn shadow_alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&state.auth, Permission::ReadShadow, "review shadow alerts")?;
    let q = query_params(query)?;
    let (limit, before) = page_params(&q)?;
    let journal = state.journal.clone();
    let (mut alerts, rates) = blocking(move || {
        Ok((
            journal.list_shadow(before, limit + 1)?,
            journal.shadow_stats(0)?,
        ))
    })
    .await?;
    let next_before = if alerts.len() > limit as usize {
        alerts.truncate(limit as usize);
        alerts.last().map(|a| a.alert.id)
    } else {
        None
    };
    Ok(Json(json!({
        "alerts": alerts,
        "next_before": next_before,
        "rules": rates,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictBody {
    verdict: Option<String>,
    comment: Option<String>,
}

async fn verdict(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::JudgeShadow, "judge shadow alerts")?;
    let body: VerdictBody = parse_body(body, "verdict")?;
    let expected = "\"true_alarm\" or \"false_alarm\"";
    let verdict = match body.verdict.as_deref() {
        None => {
            return Err(ApiError::unprocessable(format!(
                "verdict is required: {expected}"
            )))
        }
        Some(raw) => Verdict::parse(raw).ok_or_else(|| {
            ApiError::unprocessable(format!("unknown verdict {raw:?}: expected {expected}"))
        })?,
    };
    let actor = Actor {
        name: caller.principal.name.clone(),
        role: caller.principal.role.as_str().to_string(),
        supervisor: true,
    };
    let journal = state.journal.clone();
    // An id that is not a shadow alert is 404, like an unknown one.
    let record =
        blocking(move || journal.judge_shadow(id, verdict, &actor, body.comment.as_deref()))
            .await?;
    tracing::info!(alert = id, verdict = verdict.as_str(), account = %caller.principal.name, "shadow verdict");
    Ok(Json(json!({ "alert_id": id, "verdict": record })))
}
