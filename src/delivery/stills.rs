//! `GET /api/alerts/{id}/still.jpg`: the alert's full-resolution still (ReadAlerts), the main
//! stream's picture of the alert's instant attached after the alert (a camera whose detection
//! reads its sub-stream). 404 with `Retry-After` while it is on its way, 404 saying why when it
//! could not be made or none was expected, 410 when a retention purge deleted it.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::access::Caller;
use super::{
    blocking, evidence_gone, evidence_pending, jpeg_response, parse_alert_id, ApiError, AppState,
};
use crate::auth::Permission;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/alerts/{id}/still.jpg", get(still))
}

async fn still(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    let reviewer = caller.principal.allows(Permission::ReadShadow);
    let (alert, jpeg) = blocking(move || Ok((journal.get_any(id)?, journal.still(id)?))).await?;
    // A shadow alert's images are for its evaluators only: to an operator it does not exist.
    let Some(alert) = alert.filter(|a| !a.shadow || reviewer) else {
        return Err(ApiError::not_found(format!("alert {id} not found")));
    };
    if let Some(jpeg) = jpeg {
        return Ok(jpeg_response(jpeg));
    }
    if let Some(p) = &alert.image_purged {
        return Ok(evidence_gone("full-resolution still", id, p));
    }
    if alert.still_pending {
        return Ok(evidence_pending(
            "1",
            format!("the full-resolution still of alert {id} is being decoded; retry in a second"),
        ));
    }
    let why = alert.still_error.unwrap_or_else(|| {
        "its camera's main stream is decoded continuously (the snapshot is full resolution) or \
         not kept"
            .to_string()
    });
    Err(ApiError::not_found(format!(
        "alert {id} has no full-resolution still: {why}"
    )))
}
