//! MQTT output (`rumqttc`, MQTT 3.1.1): QoS 1, persistent session (`clean_session = false`)
//! under a fixed client id, large packets allowed. An item counts as delivered only when the
//! broker acknowledged (PUBACK) every message of it, never when it was merely queued in the
//! client.
//!
//! A connection ("session" here) is a client and its event loop, driven by a task of its own
//! that keeps the keep-alive going between items. Any failure (connection lost, refused, no
//! PUBACK in time) drops the whole session: the next item opens a new one. So no message of a
//! failed attempt can linger in the client and be confused with a later one; the outbox, not the
//! client, holds what is left to send.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alerts::OutboxItem;
use crate::config::MqttConfig;

use super::output::{DeliveryError, Output};
use super::payload::{self, Message};

/// What the event loop task reports.
#[derive(Debug)]
enum LoopEvent {
    /// A publish went out with this packet id.
    Sent(u16),
    /// The broker acknowledged this packet id.
    Acked(u16),
    /// The connection failed; the task has ended.
    Failed(String),
}

/// One connection to the broker.
struct Session {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<LoopEvent>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drops the event loop and its socket.
        self.driver.abort();
    }
}

pub struct MqttOutput {
    id: String,
    options: MqttOptions,
    prefix: String,
    public_url: Option<String>,
    ack_timeout: Duration,
    session: Option<Session>,
}

impl MqttOutput {
    pub fn new(cfg: &MqttConfig, base: &Path, public_url: Option<&str>) -> Result<Self, String> {
        Ok(MqttOutput {
            id: cfg.id.clone(),
            options: options(cfg, base)?,
            prefix: cfg.topic_prefix.clone(),
            public_url: public_url.map(str::to_string),
            ack_timeout: Duration::from_secs_f32(cfg.ack_timeout_seconds),
            session: None,
        })
    }

    fn connect(&self) -> Session {
        // Room for the messages of one item; requests are never left queued across items.
        let (client, eventloop) = AsyncClient::new(self.options.clone(), 16);
        let (tx, events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(self.id.clone(), eventloop, tx));
        Session {
            client,
            events,
            driver,
        }
    }
}

/// The client options of an output: fixed client id, persistent session, QoS 1 publishes,
/// `max_packet_kib` both ways.
fn options(cfg: &MqttConfig, base: &Path) -> Result<MqttOptions, String> {
    let (host, port) = cfg.host_port()?;
    let mut o = MqttOptions::new(cfg.client_id(), host, port);
    let max = usize::try_from(cfg.max_packet_kib).unwrap_or(1024) * 1024;
    o.set_keep_alive(Duration::from_secs(cfg.keep_alive_seconds))
        .set_clean_session(false)
        .set_max_packet_size(max, max);
    if let Some(user) = &cfg.username {
        let password = cfg.password(base)?;
        o.set_credentials(
            user.clone(),
            password.map(|p| p.expose().to_string()).unwrap_or_default(),
        );
    }
    Ok(o)
}

/// Polls the event loop until the connection fails, reporting publishes and acknowledgements.
async fn drive(output: String, mut eventloop: EventLoop, tx: mpsc::UnboundedSender<LoopEvent>) {
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => LoopEvent::Sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => LoopEvent::Acked(ack.pkid),
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::debug!(output = %output, session_present = ack.session_present, "MQTT connected");
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(LoopEvent::Failed(e.to_string()));
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Publishes the messages and waits until the broker acknowledged each one.
async fn publish_all(session: &mut Session, messages: &[Message]) -> Result<(), DeliveryError> {
    for m in messages {
        session
            .client
            .publish(
                m.topic.clone(),
                QoS::AtLeastOnce,
                m.retain,
                m.payload.clone(),
            )
            .await
            .map_err(|e| DeliveryError::Unreachable(format!("MQTT client: {e}")))?;
    }
    // Every earlier item of this session was acknowledged, so the next publishes are ours.
    let mut ours = HashSet::new();
    let mut acked = HashSet::new();
    while acked.len() < messages.len() {
        match session.events.recv().await {
            Some(LoopEvent::Sent(pkid)) if ours.len() < messages.len() => {
                ours.insert(pkid);
            }
            Some(LoopEvent::Sent(_)) => {}
            Some(LoopEvent::Acked(pkid)) => {
                if ours.contains(&pkid) {
                    acked.insert(pkid);
                }
            }
            Some(LoopEvent::Failed(e)) => return Err(DeliveryError::Unreachable(e)),
            None => return Err(DeliveryError::Unreachable("MQTT connection closed".into())),
        }
    }
    Ok(())
}

impl Output for MqttOutput {
    async fn deliver(&mut self, item: &OutboxItem) -> Result<(), DeliveryError> {
        let messages = payload::mqtt_messages(item, &self.prefix, self.public_url.as_deref());
        if self.session.as_ref().is_none_or(|s| s.driver.is_finished()) {
            self.session = Some(self.connect());
        }
        let Some(session) = self.session.as_mut() else {
            return Err(DeliveryError::Unreachable("no MQTT session".into()));
        };
        let result = tokio::time::timeout(self.ack_timeout, publish_all(session, &messages)).await;
        let result = result.unwrap_or(Err(DeliveryError::Timeout(self.ack_timeout)));
        if result.is_err() {
            self.session = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn cfg() -> MqttConfig {
        MqttConfig {
            id: "hyper".into(),
            url: "mqtt://127.0.0.1:1884".into(),
            client_id: None,
            topic_prefix: "csu".into(),
            username: Some("vigie".into()),
            password: Some(Secret::new("pw")),
            password_file: None,
            password_env: None,
            keep_alive_seconds: 20,
            max_packet_kib: 512,
            ack_timeout_seconds: 3.0,
            retry_max_seconds: 60.0,
        }
    }

    #[test]
    fn options_ask_for_a_persistent_session_under_a_fixed_id() {
        let o = options(&cfg(), Path::new(".")).unwrap();
        assert_eq!(o.client_id(), "vigie-hyper");
        assert!(!o.clean_session());
        assert_eq!(o.keep_alive(), Duration::from_secs(20));
        assert_eq!(o.max_packet_size(), 512 * 1024);
        assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 1884));
        let login = o.credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("vigie", "pw")
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_a_failure_not_a_delivery() {
        // A port that was free a moment ago: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = cfg();
        c.url = format!("mqtt://127.0.0.1:{port}");
        c.username = None;
        c.password = None;
        let mut out = MqttOutput::new(&c, Path::new("."), None).unwrap();
        let item = OutboxItem {
            id: 1,
            event_id: 1,
            kind: crate::alerts::OutboxKind::Decision,
            body: serde_json::json!({"id": 1}),
            created_at_ms: 0,
            attempts: 0,
        };
        let err = out.deliver(&item).await.unwrap_err();
        assert!(matches!(err, DeliveryError::Unreachable(_)), "{err}");
        assert!(out.session.is_none(), "a failed session is dropped");
    }
}
