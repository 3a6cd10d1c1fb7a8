use super::*;
use crate::rules::motion::moving::{assert_errors, check, rect_scene};
use crate::rules::testing::{Harness, CAR, MS, S};
use crate::rules::Scene;

/// Zone "square": x 0.2..0.8, y 0.3..0.9, said to be 2 m2: warn (2.0) = 4 people, alarm (3.5) =
/// 7 people.
fn scene() -> Scene {
    rect_scene("square", "Esplanade", (0.2, 0.3), (0.8, 0.9))
}

fn rule(extra: &str) -> String {
    format!("id = \"d1\"\ntype = \"density\"\nzone = \"square\"\narea_m2 = 2.0\n{extra}")
}

fn harness(extra: &str) -> Harness {
    Harness::new(scene(), &rule(extra))
}

const HALF: u64 = 500 * MS;

/// `n` people standing in the zone.
fn crowd(h: &Harness, n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| h.person(i as u64 + 1, (0.25 + 0.05 * i as f32, 0.6)))
        .collect()
}

/// Frames every 0.5 s from `from` to `to` (s, inclusive) with `n(t)` people in the zone.
fn timeline(
    h: &Harness,
    (from, to): (u64, u64),
    n: impl Fn(u64) -> usize,
) -> Vec<(u64, Vec<Object>)> {
    (from * 2..=to * 2)
        .map(|k| {
            let t = k * HALF;
            (t, crowd(h, n(t)))
        })
        .collect()
}

#[test]
fn below_the_warn_level_nothing() {
    let mut h = harness("");
    let f = timeline(&h, (0, 120), |_| 3); // 1.5 persons/m2
    assert!(h.run(f).is_empty());
}

#[test]
fn warn_held_for_hold_seconds_alerts_once_with_its_measurements() {
    let mut h = harness("");
    let f = timeline(&h, (0, 120), |t| if t < 10 * S { 0 } else { 5 }); // 2.5 persons/m2
    let events = h.run(f);
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev.event_type, EventType::Density);
    assert_eq!(ev.zone_id.as_deref(), Some("square"));
    // The 5 s mean reaches 4 people (2.0/m2) at 13.5 s; held 30 s.
    assert_eq!(ev.t_ns, 43_500 * MS);
    assert_eq!(ev.people, Some(5));
    assert_eq!(ev.objects.len(), 5);
    assert_eq!(ev.overlay.count, Some(5));
    assert_eq!(ev.overlay.polygons.len(), 1);
    let m = &ev.measurements;
    assert_eq!(
        (m[0].name.as_str(), m[0].unit.as_str()),
        ("density", "persons/m2")
    );
    assert!(
        (m[0].value - 2.5).abs() < 1e-6 && m[0].threshold == Some(2.0),
        "{m:?}"
    );
    assert_eq!((m[3].name.as_str(), m[3].value), ("area", 2.0));
    assert_eq!((m[4].value, m[4].threshold), (30.0, Some(30.0)));
    for needle in [
        "d1",
        "Esplanade",
        "warn level",
        "2.50 persons/m2",
        "configured",
        "undercounts",
    ] {
        assert!(
            ev.explanation.contains(needle),
            "{needle}: {}",
            ev.explanation
        );
    }
}

#[test]
fn a_dense_moment_shorter_than_hold_seconds_is_not_alerted() {
    let mut h = harness("");
    let f = timeline(&h, (0, 120), |t| {
        if (10 * S..35 * S).contains(&t) {
            8
        } else {
            1
        }
    });
    assert!(h.run(f).is_empty());
}

#[test]
fn hysteresis_one_incident_while_it_lasts() {
    let mut h = harness("");
    // 5 people (alert at 30 s), then 3.5 people on average (1.75/m2: between 1.6 and 2.0, the
    // incident stays open), 5 again: no new alert. Then 2 people (1.0/m2: cleared), then 5 again
    // for more than 30 s: a new incident.
    let n = |t: u64| match t / S {
        0..=59 => 5,
        60..=119 => 3 + (t / HALF % 2) as usize,
        120..=179 => 5,
        180..=239 => 2,
        _ => 5,
    };
    let f = timeline(&h, (0, 300), n);
    let times: Vec<u64> = h.run(f).iter().map(|e| e.t_ns).collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert_eq!(times[0], 30 * S);
    assert!(times[1] > 240 * S + 30 * S, "{times:?}");
}

#[test]
fn reaching_alarm_during_an_incident_is_a_second_alert_of_it_and_the_last() {
    let mut h = harness("");
    let n = |t: u64| match t / S {
        0..=59 => 5,    // warn at 30 s
        60..=119 => 8,  // 4.0/m2: alarm held from ~62 s, alert at ~92 s
        120..=179 => 5, // below alarm's clear level (2.8): alarm left, incident open
        _ => 8,         // alarm again in the same incident: no third alert
    };
    let events = h.run(timeline(&h, (0, 260), n));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].measurements[0].threshold, Some(2.0));
    assert_eq!(events[1].measurements[0].threshold, Some(3.5));
    assert!(events[1].explanation.contains("alarm level"));
    // The alarm is an update of the warn's incident (linked to its alert by the bus).
    let (first, second) = (events[0].incident, events[1].incident);
    assert_eq!(first.map(|i| i.update), Some(false), "{first:?}");
    assert_eq!(second.map(|i| i.update), Some(true), "{second:?}");
    assert_eq!(first.map(|i| i.id), second.map(|i| i.id));
    assert!(
        (90 * S..95 * S).contains(&events[1].t_ns),
        "{}",
        events[1].t_ns
    );
    // A density that goes straight to alarm level: one alarm alert only.
    let mut h = harness("");
    let events = h.run(timeline(&h, (0, 100), |_| 8));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].measurements[0].threshold, Some(3.5));
    assert_eq!(events[0].incident.map(|i| i.update), Some(false));
}

#[test]
fn smoothing_bridges_a_missed_frame_that_would_restart_the_hold() {
    // 6 people (3.0/m2); every 4th frame the detector misses everyone.
    let n = |t: u64| if (t / HALF) % 4 == 3 { 0 } else { 6 };
    let mut h = harness("");
    assert_eq!(h.run(timeline(&h, (0, 60), n)).len(), 1);
    let mut h = harness("window_seconds = 0");
    assert!(h.run(timeline(&h, (0, 60), n)).is_empty());
}

#[test]
fn only_confirmed_people_of_enough_score_inside_the_zone_count() {
    let mut h = harness("");
    let f: Vec<_> = (0..=240u64)
        .map(|k| {
            let mut objs = vec![
                h.object(1, CAR, (0.5, 0.6), 0.2),
                h.object(2, CAR, (0.6, 0.6), 0.2),
            ];
            objs.push(h.person(3, (0.1, 0.6))); // outside
            objs.push(h.person(4, (0.9, 0.95))); // outside
            let mut low = h.person(5, (0.4, 0.6));
            low.score = 0.3;
            let mut young = h.person(6, (0.45, 0.6));
            young.confirmed = false;
            objs.extend([low, young, h.person(7, (0.5, 0.6))]);
            (k * HALF, objs)
        })
        .collect();
    assert!(h.run(f).is_empty());
    // A coasting (missed) confirmed track still counts.
    let mut h = harness("");
    let f = timeline(&h, (0, 40), |_| 5)
        .into_iter()
        .map(|(t, mut objs)| {
            objs[0].missed = true;
            (t, objs)
        })
        .collect::<Vec<_>>();
    assert_eq!(h.run(f).len(), 1);
}

#[test]
fn reset_forgets_the_incident() {
    let mut h = harness("");
    assert_eq!(h.run(timeline(&h, (0, 40), |_| 5)).len(), 1);
    h.rule.reset();
    assert_eq!(h.run(timeline(&h, (0, 40), |_| 5)).len(), 1);
}

#[test]
fn bad_configurations_are_errors_with_their_paths() {
    let base = "id = \"d1\"\ntype = \"density\"\nzone = \"square\"\n";
    assert_errors(
        &check(base, &["square"], false),
        &["cameras[0].rules[0].area_m2: missing: the zone's area in m2; camera `cam` has no"],
    );
    assert!(
        check(base, &["square"], true).is_empty(),
        "area from the calibration"
    );
    assert_errors(
        &check(
            &format!("{base}area_m2 = 10\nwarn = 3.5\nalarm = 2.0\n"),
            &["square"],
            false,
        ),
        &["cameras[0].rules[0].alarm: 2 must be above warn (3.5)"],
    );
    assert_errors(
        &check(
            &format!("{base}area_m2 = 10\nwarn = 3.0\nalarm = 3.0\n"),
            &["square"],
            false,
        ),
        &["cameras[0].rules[0].alarm: 3 must be above warn (3)"],
    );
    let text = format!(
        "{base}area_m2 = -4\nwarn = -1\nhold_seconds = -30\nclear_ratio = 1.2\n\
         window_seconds = -5\nmin_score = 0\nclasses = [\"persons\"]\n"
    );
    assert_errors(
        &check(&text, &["lawn"], false),
        &[
            "cameras[0].rules[0].zone: no zone `square`",
            "cameras[0].rules[0].area_m2: -4 is out of range",
            "cameras[0].rules[0].warn: -1 is out of range",
            "cameras[0].rules[0].hold_seconds: -30 is out of range",
            "cameras[0].rules[0].clear_ratio: 1.2 must be between 0 and 1",
            "cameras[0].rules[0].window_seconds: -5 is out of range",
            "cameras[0].rules[0].min_score: 0 must be between 0 and 1",
            "cameras[0].rules[0].classes[0]: `persons` is not a class",
        ],
    );
    assert!(check(&rule(""), &["square"], false).is_empty());
}
