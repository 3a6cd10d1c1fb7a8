//! Privacy masks: polygons (normalised coordinates) painted black on a packed 3-byte-per-pixel
//! image (BGR or RGB). A pixel is masked when its centre lies inside a polygon (even-odd rule),
//! whatever the image size, so the detector's frame and the full-resolution frame hide the same
//! area.

/// The masks of one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyMask {
    polygons: Vec<Vec<(f32, f32)>>,
}

impl PrivacyMask {
    /// `None` when there is no polygon of at least 3 points (nothing to hide).
    pub fn new(polygons: Vec<Vec<(f32, f32)>>) -> Option<PrivacyMask> {
        let polygons: Vec<_> = polygons.into_iter().filter(|p| p.len() >= 3).collect();
        (!polygons.is_empty()).then_some(PrivacyMask { polygons })
    }

    /// Blacks out the masked pixels of `pixels` (`width * height * 3` bytes, rows without
    /// padding). A buffer of the wrong size is left alone.
    pub fn apply(&self, pixels: &mut [u8], width: u32, height: u32) {
        let (w, h) = (width as usize, height as usize);
        if w == 0 || pixels.len() != w * h * 3 {
            return;
        }
        let mut xs = Vec::new();
        for (y, row) in pixels.chunks_exact_mut(w * 3).enumerate() {
            let yn = (y as f32 + 0.5) / h as f32;
            for poly in &self.polygons {
                crossings(poly, yn, &mut xs);
                for pair in xs.chunks_exact(2) {
                    let (a, b) = (column(pair[0], w), column(pair[1], w));
                    if a < b {
                        row[a * 3..b * 3].fill(0);
                    }
                }
            }
        }
    }
}

/// The x (normalised) where the horizontal line `y` crosses the polygon's edges, sorted.
fn crossings(poly: &[(f32, f32)], y: f32, out: &mut Vec<f32>) {
    out.clear();
    for (i, &(x0, y0)) in poly.iter().enumerate() {
        let (x1, y1) = poly[(i + 1) % poly.len()];
        if (y0 <= y) != (y1 <= y) {
            out.push(x0 + (y - y0) * (x1 - x0) / (y1 - y0));
        }
    }
    out.sort_by(f32::total_cmp);
}

/// First pixel column whose centre is at or right of `x` (normalised), clamped to `0..=w`.
fn column(x: f32, w: usize) -> usize {
    let c = (x * w as f32 - 0.5).ceil();
    if c.is_nan() || c <= 0.0 {
        0
    } else {
        (c as usize).min(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32) -> Vec<u8> {
        vec![120; (w * h * 3) as usize]
    }

    fn px(img: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * w + x) * 3) as usize;
        [img[i], img[i + 1], img[i + 2]]
    }

    #[test]
    fn a_square_mask_blacks_out_its_pixels_only() {
        let mask = PrivacyMask::new(vec![vec![
            (0.25, 0.25),
            (0.75, 0.25),
            (0.75, 0.75),
            (0.25, 0.75),
        ]])
        .unwrap();
        let (w, h) = (40, 20);
        let mut img = grey(w, h);
        mask.apply(&mut img, w, h);
        // Inside: columns 10..30, rows 5..15.
        for (x, y) in [(10, 5), (29, 14), (20, 10)] {
            assert_eq!(px(&img, w, x, y), [0, 0, 0], "({x},{y})");
        }
        for (x, y) in [(9, 10), (30, 10), (20, 4), (20, 15), (0, 0), (39, 19)] {
            assert_eq!(px(&img, w, x, y), [120, 120, 120], "({x},{y})");
        }
        let black = img.chunks_exact(3).filter(|p| p == &[0, 0, 0]).count();
        assert_eq!(black, 20 * 10);
    }

    #[test]
    fn the_same_area_is_hidden_at_every_resolution() {
        let tri = vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)];
        let mask = PrivacyMask::new(vec![tri]).unwrap();
        for (w, h) in [(416, 416), (768, 576), (1280, 720)] {
            let mut img = grey(w, h);
            mask.apply(&mut img, w, h);
            let black = img.chunks_exact(3).filter(|p| p == &[0, 0, 0]).count();
            let share = black as f64 / f64::from(w * h);
            assert!((share - 0.5).abs() < 0.01, "{w}x{h}: {share}");
            assert_eq!(px(&img, w, 0, 0), [0, 0, 0]);
            assert_eq!(px(&img, w, w - 1, h - 1), [120, 120, 120]);
        }
    }

    #[test]
    fn degenerate_masks_and_wrong_buffers_change_nothing() {
        assert!(PrivacyMask::new(vec![vec![(0.0, 0.0), (1.0, 1.0)]]).is_none());
        assert!(PrivacyMask::new(Vec::new()).is_none());
        let mask =
            PrivacyMask::new(vec![vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]).unwrap();
        let mut short = vec![7u8; 10];
        mask.apply(&mut short, 4, 4);
        assert!(short.iter().all(|&b| b == 7));
        let mut full = grey(4, 4);
        mask.apply(&mut full, 4, 4);
        assert!(full.iter().all(|&b| b == 0));
    }
}
