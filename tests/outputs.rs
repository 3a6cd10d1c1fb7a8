//! MQTT and webhook outputs end to end: the real `vigie` binary on the real clip, a real
//! mosquitto broker started by the test (own config, free port, persistence on), a real
//! `mosquitto_sub` subscriber, and a small HTTP receiver that checks every signature. The broker
//! and the receiver are stopped for 60 s while alerts are raised, and the engine is killed with
//! undelivered items: every alert must arrive anyway (duplicates allowed, matched by alert id).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use common::webhook::{Hook, Receiver};
use common::*;

const SECRET: &str = "test-webhook-key-0123456789";
const PREFIX: &str = "vigie";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let up = wait_for(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    assert!(up.is_some(), "nothing listens on port {port}");
}

/// A mosquitto broker of the test's own (persistence on, like a production broker).
struct Mosquitto {
    child: Child,
}

impl Mosquitto {
    fn start(dir: &Path, port: u16) -> Mosquitto {
        let data = dir.join("mosquitto");
        std::fs::create_dir_all(&data).unwrap();
        let conf = data.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nuser root\nlog_dest file {}\n",
                data.display(),
                data.join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (deploy/setup.sh installs it)");
        wait_port(port);
        Mosquitto { child }
    }

    /// SIGTERM (the broker saves its sessions and retained messages), then waits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto_sub` on `<prefix>/#` with a persistent session (QoS 1), so it misses nothing
/// across broker restarts; lines `topic payload` go to a file.
struct Subscriber {
    child: Child,
    out: PathBuf,
}

impl Subscriber {
    fn start(dir: &Path, port: u16) -> Subscriber {
        let out = dir.join("mosquitto_sub.out");
        let child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-i", "vigie-test-subscriber", "-c", "-q", "1", "-v"])
            .args(["-t", &format!("{PREFIX}/#")])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (deploy/setup.sh installs it)");
        Subscriber { child, out }
    }

    /// Waits until the broker of `dir` has seen the subscriber connect (its session exists, so
    /// nothing published from now on is missed).
    fn wait_connected(&self, dir: &Path) {
        wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("mosquitto/mosquitto.log"))
                .ok()
                .filter(|l| l.contains("vigie-test-subscriber"))
                .map(|_| ())
        })
        .expect("subscriber connected");
    }

    /// Every message received so far: (topic, JSON payload).
    fn messages(&self) -> Vec<(String, Value)> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (topic, payload) = l.split_once(' ')?;
                Some((topic.to_string(), serde_json::from_str(payload).ok()?))
            })
            .collect()
    }

    /// Alert ids seen on `<prefix>/alerts`.
    fn alert_ids(&self) -> BTreeSet<i64> {
        self.messages()
            .iter()
            .filter(|(t, _)| *t == format!("{PREFIX}/alerts"))
            .filter_map(|(_, v)| v["alert"]["id"].as_i64())
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hook_alert_ids(got: &Mutex<Vec<Hook>>) -> BTreeSet<i64> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|h| h.event == "alert")
        .filter_map(|h| h.body["alert"]["id"].as_i64())
        .collect()
}

struct Ports {
    mqtt: u16,
    hook: u16,
    /// Nothing ever listens here: the `ghost` camera goes offline.
    dead: u16,
}

/// The clip camera (looping or not) with a whole-image rule that fires every few seconds, a
/// camera that never connects, and both outputs.
fn write_test_config(dir: &Path, ports: &Ports, looping: bool) -> PathBuf {
    std::fs::write(dir.join("hook.key"), format!("{SECRET}\n")).unwrap();
    let header = format!(
        "state_dir = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://vigie.test:8080\"\n\
         [detector]\nmanifest = {:?}\nworkers = 1\nintra_threads = 2\n",
        dir.join("state").to_string_lossy(),
        repo().join("models/models.toml").to_string_lossy()
    );
    let extra = if looping { "loop = true" } else { "" };
    let parvis = clip_camera("parvis", &clip().to_string_lossy(), looping, extra);
    let anywhere = "[[cameras.zones]]\nid = \"image\"\npoints = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n\
         [[cameras.rules]]\nid = \"anywhere\"\ntype = \"intrusion\"\nzone = \"image\"\nclasses = [\"person\"]\n\
         min_seconds = 0.5\ncooldown_seconds = 4\nmin_score = 0.4\n";
    let ghost = format!(
        "[[cameras]]\nid = \"ghost\"\nsource = \"rtsp://127.0.0.1:{}/cam\"\n[cameras.health]\noffline_seconds = 1\n",
        ports.dead
    );
    let outputs = format!(
        "[[outputs]]\ntype = \"mqtt\"\nid = \"broker\"\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"{PREFIX}\"\n\
         ack_timeout_seconds = 5\nretry_max_seconds = 5\n\
         [[outputs]]\ntype = \"webhook\"\nid = \"vms\"\nurl = \"http://127.0.0.1:{}/vigie\"\nsecret_file = \"hook.key\"\n\
         timeout_seconds = 3\nretry_max_seconds = 5\n",
        ports.mqtt, ports.hook
    );
    write_config(dir, &format!("{header}{parvis}{anywhere}{ghost}{outputs}"))
}

/// Journaled alerts: id → event type.
fn api_alerts(vigie: &Vigie) -> HashMap<i64, String> {
    vigie.get_json("/api/alerts?limit=500")["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x["id"].as_i64()?, x["event_type"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn api_alert_ids(vigie: &Vigie) -> BTreeSet<i64> {
    api_alerts(vigie).into_keys().collect()
}

/// `vigie_delivery_<name>{output="<output>"}` from /metrics.
fn metric(vigie: &Vigie, name: &str, output: &str) -> f64 {
    let text = vigie.get("/metrics").call().unwrap().into_string().unwrap();
    let prefix = format!("vigie_delivery_{name}{{output=\"{output}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Waits until every id in `ids` reached both the subscriber and the receiver.
fn wait_all_delivered(
    ids: &BTreeSet<i64>,
    sub: &Subscriber,
    hooks: &Mutex<Vec<Hook>>,
    timeout: Duration,
) {
    let done = wait_for(timeout, || {
        (ids.is_subset(&sub.alert_ids()) && ids.is_subset(&hook_alert_ids(hooks))).then_some(())
    });
    if done.is_none() {
        let (m, h) = (sub.alert_ids(), hook_alert_ids(hooks));
        panic!(
            "not every alert arrived: missing on MQTT {:?}, missing on the webhook {:?}",
            ids.difference(&m).collect::<Vec<_>>(),
            ids.difference(&h).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_alert_arrives_across_a_60_s_broker_and_endpoint_outage() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        mqtt: free_port(),
        hook: free_port(),
        dead: free_port(),
    };
    let broker = Mosquitto::start(dir.path(), ports.mqtt);
    let sub = Subscriber::start(dir.path(), ports.mqtt);
    sub.wait_connected(dir.path());
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let receiver = Receiver::start(ports.hook, SECRET, hooks.clone());
    let vigie = Vigie::start(&write_test_config(dir.path(), &ports, true));

    // Wired: the first alerts and the ghost camera's state arrive.
    let first = wait_for(Duration::from_secs(120), || {
        let both = sub
            .alert_ids()
            .intersection(&hook_alert_ids(&hooks))
            .count();
        (both > 0).then_some(())
    });
    assert!(first.is_some(), "no alert delivered; log:\n{}", vigie.log());
    let state_topic = format!("{PREFIX}/cameras/ghost/state");
    let offline = wait_for(Duration::from_secs(30), || {
        sub.messages()
            .into_iter()
            .find(|(t, v)| *t == state_topic && v["camera"]["state"] == "offline")
    });
    assert!(offline.is_some(), "no offline state for the ghost camera");

    // Outage: broker and endpoint down for 60 s while alerts are raised.
    broker.stop();
    receiver.stop();
    let before = api_alert_ids(&vigie);
    std::thread::sleep(Duration::from_secs(60));
    let raised: BTreeSet<i64> = api_alerts(&vigie)
        .into_iter()
        .filter(|(id, t)| !before.contains(id) && t == "intrusion")
        .map(|(id, _)| id)
        .collect();
    assert!(
        !raised.is_empty(),
        "no alert was raised during the outage: the test proves nothing"
    );
    for output in ["broker", "vms"] {
        assert!(metric(&vigie, "outbox_pending", output) >= 1.0, "{output}");
        assert!(
            metric(&vigie, "outbox_oldest_age_seconds", output) > 5.0,
            "{output}"
        );
        assert!(metric(&vigie, "failures_total", output) >= 1.0, "{output}");
    }

    // Back: everything journaled so far arrives, at both.
    let _broker = Mosquitto::start(dir.path(), ports.mqtt);
    let _receiver = Receiver::start(ports.hook, SECRET, hooks.clone());
    let all = api_alert_ids(&vigie);
    wait_all_delivered(&all, &sub, &hooks, Duration::from_secs(90));

    // ONVIF-style messages of the rule alerts.
    let onvif_prefix = format!("{PREFIX}/onvif-ej/RuleEngine/FieldDetector/ObjectsInside/&parvis/");
    let onvif: Vec<Value> = sub
        .messages()
        .into_iter()
        .filter(|(t, _)| t.starts_with(&onvif_prefix))
        .map(|(_, v)| v)
        .collect();
    assert!(!onvif.is_empty(), "no ONVIF message");
    for m in &onvif {
        assert!(
            m["UtcTime"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{m}"
        );
        assert_eq!(m["Source"]["VideoSourceConfigurationToken"], "parvis");
        assert_eq!(m["Data"]["IsInside"], true);
        assert!(m["Data"]["AlertId"].as_i64().is_some(), "{m}");
    }
    let onvif_ids: BTreeSet<i64> = onvif
        .iter()
        .filter_map(|m| m["Data"]["AlertId"].as_i64())
        .collect();
    assert!(
        raised.is_subset(&onvif_ids),
        "raised during the outage: {raised:?}, ONVIF: {onvif_ids:?}"
    );

    // Snapshot links are absolute.
    let hook_list = hooks.lock().unwrap().clone();
    let alert = hook_list
        .iter()
        .find(|h| h.event == "alert" && h.body["alert"]["event_type"] == "intrusion")
        .unwrap();
    assert!(alert.body["alert"]["snapshot_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://vigie.test:8080/api/alerts/")));
    assert!(
        hook_list.iter().all(|h| h.signature_ok),
        "a webhook signature did not verify"
    );
    assert!(hook_list
        .iter()
        .any(|h| h.event == "camera_state" && h.body["camera"]["camera_id"] == "ghost"));

    // The camera state is retained by the broker (across its restart): a new subscriber gets it.
    let retained = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &ports.mqtt.to_string()])
        .args(["-C", "1", "-W", "10", "-t", &state_topic])
        .output()
        .unwrap();
    let state: Value = serde_json::from_slice(&retained.stdout).expect("retained camera state");
    assert_eq!(state["camera"]["state"], "offline");
    assert_eq!(state["event"], "camera_state");
    assert!(metric(&vigie, "delivered_total", "broker") >= all.len() as f64);
}

#[test]
fn items_left_undelivered_by_a_killed_engine_arrive_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        mqtt: free_port(),
        hook: free_port(),
        dead: free_port(),
    };
    // Nothing listens yet: every delivery fails.
    let cfg = write_test_config(dir.path(), &ports, false);
    let vigie = Vigie::start(&cfg);
    let queued = wait_for(Duration::from_secs(120), || {
        let n = api_alert_ids(&vigie).len();
        (n >= 3
            && metric(&vigie, "outbox_pending", "broker") >= 3.0
            && metric(&vigie, "outbox_pending", "vms") >= 3.0)
            .then_some(())
    });
    assert!(
        queued.is_some(),
        "no undelivered alerts; log:\n{}",
        vigie.log()
    );
    vigie.kill9();

    let journal = dir.path().join("state/journal.db");
    let conn = rusqlite::Connection::open(&journal).expect("journal in state_dir");
    let ids: BTreeSet<i64> = conn
        .prepare("SELECT id FROM alerts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let undelivered: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE delivered_at_ms IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        undelivered >= 6,
        "{undelivered} undelivered rows after the kill"
    );
    drop(conn);

    let _broker = Mosquitto::start(dir.path(), ports.mqtt);
    let sub = Subscriber::start(dir.path(), ports.mqtt);
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let _receiver = Receiver::start(ports.hook, SECRET, hooks.clone());
    sub.wait_connected(dir.path());
    let again = Vigie::start(&cfg);
    wait_all_delivered(&ids, &sub, &hooks, Duration::from_secs(60));
    assert!(hooks.lock().unwrap().iter().all(|h| h.signature_ok));
    drop(again);
}
