//! The daily retention purge: images older than `[retention] images_days`, then journal rows
//! older than `journal_days` (see `alerts::retention` for what each deletes and the tombstone it
//! leaves in the hash chain).

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::{now_ms, Journal, JournalError, PurgeReport};
use crate::config::RetentionConfig;
use crate::metrics::Metrics;

/// How often the purge runs.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// What one run deleted: images, then journal rows (`None`: nothing to delete).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeRun {
    pub images: Option<PurgeReport>,
    pub journal: Option<PurgeReport>,
}

/// Applies the retention settings to the journal as of `now_ms`.
pub fn purge(
    journal: &Journal,
    settings: &RetentionConfig,
    now_ms: i64,
) -> Result<PurgeRun, JournalError> {
    Ok(PurgeRun {
        images: journal.purge_images(now_ms, settings.images_days)?,
        journal: journal.purge_journal(now_ms, settings.journal_days)?,
    })
}

/// Counts what a run deleted.
fn count(metrics: &Metrics, run: &PurgeRun) {
    let r = PurgeReport::default();
    let images = run.images.as_ref().unwrap_or(&r);
    let journal = run.journal.as_ref().unwrap_or(&r);
    for (what, n) in [
        ("images", images.images),
        ("clips", images.clips + journal.clips),
        ("alerts", journal.alerts),
        ("decisions", journal.decisions),
    ] {
        metrics
            .retention_purged
            .with_label_values(&[what])
            .inc_by(n);
    }
}

/// Runs the purge now, then every [`PURGE_INTERVAL`], on the current tokio runtime, until the
/// runtime stops. Failures are logged and retried at the next run.
pub fn spawn_daily(journal: Arc<Journal>, settings: RetentionConfig, metrics: Metrics) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_INTERVAL);
        loop {
            every.tick().await;
            let j = journal.clone();
            let run = tokio::task::spawn_blocking(move || purge(&j, &settings, now_ms())).await;
            match run {
                Ok(Ok(run)) => {
                    count(&metrics, &run);
                    tracing::info!(
                        images_days = settings.images_days,
                        journal_days = settings.journal_days,
                        result = %serde_json::json!(run),
                        "retention purge done"
                    );
                }
                Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
                Err(e) => tracing::error!(error = %e, "retention purge task failed"),
            }
        }
    });
}
