//! The life-cycle routes: `POST /api/alerts/{id}/take|release|decision|close|reopen|comment`
//! and `GET /api/alerts/{id}/history`. Each step is recorded under the authenticated caller;
//! a body may carry a `comment` (and, for a decision, `decision` and `reason`); nothing else is
//! accepted. A step refused because someone else got there first is a 409 naming them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::access::Caller;
use super::{blocking, parse_alert_id, parse_body, ApiError, AppState};
use crate::alerts::lifecycle::reasons;
use crate::alerts::{Action, Actor, DecisionKind, FalseAlarmReason, TransitionInput};
use crate::auth::Permission;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/alerts/{id}/take", post(take))
        .route("/api/alerts/{id}/release", post(release))
        .route("/api/alerts/{id}/decision", post(decide))
        .route("/api/alerts/{id}/close", post(close))
        .route("/api/alerts/{id}/reopen", post(reopen))
        .route("/api/alerts/{id}/comment", post(comment))
        .route("/api/alerts/{id}/history", get(history))
}

/// Body of every step but a decision: an optional comment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    comment: Option<String>,
}

/// Body of `POST /api/alerts/{id}/decision`. `operator` is refused: decisions carry the
/// authenticated account.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Option<String>,
    reason: Option<String>,
    comment: Option<String>,
    operator: Option<serde_json::Value>,
}

async fn take(
    s: State<AppState>,
    c: Caller,
    id: Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(s, c, id, Action::Take, b).await
}
async fn release(
    s: State<AppState>,
    c: Caller,
    id: Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(s, c, id, Action::Release, b).await
}
async fn close(
    s: State<AppState>,
    c: Caller,
    id: Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(s, c, id, Action::Close, b).await
}
async fn reopen(
    s: State<AppState>,
    c: Caller,
    id: Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(s, c, id, Action::Reopen, b).await
}
async fn comment(
    s: State<AppState>,
    c: Caller,
    id: Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(s, c, id, Action::Comment, b).await
}

/// The permission a step needs, and the words of its refusal.
fn needs(action: Action) -> (Permission, &'static str) {
    match action {
        Action::Reopen => (Permission::Supervise, "reopen a decision"),
        Action::Confirm | Action::FalseAlarm => (Permission::Act, "decide alerts"),
        _ => (Permission::Act, "act on alerts"),
    }
}

async fn step(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    action: Action,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_alert_id(&raw)?;
    let (permission, what) = needs(action);
    caller.require(&state.auth, permission, what)?;
    let body: StepBody = parse_body(body, action.as_str())?;
    let input = TransitionInput {
        action,
        reason: None,
        comment: body.comment,
    };
    apply(state, caller, id, input).await
}

/// `POST /api/alerts/{id}/decision` `{"decision": "confirmed" | "false_alarm", "reason"?,
/// "comment"?}`.
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::Act, "decide alerts")?;
    let body: DecisionBody = parse_body(body, "decision")?;
    if body.operator.is_some() {
        return Err(ApiError::unprocessable(
            "operator is not accepted: a decision is recorded under the authenticated account",
        ));
    }
    let decision = match body.decision.as_deref() {
        None => {
            return Err(ApiError::unprocessable(
                "decision is required: \"confirmed\" or \"false_alarm\"",
            ))
        }
        Some(raw) => DecisionKind::parse(raw).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "unknown decision {raw:?}: expected \"confirmed\" or \"false_alarm\""
            ))
        })?,
    };
    let reason = match body.reason.as_deref() {
        None => None,
        Some(raw) => Some(FalseAlarmReason::parse(raw).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "unknown reason {raw:?}: expected one of {}",
                reasons()
            ))
        })?),
    };
    let input = TransitionInput {
        action: decision.action(),
        reason,
        comment: body.comment,
    };
    apply(state, caller, id, input).await
}

async fn apply(
    state: AppState,
    caller: Caller,
    id: i64,
    input: TransitionInput,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = Actor {
        name: caller.principal.name.clone(),
        role: caller.principal.role.as_str().to_string(),
        supervisor: caller.principal.allows(Permission::Supervise),
    };
    let bus = state.bus.clone();
    let action = input.action;
    let (alert, step) = blocking(move || bus.transition(id, &input, &actor)).await?;
    tracing::info!(
        alert = id,
        action = action.as_str(),
        account = %caller.principal.name,
        status = alert.status.as_str(),
        recorded = step.is_some(),
        "alert life-cycle step"
    );
    Ok(Json(json!(*alert)))
}

/// `GET /api/alerts/{id}/history`: every step, oldest first.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    let steps = blocking(move || journal.history(id)).await?;
    Ok(Json(json!({ "alert_id": id, "history": steps })))
}
