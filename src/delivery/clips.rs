//! `GET /api/alerts/{id}/clip.mp4`: the alert's clip (ReadAlerts), with `Range` support so
//! browsers can seek. 404 says why there is none (not made yet, or the reason it could not be);
//! 410 when a retention purge deleted it.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::access::Caller;
use super::{blocking, evidence_gone, evidence_pending, parse_alert_id, ApiError, AppState};
use crate::alerts::ClipRecord;
use crate::auth::Permission;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/alerts/{id}/clip.mp4", get(clip))
}

async fn clip(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_alert_id(&raw)?;
    caller.require(&state.auth, Permission::ReadAlerts, "read alerts")?;
    let journal = state.journal.clone();
    let (alert, record) = blocking(move || Ok((journal.get(id)?, journal.clip(id)?))).await?;
    let Some(alert) = alert else {
        return Err(ApiError::not_found(format!("alert {id} not found")));
    };
    let file = match record {
        Some(ClipRecord {
            purged: Some(p), ..
        }) => return Ok(evidence_gone("clip", id, &p)),
        Some(ClipRecord { file: Ok(f), .. }) => f,
        Some(ClipRecord {
            file: Err(reason), ..
        }) => {
            return Err(ApiError::not_found(format!(
                "alert {id} has no clip: {reason}"
            )))
        }
        None if alert.clip_url.is_some() => {
            return Ok(evidence_pending(
                "2",
                format!("the clip of alert {id} is not ready yet (it needs the seconds after the alert); retry in a few seconds"),
            ));
        }
        None => {
            return Err(ApiError::not_found(format!(
                "alert {id} has no clip: its camera's compressed stream is not kept (a test \
                 pattern or MJPEG-over-HTTP camera, clips turned off, or an alert about the \
                 camera going offline)"
            )))
        }
    };
    let path = file.path.clone();
    let data = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("clip of alert {id} cannot be read: {e}"),
            )
        })?;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| byte_range(r, data.len() as u64));
    Ok(serve(data, range))
}

/// A `Range` header against a body of `len` bytes: `Ok(Some((first, last)))` for one
/// satisfiable range, `Ok(None)` for what is not a single byte range (the whole body is sent),
/// `Err(())` when unsatisfiable (416).
fn byte_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, b) => {
            let first: u64 = a.parse().map_err(|_| ())?;
            let last = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
            };
            if first > last {
                return Err(());
            }
            (first, last)
        }
    };
    if len == 0 || first >= len {
        return Err(());
    }
    Ok(Some((first, last)))
}

fn serve(data: Vec<u8>, range: Option<Result<Option<(u64, u64)>, ()>>) -> Response {
    let len = data.len() as u64;
    let common = [
        (header::CONTENT_TYPE, "video/mp4".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        // A clip never changes once written.
        (
            header::CACHE_CONTROL,
            "private, max-age=86400, immutable".to_string(),
        ),
    ];
    match range {
        Some(Err(())) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response(),
        Some(Ok(Some((first, last)))) => {
            let body = data[first as usize..=last as usize].to_vec();
            (
                StatusCode::PARTIAL_CONTENT,
                common,
                [(header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}"))],
                body,
            )
                .into_response()
        }
        _ => (common, data).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_are_parsed_like_browsers_send_them() {
        assert_eq!(byte_range("bytes=0-", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=10-19", 100), Ok(Some((10, 19))));
        assert_eq!(byte_range("bytes=90-500", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=20-10", 100), Err(()));
        assert_eq!(byte_range("bytes=x-1", 100), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
    }
}
