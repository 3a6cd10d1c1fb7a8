//! The gate between an event and an alert (issue 10 §1 and §7), applied where an event becomes a
//! journaled alert ([`crate::alerts::AlertBus::publish`]), whatever rule produced it:
//!
//! 1. camera faults always pass (the video's health is watched even while alerting is stopped);
//! 2. an event type outside the closed list of décret 2023-828 never passes, whatever the config;
//! 3. nothing passes while alerting is stopped, globally or for that camera (the stop switch:
//!    `POST /api/alerting/stop`, a supervisor or an admin, with a reason);
//! 4. when `[[authorisations]]` are configured, an event passes only while one of them covers
//!    its camera and its event type. With none configured the gate is off (said at start and by
//!    `check-config`): the city's record is then outside the software.
//!
//! Stops, resumes and each authorisation's change of state (in force, expired, not yet in force)
//! are journaled in the hash chain (`audit_events`). The stop state is rebuilt from the journal
//! at start, so a stop survives a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::alerts::{now_ms, Gate, Journal, JournalError, NewAlert};
use crate::config::{AuthorisationConfig, Period, CAMERA_FAULTS, DECREE_EVENT_TYPES};

/// How often authorisation states are re-evaluated when no event comes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(15);

/// Warn this long before an authorisation expires.
pub const EXPIRY_WARNING_MS: i64 = 30 * 24 * 3600 * 1000;

/// Journal kinds.
const STOPPED: &str = "alerting_stopped";
const RESUMED: &str = "alerting_resumed";
const AUTHORISATION_STATE: &str = "authorisation_state";

/// A stop in force: who, when, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    pub by: String,
    pub role: String,
    pub reason: String,
    pub at_ms: i64,
}

/// Where an authorisation stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorisationState {
    NotYetInForce,
    InForce,
    Expired,
}

impl AuthorisationState {
    pub fn at(period: &Period, now_ms: i64) -> Self {
        if now_ms < period.start_ms {
            AuthorisationState::NotYetInForce
        } else if now_ms < period.end_ms {
            AuthorisationState::InForce
        } else {
            AuthorisationState::Expired
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationState::NotYetInForce => "not_yet_in_force",
            AuthorisationState::InForce => "in_force",
            AuthorisationState::Expired => "expired",
        }
    }
}

/// One authorisation as the API and `check-config` show it.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorisationView {
    #[serde(flatten)]
    pub record: AuthorisationConfig,
    pub start_ms: i64,
    pub end_ms: i64,
    pub state: AuthorisationState,
    /// In force and ending within 30 days.
    pub expires_soon: bool,
}

/// What `GET /api/alerting` answers.
#[derive(Debug, Clone, Serialize)]
pub struct GateView {
    /// A global stop in force.
    pub stopped: Option<Stop>,
    /// Stops of single cameras, by camera id.
    pub cameras_stopped: BTreeMap<String, Stop>,
    /// False when no `[[authorisations]]` is configured (every decree event type passes).
    pub authorisations_enforced: bool,
    pub authorisations: Vec<AuthorisationView>,
}

#[derive(Default)]
struct State {
    authorisations: Vec<(AuthorisationConfig, Period)>,
    stopped: Option<Stop>,
    cameras_stopped: BTreeMap<String, Stop>,
    /// The last journaled state of each authorisation, by reference.
    journaled: BTreeMap<String, AuthorisationState>,
}

/// The gate of one running engine; cheap to share (`Arc`).
pub struct AlertingGate {
    journal: Arc<Journal>,
    state: Mutex<State>,
}

/// The authorisations with a valid period (the config check refuses the others).
fn with_periods(list: &[AuthorisationConfig]) -> Vec<(AuthorisationConfig, Period)> {
    list.iter()
        .filter_map(|a| a.period().ok().map(|p| (a.clone(), p)))
        .collect()
}

/// Each authorisation's state at `now_ms`, for `check-config` and the API.
pub fn describe(list: &[AuthorisationConfig], now_ms: i64) -> Vec<AuthorisationView> {
    with_periods(list)
        .into_iter()
        .map(|(record, p)| {
            let state = AuthorisationState::at(&p, now_ms);
            AuthorisationView {
                record,
                start_ms: p.start_ms,
                end_ms: p.end_ms,
                state,
                expires_soon: state == AuthorisationState::InForce
                    && p.end_ms - now_ms <= EXPIRY_WARNING_MS,
            }
        })
        .collect()
}

impl AlertingGate {
    /// The gate over `journal` with `authorisations`; the stops and the last journaled
    /// authorisation states are read back from the journal, then the states are brought up to
    /// date (journaling what changed).
    pub fn open(
        journal: Arc<Journal>,
        authorisations: &[AuthorisationConfig],
    ) -> Result<AlertingGate, JournalError> {
        let mut state = State {
            authorisations: with_periods(authorisations),
            ..State::default()
        };
        for (kind, body) in journal.events(&[STOPPED, RESUMED, AUTHORISATION_STATE])? {
            restore(&mut state, &kind, &body);
        }
        let gate = AlertingGate {
            journal,
            state: Mutex::new(state),
        };
        gate.refresh(now_ms())?;
        Ok(gate)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The authorisations of a reloaded configuration (states journaled when they change).
    pub fn set_authorisations(&self, list: &[AuthorisationConfig]) -> Result<(), JournalError> {
        self.lock().authorisations = with_periods(list);
        self.refresh(now_ms())
    }

    /// Journals each authorisation whose state at `now_ms` differs from the last journaled one.
    pub fn refresh(&self, now_ms: i64) -> Result<(), JournalError> {
        let mut state = self.lock();
        let changes: Vec<(AuthorisationConfig, Period, AuthorisationState)> = state
            .authorisations
            .iter()
            .map(|(a, p)| (a.clone(), *p, AuthorisationState::at(p, now_ms)))
            .filter(|(a, _, s)| state.journaled.get(&a.reference) != Some(s))
            .collect();
        for (a, p, s) in changes {
            let body = json!({
                "reference": a.reference,
                "authority": a.authority,
                "state": s.as_str(),
                "cameras": a.cameras,
                "event_types": a.event_types,
                "start_ms": p.start_ms,
                "end_ms": p.end_ms,
            });
            self.journal.record_event(AUTHORISATION_STATE, &body)?;
            tracing::warn!(reference = %a.reference, state = s.as_str(), "authorisation state changed");
            state.journaled.insert(a.reference, s);
        }
        Ok(())
    }

    /// Stops alerting, everywhere (`camera` `None`) or on one camera; journaled. Refused when
    /// the reason is empty.
    pub fn stop(
        &self,
        camera: Option<&str>,
        by: &str,
        role: &str,
        reason: &str,
    ) -> Result<Stop, JournalError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(JournalError::Invalid(
                "a stop needs a reason (at most 500 characters)".into(),
            ));
        }
        let mut state = self.lock();
        let link = self.journal.record_event(
            STOPPED,
            &json!({"camera": camera, "by": by, "role": role, "reason": reason}),
        )?;
        let stop = Stop {
            by: by.to_string(),
            role: role.to_string(),
            reason: reason.to_string(),
            at_ms: link.at_ms,
        };
        match camera {
            None => state.stopped = Some(stop.clone()),
            Some(c) => {
                state.cameras_stopped.insert(c.to_string(), stop.clone());
            }
        }
        tracing::warn!(camera, by, reason, "alerting stopped");
        Ok(stop)
    }

    /// Resumes alerting (globally, or on one camera); journaled. `Invalid` when it was not
    /// stopped there.
    pub fn resume(&self, camera: Option<&str>, by: &str, role: &str) -> Result<(), JournalError> {
        let mut state = self.lock();
        let was = match camera {
            None => state.stopped.is_some(),
            Some(c) => state.cameras_stopped.contains_key(c),
        };
        if !was {
            return Err(JournalError::Invalid(match camera {
                None => "alerting is not stopped globally".into(),
                Some(c) => format!("alerting is not stopped on camera {c}"),
            }));
        }
        self.journal
            .record_event(RESUMED, &json!({"camera": camera, "by": by, "role": role}))?;
        match camera {
            None => state.stopped = None,
            Some(c) => {
                state.cameras_stopped.remove(c);
            }
        }
        tracing::warn!(camera, by, "alerting resumed");
        Ok(())
    }

    pub fn view(&self, now_ms: i64) -> GateView {
        let state = self.lock();
        let list: Vec<AuthorisationConfig> = state
            .authorisations
            .iter()
            .map(|(a, _)| a.clone())
            .collect();
        GateView {
            stopped: state.stopped.clone(),
            cameras_stopped: state.cameras_stopped.clone(),
            authorisations_enforced: !list.is_empty(),
            authorisations: describe(&list, now_ms),
        }
    }

    /// Whether `new` may be raised at `now_ms` (see the module docs for the order).
    pub fn decide(&self, camera: &str, event_type: &str, now_ms: i64) -> Result<(), String> {
        if CAMERA_FAULTS.contains(&event_type) {
            return Ok(());
        }
        if !DECREE_EVENT_TYPES.contains(&event_type) {
            return Err(format!(
                "event type {event_type:?} is outside the closed list of décret 2023-828"
            ));
        }
        let state = self.lock();
        if let Some(s) = &state.stopped {
            return Err(format!("alerting stopped by {}: {}", s.by, s.reason));
        }
        if let Some(s) = state.cameras_stopped.get(camera) {
            return Err(format!(
                "alerting stopped on camera {camera} by {}: {}",
                s.by, s.reason
            ));
        }
        if state.authorisations.is_empty() {
            return Ok(());
        }
        let covering: Vec<&(AuthorisationConfig, Period)> = state
            .authorisations
            .iter()
            .filter(|(a, _)| a.covers(camera, event_type))
            .collect();
        if covering
            .iter()
            .any(|(_, p)| AuthorisationState::at(p, now_ms) == AuthorisationState::InForce)
        {
            return Ok(());
        }
        Err(match covering.first() {
            None => format!("no authorisation covers {event_type} on camera {camera}"),
            Some((a, p)) => format!(
                "authorisation {} is {} for {event_type} on camera {camera}",
                a.reference,
                AuthorisationState::at(p, now_ms).as_str().replace('_', " ")
            ),
        })
    }
}

/// Folds one journaled event into the state.
fn restore(state: &mut State, kind: &str, body: &Value) {
    let camera = body["camera"].as_str().map(str::to_string);
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    match kind {
        STOPPED => {
            let stop = Stop {
                by: text("by"),
                role: text("role"),
                reason: text("reason"),
                at_ms: body["at_ms"].as_i64().unwrap_or(0),
            };
            match camera {
                None => state.stopped = Some(stop),
                Some(c) => {
                    state.cameras_stopped.insert(c, stop);
                }
            }
        }
        RESUMED => match camera {
            None => state.stopped = None,
            Some(c) => {
                state.cameras_stopped.remove(&c);
            }
        },
        _ => {
            let s = match body["state"].as_str() {
                Some("in_force") => AuthorisationState::InForce,
                Some("expired") => AuthorisationState::Expired,
                _ => AuthorisationState::NotYetInForce,
            };
            state.journaled.insert(text("reference"), s);
        }
    }
}

impl Gate for AlertingGate {
    fn admit(&self, new: &NewAlert) -> Result<(), String> {
        let now = now_ms();
        if let Err(e) = self.refresh(now) {
            tracing::error!(error = %e, "cannot journal an authorisation state change");
        }
        self.decide(&new.camera_id, new.event_type.as_str(), now)
    }
}

/// Re-evaluates the authorisation states every [`WATCH_INTERVAL`] on the current tokio runtime,
/// so that a change is journaled when it happens, even with no event.
pub fn spawn_watch(gate: Arc<AlertingGate>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(WATCH_INTERVAL);
        loop {
            every.tick().await;
            let g = gate.clone();
            match tokio::task::spawn_blocking(move || g.refresh(now_ms())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "authorisation watch failed"),
                Err(e) => tracing::error!(error = %e, "authorisation watch task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests;
