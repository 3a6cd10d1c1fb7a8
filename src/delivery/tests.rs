use std::io::{BufRead, BufReader};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::alerts::test_support::new_alert;
use crate::alerts::{AlertStatus, DEFAULT_BUS_CAPACITY};
use crate::auth::{AuthSettings, Role};

/// API tokens of a test server: its requests authenticate like a VMS would, with a supervisor
/// token (the admin one for the reload route). Tests of accounts and roles send their own
/// credentials.
#[derive(Clone)]
struct Tokens {
    supervisor: String,
    admin: String,
}

/// Tokens by server base URL and by journal path.
static TOKENS: std::sync::Mutex<Vec<(String, Tokens)>> = std::sync::Mutex::new(Vec::new());

fn tokens_for(key: &str) -> Option<Tokens> {
    let all = TOKENS.lock().unwrap();
    all.iter()
        .find(|(k, _)| key.starts_with(k.as_str()))
        .map(|(_, t)| t.clone())
}

/// The accounts of a test journal, with a supervisor and an admin token registered under `keys`.
fn test_auth(journal: &Journal, keys: &[&str]) -> Arc<Auth> {
    let auth = Arc::new(Auth::open(journal.path(), AuthSettings::default()).unwrap());
    let tokens = Tokens {
        supervisor: auth
            .store()
            .add_token("test-supervisor", Role::Supervisor, "test")
            .unwrap()
            .0,
        admin: auth
            .store()
            .add_token("test-admin", Role::Admin, "test")
            .unwrap()
            .0,
    };
    let mut all = TOKENS.lock().unwrap();
    for k in keys {
        all.push((k.to_string(), tokens.clone()));
    }
    auth
}

/// The bearer token a test request to `url` (or through the state of `journal`) sends.
fn bearer_for(key: &str, path: &str) -> Option<String> {
    let t = tokens_for(key)?;
    let token = if path.contains("/api/config/reload") {
        t.admin
    } else {
        t.supervisor
    };
    Some(format!("Bearer {token}"))
}

struct Server {
    base: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(capacity: usize) -> Server {
        Server::start_with(capacity, None).await
    }

    async fn start_with(capacity: usize, reloader: Option<Arc<dyn Reloader>>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(dir.path().join("journal.db")).unwrap());
        let bus = AlertBus::new(journal, capacity, Metrics::new());
        let cam = Arc::new(CameraStatus::new(
            "c1",
            "Parvis nord",
            "Place",
            "rtsp://cam/1",
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let auth = test_auth(bus.journal(), &[&base]);
        let state =
            AppState::new(bus, Arc::new(RwLock::new(vec![cam])), auth).with_reloader(reloader);
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            state,
            stop: Some(stop),
            handle,
            _dir: dir,
        }
    }

    fn publish(&self, n: usize) -> Vec<i64> {
        (0..n)
            .map(|_| {
                self.state
                    .bus
                    .publish(new_alert("c1"), std::time::Instant::now())
                    .unwrap()
                    .id
            })
            .collect()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let done = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
        assert!(
            matches!(done, Ok(Ok(Ok(())))),
            "server did not shut down cleanly"
        );
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One blocking HTTP call with ureq, off the async workers.
async fn call(method: &str, url: String, body: Option<(&str, String)>) -> Resp {
    let method = method.to_string();
    let body = body.map(|(ct, b)| (ct.to_string(), b));
    tokio::task::spawn_blocking(move || {
        let mut req = ureq::request(&method, &url).timeout(Duration::from_secs(10));
        if let Some(b) = bearer_for(&url, &url) {
            req = req.set("Authorization", &b);
        }
        let result = match body {
            Some((ct, b)) => req.set("Content-Type", &ct).send_string(&b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let status = resp.status();
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
        Resp {
            status,
            content_type,
            body,
        }
    })
    .await
    .unwrap()
}

async fn get(url: String) -> Resp {
    call("GET", url, None).await
}

async fn post_json(url: String, body: &str) -> Resp {
    call("POST", url, Some(("application/json", body.to_string()))).await
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// One parsed SSE event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: String,
}

/// Connects to the live stream from a plain thread and forwards every event.
fn sse_connect(url: String, last_event_id: Option<&str>) -> mpsc::UnboundedReceiver<SseEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    let last = last_event_id.map(str::to_string);
    std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(30))
            .build();
        let mut req = agent.get(&url);
        if let Some(b) = bearer_for(&url, &url) {
            req = req.set("Authorization", &b);
        }
        if let Some(id) = &last {
            req = req.set("Last-Event-ID", id);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => panic!("SSE connect: {e}"),
        };
        assert_eq!(resp.status(), 200);
        assert!(resp
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/event-stream"));
        // Headers arrive once the handler has subscribed: tell the test it may publish.
        let opened = SseEvent {
            id: None,
            event: "open".into(),
            data: String::new(),
        };
        if tx.send(opened).is_err() {
            return;
        }
        let reader = BufReader::new(resp.into_reader());
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() {
                    let ev = SseEvent {
                        id: id.take(),
                        event: std::mem::take(&mut event),
                        data: std::mem::take(&mut data),
                    };
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                id = None;
                event.clear();
                data.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    });
    rx
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<SseEvent>) -> SseEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no SSE event within 10 s")
        .expect("SSE stream ended")
}

async fn next_alert_id(rx: &mut mpsc::UnboundedReceiver<SseEvent>) -> i64 {
    loop {
        let ev = next_event(rx).await;
        if ev.event == "alert" {
            let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
            let id = v["id"].as_i64().unwrap();
            // `<journal>:<id>`: the journal's identity, then the alert's id.
            let (journal, n) = ev.id.as_deref().unwrap().rsplit_once(':').unwrap();
            assert_eq!((journal.len(), n), (32, id.to_string().as_str()));
            return id;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_paged_newest_first() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(7);
    let r = get(format!("{}/api/alerts?limit=3", s.base)).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let v = r.json();
    assert_eq!(ids(&v), vec![7, 6, 5]);
    assert_eq!(v["next_before"], 5);
    let v = get(format!("{}/api/alerts?limit=3&before=5", s.base))
        .await
        .json();
    assert_eq!(ids(&v), vec![4, 3, 2]);
    assert_eq!(v["next_before"], 2);
    let v = get(format!("{}/api/alerts?limit=3&before=2", s.base))
        .await
        .json();
    assert_eq!(ids(&v), vec![1]);
    assert!(v["next_before"].is_null());
    // Exactly one page left: no next page announced.
    let v = get(format!("{}/api/alerts?limit=4&before=5", s.base))
        .await
        .json();
    assert_eq!(ids(&v), vec![4, 3, 2, 1]);
    assert!(v["next_before"].is_null());
    // Default limit.
    let v = get(format!("{}/api/alerts", s.base)).await.json();
    assert_eq!(ids(&v).len(), 7);
    assert_eq!(v["alerts"][0]["snapshot_url"], "/api/alerts/7/snapshot.jpg");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_unknown_things_get_json_errors() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(1);
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("before=-1", "before"),
        ("before=x", "before"),
    ] {
        let r = get(format!("{}/api/alerts?{query}", s.base)).await;
        assert_eq!(r.status, 400, "{query}");
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(param), "{query}: {msg}");
    }
    let r = get(format!("{}/api/alerts?limit=500", s.base)).await;
    assert_eq!(r.status, 200);

    for (path, status) in [
        ("/api/alerts/999", 404),
        ("/api/alerts/abc", 400),
        ("/api/alerts/0", 400),
        ("/api/alerts/999/snapshot.jpg", 404),
        ("/api/alerts/abc/snapshot.jpg", 400),
        ("/api/alerts/999/decisions", 404),
        ("/nope", 404),
        ("/api/alerts/1/nope", 404),
    ] {
        let r = get(format!("{}{path}", s.base)).await;
        assert_eq!(r.status, status, "{path}");
        assert!(r.json()["error"].is_string(), "{path}");
    }
    let r = call("DELETE", format!("{}/api/alerts/1", s.base), None).await;
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());

    let r = get(format!("{}/api/alerts/1", s.base)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 1);
    assert_eq!(r.json()["status"], "new");
    let r = get(format!("{}/api/alerts/1/snapshot.jpg", s.base)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "image/jpeg");
    assert_eq!(r.body, new_alert("c1").snapshot_jpeg);
    s.stop().await;
}

/// A retention purge deletes an alert's image: the image answers 410 with the reason, the alert
/// says when and why (what the console shows), and the chain stays intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_image_answers_410_with_the_reason() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(2);
    let journal = s.state.journal.clone();
    let in_31_days = crate::alerts::now_ms() + 31 * 24 * 3600 * 1000;
    let report = journal.purge_images(in_31_days, 30).unwrap().unwrap();
    assert_eq!(report.images, 2);
    let r = get(format!("{}/api/alerts/1/snapshot.jpg", s.base)).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.json()["reason"], "retention");
    assert_eq!(r.json()["retention_days"], 30);
    let message = r.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("retention purge"), "{message}");
    let r = get(format!("{}/api/alerts/1", s.base)).await;
    assert_eq!(r.json()["snapshot_url"], serde_json::Value::Null);
    assert_eq!(r.json()["image_purged"]["retention_days"], 30);
    // An alert that never had an image is still a 404, an unknown one too.
    let r = get(format!("{}/api/alerts/999/snapshot.jpg", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(journal.verify().unwrap().intact());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_journaled_and_validated() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(2);
    let url = format!("{}/api/alerts/1/decision", s.base);
    let r = post_json(
        url.clone(),
        r#"{"decision":"confirmed","comment":" individu dans la zone "}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "confirmed");
    // The authenticated caller, never a typed name.
    assert_eq!(v["decision"]["operator"], "token:test-supervisor");
    assert_eq!(v["decision"]["role"], "supervisor");
    assert_eq!(v["decision"]["comment"], "individu dans la zone");

    // Visible through the API and in the journal.
    let v = get(format!("{}/api/alerts/1", s.base)).await.json();
    assert_eq!(v["status"], "confirmed");
    let stored = s.state.journal.get(1).unwrap().unwrap();
    assert_eq!(stored.status, AlertStatus::Confirmed);
    assert_eq!(s.state.journal.decisions(1).unwrap().len(), 1);

    // A second decision loses: 409, naming who decided first; nothing recorded.
    let r = post_json(
        url.clone(),
        r#"{"decision":"false_alarm","reason":"animal"}"#,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let v = r.json();
    assert_eq!(v["by"], "token:test-supervisor");
    assert_eq!(v["status"], "confirmed");
    assert!(v["at_ms"].as_i64().is_some());
    assert!(v["error"].as_str().unwrap().contains("already decided"));
    let h = get(format!("{}/api/alerts/1/decisions", s.base))
        .await
        .json();
    let history = h["decisions"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["decision"], "confirmed");

    // Invalid submissions change nothing.
    let url2 = format!("{}/api/alerts/2/decision", s.base);
    for (body, status) in [
        ("{not json", 400),
        (r#"{"decision":"confirmed""#, 400),
        (r#"{"decision":"delete"}"#, 422),
        ("{}", 422),
        ("", 422),
        (r#"{"decision":"confirmed","operator":"Lou"}"#, 422),
        (r#"{"decision":"confirmed","operator":42}"#, 422),
        (r#"{"decision":42}"#, 422),
        (r#"{"decision":"false_alarm"}"#, 422),
        (r#"{"decision":"false_alarm","reason":"ghost"}"#, 422),
        (r#"{"decision":"confirmed","reason":"animal"}"#, 422),
    ] {
        let r = post_json(url2.clone(), body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{body}");
    }
    let long = "x".repeat(2001);
    let body = json!({"decision": "confirmed", "comment": long}).to_string();
    assert_eq!(post_json(url2.clone(), &body).await.status, 422);
    assert!(s.state.journal.history(2).unwrap().is_empty());

    let r = post_json(
        format!("{}/api/alerts/99/decision", s.base),
        r#"{"decision":"confirmed"}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = post_json(
        format!("{}/api/alerts/x/decision", s.base),
        r#"{"decision":"confirmed"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    // The other alert is untouched.
    assert_eq!(
        s.state.journal.get(2).unwrap().unwrap().status,
        AlertStatus::New
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_resumes_from_last_event_id() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(3);
    let mut rx = sse_connect(format!("{}/api/alerts/live", s.base), Some("1"));
    assert_eq!(next_alert_id(&mut rx).await, 2);
    assert_eq!(next_alert_id(&mut rx).await, 3);
    assert_eq!(s.publish(1), vec![4]);
    assert_eq!(next_alert_id(&mut rx).await, 4);

    // Another console's decision shows up as a `decision` event without an id.
    let r = post_json(
        format!("{}/api/alerts/4/decision", s.base),
        r#"{"decision":"false_alarm","reason":"other"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let ev = next_event(&mut rx).await;
    assert_eq!(ev.event, "decision");
    assert_eq!(ev.id, None);
    let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(
        (v["id"].as_i64(), v["status"].as_str()),
        (Some(4), Some("false_alarm"))
    );

    // `?after=` works the same; without either, only new alerts come.
    let mut rx2 = sse_connect(format!("{}/api/alerts/live?after=3", s.base), None);
    assert_eq!(next_alert_id(&mut rx2).await, 4);
    let mut rx3 = sse_connect(format!("{}/api/alerts/live", s.base), None);
    assert_eq!(next_event(&mut rx3).await.event, "open");
    assert_eq!(s.publish(1), vec![5]);
    assert_eq!(next_alert_id(&mut rx3).await, 5);
    assert_eq!(next_alert_id(&mut rx2).await, 5);
    assert_eq!(next_alert_id(&mut rx).await, 5);

    let text = get(format!("{}/metrics", s.base)).await.text();
    assert!(
        text.contains("vigie_delivery_alerts_sent_total{sink=\"sse\"} 7"),
        "{text}"
    );

    // Shutdown ends open streams instead of waiting for them forever.
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_rejects_a_bad_resume_point() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    let r = get(format!("{}/api/alerts/live?after=abc", s.base)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("after"));
    let r = tokio::task::spawn_blocking({
        let url = format!("{}/api/alerts/live", s.base);
        move || match ureq::get(&url)
            .set("Last-Event-ID", "x1")
            .set("Authorization", &bearer_for(&url, &url).unwrap())
            .call()
        {
            Err(ureq::Error::Status(code, _)) => code,
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
    assert_eq!(r, 400);
    s.stop().await;
}

async fn next(feed: &mut LiveFeed) -> i64 {
    match tokio::time::timeout(Duration::from_secs(5), feed.next()).await {
        Ok(Some(LiveItem::Alert(a))) => a.id,
        other => panic!("expected an alert, got {other:?}"),
    }
}

/// A feed that falls behind a tiny broadcast channel resyncs from the journal: every id once,
/// in order (deterministic: nothing is read while the alerts pile up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_feed_resyncs_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path().join("j.db")).unwrap());
    let bus = AlertBus::new(journal, 2, Metrics::new());
    let (_stop, stop_rx) = watch::channel(false);
    let mut feed = LiveFeed::subscribe(&bus, 5, stop_rx);
    feed.start_after(0);
    let publish = |n: usize| {
        for _ in 0..n {
            bus.publish(new_alert("c1"), Instant::now()).unwrap();
        }
    };
    publish(1);
    assert_eq!(next(&mut feed).await, 1);
    // The feed is now live; 20 alerts overflow the 2-slot channel.
    publish(20);
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(next(&mut feed).await);
    }
    assert_eq!(got, (2..=21).collect::<Vec<i64>>());
    assert_eq!(feed.resyncs(), 1, "the feed should have lagged once");
    // Nothing is sent twice: the buffered copies of 20 and 21 are skipped.
    let more = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(more.is_err(), "unexpected item {more:?}");
    publish(1);
    assert_eq!(next(&mut feed).await, 22);
    assert_eq!(feed.resyncs(), 1);
}

/// Over HTTP, with a 1-slot channel and alerts published while the console reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_console_receives_every_alert_exactly_once() {
    let s = Server::start(1).await;
    s.publish(3);
    let mut rx = sse_connect(format!("{}/api/alerts/live?after=0", s.base), None);
    assert_eq!(next_alert_id(&mut rx).await, 1);
    let bus = s.state.bus.clone();
    let publisher = std::thread::spawn(move || {
        for _ in 0..60 {
            bus.publish(new_alert("c1"), std::time::Instant::now())
                .unwrap();
        }
    });
    let mut got = Vec::new();
    for _ in 0..62 {
        got.push(next_alert_id(&mut rx).await);
    }
    publisher.join().unwrap();
    assert_eq!(got, (2..=63).collect::<Vec<i64>>());
    let extra = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(extra.is_err(), "duplicate: {extra:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_cameras_and_console() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(2);
    let r = get(format!("{}/healthz", s.base)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert!(r.json()["uptime_seconds"].as_f64().unwrap() >= 0.0);

    let r = get(format!("{}/metrics", s.base)).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    assert!(
        text.contains("vigie_alerts_total{camera=\"c1\",rule=\"zone-intrusion\"} 2"),
        "{text}"
    );

    let r = get(format!("{}/api/cameras", s.base)).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v[0]["id"], "c1");
    assert_eq!(v[0]["name"], "Parvis nord");
    assert_eq!(v[0]["state"], "starting");

    let r = get(format!("{}/api/event-types", s.base)).await;
    assert_eq!(r.status, 200);
    let types = r.json();
    let intrusion = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "intrusion")
        .cloned()
        .unwrap();
    assert_eq!(intrusion["label_fr"], "Intrusion en zone interdite");
    assert_eq!(intrusion["camera_fault"], false);
    assert_eq!(types.as_array().unwrap().len(), 12);

    // An alert carries its incident, people count and measurements.
    let a = get(format!("{}/api/alerts/1", s.base)).await.json();
    assert_eq!(a["people"], 1);
    assert_eq!(a["measurements"][0]["name"], "dwell");
    assert_eq!(a["measurements"][0]["threshold"], 1.0);
    assert!(a["incident_id"].is_null());

    let r = get(format!("{}/", s.base)).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/html"));
    let html = r.text();
    // No inline script: the page loads its script and style from the server itself.
    assert!(html.contains(r#"<script src="/console.js" defer></script>"#));
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(r#"<html lang="fr">"#));
    let r = get(format!("{}/console.js", s.base)).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/javascript"));
    let js = r.text();
    for needle in [
        "new EventSource(",
        "/api/alerts/live",
        "dataset.alertId",
        "X-CSRF-Token",
        "/api/login",
        "\"false-alarm\"",
        "dataset.cameraId",
        "live-banner",
        "incident_id",
        "shadow_or_reflection",
    ] {
        assert!(js.contains(needle), "console lacks {needle}");
    }
    let r = get(format!("{}/console.css", s.base)).await;
    assert!(r.content_type.starts_with("text/css"));
    let html = html + &js + &r.text();
    // Offline machine: nothing loaded from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    s.stop().await;
}

/// Answers each reload with the next scripted outcome.
struct ScriptedReloader(std::sync::Mutex<Vec<Result<serde_json::Value, ReloadError>>>);

impl Reloader for ScriptedReloader {
    fn reload(&self) -> Result<serde_json::Value, ReloadError> {
        self.0
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Err(ReloadError::Failed("no more outcomes".into())))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_answers_with_the_report_or_every_error() {
    // Without a reloader the route says so.
    let plain = Server::start(16).await;
    let r = call("POST", format!("{}/api/config/reload", plain.base), None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    plain.stop().await;

    // Outcomes are popped from the end.
    let outcomes = vec![
        Err(ReloadError::Failed("camera `x`: no thread".into())),
        Err(ReloadError::Refused {
            message: "restart required: detector.workers (1 -> 2)".into(),
            errors: vec!["detector.workers (1 -> 2)".into()],
        }),
        Err(ReloadError::Invalid {
            message: "vigie.toml: 2 errors in configuration; nothing was changed".into(),
            errors: vec![
                "cameras[0].colour: unknown key `colour`".into(),
                "cameras[1].zones[0].points[1]: [1.5, 0.1] is outside the image".into(),
            ],
        }),
        Ok(
            serde_json::json!({"added": ["c"], "removed": ["b"], "restarted": [], "updated": ["a"], "unchanged": []}),
        ),
    ];
    let server = Server::start_with(
        16,
        Some(Arc::new(ScriptedReloader(std::sync::Mutex::new(outcomes)))),
    )
    .await;
    let url = format!("{}/api/config/reload", server.base);

    let r = call("POST", url.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["added"], serde_json::json!(["c"]));

    let r = call("POST", url.clone(), None).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let v = r.json();
    assert!(v["error"].as_str().unwrap().contains("2 errors"));
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    assert!(v["errors"][1]
        .as_str()
        .unwrap()
        .starts_with("cameras[1].zones[0].points[1]"));

    let r = call("POST", url.clone(), None).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("restart required"));

    let r = call("POST", url.clone(), None).await;
    assert_eq!(r.status, 500, "{}", r.text());

    // Only POST.
    let r = get(url).await;
    assert_eq!(r.status, 405, "{}", r.text());
    server.stop().await;
}

/// The first event of a live stream, `hello`, with its JSON.
async fn hello(rx: &mut mpsc::UnboundedReceiver<SseEvent>) -> (Option<String>, serde_json::Value) {
    let mut ev = next_event(rx).await;
    if ev.event == "open" {
        ev = next_event(rx).await;
    }
    assert_eq!(ev.event, "hello", "{ev:?}");
    (ev.id, serde_json::from_str(&ev.data).unwrap())
}

/// The issue's repro: `Last-Event-ID: 99999999` (a console that outlived its journal) used to get
/// a 200 and then nothing, ever. It now gets `reset`, then every new alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_resets_a_console_beyond_the_newest_alert() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(3);
    let journal = s.state.journal.id().to_string();
    let mut rx = sse_connect(format!("{}/api/alerts/live", s.base), Some("99999999"));
    let (id, info) = hello(&mut rx).await;
    assert_eq!(info["journal"], journal.as_str());
    assert_eq!(info["newest_id"], 3);
    assert_eq!(id, Some(format!("{journal}:3")));
    let reset = next_event(&mut rx).await;
    assert_eq!(reset.event, "reset", "{reset:?}");
    let v: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(
        (v["journal"].as_str(), v["newest_id"].as_i64()),
        (Some(journal.as_str()), Some(3))
    );
    assert!(v["reason"].as_str().unwrap().contains("99999999"), "{v}");
    assert_eq!(s.publish(2), vec![4, 5]);
    assert_eq!(next_alert_id(&mut rx).await, 4);
    assert_eq!(next_alert_id(&mut rx).await, 5);
    // The same through `?after=`.
    let mut rx = sse_connect(format!("{}/api/alerts/live?after=6", s.base), None);
    hello(&mut rx).await;
    assert_eq!(next_event(&mut rx).await.event, "reset");
    assert_eq!(s.publish(1), vec![6]);
    assert_eq!(next_alert_id(&mut rx).await, 6);
    s.stop().await;
}

/// A journal replaced under a running console: its ids carry the old journal's identity, which
/// this server answers with `reset` even when the id exists here; its own identity resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_resets_a_console_of_another_journal_and_resumes_its_own() {
    let old = Server::start(DEFAULT_BUS_CAPACITY).await;
    old.publish(1);
    let old_id = old.state.journal.id().to_string();
    old.stop().await;
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    s.publish(5);
    let journal = s.state.journal.id().to_string();
    assert_ne!(old_id, journal);

    let mut rx = sse_connect(
        format!("{}/api/alerts/live", s.base),
        Some(&format!("{old_id}:1")),
    );
    let (_, info) = hello(&mut rx).await;
    assert_eq!(info["after"], 5);
    let reset = next_event(&mut rx).await;
    assert_eq!(reset.event, "reset");
    assert!(reset.data.contains(&old_id), "{reset:?}");
    assert_eq!(s.publish(1), vec![6]);
    assert_eq!(next_alert_id(&mut rx).await, 6);

    // Its own identity: resumed exactly after the id, no reset.
    let mut rx = sse_connect(
        format!("{}/api/alerts/live", s.base),
        Some(&format!("{journal}:4")),
    );
    let (id, _) = hello(&mut rx).await;
    assert_eq!(id, Some(format!("{journal}:4")));
    assert_eq!(next_alert_id(&mut rx).await, 5);
    assert_eq!(next_alert_id(&mut rx).await, 6);
    // The list names the journal, for consoles that start from it.
    let v = get(format!("{}/api/alerts", s.base)).await.json();
    assert_eq!(v["journal"], journal.as_str());
    s.stop().await;
}

#[test]
fn resume_points_parse_strictly_and_decide_where_to_start() {
    use super::live::{start_point, ResumePoint};
    let p = |raw: &str| ResumePoint::parse(raw);
    assert_eq!(
        p("7"),
        Some(ResumePoint {
            journal: None,
            id: 7
        })
    );
    assert_eq!(p("0").map(|r| r.id), Some(0));
    assert_eq!(
        p("ab12:7"),
        Some(ResumePoint {
            journal: Some("ab12".into()),
            id: 7
        })
    );
    for bad in [
        "", "+7", "07", "-1", "x", ":7", "ab-1:7", "ab:", "ab:+7", "1.0",
    ] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
    let own = ResumePoint::parse("j1:4").unwrap();
    assert_eq!(start_point(Some(&own), "j1", 9).after, 4);
    assert!(start_point(Some(&own), "j1", 9).reset.is_none());
    assert!(start_point(Some(&own), "j2", 9).reset.is_some());
    assert_eq!(start_point(Some(&own), "j2", 9).after, 9);
    let beyond = ResumePoint::parse("12").unwrap();
    assert!(start_point(Some(&beyond), "j1", 9).reset.is_some());
    assert_eq!(start_point(None, "j1", 9).after, 9);
}

// ---- requests through `app()` without a socket (the guard, ids, bodies) -----------------------

pub(super) fn test_state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(dir.path().join("journal.db")).unwrap());
    let auth = test_auth(&journal, &[&journal.path().to_string_lossy()]);
    let bus = AlertBus::new(journal, 16, Metrics::new());
    bus.publish(new_alert("c1"), std::time::Instant::now())
        .unwrap();
    (
        dir,
        AppState::new(bus, Arc::new(RwLock::new(Vec::new())), auth),
    )
}

pub(super) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    /// The body as text (an HTML page).
    pub text: String,
}

/// One request through `app(state)`; `headers` as (name, value); the body is JSON when given.
pub(super) async fn request(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let own = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie"));
    if !own {
        if let Some(b) = bearer_for(&state.journal.path().to_string_lossy(), uri) {
            req = req.header("authorization", b);
        }
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(axum::body::Body::from(body.unwrap_or("").to_string()))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    // A stream (the live feed) would never end: a bounded wait turns that into a failure.
    let bytes = tokio::time::timeout(
        Duration::from_secs(10),
        axum::body::to_bytes(resp.into_body(), 1 << 20),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {uri}: the body did not end"))
    .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(super) const HOST: (&str, &str) = ("host", "127.0.0.1:8080");

#[tokio::test]
async fn state_changing_requests_from_another_page_are_refused() {
    let (_dir, state) = test_state();
    let decision = r#"{"decision":"confirmed"}"#;
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("origin", "http://127.0.0.1:9999"),
        ("origin", "null"),
        ("referer", "http://evil.example/page.html"),
    ] {
        let a = request(
            &state,
            "POST",
            "/api/config/reload",
            &[HOST, (name, value)],
            None,
        )
        .await;
        assert_eq!(a.status, 403, "{name}: {value}");
        assert!(
            a.body["error"].as_str().unwrap().contains("cross-site"),
            "{}",
            a.body
        );
        let a = request(
            &state,
            "POST",
            "/api/alerts/1/decision",
            &[HOST, (name, value)],
            Some(decision),
        )
        .await;
        assert_eq!(a.status, 403, "{name}: {value}");
    }
    assert!(
        state.journal.decisions(1).unwrap().is_empty(),
        "nothing recorded"
    );
    // The console itself (same origin), and clients that are not browsers, pass.
    for extra in [
        &[("origin", "http://127.0.0.1:8080")][..],
        &[("referer", "http://127.0.0.1:8080/")][..],
        &[][..],
    ] {
        let mut headers = vec![HOST];
        headers.extend_from_slice(extra);
        let a = request(&state, "POST", "/api/config/reload", &headers, None).await;
        assert_eq!(a.status, 503, "{extra:?}: {}", a.body);
    }
    let a = request(
        &state,
        "POST",
        "/api/alerts/1/decision",
        &[HOST, ("origin", "http://127.0.0.1:8080")],
        Some(decision),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Reading from another page is the browser's business (no CORS header is ever sent).
    let a = request(
        &state,
        "GET",
        "/api/alerts",
        &[HOST, ("origin", "http://evil.example")],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn unknown_host_names_are_refused_even_for_reading() {
    let (_dir, state) = test_state();
    for host in ["evil.example", "evil.example:8080", "10.0.0.5:8080"] {
        for path in [
            "/api/alerts",
            "/api/alerts/1/snapshot.jpg",
            "/",
            "/api/alerts/live",
        ] {
            let a = request(&state, "GET", path, &[("host", host)], None).await;
            assert_eq!(a.status, 403, "{host} {path}");
            assert!(
                a.body["error"].as_str().unwrap().contains("allowed_hosts"),
                "{}",
                a.body
            );
        }
    }
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "localhost",
    ] {
        let a = request(&state, "GET", "/api/alerts", &[("host", host)], None).await;
        assert_eq!(a.status, 200, "{host}");
    }
    // A name from `[server] allowed_hosts`, on a server listening on every address.
    let exposed = state.clone().with_guard(Guard::new(
        "0.0.0.0:8080".parse().unwrap(),
        &["vigie.csu.local".to_string()],
    ));
    for (host, status) in [
        ("vigie.csu.local:8080", 200),
        ("192.168.1.20:8080", 200),
        ("evil.example", 403),
    ] {
        let a = request(&exposed, "GET", "/api/alerts", &[("host", host)], None).await;
        assert_eq!(a.status, status, "{host}");
    }
}

#[tokio::test]
async fn every_answer_forbids_framing_and_sniffing() {
    let (_dir, state) = test_state();
    for (method, path, host) in [
        ("GET", "/", "127.0.0.1:8080"),
        ("GET", "/api/alerts", "127.0.0.1:8080"),
        ("GET", "/api/alerts/1/snapshot.jpg", "127.0.0.1:8080"),
        ("GET", "/forecast", "127.0.0.1:8080"),
        ("GET", "/nope", "127.0.0.1:8080"),
        ("DELETE", "/api/alerts/1", "127.0.0.1:8080"),
        ("GET", "/api/alerts", "evil.example"),
    ] {
        let a = request(&state, method, path, &[("host", host)], None).await;
        let h = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{method} {path}"
        );
        assert_eq!(h("x-frame-options"), "DENY", "{method} {path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{method} {path}");
    }
}

#[tokio::test]
async fn alert_ids_are_read_only_in_their_canonical_form() {
    let (_dir, state) = test_state();
    let decision = r#"{"decision":"confirmed"}"#;
    for id in [
        "+1",
        "%2B1",
        "01",
        "001",
        "1.0",
        "%201",
        "-1",
        "0",
        "99999999999999999999",
    ] {
        for (method, path) in [
            ("GET", format!("/api/alerts/{id}")),
            ("GET", format!("/api/alerts/{id}/snapshot.jpg")),
            ("GET", format!("/api/alerts/{id}/decisions")),
            ("POST", format!("/api/alerts/{id}/decision")),
        ] {
            let body = (method == "POST").then_some(decision);
            let a = request(&state, method, &path, &[HOST], body).await;
            assert_eq!(a.status, 400, "{method} {path}: {}", a.body);
            assert!(a.body["error"].is_string());
        }
    }
    for q in ["before=+2", "before=02"] {
        let a = request(&state, "GET", &format!("/api/alerts?{q}"), &[HOST], None).await;
        assert_eq!(a.status, 400, "{q}");
    }
    let a = request(&state, "GET", "/api/alerts?after=01", &[HOST], None).await;
    assert_eq!(a.status, 200, "unknown parameters of the list are ignored");
    for q in ["after=%2B1", "after=+1", "after=01", "after=x-y:1"] {
        let a = request(
            &state,
            "GET",
            &format!("/api/alerts/live?{q}"),
            &[HOST],
            None,
        )
        .await;
        assert_eq!(a.status, 400, "{q}");
    }
    // The canonical form works; a well-formed unknown id is 404.
    assert_eq!(
        request(&state, "GET", "/api/alerts/1", &[HOST], None)
            .await
            .status,
        200
    );
    assert_eq!(
        request(&state, "GET", "/api/alerts/2", &[HOST], None)
            .await
            .status,
        404
    );
    assert!(state.journal.decisions(1).unwrap().is_empty());
}

#[tokio::test]
async fn unknown_fields_in_a_decision_are_refused() {
    let (_dir, state) = test_state();
    for body in [
        r#"{"decision":"confirmed","operater":"x"}"#,
        r#"{"decision":"confirmed","comment":"ok","priority":1}"#,
    ] {
        let a = request(
            &state,
            "POST",
            "/api/alerts/1/decision",
            &[HOST],
            Some(body),
        )
        .await;
        assert_eq!(a.status, 422, "{body}");
        let e = a.body["error"].as_str().unwrap();
        assert!(e.contains("unknown field"), "{e}");
    }
    assert!(
        state.journal.decisions(1).unwrap().is_empty(),
        "nothing recorded"
    );
}

/// A clip's life through the API: none for an alert whose camera is not tapped (404 with the
/// reason), pending (404, `Retry-After`) while it is made, served as `video/mp4` once journaled,
/// 404 with the reason when it could not be made, and 410 after the retention purge, which
/// deletes the file and leaves the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_clip_is_served_then_410_after_the_purge() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    let journal = s.state.journal.clone();
    let plain = s.publish(1)[0];
    let r = get(format!("{}/api/alerts/{plain}/clip.mp4", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("not kept"));
    assert_eq!(
        get(format!("{}/api/alerts/{plain}", s.base)).await.json()["clip_url"],
        serde_json::Value::Null
    );
    let mut expecting = new_alert("c1");
    expecting.clip_expected = true;
    let (with_clip, failed) = (
        journal.insert(&expecting).unwrap().id,
        journal.insert(&expecting).unwrap().id,
    );
    let url = format!("{}/api/alerts/{with_clip}/clip.mp4", s.base);
    let r = get(url.clone()).await;
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (404, Some("pending"))
    );
    let a = get(format!("{}/api/alerts/{with_clip}", s.base))
        .await
        .json();
    assert_eq!(a["clip_url"], format!("/api/alerts/{with_clip}/clip.mp4"));

    let file = s._dir.path().join("clips").join(format!("{with_clip}.mp4"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"....ftypisom fake mp4 bytes").unwrap();
    let info = crate::alerts::ClipFileInfo {
        path: file.clone(),
        sha256: crate::detect::manifest::sha256_hex(b"....ftypisom fake mp4 bytes"),
        bytes: 27,
        duration_ms: 10_000,
        start_ms: 0,
        frames: 100,
        codec: "h264".into(),
        method: "remux".into(),
        masked: false,
    };
    for (id, file) in [
        (with_clip, Ok(info)),
        (failed, Err("the camera stopped".into())),
    ] {
        journal
            .record_clip(&crate::alerts::NewClip { alert_id: id, file })
            .unwrap();
    }
    // An alert has one clip.
    assert!(journal
        .record_clip(&crate::alerts::NewClip {
            alert_id: with_clip,
            file: Err("again".into())
        })
        .is_err());
    let r = get(url.clone()).await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "video/mp4"));
    assert_eq!(r.body, b"....ftypisom fake mp4 bytes");
    let r = get(format!("{}/api/alerts/{failed}/clip.mp4", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("the camera stopped"));
    assert_eq!(
        get(format!("{}/api/alerts/{failed}", s.base)).await.json()["clip_url"],
        serde_json::Value::Null
    );

    let in_31_days = crate::alerts::now_ms() + 31 * 24 * 3600 * 1000;
    let report = journal.purge_images(in_31_days, 30).unwrap().unwrap();
    assert_eq!(report.clips, 1);
    assert!(!file.exists(), "the purge deletes the clip file");
    let r = get(url).await;
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (410, Some("retention"))
    );
    assert!(r.json()["error"].as_str().unwrap().contains("clip"));
    let a = get(format!("{}/api/alerts/{with_clip}", s.base))
        .await
        .json();
    assert_eq!(a["clip_url"], serde_json::Value::Null);
    // Nothing left to purge: no second tombstone.
    assert!(journal.purge_images(in_31_days, 30).unwrap().is_none());
    assert!(journal.verify().unwrap().intact());
    s.stop().await;
}

/// A full-resolution still through the API: pending (404, `Retry-After`) until attached, then
/// `image/jpeg` beside the unchanged snapshot, the attachment told to live consoles; 404 with
/// the reason when it could not be made or none was expected; 410 after the retention purge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_still_is_pending_then_served_then_410_after_the_purge() {
    let s = Server::start(DEFAULT_BUS_CAPACITY).await;
    let journal = s.state.journal.clone();
    let plain = s.publish(1)[0];
    let r = get(format!("{}/api/alerts/{plain}/still.jpg", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("no full-resolution still"));
    let mut expecting = new_alert("c1");
    expecting.still_expected = true;
    let mut updates = s.state.bus.subscribe_decisions();
    let with_still = s
        .state
        .bus
        .publish(expecting.clone(), std::time::Instant::now())
        .unwrap()
        .id;
    let failed = s
        .state
        .bus
        .publish(expecting, std::time::Instant::now())
        .unwrap()
        .id;
    let url = format!("{}/api/alerts/{with_still}/still.jpg", s.base);
    let r = get(url.clone()).await;
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (404, Some("pending"))
    );
    let a = get(format!("{}/api/alerts/{with_still}", s.base))
        .await
        .json();
    assert_eq!(
        (a["still_pending"].as_bool(), &a["still_url"]),
        (Some(true), &serde_json::Value::Null)
    );

    let jpeg = [0xFF, 0xD8, 0x10, 0x20, 0xFF, 0xD9];
    s.state.bus.attach_still(with_still, Ok(&jpeg)).unwrap();
    s.state
        .bus
        .attach_still(failed, Err("the camera stopped"))
        .unwrap();
    let told = updates.recv().await.unwrap();
    assert_eq!(told.id, with_still);
    assert_eq!(
        told.still_url.as_deref(),
        Some(format!("/api/alerts/{with_still}/still.jpg").as_str())
    );
    let r = get(url.clone()).await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "image/jpeg"));
    assert_eq!(r.body, jpeg);
    let snap = get(format!("{}/api/alerts/{with_still}/snapshot.jpg", s.base)).await;
    assert_eq!(
        snap.body,
        vec![0xFF, 0xD8, 0xFF, 0xD9],
        "the snapshot is unchanged"
    );
    let r = get(format!("{}/api/alerts/{failed}/still.jpg", s.base)).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("the camera stopped"));

    let in_31_days = crate::alerts::now_ms() + 31 * 24 * 3600 * 1000;
    journal.purge_images(in_31_days, 30).unwrap().unwrap();
    let r = get(url).await;
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (410, Some("retention"))
    );
    assert!(journal.verify().unwrap().intact());
    s.stop().await;
}
