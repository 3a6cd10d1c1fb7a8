//! Defences of the HTTP API against other web pages, applied by [`super::app`] to every route
//! before authentication (a second wall behind accounts, sessions and CSRF tokens):
//!
//! * **Host allow-list** (DNS rebinding): a request whose `Host` is not the address the server
//!   listens on (any address when it listens on all of them), `localhost` for a loopback or
//!   wildcard address, or a name of `[server] allowed_hosts` gets 403, GET included. The port is
//!   not compared (a reverse proxy may change it).
//! * **Same origin for writes** (cross-site request forgery): a request other than GET, HEAD or
//!   OPTIONS whose `Origin` (else `Referer`) is not this very server gets 403. A client that
//!   sends neither is not a browser driven by another page (curl, scripts) and passes.
//! * **Headers on every answer**: a Content-Security-Policy with `frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY` (the console cannot be framed, so Confirm / False alarm cannot be
//!   clickjacked), and `X-Content-Type-Options: nosniff`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The policy of every answer: the console and the forecast page are self-contained (inline
/// script and style, images from the API), and no page may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Which `Host` names the server answers to.
#[derive(Debug, Clone)]
pub struct Guard {
    listen: IpAddr,
    /// `[server] allowed_hosts`, lower case, without brackets.
    names: Vec<String>,
}

impl Guard {
    /// The allow-list of a server listening on `listen`, plus `allowed_hosts` (names or
    /// addresses, without port).
    pub fn new(listen: SocketAddr, allowed_hosts: &[String]) -> Guard {
        Guard {
            listen: listen.ip(),
            names: allowed_hosts.iter().map(|h| normalise(h)).collect(),
        }
    }

    /// A server on 127.0.0.1 with no other name.
    pub fn loopback() -> Guard {
        Guard::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &[])
    }

    /// Whether a `Host` name (port removed) designates this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = normalise(host);
        if self.names.contains(&name) {
            return true;
        }
        let local = self.listen.is_loopback() || self.listen.is_unspecified();
        if name == "localhost" {
            return local;
        }
        match name.parse::<IpAddr>() {
            // An address cannot be rebound: only which one the client used matters.
            Ok(ip) => {
                self.listen.is_unspecified()
                    || ip == self.listen
                    || (self.listen.is_loopback() && ip.is_loopback())
            }
            Err(_) => false,
        }
    }

    /// `Err` with the reason when the request must be refused.
    fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), String> {
        let host = match headers.get(header::HOST) {
            // HTTP/1.0 without Host: not a browser.
            None => None,
            Some(v) => {
                let authority = v
                    .to_str()
                    .ok()
                    .and_then(|t| t.parse::<Authority>().ok())
                    .ok_or_else(|| "the Host header is not a host name".to_string())?;
                if !self.host_allowed(authority.host()) {
                    return Err(format!(
                        "host `{}` is not allowed: add it to [server] allowed_hosts if this \
                         server is reached by that name",
                        authority.host()
                    ));
                }
                Some(authority)
            }
        };
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let (what, source) = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
            (Some(o), _) => ("Origin", o),
            (None, Some(r)) => ("Referer", r),
            (None, None) => return Ok(()),
        };
        let source = source.to_str().unwrap_or("(not text)");
        match &host {
            Some(host) if same_origin(source, host) => Ok(()),
            _ => Err(format!(
                "cross-site request refused: {what} `{source}` is not this server"
            )),
        }
    }
}

/// Lower case, without IPv6 brackets or a trailing dot.
fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// True when the page at `source` (an Origin or a Referer) is served by `host`.
fn same_origin(source: &str, host: &Authority) -> bool {
    let Ok(url) = url::Url::parse(source) else {
        // `null` (sandboxed frames, file: pages) and anything unreadable.
        return false;
    };
    let (Some(name), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    normalise(name) == normalise(host.host()) && host.port_u16().unwrap_or(port) == port
}

/// The middleware: refuses what [`Guard`] refuses (403 JSON), adds the headers to every answer.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut response = match guard.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::warn!(
                method = %request.method(),
                path = request.uri().path(),
                %reason,
                "request refused"
            );
            ApiError::new(StatusCode::FORBIDDEN, reason).into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The warning to log when the API listens on `addr` over plain HTTP: `None` on a loopback
/// address or with TLS.
pub fn exposure_warning(addr: SocketAddr, tls: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !tls).then(|| {
        format!(
            "the HTTP API listens on {addr}, which is not a loopback address, over plain HTTP: \
             the authentication secrets (passwords, session cookies, API tokens) and the alert \
             images cross the network unencrypted. Configure [server.tls], put a TLS reverse \
             proxy in front, or listen on 127.0.0.1"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(listen: &str, names: &[&str]) -> Guard {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Guard::new(listen.parse().unwrap(), &names)
    }

    #[test]
    fn host_allow_list_follows_the_listen_address() {
        let g = on("127.0.0.1:8080", &["Vigie.CSU.local"]);
        for ok in [
            "127.0.0.1",
            "localhost",
            "LOCALHOST",
            "[::1]",
            "vigie.csu.local",
            "127.0.0.2",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for refused in ["evil.example", "10.0.0.5", "localhost.evil.example", ""] {
            assert!(!g.host_allowed(refused), "{refused}");
        }
        let g = on("10.0.0.5:8080", &[]);
        assert!(g.host_allowed("10.0.0.5"));
        assert!(!g.host_allowed("localhost"));
        assert!(!g.host_allowed("127.0.0.1"));
        let g = on("0.0.0.0:8080", &["vigie.csu.local"]);
        for ok in [
            "10.0.0.5",
            "192.168.1.2",
            "localhost",
            "[fe80::1]",
            "vigie.csu.local",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        assert!(!g.host_allowed("evil.example"));
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        let host: Authority = "127.0.0.1:8080".parse().unwrap();
        assert!(same_origin("http://127.0.0.1:8080", &host));
        assert!(same_origin("http://127.0.0.1:8080/forecast", &host));
        assert!(!same_origin("http://127.0.0.1:9090", &host));
        assert!(!same_origin("http://evil.example", &host));
        assert!(!same_origin("null", &host));
        let host: Authority = "vigie.csu.local".parse().unwrap();
        assert!(same_origin("https://vigie.csu.local", &host));
        assert!(same_origin("http://VIGIE.csu.local/", &host));
        let host: Authority = "[::1]:8080".parse().unwrap();
        assert!(same_origin("http://[::1]:8080", &host));
    }

    #[test]
    fn only_a_loopback_listen_address_or_tls_goes_without_warning() {
        assert!(exposure_warning("127.0.0.1:8080".parse().unwrap(), false).is_none());
        assert!(exposure_warning("[::1]:8080".parse().unwrap(), false).is_none());
        let w = exposure_warning("0.0.0.0:8080".parse().unwrap(), false).unwrap();
        assert!(
            w.contains("0.0.0.0:8080") && w.contains("authentication"),
            "{w}"
        );
        assert!(exposure_warning("10.0.0.5:8080".parse().unwrap(), false).is_some());
        assert!(exposure_warning("10.0.0.5:8080".parse().unwrap(), true).is_none());
    }
}
