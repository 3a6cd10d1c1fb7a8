use super::*;

const W: u32 = 416;
const H: u32 = 416;

fn at(t0: Instant, s: f32) -> Instant {
    t0 + Duration::from_secs_f32(s)
}

fn cfg() -> HealthConfig {
    HealthConfig {
        offline_seconds: 3.0,
        frozen_seconds: 4.0,
        obstructed_seconds: 2.0,
        obstructed_ratio: 0.25,
    }
}

fn uniform(v: u8) -> Vec<u8> {
    vec![v; (W * H * 3) as usize]
}

/// A textured synthetic image: stripes shifted by `phase`, plus deterministic noise of `noise`
/// levels seeded by `seed`.
fn texture(phase: usize, noise: u8, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut out = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H as usize {
        for xx in 0..W as usize {
            let base = if ((xx + phase) / 16 + y / 16).is_multiple_of(2) {
                60u8
            } else {
                180
            };
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = if noise == 0 {
                0
            } else {
                ((x >> 33) % (2 * u64::from(noise) + 1)) as i16 - i16::from(noise)
            };
            let v = (i16::from(base) + n).clamp(0, 255) as u8;
            out.extend_from_slice(&[v, v, v]);
        }
    }
    out
}

fn stats(bgr: &[u8]) -> FrameStats {
    FrameStats::compute(bgr, W, H)
}

#[test]
fn stats_of_uniform_and_textured_images() {
    let black = stats(&uniform(0));
    assert_eq!(black.luma, 0.0);
    assert_eq!(black.detail, 0.0);
    let grey = stats(&uniform(128));
    assert!((grey.luma - 127.0).abs() < 1.5, "{}", grey.luma);
    assert_eq!(grey.detail, 0.0);
    let t = stats(&texture(0, 0, 1));
    assert!(t.detail > 5.0, "detail {}", t.detail);
    assert!((t.luma - 120.0).abs() < 5.0, "luma {}", t.luma);
    // A wrong-sized buffer never panics.
    let bad = FrameStats::compute(&[1, 2, 3], W, H);
    assert_eq!(bad.detail, 0.0);
}

#[test]
fn fingerprint_ignores_noise_but_sees_motion() {
    let a = stats(&texture(0, 4, 1));
    let b = stats(&texture(0, 4, 2));
    assert!(a.same_image(&b), "noise only: {:?}", a.difference(&b));
    let moved = stats(&texture(8, 4, 3));
    assert!(!a.same_image(&moved), "moved: {:?}", a.difference(&moved));
}

/// Feeds `n` frames at 5 fps from second `from`; returns the events.
fn feed(
    m: &mut HealthMonitor,
    t0: Instant,
    from: f32,
    n: usize,
    mut frame: impl FnMut(usize) -> Vec<u8>,
) -> Vec<(f32, FaultEvent)> {
    let mut out = Vec::new();
    for i in 0..n {
        let s = from + i as f32 * 0.2;
        if let Some(e) = m.observe_frame(stats(&frame(i)), at(t0, s)) {
            out.push((s, e));
        }
        if let Some(e) = m.tick(at(t0, s), Some(Duration::ZERO)) {
            out.push((s, e));
        }
    }
    out
}

#[test]
fn synthetic_black_then_back_is_one_obstructed_then_restored() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    let ev = feed(&mut m, t0, 0.0, 50, |i| texture(i * 4, 3, i as u64));
    assert!(ev.is_empty(), "{ev:?}");
    let ev = feed(&mut m, t0, 10.0, 50, |_| uniform(0));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Obstructed);
    assert!((ev[0].0 - 12.0).abs() < 0.3, "after {} s", ev[0].0);
    assert!(
        ev[0].1.explanation.contains("2 s"),
        "{}",
        ev[0].1.explanation
    );
    assert_eq!(m.open_fault(), Some(Fault::Obstructed));
    let ev = feed(&mut m, t0, 20.0, 50, |i| texture(i * 4, 3, 100 + i as u64));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        ev[0].1.kind,
        FaultKind::Restored {
            of: Fault::Obstructed
        }
    );
    assert!((ev[0].0 - 22.0).abs() < 0.3, "after {} s", ev[0].0);
    assert_eq!(m.open_fault(), None);
}

#[test]
fn repeated_frames_freeze_even_with_noise_and_moving_frames_do_not() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    let ev = feed(&mut m, t0, 0.0, 100, |i| texture(i * 2, 3, i as u64));
    assert!(ev.is_empty(), "{ev:?}");
    // The same image with fresh noise each frame (encoder noise): frozen once, after 4 s.
    let ev = feed(&mut m, t0, 20.0, 100, |i| texture(7, 3, 1000 + i as u64));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Frozen);
    assert!((ev[0].0 - 24.0).abs() < 0.3, "after {} s", ev[0].0);
    let ev = feed(&mut m, t0, 40.0, 30, |i| texture(i * 2, 3, i as u64));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Restored { of: Fault::Frozen });
}

#[test]
fn offline_fires_from_tick_once_and_restores_when_frames_return() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    assert!(feed(&mut m, t0, 0.0, 20, |i| texture(i, 2, i as u64)).is_empty());
    let last = at(t0, 3.8);
    let mut events = Vec::new();
    for k in 0..40 {
        let now = at(t0, 4.0 + k as f32 * 0.5);
        if let Some(e) = m.tick(now, Some(now - last)) {
            events.push((k, e));
        }
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1.kind, FaultKind::Offline);
    assert!(events[0].1.explanation.contains("threshold 3 s"));
    // Frames again: restored after 2 s of frames, once.
    let ev = feed(&mut m, t0, 30.0, 30, |i| texture(i, 2, i as u64));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Restored { of: Fault::Offline });
}

#[test]
fn a_camera_that_never_sends_is_offline() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    assert!(m.tick(at(t0, 2.0), None).is_none());
    let e = m.tick(at(t0, 3.5), None).unwrap();
    assert_eq!(e.kind, FaultKind::Offline);
    assert!(m.tick(at(t0, 10.0), None).is_none());
}

#[test]
fn one_open_fault_a_black_image_is_not_also_frozen_and_offline_does_not_stack() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    feed(&mut m, t0, 0.0, 30, |i| texture(i * 3, 2, i as u64));
    let ev = feed(&mut m, t0, 6.0, 150, |_| uniform(0));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Obstructed);
    // Then the stream stops: the obstructed fault stays the open one, no second alert.
    let last = at(t0, 36.0);
    for k in 0..20 {
        let now = at(t0, 37.0 + k as f32);
        assert!(m.tick(now, Some(now - last)).is_none());
    }
    assert_eq!(m.open_fault(), Some(Fault::Obstructed));
}

#[test]
fn a_camera_that_starts_black_is_obstructed() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    let ev = feed(&mut m, t0, 0.0, 30, |_| uniform(16));
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].1.kind, FaultKind::Obstructed);
    assert!(ev[0].1.explanation.contains("uniform"));
}

#[test]
fn zero_disables_a_check() {
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(
        HealthConfig {
            offline_seconds: 0.0,
            frozen_seconds: 0.0,
            obstructed_seconds: 0.0,
            obstructed_ratio: 0.25,
        },
        t0,
    );
    assert!(feed(&mut m, t0, 0.0, 100, |_| uniform(0)).is_empty());
    assert!(feed(&mut m, t0, 20.0, 100, |_| texture(0, 0, 0)).is_empty());
    assert!(m
        .tick(at(t0, 100.0), Some(Duration::from_secs(90)))
        .is_none());
}

fn clip_frames() -> &'static [Vec<u8>] {
    crate::testing::vtest_frames()
}

#[test]
fn real_walking_scene_is_never_frozen_nor_obstructed() {
    let frames = clip_frames();
    // At 5 fps (every 2nd frame) like the default detection rate, and at 10 fps.
    for step in [2usize, 1] {
        let t0 = Instant::now();
        let mut m = HealthMonitor::new(
            HealthConfig {
                offline_seconds: 3.0,
                frozen_seconds: 2.0,
                obstructed_seconds: 1.0,
                obstructed_ratio: 0.25,
            },
            t0,
        );
        let mut min_detail = f32::MAX;
        for (k, f) in frames.iter().step_by(step).enumerate() {
            let t = at(t0, k as f32 * 0.1 * step as f32);
            let s = stats(f);
            min_detail = min_detail.min(s.detail);
            let e = m.observe_frame(s, t);
            assert!(e.is_none(), "frame {k} (step {step}): {e:?}");
        }
        assert!(min_detail > 3.0, "min detail {min_detail}");
    }
    // Numbers for the README (printed, not asserted): the cost of the statistics, the detail
    // range and the largest fingerprint change between frames 0.2 s apart that still count as
    // "the same image" never lasting long.
    let t = Instant::now();
    let all: Vec<FrameStats> = frames.iter().map(|f| stats(f)).collect();
    let per_frame = t.elapsed() / frames.len() as u32;
    let details: Vec<f32> = all.iter().map(|s| s.detail).collect();
    let min_mean_diff = all
        .windows(3)
        .map(|w| w[0].difference(&w[2]).0)
        .fold(f32::MAX, f32::min);
    eprintln!(
        "FrameStats::compute {per_frame:?}/frame (416x416); detail {:.1}..{:.1}; smallest mean block change over 0.2 s {:.2} levels",
        details.iter().cloned().fold(f32::MAX, f32::min),
        details.iter().cloned().fold(0.0, f32::max),
        min_mean_diff
    );
}

#[test]
fn real_scene_then_black_then_back_then_repeated() {
    let frames = clip_frames();
    let t0 = Instant::now();
    let mut m = HealthMonitor::new(cfg(), t0);
    let mut events = Vec::new();
    let mut t = 0.0f32;
    let push = |m: &mut HealthMonitor, f: &[u8], t: f32, events: &mut Vec<(f32, FaultEvent)>| {
        if let Some(e) = m.observe_frame(stats(f), at(t0, t)) {
            events.push((t, e));
        }
    };
    // 10 s of the real scene at 5 fps.
    for f in frames.iter().step_by(2).take(50) {
        push(&mut m, f, t, &mut events);
        t += 0.2;
    }
    assert!(events.is_empty(), "{events:?}");
    // Black (as a covered lens through an encoder: luma 16) for 6 s.
    let black_from = t;
    for _ in 0..30 {
        push(&mut m, &uniform(16), t, &mut events);
        t += 0.2;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1.kind, FaultKind::Obstructed);
    let after = events[0].0 - black_from;
    assert!((2.0..2.5).contains(&after), "obstructed after {after} s");
    // The real scene again: restored after 2 s.
    for f in frames.iter().step_by(2).skip(50).take(25) {
        push(&mut m, f, t, &mut events);
        t += 0.2;
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1].1.kind,
        FaultKind::Restored {
            of: Fault::Obstructed
        }
    );
    // One real frame repeated: frozen after 4 s, once, even with a little noise added.
    let still = &frames[400];
    let frozen_from = t;
    for i in 0..50u32 {
        let mut f = still.clone();
        for (j, p) in f.iter_mut().enumerate() {
            let n = ((j as u32).wrapping_mul(2654435761).wrapping_add(i * 7919) >> 29) as u8; // 0..7
            *p = p.saturating_add(n / 2).saturating_sub(2);
        }
        push(&mut m, &f, t, &mut events);
        t += 0.2;
    }
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2].1.kind, FaultKind::Frozen);
    let after = events[2].0 - frozen_from;
    assert!((4.0..4.5).contains(&after), "frozen after {after} s");
    // The brightness collapse of a dark cover with some texture left (spray): obstructed needs
    // the fault to be restored first, so walk again, then darken the real image.
    for f in frames.iter().step_by(2).skip(100).take(50) {
        push(&mut m, f, t, &mut events);
        t += 0.2;
    }
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3].1.kind, FaultKind::Restored { of: Fault::Frozen });
    for f in frames.iter().step_by(2).skip(150).take(20) {
        let dark: Vec<u8> = f.iter().map(|p| p / 8).collect();
        push(&mut m, &dark, t, &mut events);
        t += 0.2;
    }
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[4].1.kind, FaultKind::Obstructed);
}
