//! Person crops for the pose model: a square (in display units) around a person box with a
//! margin, optionally rotated 90° for people lying down, sampled into the model input, and the
//! affine map that brings what the model found back to frame coordinates.

use crate::detect::preprocess::check_source;
use crate::detect::{BBox, DetectError};

/// Maps model-input normalised coordinates `(u, v)` to frame normalised coordinates:
/// `x = xu * u + xv * v + x0`, `y = yu * u + yv * v + y0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub xu: f32,
    pub xv: f32,
    pub x0: f32,
    pub yu: f32,
    pub yv: f32,
    pub y0: f32,
}

impl Affine {
    /// The whole frame stretched to the input: input coordinates are frame coordinates.
    pub const IDENTITY: Affine = Affine {
        xu: 1.0,
        xv: 0.0,
        x0: 0.0,
        yu: 0.0,
        yv: 1.0,
        y0: 0.0,
    };

    /// The frame point of input point `(u, v)`.
    pub fn apply(&self, u: f32, v: f32) -> (f32, f32) {
        (
            self.xu * u + self.xv * v + self.x0,
            self.yu * u + self.yv * v + self.y0,
        )
    }
}

/// How the crop is turned in the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// As in the frame.
    Upright,
    /// Turned 90° clockwise: the crop's left side is at the top of the input (a person lying
    /// with the head to the left stands upright).
    Cw90,
    /// Turned 90° counter-clockwise: the crop's right side is at the top.
    Ccw90,
}

/// A region of the frame fed to the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    /// The region, normalised frame coordinates; it may extend past the frame (black there).
    pub region: BBox,
    pub orientation: Orientation,
}

impl Crop {
    /// A square in display units (`aspect` = the picture's displayed width / height, e.g. 4/3 for
    /// a 768x576 camera even when the frame buffer is 416x416) centred on `person`, its side the
    /// box's longer side times `1 + 2 * margin`. Square, so a model input of equal sides sees the
    /// person undistorted in any orientation.
    pub fn around(person: BBox, aspect: f32, margin: f32) -> Crop {
        let aspect = if aspect.is_finite() && aspect > 0.0 {
            aspect
        } else {
            1.0
        };
        let (cx, cy) = ((person.x1 + person.x2) * 0.5, (person.y1 + person.y2) * 0.5);
        let side = (person.width() * aspect).max(person.height()).max(1e-3)
            * (1.0 + 2.0 * margin.max(0.0));
        let (hw, hh) = (side / aspect * 0.5, side * 0.5);
        Crop {
            region: BBox::new(cx - hw, cy - hh, cx + hw, cy + hh),
            orientation: Orientation::Upright,
        }
    }

    /// The same region, turned.
    pub fn turned(self, orientation: Orientation) -> Crop {
        Crop {
            orientation,
            ..self
        }
    }

    /// Input → frame coordinates for this crop.
    pub fn to_frame(&self) -> Affine {
        let r = self.region;
        let (w, h) = (r.x2 - r.x1, r.y2 - r.y1);
        // (cu, cv): crop-normalised point shown at input point (u, v).
        // Upright: cu = u, cv = v. Cw90: cu = v, cv = 1 - u. Ccw90: cu = 1 - v, cv = u.
        match self.orientation {
            Orientation::Upright => Affine {
                xu: w,
                xv: 0.0,
                x0: r.x1,
                yu: 0.0,
                yv: h,
                y0: r.y1,
            },
            Orientation::Cw90 => Affine {
                xu: 0.0,
                xv: w,
                x0: r.x1,
                yu: -h,
                yv: 0.0,
                y0: r.y1 + h,
            },
            Orientation::Ccw90 => Affine {
                xu: 0.0,
                xv: -w,
                x0: r.x1 + w,
                yu: h,
                yv: 0.0,
                y0: r.y1,
            },
        }
    }
}

/// Samples the frame region that `to_frame` maps the input onto into an NHWC int32 RGB tensor
/// (`out` holds `in_w * in_h * 3` values): bilinear interpolation at each input pixel centre,
/// black outside the frame. `bgr` is a packed BGR frame of `width x height`.
pub fn sample_crop(
    bgr: &[u8],
    width: u32,
    height: u32,
    to_frame: &Affine,
    (in_w, in_h): (u32, u32),
    out: &mut [i32],
) -> Result<(), DetectError> {
    check_source(bgr, width, height)?;
    let expected = in_w as usize * in_h as usize * 3;
    if out.len() != expected || expected == 0 {
        return Err(DetectError::BufferSize {
            what: "pose input tensor (in_w * in_h * 3 int32)",
            expected,
            actual: out.len(),
        });
    }
    let (w, h) = (width as usize, height as usize);
    let (fw, fh) = (width as f32, height as f32);
    for (py, row) in out.chunks_exact_mut(in_w as usize * 3).enumerate() {
        let v = (py as f32 + 0.5) / in_h as f32;
        for (px, o) in row.chunks_exact_mut(3).enumerate() {
            let u = (px as f32 + 0.5) / in_w as f32;
            let (x, y) = to_frame.apply(u, v);
            if !(0.0..1.0).contains(&x) || !(0.0..1.0).contains(&y) {
                o.fill(0);
                continue;
            }
            let sx = (x * fw - 0.5).max(0.0);
            let sy = (y * fh - 0.5).max(0.0);
            let (x0, y0) = (sx as usize, sy as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
            let px_at = |xx: usize, yy: usize, c: usize| f32::from(bgr[(yy * w + xx) * 3 + c]);
            for c in 0..3 {
                let top = px_at(x0, y0, c) * (1.0 - ax) + px_at(x1, y0, c) * ax;
                let bottom = px_at(x0, y1, c) * (1.0 - ax) + px_at(x1, y1, c) * ax;
                // BGR → RGB.
                o[2 - c] = (top * (1.0 - ay) + bottom * ay).round() as i32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32)) -> bool {
        (a.0 - b.0).abs() < 1e-5 && (a.1 - b.1).abs() < 1e-5
    }

    #[test]
    fn crop_is_square_in_display_units_with_margin() {
        // A 0.1 x 0.3 box in a 4:3 picture: display size 0.133 x 0.3; side 0.3 * 1.5 = 0.45.
        let c = Crop::around(BBox::new(0.4, 0.2, 0.5, 0.5), 4.0 / 3.0, 0.25);
        assert!((c.region.height() - 0.45).abs() < 1e-5, "{c:?}");
        assert!((c.region.width() * 4.0 / 3.0 - 0.45).abs() < 1e-5, "{c:?}");
        assert!(close(
            (
                (c.region.x1 + c.region.x2) / 2.0,
                (c.region.y1 + c.region.y2) / 2.0
            ),
            (0.45, 0.35)
        ));
    }

    #[test]
    fn orientations_map_the_input_corners_to_the_right_crop_corners() {
        let c = Crop {
            region: BBox::new(0.2, 0.1, 0.6, 0.5),
            orientation: Orientation::Upright,
        };
        let (tl, tr, bl) = ((0.2, 0.1), (0.6, 0.1), (0.2, 0.5));
        let br = (0.6, 0.5);
        let up = c.to_frame();
        assert!(close(up.apply(0.0, 0.0), tl) && close(up.apply(1.0, 1.0), br));
        // Turned clockwise: the input's top-left shows the crop's bottom-left, its top-right the
        // crop's top-left (the crop's left side is on top).
        let cw = c.turned(Orientation::Cw90).to_frame();
        assert!(close(cw.apply(0.0, 0.0), bl) && close(cw.apply(1.0, 0.0), tl));
        assert!(close(cw.apply(1.0, 1.0), tr) && close(cw.apply(0.0, 1.0), br));
        // Counter-clockwise: the input's top-left shows the crop's top-right.
        let ccw = c.turned(Orientation::Ccw90).to_frame();
        assert!(close(ccw.apply(0.0, 0.0), tr) && close(ccw.apply(1.0, 0.0), br));
        assert!(close(ccw.apply(1.0, 1.0), bl) && close(ccw.apply(0.0, 1.0), tl));
    }

    /// An 8x4 BGR frame whose pixel (x, y) has B = 10 x, G = 10 y, R = 200.
    fn frame() -> Vec<u8> {
        (0..4)
            .flat_map(|y| (0..8).flat_map(move |x| [10 * x as u8, 10 * y as u8, 200]))
            .collect()
    }

    #[test]
    fn sampling_the_whole_frame_at_its_size_copies_it_as_rgb() {
        let src = frame();
        let mut out = vec![0; 8 * 4 * 3];
        sample_crop(&src, 8, 4, &Affine::IDENTITY, (8, 4), &mut out).unwrap();
        let expect: Vec<i32> = src
            .chunks_exact(3)
            .flat_map(|p| [i32::from(p[2]), i32::from(p[1]), i32::from(p[0])])
            .collect();
        assert_eq!(out, expect);
    }

    #[test]
    fn a_turned_crop_samples_the_turned_pixels_and_black_outside() {
        let src = frame();
        // The 4x4 square of pixels x 2..6, y 0..4, turned clockwise into a 4x4 input.
        let c = Crop {
            region: BBox::new(0.25, 0.0, 0.75, 1.0),
            orientation: Orientation::Cw90,
        };
        let mut out = vec![0; 4 * 4 * 3];
        sample_crop(&src, 8, 4, &c.to_frame(), (4, 4), &mut out).unwrap();
        fn at(out: &[i32], u: usize, v: usize) -> &[i32] {
            &out[(v * 4 + u) * 3..(v * 4 + u) * 3 + 3]
        }
        // Input (u, v) shows crop (cu, cv) = (v, 3 - u): frame pixel (2 + v, 3 - u); RGB = (200, G, B).
        for v in 0..4 {
            for u in 0..4 {
                let (fx, fy) = (2 + v, 3 - u);
                assert_eq!(
                    at(&out, u, v),
                    &[200, 10 * fy as i32, 10 * fx as i32],
                    "u {u} v {v}"
                );
            }
        }
        // A crop hanging off the left edge is black there.
        let off = Crop {
            region: BBox::new(-0.5, 0.0, 0.5, 1.0),
            orientation: Orientation::Upright,
        };
        sample_crop(&src, 8, 4, &off.to_frame(), (4, 4), &mut out).unwrap();
        assert_eq!(at(&out, 0, 0), &[0, 0, 0]);
        assert_eq!(at(&out, 1, 0), &[0, 0, 0]);
        // x = 0.125: halfway between pixels 0 and 1 (B = 0 and 10).
        assert_eq!(at(&out, 2, 0), &[200, 0, 5]);
    }

    #[test]
    fn buffer_sizes_are_checked() {
        let mut out = vec![0; 10];
        let err = sample_crop(&frame(), 8, 4, &Affine::IDENTITY, (4, 4), &mut out).unwrap_err();
        assert!(err.to_string().contains("pose input tensor"), "{err}");
        let err = sample_crop(&[0; 5], 8, 4, &Affine::IDENTITY, (4, 4), &mut out).unwrap_err();
        assert!(err.to_string().contains("source BGR frame"), "{err}");
    }
}
