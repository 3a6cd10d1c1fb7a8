//! `[retention]`: how long evidence and the journal are kept. A daily purge applies it
//! (`governance::retention`); each purge is journaled in the hash chain.

use serde::{Deserialize, Serialize};

/// Shortest journal retention accepted, in days: six months (AI Act art. 12 and 26 ask for logs
/// kept at least that long).
pub const MIN_JOURNAL_DAYS: u32 = 183;

/// Longest retention accepted, in days (ten years).
const MAX_DAYS: u32 = 3650;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Snapshots (and later clips) are deleted this many days after their alert; the alert row
    /// and its place in the hash chain stay.
    pub images_days: u32,
    /// Alerts and their decisions are deleted this many days after the alert (and its last
    /// decision); at least [`MIN_JOURNAL_DAYS`].
    pub journal_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            images_days: 30,
            journal_days: 365,
        }
    }
}

impl RetentionConfig {
    /// Problems as `(field, message)`, for the caller to prefix with `retention.`.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if !(1..=MAX_DAYS).contains(&self.images_days) {
            errors.push((
                "images_days",
                format!("{} is out of range 1..={MAX_DAYS}", self.images_days),
            ));
        } else if self.images_days > self.journal_days {
            errors.push((
                "images_days",
                format!(
                    "{} is longer than journal_days ({}): images go with their alert",
                    self.images_days, self.journal_days
                ),
            ));
        }
        if self.journal_days < MIN_JOURNAL_DAYS {
            errors.push((
                "journal_days",
                format!(
                    "{} is below the legal minimum of {MIN_JOURNAL_DAYS} days (six months of \
                     logs, AI Act art. 12 and 26)",
                    self.journal_days
                ),
            ));
        } else if self.journal_days > MAX_DAYS {
            errors.push((
                "journal_days",
                format!(
                    "{} is out of range {MIN_JOURNAL_DAYS}..={MAX_DAYS}",
                    self.journal_days
                ),
            ));
        }
        errors
    }
}
