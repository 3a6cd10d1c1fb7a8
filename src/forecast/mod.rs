//! Planned-event risk forecast: the past events most similar to a planned one are found by a
//! random forest, and their scores are transferred to it.
//!
//! * Each past event is described by eight **factors** (location, participants, nature, sector,
//!   weekday/weekend, winter/summer, footprint, duration) and carries a **score**: the incidents
//!   recorded around it, weighted (see below). No personal data enters: a column or field that is
//!   not a known factor is refused.
//! * A random forest ([smartcore](https://docs.rs/smartcore)'s `RandomForestRegressor`) learns the
//!   score from the factors ([`ForecastModel::train`]).
//! * For a planned event, the **proximity** to each past event is the fraction of the trees in
//!   which both land in the same leaf; the `k` most similar past events (default 10) are kept, and
//!   their scores are **transferred**: `score = Σ proximity·score / Σ proximity` — this is the
//!   predicted score. The forest's own prediction (mean of the trees) is shown alongside, and the
//!   factors that weigh most (mean decrease in impurity per factor).
//!
//! The input format, the generator, the choice of crate and the benchmark against scikit-learn
//! are described in `src/forecast/README.md`.
//!
//! ## Score
//!
//! The score of a past event is the weighted count of incidents recorded within 500 m of its
//! footprint, from 2 hours before its start to 2 hours after its end: 1 per minor incident
//! (nuisance, lost person, minor damage), 3 per public-order disturbance (fight, crowd movement,
//! intrusion), 5 per injury or violence against persons. It is a number ≥ 0, decimals allowed.

mod cli;
mod encode;
mod generate;
mod http;
mod model;
mod schema;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use cli::{cli, ForecastArgs, ForecastCommand};
pub use encode::{encode, feature_names};
pub use generate::{expected_score, generate, SplitMix64};
pub use http::router;
pub use model::{
    evaluate, r2, Evaluation, Forecast, ForecastModel, Importance, ModelSummary, Neighbour,
    SchemaInfo, TrainOptions, TrainingInfo, DEFAULT_K, FOREST_CRATE, MODEL_FORMAT, MODEL_VERSION,
};
pub use schema::{
    calendar_of, parse_date, Dataset, Factors, Location, Nature, PastEvent, PlannedEvent,
    PlannedEventInput, Season, Sector, COLUMNS, MAX_DENSITY, MAX_ISSUES, MIN_DURATION_H,
    MIN_FOOTPRINT_M2,
};

/// One problem found in an input: where (line, column) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputIssue {
    /// 1-based line in the file (the header is line 1); 0 when the input is not line-based
    /// (a TOML file or a JSON body).
    pub line: usize,
    /// The column or field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for InputIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}", self.line)?;
            if let Some(c) = &self.column {
                write!(f, ", column `{c}`")?;
            }
        } else if let Some(c) = &self.column {
            write!(f, "field `{c}`")?;
        } else {
            write!(f, "input")?;
        }
        write!(f, ": {}", self.reason)
    }
}

fn describe_issues(source: &str, issues: &[InputIssue], more: usize) -> String {
    let mut s = format!("{source}: {} problem(s)", issues.len() + more);
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    if more > 0 {
        s.push_str(&format!("\n  … and {more} more"));
    }
    s
}

/// Errors of the forecast module.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Rejected input: every problem found, with its line and column.
    #[error("{}", describe_issues(source_name, issues, *more))]
    Input {
        source_name: String,
        issues: Vec<InputIssue>,
        /// Problems beyond [`MAX_ISSUES`], counted but not listed.
        more: usize,
    },
    #[error("model file {path}: {reason}")]
    ModelFile { path: String, reason: String },
    #[error("training: {0}")]
    Training(String),
    #[error("{0}")]
    Usage(String),
}
