//! Harness for the end-to-end tests: the real `vigie` binary, real footage, real HTTP.
#![allow(dead_code)]

pub mod webhook;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_vigie");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real pedestrian clip; `make test` fetches it (deploy/setup.sh).
pub fn clip() -> PathBuf {
    let p = std::env::var_os("VIGIE_CLIP")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".deps/media/vtest.avi"));
    assert!(
        p.is_file(),
        "the test clip {} is missing: run `make test` (deploy/setup.sh fetches it)",
        p.display()
    );
    p
}

pub fn ort_dylib() -> String {
    let p = std::env::var("ORT_DYLIB_PATH").unwrap_or_else(|_| {
        repo()
            .join(".deps/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1")
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        Path::new(&p).is_file(),
        "ONNX Runtime {p} is missing: run `make test` (deploy/setup.sh installs it)"
    );
    p
}

/// The demo zone of vtest.avi: the paved square right of the lamp post.
pub const ESPLANADE: &[[f32; 2]] = &[
    [0.57, 0.41],
    [1.0, 0.41],
    [1.0, 0.73],
    [0.78, 0.69],
    [0.57, 0.54],
];

pub fn polygon_toml(points: &[[f32; 2]]) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|p| format!("[{}, {}]", p[0], p[1]))
        .collect();
    format!("[{}]", pts.join(", "))
}

/// A config header: ephemeral port, journal in `dir`, the repository's model.
pub fn header(dir: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[journal]\npath = {:?}\n[detector]\nmanifest = {:?}\nworkers = 1\nintra_threads = 2\n",
        dir.join("journal.db").to_string_lossy(),
        repo().join("models/models.toml").to_string_lossy()
    )
}

/// A camera reading the clip (as fast as possible unless `realtime`), with an intrusion rule on
/// the esplanade.
pub fn clip_camera(id: &str, source: &str, realtime: bool, extra: &str) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nname = \"Camera {id}\"\nsource = {source:?}\nrealtime = {realtime}\ndetect_fps = 5\n{extra}\n\
         [[cameras.zones]]\nid = \"esplanade\"\npoints = {}\n\
         [[cameras.rules]]\nid = \"esplanade-intrusion\"\ntype = \"intrusion\"\nzone = \"esplanade\"\nclasses = [\"person\"]\nmin_seconds = 1.0\ncooldown_seconds = 10\nmin_score = 0.4\n",
        polygon_toml(ESPLANADE)
    )
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("vigie.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// A config in `dir` made of [`header`] and the given cameras.
pub fn write_cameras(dir: &Path, cameras: &str) -> PathBuf {
    write_config(dir, &format!("{}{}", header(dir), cameras))
}

/// The password of every account the harness creates.
pub const PASSWORD: &str = "mot de passe de test";

/// The accounts [`Vigie::start`] creates (if missing) with the CLI, each with [`PASSWORD`]:
/// `(name, role)`.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("admin", "admin"),
    ("superviseur", "supervisor"),
    ("agent1", "operator"),
    ("agent2", "operator"),
    ("auditeur", "auditor"),
];

/// `vigie <args>` with `stdin` as standard input: exit success, stdout, stderr.
pub fn cli(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the vigie command line");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("vigie output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates the harness accounts of `config`'s journal with `vigie user add` (those missing),
/// and a fresh API token of `role` with `vigie token add`; returns the token.
pub fn accounts_and_token(config: &Path, role: &str) -> String {
    let cfg = config.to_string_lossy().to_string();
    for (name, r) in ACCOUNTS {
        let (ok, _, err) = cli(
            &[
                "user",
                "add",
                name,
                "--role",
                r,
                "--config",
                &cfg,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        assert!(
            ok || err.contains("already exists"),
            "vigie user add {name}: {err}"
        );
    }
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("harness-{role}-{}-{n}", std::process::id());
    let (ok, out, err) = cli(
        &["token", "add", &name, "--role", role, "--config", &cfg],
        "",
    );
    assert!(ok, "vigie token add: {err}");
    let token = out.trim().to_string();
    assert!(token.starts_with("vgt_"), "{out}");
    token
}

/// A running `vigie run`, killed when dropped. Its accounts exist ([`ACCOUNTS`]); its API
/// calls here authenticate with a supervisor token (reads, decisions) or an admin one (reload).
pub struct Vigie {
    pub child: Child,
    pub base: String,
    pub stderr_log: PathBuf,
    /// A supervisor's API token: reads alerts and cameras, takes and decides.
    pub token: String,
    /// An admin's API token: configuration reload.
    pub admin_token: String,
}

impl Vigie {
    pub fn start(config: &Path) -> Vigie {
        let token = accounts_and_token(config, "supervisor");
        let admin_token = accounts_and_token(config, "admin");
        let log = config.with_extension("log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut child = Command::new(BIN)
            .arg("run")
            .arg(config)
            .env("ORT_DYLIB_PATH", ort_dylib())
            .env("VIGIE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start vigie");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Vigie console: ") {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Vigie {
                child,
                base,
                stderr_log: log,
                token,
                admin_token,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "vigie did not print its console URL; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// `GET path` with the supervisor token.
    pub fn get(&self, path: &str) -> ureq::Request {
        ureq::get(&format!("{}{}", self.base, path))
            .timeout(Duration::from_secs(10))
            .set("Authorization", &format!("Bearer {}", self.token))
    }

    /// `POST path` with the supervisor token.
    pub fn post(&self, path: &str) -> ureq::Request {
        ureq::post(&format!("{}{}", self.base, path))
            .timeout(Duration::from_secs(60))
            .set("Authorization", &format!("Bearer {}", self.token))
    }

    /// `POST path` with the admin token (configuration reload).
    pub fn admin_post(&self, path: &str) -> ureq::Request {
        ureq::post(&format!("{}{}", self.base, path))
            .timeout(Duration::from_secs(60))
            .set("Authorization", &format!("Bearer {}", self.admin_token))
    }

    /// Logs `name` (one of [`ACCOUNTS`]) in through `POST /api/login`, as the console does.
    pub fn login(&self, name: &str) -> Login {
        let resp = ureq::post(&format!("{}/api/login", self.base))
            .timeout(Duration::from_secs(30))
            .send_json(serde_json::json!({"name": name, "password": PASSWORD}))
            .unwrap_or_else(|e| panic!("login {name}: {e}"));
        let cookie = resp
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("session cookie")
            .to_string();
        let body: serde_json::Value = resp.into_json().expect("login json");
        Login {
            base: self.base.clone(),
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf token").to_string(),
            account: name.to_string(),
        }
    }

    /// An alert's snapshot bytes, checked to be served as a JPEG.
    pub fn snapshot_jpeg(&self, alert_id: i64) -> Vec<u8> {
        let resp = self
            .get(&format!("/api/alerts/{alert_id}/snapshot.jpg"))
            .call()
            .unwrap();
        assert_eq!(resp.header("content-type"), Some("image/jpeg"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
        bytes
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path)
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .expect("json")
    }

    /// Kills with SIGKILL: no clean shutdown at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        unsafe_kill(self.child.id() as i32, 15);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

/// A console session: its cookie and CSRF token.
pub struct Login {
    pub base: String,
    /// `vigie_session=…`
    pub cookie: String,
    pub csrf: String,
    pub account: String,
}

impl Login {
    pub fn get(&self, path: &str) -> ureq::Request {
        ureq::get(&format!("{}{}", self.base, path))
            .timeout(Duration::from_secs(10))
            .set("Cookie", &self.cookie)
    }

    /// A write, with the session's CSRF token.
    pub fn post(&self, path: &str) -> ureq::Request {
        ureq::post(&format!("{}{}", self.base, path))
            .timeout(Duration::from_secs(30))
            .set("Cookie", &self.cookie)
            .set("X-CSRF-Token", &self.csrf)
    }
}

/// Status and JSON body of a call, whatever the status.
pub fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    match r {
        Ok(resp) => (resp.status(), resp.into_json().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_json().unwrap_or_default()),
        Err(e) => panic!("request failed: {e}"),
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Vigie {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
}

/// A live-stream client over a raw socket, events read on a thread.
pub struct Sse {
    rx: Receiver<SseEvent>,
    stream: TcpStream,
}

impl Sse {
    /// The live stream of `vigie`, with its supervisor token.
    pub fn connect(vigie: &Vigie, last_event_id: Option<i64>) -> Sse {
        let hostport = vigie.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(hostport).expect("connect");
        let mut req = format!(
            "GET /api/alerts/live HTTP/1.0\r\nHost: {hostport}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n",
            vigie.token
        );
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).expect("send");
        let reader = stream.try_clone().expect("clone");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            // Headers.
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
            }
            // Body: HTTP/1.0, so no chunked encoding, just the event stream until close.
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let mut byte = [0u8; 1];
                // Read one line.
                loop {
                    match r.read(&mut byte) {
                        Ok(1) => {
                            buf.push(byte[0]);
                            if byte[0] == b'\n' {
                                break;
                            }
                        }
                        _ => return,
                    }
                }
                let l = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                if let Some(v) = l.strip_prefix("id:") {
                    // `<journal>:<alert id>`.
                    id = v.trim().rsplit(':').next().and_then(|n| n.parse().ok());
                } else if let Some(v) = l.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = l.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                } else if l.is_empty() && !data.is_empty() {
                    let ev = SseEvent {
                        id: id.take(),
                        event: std::mem::take(&mut event),
                        data: std::mem::take(&mut data),
                    };
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        });
        Sse { rx, stream }
    }

    /// The next `alert` event within `timeout`.
    pub fn next_alert(&self, timeout: Duration) -> Option<(i64, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(ev) if ev.event == "alert" => {
                    let v: serde_json::Value = serde_json::from_str(&ev.data).expect("alert json");
                    let id = ev.id.or_else(|| v["id"].as_i64()).expect("alert id");
                    return Some((id, v));
                }
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }
}

impl Drop for Sse {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

pub fn point_in_polygon(p: (f32, f32), poly: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let n = poly.len();
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = (poly[i][0], poly[i][1]);
        let (xj, yj) = (poly[j][0], poly[j][1]);
        if (yi > p.1) != (yj > p.1) && p.0 < (xj - xi) * (p.1 - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// A TCP port of 127.0.0.1 free right now (to start a server where a client will expect it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until `f` returns Some, polling.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A `vigie serve-rtsp` child and its URL; killed when dropped.
pub struct RtspServer {
    pub child: Child,
    pub url: String,
}

impl RtspServer {
    /// On a free port chosen by the server.
    pub fn start(clip: &Path, args: &[&str]) -> RtspServer {
        Self::start_on(0, clip, args)
    }

    /// On `port` (to restart a server where its cameras expect it).
    pub fn start_on(port: u16, clip: &Path, args: &[&str]) -> RtspServer {
        let mut child = Command::new(BIN)
            .args(["serve-rtsp", "--port", &port.to_string()])
            .args(args)
            .arg("--clip")
            .arg(clip)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve-rtsp");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server output");
        let url = line
            .trim()
            .strip_prefix("RTSP server: ")
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"))
            .to_string();
        RtspServer { child, url }
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port in the URL")
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(st.success());
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Greedy one-to-one matching of two sets of boxes by decreasing IoU (>= 0.5); returns the
/// number of pairs (the accuracy guards' recall and precision).
pub fn matched_boxes(a: &[vigie::detect::BBox], b: &[vigie::detect::BBox]) -> usize {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let iou = x.iou(y);
            if iou >= 0.5 {
                pairs.push((iou, i, j));
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut n = 0;
    for (_, i, j) in pairs {
        if !used_a[i] && !used_b[j] {
            (used_a[i], used_b[j]) = (true, true);
            n += 1;
        }
    }
    n
}

/// Frames of vtest.avi read once by Vigie's real file pipeline, scaled to `size` (BGR): those
/// whose sequence number `keep` accepts, at most `max` of them (within 120 s).
pub fn vtest_frames(
    size: (u32, u32),
    keep: impl Fn(u64) -> bool,
    max: usize,
) -> Vec<vigie::frames::Frame> {
    use std::sync::Arc;
    let queue = Arc::new(vigie::frames::FrameQueue::new(4));
    let source = vigie::config::Source::File { path: clip() };
    let status = Arc::new(vigie::ingest::CameraStatus::new(
        "vtest",
        "vtest",
        "",
        &source.redacted(),
    ));
    let handle = vigie::ingest::spawn_camera(
        vigie::ingest::CameraSpec::read_once("vtest", source, size),
        queue.clone(),
        status,
        vigie::metrics::Metrics::new(),
    )
    .expect("start the file pipeline");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && out.len() < max {
        match queue.pop() {
            Some(f) if keep(f.seq) => out.push(f),
            Some(_) => {}
            None if handle.is_finished() => break,
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    handle.stop();
    out
}
