//! Outputs: one worker per configured `[[outputs]]` entry takes its undelivered items from the
//! journal's outbox, oldest first, and hands them to its [`Output`] (MQTT, webhook). An item is
//! marked delivered only once the receiver acknowledged it; a failure postpones it with
//! exponential backoff (1 s, 2 s, 4 s… up to `retry_max_seconds`) and slows the worker down the
//! same way, so an unreachable output costs little. The first success after failures makes every
//! postponed item due at once. Nothing is ever dropped: at least once, receivers deduplicate.
//!
//! Adding an output type: a file beside this one implementing [`Output`], a variant in
//! `config::OutputConfig`, and one line in [`spawn`].

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use tokio::task::JoinHandle;

use crate::alerts::{now_ms, Journal, OutboxItem, DELIVERED_RETENTION_MS};
use crate::config::{Config, OutputConfig};
use crate::metrics::Metrics;

use super::mqtt::MqttOutput;
use super::webhook::WebhookOutput;

/// Items read from the outbox at a time.
const BATCH: u32 = 32;
/// How often delivered rows older than the retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Longest idle wait between two looks at the outbox.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Why one delivery attempt failed. Messages never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot reach the receiver: {0}")]
    Unreachable(String),
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
    #[error("the receiver refused it: {0}")]
    Rejected(String),
}

/// Why an output could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("outputs[{index}] ({id}): {message}")]
    Config {
        index: usize,
        id: String,
        message: String,
    },
    #[error("delivery metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Something that delivers outbox items.
pub trait Output: Send + 'static {
    /// Delivers one item; `Ok` only once the receiver acknowledged it (MQTT PUBACK, HTTP 2xx).
    fn deliver(
        &mut self,
        item: &OutboxItem,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Delay before attempt `attempt + 1` after `attempt` failures: 1 s, 2 s, 4 s… capped at `max`.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    Duration::from_secs(1u64 << exp).min(max)
}

/// The `vigie_delivery_…` metrics of outputs, labelled by output id.
#[derive(Clone)]
pub struct DeliveryMetrics {
    pub pending: IntGaugeVec,
    pub oldest_age: GaugeVec,
    pub delivered: IntCounterVec,
    pub failures: IntCounterVec,
    pub latency: HistogramVec,
}

impl DeliveryMetrics {
    /// Creates and registers the metrics on the engine's registry.
    pub fn register(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let labels = &["output"];
        let pending = IntGaugeVec::new(
            Opts::new(
                "vigie_delivery_outbox_pending",
                "Outbox items not yet delivered, per output.",
            ),
            labels,
        )?;
        let oldest_age = GaugeVec::new(
            Opts::new(
                "vigie_delivery_outbox_oldest_age_seconds",
                "Age of the oldest undelivered outbox item (0 when none), per output.",
            ),
            labels,
        )?;
        let delivered = IntCounterVec::new(
            Opts::new(
                "vigie_delivery_delivered_total",
                "Outbox items acknowledged by the receiver, per output.",
            ),
            labels,
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "vigie_delivery_failures_total",
                "Failed delivery attempts (each is retried), per output.",
            ),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "vigie_delivery_latency_seconds",
                "From the event journaled to its acknowledgement by the receiver, per output.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                1800.0, 3600.0,
            ]),
            labels,
        )?;
        let r = &metrics.registry;
        r.register(Box::new(pending.clone()))?;
        r.register(Box::new(oldest_age.clone()))?;
        r.register(Box::new(delivered.clone()))?;
        r.register(Box::new(failures.clone()))?;
        r.register(Box::new(latency.clone()))?;
        Ok(DeliveryMetrics {
            pending,
            oldest_age,
            delivered,
            failures,
            latency,
        })
    }
}

/// The running workers; dropping this does not stop them (the runtime does).
pub struct Outputs {
    pub handles: Vec<JoinHandle<()>>,
}

impl Outputs {
    pub fn abort(&self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Builds the running part of one configured output and starts its worker.
fn spawn(
    cfg: &OutputConfig,
    base: &Path,
    public_url: Option<&str>,
    worker: Worker,
) -> Result<JoinHandle<()>, String> {
    Ok(match cfg {
        OutputConfig::Mqtt(c) => tokio::spawn(run(MqttOutput::new(c, base, public_url)?, worker)),
        OutputConfig::Webhook(c) => {
            tokio::spawn(run(WebhookOutput::new(c, base, public_url)?, worker))
        }
    })
}

/// Starts one worker (and its metrics updater) per configured output on the current Tokio
/// runtime. Warns about undelivered items of outputs no longer configured (they are kept).
pub fn start(
    config: &Config,
    journal: Arc<Journal>,
    metrics: &Metrics,
) -> Result<Outputs, OutputError> {
    let delivery = DeliveryMetrics::register(metrics)?;
    let public_url = config.server.public_url.as_deref();
    let mut handles = Vec::new();
    for (index, cfg) in config.outputs.iter().enumerate() {
        let worker = Worker {
            output: cfg.id().to_string(),
            kind: cfg.kind(),
            journal: journal.clone(),
            metrics: delivery.clone(),
            retry_max: Duration::from_secs_f32(cfg.retry_max_seconds()),
        };
        let gauges = worker.clone();
        let handle = spawn(cfg, &config.base_dir, public_url, worker).map_err(|message| {
            OutputError::Config {
                index,
                id: cfg.id().to_string(),
                message,
            }
        })?;
        handles.push(handle);
        handles.push(tokio::spawn(update_gauges(gauges)));
        tracing::info!(output = cfg.id(), kind = cfg.kind(), "output started");
    }
    warn_orphans(config, &journal);
    Ok(Outputs { handles })
}

fn warn_orphans(config: &Config, journal: &Journal) {
    let Ok(pending) = journal.outbox_pending_by_output() else {
        return;
    };
    for (output, n) in pending {
        if !config.outputs.iter().any(|o| o.id() == output) {
            tracing::warn!(
                output = %output,
                undelivered = n,
                "the outbox holds undelivered items for an output that is no longer configured; kept until it is configured again"
            );
        }
    }
}

/// One output's worker state.
#[derive(Clone)]
pub struct Worker {
    pub output: String,
    pub kind: &'static str,
    pub journal: Arc<Journal>,
    pub metrics: DeliveryMetrics,
    pub retry_max: Duration,
}

impl Worker {
    /// Runs a journal call off the async threads.
    async fn db<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Journal, &str) -> Result<T, crate::alerts::JournalError> + Send + 'static,
    {
        let (journal, output) = (self.journal.clone(), self.output.clone());
        match tokio::task::spawn_blocking(move || f(&journal, &output)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("journal task failed: {e}")),
        }
    }

    /// How long to wait when nothing is due: until the next postponed item, or a while.
    async fn idle_wait(&self) -> Duration {
        match self.db(|j, o| j.outbox_next_attempt_ms(o)).await {
            Ok(Some(t)) => {
                let ms = u64::try_from(t - now_ms()).unwrap_or(0);
                Duration::from_millis(ms).min(IDLE_POLL)
            }
            _ => IDLE_POLL,
        }
    }

    async fn delivered(&self, item: &OutboxItem, recovered: bool) {
        let id = item.id;
        if let Err(e) = self.db(move |j, _| j.outbox_delivered(id, now_ms())).await {
            // Delivered but not marked: it will be sent again (a duplicate, never a loss).
            tracing::error!(output = %self.output, error = %e, "cannot mark an outbox item delivered");
        }
        let labels = [self.output.as_str()];
        self.metrics.delivered.with_label_values(&labels).inc();
        let age = (now_ms() - item.created_at_ms).max(0) as f64 / 1000.0;
        self.metrics.latency.with_label_values(&labels).observe(age);
        if recovered {
            let n = self
                .db(|j, o| j.outbox_retry_now(o, now_ms()))
                .await
                .unwrap_or(0);
            tracing::info!(output = %self.output, kind = self.kind, postponed = n, "output reachable again");
        }
    }

    async fn failed(&self, item: &OutboxItem, error: &DeliveryError, failing: u32) {
        self.metrics
            .failures
            .with_label_values(&[self.output.as_str()])
            .inc();
        let delay = backoff(item.attempts.saturating_add(1), self.retry_max);
        let (id, text) = (item.id, error.to_string());
        let next = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        if let Err(e) = self.db(move |j, _| j.outbox_failed(id, &text, next)).await {
            tracing::error!(output = %self.output, error = %e, "cannot record a failed delivery");
        }
        // The first failure, then one line in ten: an outage does not flood the log.
        if failing == 1 || failing.is_multiple_of(10) {
            tracing::warn!(
                output = %self.output,
                kind = self.kind,
                error = %error,
                consecutive_failures = failing,
                retry_in_s = delay.as_secs_f32(),
                "delivery failed; will retry"
            );
        }
    }

    async fn prune(&self) {
        let before = now_ms() - DELIVERED_RETENTION_MS;
        match self.db(move |j, o| j.outbox_prune(o, before)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(output = %self.output, rows = n, "delivered outbox rows pruned")
            }
            Err(e) => tracing::error!(output = %self.output, error = %e, "outbox prune failed"),
        }
    }
}

/// The worker loop of one output; runs until its task is aborted.
pub async fn run<O: Output>(mut out: O, w: Worker) {
    let mut wake = w.journal.outbox_subscribe();
    let mut wake_alive = true;
    let mut failing: u32 = 0;
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            w.prune().await;
            last_prune = Some(tokio::time::Instant::now());
        }
        // Seen before reading: a commit after this line wakes the wait below.
        wake.borrow_and_update();
        let due = match w.db(|j, o| j.outbox_due(o, now_ms(), BATCH)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(output = %w.output, error = %e, "cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if due.is_empty() {
            let wait = w.idle_wait().await;
            tokio::select! {
                r = wake.changed(), if wake_alive => wake_alive = r.is_ok(),
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        for item in &due {
            match out.deliver(item).await {
                Ok(()) => {
                    w.delivered(item, failing > 0).await;
                    failing = 0;
                }
                Err(e) => {
                    failing = failing.saturating_add(1);
                    w.failed(item, &e, failing).await;
                    tokio::time::sleep(backoff(failing, w.retry_max)).await;
                    break;
                }
            }
        }
    }
}

/// Keeps the queue depth and oldest age gauges current (every second).
async fn update_gauges(w: Worker) {
    let labels = [w.output.clone()];
    loop {
        if let Ok(stats) = w.db(|j, o| j.outbox_stats(o)).await {
            let pending = i64::try_from(stats.pending).unwrap_or(i64::MAX);
            w.metrics.pending.with_label_values(&labels).set(pending);
            let age = stats
                .oldest_created_ms
                .map(|t| (now_ms() - t).max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            w.metrics.oldest_age.with_label_values(&labels).set(age);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_cap() {
        let max = Duration::from_secs(60);
        let got: Vec<u64> = (0..=9).map(|a| backoff(a, max).as_secs()).collect();
        assert_eq!(got, vec![1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX, max), max);
        assert_eq!(
            backoff(3, Duration::from_millis(1500)),
            Duration::from_millis(1500)
        );
    }

    /// Fails its first `fail` attempts, then records what it delivers.
    struct Flaky {
        fail: u32,
        seen: Arc<Mutex<Vec<i64>>>,
    }

    impl Output for Flaky {
        async fn deliver(&mut self, item: &OutboxItem) -> Result<(), DeliveryError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(DeliveryError::Unreachable("connection refused".into()));
            }
            self.seen.lock().unwrap().push(item.event_id);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flaky_output_gets_every_item_and_failures_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(
            Journal::open(dir.path().join("j.db"))
                .unwrap()
                .with_outputs(vec!["flaky".into()]),
        );
        let metrics = Metrics::new();
        let w = Worker {
            output: "flaky".into(),
            kind: "test",
            journal: journal.clone(),
            metrics: DeliveryMetrics::register(&metrics).unwrap(),
            retry_max: Duration::from_secs(1),
        };
        for i in 0..3 {
            journal
                .insert(&crate::alerts::test_support::new_alert(&format!("c{i}")))
                .unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(run(
            Flaky {
                fail: 2,
                seen: seen.clone(),
            },
            w.clone(),
        ));
        // Raised while the worker runs: the commit wakes it.
        journal
            .insert(&crate::alerts::test_support::new_alert("late"))
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while seen.lock().unwrap().len() < 4 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        task.abort();
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 4, "every event delivered: {got:?}");
        assert_eq!(journal.outbox_stats("flaky").unwrap().pending, 0);
        let text = metrics.render();
        assert!(
            text.contains("vigie_delivery_failures_total{output=\"flaky\"} 2"),
            "{text}"
        );
        assert!(text.contains("vigie_delivery_delivered_total{output=\"flaky\"} 4"));
        // The items that failed carry their attempts.
        let attempts: i64 = rusqlite::Connection::open(dir.path().join("j.db"))
            .unwrap()
            .query_row("SELECT SUM(attempts) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(attempts, 2);
    }
}
