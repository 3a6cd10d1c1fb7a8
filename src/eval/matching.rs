//! Matching journaled alerts to labelled events, per rule. Pure logic, no I/O.
//!
//! * An alert matches an event of the **same rule and event type** when its clip time is within
//!   `[start, end + tolerance]`.
//! * Alerts are taken in time order; each goes to the unmatched candidate event that closes
//!   first (earliest `end`), which gives the largest possible number of matches. One event is
//!   matched at most once.
//! * An **update** of an incident (an alert whose `incident_id` names another, earlier alert) is
//!   neither matched nor counted: the operator sees one incident, counted by its first alert.
//! * An alert with no unmatched candidate is **ignored** when it lies in a don't-care window (of
//!   its rule, or of every rule), else it is a **duplicate** when it lies in an already matched
//!   event's window (an operator sees the same event twice), else a plain **false positive**.
//!   Duplicates are false positives too.
//! * Latency: from the event's start to its matching alert.

use std::collections::HashSet;

use serde::Serialize;

/// A labelled event.
#[derive(Debug, Clone, PartialEq)]
pub struct GtEvent {
    pub event_type: String,
    pub rule: String,
    /// Clip seconds.
    pub start: f64,
    pub end: f64,
}

/// A window where alerts are not scored.
#[derive(Debug, Clone, PartialEq)]
pub struct DontCare {
    pub start: f64,
    pub end: f64,
    /// `None`: every rule.
    pub rule: Option<String>,
}

/// A journaled alert, as the evaluation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: i64,
    pub rule: String,
    pub event_type: String,
    /// Clip seconds of the frame that fired it.
    pub t: f64,
    /// The first alert of its incident (`None` or its own id: it is the first).
    pub incident_id: Option<i64>,
    /// The first box of the alert (normalised `[x1, y1, x2, y2]`), to see what fired.
    pub bbox: Option<[f32; 4]>,
    /// The alert's explanation, to see why.
    pub explanation: String,
}

/// What an alert counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Matched the event at this index of the ground truth.
    TruePositive {
        event: usize,
    },
    /// Another alert for an event already matched (index).
    Duplicate {
        event: usize,
    },
    FalsePositive,
    /// In the don't-care window at this index.
    Ignored {
        window: usize,
    },
    /// A later alert of an incident (the id of its first alert).
    Update {
        incident: i64,
    },
    /// Its rule is not scored (camera faults, rules absent from the config).
    Unscored,
}

/// The score of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleScore {
    pub rule: String,
    pub event_type: String,
    pub events: usize,
    pub tp: usize,
    /// False positives, duplicates included.
    pub fp: usize,
    pub duplicates: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub ignored: usize,
    pub updates: usize,
    /// `None` when the rule raised no scored alert.
    pub precision: Option<f64>,
    /// `None` when the ground truth has no event for the rule.
    pub recall: Option<f64>,
    /// Seconds from each matched event's start to its alert, in event order.
    pub latencies: Vec<f64>,
    pub latency_median: Option<f64>,
    pub latency_max: Option<f64>,
}

/// Everything the matching decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// One per rule, in the order given.
    pub rules: Vec<RuleScore>,
    /// One per alert, in the order given.
    pub outcomes: Vec<Outcome>,
    /// For each event: the id of the alert that matched it.
    pub matched_by: Vec<Option<i64>>,
}

/// Scores `alerts` against `events` for each `(rule id, event type)` of `rules`.
pub fn score(
    rules: &[(String, String)],
    events: &[GtEvent],
    dont_care: &[DontCare],
    alerts: &[Observed],
    tolerance: f64,
) -> Matching {
    let ids: HashSet<i64> = alerts.iter().map(|a| a.id).collect();
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by(|&a, &b| {
        alerts[a]
            .t
            .total_cmp(&alerts[b].t)
            .then(alerts[a].id.cmp(&alerts[b].id))
    });
    let mut outcomes = vec![Outcome::Unscored; alerts.len()];
    let mut matched_by: Vec<Option<i64>> = vec![None; events.len()];
    let scored = |a: &Observed| {
        rules
            .iter()
            .any(|(r, t)| *r == a.rule && *t == a.event_type)
    };
    for i in order {
        let a = &alerts[i];
        if !scored(a) {
            continue;
        }
        outcomes[i] = match a
            .incident_id
            .filter(|&root| root != a.id && ids.contains(&root))
        {
            Some(root) => Outcome::Update { incident: root },
            None => classify(a, events, dont_care, &mut matched_by, tolerance),
        };
    }
    let rules = rules
        .iter()
        .map(|(rule, ty)| rule_score(rule, ty, events, alerts, &outcomes, &matched_by))
        .collect();
    Matching {
        rules,
        outcomes,
        matched_by,
    }
}

fn in_window(a: &Observed, e: &GtEvent, tolerance: f64) -> bool {
    e.rule == a.rule && e.event_type == a.event_type && a.t >= e.start && a.t <= e.end + tolerance
}

fn classify(
    a: &Observed,
    events: &[GtEvent],
    dont_care: &[DontCare],
    matched_by: &mut [Option<i64>],
    tolerance: f64,
) -> Outcome {
    let candidate = events
        .iter()
        .enumerate()
        .filter(|(k, e)| matched_by[*k].is_none() && in_window(a, e, tolerance))
        .min_by(|(_, x), (_, y)| x.end.total_cmp(&y.end));
    if let Some((k, _)) = candidate {
        matched_by[k] = Some(a.id);
        return Outcome::TruePositive { event: k };
    }
    let window = dont_care.iter().position(|w| {
        a.t >= w.start && a.t <= w.end && w.rule.as_ref().is_none_or(|r| *r == a.rule)
    });
    if let Some(window) = window {
        return Outcome::Ignored { window };
    }
    match events.iter().position(|e| in_window(a, e, tolerance)) {
        Some(event) => Outcome::Duplicate { event },
        None => Outcome::FalsePositive,
    }
}

fn rule_score(
    rule: &str,
    event_type: &str,
    events: &[GtEvent],
    alerts: &[Observed],
    outcomes: &[Outcome],
    matched_by: &[Option<i64>],
) -> RuleScore {
    let mine = || {
        alerts
            .iter()
            .zip(outcomes)
            .filter(|(a, _)| a.rule == rule && a.event_type == event_type)
            .map(|(_, o)| *o)
    };
    let count = |f: fn(&Outcome) -> bool| mine().filter(&f).count();
    let tp = count(|o| matches!(o, Outcome::TruePositive { .. }));
    let duplicates = count(|o| matches!(o, Outcome::Duplicate { .. }));
    let fp = duplicates + count(|o| matches!(o, Outcome::FalsePositive));
    let own: Vec<usize> = (0..events.len())
        .filter(|&k| events[k].rule == rule && events[k].event_type == event_type)
        .collect();
    let latencies: Vec<f64> = own
        .iter()
        .filter_map(|&k| {
            let id = matched_by[k]?;
            let a = alerts.iter().find(|a| a.id == id)?;
            Some(a.t - events[k].start)
        })
        .collect();
    let fn_ = own.len() - latencies.len();
    RuleScore {
        rule: rule.to_string(),
        event_type: event_type.to_string(),
        events: own.len(),
        tp,
        fp,
        duplicates,
        fn_,
        ignored: count(|o| matches!(o, Outcome::Ignored { .. })),
        updates: count(|o| matches!(o, Outcome::Update { .. })),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, own.len()),
        latency_median: median(&latencies),
        latency_max: latencies.iter().copied().reduce(f64::max),
        latencies,
    }
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "zone-intrusion";

    fn rules() -> Vec<(String, String)> {
        vec![(R.to_string(), "intrusion".to_string())]
    }

    fn ev(start: f64, end: f64) -> GtEvent {
        GtEvent {
            event_type: "intrusion".into(),
            rule: R.into(),
            start,
            end,
        }
    }

    fn al(id: i64, t: f64) -> Observed {
        Observed {
            id,
            rule: R.into(),
            event_type: "intrusion".into(),
            t,
            incident_id: None,
            bbox: None,
            explanation: String::new(),
        }
    }

    fn one(m: &Matching) -> &RuleScore {
        &m.rules[0]
    }

    #[test]
    fn alert_within_tolerance_matches_and_latency_is_from_the_start() {
        let m = score(&rules(), &[ev(10.0, 12.0)], &[], &[al(1, 13.5)], 2.0);
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.fn_), (1, 0, 0));
        assert_eq!(s.latencies, vec![3.5]);
        assert_eq!(s.precision, Some(1.0));
        assert_eq!(s.recall, Some(1.0));
        assert_eq!(m.matched_by, vec![Some(1)]);
    }

    #[test]
    fn alert_past_the_tolerance_or_before_the_start_is_a_false_positive() {
        let m = score(
            &rules(),
            &[ev(10.0, 12.0)],
            &[],
            &[al(1, 14.01), al(2, 9.9)],
            2.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.fn_, s.duplicates), (0, 2, 1, 0));
        assert_eq!(s.precision, Some(0.0));
        assert_eq!(s.recall, Some(0.0));
        assert_eq!(s.latency_median, None);
    }

    #[test]
    fn second_alert_of_a_matched_event_is_a_duplicate_false_positive() {
        let m = score(
            &rules(),
            &[ev(10.0, 20.0)],
            &[],
            &[al(1, 11.0), al(2, 15.0)],
            1.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.duplicates), (1, 1, 1));
        assert_eq!(s.precision, Some(0.5));
        assert_eq!(m.outcomes[1], Outcome::Duplicate { event: 0 });
    }

    #[test]
    fn incident_updates_are_neither_matched_nor_false_positives() {
        let mut update = al(2, 15.0);
        update.incident_id = Some(1);
        let mut first = al(1, 11.0);
        first.incident_id = Some(1); // its own id: a first alert
        let m = score(&rules(), &[ev(10.0, 20.0)], &[], &[first, update], 1.0);
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.updates), (1, 0, 1));
        assert_eq!(m.outcomes[1], Outcome::Update { incident: 1 });
    }

    #[test]
    fn an_update_never_matches_another_event() {
        // Two people entering 10 s apart merged into one incident: the second entry is missed.
        let mut update = al(2, 21.0);
        update.incident_id = Some(1);
        let m = score(
            &rules(),
            &[ev(10.0, 12.0), ev(20.0, 22.0)],
            &[],
            &[al(1, 11.0), update],
            1.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.fn_, s.updates), (1, 0, 1, 1));
    }

    #[test]
    fn incident_id_of_an_unknown_alert_counts_as_a_first_alert() {
        let mut a = al(5, 11.0);
        a.incident_id = Some(99);
        let m = score(&rules(), &[ev(10.0, 12.0)], &[], &[a], 1.0);
        assert_eq!(one(&m).tp, 1);
    }

    #[test]
    fn dont_care_windows_ignore_alerts_of_their_rule_only() {
        let windows = [
            DontCare {
                start: 30.0,
                end: 35.0,
                rule: Some(R.into()),
            },
            DontCare {
                start: 40.0,
                end: 45.0,
                rule: Some("other-rule".into()),
            },
            DontCare {
                start: 50.0,
                end: 55.0,
                rule: None,
            },
        ];
        let m = score(
            &rules(),
            &[],
            &windows,
            &[al(1, 31.0), al(2, 41.0), al(3, 52.0)],
            1.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.ignored), (0, 1, 2));
        assert_eq!(m.outcomes[1], Outcome::FalsePositive);
        assert_eq!(s.recall, None);
        assert_eq!(s.precision, Some(0.0));
    }

    #[test]
    fn a_true_positive_wins_over_a_dont_care_window_and_a_duplicate_loses_to_it() {
        let windows = [DontCare {
            start: 10.0,
            end: 30.0,
            rule: None,
        }];
        let m = score(
            &rules(),
            &[ev(10.0, 20.0)],
            &windows,
            &[al(1, 11.0), al(2, 12.0)],
            1.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.ignored), (1, 0, 1));
    }

    #[test]
    fn overlapping_events_get_one_alert_each_earliest_end_first() {
        // Alert 1 could match either; giving it to the event that closes first lets alert 2
        // match the other one.
        let m = score(
            &rules(),
            &[ev(10.0, 30.0), ev(10.0, 12.0)],
            &[],
            &[al(1, 11.0), al(2, 25.0)],
            0.0,
        );
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.fn_), (2, 0, 0));
        assert_eq!(m.matched_by, vec![Some(2), Some(1)]);
    }

    #[test]
    fn alerts_are_taken_in_time_order_whatever_their_order_in_the_journal() {
        let m = score(
            &rules(),
            &[ev(10.0, 20.0)],
            &[],
            &[al(1, 15.0), al(2, 11.0)],
            0.0,
        );
        assert_eq!(m.matched_by, vec![Some(2)]);
        assert_eq!(one(&m).latencies, vec![1.0]);
    }

    #[test]
    fn other_rules_and_event_types_are_not_scored_nor_matched() {
        let mut fault = al(1, 11.0);
        fault.rule = "camera_health".into();
        fault.event_type = "camera_frozen".into();
        let mut wrong_type = al(2, 11.0);
        wrong_type.event_type = "wrong_way".into();
        let m = score(&rules(), &[ev(10.0, 12.0)], &[], &[fault, wrong_type], 1.0);
        assert_eq!(m.outcomes, vec![Outcome::Unscored, Outcome::Unscored]);
        let s = one(&m);
        assert_eq!((s.tp, s.fp, s.fn_), (0, 0, 1));
        assert_eq!(s.precision, None);
    }

    #[test]
    fn latency_median_and_max_over_matched_events() {
        let m = score(
            &rules(),
            &[ev(0.0, 1.0), ev(10.0, 11.0), ev(20.0, 21.0), ev(30.0, 31.0)],
            &[],
            &[al(1, 1.0), al(2, 12.0), al(3, 24.0)],
            3.0,
        );
        let s = one(&m);
        assert_eq!(s.latencies, vec![1.0, 2.0, 4.0]);
        assert_eq!(s.latency_median, Some(2.0));
        assert_eq!(s.latency_max, Some(4.0));
        assert_eq!(s.fn_, 1);
        assert_eq!(s.recall, Some(0.75));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
    }
}
