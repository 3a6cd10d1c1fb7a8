//! Alerts of cameras whose full-resolution snapshot is decoded on demand (a sub-stream camera:
//! its main stream is kept compressed, see `evidence`) are published from this thread, so a
//! detection worker never waits for a decoder: the worker hands over the events and the
//! analysed frame and goes on; here the main stream's frame of that instant is decoded (at most
//! until [`STILL_DEADLINE`] after the analysis, else the detector's frame with a logged reason),
//! then each event is journaled and delivered as from the worker. Jobs are taken in order, so a
//! camera's alerts keep their order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::camera::CameraCtx;
use super::publish::{publish, Moment, Under};
use crate::alerts::AlertBus;
use crate::evidence::STILL_DEADLINE;
use crate::frames::Frame;
use crate::rules::Event;

/// Alerts waiting for their snapshot; beyond, a worker publishes with the detector's frame.
const QUEUE: usize = 64;

/// The events of one analysed frame, waiting for their snapshot.
pub(super) struct StillJob {
    pub cam: Arc<CameraCtx>,
    pub events: Vec<(Event, Under)>,
    pub frame: Arc<Frame>,
    /// When the frame's analysis ended: the deadline runs from there.
    pub analysed: Instant,
}

/// Where workers hand over such events, and how many handed-over jobs are not published yet
/// (the engine is idle only at 0).
#[derive(Clone)]
pub(super) struct StillSender {
    tx: SyncSender<StillJob>,
    pending: Arc<AtomicUsize>,
}

impl StillSender {
    /// Jobs handed over and not yet published.
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
        let shown = job
            .cam
            .evidence
            .snapshot_frame(&job.frame, job.analysed + STILL_DEADLINE);
        for (ev, under) in &job.events {
            let at = Moment::of(&job.frame);
            publish(&job.cam, ev, Some(&shown), at, labels, bus, *under);
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}
