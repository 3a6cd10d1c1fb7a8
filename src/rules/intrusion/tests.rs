use super::*;
use crate::detect::BBox;
use crate::rules::testing::{Harness, CAR, MS, PERSON, S};
use crate::rules::{Scene, Zone};

/// Zone: x 0.2..0.6, y 0.4..0.9.
fn scene() -> Scene {
    Scene::new(
        vec![Zone::new(
            "z1",
            "Quai 2",
            vec![(0.2, 0.4), (0.6, 0.4), (0.6, 0.9), (0.2, 0.9)],
        )],
        Vec::new(),
    )
}

fn rule(min_seconds: f32, cooldown_seconds: f32) -> String {
    format!(
        "id = \"r1\"\ntype = \"intrusion\"\nzone = \"z1\"\nclasses = [\"person\"]\n\
         min_seconds = {min_seconds}\ncooldown_seconds = {cooldown_seconds}\nmin_score = 0.5\n"
    )
}

fn harness(min_seconds: f32, cooldown_seconds: f32) -> Harness {
    Harness::new(scene(), &rule(min_seconds, cooldown_seconds))
}

const IN: (f32, f32) = (0.4, 0.7);
const OUT: (f32, f32) = (0.8, 0.7);
const TENTH: u64 = 100 * MS;

#[test]
fn dwell_below_min_seconds_no_event() {
    let mut h = harness(2.0, 30.0);
    let mut frames = h.walk(1, (0, 1_900 * MS, TENTH), |_| IN);
    frames.extend(h.walk(1, (2 * S, 5 * S, TENTH), |_| OUT));
    assert!(h.run(frames).is_empty());
}

#[test]
fn dwell_above_min_seconds_exactly_one_event() {
    let mut h = harness(2.0, 0.0);
    let frames = h.walk(7, (500 * MS, 20 * S, TENTH), |_| IN);
    let events = h.run(frames);
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev.rule_id, "r1");
    assert_eq!(ev.event_type, EventType::Intrusion);
    assert_eq!(ev.zone_id.as_deref(), Some("z1"));
    assert_eq!(ev.track_id(), Some(7));
    assert_eq!(ev.objects[0].class_id, PERSON);
    assert_eq!(ev.t_ns, 2_500 * MS);
    assert_eq!(ev.objects[0].bbox.ground_point(), IN);
    assert_eq!(ev.measurements[0].name, "dwell");
    assert!((ev.measurements[0].value - 2.0).abs() < 1e-6);
    assert_eq!(ev.measurements[0].threshold, Some(2.0));
    assert_eq!(ev.overlay.polygons.len(), 1);
    for needle in ["r1", "Quai 2", "z1", "person", "2.0 s", "track 7"] {
        assert!(
            ev.explanation.contains(needle),
            "{needle}: {}",
            ev.explanation
        );
    }
}

#[test]
fn min_seconds_zero_fires_on_first_counting_update() {
    let mut h = harness(0.0, 0.0);
    let p = h.person(1, IN);
    let events = h.step(42, &[p]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].measurements[0].value, 0.0);
}

#[test]
fn leave_and_reenter_after_cooldown_second_event() {
    let mut h = harness(2.0, 10.0);
    let mut frames = h.walk(1, (0, 3 * S, TENTH), |_| IN); // fires at 2 s
    frames.extend(h.walk(1, (3_100 * MS, 4 * S, TENTH), |_| OUT));
    frames.extend(h.walk(1, (4_100 * MS, 9 * S, TENTH), |_| IN)); // within cooldown: suppressed
    frames.extend(h.walk(1, (9_100 * MS, 10 * S, TENTH), |_| OUT));
    frames.extend(h.walk(1, (10_100 * MS, 20 * S, TENTH), |_| IN)); // fires at 12.1 s
    let times: Vec<u64> = h.run(frames).iter().map(|e| e.t_ns).collect();
    assert_eq!(times, vec![2 * S, 12_100 * MS]);
}

#[test]
fn class_not_configured_no_event() {
    let mut h = harness(1.0, 0.0);
    let frames: Vec<_> = (0..=50u64)
        .map(|k| (k * TENTH, vec![h.object(1, CAR, IN, 0.2)]))
        .collect();
    assert!(h.run(frames).is_empty());
}

#[test]
fn unconfirmed_missed_or_low_score_objects_do_not_count() {
    let mut h = harness(1.0, 0.0);
    let frames: Vec<_> = (0..=50u64)
        .map(|k| {
            let mut a = h.person(1, IN);
            a.confirmed = false;
            let mut b = h.person(2, IN);
            b.score = 0.4;
            let mut c = h.person(3, IN);
            c.missed = true;
            (k * TENTH, vec![a, b, c])
        })
        .collect();
    assert!(h.run(frames).is_empty());
}

/// Box centre inside the zone but feet below it: no event. Feet inside, centre above the zone:
/// event.
#[test]
fn ground_point_not_box_centre() {
    let mut h = harness(1.0, 0.0);
    let mut feet_out = h.person(1, IN);
    feet_out.bbox = BBox::new(0.35, 0.5, 0.45, 0.95);
    feet_out.foot = feet_out.bbox.ground_point();
    let mut feet_in = h.person(2, IN);
    feet_in.bbox = BBox::new(0.45, 0.0, 0.55, 0.5);
    feet_in.foot = feet_in.bbox.ground_point();
    let frames: Vec<_> = (0..=30u64)
        .map(|k| (k * TENTH, vec![feet_out.clone(), feet_in.clone()]))
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].track_id(), Some(2));
}

/// A short miss holds the entry; the event fires on the next matched update inside.
#[test]
fn short_miss_holds_entry() {
    let mut h = harness(2.0, 0.0);
    let mut frames = h.walk(1, (0, S, TENTH), |_| IN);
    frames.extend((11..=25u64).map(|k| {
        let mut p = h.person(1, OUT); // predicted box, outside
        p.missed = true;
        (k * TENTH, vec![p])
    }));
    frames.extend(h.walk(1, (2_600 * MS, 3 * S, TENTH), |_| IN));
    let events = h.run(frames);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].t_ns, 2_600 * MS);
}

#[test]
fn disappeared_track_state_cleaned_up() {
    let mut h = harness(2.0, 0.0);
    let frames = h.walk(1, (0, 1_500 * MS, TENTH), |_| IN);
    assert!(h.run(frames).is_empty());
    assert!(h.step(1_600 * MS, &[]).is_empty());
    // Same id again: a fresh entry, dwell from now.
    let frames = h.walk(1, (1_700 * MS, 3_600 * MS, TENTH), |_| IN);
    assert!(h.run(frames).is_empty());
    let p = h.person(1, IN);
    assert_eq!(h.step(3_700 * MS, &[p]).len(), 1);
}

#[test]
fn leaving_ends_entry_and_dwell_restarts() {
    let mut h = harness(2.0, 0.0);
    let mut frames = h.walk(1, (0, 1_500 * MS, TENTH), |_| IN);
    frames.extend(h.walk(1, (1_600 * MS, 1_600 * MS, TENTH), |_| OUT));
    frames.extend(h.walk(1, (1_700 * MS, 3_600 * MS, TENTH), |_| IN));
    assert!(h.run(frames).is_empty());
    let p = h.person(1, IN);
    assert_eq!(h.step(3_700 * MS, &[p]).len(), 1);
}

#[test]
fn reset_forgets_entries_and_cooldowns() {
    let mut h = harness(2.0, 60.0);
    let frames = h.walk(1, (0, 3 * S, TENTH), |_| IN);
    assert_eq!(h.run(frames).len(), 1);
    h.rule.reset();
    let frames = h.walk(2, (0, 3 * S, TENTH), |_| IN);
    assert_eq!(h.run(frames).len(), 1);
}

#[test]
fn concave_zone() {
    // "U" zone: the notch x 0.4..0.6, y 0.1..0.6 is outside.
    let u = vec![
        (0.2, 0.1),
        (0.4, 0.1),
        (0.4, 0.6),
        (0.6, 0.6),
        (0.6, 0.1),
        (0.8, 0.1),
        (0.8, 0.9),
        (0.2, 0.9),
    ];
    let scene = Scene::new(vec![Zone::new("z1", "U", u)], Vec::new());
    let mut h = Harness::new(scene, &rule(0.5, 0.0));
    let frames: Vec<_> = (0..=10u64)
        .map(|k| {
            (
                k * TENTH,
                vec![h.person(1, (0.5, 0.3)), h.person(2, (0.3, 0.3))],
            )
        })
        .collect();
    let ids: Vec<_> = h.run(frames).iter().map(|e| e.track_id()).collect();
    assert_eq!(ids, vec![Some(2)]);
}
