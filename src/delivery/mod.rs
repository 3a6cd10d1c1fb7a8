//! HTTP delivery: the REST API over the alert journal, the live alert stream (Server-Sent
//! Events), the operator console, camera status, health and Prometheus metrics, behind the
//! accounts of [`crate::auth`] (see [`access`]).
//!
//! Recording a step of an alert's life cycle is the only write about alerts, and it only
//! records: the engine never acts on its own.

pub mod access;
mod actions;
mod alerting;
mod clips;
mod guard;
mod live;
pub mod mqtt;
pub mod output;
mod payload;
mod stills;
pub mod tls;
mod transparency;
pub mod webhook;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::watch;

use crate::alerts::{AlertBus, Journal, JournalError};
use crate::auth::{Auth, Permission};
use crate::ingest::{CameraSnapshot, CameraStatus};
use crate::metrics::Metrics;
use crate::rules::EventType;

use access::Caller;
pub use access::{Peer, MAX_BODY};
pub use guard::{exposure_warning, Guard, CONTENT_SECURITY_POLICY};
pub use live::{LiveFeed, LiveItem, ResumePoint};
pub use payload::utc_time;

/// The operator console: a page, its script (every string in French and English) and its
/// style, served as files (no inline script; no CDN: the machine is offline).
pub const CONSOLE_HTML: &str = include_str!("console/index.html");
pub const CONSOLE_JS: &str = include_str!("console/console.js");
pub const CONSOLE_CSS: &str = include_str!("console/console.css");

/// How often a live stream checks that its caller is still allowed (session not ended, account
/// not disabled, token not revoked).
const LIVE_RECHECK: Duration = Duration::from_secs(15);

/// Default and largest page sizes of `GET /api/alerts`.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// Settings of the live stream.
#[derive(Debug, Clone, Copy)]
pub struct LiveConfig {
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
    /// Alerts read from the journal at a time when a console catches up.
    pub catchup_page: u32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            keep_alive: Duration::from_secs(10),
            catchup_page: 200,
        }
    }
}

/// Why a configuration reload changed nothing (or not everything).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The file is invalid: every problem, each with its path (`cameras[1].source: …`).
    #[error("{message}")]
    Invalid {
        message: String,
        errors: Vec<String>,
    },
    /// The file changes settings that need a restart; each one is named.
    #[error("{message}")]
    Refused {
        message: String,
        errors: Vec<String>,
    },
    /// The reload could not be carried out.
    #[error("{0}")]
    Failed(String),
}

/// Re-reads and applies the configuration (`POST /api/config/reload`, SIGHUP). Provided by
/// whoever runs the engine: delivery knows nothing of the engine.
pub trait Reloader: Send + Sync {
    /// Applies the configuration file; the report is returned as is to the caller.
    fn reload(&self) -> Result<serde_json::Value, ReloadError>;
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub journal: Arc<Journal>,
    pub bus: AlertBus,
    pub cameras: Arc<RwLock<Vec<Arc<CameraStatus>>>>,
    pub metrics: Metrics,
    pub started: Instant,
    pub live: LiveConfig,
    /// The planned-event forecast model, when one is configured (`/api/forecast`).
    pub forecast: Option<Arc<crate::forecast::ForecastModel>>,
    /// Hot reload of the configuration, when the engine offers it (`/api/config/reload`).
    pub reloader: Option<Arc<dyn Reloader>>,
    /// Which Host names the server answers to (see [`Guard`]); loopback only by default.
    pub guard: Arc<Guard>,
    /// Accounts, sessions, tokens: who may call what.
    pub auth: Arc<Auth>,
    /// Authorisations and the stop switch (`/api/alerting`), when the engine runs one.
    pub gate: Option<Arc<crate::governance::gate::AlertingGate>>,
    /// Set by [`serve`] when it shuts down, so live streams end and connections drain.
    shutdown: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State over `bus` (its journal and metrics), the cameras' shared status and the accounts.
    pub fn new(
        bus: AlertBus,
        cameras: Arc<RwLock<Vec<Arc<CameraStatus>>>>,
        auth: Arc<Auth>,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        AppState {
            journal: bus.journal().clone(),
            metrics: bus.metrics().clone(),
            bus,
            cameras,
            started: Instant::now(),
            live: LiveConfig::default(),
            forecast: None,
            reloader: None,
            guard: Arc::new(Guard::loopback()),
            auth,
            gate: None,
            shutdown: Arc::new(shutdown),
        }
    }

    pub fn with_forecast(mut self, model: Option<Arc<crate::forecast::ForecastModel>>) -> Self {
        self.forecast = model;
        self
    }

    pub fn with_reloader(mut self, reloader: Option<Arc<dyn Reloader>>) -> Self {
        self.reloader = reloader;
        self
    }

    pub fn with_gate(mut self, gate: Arc<crate::governance::gate::AlertingGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Arc::new(guard);
        self
    }

    pub fn with_live_config(mut self, live: LiveConfig) -> Self {
        self.live = live;
        self
    }

    /// Ends every open live stream (they also end when [`serve`]'s shutdown future completes).
    pub fn close_live_streams(&self) {
        self.shutdown.send_replace(true);
    }

    fn camera_snapshots(&self) -> Vec<CameraSnapshot> {
        // A poisoned lock only means a panic elsewhere; the list itself is intact.
        let cameras = self.cameras.read().unwrap_or_else(|e| e.into_inner());
        cameras.iter().map(|c| c.snapshot()).collect()
    }
}

/// The whole HTTP API and console: the [`Guard`] first (Host allow-list, same-origin writes,
/// anti-framing headers), then [`access::authenticate`] (body size, session or token, CSRF),
/// then each handler's permission check.
pub fn app(state: AppState) -> Router {
    let forecast = crate::forecast::router(state.forecast.clone());
    let guard = state.guard.clone();
    let access = axum::middleware::from_fn_with_state(state.clone(), access::authenticate);
    Router::new()
        .route("/", get(console))
        .route("/console.js", get(console_js))
        .route("/console.css", get(console_css))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/login", post(access::login))
        .route("/api/logout", post(access::logout))
        .route("/api/session", get(access::session))
        .route("/api/security/events", get(access::security_events))
        .route("/api/stats", get(stats))
        .route("/api/cameras", get(cameras))
        .route("/api/event-types", get(event_types))
        .route("/api/alerts", get(list_alerts))
        .route("/api/alerts/live", get(live_alerts))
        .route("/api/alerts/{id}", get(get_alert))
        .route("/api/alerts/{id}/snapshot.jpg", get(snapshot))
        .route("/api/alerts/{id}/decisions", get(decisions))
        .route("/api/config/reload", post(reload_config))
        .merge(actions::routes())
        .merge(clips::routes())
        .merge(stills::routes())
        .merge(alerting::routes())
        .merge(transparency::routes())
        .with_state(state)
        .merge(forecast)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(access)
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}

/// Serves [`app`] over plain HTTP on `listener` until `shutdown` completes (see [`serve_on`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(tls::Listener::plain(listener)?, state, shutdown).await
}

/// Serves [`app`] on `listener` (plain or TLS) until `shutdown` completes, then ends the live
/// streams and waits for open requests to finish.
pub async fn serve_on(
    listener: tls::Listener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = listener.is_tls();
    if let Some(warning) = axum::serve::Listener::local_addr(&listener)
        .ok()
        .and_then(|a| exposure_warning(a, tls))
    {
        tracing::warn!("{warning}");
    }
    let closer = state.clone();
    let signal = async move {
        shutdown.await;
        closer.close_live_streams();
    };
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(signal)
    .await
}

/// An error answer: `{"error": "...", ...}` with its status (a 409 also says who got there
/// first: `status`, `by`, `at_ms`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            extra: serde_json::Map::new(),
        }
    }
    /// Adds a field to the JSON answer.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("error".into(), json!(self.message));
        (self.status, Json(serde_json::Value::Object(body))).into_response()
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::NotFound(id) => ApiError::not_found(format!("alert {id} not found")),
            JournalError::Invalid(reason) => ApiError::unprocessable(reason),
            JournalError::Forbidden(reason) => ApiError::new(StatusCode::FORBIDDEN, reason),
            JournalError::Conflict(c) => ApiError::new(StatusCode::CONFLICT, c.message)
                .with("status", json!(c.status))
                .with("by", json!(c.by))
                .with("at_ms", json!(c.at_ms)),
            other => {
                tracing::error!(error = %other, "alert journal failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

/// Runs a journal call off the async workers.
async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, JournalError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("journal task failed: {e}"),
        )),
    }
}

/// An id as this API writes it: decimal digits only, no sign, no leading zero, no spaces
/// (`+1` and `01` are not `1`). Zero only when `zero_ok`.
pub(crate) fn parse_id(raw: &str, zero_ok: bool) -> Option<i64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    let id = raw.parse::<i64>().ok().filter(|_| canonical)?;
    (id > 0 || zero_ok).then_some(id)
}

fn parse_alert_id(raw: &str) -> Result<i64, ApiError> {
    parse_id(raw, false).ok_or_else(|| {
        ApiError::bad_request(format!(
            "alert id must be a positive integer (digits only, no sign or leading zero), got {raw:?}"
        ))
    })
}

fn query_params(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and `before` (a positive id) of a page.
fn page_params(q: &HashMap<String, String>) -> Result<(u32, Option<i64>), ApiError> {
    let limit = match q.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit must be an integer from 1 to {MAX_PAGE}, got {raw:?}"
                )))
            }
        },
    };
    let before = match q.get("before") {
        None => None,
        Some(raw) => Some(parse_id(raw, false).ok_or_else(|| {
            ApiError::bad_request(format!("before must be a positive id, got {raw:?}"))
        })?),
    };
    Ok((limit, before))
}

/// A JSON body of a write: an empty body is the default value; a body over the limit is 413,
/// malformed JSON 400, a wrong or unknown field 422, each with a JSON error.
fn parse_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        let detail = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("over the limit of {} KiB", MAX_BODY / 1024)
        } else {
            e.body_text()
        };
        ApiError::new(e.status(), format!("cannot read the {what} body: {detail}"))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let status = match e.classify() {
            serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, format!("invalid {what} body: {e}"))
    })
}

async fn console() -> impl IntoResponse {
    // Content-Security-Policy and the other security headers: added by the guard.
    ([(header::CACHE_CONTROL, "no-cache")], Html(CONSOLE_HTML))
}

async fn console_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CONSOLE_JS,
    )
}

async fn console_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CONSOLE_CSS,
    )
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
    }))
}

/// `/metrics`: any authenticated caller, or anyone with `[auth] metrics_public`.
async fn metrics(
    State(state): State<AppState>,
    caller: Option<Caller>,
) -> Result<Response, ApiError> {
    if !state.auth.settings().metrics_public {
        let caller = caller
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "authentication required"))?;
        caller.require(&state.auth, Permission::Metrics, "read the metrics")?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response())
}

/// Every event type with its French and English labels (the console names alerts with them).
async fn event_types() -> Json<serde_json::Value> {
    let types: Vec<serde_json::Value> = EventType::ALL
        .iter()
        .map(|t| {
            json!({
                "type": t.as_str(),
                "label_fr": t.label_fr(),
                "label_en": t.label_en(),
                "camera_fault": t.is_camera_fault(),
            })
        })
        .collect();
    Json(json!(types))
}

async fn cameras(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<CameraSnapshot>>, ApiError> {
    caller.require(&state.auth, Permission::Cameras, "see the cameras")?;
    Ok(Json(state.camera_snapshots()))
}

/// `GET /api/stats`: alerts by status, decisions by event type and camera, false alarms by
/// reason, decision delays (supervisors; `?since_ms=` to count from a date).
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&state.auth, Permission::Supervise, "see the statistics")?;
    let q = query_params(query)?;
    let since = match q.get("since_ms") {
        None => 0,
        Some(raw) => parse_id(raw, true).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since_ms must be milliseconds since 1970, got {raw:?}"
            ))
        })?,
    };
    let journal = state.journal.clone();
    Ok(Json(blocking(move || journal.stats(since)).await?))
}

/// `POST /api/config/reload` (admin): 200 with the report; 422 for an invalid file and 409 for
/// a change that needs a restart, both listing every problem in `errors`, and nothing changed.
async fn reload_config(State(state): State<AppState>, caller: Caller) -> Response {
    if let Err(e) = caller.require(&state.auth, Permission::Reload, "reload the configuration") {
        return e.into_response();
    }
    let Some(reloader) = state.reloader.clone() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "configuration reload is not available in this process",
        )
        .into_response();
    };
    // Stopping and starting pipelines blocks: off the async workers.
    let result = tokio::task::spawn_blocking(move || reloader.reload()).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => Err(ReloadError::Failed(format!("reload task failed: {e}"))),
    };
    match result {
        Ok(report) => {
            tracing::info!(%report, "configuration reloaded through the API");
            (StatusCode::OK, Json(report)).into_response()
        }
        Err(e) => {
            let (status, errors) = match &e {
                ReloadError::Invalid { errors, .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, errors.clone())
                }
                ReloadError::Refused { errors, .. } => (StatusCode::CONFLICT, errors.clone()),
                ReloadError::Failed(m) => (StatusCode::INTERNAL_SERVER_ERROR, vec![m.clone()]),
            };
            tracing::error!(error = %e, ?errors, "configuration reload through the API failed");
            (
                status,
                Json(json!({ "error": e.to_string(), "errors": errors })),
            )
                .into_response()
        }
    }
}

async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let q = query_params(query)?;
    let (limit, before) = page_params(&q)?;
    let journal = state.journal.clone();
    // One more than asked tells whether an older page exists.
    let mut alerts = blocking(move || journal.list(before, limit + 1)).await?;
    let next_before = if alerts.len() > limit as usize {
        alerts.truncate(limit as usize);
        alerts.last().map(|a| a.id)
    } else {
        None
    };
    // The journal's identity lets a console resume the live stream only on the same journal.
    Ok(Json(json!({
        "alerts": alerts,
        "next_before": next_before,
        "journal": state.journal.id(),
    })))
}

async fn get_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<crate::alerts::Alert>, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    blocking(move || journal.get(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("alert {id} not found")))
}

async fn snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    let reviewer = caller.principal.allows(Permission::ReadShadow);
    let (jpeg, purge, shadow) = blocking(move || {
        let shadow = journal.get_any(id)?.is_some_and(|a| a.shadow);
        Ok((journal.snapshot(id)?, journal.image_purge(id)?, shadow))
    })
    .await?;
    // A shadow alert's image is for its evaluators only: to an operator it does not exist.
    if shadow && !reviewer {
        return Err(ApiError::not_found(format!(
            "alert {id} not found or has no snapshot"
        )));
    }
    let jpeg = match (jpeg, purge) {
        (Some(jpeg), _) => jpeg,
        (None, Some(p)) => return Ok(evidence_gone("image", id, &p)),
        (None, None) => {
            return Err(ApiError::not_found(format!(
                "alert {id} not found or has no snapshot"
            )))
        }
    };
    Ok(jpeg_response(jpeg))
}

/// A journaled image (snapshot or still): it never changes once journaled.
pub(super) fn jpeg_response(jpeg: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        jpeg,
    )
        .into_response()
}

/// 404 with `Retry-After` (seconds): the alert's clip or still is on its way.
pub(super) fn evidence_pending(retry_after: &'static str, error: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::RETRY_AFTER, retry_after)],
        Json(json!({ "error": error, "reason": "pending" })),
    )
        .into_response()
}

/// 410 Gone: a retention purge deleted the alert's `what` (image, clip); the alert and its
/// journal entry remain.
pub(super) fn evidence_gone(what: &str, id: i64, purge: &crate::alerts::ImagePurge) -> Response {
    let reason = format!(
        "the {what} of alert {id} was deleted by the retention purge of {} (images and clips are \
         kept {} days); the alert and its journal entry remain",
        crate::governance::format_time(purge.at_ms),
        purge.retention_days
    );
    (
        StatusCode::GONE,
        Json(json!({
            "error": reason,
            "reason": "retention",
            "purged_at_ms": purge.at_ms,
            "retention_days": purge.retention_days,
        })),
    )
        .into_response()
}

async fn decisions(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    let history = blocking(move || journal.decisions(id)).await?;
    Ok(Json(json!({ "alert_id": id, "decisions": history })))
}

/// `GET /api/alerts/live`: every alert after the last one the console saw (the `Last-Event-ID`
/// header, else `?after=`, each `<journal>:<id>` or a bare id; else only alerts from now on),
/// then live ones, each exactly once. The first event, `hello`, names the journal and its newest
/// alert. A resume point from another journal or beyond the newest alert gets a `reset` event
/// right after it (the console reloads its list), then the alerts from now on.
async fn live_alerts(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let q = query_params(query)?;
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            if text.is_empty() {
                None
            } else {
                Some(ResumePoint::parse(text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Last-Event-ID must be an alert id or <journal>:<id>, got {text:?}"
                    ))
                })?)
            }
        }
    };
    let from_query = match q.get("after") {
        None => None,
        Some(raw) => Some(ResumePoint::parse(raw).ok_or_else(|| {
            ApiError::bad_request(format!(
                "after must be an alert id (0 or more) or <journal>:<id>, got {raw:?}"
            ))
        })?),
    };
    // Subscribe before reading the journal: nothing published in between can be missed.
    let mut feed = LiveFeed::subscribe(
        &state.bus,
        state.live.catchup_page,
        state.shutdown.subscribe(),
    );
    let journal = state.journal.clone();
    let newest = blocking(move || journal.last_id()).await?;
    let journal_id: Arc<str> = Arc::from(state.journal.id());
    let resume = from_header.or(from_query);
    let start = live::start_point(resume.as_ref(), &journal_id, newest);
    feed.start_after(start.after);
    let mut first = vec![Event::default()
        .event("hello")
        .id(format!("{journal_id}:{}", start.after))
        .retry(Duration::from_secs(2))
        .data(
            json!({ "journal": &*journal_id, "newest_id": newest, "after": start.after })
                .to_string(),
        )];
    if let Some(reason) = &start.reset {
        tracing::warn!(%reason, "live console resumed from another journal: reset sent");
        first.push(Event::default().event("reset").data(
            json!({ "journal": &*journal_id, "newest_id": newest, "reason": reason }).to_string(),
        ));
    }
    let delivered = state.metrics.alerts_delivered.with_label_values(&["sse"]);
    let events = stream::iter(first)
        .chain(feed.into_stream().map(move |item| {
            if matches!(item, LiveItem::Alert(_)) {
                delivered.inc();
            }
            to_event(&item, &journal_id)
        }))
        .take_until(revoked(state.auth.clone(), caller))
        .map(Ok::<_, Infallible>);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(state.live.keep_alive));
    Ok((
        [(
            header::HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        sse,
    )
        .into_response())
}

/// Completes when the caller of a live stream may no longer be served (its session ended, its
/// account was disabled, its token revoked), checked every [`LIVE_RECHECK`].
async fn revoked(auth: Arc<Auth>, caller: Caller) {
    loop {
        tokio::time::sleep(LIVE_RECHECK).await;
        let (a, p) = (auth.clone(), caller.principal.clone());
        match tokio::task::spawn_blocking(move || a.still_valid(&p)).await {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => {
                tracing::info!(account = %caller.principal.name, "live stream ended: access ended");
                return;
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot check a live stream's access"),
            Err(e) => tracing::error!(error = %e, "live stream access check failed"),
        }
    }
}

fn to_event(item: &LiveItem, journal: &str) -> Event {
    let (kind, alert) = match item {
        LiveItem::Alert(a) => ("alert", a),
        LiveItem::Decision(a) => ("decision", a),
    };
    let event = Event::default().event(kind);
    // Only alerts carry an id: the browser's Last-Event-ID is the last alert it saw, with the
    // journal it came from.
    let event = match item {
        LiveItem::Alert(a) => event.id(format!("{journal}:{}", a.id)),
        LiveItem::Decision(_) => event,
    };
    match event.json_data(&**alert) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(alert = alert.id, error = %e, "cannot serialise alert for SSE");
            Event::default().comment(format!("alert {} could not be serialised", alert.id))
        }
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_access;
#[cfg(test)]
mod tests_transparency;
