use super::*;
use crate::rules::motion::moving::{
    assert_errors, check, frames, rect_scene, run_calibrated, Mover,
};
use crate::rules::testing::{Harness, CAR, MS, S};

/// Zone "path": x 0.1..0.9, y 0.3..0.8; allowed direction: image right.
fn scene() -> Scene {
    rect_scene("path", "Allée", (0.1, 0.3), (0.9, 0.8))
}

fn rule(extra: &str) -> String {
    format!("id = \"ww\"\ntype = \"wrong_way\"\nzone = \"path\"\ndirection = [1.0, 0.0]\n{extra}")
}

fn harness(extra: &str) -> Harness {
    Harness::new(scene(), &rule(extra))
}

const TENTH: u64 = 100 * MS;
/// Walking pace of a 0.2-tall person: 0.11 image widths / s = 0.73 body heights / s on 4:3.
const WALK: f32 = 0.11;

/// Image velocity of a walker heading `degrees` from image right in the plane (x scaled by 4:3),
/// at the walking pace.
fn plane_heading(degrees: f32) -> (f32, f32) {
    let (c, s) = (degrees.to_radians().cos(), degrees.to_radians().sin());
    let pace = WALK * 4.0 / 3.0;
    (pace * c * 3.0 / 4.0, pace * s)
}

fn run(h: &mut Harness, movers: &[Mover], until: u64) -> Vec<Event> {
    let f = frames(h, movers, (0, until, TENTH));
    h.run(f)
}

#[test]
fn walking_against_the_direction_fires_once_with_its_measurements() {
    let mut h = harness("");
    let events = run(
        &mut h,
        &[Mover::person(7, (0.85, 0.6), (-WALK, 0.0))],
        6 * S,
    );
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev.event_type, EventType::WrongWay);
    assert_eq!(ev.rule_id, "ww");
    assert_eq!(ev.zone_id.as_deref(), Some("path"));
    assert_eq!(ev.track_id(), Some(7));
    // 1 body height (0.2) at 0.147 plane units / s: 1.36 s after the first frame.
    assert_eq!(ev.t_ns, 1_400 * MS);
    let m = &ev.measurements;
    assert_eq!(m[0].name, "distance_against");
    assert_eq!(m[0].unit, "body");
    assert!(m[0].value >= 1.0 && m[0].value < 1.1, "{m:?}");
    assert_eq!(m[0].threshold, Some(1.0));
    assert!(m[1].value >= 1.0 && m[1].threshold == Some(1.0), "{m:?}");
    assert!(m[2].value > 179.0 && m[2].threshold == Some(135.0), "{m:?}");
    // Zone, allowed direction (pointing right), the run's path.
    assert_eq!(ev.overlay.polygons.len(), 1);
    let a = ev.overlay.arrows[0];
    assert!(
        a.to.0 > a.from.0 && (a.to.1 - a.from.1).abs() < 1e-6,
        "{a:?}"
    );
    let path = &ev.overlay.lines[0];
    assert!(
        path[0].0 > path[1].0,
        "drawn from where the run began: {path:?}"
    );
    for needle in [
        "ww",
        "Allée",
        "path",
        "person",
        "track 7",
        "body heights",
        "135°",
    ] {
        assert!(
            ev.explanation.contains(needle),
            "{needle}: {}",
            ev.explanation
        );
    }
}

#[test]
fn walking_with_or_across_the_direction_never_fires() {
    let mut h = harness("");
    let movers = [
        Mover::person(1, (0.15, 0.6), (WALK, 0.0)),
        Mover::person(2, (0.5, 0.32), (0.0, WALK)),
        Mover::person(3, (0.3, 0.78), (0.0, -WALK)),
        // 120° from the allowed direction in the plane: below the 135° threshold.
        Mover::person(4, (0.85, 0.35), plane_heading(120.0)),
    ];
    assert!(run(&mut h, &movers, 4 * S).is_empty());
}

#[test]
fn a_diagonal_beyond_the_angle_fires() {
    let v = plane_heading(150.0);
    let mut h = harness("");
    let events = run(&mut h, &[Mover::person(1, (0.85, 0.35), v)], 3 * S);
    assert_eq!(events.len(), 1);
    assert!((events[0].measurements[2].value - 150.0).abs() < 1.0);
    // The same with a 160° threshold: no.
    let mut h = harness("angle_degrees = 160");
    assert!(run(&mut h, &[Mover::person(1, (0.85, 0.35), v)], 3 * S).is_empty());
}

#[test]
fn a_short_backward_step_is_not_wrong_way() {
    let mut h = harness("");
    // Right for 2 s, back 0.7 s (0.5 body height), right again.
    let fwd = Mover::person(1, (0.2, 0.6), (WALK, 0.0)).during(0, 2 * S);
    let back = Mover::person(1, (0.42, 0.6), (-WALK, 0.0)).during(2_100 * MS, 2_800 * MS);
    let again = Mover::person(1, (0.343, 0.6), (WALK, 0.0)).during(2_900 * MS, 6 * S);
    assert!(run(&mut h, &[fwd, back, again], 6 * S).is_empty());
    // Stepping back 1.5 body heights instead does fire.
    let mut h = harness("");
    let back = Mover::person(1, (0.42, 0.6), (-WALK, 0.0)).during(2_100 * MS, 4_100 * MS);
    assert_eq!(run(&mut h, &[fwd, back], 5 * S).len(), 1);
}

#[test]
fn min_seconds_and_min_distance_both_hold() {
    // A 0.6 s dash of 1.5 body heights back, then out of the zone: far enough, not long enough.
    let dash = Mover::person(1, (0.4, 0.6), (-0.4, 0.0)).during(0, 600 * MS);
    let out = Mover::person(1, (0.4, 0.95), (0.0, 0.0)).during(700 * MS, 3 * S);
    let mut h = harness("");
    assert!(run(&mut h, &[dash, out], 3 * S).is_empty());
    let mut h = harness("min_seconds = 0.0");
    assert_eq!(run(&mut h, &[dash, out], 3 * S).len(), 1);
    // A longer distance threshold waits for it.
    let walker = Mover::person(1, (0.85, 0.6), (-WALK, 0.0));
    let mut h = harness("min_distance_body = 3.0");
    let events = run(&mut h, &[walker], 6 * S);
    assert_eq!(events.len(), 1);
    assert!(events[0].t_ns >= 4 * S, "3 body heights take 4.1 s");
}

#[test]
fn classes_and_exempt_classes() {
    let car = Mover::person(1, (0.85, 0.6), (-WALK, 0.0)).class(CAR);
    let mut h = harness("");
    assert!(
        run(&mut h, &[car], 4 * S).is_empty(),
        "persons only by default"
    );
    let mut h = harness("classes = [\"car\"]");
    assert_eq!(run(&mut h, &[car], 4 * S).len(), 1);

    // A person riding a bicycle (overlapping boxes moving alike) against the direction.
    let rider = Mover::person(1, (0.85, 0.6), (-0.3, 0.0)).during(0, 2 * S);
    let bike = Mover::person(2, (0.85, 0.6), (-0.3, 0.0))
        .class(1)
        .height(0.1)
        .during(0, 2 * S);
    let mut h = harness("exempt_classes = [\"bicycle\"]");
    assert!(run(&mut h, &[rider, bike], 2 * S).is_empty());
    let mut h = harness("");
    assert_eq!(run(&mut h, &[rider, bike], 2 * S).len(), 1, "not exempt");
    // A pedestrian passing a parked bicycle is not riding it.
    let parked = Mover::person(2, (0.75, 0.6), (0.0, 0.0))
        .class(1)
        .height(0.1);
    let walker = Mover::person(1, (0.85, 0.6), (-WALK, 0.0));
    let mut h = harness("exempt_classes = [\"bicycle\"]");
    assert_eq!(run(&mut h, &[walker, parked], 4 * S).len(), 1);
}

#[test]
fn one_alert_per_passage_until_incident_seconds_after_it() {
    let mut h = harness("incident_seconds = 5");
    let back =
        |from: u64, to: u64| Mover::person(1, (0.85, 0.6), (-WALK, 0.0)).during(from * S, to * S);
    let outside = |from: u64, to: u64| {
        Mover::person(1, (0.5, 0.95), (0.0, 0.0)).during(from * S, to * S - TENTH)
    };
    // In the zone 0-6 s (alert), out 6-8 s, back in 8-12 s (same incident), out 12-20 s, in
    // again 20-24 s: 8 s after it was last seen in the zone, a new alert.
    let movers = [
        back(0, 6),
        outside(6, 8),
        back(8, 12),
        outside(12, 20),
        back(20, 24),
    ];
    let times: Vec<u64> = run(&mut h, &movers, 24 * S)
        .iter()
        .map(|e| e.t_ns)
        .collect();
    assert_eq!(times, vec![1_400 * MS, 21_400 * MS]);
}

#[test]
fn a_new_track_id_or_a_companion_joins_the_incident_a_stranger_does_not() {
    let mut h = harness("");
    // Track 1 walks back, is lost at 3 s; track 2 picks the same person up at 3.2 s.
    let first = Mover::person(1, (0.85, 0.6), (-WALK, 0.0)).during(0, 3 * S);
    let again = Mover::person(2, (0.85 - WALK * 3.2, 0.6), (-WALK, 0.0)).during(3_200 * MS, 6 * S);
    // A companion walking beside track 1, and a stranger on the other side of the path.
    let companion = Mover::person(3, (0.87, 0.65), (-WALK, 0.0)).during(0, 6 * S);
    let stranger = Mover::person(4, (0.6, 0.35), (-WALK, 0.0)).during(2 * S, 6 * S);
    let events = run(&mut h, &[first, again, companion, stranger], 6 * S);
    let ids: Vec<_> = events.iter().map(|e| e.track_id()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&Some(4)), "{ids:?}");
    assert!(ids.contains(&Some(1)) || ids.contains(&Some(3)), "{ids:?}");
}

/// Found on vtest.avi: a person who had walked the wrong way, then stood in the zone, kept their
/// incident open and hid the next wrong-way walker passing by.
#[test]
fn a_person_standing_after_their_alert_does_not_hide_a_new_one() {
    let mut h = harness("incident_seconds = 5");
    let walk = Mover::person(1, (0.85, 0.6), (-WALK, 0.0)).during(0, 3 * S);
    let stand = Mover::person(1, (0.85 - WALK * 3.1, 0.6), (0.0, 0.0)).during(3_100 * MS, 30 * S);
    // 15 s later, a stranger walks the wrong way right past them.
    let stranger = Mover::person(2, (0.85, 0.62), (-WALK, 0.0)).during(15 * S, 30 * S);
    let ids: Vec<_> = run(&mut h, &[walk, stand, stranger], 30 * S)
        .iter()
        .map(|e| e.track_id())
        .collect();
    assert_eq!(ids, vec![Some(1), Some(2)]);
}

#[test]
fn unconfirmed_missed_or_low_score_tracks_hold() {
    let mut h = harness("");
    let walker = Mover::person(1, (0.85, 0.6), (-WALK, 0.0));
    let f: Vec<_> = frames(&h, &[walker], (0, 4 * S, TENTH))
        .into_iter()
        .map(|(t, mut objs)| {
            for o in &mut objs {
                o.score = 0.3;
            }
            (t, objs)
        })
        .collect();
    assert!(h.run(f).is_empty());
}

#[test]
fn reset_forgets_incidents() {
    let mut h = harness("");
    let walker = [Mover::person(1, (0.85, 0.6), (-WALK, 0.0))];
    assert_eq!(run(&mut h, &walker, 3 * S).len(), 1);
    h.rule.reset();
    assert_eq!(run(&mut h, &walker, 3 * S).len(), 1);
}

/// On a calibrated camera the thresholds are the metres ones (here the plane is the image's:
/// a runner at 0.4 plane units / s, 2 m is far more than the run).
#[test]
fn calibrated_context_uses_metres() {
    let events_with = |extra: &str| {
        let mut h = harness(extra);
        let runner = Mover::person(1, (0.85, 0.6), (-0.3, 0.0));
        let f = frames(&h, &[runner], (0, 2_500 * MS, TENTH));
        run_calibrated(&mut h, f)
    };
    assert!(events_with("").is_empty());
    let events = events_with("min_distance_m = 0.5");
    assert_eq!(events.len(), 1);
    let m = &events[0].measurements[0];
    assert_eq!((m.unit.as_str(), m.threshold), ("m", Some(0.5)));
    assert_eq!(events[0].t_ns, 1_300 * MS, "0.5 plane units take 1.25 s");
    assert!(events[0].explanation.contains("0.5 m"));
}

#[test]
fn bad_configurations_are_errors_with_their_paths() {
    let base = "id = \"ww\"\ntype = \"wrong_way\"\nzone = \"path\"\n";
    assert_errors(
        &check(base, &["path"], false),
        &["cameras[0].rules[0].direction: missing: the allowed direction"],
    );
    let ground = format!("{base}ground_direction = [0.0, 1.0]\n");
    assert_errors(
        &check(&ground, &["path"], false),
        &["cameras[0].rules[0].ground_direction: camera `cam` has no `[cameras.calibration]`"],
    );
    assert!(check(&ground, &["path"], true).is_empty());
    assert_errors(
        &check(
            &format!("{ground}direction = [1.0, 0.0]\n"),
            &["path"],
            true,
        ),
        &["cameras[0].rules[0].ground_direction: give either"],
    );
    let text = format!(
        "{base}direction = [0.0, 0.0]\nangle_degrees = 45\nmin_distance_m = -1\n\
         min_distance_body = -0.5\nmin_seconds = -1\nclasses = [\"person\", \"unicorn\"]\n\
         exempt_classes = [\"person\", \"dragon\"]\nmin_score = 1.5\nincident_seconds = -2\n"
    );
    assert_errors(
        &check(&text, &["elsewhere"], false),
        &[
            "cameras[0].rules[0].zone: no zone `path`",
            "cameras[0].rules[0].direction: [0, 0] is not a direction",
            "cameras[0].rules[0].angle_degrees: 45 is out of range 90..=180",
            "cameras[0].rules[0].min_distance_m: -1 is out of range",
            "cameras[0].rules[0].min_distance_body: -0.5 is out of range",
            "cameras[0].rules[0].min_seconds: -1 is out of range",
            "cameras[0].rules[0].incident_seconds: -2 is out of range",
            "cameras[0].rules[0].min_score: 1.5 must be between 0 and 1",
            "cameras[0].rules[0].classes[1]: `unicorn` is not a class",
            "cameras[0].rules[0].exempt_classes[1]: `dragon` is not a class",
            "cameras[0].rules[0].exempt_classes[0]: `person` is also in `classes`",
        ],
    );
    assert_errors(
        &check(
            &format!("{base}direction = [1.0, 0.0]\nclasses = []\n"),
            &["path"],
            false,
        ),
        &["cameras[0].rules[0].classes: name at least one class"],
    );
    assert!(check(&rule(""), &["path"], false).is_empty());
}
