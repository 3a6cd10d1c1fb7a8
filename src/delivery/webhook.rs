//! Webhook output: one HTTP POST per event with the Vigie JSON (see `payload`), signed with
//! `X-Vigie-Signature: sha256=<hex HMAC-SHA256 of the body>`. Only a 2xx answer counts as
//! delivered; anything else (another status, a redirect, no answer within `timeout_seconds`) is
//! retried. The key is never logged, and errors never repeat the URL (it may carry a token).

use std::path::Path;
use std::time::Duration;

use crate::alerts::OutboxItem;
use crate::config::{Secret, WebhookConfig};

use super::output::{DeliveryError, Output};
use super::payload;

/// Header names, as receivers read them.
pub const SIGNATURE_HEADER: &str = "X-Vigie-Signature";
pub const EVENT_HEADER: &str = "X-Vigie-Event";
pub const EVENT_ID_HEADER: &str = "X-Vigie-Event-Id";

pub struct WebhookOutput {
    agent: ureq::Agent,
    url: String,
    secret: Secret,
    public_url: Option<String>,
    timeout: Duration,
}

/// A request ready to send (built on the async side, sent on a blocking thread).
struct Request {
    body: Vec<u8>,
    signature: String,
    event: &'static str,
    event_id: String,
}

impl WebhookOutput {
    pub fn new(cfg: &WebhookConfig, base: &Path, public_url: Option<&str>) -> Result<Self, String> {
        let timeout = Duration::from_secs_f32(cfg.timeout_seconds);
        Ok(WebhookOutput {
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
                .build(),
            url: cfg.url.clone(),
            secret: cfg.secret(base)?,
            public_url: public_url.map(str::to_string),
            timeout,
        })
    }

    fn request(&self, item: &OutboxItem) -> Request {
        let body = payload::vigie_json(item, self.public_url.as_deref())
            .to_string()
            .into_bytes();
        Request {
            signature: payload::sign(self.secret.expose().as_bytes(), &body),
            body,
            event: item.kind.as_str(),
            event_id: item.event_id.to_string(),
        }
    }
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    r: &Request,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let answer = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set(SIGNATURE_HEADER, &r.signature)
        .set(EVENT_HEADER, r.event)
        .set(EVENT_ID_HEADER, &r.event_id)
        .send_bytes(&r.body);
    match answer {
        Ok(resp) if (200..300).contains(&resp.status()) => Ok(()),
        Ok(resp) => Err(DeliveryError::Rejected(format!("HTTP {}", resp.status()))),
        Err(ureq::Error::Status(code, _)) => Err(DeliveryError::Rejected(format!("HTTP {code}"))),
        Err(ureq::Error::Transport(t)) => {
            let detail = t.message().unwrap_or_default();
            let timed_out = matches!(t.kind(), ureq::ErrorKind::Io)
                && t.to_string().to_ascii_lowercase().contains("timed out");
            if timed_out {
                Err(DeliveryError::Timeout(timeout))
            } else {
                Err(DeliveryError::Unreachable(
                    format!("{} {detail}", t.kind()).trim().to_string(),
                ))
            }
        }
    }
}

impl Output for WebhookOutput {
    async fn deliver(&mut self, item: &OutboxItem) -> Result<(), DeliveryError> {
        let request = self.request(item);
        let (agent, url, timeout) = (self.agent.clone(), self.url.clone(), self.timeout);
        match tokio::task::spawn_blocking(move || send(&agent, &url, &request, timeout)).await {
            Ok(r) => r,
            Err(e) => Err(DeliveryError::Unreachable(format!(
                "request task failed: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::OutboxKind;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    fn item() -> OutboxItem {
        OutboxItem {
            id: 1,
            event_id: 9,
            kind: OutboxKind::Alert,
            body: serde_json::json!({"id": 5, "snapshot_url": "/api/alerts/5/snapshot.jpg"}),
            created_at_ms: 1_700_000_000_000,
            attempts: 0,
        }
    }

    fn output(url: String) -> WebhookOutput {
        let cfg = WebhookConfig {
            id: "vms".into(),
            url,
            secret: Some(Secret::new("k3y")),
            secret_file: None,
            secret_env: None,
            timeout_seconds: 2.0,
            retry_max_seconds: 60.0,
        };
        WebhookOutput::new(&cfg, Path::new("."), Some("http://vigie.local")).unwrap()
    }

    /// Headers and body of the request received.
    type Served = std::thread::JoinHandle<(Vec<String>, Vec<u8>)>;

    /// Answers one request with `status`.
    fn serve_once(status: u16) -> (String, Served) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                headers.push(line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut w = stream;
            write!(
                w,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            (headers, body)
        });
        (url, t)
    }

    #[tokio::test]
    async fn posts_signed_vigie_json_and_2xx_is_delivered() {
        let (url, server) = serve_once(204);
        let mut out = output(url);
        out.deliver(&item()).await.unwrap();
        let (headers, body) = server.join().unwrap();
        let header = |name: &str| {
            headers
                .iter()
                .find_map(|h| {
                    let (k, v) = h.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        assert_eq!(header(SIGNATURE_HEADER), payload::sign(b"k3y", &body));
        assert_eq!(header(EVENT_HEADER), "alert");
        assert_eq!(header(EVENT_ID_HEADER), "9");
        assert_eq!(header("content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["event_id"], 9);
        assert_eq!(
            v["alert"]["snapshot_url"],
            "http://vigie.local/api/alerts/5/snapshot.jpg"
        );
    }

    #[tokio::test]
    async fn non_2xx_and_no_listener_are_failures() {
        for status in [500, 404, 302] {
            let (url, server) = serve_once(status);
            let err = output(url).deliver(&item()).await.unwrap_err();
            assert!(
                matches!(&err, DeliveryError::Rejected(m) if m.contains(&status.to_string())),
                "{status}: {err}"
            );
            server.join().unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = output(format!("http://127.0.0.1:{port}/hook?token=abc"))
            .deliver(&item())
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Unreachable(_)), "{err}");
        assert!(!err.to_string().contains("token"), "{err}");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let mut out = output(url);
        out.agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_millis(300))
            .build();
        let err = out.deliver(&item()).await.unwrap_err();
        assert!(
            matches!(
                err,
                DeliveryError::Timeout(_) | DeliveryError::Unreachable(_)
            ),
            "{err}"
        );
        drop(listener);
    }
}
