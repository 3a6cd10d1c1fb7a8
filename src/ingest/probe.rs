//! A cheap reachability probe of a network camera (one TCP connection to its RTSP or HTTP port,
//! closed at once), run between two full pipeline rebuilds. Rebuilding a pipeline costs the
//! camera a full RTSP session and a keyframe wait, so rebuilds keep their backoff; the probe only
//! tells when a camera that was unreachable answers again, so video comes back within about a
//! probe interval of its return instead of at the next backoff step.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::Source;

/// Time between two probes of a camera that is down.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for one TCP connection (a host that drops packets answers nothing).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Where to knock: the host and port of a network source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    host: String,
    port: u16,
}

impl Probe {
    /// The probe of a network source; `None` for files, test patterns and unreadable URLs.
    pub fn of(source: &Source) -> Option<Probe> {
        let url = match source {
            Source::Rtsp { url } | Source::Http { url } => url::Url::parse(url).ok()?,
            Source::File { .. } | Source::Test { .. } => return None,
        };
        let port = match (url.port(), url.scheme()) {
            (Some(p), _) => p,
            (None, "rtsp") => 554,
            (None, "rtsps") => 322,
            (None, _) => url.port_or_known_default()?,
        };
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some(Probe {
            host: host.to_string(),
            port,
        })
    }

    /// True when a TCP connection to the camera succeeds now (name resolved each time: a camera
    /// may come back at another address).
    pub fn reachable(&self) -> bool {
        let addrs: Vec<SocketAddr> = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(_) => return false,
        };
        addrs
            .iter()
            .any(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(url: &str) -> Option<Probe> {
        let source = if url.starts_with("rtsp") {
            Source::Rtsp { url: url.into() }
        } else {
            Source::Http { url: url.into() }
        };
        Probe::of(&source)
    }

    #[test]
    fn host_and_port_come_from_the_url_with_scheme_defaults() {
        let p = probe("rtsp://admin:s3cret@10.0.0.5/stream1").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("10.0.0.5", 554));
        let p = probe("rtsp://cam.local:8554/x").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("cam.local", 8554));
        assert_eq!(probe("rtsps://cam/x").unwrap().port, 322);
        assert_eq!(probe("http://cam/video.mjpg").unwrap().port, 80);
        assert_eq!(probe("https://cam/video.mjpg").unwrap().port, 443);
        let p = probe("rtsp://[::1]:8554/x").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8554));
        assert!(Probe::of(&Source::Test {
            pattern: "ball".into()
        })
        .is_none());
    }

    #[test]
    fn a_listening_port_is_reachable_and_a_closed_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = probe(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
        assert!(p.reachable());
        drop(listener);
        assert!(!p.reachable());
    }
}
