//! A polygon rasterised on a small grid, and the box-average downscale that makes that grid.

use super::SceneError;

/// Box-average downscale of a packed BGR frame by `factor` (each output pixel is the mean of a
/// `factor x factor` block; a remainder of rows or columns is dropped). Writes
/// `(width / factor) * (height / factor) * 3` bytes into `out`; returns the small size.
pub fn downscale_bgr(
    src: &[u8],
    width: u32,
    height: u32,
    factor: u32,
    out: &mut Vec<u8>,
) -> (u32, u32) {
    let f = factor.max(1) as usize;
    let (w, h) = (width as usize, height as usize);
    let (sw, sh) = (w / f, h / f);
    out.clear();
    out.resize(sw * sh * 3, 0);
    let mut row_acc = vec![0u32; sw * 3];
    let div = (f * f) as u32;
    for sy in 0..sh {
        row_acc.fill(0);
        for y in sy * f..(sy + 1) * f {
            let row = &src[y * w * 3..(y * w + sw * f) * 3];
            for (i, px) in row.chunks_exact(3).enumerate() {
                let acc = &mut row_acc[(i / f) * 3..(i / f) * 3 + 3];
                for c in 0..3 {
                    acc[c] += u32::from(px[c]);
                }
            }
        }
        for (o, a) in out[sy * sw * 3..(sy + 1) * sw * 3].iter_mut().zip(&row_acc) {
            *o = ((a + div / 2) / div) as u8;
        }
    }
    (sw as u32, sh as u32)
}

/// Checks that `bgr` is a packed BGR frame of `frame` = `(width, height)` and box-averages it by
/// `scale` into `out`.
pub(crate) fn small_frame(
    bgr: &[u8],
    (width, height): (u32, u32),
    scale: u32,
    out: &mut Vec<u8>,
) -> Result<(), SceneError> {
    let expected = width as usize * height as usize * 3;
    if bgr.len() != expected {
        return Err(SceneError::FrameSize {
            width,
            height,
            expected,
            actual: bgr.len(),
        });
    }
    downscale_bgr(bgr, width, height, scale, out);
    Ok(())
}

/// The cells of a `width x height` grid whose centres lie inside a polygon (normalised
/// coordinates, even-odd rule by scanlines).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    width: usize,
    height: usize,
    mask: Vec<bool>,
    /// Indices of the cells inside, row-major.
    cells: Vec<u32>,
}

impl Region {
    /// Rasterises `polygon` (at least 3 finite points, normalised 0..1) on the grid; an error if
    /// it covers no cell.
    pub fn from_polygon(
        polygon: &[(f32, f32)],
        width: u32,
        height: u32,
    ) -> Result<Region, SceneError> {
        if polygon.len() < 3 {
            return Err(SceneError::InvalidRegion(format!(
                "a polygon needs at least 3 points, got {}",
                polygon.len()
            )));
        }
        if polygon.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
            return Err(SceneError::InvalidRegion("a point is not finite".into()));
        }
        let (w, h) = (width as usize, height as usize);
        let mut mask = vec![false; w * h];
        let mut xs = Vec::new();
        for y in 0..h {
            let yc = (y as f32 + 0.5) / h as f32;
            xs.clear();
            for (i, a) in polygon.iter().enumerate() {
                let b = polygon[(i + 1) % polygon.len()];
                if (a.1 > yc) != (b.1 > yc) {
                    xs.push(a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1));
                }
            }
            xs.sort_by(f32::total_cmp);
            for pair in xs.chunks_exact(2) {
                // Cells whose centre x lies in [pair[0], pair[1]).
                let first = (pair[0] * w as f32 - 0.5).ceil().max(0.0) as usize;
                let end = ((pair[1] * w as f32 - 0.5).ceil().max(0.0) as usize).min(w);
                for cell in &mut mask[y * w + first.min(end)..y * w + end] {
                    *cell = true;
                }
            }
        }
        Region::from_mask(mask, width, height)
    }

    /// The whole grid.
    pub fn full(width: u32, height: u32) -> Region {
        let mask = vec![true; width as usize * height as usize];
        Region::from_mask(mask, width, height).unwrap_or(Region {
            width: 0,
            height: 0,
            mask: Vec::new(),
            cells: Vec::new(),
        })
    }

    fn from_mask(mask: Vec<bool>, width: u32, height: u32) -> Result<Region, SceneError> {
        let cells: Vec<u32> = (0..mask.len() as u32)
            .filter(|&i| mask[i as usize])
            .collect();
        if cells.is_empty() {
            return Err(SceneError::InvalidRegion(format!(
                "covers no cell of the {width}x{height} analysis grid (too small or outside the image)"
            )));
        }
        Ok(Region {
            width: width as usize,
            height: height as usize,
            mask,
            cells,
        })
    }

    /// Whether cell `(x, y)` is inside.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.height && self.mask[y * self.width + x]
    }

    /// Row-major mask of the grid.
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }

    /// Indices (row-major) of the cells inside.
    pub fn cells(&self) -> &[u32] {
        &self.cells
    }

    /// Grid size `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_averages_blocks() {
        // 4x2 image, factor 2: blocks (0,1 | 4,5) and (2,3 | 6,7) per channel value = index.
        let src: Vec<u8> = (0..8u8).flat_map(|v| [v * 10, v * 10 + 1, 200]).collect();
        let mut out = Vec::new();
        assert_eq!(downscale_bgr(&src, 4, 2, 2, &mut out), (2, 1));
        assert_eq!(out, vec![25, 26, 200, 45, 46, 200]);
        // A remainder column is dropped.
        let src = vec![9u8; 5 * 2 * 3];
        assert_eq!(downscale_bgr(&src, 5, 2, 2, &mut out), (2, 1));
        assert_eq!(out, vec![9; 6]);
    }

    #[test]
    fn polygons_rasterise_by_cell_centres() {
        let square = Region::from_polygon(
            &[(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)],
            8,
            8,
        )
        .unwrap();
        assert_eq!(square.cells().len(), 16);
        assert!(
            square.contains(2, 2)
                && square.contains(5, 5)
                && !square.contains(1, 2)
                && !square.contains(6, 5)
        );
        // A triangle: lower-left half of the grid (diagonal cells' centres are on the edge).
        let tri = Region::from_polygon(&[(0.0, 0.0), (1.0, 1.0), (0.0, 1.0)], 4, 4).unwrap();
        assert!(
            tri.contains(0, 3) && tri.contains(1, 2) && !tri.contains(3, 0) && !tri.contains(2, 1)
        );
        // Concave "U": the notch is outside.
        let u = [
            (0.0, 0.0),
            (0.3, 0.0),
            (0.3, 0.7),
            (0.7, 0.7),
            (0.7, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.0, 1.0),
        ];
        let r = Region::from_polygon(&u, 10, 10).unwrap();
        assert!(!r.contains(5, 2) && r.contains(1, 2) && r.contains(8, 2) && r.contains(5, 8));
        assert_eq!(Region::full(3, 2).cells().len(), 6);
    }

    #[test]
    fn bad_polygons_are_errors() {
        let err = Region::from_polygon(&[(0.0, 0.0), (1.0, 1.0)], 8, 8).unwrap_err();
        assert!(err.to_string().contains("at least 3 points"), "{err}");
        let err =
            Region::from_polygon(&[(0.0, 0.0), (f32::NAN, 1.0), (0.0, 1.0)], 8, 8).unwrap_err();
        assert!(err.to_string().contains("not finite"), "{err}");
        let err = Region::from_polygon(&[(0.5, 0.5), (0.51, 0.5), (0.5, 0.51)], 8, 8).unwrap_err();
        assert!(err.to_string().contains("covers no cell"), "{err}");
        let err = Region::from_polygon(&[(2.0, 2.0), (3.0, 2.0), (3.0, 3.0)], 8, 8).unwrap_err();
        assert!(err.to_string().contains("covers no cell"), "{err}");
    }
}
