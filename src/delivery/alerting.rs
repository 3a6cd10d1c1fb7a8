//! The stop switch and the legal state (issue 10 §1, §7): `GET /api/alerting` (every role: the
//! console shows a stop to everyone), `POST /api/alerting/stop` with `{"reason": …, "camera": …}`
//! and `POST /api/alerting/resume` with `{"camera": …}` (supervisor or admin; no camera: all of
//! them). Both are journaled in the hash chain under the authenticated account.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::access::Caller;
use super::{blocking, parse_body, ApiError, AppState};
use crate::alerts::now_ms;
use crate::auth::Permission;
use crate::governance::gate::{AlertingGate, GateView};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/alerting", get(view))
        .route("/api/alerting/stop", post(stop))
        .route("/api/alerting/resume", post(resume))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    reason: Option<String>,
    camera: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeBody {
    camera: Option<String>,
}

fn gate(state: &AppState) -> Result<std::sync::Arc<AlertingGate>, ApiError> {
    state.gate.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the alerting gate is not available in this process",
        )
    })
}

fn known_camera(state: &AppState, camera: &Option<String>) -> Result<(), ApiError> {
    let Some(id) = camera else { return Ok(()) };
    let cams = state.cameras.read().unwrap_or_else(|e| e.into_inner());
    if cams.iter().any(|c| c.id.as_str() == id) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!("unknown camera {id:?}")))
    }
}

async fn view(State(state): State<AppState>, caller: Caller) -> Result<Json<GateView>, ApiError> {
    caller.require(&state.auth, Permission::Cameras, "see the alerting state")?;
    Ok(Json(gate(&state)?.view(now_ms())))
}

async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<GateView>, ApiError> {
    caller.require(&state.auth, Permission::StopAlerting, "stop alerting")?;
    let body: StopBody = parse_body(body, "stop")?;
    known_camera(&state, &body.camera)?;
    let gate = gate(&state)?;
    let (g, who, role) = (
        gate.clone(),
        caller.principal.name.clone(),
        caller.principal.role,
    );
    blocking(move || {
        g.stop(
            body.camera.as_deref(),
            &who,
            role.as_str(),
            body.reason.as_deref().unwrap_or(""),
        )
    })
    .await?;
    Ok(Json(gate.view(now_ms())))
}

async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<GateView>, ApiError> {
    caller.require(&state.auth, Permission::StopAlerting, "resume alerting")?;
    let body: ResumeBody = parse_body(body, "resume")?;
    let gate = gate(&state)?;
    let (g, who, role) = (
        gate.clone(),
        caller.principal.name.clone(),
        caller.principal.role,
    );
    blocking(move || g.resume(body.camera.as_deref(), &who, role.as_str())).await?;
    Ok(Json(gate.view(now_ms())))
}
