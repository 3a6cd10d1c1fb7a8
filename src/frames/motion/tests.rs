use super::*;

const W: u32 = 64;
const H: u32 = 48;
const SECOND: u64 = 1_000_000_000;

fn config() -> MotionConfig {
    MotionConfig {
        enabled: true,
        min_detect_fps: 1.0,
        threshold: 6.0,
        min_blocks: 2,
        margin: 0.0,
    }
}

/// A grey frame with a bright square of `side` pixels at (x, y).
fn frame(square: Option<(u32, u32, u32)>) -> Vec<u8> {
    let mut f = vec![100u8; (W * H * 3) as usize];
    if let Some((x0, y0, side)) = square {
        for y in y0..(y0 + side).min(H) {
            for x in x0..(x0 + side).min(W) {
                let i = ((y * W + x) * 3) as usize;
                f[i..i + 3].copy_from_slice(&[200, 200, 200]);
            }
        }
    }
    f
}

/// The left half of the image.
fn left_half(p: (f32, f32)) -> bool {
    p.0 < 0.5
}

#[test]
fn disabled_gate_is_none() {
    let c = MotionConfig::default();
    assert!(!c.enabled);
    assert!(MotionGate::new(&c, 5.0, (W, H), |_| true).is_none());
}

#[test]
fn still_scene_is_skipped_but_refreshed_at_the_minimum_rate() {
    let mut g = MotionGate::new(&config(), 5.0, (W, H), |_| true).unwrap();
    let still = frame(None);
    // At 5 frames/s: the first frame is analysed, then one per second.
    let decisions: Vec<GateDecision> = (0..11)
        .map(|i| g.decide(&still, W, H, i * SECOND / 5))
        .collect();
    use GateDecision::*;
    assert_eq!(
        decisions,
        [Motion, Skip, Skip, Skip, Skip, Refresh, Skip, Skip, Skip, Skip, Refresh]
    );
}

#[test]
fn motion_inside_the_region_is_analysed_outside_it_is_not() {
    let mut g = MotionGate::new(&config(), 5.0, (W, H), left_half).unwrap();
    assert_eq!(g.decide(&frame(None), W, H, 0), GateDecision::Motion);
    // A 16x16 square (4 blocks) on the right half: outside the region.
    let right = frame(Some((40, 16, 16)));
    assert_eq!(g.decide(&right, W, H, SECOND / 5), GateDecision::Skip);
    // The same square on the left half.
    let left = frame(Some((8, 16, 16)));
    assert_eq!(g.decide(&left, W, H, 2 * SECOND / 5), GateDecision::Motion);
    // It stays there: compared with the last analysed frame, nothing changed.
    assert_eq!(g.decide(&left, W, H, 3 * SECOND / 5), GateDecision::Skip);
    // One more changed block (top left) is below min_blocks = 2.
    let mut one_more = left.clone();
    for y in 0..8 {
        let row = (y * W * 3) as usize;
        one_more[row..row + 24].fill(200);
    }
    assert_eq!(
        g.decide(&one_more, W, H, 4 * SECOND / 5),
        GateDecision::Skip
    );
}

#[test]
fn small_changes_add_up_against_the_last_analysed_frame() {
    let mut g = MotionGate::new(&config(), 5.0, (W, H), |_| true).unwrap();
    let level = |v: u8| vec![v; (W * H * 3) as usize];
    assert_eq!(g.decide(&level(100), W, H, 0), GateDecision::Motion);
    // +4 then +8 levels: each step is below the threshold of 6, the sum is not.
    assert_eq!(g.decide(&level(104), W, H, 1), GateDecision::Skip);
    assert_eq!(g.decide(&level(108), W, H, 2), GateDecision::Motion);
}

#[test]
fn margin_grows_the_region() {
    let mut c = config();
    // The region is the left quarter; the square sits just right of it.
    let quarter = |p: (f32, f32)| p.0 < 0.25;
    let square = frame(Some((16, 16, 16)));
    let mut g = MotionGate::new(&c, 5.0, (W, H), quarter).unwrap();
    g.decide(&frame(None), W, H, 0);
    assert_eq!(g.decide(&square, W, H, 1), GateDecision::Skip);
    c.margin = 0.2;
    let mut g = MotionGate::new(&c, 5.0, (W, H), quarter).unwrap();
    g.decide(&frame(None), W, H, 0);
    assert_eq!(g.decide(&square, W, H, 1), GateDecision::Motion);
}

#[test]
fn a_frame_of_another_size_is_never_skipped() {
    let mut g = MotionGate::new(&config(), 5.0, (W, H), |_| true).unwrap();
    let small = vec![100u8; 32 * 32 * 3];
    assert_eq!(g.decide(&small, 32, 32, 0), GateDecision::Motion);
    assert_eq!(g.decide(&small, 32, 32, 1), GateDecision::Motion);
}
