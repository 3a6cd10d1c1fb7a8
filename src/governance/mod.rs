//! Governance: what lets the engine prove its own record. `vigie audit` (verify the journal's
//! hash chain, export a verifiable bundle, the configuration in force at a time, the chain's head
//! to anchor elsewhere, explain an alert), the daily retention purge, the gate (authorisations
//! and stop switch) every event passes before it becomes an alert, the transparency documents
//! (an alert explained, a camera's public summary) and the review of shadow alerts.
//!
//! The mechanisms themselves live with the journal (`alerts::chain`, `alerts::verify`,
//! `alerts::retention`, `alerts::versions`): every write path joins the chain inside its own
//! transaction. This module is their command line and their schedule.

pub mod audit;
pub mod authorisations;
pub mod gate;
pub mod retention;
mod time;
pub mod transparency;

pub use time::{format_ms as format_time, parse_ms as parse_time};
