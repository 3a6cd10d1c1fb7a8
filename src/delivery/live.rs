//! The live feed behind `GET /api/alerts/live`: journaled alerts after the console's last one,
//! then live alerts from the bus, each exactly once and in id order. A subscriber that lags
//! behind the broadcast (or sees a gap in ids) reads the journal again, so a slow console never
//! silently misses an alert.
//!
//! Event ids are `<journal id>:<alert id>`. A console that resumes from an id of another journal
//! (replaced, moved) or beyond the newest alert (a journal restored from a backup) is told so with
//! a `reset` event instead of waiting in silence for ids that will never come.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::stream::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use crate::alerts::{Alert, AlertBus, Journal};

/// What a live console receives.
#[derive(Debug, Clone)]
pub enum LiveItem {
    /// A new alert (id strictly greater than the previous one sent).
    Alert(Arc<Alert>),
    /// An alert whose status an operator just changed (best effort).
    Decision(Arc<Alert>),
}

/// Where a console says it stopped: `<journal>:<id>` (what this server sends), or a bare id
/// (`?after=` from older consoles, `curl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    pub journal: Option<String>,
    pub id: i64,
}

impl ResumePoint {
    /// `None` for anything else than `<id>` or `<journal>:<id>` (an id: digits, no sign, no
    /// leading zero; a journal: 1 to 64 letters or digits).
    pub fn parse(raw: &str) -> Option<ResumePoint> {
        let (journal, id) = match raw.rsplit_once(':') {
            Some((j, id)) => {
                let ok =
                    !j.is_empty() && j.len() <= 64 && j.chars().all(|c| c.is_ascii_alphanumeric());
                (Some(ok.then(|| j.to_string())?), id)
            }
            None => (None, raw),
        };
        Some(ResumePoint {
            journal,
            id: super::parse_id(id, true)?,
        })
    }
}

/// Where a live stream starts, and why it could not start where the console asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// Alerts after this id are sent.
    pub after: i64,
    /// Set when the console's resume point does not belong to this journal: the console must
    /// reload its list (its ids mean other alerts, or alerts that no longer exist).
    pub reset: Option<String>,
}

/// Decides where to start: after the console's point when it belongs to `journal` (whose newest
/// alert is `newest`), else after `newest` with the reason for a reset.
pub fn start_point(resume: Option<&ResumePoint>, journal: &str, newest: i64) -> Start {
    let Some(point) = resume else {
        return Start {
            after: newest,
            reset: None,
        };
    };
    let reset = match &point.journal {
        Some(other) if other != journal => Some(format!(
            "the console's last alert is from journal {other}, this server's journal is {journal} \
             (replaced or moved): its alert ids are not comparable"
        )),
        _ if point.id > newest => Some(format!(
            "the console's last alert id {} is beyond this journal's newest ({newest}): the journal \
             was replaced or restored from a backup",
            point.id
        )),
        _ => None,
    };
    match reset {
        Some(reason) => Start {
            after: newest,
            reset: Some(reason),
        },
        None => Start {
            after: point.id,
            reset: None,
        },
    }
}

/// One console's position in the alert sequence.
pub struct LiveFeed {
    journal: Arc<Journal>,
    alerts: broadcast::Receiver<Arc<Alert>>,
    decisions: broadcast::Receiver<Arc<Alert>>,
    shutdown: watch::Receiver<bool>,
    /// Highest alert id sent (or already seen by the console).
    last_sent: i64,
    pending: VecDeque<Arc<Alert>>,
    /// True while the journal may hold alerts the console has not been sent.
    catchup: bool,
    page: u32,
    /// Times the feed fell behind the broadcast (or saw a gap) and re-read the journal.
    resyncs: u64,
}

enum Wake {
    Shutdown,
    Alert(Result<Arc<Alert>, RecvError>),
    Decision(Result<Arc<Alert>, RecvError>),
}

impl LiveFeed {
    /// Subscribes to the bus now; call [`LiveFeed::start_after`] before reading. Subscribing
    /// before the journal is read means nothing published in between is missed.
    pub fn subscribe(bus: &AlertBus, page: u32, shutdown: watch::Receiver<bool>) -> Self {
        LiveFeed {
            journal: bus.journal().clone(),
            alerts: bus.subscribe(),
            decisions: bus.subscribe_decisions(),
            shutdown,
            last_sent: 0,
            pending: VecDeque::new(),
            catchup: true,
            page: page.max(1),
            resyncs: 0,
        }
    }

    /// The console has seen every alert up to `last_seen`; send the ones after it.
    pub fn start_after(&mut self, last_seen: i64) {
        self.last_sent = last_seen.max(0);
        self.pending.clear();
        self.catchup = true;
    }

    /// Times this feed had to resync from the journal after lagging or seeing a gap.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Highest alert id handed out so far.
    pub fn last_sent(&self) -> i64 {
        self.last_sent
    }

    /// The next item; `None` when the server shuts down, the bus is gone or the journal fails
    /// (the console then reconnects with its Last-Event-ID and loses nothing).
    pub async fn next(&mut self) -> Option<LiveItem> {
        loop {
            while let Some(alert) = self.pending.pop_front() {
                if alert.id > self.last_sent {
                    self.last_sent = alert.id;
                    return Some(LiveItem::Alert(alert));
                }
            }
            if self.catchup {
                let journal = self.journal.clone();
                let (after, page) = (self.last_sent, self.page);
                match tokio::task::spawn_blocking(move || journal.after(after, page)).await {
                    Ok(Ok(rows)) => {
                        if rows.len() < page as usize {
                            self.catchup = false;
                        }
                        self.pending.extend(rows.into_iter().map(Arc::new));
                        continue;
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, after, "live stream cannot read the journal");
                        return None;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "live stream journal task failed");
                        return None;
                    }
                }
            }
            let wake = tokio::select! {
                biased;
                () = wait_for_shutdown(&mut self.shutdown) => Wake::Shutdown,
                r = self.alerts.recv() => Wake::Alert(r),
                r = self.decisions.recv() => Wake::Decision(r),
            };
            match wake {
                Wake::Shutdown => return None,
                Wake::Alert(Ok(alert)) => {
                    if alert.id == self.last_sent + 1 {
                        self.pending.push_back(alert);
                    } else if alert.id > self.last_sent {
                        // A gap: whatever is missing is in the journal (committed before sent).
                        self.catchup = true;
                        self.resyncs += 1;
                    }
                    // Ids at or below last_sent were already sent: skip.
                }
                Wake::Alert(Err(RecvError::Lagged(missed))) => {
                    tracing::warn!(
                        missed,
                        last_sent = self.last_sent,
                        "live console fell behind; resyncing from the journal"
                    );
                    self.catchup = true;
                    self.resyncs += 1;
                }
                Wake::Alert(Err(RecvError::Closed)) => return None,
                Wake::Decision(Ok(alert)) => return Some(LiveItem::Decision(alert)),
                // Decisions are best effort: a console reloading sees the current status anyway.
                Wake::Decision(Err(RecvError::Lagged(_))) => {}
                Wake::Decision(Err(RecvError::Closed)) => return None,
            }
        }
    }

    pub fn into_stream(self) -> impl Stream<Item = LiveItem> + Send + 'static {
        futures_util::stream::unfold(self, |mut feed| async move {
            feed.next().await.map(|item| (item, feed))
        })
    }
}

/// Completes once shutdown is signalled; never when the signal can no longer come.
async fn wait_for_shutdown(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
