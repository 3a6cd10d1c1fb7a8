//! A small HTTP receiver for webhook outputs: answers 200 to every POST and keeps what came,
//! each request's `X-Vigie-Event`, JSON body and whether its `X-Vigie-Signature` is right.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One webhook request as received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub event: String,
    pub body: Value,
    pub signature_ok: bool,
}

/// A small HTTP receiver answering 200 to every POST, until stopped.
pub struct Receiver {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `sha256=<hex HMAC-SHA256 of body>` under `secret`.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn handle(stream: TcpStream, secret: &str, got: &Mutex<Vec<Hook>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let signature = headers
        .get("x-vigie-signature")
        .cloned()
        .unwrap_or_default();
    got.lock().unwrap().push(Hook {
        event: headers.get("x-vigie-event").cloned().unwrap_or_default(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signature_ok: signature == expected_signature(secret, &body),
    });
    let mut w = stream;
    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

impl Receiver {
    /// Listens on `port`; signatures are checked against `secret`.
    pub fn start(port: u16, secret: &str, got: Arc<Mutex<Vec<Hook>>>) -> Receiver {
        let secret = secret.to_string();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("receiver port");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        handle(s, &secret, &got);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Receiver {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the port: connections are refused from now on.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
