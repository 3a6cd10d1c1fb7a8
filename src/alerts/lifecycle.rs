//! The alert life cycle: `new` → `acknowledged` (taken by an operator, visible to the others) →
//! `confirmed` | `false_alarm` (with a reason) → `closed`. A supervisor may reopen a decision
//! (back to `new`). Any step may carry a comment; a comment alone is a step too.
//!
//! Every step is one row of `alert_transitions` (append-only: account, role, time, reason,
//! comment), written in the same transaction as the alert's new status **and** its outbox event
//! (`decision` kind, the alert as the step left it).
//!
//! Conflicts are settled by the journal's write lock: the first step wins, the second gets
//! [`JournalError::Conflict`] naming who got there first (HTTP 409).
//!
//! Incidents: when the journal has an `incident_id` column, an alert that is an update of an
//! incident (its `incident_id` is another alert) is not decided on its own: the operator decides
//! the incident, i.e. its first alert.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::outbox::{now_ms, OutboxKind};
use super::{Alert, AlertStatus, Decision, DecisionKind, Journal, JournalError};
use super::{MAX_COMMENT_LEN, MAX_OPERATOR_LEN};

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `new` → `acknowledged`: "I am on it".
    Take,
    /// `acknowledged` → `new`: by whoever took it, or a supervisor.
    Release,
    /// `new` or `acknowledged` (by oneself) → `confirmed`.
    Confirm,
    /// `new` or `acknowledged` (by oneself) → `false_alarm`, with a reason.
    FalseAlarm,
    /// `confirmed` or `false_alarm` → `closed`.
    Close,
    /// `confirmed`, `false_alarm` or `closed` → `new`: supervisors only.
    Reopen,
    /// No change of state: a remark in the history.
    Comment,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Take,
        Action::Release,
        Action::Confirm,
        Action::FalseAlarm,
        Action::Close,
        Action::Reopen,
        Action::Comment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Take => "take",
            Action::Release => "release",
            Action::Confirm => "confirm",
            Action::FalseAlarm => "false_alarm",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::Comment => "comment",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Why an operator dismissed an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FalseAlarmReason {
    ShadowOrReflection,
    Animal,
    Object,
    Weather,
    Other,
}

impl FalseAlarmReason {
    pub const ALL: [FalseAlarmReason; 5] = [
        FalseAlarmReason::ShadowOrReflection,
        FalseAlarmReason::Animal,
        FalseAlarmReason::Object,
        FalseAlarmReason::Weather,
        FalseAlarmReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FalseAlarmReason::ShadowOrReflection => "shadow_or_reflection",
            FalseAlarmReason::Animal => "animal",
            FalseAlarmReason::Object => "object",
            FalseAlarmReason::Weather => "weather",
            FalseAlarmReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FalseAlarmReason> {
        FalseAlarmReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who acts: the authenticated account (never a typed name), its role for the record, and
/// whether it may supervise (reopen, release another's alert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: String,
    pub supervisor: bool,
}

/// One step asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionInput {
    pub action: Action,
    /// Required for `false_alarm`, refused otherwise.
    pub reason: Option<FalseAlarmReason>,
    pub comment: Option<String>,
}

/// Who did a step and when (`acknowledged`, `closed` on an alert).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub by: String,
    pub at_ms: i64,
    pub comment: Option<String>,
}

/// One row of an alert's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub id: i64,
    pub alert_id: i64,
    pub action: Action,
    pub from: AlertStatus,
    pub to: AlertStatus,
    /// The account (or `token:<name>`); for decisions recorded before accounts existed, the
    /// name that was typed (then `role` is null).
    pub account: String,
    pub role: Option<String>,
    pub reason: Option<FalseAlarmReason>,
    pub comment: Option<String>,
    pub at_ms: i64,
}

/// A step refused because of the alert's state: who got there first, when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub message: String,
    pub status: AlertStatus,
    pub by: Option<String>,
    pub at_ms: Option<i64>,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    action TEXT NOT NULL CHECK (action IN
        ('take', 'release', 'confirm', 'false_alarm', 'close', 'reopen', 'comment')),
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    account TEXT NOT NULL,
    role TEXT,
    reason TEXT CHECK (reason IS NULL OR reason IN
        ('shadow_or_reflection', 'animal', 'object', 'weather', 'other')),
    comment TEXT,
    at_ms INTEGER NOT NULL,
    legacy_decision_id INTEGER UNIQUE
);
CREATE INDEX IF NOT EXISTS alert_transitions_by_alert ON alert_transitions(alert_id, action, id);
CREATE TRIGGER IF NOT EXISTS alert_transitions_append_only_update
BEFORE UPDATE ON alert_transitions
BEGIN SELECT RAISE(ABORT, 'alert transitions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS alert_transitions_append_only_delete
BEFORE DELETE ON alert_transitions
BEGIN SELECT RAISE(ABORT, 'alert transitions are append-only'); END;
";

/// The status constraint of schema version 1, and the one that replaces it.
const OLD_STATUS_CHECK: &str = "CHECK (status IN ('new', 'confirmed', 'false_alarm'))";
const NEW_STATUS_CHECK: &str =
    "CHECK (status IN ('new', 'acknowledged', 'confirmed', 'false_alarm', 'closed'))";

/// Columns of the current steps, appended to the alert query (see [`steps_from_row`]).
pub(super) const STEP_COLUMNS: &str = ",
       d.id, d.action, d.account, d.comment, d.at_ms, d.reason, d.role,
       k.account, k.at_ms, k.comment, c.account, c.at_ms, c.comment";

/// Joins of the current decision, acknowledgement and closing (each only while it holds).
pub(super) const STEP_JOINS: &str = "
LEFT JOIN alert_transitions d ON d.id = CASE WHEN a.status IN ('confirmed', 'false_alarm', 'closed')
    THEN (SELECT MAX(id) FROM alert_transitions
          WHERE alert_id = a.id AND action IN ('confirm', 'false_alarm')) END
LEFT JOIN alert_transitions k ON k.id = CASE WHEN a.status = 'acknowledged'
    THEN (SELECT MAX(id) FROM alert_transitions WHERE alert_id = a.id AND action = 'take') END
LEFT JOIN alert_transitions c ON c.id = CASE WHEN a.status = 'closed'
    THEN (SELECT MAX(id) FROM alert_transitions WHERE alert_id = a.id AND action = 'close') END
";

fn corrupt(e: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
}

fn reason_of(text: Option<String>) -> rusqlite::Result<Option<FalseAlarmReason>> {
    text.map(|t| {
        FalseAlarmReason::parse(&t).ok_or_else(|| corrupt(format!("unknown reason {t:?}")))
    })
    .transpose()
}

/// The decision, acknowledgement and closing read from [`STEP_COLUMNS`] starting at `first`.
pub(super) fn steps_from_row(
    row: &Row<'_>,
    alert_id: i64,
    first: usize,
) -> rusqlite::Result<(Option<Decision>, Option<Step>, Option<Step>)> {
    let decision = match row.get::<_, Option<i64>>(first)? {
        None => None,
        Some(id) => {
            let action: String = row.get(first + 1)?;
            let kind = match action.as_str() {
                "confirm" => DecisionKind::Confirmed,
                "false_alarm" => DecisionKind::FalseAlarm,
                other => return Err(corrupt(format!("transition {id}: not a decision: {other}"))),
            };
            Some(Decision {
                id,
                alert_id,
                decision: kind,
                operator: row.get(first + 2)?,
                comment: row.get(first + 3)?,
                decided_at_ms: row.get(first + 4)?,
                reason: reason_of(row.get(first + 5)?)?,
                role: row.get(first + 6)?,
            })
        }
    };
    let step = |at: usize| -> rusqlite::Result<Option<Step>> {
        Ok(match row.get::<_, Option<String>>(at)? {
            None => None,
            Some(by) => Some(Step {
                by,
                at_ms: row.get(at + 1)?,
                comment: row.get(at + 2)?,
            }),
        })
    };
    Ok((decision, step(first + 7)?, step(first + 10)?))
}

/// Brings a journal to the life cycle, whatever its version: the wider status constraint (the
/// alerts table is rebuilt, every column, index and trigger kept), the transitions table, and
/// every decision recorded before (`decisions`, kept as it was) copied into it once.
pub(super) fn migrate(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let sql = super::journal::table_sql(tx, "alerts")?;
    if let Some(sql) = sql.filter(|s| s.contains(OLD_STATUS_CHECK)) {
        rebuild_alerts(tx, &sql)?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute(
        "INSERT INTO alert_transitions (alert_id, action, from_status, to_status, account, role,
             reason, comment, at_ms, legacy_decision_id)
         SELECT d.alert_id,
                CASE d.decision WHEN 'confirmed' THEN 'confirm' ELSE d.decision END,
                'new', d.decision, d.operator, NULL, NULL, d.comment,
                d.decided_at_ms, d.id
         FROM decisions d
         WHERE NOT EXISTS (SELECT 1 FROM alert_transitions t WHERE t.legacy_decision_id = d.id)
         ORDER BY d.id",
        [],
    )?;
    Ok(())
}

/// SQLite cannot change a CHECK constraint: a new table with the new one, the rows copied, the
/// old table dropped, the new one renamed; indexes and triggers of the old table re-created.
/// Foreign keys must be off (the journal turns them on after its migration).
fn rebuild_alerts(tx: &Connection, sql: &str) -> rusqlite::Result<()> {
    let extras: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT sql FROM sqlite_master
             WHERE tbl_name = 'alerts' AND type IN ('index', 'trigger') AND sql IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let create = sql
        .replacen("CREATE TABLE alerts", "CREATE TABLE alerts_lifecycle", 1)
        .replacen(OLD_STATUS_CHECK, NEW_STATUS_CHECK, 1);
    tx.execute_batch(&create)?;
    tx.execute_batch(
        "INSERT INTO alerts_lifecycle SELECT * FROM alerts;
         DROP TABLE alerts;
         ALTER TABLE alerts_lifecycle RENAME TO alerts;",
    )?;
    for extra in extras {
        tx.execute_batch(&extra)?;
    }
    Ok(())
}

/// Trims a comment: `None` when empty; too long is refused.
fn clean_comment(comment: Option<&str>) -> Result<Option<String>, JournalError> {
    match comment.map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.chars().count() > MAX_COMMENT_LEN => Err(JournalError::Invalid(format!(
            "comment is longer than {MAX_COMMENT_LEN} characters"
        ))),
        Some(c) => Ok(Some(c.to_string())),
    }
}

/// Checks the actor's name as the journal records it.
fn check_actor(actor: &Actor) -> Result<(), JournalError> {
    let name = actor.name.trim();
    if name.is_empty() {
        return Err(JournalError::Invalid("operator name is required".into()));
    }
    if name.chars().count() > MAX_OPERATOR_LEN {
        return Err(JournalError::Invalid(format!(
            "operator name is longer than {MAX_OPERATOR_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(JournalError::Invalid(
            "operator name contains control characters".into(),
        ));
    }
    Ok(())
}

/// Checks what the input carries, whatever the alert's state.
fn check_input(input: &TransitionInput) -> Result<Option<String>, JournalError> {
    let comment = clean_comment(input.comment.as_deref())?;
    match (input.action, input.reason) {
        (Action::FalseAlarm, None) => Err(JournalError::Invalid(format!(
            "a false alarm needs a reason: {}",
            reasons()
        ))),
        (Action::FalseAlarm, Some(_)) | (_, None) => Ok(()),
        (other, Some(_)) => Err(JournalError::Invalid(format!(
            "a reason is only given with a false alarm, not with {}",
            other.as_str()
        ))),
    }?;
    if input.action == Action::Comment && comment.is_none() {
        return Err(JournalError::Invalid(
            "a comment step needs a comment".into(),
        ));
    }
    Ok(comment)
}

/// The reason codes, for error messages.
pub fn reasons() -> String {
    FalseAlarmReason::ALL
        .iter()
        .map(|r| format!("\"{}\"", r.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a step does to an alert in its current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    To(AlertStatus),
    /// Taking an alert one already holds: nothing to record.
    Nothing,
}

fn conflict(alert: &Alert, message: String, step: Option<(&str, i64)>) -> JournalError {
    JournalError::Conflict(Conflict {
        message,
        status: alert.status,
        by: step.map(|(by, _)| by.to_string()),
        at_ms: step.map(|(_, at)| at),
    })
}

/// The rules of the life cycle, on the alert as it is now (pure: tested on its own).
pub(super) fn plan(alert: &Alert, action: Action, actor: &Actor) -> Result<Plan, JournalError> {
    use AlertStatus::*;
    let holder = alert
        .acknowledged
        .as_ref()
        .map(|s| (s.by.as_str(), s.at_ms));
    let decided = alert
        .decision
        .as_ref()
        .map(|d| (d.operator.as_str(), d.decided_at_ms));
    let closed = alert.closed.as_ref().map(|s| (s.by.as_str(), s.at_ms));
    let mine = holder.is_some_and(|(by, _)| by == actor.name);
    let id = alert.id;
    let already_decided = |alert: &Alert| {
        let who = decided.map(|(by, _)| by).unwrap_or("someone");
        conflict(
            alert,
            format!(
                "alert {id} was already decided ({}) by {who}",
                alert.status.as_str()
            ),
            decided,
        )
    };
    let taken_by_other = |alert: &Alert| {
        let who = holder.map(|(by, _)| by).unwrap_or("someone");
        conflict(alert, format!("alert {id} is taken by {who}"), holder)
    };
    match (action, alert.status) {
        (Action::Comment, s) => Ok(Plan::To(s)),
        (Action::Take, New) => Ok(Plan::To(Acknowledged)),
        (Action::Take, Acknowledged) if mine => Ok(Plan::Nothing),
        (Action::Take, Acknowledged) => Err(taken_by_other(alert)),
        (Action::Confirm | Action::FalseAlarm, Acknowledged) if !mine => Err(taken_by_other(alert)),
        (Action::Confirm, New | Acknowledged) => Ok(Plan::To(Confirmed)),
        (Action::FalseAlarm, New | Acknowledged) => Ok(Plan::To(FalseAlarm)),
        (Action::Take | Action::Confirm | Action::FalseAlarm, Confirmed | FalseAlarm) => {
            Err(already_decided(alert))
        }
        (Action::Take | Action::Confirm | Action::FalseAlarm | Action::Close, Closed) => {
            let who = closed.map(|(by, _)| by).unwrap_or("someone");
            Err(conflict(
                alert,
                format!("alert {id} was already closed by {who}"),
                closed,
            ))
        }
        (Action::Release, Acknowledged) if mine || actor.supervisor => Ok(Plan::To(New)),
        (Action::Release, Acknowledged) => Err(taken_by_other(alert)),
        (Action::Release, _) => Err(conflict(
            alert,
            format!(
                "alert {id} is not taken ({}): nothing to release",
                alert.status.as_str()
            ),
            None,
        )),
        (Action::Close, Confirmed | FalseAlarm) => Ok(Plan::To(Closed)),
        (Action::Close, New | Acknowledged) => Err(conflict(
            alert,
            format!("alert {id} is not decided yet: confirm it or mark it a false alarm first"),
            holder,
        )),
        (Action::Reopen, _) if !actor.supervisor => Err(JournalError::Forbidden(
            "only a supervisor may reopen a decision".into(),
        )),
        (Action::Reopen, Confirmed | FalseAlarm | Closed) => Ok(Plan::To(New)),
        (Action::Reopen, New | Acknowledged) => Err(conflict(
            alert,
            format!(
                "alert {id} has no decision to reopen ({})",
                alert.status.as_str()
            ),
            holder,
        )),
    }
}

/// The incident an alert belongs to, when the journal knows incidents and the alert is an
/// update of another one.
fn incident_of(tx: &Connection, id: i64) -> rusqlite::Result<Option<i64>> {
    let has_column = tx
        .prepare_cached("SELECT 1 FROM pragma_table_info('alerts') WHERE name = 'incident_id'")?
        .exists([])?;
    if !has_column {
        return Ok(None);
    }
    let incident: Option<Option<i64>> = tx
        .prepare_cached("SELECT incident_id FROM alerts WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(incident.flatten().filter(|i| *i != id))
}

fn transition_from_row(row: &Row<'_>) -> rusqlite::Result<Transition> {
    let id: i64 = row.get(0)?;
    let status = |i: usize| -> rusqlite::Result<AlertStatus> {
        let t: String = row.get(i)?;
        AlertStatus::parse(&t).ok_or_else(|| corrupt(format!("transition {id}: status {t:?}")))
    };
    let action: String = row.get(2)?;
    Ok(Transition {
        id,
        alert_id: row.get(1)?,
        action: Action::parse(&action)
            .ok_or_else(|| corrupt(format!("transition {id}: action {action:?}")))?,
        from: status(3)?,
        to: status(4)?,
        account: row.get(5)?,
        role: row.get(6)?,
        reason: reason_of(row.get(7)?)?,
        comment: row.get(8)?,
        at_ms: row.get(9)?,
    })
}

const SELECT_TRANSITION: &str = "SELECT id, alert_id, action, from_status, to_status, account,
    role, reason, comment, at_ms FROM alert_transitions";

impl Journal {
    /// Applies one step of the life cycle for `actor` and returns the alert as it left it, with
    /// the step recorded (`None` when nothing changed: taking an alert one already holds). The
    /// status, the history row and the outbox event are one transaction.
    pub fn transition(
        &self,
        id: i64,
        input: &TransitionInput,
        actor: &Actor,
    ) -> Result<(Alert, Option<Transition>), JournalError> {
        check_actor(actor)?;
        let actor = &Actor {
            name: actor.name.trim().to_string(),
            ..actor.clone()
        };
        let comment = check_input(input)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // A shadow alert has no life cycle: no operator sees it (evaluators judge it apart).
        let alert = Self::get_locked(&tx, id)?
            .filter(|a| !a.shadow)
            .ok_or(JournalError::NotFound(id))?;
        if let Some(incident) = incident_of(&tx, id)? {
            return Err(JournalError::Invalid(format!(
                "alert {id} is an update of incident {incident}: act on alert {incident}, the incident"
            )));
        }
        let to = match plan(&alert, input.action, actor)? {
            Plan::Nothing => return Ok((alert, None)),
            Plan::To(to) => to,
        };
        tx.execute(
            "UPDATE alerts SET status = ?1 WHERE id = ?2",
            params![to.as_str(), id],
        )?;
        tx.execute(
            "INSERT INTO alert_transitions (alert_id, action, from_status, to_status, account,
                 role, reason, comment, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                input.action.as_str(),
                alert.status.as_str(),
                to.as_str(),
                actor.name,
                actor.role,
                input.reason.map(FalseAlarmReason::as_str),
                comment,
                now_ms(),
            ],
        )?;
        let step_id = tx.last_insert_rowid();
        // In the hash chain: the step, and the alert when its status changed.
        super::chain::link_row(&tx, "transition", "alert_transitions", step_id)?;
        if to != alert.status {
            super::chain::link_row(&tx, "alert_status", "alerts", id)?;
        }
        let step = tx
            .prepare_cached(&format!("{SELECT_TRANSITION} WHERE id = ?1"))?
            .query_row([step_id], transition_from_row)?;
        let updated = Self::get_locked(&tx, id)?.ok_or(JournalError::NotFound(id))?;
        let queued = self
            .outbox
            .enqueue_alert(&tx, OutboxKind::Decision, &updated)?;
        tx.commit()?;
        self.outbox.notify(queued);
        Ok((updated, Some(step)))
    }

    /// Every step of an alert, oldest first (decisions recorded before the life cycle
    /// included). `NotFound` when the alert is unknown.
    pub fn history(&self, id: i64) -> Result<Vec<Transition>, JournalError> {
        self.steps(id, "")
    }

    /// The decisions of an alert (confirm, false alarm), oldest first.
    pub fn decisions(&self, id: i64) -> Result<Vec<Decision>, JournalError> {
        let steps = self.steps(id, " AND action IN ('confirm', 'false_alarm')")?;
        Ok(steps
            .into_iter()
            .map(|t| Decision {
                id: t.id,
                alert_id: t.alert_id,
                decision: if t.action == Action::Confirm {
                    DecisionKind::Confirmed
                } else {
                    DecisionKind::FalseAlarm
                },
                operator: t.account,
                reason: t.reason,
                role: t.role,
                comment: t.comment,
                decided_at_ms: t.at_ms,
            })
            .collect())
    }

    /// The steps of a live alert (a shadow alert has none, and is `NotFound` here).
    fn steps(&self, id: i64, filter: &str) -> Result<Vec<Transition>, JournalError> {
        steps(&self.lock(), id, filter, " AND shadow IS NULL")
    }
}

/// Every step of alert `id`, oldest first, read on any connection (the audit commands open the
/// journal read-only). `NotFound` when the alert is unknown.
pub fn history_of(conn: &Connection, id: i64) -> Result<Vec<Transition>, JournalError> {
    steps(conn, id, "", "")
}

fn steps(
    conn: &Connection,
    id: i64,
    filter: &str,
    alert_filter: &str,
) -> Result<Vec<Transition>, JournalError> {
    let exists = conn
        .prepare_cached(&format!("SELECT 1 FROM alerts WHERE id = ?1{alert_filter}"))?
        .exists([id])?;
    if !exists {
        return Err(JournalError::NotFound(id));
    }
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_TRANSITION} WHERE alert_id = ?1{filter} ORDER BY id ASC"
    ))?;
    let rows = stmt.query_map([id], transition_from_row)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| JournalError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests;
