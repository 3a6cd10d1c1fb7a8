//! Camera sources as written in the config, and the redaction of credentials.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a camera's images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A video file (any container and codec GStreamer's decodebin knows).
    File { path: PathBuf },
    /// An RTSP camera (H.264, H.265, MJPEG… through decodebin).
    Rtsp { url: String },
    /// An HTTP(S) MJPEG stream (`multipart/x-mixed-replace` of JPEG images), as many IP cameras
    /// serve.
    Http { url: String },
    /// A synthetic test pattern (`videotestsrc` pattern name, e.g. `ball`, `smpte`).
    Test { pattern: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    #[default]
    Tcp,
    Udp,
}

impl RtspTransport {
    pub fn as_gst(self) -> &'static str {
        match self {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
        }
    }
}

const TEST_PATTERNS: &[&str] = &[
    "smpte",
    "snow",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "checkers-1",
    "checkers-2",
    "checkers-4",
    "checkers-8",
    "circular",
    "blink",
    "smpte75",
    "zone-plate",
    "gamut",
    "chroma-zone-plate",
    "solid-color",
    "ball",
    "smpte100",
    "bar",
    "pinwheel",
    "spokes",
    "gradient",
    "colors",
];

impl Source {
    /// Parses `rtsp://…`, `rtsps://…`, `http://…`, `https://…`, `file:PATH`, `test:PATTERN`, or a plain path (relative
    /// paths are relative to `base`). The error is a sentence for the operator.
    pub fn parse(s: &str, base: &Path) -> Result<Source, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the source is empty".into());
        }
        if let Some(rest) = s.strip_prefix("test:") {
            return if TEST_PATTERNS.contains(&rest) {
                Ok(Source::Test {
                    pattern: rest.to_string(),
                })
            } else {
                Err(format!(
                    "unknown test pattern `{rest}` (known: {})",
                    TEST_PATTERNS.join(", ")
                ))
            };
        }
        let is_rtsp = s.starts_with("rtsp://") || s.starts_with("rtsps://");
        let is_http = s.starts_with("http://") || s.starts_with("https://");
        if is_rtsp || is_http {
            let rest = s.split("://").nth(1).unwrap_or("");
            let authority = rest.split('/').next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            if host.is_empty() {
                return Err(format!("`{}` has no host", redact_url(s)));
            }
            // The `url` crate checks the rest: ports above 65535, characters not allowed in a
            // host, a malformed IPv6 address…
            url::Url::parse(s)
                .map_err(|e| format!("`{}` is not a valid URL: {e}", redact_url(s)))?;
            let url = s.to_string();
            return Ok(if is_rtsp {
                Source::Rtsp { url }
            } else {
                Source::Http { url }
            });
        }
        let path = if let Some(rest) = s.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some(rest) = s.strip_prefix("file:") {
            PathBuf::from(rest)
        } else if s.contains("://") {
            let scheme = s.split("://").next().unwrap_or("");
            return Err(format!(
                "unsupported scheme `{scheme}` (use rtsp://, rtsps://, http://, https://, file: or test:)"
            ));
        } else {
            PathBuf::from(s)
        };
        Ok(Source::File {
            path: super::resolve(base, &path),
        })
    }

    /// The source as it may be shown or logged: never with credentials.
    pub fn redacted(&self) -> String {
        match self {
            Source::File { path } => format!("file:{}", path.display()),
            Source::Rtsp { url } | Source::Http { url } => redact_url(url),
            Source::Test { pattern } => format!("test:{pattern}"),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Source::Rtsp { .. } | Source::Http { .. })
    }
}

/// Replaces `user:password@` in a URL by `***@`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}://***@{}{}",
            &url[..scheme_end],
            &authority[at + 1..],
            &rest[authority_end..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_url("rtsp://admin:s3cr3t@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1"
        );
        assert_eq!(
            redact_url("rtsp://10.0.0.5/stream1"),
            "rtsp://10.0.0.5/stream1"
        );
        let src = Source::parse("rtsp://u:p@cam/x", Path::new("/")).unwrap();
        assert!(!src.redacted().contains("p@"));
        assert!(!src.redacted().to_string().contains(":p"));
    }

    #[test]
    fn sources_parse() {
        let base = Path::new("/etc/vigie");
        assert_eq!(
            Source::parse("clip.avi", base).unwrap(),
            Source::File {
                path: PathBuf::from("/etc/vigie/clip.avi")
            }
        );
        assert_eq!(
            Source::parse("file:/data/c.mp4", base).unwrap(),
            Source::File {
                path: PathBuf::from("/data/c.mp4")
            }
        );
        assert!(matches!(
            Source::parse("test:ball", base).unwrap(),
            Source::Test { .. }
        ));
        assert!(Source::parse("test:nope", base).is_err());
        assert!(Source::parse("ftp://x/y", base)
            .unwrap_err()
            .contains("unsupported scheme"));
        assert_eq!(
            Source::parse("http://cam.local/video.mjpg", base).unwrap(),
            Source::Http {
                url: "http://cam.local/video.mjpg".into()
            }
        );
        assert!(Source::parse("http:///video.mjpg", base).is_err());
        assert!(Source::parse("https://u:p@/x", base)
            .unwrap_err()
            .contains("***"));
        assert!(Source::parse("rtsp://", base).is_err());
        assert!(Source::parse("rtsp://u:p@/x", base)
            .unwrap_err()
            .contains("***"));
    }

    #[test]
    fn urls_with_an_impossible_port_or_host_are_refused() {
        let base = Path::new("/");
        for bad in [
            "rtsp://10.0.0.5:99999/stream1",
            "rtsp://admin:s3cret@10.0.0.5:65536/x",
            "http://cam.local:99999/video.mjpg",
            "rtsp://10.0.0.5:port/x",
            "rtsp://[::1/x",
            "rtsp://cam local/x",
        ] {
            let err = Source::parse(bad, base).expect_err(bad);
            assert!(
                err.contains("not a valid URL") || err.contains("no host"),
                "{bad}: {err}"
            );
            assert!(!err.contains("s3cret"), "{err}");
        }
        assert!(Source::parse("rtsp://10.0.0.5:99999/x", base)
            .unwrap_err()
            .contains("port"));
        for good in [
            "rtsp://10.0.0.5:65535/x",
            "rtsp://admin:p%40ss@10.0.0.5/x",
            "rtsp://[::1]:8554/cam",
            "https://cam.local/video.mjpg",
        ] {
            assert!(Source::parse(good, base).is_ok(), "{good}");
        }
    }
}
