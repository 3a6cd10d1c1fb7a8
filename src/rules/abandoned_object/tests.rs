use super::*;
use crate::detect::Detection;
use crate::rules::testing::{Harness, S};
use crate::rules::{Scene, Zone};

/// Frames every 200 ms.
const STEP: u64 = 200_000_000;
/// The test labels have no bag: `bicycle` (class 1) stands for one.
const RULE: &str = "type = \"abandoned_object\"\nid = \"left\"\nfield = \"square\"\nclasses = [\"bicycle\"]\nblobs = false\n";

struct Run {
    h: Harness,
    events: Vec<Event>,
}

/// Where things are at one moment: persons (id, feet, first seen) and the bag's box.
struct At {
    persons: Vec<(u64, (f32, f32), u64)>,
    bag: Option<BBox>,
}

const BAG: BBox = BBox {
    x1: 0.5,
    y1: 0.76,
    x2: 0.54,
    y2: 0.8,
};

impl Run {
    fn new(extra: &str) -> Run {
        let scene = Scene::new(
            vec![Zone::new(
                "square",
                "",
                vec![(0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)],
            )],
            Vec::new(),
        );
        Run {
            h: Harness::new(scene, &format!("{RULE}{extra}")),
            events: Vec::new(),
        }
    }

    /// Frames from `from` to `to` seconds, `at(t)` giving the scene.
    fn play(&mut self, from: u64, to: u64, at: impl Fn(u64) -> At) {
        for k in from * S / STEP..to * S / STEP {
            let t = k * STEP;
            let now = at(t);
            let objects: Vec<Object> = now
                .persons
                .iter()
                .map(|&(id, (x, y), first)| {
                    let bbox = BBox::new(x - 0.03, y - 0.2, x + 0.03, y);
                    self.h.tracked((id, 0), bbox, 0.9, (first, t))
                })
                .collect();
            let detections: Vec<Detection> = now
                .bag
                .map(|bbox| Detection {
                    class_id: 1,
                    score: 0.6,
                    bbox,
                })
                .into_iter()
                .collect();
            let events = self.h.step_with(t, &objects, &detections, &[]);
            self.events.extend(events);
        }
    }
}

/// Person 1 walks in, puts the bag down at 10 s, stays until `leaves` s, then walks off right.
fn owner_leaves(leaves: u64) -> impl Fn(u64) -> At {
    move |t| {
        let s = t as f32 / S as f32;
        let x = if s < 10.0 {
            0.1 + 0.04 * s
        } else if s < leaves as f32 {
            0.48
        } else {
            0.48 + 0.1 * (s - leaves as f32)
        };
        At {
            persons: if x < 1.0 {
                vec![(1, (x, 0.8), 0)]
            } else {
                Vec::new()
            },
            bag: (s >= 10.0).then_some(BAG),
        }
    }
}

#[test]
fn a_bag_left_by_its_owner_alerts_after_min_seconds_unattended() {
    let mut r = Run::new("");
    r.play(0, 20, owner_leaves(15));
    assert!(r.events.is_empty());
    // The owner is farther than 2 body heights (0.4) from about 19 s on.
    r.play(20, 78, owner_leaves(15));
    assert!(r.events.is_empty(), "{:?}", r.events);
    r.play(78, 200, owner_leaves(15));
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    let ev = &r.events[0];
    assert_eq!(ev.event_type, EventType::AbandonedObject);
    assert!(ev.t_ns >= 78 * S && ev.t_ns <= 81 * S, "{}", ev.t_ns);
    assert!(
        ev.explanation.contains("its owner (track 1)"),
        "{}",
        ev.explanation
    );
    assert!(
        ev.explanation.contains("a bicycle (detector)"),
        "{}",
        ev.explanation
    );
}

#[test]
fn an_attended_bag_is_not_alerted() {
    let mut r = Run::new("");
    r.play(0, 300, owner_leaves(1000));
    assert!(r.events.is_empty(), "{:?}", r.events);
}

#[test]
fn a_companion_who_stays_keeps_it_attended() {
    let mut r = Run::new("");
    let scene = owner_leaves(15);
    r.play(0, 300, |t| {
        let mut at = scene(t);
        let s = t as f32 / S as f32;
        // Person 2 arrived with the owner (first seen at 1 s) and stays by the bag.
        let x = (0.08 + 0.04 * s).min(0.58);
        at.persons.push((2, (x, 0.82), S));
        at
    });
    assert!(r.events.is_empty(), "{:?}", r.events);
}

#[test]
fn objects_there_when_the_rule_arms_and_carried_bags_are_never_alerted() {
    let mut r = Run::new("");
    r.play(0, 300, |_| At {
        persons: Vec::new(),
        bag: Some(BAG),
    });
    assert!(r.events.is_empty(), "furniture: {:?}", r.events);
    let mut r = Run::new("");
    r.play(0, 300, |t| {
        let x = 0.05 + 0.003 * (t / STEP % 300) as f32;
        At {
            persons: vec![(1, (x, 0.8), 0)],
            bag: Some(BBox::new(x + 0.03, 0.76, x + 0.07, 0.8)),
        }
    });
    assert!(r.events.is_empty(), "carried: {:?}", r.events);
}

#[test]
fn configuration_errors_name_the_field() {
    let check = crate::rules::motion::moving::check;
    let errs = check(
        "type = \"abandoned_object\"\nid = \"a\"\nfield = \"nope\"\nmin_seconds = 10\nclasses = [\"tuba\"]",
        &["z"],
        false,
    )
    .join("\n");
    for field in [
        "rules[0].field",
        "rules[0].min_seconds",
        "rules[0].classes[0]",
    ] {
        assert!(errs.contains(field), "{field}: {errs}");
    }
}
