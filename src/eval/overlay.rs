//! Built clips: things pasted into the real frames of a clip, declared as `[[overlays]]` in
//! `scenario.toml` and drawn by `vigie eval` while it writes the segment (losslessly, like any
//! segment). Three kinds:
//!
//! - `cutout`: a polygon cut out of a photo (`image`, a JPEG relative to the scenario) or of a
//!   frame of the clip itself (`frame`), scaled by `scale`, its bottom centre put at `at` (clip
//!   pixels), optionally turned about that point by `turn` keys (clip seconds, degrees clockwise;
//!   linear between keys, held after the last): a person falling, a bag put down.
//! - `flame`: a flickering flame `height` pixels tall standing on `at`: every frame each row's
//!   width and brightness are drawn at random (seeded: the same clip every run). Not real fire.
//! - `patch`: a steady rectangle of one colour (`rect`, `bgr`): a trap for the fire cues.
//!
//! Every overlay is drawn from `from` to `until` (clip seconds, `until` excluded, default the
//! end), in order, over the clip's BGRx pixels.

use crate::testing::XorShift as Rng;
use std::path::Path;

use serde::Deserialize;

use crate::rules::point_in_polygon;

/// One `[[overlays]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Overlay {
    Cutout {
        image: Option<String>,
        frame: Option<u64>,
        polygon: Vec<[f32; 2]>,
        scale: f32,
        at: [f32; 2],
        from: f64,
        until: Option<f64>,
        #[serde(default)]
        turn: Vec<[f64; 2]>,
    },
    Flame {
        at: [f32; 2],
        height: f32,
        from: f64,
        until: Option<f64>,
        #[serde(default)]
        seed: u32,
    },
    Patch {
        rect: [f32; 4],
        bgr: [u8; 3],
        from: f64,
        until: Option<f64>,
    },
}

impl Overlay {
    fn window(&self) -> (f64, Option<f64>) {
        match self {
            Overlay::Cutout { from, until, .. }
            | Overlay::Flame { from, until, .. }
            | Overlay::Patch { from, until, .. } => (*from, *until),
        }
    }

    /// Whether it is drawn at clip time `t`.
    pub fn active(&self, t: f64) -> bool {
        let (from, until) = self.window();
        t >= from && until.is_none_or(|u| t < u)
    }

    /// The first problem of this entry (`field`, message), checked without reading any image.
    pub fn problem(&self, dir: &Path) -> Option<(&'static str, String)> {
        let (from, until) = self.window();
        if !(from.is_finite() && from >= 0.0) || until.is_some_and(|u| u.is_nan() || u <= from) {
            return Some(("until", "needs 0 <= from < until (clip seconds)".into()));
        }
        match self {
            Overlay::Cutout {
                image,
                frame,
                polygon,
                scale,
                turn,
                ..
            } => cutout_problem(dir, image.as_deref(), *frame, polygon, *scale, turn),
            Overlay::Flame { height, .. } if !(2.0..=400.0).contains(height) => {
                Some(("height", format!("{height} is out of range 2..=400 pixels")))
            }
            Overlay::Patch { rect, .. } if !(rect[2] > rect[0] && rect[3] > rect[1]) => Some((
                "rect",
                "needs [x1, y1, x2, y2] with x2 > x1, y2 > y1".into(),
            )),
            _ => None,
        }
    }
}

fn cutout_problem(
    dir: &Path,
    image: Option<&str>,
    frame: Option<u64>,
    polygon: &[[f32; 2]],
    scale: f32,
    turn: &[[f64; 2]],
) -> Option<(&'static str, String)> {
    match (image, frame) {
        (Some(_), Some(_)) | (None, None) => {
            return Some(("image", "name either `image` or `frame`".into()))
        }
        (Some(i), None) if !dir.join(i).is_file() => {
            return Some(("image", format!("`{i}` not found beside the scenario")))
        }
        _ => {}
    }
    if polygon.len() < 3 {
        return Some(("polygon", "an outline needs at least 3 points".into()));
    }
    if !(scale > 0.0 && scale <= 8.0) {
        return Some(("scale", format!("{scale} is out of range (0, 8]")));
    }
    if turn.windows(2).any(|w| w[1][0] <= w[0][0]) {
        return Some(("turn", "keys must be in increasing time".into()));
    }
    None
}

/// A cut-out ready to draw: premultiplied B, G, R and alpha per pixel of its bounding box.
#[derive(Debug, Clone)]
pub struct Sprite {
    w: usize,
    h: usize,
    px: Vec<[f32; 4]>,
}

impl Sprite {
    /// Cuts `polygon` (pixels of the picture) out of a packed picture of `channels` bytes per
    /// pixel in B, G, R order (`bgr = true`) or R, G, B order; edges anti-aliased (4x4 samples).
    pub fn cut(
        pixels: &[u8],
        (width, height, channels): (usize, usize, usize),
        bgr: bool,
        polygon: &[[f32; 2]],
    ) -> Sprite {
        let poly: Vec<(f32, f32)> = polygon.iter().map(|p| (p[0], p[1])).collect();
        let x0 = poly.iter().map(|p| p.0).fold(f32::MAX, f32::min).max(0.0) as usize;
        let y0 = poly.iter().map(|p| p.1).fold(f32::MAX, f32::min).max(0.0) as usize;
        let x1 = (poly.iter().map(|p| p.0).fold(0.0, f32::max).ceil() as usize).min(width);
        let y1 = (poly.iter().map(|p| p.1).fold(0.0, f32::max).ceil() as usize).min(height);
        let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        let mut px = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let inside = (0..16)
                    .filter(|k| {
                        let sx = x as f32 + (k % 4) as f32 * 0.25 + 0.125;
                        let sy = y as f32 + (k / 4) as f32 * 0.25 + 0.125;
                        point_in_polygon((sx, sy), &poly)
                    })
                    .count();
                let a = inside as f32 / 16.0;
                let i = (y * width + x) * channels;
                let c = |k: usize| f32::from(pixels[i + if bgr { k } else { 2 - k }]) * a;
                px.push([c(0), c(1), c(2), a]);
            }
        }
        Sprite { w, h, px }
    }

    /// Bilinear sample at sprite coordinates (pixel centres at +0.5); transparent outside.
    fn sample(&self, x: f32, y: f32) -> [f32; 4] {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (ix, iy) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - ix, fy - iy);
        let mut out = [0.0; 4];
        for (dx, dy, wgt) in [
            (0, 0, (1.0 - ax) * (1.0 - ay)),
            (1, 0, ax * (1.0 - ay)),
            (0, 1, (1.0 - ax) * ay),
            (1, 1, ax * ay),
        ] {
            let (sx, sy) = (ix as i64 + dx, iy as i64 + dy);
            if sx < 0 || sy < 0 || sx >= self.w as i64 || sy >= self.h as i64 {
                continue;
            }
            let p = self.px[sy as usize * self.w + sx as usize];
            for c in 0..4 {
                out[c] += p[c] * wgt;
            }
        }
        out
    }

    /// Draws the sprite scaled by `scale`, turned `deg` clockwise about its bottom centre, that
    /// point at `at`, over a BGRx frame.
    pub fn draw(&self, frame: &mut Canvas<'_>, at: [f32; 2], scale: f32, deg: f64) {
        let (s, c) = (deg.to_radians().sin() as f32, deg.to_radians().cos() as f32);
        let anchor = (self.w as f32 * 0.5, self.h as f32);
        // Frame offset of a sprite point (before the translation to `at`).
        let fwd = |x: f32, y: f32| {
            let (dx, dy) = ((x - anchor.0) * scale, (y - anchor.1) * scale);
            (dx * c - dy * s, dx * s + dy * c)
        };
        let corners = [
            fwd(0.0, 0.0),
            fwd(self.w as f32, 0.0),
            fwd(0.0, self.h as f32),
            fwd(self.w as f32, self.h as f32),
        ];
        let lo = |f: fn(&(f32, f32)) -> f32| corners.iter().map(f).fold(f32::MAX, f32::min);
        let hi = |f: fn(&(f32, f32)) -> f32| corners.iter().map(f).fold(f32::MIN, f32::max);
        let xs = (at[0] + lo(|p| p.0)).floor() as i64..=(at[0] + hi(|p| p.0)).ceil() as i64;
        let ys = (at[1] + lo(|p| p.1)).floor() as i64..=(at[1] + hi(|p| p.1)).ceil() as i64;
        for y in ys {
            for x in xs.clone() {
                let (ox, oy) = (x as f32 + 0.5 - at[0], y as f32 + 0.5 - at[1]);
                // Inverse rotation, then inverse scale.
                let (rx, ry) = ((ox * c + oy * s) / scale, (-ox * s + oy * c) / scale);
                let p = self.sample(rx + anchor.0, ry + anchor.1);
                if p[3] > 0.0 {
                    frame.blend(x, y, p);
                }
            }
        }
    }
}

/// A BGRx frame being drawn on.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

impl Canvas<'_> {
    /// Premultiplied `p` (B, G, R, alpha) over pixel (x, y); outside the frame: nothing.
    fn blend(&mut self, x: i64, y: i64, p: [f32; 4]) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = y as usize * self.stride + x as usize * 4;
        for c in 0..3 {
            let v = p[c] + f32::from(self.data[i + c]) * (1.0 - p[3]);
            self.data[i + c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }

    fn put(&mut self, x: i64, y: i64, bgr: [f32; 3]) {
        self.blend(x, y, [bgr[0], bgr[1], bgr[2], 1.0]);
    }
}

/// Degrees at clip time `t` from `(seconds, degrees)` keys: 0 before none, the first before
/// the first key, linear between keys, the last after the last.
pub fn turn_at(keys: &[[f64; 2]], t: f64) -> f64 {
    match keys {
        [] => 0.0,
        [first, ..] if t <= first[0] => first[1],
        _ => keys
            .windows(2)
            .find(|w| t < w[1][0])
            .map(|w| w[0][1] + (w[1][1] - w[0][1]) * (t - w[0][0]) / (w[1][0] - w[0][0]))
            .unwrap_or(keys[keys.len() - 1][1]),
    }
}

/// A flame about `height` pixels tall on `at`, frame `index`: the tongue's height varies by
/// ±25 %, each row's half-width by ±25 % around 0.3 × height × (1 − v)^0.6 and its brightness
/// between 65 % and 100 %; colour from yellow-white at the core to red at the edge.
pub fn draw_flame(frame: &mut Canvas<'_>, at: [f32; 2], height: f32, seed: u32, index: u64) {
    let mut rng = Rng((seed ^ (index as u32).wrapping_mul(0x9E37_79B9)) | 1);
    for _ in 0..3 {
        rng.unit();
    }
    let h = height * (0.75 + 0.5 * rng.unit());
    for dy in 0..h as i64 {
        let v = dy as f32 / h;
        let reach = (h * 0.3 * (1.0 - v).powf(0.6) * (0.75 + 0.5 * rng.unit())) as i64;
        let k = 0.65 + 0.35 * rng.unit();
        for dx in -reach..=reach {
            let core = 1.0 - dx.unsigned_abs() as f32 / (reach.max(1) as f32);
            let g = 90.0 + 150.0 * core * (1.0 - v);
            let b = 20.0 + 60.0 * core * (1.0 - v);
            let (x, y) = (at[0] as i64 + dx, at[1] as i64 - dy);
            frame.put(x, y, [b * k, g * k, 255.0 * k]);
        }
    }
}

/// A steady rectangle of colour `bgr`.
pub fn draw_patch(frame: &mut Canvas<'_>, rect: [f32; 4], bgr: [u8; 3]) {
    for y in rect[1] as i64..rect[3] as i64 {
        for x in rect[0] as i64..rect[2] as i64 {
            frame.put(x, y, bgr.map(f32::from));
        }
    }
}

/// Draws a scenario's overlays on each frame; cut-outs are cut once, from their photo when
/// built, from their clip frame when that frame goes by.
pub struct Painter {
    overlays: Vec<Overlay>,
    sprites: Vec<Option<Sprite>>,
}

impl Painter {
    /// Reads the photos of the cut-outs (relative to `dir`).
    pub fn new(overlays: &[Overlay], dir: &Path) -> Result<Painter, String> {
        let sprites = overlays
            .iter()
            .map(|o| match o {
                Overlay::Cutout {
                    image: Some(image),
                    polygon,
                    ..
                } => {
                    let path = dir.join(image);
                    let rgb = image::open(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                        .to_rgb8();
                    let size = (rgb.width() as usize, rgb.height() as usize, 3);
                    Ok(Some(Sprite::cut(rgb.as_raw(), size, false, polygon)))
                }
                _ => Ok(None),
            })
            .collect::<Result<_, String>>()?;
        Ok(Painter {
            overlays: overlays.to_vec(),
            sprites,
        })
    }

    /// Frame `index` of the clip (BGRx, `stride` bytes per row), before any drawing: cut-outs
    /// taken from it are cut now.
    pub fn offer(
        &mut self,
        index: u64,
        data: &[u8],
        (width, height, stride): (usize, usize, usize),
    ) {
        for (o, sprite) in self.overlays.iter().zip(&mut self.sprites) {
            if let Overlay::Cutout {
                frame: Some(k),
                polygon,
                ..
            } = o
            {
                if *k == index && sprite.is_none() {
                    let packed: Vec<u8> = (0..height)
                        .flat_map(|y| &data[y * stride..y * stride + width * 4])
                        .copied()
                        .collect();
                    *sprite = Some(Sprite::cut(&packed, (width, height, 4), true, polygon));
                }
            }
        }
    }

    /// Whether a cut-out still waits for its clip frame.
    pub fn wants_frames(&self) -> bool {
        self.overlays
            .iter()
            .zip(&self.sprites)
            .any(|(o, s)| s.is_none() && matches!(o, Overlay::Cutout { frame: Some(_), .. }))
    }

    /// Draws every overlay active at clip time `t` on frame `index`.
    pub fn paint(&self, t: f64, index: u64, frame: &mut Canvas<'_>) -> Result<(), String> {
        for (k, (o, sprite)) in self.overlays.iter().zip(&self.sprites).enumerate() {
            if !o.active(t) {
                continue;
            }
            match o {
                Overlay::Cutout {
                    scale, at, turn, ..
                } => {
                    let sprite = sprite.as_ref().ok_or_else(|| {
                        format!("overlays[{k}]: drawn at {t:.1} s before its `frame` was read")
                    })?;
                    sprite.draw(frame, *at, *scale, turn_at(turn, t));
                }
                Overlay::Flame {
                    at, height, seed, ..
                } => draw_flame(frame, *at, *height, *seed, index),
                Overlay::Patch { rect, bgr, .. } => draw_patch(frame, *rect, *bgr),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(data: &mut [u8], w: usize, h: usize) -> Canvas<'_> {
        Canvas {
            data,
            width: w,
            height: h,
            stride: w * 4,
        }
    }

    #[test]
    fn turn_keys_interpolate_and_hold() {
        let keys = [[10.0, 0.0], [11.0, 90.0]];
        assert_eq!(turn_at(&keys, 5.0), 0.0);
        assert_eq!(turn_at(&keys, 10.5), 45.0);
        assert_eq!(turn_at(&keys, 30.0), 90.0);
        assert_eq!(turn_at(&[], 3.0), 0.0);
    }

    /// A 2x4 white bar cut from a black picture, drawn upright then turned 90° clockwise: the
    /// bar stands on its anchor, then lies to the right of it (its top went from 12 to 3
    /// o'clock), as a person falling sideways would.
    #[test]
    fn a_cutout_stands_on_its_anchor_and_turns_about_it() {
        let (w, h) = (10, 10);
        let mut pic = vec![0u8; w * h * 3];
        for y in 2..6 {
            for x in 4..6 {
                pic[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let poly = [[4.0, 2.0], [6.0, 2.0], [6.0, 6.0], [4.0, 6.0]];
        let sprite = Sprite::cut(&pic, (w, h, 3), true, &poly);
        assert_eq!((sprite.w, sprite.h), (2, 4));
        let (fw, fh) = (20, 20);
        let lit = |deg: f64| {
            let mut data = vec![0u8; fw * fh * 4];
            sprite.draw(&mut canvas(&mut data, fw, fh), [10.0, 10.0], 2.0, deg);
            (0..fw * fh)
                .filter(|i| data[i * 4] > 128)
                .map(|i| (i % fw, i / fw))
                .collect::<Vec<_>>()
        };
        let up = lit(0.0);
        assert_eq!(up.len(), 4 * 8, "{up:?}");
        assert!(up
            .iter()
            .all(|&(x, y)| (8..12).contains(&x) && (2..10).contains(&y)));
        let down = lit(90.0);
        assert_eq!(down.len(), 8 * 4, "{down:?}");
        assert!(down
            .iter()
            .all(|&(x, y)| (10..18).contains(&x) && (8..12).contains(&y)));
    }

    #[test]
    fn flames_differ_frame_to_frame_and_repeat_run_to_run() {
        let draw = |index| {
            let mut data = vec![0u8; 64 * 64 * 4];
            draw_flame(&mut canvas(&mut data, 64, 64), [32.0, 60.0], 40.0, 7, index);
            data
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let f = draw(3);
        let red = (0..64 * 64).filter(|i| f[i * 4 + 2] > 150).count();
        assert!(red > 100, "{red}");
    }

    #[test]
    fn problems_name_the_field() {
        let dir = Path::new(".");
        let cut = |image: Option<&str>, frame| Overlay::Cutout {
            image: image.map(String::from),
            frame,
            polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
            scale: 1.0,
            at: [0.0, 0.0],
            from: 1.0,
            until: None,
            turn: Vec::new(),
        };
        assert_eq!(cut(None, None).problem(dir).unwrap().0, "image");
        assert_eq!(
            cut(Some("nowhere.jpg"), None).problem(dir).unwrap().0,
            "image"
        );
        assert_eq!(cut(None, Some(0)).problem(dir), None);
        let patch = Overlay::Patch {
            rect: [5.0, 5.0, 4.0, 9.0],
            bgr: [0, 0, 0],
            from: 2.0,
            until: Some(1.0),
        };
        assert_eq!(patch.problem(dir).unwrap().0, "until");
    }
}
