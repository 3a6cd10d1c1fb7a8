//! Full-resolution stills of the alerts of cameras whose main stream is decoded on demand (a
//! sub-stream camera: its main stream is kept compressed, see `evidence`). The worker journals
//! and delivers such an alert at once, drawn on the detector's frame, then hands the alert ids,
//! their events and the analysed frame over to this thread and goes on; here the main stream's
//! frame of that instant is decoded (waiting at most [`STILL_DEADLINE`] for its packets), at a
//! lower priority than ingest and detection, each event drawn on it as its snapshot was; the
//! `stills-journal` thread then attaches each still to its alert (or why there is none). An
//! alert never waits for a decoder. Jobs are taken in order.

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

/// Starts the two threads: `snapshots` decodes and draws at a lower priority, `stills-journal`
/// attaches at the normal one (a low-priority thread holding the journal would hold up the
/// workers' alerts). They end once every sender is dropped and the queues are empty.
pub(super) fn spawn(
    bus: AlertBus,
    labels: Arc<Vec<String>>,
) -> std::io::Result<(StillSender, Vec<JoinHandle<()>>)> {
    let (tx, rx) = sync_channel(QUEUE);
    let (made_tx, made_rx) = std::sync::mpsc::channel::<Made>();
    let pending = Arc::new(AtomicUsize::new(0));
    let left = pending.clone();
    let journal = std::thread::Builder::new()
        .name("stills-journal".into())
        .spawn(move || {
            for made in made_rx {
                for (id, still) in &made {
                    attach(&bus, *id, still.as_deref().map_err(String::as_str));
                }
                left.fetch_sub(1, Ordering::SeqCst);
            }
        })?;
    let decoder = std::thread::Builder::new()
        .name("snapshots".into())
        .spawn(move || run(rx, &labels, &made_tx))?;
    Ok((StillSender { tx, pending }, vec![decoder, journal]))
}

/// The stills of one job: each alert's id and its JPEG, or why there is none.
type Made = Vec<(i64, Result<Vec<u8>, String>)>;

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

/// Nice value of this thread: a still (decoded in this thread, see `clips::still`) yields the
/// CPU to ingest and detection, so under load stills come later, cameras do not slow down.
const NICE: libc::c_int = 19;

fn run(rx: Receiver<StillJob>, labels: &[String], made: &std::sync::mpsc::Sender<Made>) {
    lower_priority();
    for job in rx {
        let deadline = Instant::now() + STILL_DEADLINE;
        let full = job.cam.evidence.still_frame(&job.frame, deadline);
        let stills = job
            .alerts
            .iter()
            .map(|(id, event)| {
                let jpeg = full
                    .as_ref()
                    .map_err(String::clone)
                    .and_then(|f| render_event(event, labels, f).map_err(|e| e.to_string()));
                if let Err(reason) = &jpeg {
                    tracing::info!(camera = %job.cam.id, alert_id = id, %reason, "no full-resolution still: the alert keeps the detector's frame");
                }
                (*id, jpeg)
            })
            .collect();
        // The journal thread lives as long as this one's sender.
        let _ = made.send(stills);
    }
}

/// Attaches alert `id`'s still (or why there is none), logging a failure to journal it.
pub(super) fn attach(bus: &AlertBus, id: i64, still: Result<&[u8], &str>) {
    if let Err(e) = bus.attach_still(id, still) {
        tracing::error!(alert_id = id, error = %e, "the alert's still could not be journaled");
    }
}

/// Lowers the calling thread's priority to [`NICE`] (Linux: the nice value is per thread), unless
/// it is already lower.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's own id.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let Ok(tid) = libc::id_t::try_from(tid) else {
        return;
    };
    // Never above the priority the process runs at.
    let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, current.max(NICE)) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "the snapshots thread keeps the normal priority");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_calling_thread_alone_gets_the_lower_priority() {
        let nice = || unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        };
        let before = nice();
        let lowered = std::thread::spawn(move || {
            super::lower_priority();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, before.max(super::NICE));
        assert_eq!(nice(), before, "the other threads keep theirs");
    }
}
