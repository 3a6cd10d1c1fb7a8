//! Background model tests on the real clip (vtest.avi decoded by GStreamer, 416x416, fed at
//! 5 frames/s like the engine's default detection rate). The "bag" is **built**: a 12x12-pixel
//! patch of a pedestrian's dark jacket cut from the clip's first frame, pasted onto the paved
//! square of later frames, behind the people who walk over it (pasted only where the frame
//! shows the empty scene, per a median background of the clip).

use std::sync::OnceLock;

use super::*;
use crate::testing::{vtest_frames, SIDE};

const WHOLE: [(f32, f32); 4] = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
/// The square, paths and lawns (below the building and the car park).
const FIELD: [(f32, f32); 4] = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)];
/// Source of the bag patch in frame 0 (x, y of the top-left corner; 416x416 pixels).
const PATCH_FROM: (usize, usize) = (140, 175);
const PATCH: usize = 12;
/// Where the bag is put down.
const BAG_AT: (usize, usize) = (200, 215);
const BAG: BBox = BBox {
    x1: 200.0 / 416.0,
    y1: 215.0 / 416.0,
    x2: 212.0 / 416.0,
    y2: 227.0 / 416.0,
};
const FPS: f64 = 10.0;

fn idx(x: usize, y: usize) -> usize {
    (y * SIDE as usize + x) * 3
}

/// Per-pixel median of 40 frames spread over the clip: the empty scene.
fn median_scene() -> &'static Vec<u8> {
    static MEDIAN: OnceLock<Vec<u8>> = OnceLock::new();
    MEDIAN.get_or_init(|| {
        let frames = vtest_frames();
        let picks: Vec<&Vec<u8>> = (0..40).map(|k| &frames[k * frames.len() / 40]).collect();
        let mut vals = Vec::with_capacity(picks.len());
        (0..picks[0].len())
            .map(|i| {
                vals.clear();
                vals.extend(picks.iter().map(|f| f[i]));
                vals.sort_unstable();
                vals[vals.len() / 2]
            })
            .collect()
    })
}

/// Pastes the bag patch into `frame` where the frame shows the empty scene (people walking
/// over the bag hide it).
fn paste_bag(frame: &mut [u8]) {
    let src = &vtest_frames()[0];
    let median = median_scene();
    for dy in 0..PATCH {
        for dx in 0..PATCH {
            let d = idx(BAG_AT.0 + dx, BAG_AT.1 + dy);
            let occluded = (0..3).any(|c| frame[d + c].abs_diff(median[d + c]) > 40);
            if !occluded {
                let s = idx(PATCH_FROM.0 + dx, PATCH_FROM.1 + dy);
                frame[d..d + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
    }
}

fn overlaps(a: &BBox, b: &BBox) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

/// Runs the model over the clip at 5 frames/s, `edit` changing each frame (frame number,
/// pixels); returns `(t, update)` per analysed frame.
fn run(
    model: &mut BackgroundModel,
    edit: impl Fn(usize, &mut Vec<u8>),
) -> Vec<(f64, BackgroundUpdate)> {
    let mut out = Vec::new();
    for (n, f) in vtest_frames().iter().enumerate().step_by(2) {
        let mut frame = f.clone();
        edit(n, &mut frame);
        let t = n as f64 / FPS;
        out.push((t, model.update(&frame, t).unwrap()));
    }
    out
}

fn model() -> BackgroundModel {
    BackgroundModel::new(&FIELD, SIDE, SIDE, BackgroundParams::default()).unwrap()
}

fn bag_blob(u: &BackgroundUpdate) -> Option<&StaticBlob> {
    u.blobs.iter().find(|b| overlaps(&b.bbox, &BAG))
}

/// The real clip alone, over the square and lawns: people walk, some stop for a few seconds;
/// nothing stays still for 10 s (an abandoned-object rule waits far longer), no re-learning.
/// Over the whole picture, the one long-lived blob is real: a parked car's boot opened near the
/// end of the clip (top right), found as a new still thing.
#[test]
fn the_real_clip_has_no_long_lived_static_blob() {
    let mut m = model();
    let updates = run(&mut m, |_, _| {});
    let longest = updates
        .iter()
        .flat_map(|(_, u)| u.blobs.iter().map(|b| b.static_seconds))
        .fold(0.0f32, f32::max);
    eprintln!("real clip, square and lawns: longest static blob {longest:.1} s");
    assert!(longest < 10.0, "{longest}");
    assert_eq!(
        updates.iter().filter(|(_, u)| u.relearned).count(),
        1,
        "only the first frame"
    );

    let mut whole = BackgroundModel::new(&WHOLE, SIDE, SIDE, BackgroundParams::default()).unwrap();
    let long: Vec<(f64, StaticBlob)> = run(&mut whole, |_, _| {})
        .into_iter()
        .flat_map(|(t, u)| u.blobs.into_iter().map(move |b| (t, b)))
        .filter(|(_, b)| b.static_seconds >= 9.0)
        .collect();
    eprintln!("whole picture: blobs of 9 s or more: {long:?}");
    assert!(!long.is_empty(), "the open boot is found");
    for (t, b) in long {
        assert!(
            t > 65.0 && b.bbox.x1 > 0.9 && b.bbox.y2 < 0.2,
            "t {t}: {b:?}"
        );
    }
}

/// The built bag put down at 20 s on the walked-over square and taken away at 70 s: found
/// within 4 s, its age is the time since it was put down (within 3 s), it stays found while
/// people walk past, and it is gone within 3 s of being taken away. Nothing else lives 10 s.
#[test]
fn a_built_bag_is_found_with_its_age_and_lost_when_taken() {
    let (put, take) = (200usize, 700usize);
    let mut m = model();
    let updates = run(&mut m, |n, f| {
        if (put..take).contains(&n) {
            paste_bag(f)
        }
    });
    let (t_put, t_take) = (put as f64 / FPS, take as f64 / FPS);
    let first = updates
        .iter()
        .find(|(t, u)| *t >= t_put && bag_blob(u).is_some())
        .map(|(t, _)| *t)
        .expect("the bag is found");
    eprintln!("bag put down at {t_put} s, found at {first} s");
    assert!(first - t_put <= 4.0, "found after {} s", first - t_put);
    let present: Vec<_> = updates
        .iter()
        .filter(|(t, _)| *t >= first && *t < t_take)
        .collect();
    let seen = present
        .iter()
        .filter(|(_, u)| bag_blob(u).is_some())
        .count();
    eprintln!("bag found on {seen} of {} frames while down", present.len());
    assert!(
        seen as f64 >= 0.9 * present.len() as f64,
        "{seen} of {}",
        present.len()
    );
    for (t, u) in &present {
        if let Some(b) = bag_blob(u) {
            let since = (*t - t_put) as f32;
            assert!(
                b.static_seconds <= since + 0.5 && b.static_seconds >= since - 3.0,
                "t {t}: age {} for {since} s",
                b.static_seconds
            );
        }
    }
    let gone = updates
        .iter()
        .find(|(t, u)| *t >= t_take && bag_blob(u).is_none())
        .map(|(t, _)| *t)
        .unwrap();
    assert!(
        gone - t_take <= 3.0,
        "still there {} s after",
        gone - t_take
    );
    let others = updates
        .iter()
        .flat_map(|(_, u)| u.blobs.iter().filter(|b| !overlaps(&b.bbox, &BAG)))
        .map(|b| b.static_seconds)
        .fold(0.0f32, f32::max);
    assert!(others < 10.0, "{others}");
}

/// Light: a sudden 30 % darkening at 35 s, a slow brightening over 10 s from 50 s, a sudden fall
/// to 35 % at 60 s and back at 68 s do not make blobs and keep the bag (its age continues); at
/// 75 s the left 60 % of the picture falls to 45 % (part of the lighting off): the scene is
/// re-learnt (reported) instead.
#[test]
fn light_changes_are_relearnt_not_reported() {
    fn scale_slice(f: &mut [u8], k: f32) {
        for v in f.iter_mut() {
            *v = (f32::from(*v) * k).round().min(255.0) as u8;
        }
    }
    let scale = |f: &mut Vec<u8>, k: f32| scale_slice(f, k);
    let mut m = model();
    let updates = run(&mut m, |n, f| {
        if n >= 200 {
            paste_bag(f);
        }
        let t = n as f32 / 10.0;
        let k = match t {
            t if t < 35.0 => 1.0,
            t if t < 50.0 => 0.7,
            t if t < 60.0 => 0.7 + 0.3 * (t - 50.0) / 10.0,
            t if t < 68.0 => 0.35,
            _ => 1.0,
        };
        scale(f, k);
        if t >= 75.0 {
            let row = SIDE as usize * 3;
            for line in f.chunks_exact_mut(row) {
                scale_slice(&mut line[..row * 6 / 10], 0.45);
            }
        }
    });
    let relearned: Vec<f64> = updates
        .iter()
        .filter(|(_, u)| u.relearned)
        .map(|(t, _)| *t)
        .collect();
    eprintln!("re-learnt at {relearned:?}");
    assert_eq!(
        relearned.len(),
        2,
        "first frame and the fall at 75 s: {relearned:?}"
    );
    assert!((75.0..76.0).contains(&relearned[1]), "{relearned:?}");
    let age_at = |t0: f64| {
        updates
            .iter()
            .find(|(t, _)| *t >= t0)
            .and_then(|(_, u)| bag_blob(u))
            .map(|b| b.static_seconds)
    };
    // The bag is found through the darkening, the slow brightening and the deep fall; its age
    // goes on (it stops for the second or two each sudden change looks like movement).
    let mut last_age = 0.0;
    for t in [34.0, 40.0, 55.0, 64.0, 74.0] {
        let age = age_at(t).unwrap_or_else(|| panic!("bag not found at {t} s"));
        eprintln!("t {t}: bag age {age:.1} s");
        assert!(
            age >= (t - 20.0) as f32 - 8.0 && age > last_age,
            "t {t}: age {age}"
        );
        last_age = age;
    }
    let others = updates
        .iter()
        .flat_map(|(_, u)| u.blobs.iter().filter(|b| !overlaps(&b.bbox, &BAG)))
        .map(|b| b.static_seconds)
        .fold(0.0f32, f32::max);
    assert!(others < 10.0, "a light change made a blob of {others} s");
    let gains: Vec<f32> = updates.iter().map(|(_, u)| u.gain).collect();
    assert!(
        gains.iter().any(|&g| (g - 0.7).abs() < 0.03),
        "the 30 % darkening is measured"
    );
    assert!(
        gains.iter().any(|&g| (g - 0.35).abs() < 0.03),
        "the sudden fall to 35 % is measured"
    );
    // Re-learning starts over: every age restarts, the bag is now background (a limit: the
    // rule is told by `relearned`).
    for (t, u) in updates.iter().filter(|(t, _)| *t > 75.0) {
        assert!(bag_blob(u).is_none(), "t {t}");
        for b in &u.blobs {
            assert!(
                f64::from(b.static_seconds) <= t - 75.0 + 0.01,
                "t {t}: {b:?}"
            );
        }
    }
}

/// A crowd passing over the bag for 6 s (built: the pixels of the two pedestrians of frame 0,
/// shifted every frame, pasted over the bag and around it) freezes its age instead of resetting
/// it, and the hidden bag is not reported meanwhile.
#[test]
fn a_crowd_hiding_the_bag_does_not_restart_its_clock() {
    let mut m = model();
    let updates = run(&mut m, |n, f| {
        if n >= 200 {
            paste_bag(f);
        }
        if (400..460).contains(&n) {
            // The man at x 132..156, y 160..220 and the woman at x 268..292, y 90..150 of
            // frame 0: a 20x20 window sliding over them.
            let src = &vtest_frames()[0];
            let k = (n - 400) / 2;
            let (sx, sy) = if k % 2 == 0 {
                (132 + k % 5, 165 + k % 30)
            } else {
                (270 + k % 4, 95 + k % 30)
            };
            for dy in 0..PATCH + 8 {
                for dx in 0..PATCH + 8 {
                    let d = idx(BAG_AT.0 - 4 + dx, BAG_AT.1 - 4 + dy);
                    let s = idx(sx + dx, sy + dy);
                    f[d..d + 3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
    });
    let before = updates
        .iter()
        .rev()
        .find(|(t, u)| *t < 40.0 && bag_blob(u).is_some())
        .unwrap();
    let after = updates
        .iter()
        .find(|(t, u)| *t > 46.0 && bag_blob(u).is_some())
        .unwrap();
    let (a0, a1) = (
        bag_blob(&before.1).unwrap().static_seconds,
        bag_blob(&after.1).unwrap().static_seconds,
    );
    eprintln!(
        "age before the crowd {a0:.1} s (t {}), after {a1:.1} s (t {})",
        before.0, after.0
    );
    assert!(after.0 - 46.0 <= 3.0, "bag back only at {}", after.0);
    assert!(a1 >= a0 - 1.0, "age restarted: {a0} -> {a1}");
    let hidden: Vec<f64> = updates
        .iter()
        .filter(|(t, u)| (41.0..45.0).contains(t) && bag_blob(u).is_some())
        .map(|(t, _)| *t)
        .collect();
    eprintln!("bag reported while hidden at {hidden:?}");
    assert!(
        hidden.len() <= 2,
        "a hidden bag is mostly not reported as static: {hidden:?}"
    );
}

/// `absorb` learns a candidate away; `reset` starts over.
#[test]
fn absorb_and_reset() {
    let mut m = model();
    let frames = vtest_frames();
    let mut last = BackgroundUpdate::default();
    for n in (0..300).step_by(2) {
        let mut f = frames[n].clone();
        if n >= 200 {
            paste_bag(&mut f);
        }
        last = m.update(&f, n as f64 / FPS).unwrap();
    }
    let bag = *bag_blob(&last).expect("bag found");
    m.absorb(bag.bbox);
    for n in (300..330).step_by(2) {
        let mut f = frames[n].clone();
        paste_bag(&mut f);
        let u = m.update(&f, n as f64 / FPS).unwrap();
        assert!(bag_blob(&u).is_none(), "absorbed bag reported at frame {n}");
    }
    m.reset();
    assert!(m.update(&frames[330], 33.0).unwrap().relearned);
}

#[test]
fn bad_parameters_and_frames_are_errors() {
    let bad = BackgroundParams {
        short_seconds: 0.0,
        ..Default::default()
    };
    let err = BackgroundModel::new(&WHOLE, SIDE, SIDE, bad).unwrap_err();
    assert!(err.to_string().starts_with("short_seconds:"), "{err}");
    let bad = BackgroundParams {
        long_seconds: 1.0,
        ..Default::default()
    };
    let err = BackgroundModel::new(&WHOLE, SIDE, SIDE, bad).unwrap_err();
    assert!(err.to_string().starts_with("long_seconds:"), "{err}");
    let err =
        BackgroundModel::new(&WHOLE[..2], SIDE, SIDE, BackgroundParams::default()).unwrap_err();
    assert!(err.to_string().contains("at least 3 points"), "{err}");
    let mut m = model();
    let err = m.update(&[0u8; 12], 0.0).unwrap_err();
    assert!(err.to_string().contains("416x416"), "{err}");
}
