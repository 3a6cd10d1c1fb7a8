//! Full-resolution stills of the alerts of cameras whose main stream is decoded on demand (a
//! sub-stream camera: its main stream is kept compressed, see `evidence`). The worker journals
//! and delivers such an alert at once, drawn on the detector's frame, then hands the alert ids,
//! their events and the analysed frame over to this thread and goes on; here the main stream's
//! frame of that instant is decoded (giving up [`STILL_DEADLINE`] after the job is taken), each
//! event drawn on it as its snapshot was, and the still attached to its alert (or why there is
//! none). An alert never waits for a decoder. Jobs are taken in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::camera::CameraCtx;
use crate::alerts::{render_event, AlertBus};
use crate::evidence::STILL_DEADLINE;
use crate::frames::Frame;
use crate::rules::Event;

/// Frames whose alerts wait for their still; beyond, the alerts are told there is none.
const QUEUE: usize = 64;

/// The alerts of one analysed frame, journaled, waiting for their full-resolution still.
pub(super) struct StillJob {
    pub cam: Arc<CameraCtx>,
    /// Each alert's journal id and the event it was raised for (drawn again on the still).
    pub alerts: Vec<(i64, Event)>,
    pub frame: Arc<Frame>,
}

/// Where workers hand over such alerts, and how many handed-over jobs are not done yet (the
/// engine is idle only at 0).
#[derive(Clone)]
pub(super) struct StillSender {
    tx: SyncSender<StillJob>,
    pending: Arc<AtomicUsize>,
}

impl StillSender {
    /// Jobs handed over and not yet done.
    pub fn pending(&self) -> Arc<AtomicUsize> {
        self.pending.clone()
    }
}

/// Starts the thread; it ends once every sender is dropped and the queue is empty.
pub(super) fn spawn(
    bus: AlertBus,
    labels: Arc<Vec<String>>,
) -> std::io::Result<(StillSender, JoinHandle<()>)> {
    let (tx, rx) = sync_channel(QUEUE);
    let pending = Arc::new(AtomicUsize::new(0));
    let left = pending.clone();
    let handle = std::thread::Builder::new()
        .name("snapshots".into())
        .spawn(move || run(rx, &bus, &labels, &left))?;
    Ok((StillSender { tx, pending }, handle))
}

/// Hands `job` over without waiting; gives it back when the queue is full.
pub(super) fn hand_over(to: &StillSender, job: StillJob) -> Result<(), StillJob> {
    to.pending.fetch_add(1, Ordering::SeqCst);
    to.tx.try_send(job).map_err(|e| {
        to.pending.fetch_sub(1, Ordering::SeqCst);
        match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
        }
    })
}

fn run(rx: Receiver<StillJob>, bus: &AlertBus, labels: &[String], pending: &AtomicUsize) {
    for job in rx {
        let deadline = Instant::now() + STILL_DEADLINE;
        let full = job.cam.evidence.still_frame(&job.frame, deadline);
        for (id, event) in &job.alerts {
            let jpeg = full
                .as_ref()
                .map_err(String::clone)
                .and_then(|f| render_event(event, labels, f).map_err(|e| e.to_string()));
            if let Err(reason) = &jpeg {
                tracing::info!(camera = %job.cam.id, alert_id = id, %reason, "no full-resolution still: the alert keeps the detector's frame");
            }
            attach(bus, *id, jpeg.as_deref().map_err(String::as_str));
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Attaches alert `id`'s still (or why there is none), logging a failure to journal it.
pub(super) fn attach(bus: &AlertBus, id: i64, still: Result<&[u8], &str>) {
    if let Err(e) = bus.attach_still(id, still) {
        tracing::error!(alert_id = id, error = %e, "the alert's still could not be journaled");
    }
}
