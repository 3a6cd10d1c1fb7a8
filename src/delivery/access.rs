//! Who is calling, and may they: the authentication middleware of every route, the login,
//! logout and session routes of the console, and [`Caller`], which each handler asks for the
//! permission it needs (403 otherwise, journaled).
//!
//! * **Public:** `/healthz`, the console's static files (`/`, `/console.js`, `/console.css`: no
//!   data in them, the login screen is part of them), `POST /api/login`, and `/metrics` when
//!   `[auth] metrics_public`. Everything else needs a session cookie or an API token.
//! * **Session cookie** `vigie_session`: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Max-Age` the
//!   session's maximum life, `Secure` when the server speaks TLS. Writes with it also need the
//!   session's CSRF token in `X-CSRF-Token` (from `/api/login` or `/api/session`).
//! * **API token:** `Authorization: Bearer vgt_…` (no CSRF token: not sent by browsers).
//! * **Body size:** a body over [`MAX_BODY`] is refused with 413 before anything else.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::{Auth, Credential, Login, Permission, Principal, SessionAuth};

/// Largest request body accepted (64 KiB): a decision with its comment is far below.
pub const MAX_BODY: usize = 64 * 1024;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vigie_session";

/// Header carrying the CSRF token of a session.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The peer's address, as the server saw it (a reverse proxy's own, behind one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// The client's address (`None` without connection info, as in tests through `oneshot`), put
/// in every request by [`authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

/// The authenticated caller of a request, put there by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub address: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "authentication required"))
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

impl Caller {
    /// `Ok` when the caller's role holds `permission`; else 403, journaled. `what` completes
    /// "role auditor may not …".
    pub fn require(
        &self,
        auth: &std::sync::Arc<Auth>,
        permission: Permission,
        what: &str,
    ) -> Result<(), ApiError> {
        if self.principal.allows(permission) {
            return Ok(());
        }
        let (auth, principal, address, what2) = (
            auth.clone(),
            self.principal.clone(),
            self.address,
            what.to_string(),
        );
        // Journaled off the async workers; the answer does not wait for it.
        tokio::task::spawn_blocking(move || auth.forbidden(&principal, &what2, address));
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("role {} may not {what}", self.principal.role),
        )
        .with("role", json!(self.principal.role)))
    }
}

/// Whether `path` is served without authentication.
fn is_public(method: &Method, path: &str, metrics_public: bool) -> bool {
    match (method, path) {
        (&Method::POST, "/api/login") => true,
        (&Method::GET | &Method::HEAD, "/healthz" | "/" | "/console.js" | "/console.css") => true,
        (&Method::GET | &Method::HEAD, "/metrics") => metrics_public,
        _ => false,
    }
}

/// Writes that change nothing, exempt from the CSRF token (the forecast page posts its form).
fn csrf_exempt(path: &str) -> bool {
    path == "/api/forecast"
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `Set-Cookie` value of a session (or of its removal when `id` is `None`).
pub fn session_cookie(id: Option<&str>, max_age_s: i64, secure: bool) -> HeaderValue {
    let (value, age) = match id {
        Some(id) => (id, max_age_s),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("vigie_session=; Max-Age=0"))
}

fn unauthorized(message: &str, clear_cookie: bool, secure: bool) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"vigie\""),
    );
    if clear_cookie {
        headers.insert(header::SET_COOKIE, session_cookie(None, 0, secure));
    }
    resp
}

/// Compares two secrets in constant time.
fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Runs a blocking account call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::auth::AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "account database failure");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("account task failed: {e}"),
        )),
    }
}

/// The middleware: 413 for a body over the limit; public routes pass; others need a valid
/// token or session (401), and writes with a session its CSRF token (403).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let too_big = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64);
    if too_big {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over the limit of {} KiB", MAX_BODY / 1024),
        )
        .into_response();
    }
    let address = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0 .0.ip());
    request.extensions_mut().insert(ClientAddress(address));
    let auth = state.auth.clone();
    let secure = auth.settings().secure_cookies;
    if is_public(
        request.method(),
        request.uri().path(),
        auth.settings().metrics_public,
    ) {
        return next.run(request).await;
    }
    let principal = if let Some(token) = bearer(request.headers()) {
        let token = token.to_string();
        let a = auth.clone();
        match blocking(move || a.token(&token, address)).await {
            Ok(Some(p)) => p,
            Ok(None) => return unauthorized("unknown or revoked API token", false, secure),
            Err(e) => return e.into_response(),
        }
    } else if let Some(id) = cookie(request.headers(), SESSION_COOKIE) {
        let id = id.to_string();
        let a = auth.clone();
        match blocking(move || a.session(&id)).await {
            Ok(SessionAuth::Valid(p)) => p,
            Ok(SessionAuth::Expired(why)) => {
                return unauthorized(
                    &format!("session expired ({why}): log in again"),
                    true,
                    secure,
                )
            }
            Ok(SessionAuth::Unknown) => {
                return unauthorized(
                    "not logged in: the session has ended, log in again",
                    true,
                    secure,
                )
            }
            Err(e) => return e.into_response(),
        }
    } else {
        return unauthorized(
            "authentication required: log in (console) or send `Authorization: Bearer <token>`",
            false,
            secure,
        );
    };
    if let Credential::Session { csrf, .. } = &principal.credential {
        let writes = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if writes
            && !csrf_exempt(request.uri().path())
            && !sent.is_some_and(|s| same_secret(s, csrf))
        {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!("missing or wrong CSRF token: send the session's token in `{CSRF_HEADER}`"),
            )
            .into_response();
        }
    }
    request
        .extensions_mut()
        .insert(Caller { principal, address });
    next.run(request).await
}

/// Body of `POST /api/login`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    name: String,
    password: String,
}

/// What the console learns about its caller.
fn session_json(p: &Principal, auth: &Auth) -> serde_json::Value {
    let permissions: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|x| p.allows(*x))
        .collect();
    let (csrf, expires) = match &p.credential {
        Credential::Session {
            csrf,
            expires_at_ms,
            ..
        } => (Some(csrf.clone()), Some(*expires_at_ms)),
        Credential::Token { .. } => (None, None),
    };
    json!({
        "account": p.name,
        "role": p.role,
        "permissions": permissions,
        "csrf_token": csrf,
        "expires_at_ms": expires,
        "idle_seconds": auth.settings().sessions.idle_ms / 1000,
    })
}

/// `POST /api/login` `{"name", "password"}`: 200 with the session (and its cookie), 401 for a
/// wrong name or password (which one is not said; the journal knows), 429 past the limit.
pub async fn login(
    State(state): State<AppState>,
    axum::Extension(ClientAddress(address)): axum::Extension<ClientAddress>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: LoginBody = super::parse_body(body, "login")?;
    if body.name.is_empty() || body.password.is_empty() {
        return Err(ApiError::unprocessable("name and password are required"));
    }
    let auth = state.auth.clone();
    let (name, password) = (body.name, body.password);
    let outcome = blocking(move || auth.login(&name, &password, address)).await?;
    let auth = &state.auth;
    match outcome {
        Login::Ok { session, principal } => {
            tracing::info!(account = %principal.name, role = %principal.role, "login");
            let max_age = auth.settings().sessions.max_ms / 1000;
            let cookie = session_cookie(Some(&session.id), max_age, auth.settings().secure_cookies);
            Ok((
                [(header::SET_COOKIE, cookie)],
                Json(session_json(&principal, auth)),
            )
                .into_response())
        }
        Login::Failed => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong name or password",
        )),
        Login::Throttled(t) => {
            let secs = t.retry_after.as_secs().max(1);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins for this {}: try again in {secs} s",
                    t.scope
                ),
            )
            .with("retry_after_seconds", json!(secs))
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(resp)
        }
    }
}

/// `POST /api/logout`: ends the session, removes the cookie.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let auth = state.auth.clone();
    let c = caller.clone();
    blocking(move || auth.logout(&c.principal, c.address)).await?;
    let cookie = session_cookie(None, 0, state.auth.settings().secure_cookies);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "logged_out": caller.principal.name })),
    )
        .into_response())
}

/// `GET /api/session`: who the caller is, what it may do, its CSRF token.
pub async fn session(State(state): State<AppState>, caller: Caller) -> Json<serde_json::Value> {
    Json(session_json(&caller.principal, &state.auth))
}

/// `GET /api/security/events?limit=&before=`: the security journal, newest first (auditor,
/// admin).
pub async fn security_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(
        &state.auth,
        Permission::ReadSecurity,
        "read the security journal",
    )?;
    let q = super::query_params(query)?;
    let (limit, before) = super::page_params(&q)?;
    let auth = state.auth.clone();
    let mut events = blocking(move || auth.store().events(before, limit + 1)).await?;
    let next_before = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(
        json!({ "events": events, "next_before": next_before }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_bearer_tokens_are_read_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vigie_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "vigie"), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer vgt_x"),
        );
        assert_eq!(bearer(&h), Some("vgt_x"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn the_session_cookie_has_every_attribute() {
        let c = session_cookie(Some("abc"), 3600, false);
        let c = c.to_str().unwrap();
        for part in [
            "vigie_session=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!c.contains("Secure"));
        assert!(session_cookie(Some("abc"), 1, true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
        assert!(session_cookie(None, 1, false)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }

    #[test]
    fn only_the_login_screen_health_and_opened_metrics_are_public() {
        assert!(is_public(&Method::GET, "/healthz", false));
        assert!(is_public(&Method::GET, "/", false));
        assert!(is_public(&Method::POST, "/api/login", false));
        assert!(!is_public(&Method::GET, "/api/login", false));
        assert!(!is_public(&Method::GET, "/metrics", false));
        assert!(is_public(&Method::GET, "/metrics", true));
        for path in [
            "/api/alerts",
            "/api/cameras",
            "/api/alerts/live",
            "/forecast",
            "/api/session",
            "/nope",
        ] {
            assert!(!is_public(&Method::GET, path, true), "{path}");
        }
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab")
        );
    }
}
