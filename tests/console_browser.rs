//! The operator console in a real browser (Debian's headless Chromium driven over WebDriver by
//! chromedriver): a live alert appears without reloading, the operator confirms it, the decision
//! reaches the journal, and the camera panel shows the camera live.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Driver {
    fn start() -> Driver {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: `make test` installs chromium and chromium-driver (deploy/setup.sh)"
            );
        }
        let port = free_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(20), || {
            ureq::get(&format!("{base}/status")).call().ok()
        })
        .expect("chromedriver did not answer");
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let resp: Value = ureq::post(&format!("{base}/session"))
            .send_json(caps)
            .expect("new WebDriver session")
            .into_json()
            .unwrap();
        let session = resp["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        Driver {
            child,
            base,
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let resp = match method {
            "GET" => ureq::get(&url).call(),
            _ => ureq::post(&url).send_json(body),
        };
        match resp {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(_, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                json!({"error": v["value"]["error"], "message": v["value"]["message"]})
            }
            Err(e) => panic!("WebDriver {path}: {e}"),
        }
    }

    fn find(&self, css: &str) -> Option<String> {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()?
            .iter()
            .find(|(k, _)| k.starts_with("element-"))
            .and_then(|(_, id)| id.as_str().map(str::to_string))
    }

    fn text(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn click(&self, element: &str) {
        self.cmd("POST", &format!("/element/{element}/click"), json!({}));
    }

    fn type_into(&self, element: &str, text: &str) {
        self.cmd("POST", &format!("/element/{element}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            json!({"text": text}),
        );
    }

    fn script(&self, code: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": code, "args": []}))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_operator_confirms_a_live_alert_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    // Played at its own rate, as a camera: alerts arrive while the page is open.
    let cfg = write_cameras(
        dir.path(),
        &clip_camera("parvis", &clip().to_string_lossy(), true, "loop = true"),
    );
    let vigie = Vigie::start(&cfg);
    let driver = Driver::start();
    driver.cmd("POST", "/url", json!({"url": format!("{}/", vigie.base)}));

    // Wait for the page to be connected to the live stream, then note what it already shows.
    wait_for(Duration::from_secs(30), || {
        let s = driver.find("#live-state")?;
        (driver.text(&s) == "Live").then_some(())
    })
    .expect("the console never connected to the live stream");
    let initial = driver
        .script("return Array.from(document.querySelectorAll('[data-alert-id]')).map(e => Number(e.dataset.alertId));");
    let max_initial = initial
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).max().unwrap_or(0))
        .unwrap_or(0);

    // A new alert arrives over the live stream, without a reload.
    let id = wait_for(Duration::from_secs(90), || {
        let v = driver.script(&format!(
            "const ids = Array.from(document.querySelectorAll('[data-alert-id]')).map(e => Number(e.dataset.alertId)).filter(i => i > {max_initial}); return ids.length ? Math.min(...ids) : null;"
        ));
        v.as_i64()
    })
    .unwrap_or_else(|| panic!("no live alert reached the page; log:\n{}", vigie.log()));
    let card = format!("[data-alert-id=\"{id}\"]");
    let img = driver
        .find(&format!("{card} img"))
        .expect("snapshot in the card");
    let loaded = driver.script(&format!(
        "const i = document.querySelector('{} img'); return i.complete && i.naturalWidth > 0;",
        card.replace('"', "\\\"")
    ));
    assert!(!img.is_empty());
    assert_eq!(loaded, json!(true), "the snapshot image did not load");

    // The operator confirms it, with a name and a comment.
    let confirm = driver
        .find(&format!("{card} .confirm"))
        .expect("Confirm button");
    driver.click(&confirm);
    let name = driver.find("#decision-operator").expect("operator field");
    driver.type_into(&name, "Agent Dupont");
    let comment = driver.find("#decision-comment").expect("comment field");
    driver.type_into(&comment, "intrusion vue sur l'esplanade");
    let submit = driver.find("#decision-submit").expect("submit");
    driver.click(&submit);

    let stored = wait_for(Duration::from_secs(15), || {
        let a = vigie.get_json(&format!("/api/alerts/{id}"));
        (a["status"] == "confirmed").then_some(a)
    })
    .expect("the decision made in the browser was not stored");
    assert_eq!(stored["decision"]["operator"], "Agent Dupont");
    assert_eq!(
        stored["decision"]["comment"],
        "intrusion vue sur l'esplanade"
    );
    let status_text = wait_for(Duration::from_secs(10), || {
        let s = driver.find(&format!("{card} .status"))?;
        let t = driver.text(&s);
        t.to_lowercase().contains("confirm").then_some(t)
    });
    assert!(status_text.is_some(), "the card does not show the decision");

    // The camera panel shows the camera live.
    let state = wait_for(Duration::from_secs(10), || {
        let s = driver.find("[data-camera-id=\"parvis\"] .state")?;
        let t = driver.text(&s);
        t.to_lowercase().contains("live").then_some(t)
    });
    assert!(state.is_some(), "camera not shown as live");

    // Keep a screenshot for people to look at (not asserted).
    if let Some(png) = driver.cmd("GET", "/screenshot", Value::Null).as_str() {
        if let Ok(bytes) = base64_decode(png) {
            let _ = std::fs::write(repo().join("target/console-test.png"), bytes);
        }
    }
}

/// Minimal base64 decoding (standard alphabet), to keep the screenshot without a dependency.
fn base64_decode(s: &str) -> Result<Vec<u8>, ()> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return Err(()),
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Ok(out)
}

#[test]
fn an_offline_camera_is_shown_as_offline_never_live_with_its_alert() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens on this port: the camera never delivers a frame.
    let port = free_port();
    let cfg = write_cameras(
        dir.path(),
        &clip_camera(
            "quai",
            &format!("rtsp://127.0.0.1:{port}/cam"),
            true,
            "[cameras.health]\noffline_seconds = 2",
        ),
    );
    let vigie = Vigie::start(&cfg);
    let driver = Driver::start();
    driver.cmd("POST", "/url", json!({"url": format!("{}/", vigie.base)}));
    let state = wait_for(Duration::from_secs(20), || {
        let s = driver.find("[data-camera-id=\"quai\"] .state")?;
        let t = driver.text(&s);
        (t == "OFFLINE").then_some(t)
    });
    assert!(
        state.is_some(),
        "camera not shown as OFFLINE: {:?}; cameras {}",
        driver
            .find("[data-camera-id=\"quai\"] .state")
            .map(|s| driver.text(&s)),
        vigie.get_json("/api/cameras")
    );
    // The fault alert is a card like the others: no zone, no confidence, the explanation.
    let card = wait_for(Duration::from_secs(10), || {
        let c = driver.find(".alert-card.health.kind-camera_offline")?;
        let t = driver.text(&c);
        t.contains("Camera offline").then_some(t)
    })
    .expect("no offline alert card");
    assert!(card.contains("no frame received"), "{card}");
    assert!(card.contains("threshold 2 s"), "{card}");
    assert!(!card.contains("zone"), "{card}");
    assert!(!card.contains("confidence"), "{card}");
}

/// Writes `n` alerts from camera `camera_name` into a journal at `path` (the real journal code).
fn journal_with(path: &std::path::Path, camera_name: &str, n: usize) -> String {
    let journal = vigie::alerts::Journal::open(path).unwrap();
    for _ in 0..n {
        journal
            .insert(&vigie::alerts::NewAlert {
                camera_id: "mire".into(),
                camera_name: camera_name.into(),
                rule_id: "esplanade-intrusion".into(),
                event_type: vigie::rules::EventType::Intrusion,
                zone_id: Some("esplanade".into()),
                frame_time_ms: 1_700_000_000_000,
                stream_ts_ns: 0,
                confidence: 0.8,
                track_id: Some(1),
                boxes: Vec::new(),
                explanation: "person in zone esplanade for 1.0 s".into(),
                measurements: Vec::new(),
                people: Some(1),
                incident: None,
                incident_id: None,
                snapshot_jpeg: Vec::new(),
            })
            .unwrap();
    }
    journal.id().to_string()
}

fn card_texts(driver: &Driver) -> Vec<String> {
    driver
        .script(
            "return Array.from(document.querySelectorAll('.alert-card .camera')).map(e => e.textContent);",
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 12 §1: the journal is replaced while a console is open (a restore, a new path). The
/// console used to stay "Live" and receive nothing: its last id belonged to the old journal. It
/// now gets a reset, reloads the list from the new journal and says so. The page runs under the
/// server's Content-Security-Policy (inline script allowed, framing forbidden) throughout.
#[test]
fn a_console_open_while_the_journal_is_replaced_reloads_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = dir.path().join("journal.db");
    let old_id = journal_with(&db, "Ancien journal", 5);
    // A camera that raises nothing: only the journals' own alerts are shown.
    let camera = "[[cameras]]\nid = \"mire\"\nsource = \"test:ball\"\ndetect_fps = 1\n\
                  [cameras.health]\noffline_seconds = 0\nfrozen_seconds = 0\nobstructed_seconds = 0\n";
    let text = header(dir.path()).replace("127.0.0.1:0", &format!("127.0.0.1:{port}")) + camera;
    let cfg = write_config(dir.path(), &text);
    let vigie = Vigie::start(&cfg);
    let driver = Driver::start();
    driver.cmd("POST", "/url", json!({"url": format!("{}/", vigie.base)}));
    wait_for(Duration::from_secs(30), || {
        let s = driver.find("#live-state")?;
        (driver.text(&s) == "Live" && card_texts(&driver).len() == 5).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the console never showed the first journal: {:?}",
            card_texts(&driver)
        )
    });

    // The journal is replaced by another one (fewer alerts, ids starting again at 1).
    vigie.kill9();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let new_id = journal_with(&db, "Nouveau journal", 2);
    assert_ne!(old_id, new_id);
    let vigie = Vigie::start(&cfg);

    let shown = wait_for(Duration::from_secs(60), || {
        let notice = driver.script(
            "const n = document.getElementById('journal-notice'); return n.classList.contains('shown') ? n.textContent : null;",
        );
        let cards = card_texts(&driver);
        let fresh = cards.len() == 2 && cards.iter().all(|c| c == "Nouveau journal");
        notice.as_str().filter(|_| fresh).map(str::to_string)
    })
    .unwrap_or_else(|| {
        panic!(
            "the console did not reload after the journal was replaced: cards {:?}, notice {}; log:\n{}",
            card_texts(&driver),
            driver.script("return document.getElementById('journal-notice').outerHTML;"),
            vigie.log()
        )
    });
    assert!(shown.contains("journal"), "{shown}");
    // Connected again, to the new journal.
    let state = wait_for(Duration::from_secs(20), || {
        let s = driver.find("#live-state")?;
        (driver.text(&s) == "Live").then_some(())
    });
    assert!(state.is_some(), "not live again");
    // All of it ran under the server's policy, which forbids framing.
    let page = ureq::get(&format!("{}/", vigie.base)).call().unwrap();
    let csp = page
        .header("content-security-policy")
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
}
