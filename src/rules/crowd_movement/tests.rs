use super::*;
use crate::rules::motion::moving::{
    assert_errors, check, frames, rect_scene, run_calibrated, Mover,
};
use crate::rules::testing::{Harness, CAR, MS, S};
use crate::rules::Scene;

/// Zone "square": x 0.05..0.95, y 0.2..0.95.
fn scene() -> Scene {
    rect_scene("square", "Esplanade", (0.05, 0.2), (0.95, 0.95))
}

fn rule(extra: &str) -> String {
    format!("id = \"c1\"\ntype = \"crowd_movement\"\nzone = \"square\"\n{extra}")
}

fn harness(extra: &str) -> Harness {
    Harness::new(scene(), &rule(extra))
}

const TENTH: u64 = 100 * MS;
/// People 0.1 image-heights tall. Running: 0.15 image widths / s = 2.0 body heights / s on 4:3
/// (threshold 1.5); walking: 0.06 = 0.8 body heights / s.
const RUN: f32 = 0.15;
const WALK: f32 = 0.06;

fn person(id: u64, at: (f32, f32), v: (f32, f32)) -> Mover {
    Mover::person(id, at, v).height(0.1)
}

/// `n` people in a row, ids from `first`, moving at `v` (alternately left and right if `v.0` is
/// given with `both_ways`).
fn group(first: u64, n: usize, y: f32, v: (f32, f32), both_ways: bool) -> Vec<Mover> {
    (0..n)
        .map(|i| {
            let flip = both_ways && i % 2 == 1;
            let (x, vx) = if flip { (0.8, -v.0) } else { (0.2, v.0) };
            person(first + i as u64, (x, y + 0.08 * i as f32), (vx, v.1))
        })
        .collect()
}

fn run(h: &mut Harness, movers: &[Mover], until: u64) -> Vec<Event> {
    let f = frames(h, movers, (0, until, TENTH));
    h.run(f)
}

#[test]
fn a_running_crowd_alerts_once_with_its_measurements() {
    let mut h = harness("");
    let events = run(&mut h, &group(1, 6, 0.3, (RUN, 0.0), true), 4 * S);
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0];
    assert_eq!(ev.event_type, EventType::CrowdMovement);
    assert_eq!(ev.zone_id.as_deref(), Some("square"));
    // Speeds are read from 0.9 s of history (60 % of the 1.5 s window), then held 2 s.
    assert_eq!(ev.t_ns, 2_900 * MS);
    assert_eq!(ev.people, Some(6));
    assert_eq!(ev.objects.len(), 6);
    assert_eq!(ev.overlay.count, Some(6));
    let m = &ev.measurements;
    assert_eq!((m[0].value, m[0].threshold), (6.0, Some(5.0)));
    assert_eq!(m[1].value, 6.0);
    assert_eq!((m[2].value, m[2].threshold), (1.0, Some(0.5)));
    assert_eq!(m[3].unit, "body/s");
    assert!(
        (m[3].value - 2.0).abs() < 0.01 && m[3].threshold == Some(1.5),
        "{m:?}"
    );
    assert_eq!((m[5].value, m[5].threshold), (2.0, Some(2.0)));
    for needle in [
        "c1",
        "Esplanade",
        "6 of 6 people",
        "1.5 body heights/s",
        "at least 5",
    ] {
        assert!(
            ev.explanation.contains(needle),
            "{needle}: {}",
            ev.explanation
        );
    }
}

#[test]
fn walkers_crossing_in_both_directions_are_no_crowd_movement() {
    let mut h = harness("");
    assert!(run(&mut h, &group(1, 10, 0.25, (WALK, 0.0), true), 10 * S).is_empty());
}

#[test]
fn a_single_jogger_is_no_crowd_movement() {
    let mut h = harness("");
    let mut movers = group(1, 5, 0.3, (WALK, 0.0), false);
    movers.push(person(9, (0.1, 0.8), (RUN, 0.0)));
    assert!(run(&mut h, &movers, 5 * S).is_empty(), "among walkers");
    let mut h = harness("");
    assert!(run(&mut h, &movers[5..], 5 * S).is_empty(), "alone");
    // Even where two people make a crowd, one fast object is never one.
    let mut h = harness("min_people = 2\nrunning_share = 0.5");
    let pair = [
        person(1, (0.2, 0.5), (WALK, 0.0)),
        person(2, (0.2, 0.7), (RUN, 0.0)),
    ];
    assert!(run(&mut h, &pair, 5 * S).is_empty());
    let mut h = harness("min_people = 2\nrunning_share = 0.5");
    let pair = [
        person(1, (0.2, 0.5), (RUN, 0.0)),
        person(2, (0.2, 0.7), (RUN, 0.0)),
    ];
    assert_eq!(run(&mut h, &pair, 5 * S).len(), 1);
}

#[test]
fn a_bus_passing_is_no_crowd_movement() {
    let mut h = harness("");
    let mut movers = group(1, 6, 0.3, (0.0, 0.0), false);
    movers.push(person(9, (0.1, 0.9), (0.3, 0.0)).class(CAR).height(0.3));
    assert!(run(&mut h, &movers, 4 * S).is_empty());
    // Nor six cars driving past.
    let mut h = harness("");
    let cars: Vec<Mover> = group(1, 6, 0.3, (RUN, 0.0), true)
        .into_iter()
        .map(|m| m.class(CAR))
        .collect();
    assert!(run(&mut h, &cars, 4 * S).is_empty());
}

#[test]
fn the_running_share_and_min_people_must_both_be_met() {
    let mixed = |runners: usize, walkers: usize| {
        let mut m = group(1, runners, 0.25, (RUN, 0.0), true);
        m.extend(group(20, walkers, 0.6, (WALK, 0.0), true));
        m
    };
    let mut h = harness("");
    assert!(run(&mut h, &mixed(2, 4), 5 * S).is_empty(), "2 of 6 run");
    let mut h = harness("");
    assert_eq!(run(&mut h, &mixed(4, 2), 5 * S).len(), 1, "4 of 6 run");
    let mut h = harness("");
    assert!(
        run(&mut h, &mixed(4, 0), 5 * S).is_empty(),
        "4 people < min_people"
    );
}

/// Noisy tracks make the share flicker: once begun, readings down to 80 % of the share keep the
/// movement going (here 6 of 10 run, and 6 of 14 when 4 more walkers are seen every other half
/// second); readings below that restart it (6 of 18).
#[test]
fn a_movement_goes_on_through_the_band_not_below_it() {
    let flicker = |extra: usize| {
        let mut h = harness("");
        let mut movers = group(1, 6, 0.25, (RUN, 0.0), true);
        movers.extend(group(20, 4, 0.55, (WALK, 0.0), true));
        for k in 0..extra {
            movers.push(person(
                100 + k as u64,
                (0.1 + 0.05 * k as f32, 0.9),
                (WALK, 0.0),
            ));
        }
        let f: Vec<_> = frames(&h, &movers, (0, 5 * S, TENTH))
            .into_iter()
            .map(|(t, mut objs)| {
                if (t / (500 * MS)) % 2 == 1 {
                    objs.iter_mut()
                        .filter(|o| o.track_id >= 100)
                        .for_each(|o| o.score = 0.3);
                }
                (t, objs)
            })
            .collect();
        h.run(f).len()
    };
    assert_eq!(flicker(0), 1);
    assert_eq!(flicker(4), 1, "6 of 14 (43 %) is in the band");
    assert_eq!(flicker(8), 0, "6 of 18 (33 %) is below it");
}

#[test]
fn a_burst_shorter_than_min_seconds_is_not_alerted() {
    let mut h = harness("");
    let burst: Vec<Mover> = group(1, 6, 0.3, (RUN, 0.0), false)
        .into_iter()
        .flat_map(|m| {
            let end = (m.start.0 + RUN, m.start.1);
            [
                m.during(0, S),
                person(m.id, end, (WALK, 0.0)).during(S + TENTH, 6 * S),
            ]
        })
        .collect();
    assert!(run(&mut h, &burst, 6 * S).is_empty());
}

#[test]
fn a_group_scattering_alerts_and_dispersal_can_be_turned_off() {
    // 8 people around (0.5, 0.55) moving outwards at 1.3 body heights / s: below the running
    // speed, above the dispersal threshold (1.2).
    let scatter: Vec<Mover> = (0..8)
        .map(|i| {
            let a = i as f32 * std::f32::consts::TAU / 8.0;
            let (c, s) = (a.cos(), a.sin());
            let plane = 0.13; // plane units / s: 1.3 box heights of 0.1
            person(
                i + 1,
                (0.5 + 0.03 * c, 0.55 + 0.03 * s),
                (plane * c / (4.0 / 3.0), plane * s),
            )
        })
        .collect();
    let mut h = harness("");
    let events = run(&mut h, &scatter, 4 * S);
    assert_eq!(events.len(), 1);
    let spread = &events[0].measurements[4];
    assert!((spread.value - 1.3).abs() < 0.05, "{spread:?}");
    assert_eq!(events[0].measurements[1].value, 0.0, "nobody runs");
    let mut h = harness("dispersal = false");
    assert!(run(&mut h, &scatter, 4 * S).is_empty());
}

#[test]
fn one_incident_while_movements_follow_each_other() {
    let mut h = harness("incident_seconds = 30");
    // Six people run across 0-4 s, stand 4-20 s, run back 20-24 s (same incident), stand 24-64 s,
    // run across again 64-68 s (a new incident).
    let mut movers = Vec::new();
    for i in 0..6u64 {
        let y = 0.3 + 0.08 * i as f32;
        let dir = if i % 2 == 0 { 1.0 } else { -1.0 };
        let x0 = 0.5 - dir * 0.3;
        let x1 = x0 + dir * RUN * 4.0;
        let leg = |from: u64, to: u64, x: f32, v: f32| {
            person(i + 1, (x, y), (v, 0.0)).during(from * S, to * S - TENTH)
        };
        movers.extend([
            leg(0, 4, x0, dir * RUN),
            leg(4, 20, x1, 0.0),
            leg(20, 24, x1, -dir * RUN),
            leg(24, 64, x0, 0.0),
            leg(64, 68, x0, dir * RUN),
        ]);
    }
    let times: Vec<u64> = run(&mut h, &movers, 68 * S)
        .iter()
        .map(|e| e.t_ns)
        .collect();
    // The second: 1.2 s of running outweigh the standing still in the 1.5 s window at 65.2 s.
    assert_eq!(times, vec![2_900 * MS, 67_200 * MS]);
}

#[test]
fn reset_forgets_the_incident() {
    let mut h = harness("");
    let crowd = group(1, 6, 0.3, (RUN, 0.0), true);
    assert_eq!(run(&mut h, &crowd, 4 * S).len(), 1);
    h.rule.reset();
    assert_eq!(run(&mut h, &crowd, 4 * S).len(), 1);
}

/// On a calibrated camera the thresholds are in m/s (here the plane is the image's, so 2.5 m/s is
/// far faster than these people).
#[test]
fn calibrated_context_uses_metres_per_second() {
    let crowd = group(1, 6, 0.3, (RUN, 0.0), true);
    let events_with = |extra: &str| {
        let mut h = harness(extra);
        let f = frames(&h, &crowd, (0, 4 * S, TENTH));
        run_calibrated(&mut h, f)
    };
    assert!(events_with("").is_empty());
    let events = events_with("running_speed_mps = 0.18");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].measurements[3].unit, "m/s");
    assert!(
        events[0].explanation.contains("faster than 0.2 m/s"),
        "{}",
        events[0].explanation
    );
}

#[test]
fn bad_configurations_are_errors_with_their_paths() {
    let text = rule(
        "min_people = 1\nrunning_speed_mps = -2.5\nrunning_body_per_s = 0\nrunning_share = 1.5\n\
         window_seconds = 0.1\nmin_seconds = -2\ndispersal_speed_mps = -1\n\
         dispersal_body_per_s = 100\nclasses = [\"crowd\"]\nmin_score = -0.1\n\
         incident_seconds = -1\n",
    );
    assert_errors(
        &check(&text, &["lawn"], false),
        &[
            "cameras[0].rules[0].zone: no zone `square`",
            "cameras[0].rules[0].min_people: 1 is out of range 2..=10000",
            "cameras[0].rules[0].running_speed_mps: -2.5 is out of range",
            "cameras[0].rules[0].running_body_per_s: 0 is out of range",
            "cameras[0].rules[0].running_share: 1.5 is out of range",
            "cameras[0].rules[0].window_seconds: 0.1 is out of range",
            "cameras[0].rules[0].min_seconds: -2 is out of range",
            "cameras[0].rules[0].dispersal_speed_mps: -1 is out of range",
            "cameras[0].rules[0].dispersal_body_per_s: 100 is out of range",
            "cameras[0].rules[0].incident_seconds: -1 is out of range",
            "cameras[0].rules[0].min_score: -0.1 must be between 0 and 1",
            "cameras[0].rules[0].classes[0]: `crowd` is not a class",
        ],
    );
    assert!(check(&rule(""), &["square"], false).is_empty());
}
