//! Makes the clip of each alert, after it is journaled: one thread that listens to the alert
//! bus, waits until the camera's ring holds the seconds after the alert (or a timeout: the
//! camera may stop), takes the packets, writes the MP4 and journals it. An alert is never
//! delayed by its clip; a clip that cannot be made is journaled with the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::TryRecvError;

use super::writer::{self, ClipFile};
use super::{CameraClips, ClipRings, Coverage};
use crate::alerts::{now_ms, Alert, AlertBus, ClipFileInfo, Journal, NewClip};
use crate::metrics::Metrics;

/// Longest wait beyond the end of the clip window for the camera's packets to get there.
pub const LATE_MS: i64 = 5_000;
/// How often pending clips are looked at.
const TICK: Duration = Duration::from_millis(100);

/// One clip to make.
struct Job {
    alert_id: i64,
    camera_id: String,
    alert_ms: i64,
    clips: Option<CameraClips>,
    /// Written at the latest then, with what the ring holds.
    deadline_ms: i64,
}

/// Where the clip of alert `id` is written.
pub fn clip_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.mp4"))
}

/// Starts the clip thread: clips of alerts published on `bus` from now on go to `dir`.
pub fn spawn(
    rings: Arc<ClipRings>,
    bus: &AlertBus,
    dir: PathBuf,
    metrics: Metrics,
) -> std::io::Result<JoinHandle<()>> {
    remove_partial_files(&dir);
    let rx = bus.subscribe();
    let journal = bus.journal().clone();
    std::thread::Builder::new()
        .name("clips".into())
        .spawn(move || run(rings, rx, journal, dir, metrics))
}

/// Clips left half-written by a process that stopped while writing them.
fn remove_partial_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|e| e == "part") {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a partial clip");
            }
        }
    }
}

fn run(
    rings: Arc<ClipRings>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Alert>>,
    journal: Arc<Journal>,
    dir: PathBuf,
    metrics: Metrics,
) {
    let (pre, post) = rings.settings().window_ms();
    let mut pending: Vec<Job> = Vec::new();
    loop {
        loop {
            match rx.try_recv() {
                Ok(alert) if alert.clip_url.is_some() => pending.push(Job {
                    alert_id: alert.id,
                    camera_id: alert.camera_id.clone(),
                    alert_ms: alert.frame_time_ms,
                    clips: rings.get(&alert.camera_id),
                    deadline_ms: alert.frame_time_ms.max(now_ms()) + post + LATE_MS,
                }),
                Ok(_) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "clip thread fell behind the alerts: {n} alerts get no clip"
                    )
                }
                Err(TryRecvError::Closed) if pending.is_empty() => return,
                Err(TryRecvError::Closed) => break,
            }
        }
        let now = now_ms();
        let (ready, waiting): (Vec<Job>, Vec<Job>) = pending.into_iter().partition(|j| {
            now >= j.deadline_ms
                || j.clips.as_ref().is_none_or(|c| {
                    c.ring.coverage(j.alert_ms, j.alert_ms + post) == Coverage::Complete
                })
        });
        pending = waiting;
        for job in ready {
            let file = make(&job, (pre, post), &dir, &metrics);
            record(&journal, &job, file);
        }
        std::thread::sleep(TICK);
    }
}

/// Takes the packets of the job's window and writes them; the reason when it cannot.
fn make(
    job: &Job,
    (pre, post): (i64, i64),
    dir: &Path,
    metrics: &Metrics,
) -> Result<ClipFile, String> {
    let Some(clips) = &job.clips else {
        return Err(format!(
            "camera `{}` had no compressed stream to keep when the alert fired",
            job.camera_id
        ));
    };
    let Some(packets) = clips
        .ring
        .clip(job.alert_ms - pre, job.alert_ms, job.alert_ms + post)
    else {
        metrics.clips.with_label_values(&["failed"]).inc();
        return Err(
            "no video of the camera covers the alert's time (the stream stopped or \
                    restarted)"
                .to_string(),
        );
    };
    let started = Instant::now();
    match writer::write(&packets, clips.mask.as_ref(), &clip_path(dir, job.alert_id)) {
        Ok(file) => {
            let method = file.method.as_str();
            metrics.clips.with_label_values(&[method]).inc();
            metrics
                .clip_write_seconds
                .with_label_values(&[method])
                .observe(started.elapsed().as_secs_f64());
            tracing::info!(alert_id = job.alert_id, camera = %job.camera_id, method, bytes = file.bytes, duration_ms = file.duration_ms, write_ms = started.elapsed().as_millis() as u64, "alert clip written");
            Ok(file)
        }
        Err(e) => {
            metrics.clips.with_label_values(&["failed"]).inc();
            Err(e.to_string())
        }
    }
}

fn record(journal: &Journal, job: &Job, file: Result<ClipFile, String>) {
    if let Err(reason) = &file {
        tracing::warn!(alert_id = job.alert_id, camera = %job.camera_id, %reason, "no clip for the alert");
    }
    let clip = NewClip {
        alert_id: job.alert_id,
        file: file.map(|f| ClipFileInfo {
            path: f.path,
            sha256: f.sha256,
            bytes: f.bytes,
            duration_ms: f.duration_ms,
            start_ms: f.start_ms,
            frames: f.frames as u64,
            codec: f.codec,
            method: f.method.as_str().to_string(),
            masked: f.masked,
        }),
    };
    if let Err(e) = journal.record_clip(&clip) {
        tracing::error!(alert_id = job.alert_id, error = %e, "the clip could not be journaled");
    }
}
