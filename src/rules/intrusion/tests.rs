use super::*;
use crate::detect::{BBox, Detection};
use crate::rules::testing::{calibration, labels, rule_config, Harness, CAR, MS, PERSON, S};
use crate::rules::{CameraRules, FrameInput, Scene, Zone};
use crate::track::{Tracker, TrackerConfig};

/// Zone: x 0.2..0.6, y 0.4..0.9 of the image.
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

/// On the calibrated square (12 m x 20 m): a zone 2..10 m across, 2..12 m deep, drawn in the
/// image from its ground corners.
fn ground_scene() -> Scene {
    let cal = calibration();
    let corners = [(2.0, 2.0), (10.0, 2.0), (10.0, 12.0), (2.0, 12.0)];
    let polygon = corners
        .iter()
        .map(|&g| cal.to_image(g).expect("visible"))
        .collect();
    Scene::new(vec![Zone::new("z1", "Chantier", polygon)], Vec::new()).with_calibration(cal)
}

fn rule(extra: &str) -> String {
    format!(
        "id = \"r1\"\ntype = \"intrusion\"\nzone = \"z1\"\nclasses = [\"person\"]\nmin_score = 0.5\n{extra}\n"
    )
}

fn harness(extra: &str) -> Harness {
    Harness::new(scene(), &rule(extra))
}

const IN: (f32, f32) = (0.4, 0.7);
const OUT: (f32, f32) = (0.8, 0.7);
/// 10 and 5 detections per second.
const TENTH: u64 = 100 * MS;
const FIFTH: u64 = 200 * MS;

fn times(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.t_ns).collect()
}

#[test]
fn dwell_below_min_seconds_no_event() {
    let mut h = harness("min_seconds = 2.0");
    let mut frames = h.walk(1, (0, 1_900 * MS, TENTH), |_| IN);
    frames.extend(h.walk(1, (2 * S, 5 * S, TENTH), |_| OUT));
    assert!(h.run(frames).is_empty());
}

#[test]
fn one_person_inside_is_one_alert_with_its_count_and_measurements() {
    let mut h = harness("min_seconds = 2.0");
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
    assert_eq!(ev.people, Some(1));
    assert!(matches!(
        ev.incident,
        Some(IncidentRef { update: false, .. })
    ));
    assert_eq!(ev.overlay.polygons.len(), 1);
    assert_eq!(ev.overlay.count, Some(1));
    let m: Vec<(&str, f64, Option<f64>, &str)> = ev
        .measurements
        .iter()
        .map(|m| (m.name.as_str(), m.value, m.threshold, m.unit.as_str()))
        .collect();
    assert_eq!(m[0].0, "dwell");
    assert!((m[0].1 - 2.0).abs() < 1e-6 && m[0].2 == Some(2.0) && m[0].3 == "s");
    // Uncalibrated: depth and margin in body heights (box 0.2 high, 0.2 inside the left edge
    // once x is scaled by the 4:3 aspect: 0.4 * 4/3 - 0.2 * 4/3 = 0.267 = 1.33 bodies; the top
    // and bottom edges are 0.3 and 0.2 away: 1 body).
    assert_eq!(m[1].0, "depth");
    assert!((m[1].1 - 1.0).abs() < 1e-5 && m[1].3 == "body", "{m:?}");
    assert!((m[1].2.unwrap() - 0.15).abs() < 1e-6);
    assert_eq!((m[3].0, m[3].1), ("people", 1.0));
    for needle in [
        "r1",
        "Quai 2",
        "z1",
        "1 person",
        "2.0 s",
        "track 7",
        "0.15 body",
    ] {
        assert!(
            ev.explanation.contains(needle),
            "{needle}: {}",
            ev.explanation
        );
    }
}

#[test]
fn min_seconds_zero_fires_on_the_first_counting_frame() {
    let mut h = harness("min_seconds = 0");
    let p = h.person(1, IN);
    assert_eq!(h.step(42, &[p]).len(), 1);
}

/// The walker of the issue: walking down the zone's left edge (x = 0.2) for 20 s with the feet
/// detected just inside it, 0.004 to 0.02 of the image width in (closer than the margin, 0.15
/// of a body height): no alert. The same walk without a margin alerts, as it did before.
#[test]
fn kerb_walker_along_the_edge_does_not_alert() {
    let walk = |h: &Harness| {
        h.walk(1, (0, 20 * S, FIFTH), |t| {
            let k = (t / FIFTH) as f32;
            (
                0.212 + 0.008 * (k * 1.7).sin(),
                0.45 + 0.4 * (t as f32 / (20 * S) as f32),
            )
        })
    };
    let mut h = harness("min_seconds = 1.0");
    let frames = walk(&h);
    assert!(h.run(frames).is_empty(), "a kerb walker raised an alert");
    let mut no_margin = harness("min_seconds = 1.0\nmargin_body = 0");
    let frames = walk(&no_margin);
    assert!(
        !no_margin.run(frames).is_empty(),
        "the test walk never enters"
    );
}

/// The same on a calibrated camera: along the zone's near edge (2 m from the square's side)
/// with the feet 0.02 to 0.22 m inside, within the 0.3 m margin.
#[test]
fn kerb_walker_on_a_calibrated_camera_does_not_alert() {
    let walk = |h: &Harness| -> Vec<(u64, Vec<Object>)> {
        (0..=100u64)
            .map(|k| {
                let g = (2.5 + 0.07 * k as f32, 2.12 + 0.1 * (k as f32 * 1.3).sin());
                (k * FIFTH, vec![h.person_on_ground(1, g)])
            })
            .collect()
    };
    let mut h = Harness::new(ground_scene(), &rule("min_seconds = 1.0"));
    let frames = walk(&h);
    assert!(h.run(frames).is_empty(), "a kerb walker raised an alert");
    let mut no_margin = Harness::new(ground_scene(), &rule("min_seconds = 1.0\nmargin_m = 0"));
    let frames = walk(&no_margin);
    assert!(
        !no_margin.run(frames).is_empty(),
        "the test walk never enters"
    );
}

/// Inside, then the feet wander into the band along the edge and back: still the same entry
/// (no second alert even with no incident window); out by the margin and back in: a new entry.
#[test]
fn leaving_needs_the_margin_too() {
    let mut h = harness("min_seconds = 1.0\nincident_seconds = 0\ncooldown_seconds = 0");
    let mut frames = h.walk(1, (0, 2 * S, FIFTH), |_| (0.25, 0.7)); // 0.067 inside: in
    frames.extend(h.walk(1, (2_200 * MS, 4 * S, FIFTH), |_| (0.21, 0.7))); // band
    frames.extend(h.walk(1, (4_200 * MS, 6 * S, FIFTH), |_| (0.25, 0.7)));
    assert_eq!(times(&h.run(frames)), vec![S]);
    let mut frames = h.walk(1, (6_200 * MS, 7 * S, FIFTH), |_| (0.15, 0.7)); // out
    frames.extend(h.walk(1, (7_200 * MS, 9 * S, FIFTH), |_| (0.25, 0.7)));
    assert_eq!(times(&h.run(frames)), vec![8_200 * MS]);
}

/// The second finding of the issue: a false alarm (something taken for a person, standing in
/// the zone's far corner) fires; 10 s later two people walk in together at the other side. They
/// get their own alert, as fast as any entry, whatever the cooldown.
#[test]
fn a_false_alarms_cooldown_does_not_hide_a_real_entry_10_s_later() {
    let mut h = harness("min_seconds = 1.0\ncooldown_seconds = 15");
    let frames: Vec<_> = (0..=75u64)
        .map(|k| {
            let t = k * FIFTH;
            let mut objects = vec![h.person(1, (0.57, 0.45))]; // the false alarm
            if t >= 10 * S {
                // Walking right from x = 0.1 at 0.12 image widths (0.8 body heights, about
                // 1.4 m) per second, side by side: the feet cross the edge (x = 0.2) at 10.83 s
                // and the margin (0.0225 of the width further) at 11.02 s.
                let x = 0.1 + 0.12 * ((t - 10 * S) as f32 / 1e9);
                objects.push(h.person(2, (x.min(0.4), 0.6)));
                objects.push(h.person(3, (x.min(0.4), 0.66)));
            }
            (t, objects)
        })
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0].t_ns, events[0].people), (S, Some(1)));
    let entry = &events[1];
    assert_eq!(
        entry.incident.map(|i| i.update),
        Some(false),
        "a new incident"
    );
    assert_eq!(entry.people, Some(2), "they entered together");
    let crossed = 10_833 * MS;
    assert!(
        entry.t_ns <= crossed + S + 500 * MS,
        "alert {} ms after the entry",
        (entry.t_ns - crossed) / MS
    );
    assert_ne!(events[0].incident.unwrap().id, entry.incident.unwrap().id);
}

/// The first finding: the same person alerted again after their track id changed. Track 1
/// enters and is alerted; it is lost behind an obstacle for a second and comes back as track 2
/// where it was: the incident is updated silently. Someone else walking in from outside later is
/// a new alert.
#[test]
fn a_new_track_id_of_the_same_person_updates_the_incident() {
    let mut h = harness("min_seconds = 1.0");
    let mut frames = h.walk(1, (0, 5 * S, FIFTH), |_| IN);
    frames.push((5_200 * MS, Vec::new()));
    frames.push((5_400 * MS, Vec::new()));
    frames.push((5_600 * MS, Vec::new()));
    frames.extend(h.walk(2, (5_800 * MS, 15 * S, FIFTH), |_| (0.41, 0.7)));
    let events = h.run(frames);
    assert_eq!(times(&events), vec![S], "{events:?}");
    // Another person walks in from the right 20 s later, next to where track 2 stands.
    let frames = h.walk(3, (15_200 * MS, 25 * S, FIFTH), |t| {
        let x = 0.8 - 0.1 * ((t - 15 * S) as f32 / 1e9);
        (x.max(0.45), 0.7)
    });
    let events = h.run(frames);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].track_id(), Some(3));
}

/// Re-entering within the incident window updates it silently; after the window, a new alert.
#[test]
fn re_entry_within_the_incident_window_is_the_same_incident() {
    let mut h = harness("min_seconds = 1.0\nincident_seconds = 10\ncooldown_seconds = 0");
    let mut frames = h.walk(1, (0, 2 * S, FIFTH), |_| IN);
    frames.extend(h.walk(1, (2_200 * MS, 5 * S, FIFTH), |_| OUT));
    frames.extend(h.walk(1, (5_200 * MS, 8 * S, FIFTH), |_| IN)); // re-entry: silent
    frames.extend(h.walk(1, (8_200 * MS, 20 * S, FIFTH), |_| OUT)); // closes at 18 s
    frames.extend(h.walk(1, (20_200 * MS, 23 * S, FIFTH), |_| IN)); // new incident
    assert_eq!(times(&h.run(frames)), vec![S, 21_200 * MS]);
}

/// Two people walking in side by side: one alert counting 2. A third joins them a second later:
/// one update of the same incident counting 3, no earlier than the incident's cooldown.
#[test]
fn people_entering_together_are_one_incident_with_their_count() {
    let mut h = harness("min_seconds = 1.0\ncooldown_seconds = 3");
    let frames: Vec<_> = (0..=50u64)
        .map(|k| {
            let t = k * FIFTH;
            let mut objects = vec![h.person(1, (0.30, 0.6)), h.person(2, (0.33, 0.62))];
            if t >= 1_600 * MS {
                objects.push(h.person(3, (0.36, 0.6)));
            }
            (t, objects)
        })
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 2, "{events:?}");
    let (open, update) = (&events[0], &events[1]);
    assert_eq!(
        (open.t_ns, open.people, open.objects.len()),
        (S, Some(2), 2)
    );
    assert_eq!(update.people, Some(3));
    assert_eq!(update.objects.len(), 3);
    assert_eq!(
        update.t_ns,
        4 * S,
        "the incident's cooldown spaces its alerts"
    );
    let (a, b) = (open.incident.unwrap(), update.incident.unwrap());
    assert_eq!((a.id, a.update, b.update), (b.id, false, true));
    assert!(
        update.explanation.contains("now 3 persons"),
        "{}",
        update.explanation
    );
}

/// While one incident is open, someone entering far from it, later, is a new incident.
#[test]
fn someone_else_entering_later_is_a_new_incident() {
    let mut h = harness("min_seconds = 1.0");
    let frames: Vec<_> = (0..=50u64)
        .map(|k| {
            let t = k * FIFTH;
            let mut objects = vec![h.person(1, (0.25, 0.5))];
            if t >= 5 * S {
                objects.push(h.person(2, (0.55, 0.85)));
            }
            (t, objects)
        })
        .collect();
    let events = h.run(frames);
    assert_eq!(times(&events), vec![S, 6 * S]);
    assert!(events.iter().all(|e| e.people == Some(1)));
}

#[test]
fn class_not_configured_no_event() {
    let mut h = harness("min_seconds = 1.0");
    let frames: Vec<_> = (0..=50u64)
        .map(|k| (k * TENTH, vec![h.object(1, CAR, IN, 0.2)]))
        .collect();
    assert!(h.run(frames).is_empty());
}

#[test]
fn unconfirmed_missed_or_low_score_objects_do_not_count() {
    let mut h = harness("min_seconds = 1.0");
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
    let mut h = harness("min_seconds = 1.0");
    let scene = scene();
    let feet_out = Object::detected(
        1,
        PERSON,
        BBox::new(0.35, 0.5, 0.45, 0.95),
        0.9,
        (0.0, 0.0),
        &scene,
    );
    let feet_in = Object::detected(
        2,
        PERSON,
        BBox::new(0.45, 0.0, 0.55, 0.5),
        0.9,
        (0.0, 0.0),
        &scene,
    );
    let frames: Vec<_> = (0..=30u64)
        .map(|k| (k * TENTH, vec![feet_out.clone(), feet_in.clone()]))
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].track_id(), Some(2));
}

/// A short miss holds the state: the predicted box wandering outside neither ends nor fires it;
/// the event fires on the next matched frame inside.
#[test]
fn short_miss_holds_the_entry() {
    let mut h = harness("min_seconds = 2.0");
    let mut frames = h.walk(1, (0, S, TENTH), |_| IN);
    frames.extend((11..=25u64).map(|k| {
        let mut p = h.person(1, OUT);
        p.missed = true;
        (k * TENTH, vec![p])
    }));
    frames.extend(h.walk(1, (2_600 * MS, 3 * S, TENTH), |_| IN));
    assert_eq!(times(&h.run(frames)), vec![2_600 * MS]);
}

#[test]
fn reset_forgets_everything() {
    let mut h = harness("min_seconds = 2.0\nincident_seconds = 600");
    let frames = h.walk(1, (0, 3 * S, TENTH), |_| IN);
    assert_eq!(h.run(frames).len(), 1);
    h.rule.reset();
    let frames = h.walk(1, (0, 3 * S, TENTH), |_| IN);
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
    let mut h = Harness::new(scene, &rule("min_seconds = 0.5"));
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

/// Where the feet are at a time (s).
type Path = dyn Fn(f32) -> (f32, f32);

/// Entry to alert at 5 detections per second, through the real tracker and the camera's rules:
/// a person walks in at 1.4 m/s (calibrated) or 0.8 body heights per second (uncalibrated). The
/// alert comes at most `min_seconds` + 0.5 s after the feet crossed the zone's edge.
#[test]
fn latency_from_entry_to_alert_is_within_min_seconds_plus_half_a_second() {
    for min_seconds in [1.0f32, 2.0] {
        for calibrated in [false, true] {
            let (scene, path): (Scene, Box<Path>) = if calibrated {
                let cal = calibration();
                // Along y = 7 m from x = -1 m: crosses the zone's edge x = 2 m at 3/1.4 s.
                let path = move |t: f32| cal.to_image((-1.0 + 1.4 * t, 7.0)).expect("visible");
                (ground_scene(), Box::new(path))
            } else {
                // Body 0.2 image heights; 0.8 bodies/s = 0.16 heights/s = 0.12 widths/s (4:3).
                // From x = 0.0: crosses the edge x = 0.2 at 1.667 s.
                (scene(), Box::new(|t: f32| (0.12 * t, 0.7)))
            };
            let crossed = if calibrated { 3.0 / 1.4 } else { 0.2 / 0.12 };
            let config = rule_config(&rule(&format!("min_seconds = {min_seconds}")));
            let mut rules = CameraRules::build(scene, &[config], labels());
            let mut tracker = Tracker::new(TrackerConfig::default());
            let mut fired = None;
            for k in 0..40u64 {
                let t = k * FIFTH;
                let (x, y) = path(t as f32 / 1e9);
                let det = Detection {
                    class_id: PERSON,
                    score: 0.8,
                    bbox: BBox::new(x - 0.03, y - 0.2, x + 0.03, y),
                };
                let tracks = tracker.update(&[det], t);
                let events = rules.evaluate(FrameInput {
                    t_ns: t,
                    tracks,
                    detections: &[det],
                    frame: None,
                    poses: &[],
                    models: &[],
                });
                if let Some(e) = events.first() {
                    fired = Some(e.t_ns as f32 / 1e9);
                    break;
                }
            }
            let fired = fired.unwrap_or_else(|| panic!("no alert (calibrated: {calibrated})"));
            let latency = fired - crossed;
            assert!(
                latency <= min_seconds + 0.5 && latency >= min_seconds,
                "calibrated {calibrated}, min_seconds {min_seconds}: alert {latency:.2} s after \
                 the entry"
            );
        }
    }
}

/// A zone against the right border of the image: that edge is nobody's way in. Someone coming
/// into view there is inside at once (no margin to cross), and is a newcomer even where a member
/// of an open incident was just lost: a new alert, not that member's new track id.
#[test]
fn someone_coming_into_view_at_the_border_is_inside_and_a_newcomer() {
    let zone = Zone::new(
        "z1",
        "Quai",
        vec![(0.5, 0.4), (1.0, 0.4), (1.0, 0.9), (0.5, 0.9)],
    );
    let mut h = Harness::new(
        Scene::new(vec![zone], Vec::new()),
        &rule("min_seconds = 1.0"),
    );
    let mut frames = h.walk(1, (0, 4 * S, FIFTH), |_| (0.9, 0.7));
    frames.push((4_200 * MS, Vec::new())); // track 1 lost
                                           // Track 2 comes into view at the right border, next to where track 1 was lost.
    frames.extend((0..=10u64).map(|k| {
        let t = 4_400 * MS + k * FIFTH;
        let x = 0.99 - 0.01 * k as f32;
        let o = Object::detected(
            2,
            PERSON,
            BBox::new(x - 0.03, 0.5, (x + 0.03).min(1.0), 0.7),
            0.9,
            (-0.05, 0.0),
            &h.scene,
        );
        (t, vec![o])
    }));
    let events = h.run(frames);
    assert_eq!(times(&events), vec![S, 5_400 * MS], "{events:?}");
    assert_eq!(events[1].track_id(), Some(2));
}

/// Two people who cross each other at the same moment, one walking in, the other walking in
/// the opposite direction, are not a group: two incidents, two alerts.
#[test]
fn people_crossing_each_other_are_not_a_group() {
    let mut h = harness("min_seconds = 1.0");
    let scene = scene();
    let at = |id: u64, x: f32, vx: f32| {
        Object::detected(
            id,
            PERSON,
            BBox::new(x - 0.03, 0.5, x + 0.03, 0.7),
            0.9,
            (vx, 0.0),
            &scene,
        )
    };
    let frames: Vec<_> = (0..=15u64)
        .map(|k| {
            let s = k as f32 * 0.2;
            let t = k * FIFTH;
            // Both inside from the first frame, 0.04 apart at 1 s, moving apart at 0.24 widths
            // (1.6 body heights) per second relative to each other.
            (
                t,
                vec![at(1, 0.38 + 0.12 * s, 0.12), at(2, 0.54 - 0.12 * s, -0.12)],
            )
        })
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.people == Some(1) && e.t_ns == S));
    // The same two walking side by side are one incident of 2.
    let mut h = harness("min_seconds = 1.0");
    let frames: Vec<_> = (0..=15u64)
        .map(|k| {
            let s = k as f32 * 0.2;
            (
                k * FIFTH,
                vec![at(1, 0.3 + 0.05 * s, 0.05), at(2, 0.34 + 0.05 * s, 0.05)],
            )
        })
        .collect();
    let events = h.run(frames);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].people, Some(2));
}
