//! Ground calibration of one camera: the homography from normalised image coordinates to metres
//! on a flat ground, fitted from four or more image points with their ground coordinates.
//!
//! The fit is the normalised direct linear transform (Hartley): both point sets are moved to
//! their centroid and scaled to a mean distance of √2, the eight unknowns of `H` (with
//! `h33 = 1`, safe after normalisation since the centroid of the image points lies inside them and
//! maps to a finite ground point) are solved by least squares with an SVD, then the
//! normalisation is undone. With exactly four pairs the fit is exact and says nothing about
//! their accuracy; with five or more the RMS reprojection error (metres on the ground) measures
//! how well the pairs agree with one flat ground.

use nalgebra::{DMatrix, DVector, Matrix3, Vector3};

/// Why a set of point pairs cannot calibrate a camera.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error(
        "{image} image points but {ground} ground points: give one ground point per image point"
    )]
    CountMismatch { image: usize, ground: usize },
    #[error("{0} point pairs: a ground calibration needs at least 4")]
    TooFew(usize),
    #[error("coordinates must be finite numbers")]
    NotFinite,
    #[error("{set} points {i}, {j} and {k} are on one line (or equal): no three may be collinear")]
    Collinear {
        set: &'static str,
        i: usize,
        j: usize,
        k: usize,
    },
    #[error(
        "no flat ground fits these points: are the image and ground points listed in the same \
         order?"
    )]
    Degenerate,
    #[error(
        "image point {0} lies on the other side of the horizon from the others: the image and \
         ground points are not listed in the same order"
    )]
    Folded(usize),
}

/// A fitted calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Image (normalised) to ground (metres), homogeneous.
    h: Matrix3<f64>,
    /// Ground to image.
    inverse: Matrix3<f64>,
    /// Sign of the homogeneous `w` of points in front of the camera (on the visible ground).
    front: f64,
    /// Point pairs used.
    pub points: usize,
    /// Root mean square distance (m) between each ground point and its image point mapped to the
    /// ground; 0 for an exact fit from 4 pairs.
    pub rms_error_m: f64,
    /// The largest of those distances (m).
    pub max_error_m: f64,
}

/// Time step of the finite difference that turns an image velocity into a ground velocity.
const VELOCITY_DT: f64 = 0.2;

impl Calibration {
    /// Fits the homography from image points (normalised 0..1) to ground points (metres).
    pub fn fit(
        image: &[(f64, f64)],
        ground: &[(f64, f64)],
    ) -> Result<Calibration, CalibrationError> {
        check_points(image, ground)?;
        let (ti, ni) = normaliser(image);
        let (tg, ng) = normaliser(ground);
        let hn = solve_dlt(&ni, &ng).ok_or(CalibrationError::Degenerate)?;
        let tg_inv = tg.try_inverse().ok_or(CalibrationError::Degenerate)?;
        let h = tg_inv * hn * ti;
        if !h.iter().all(|v| v.is_finite()) || h.determinant().abs() < 1e-12 {
            return Err(CalibrationError::Degenerate);
        }
        let inverse = h.try_inverse().ok_or(CalibrationError::Degenerate)?;
        let ws: Vec<f64> = image.iter().map(|&p| (h * hom(p)).z).collect();
        let front = ws[0].signum();
        if let Some(i) = ws
            .iter()
            .position(|w| w.signum() != front || w.abs() < 1e-12)
        {
            return Err(CalibrationError::Folded(i));
        }
        let mut cal = Calibration {
            h,
            inverse,
            front,
            points: image.len(),
            rms_error_m: 0.0,
            max_error_m: 0.0,
        };
        let errors: Vec<f64> = image
            .iter()
            .zip(ground)
            .map(|(&i, &g)| {
                cal.project(i)
                    .map_or(f64::INFINITY, |p| (p.0 - g.0).hypot(p.1 - g.1))
            })
            .collect();
        cal.rms_error_m = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
        cal.max_error_m = errors.iter().copied().fold(0.0, f64::max);
        Ok(cal)
    }

    fn project(&self, p: (f64, f64)) -> Option<(f64, f64)> {
        let v = self.h * hom(p);
        (v.z * self.front > 1e-12).then(|| (v.x / v.z, v.y / v.z))
    }

    /// The ground point (m) of a normalised image point; `None` at or beyond the horizon.
    pub fn to_ground(&self, p: (f32, f32)) -> Option<(f32, f32)> {
        let g = self.project((f64::from(p.0), f64::from(p.1)))?;
        (g.0.is_finite() && g.1.is_finite()).then_some((g.0 as f32, g.1 as f32))
    }

    /// The normalised image point of a ground point (m); `None` for a point the camera cannot
    /// see (behind it).
    pub fn to_image(&self, g: (f32, f32)) -> Option<(f32, f32)> {
        let v = self.inverse * hom((f64::from(g.0), f64::from(g.1)));
        if v.z.abs() < 1e-12 {
            return None;
        }
        let p = (v.x / v.z, v.y / v.z);
        // Back on the ground, it must be in front of the camera.
        self.project(p)?;
        Some((p.0 as f32, p.1 as f32))
    }

    /// Ground velocity (m/s) of an image point `p` moving at `v` (normalised units per second).
    pub fn ground_velocity(&self, p: (f32, f32), v: (f32, f32)) -> Option<(f32, f32)> {
        let a = self.to_ground(p)?;
        let dt = VELOCITY_DT as f32;
        let b = self.to_ground((p.0 + v.0 * dt, p.1 + v.1 * dt))?;
        Some(((b.0 - a.0) / dt, (b.1 - a.1) / dt))
    }
}

fn hom(p: (f64, f64)) -> Vector3<f64> {
    Vector3::new(p.0, p.1, 1.0)
}

fn check_points(image: &[(f64, f64)], ground: &[(f64, f64)]) -> Result<(), CalibrationError> {
    if image.len() != ground.len() {
        return Err(CalibrationError::CountMismatch {
            image: image.len(),
            ground: ground.len(),
        });
    }
    if image.len() < 4 {
        return Err(CalibrationError::TooFew(image.len()));
    }
    if image
        .iter()
        .chain(ground)
        .any(|p| !p.0.is_finite() || !p.1.is_finite())
    {
        return Err(CalibrationError::NotFinite);
    }
    no_three_collinear("image", image)?;
    no_three_collinear("ground", ground)
}

/// Three points are collinear when their triangle's area is below 0.1 % of the square of the
/// set's extent.
fn no_three_collinear(set: &'static str, pts: &[(f64, f64)]) -> Result<(), CalibrationError> {
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for p in pts {
        lo = (lo.0.min(p.0), lo.1.min(p.1));
        hi = (hi.0.max(p.0), hi.1.max(p.1));
    }
    let extent = (hi.0 - lo.0).max(hi.1 - lo.1);
    let tolerance = 1e-3 * extent * extent;
    let n = pts.len();
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                let (a, b, c) = (pts[i], pts[j], pts[k]);
                let twice_area = ((b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)).abs();
                if twice_area / 2.0 <= tolerance {
                    return Err(CalibrationError::Collinear { set, i, j, k });
                }
            }
        }
    }
    Ok(())
}

/// Hartley normalisation: the transform moving `pts` to their centroid, mean distance √2, and
/// the moved points.
fn normaliser(pts: &[(f64, f64)]) -> (Matrix3<f64>, Vec<(f64, f64)>) {
    let n = pts.len() as f64;
    let (cx, cy) = pts
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
    let mean = pts.iter().map(|p| (p.0 - cx).hypot(p.1 - cy)).sum::<f64>() / n;
    let s = if mean > 0.0 {
        std::f64::consts::SQRT_2 / mean
    } else {
        1.0
    };
    let t = Matrix3::new(s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0);
    let moved = pts
        .iter()
        .map(|p| (s * (p.0 - cx), s * (p.1 - cy)))
        .collect();
    (t, moved)
}

/// Least-squares `H` (with `h33 = 1`) such that `H · image ≈ ground`.
fn solve_dlt(image: &[(f64, f64)], ground: &[(f64, f64)]) -> Option<Matrix3<f64>> {
    let n = image.len();
    let mut a = DMatrix::<f64>::zeros(2 * n, 8);
    let mut b = DVector::<f64>::zeros(2 * n);
    for (r, (&(x, y), &(u, v))) in image.iter().zip(ground).enumerate() {
        let row = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y];
        let row2 = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y];
        for c in 0..8 {
            a[(2 * r, c)] = row[c];
            a[(2 * r + 1, c)] = row2[c];
        }
        b[2 * r] = u;
        b[2 * r + 1] = v;
    }
    let svd = a.svd(true, true);
    // Rank deficiency: the points do not pin the eight unknowns down.
    let sv = &svd.singular_values;
    let max = sv.max();
    if max <= 0.0 || sv.min() / max < 1e-9 {
        return None;
    }
    let h = svd.solve(&b, 1e-12).ok()?;
    Some(Matrix3::new(
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera looking down at a 12 m x 20 m square: the far side (20 m) is narrower and higher
    /// in the image.
    type Points = Vec<(f64, f64)>;

    fn square() -> (Points, Points) {
        (
            vec![(0.1, 0.9), (0.9, 0.9), (0.7, 0.4), (0.3, 0.4)],
            vec![(0.0, 0.0), (12.0, 0.0), (12.0, 20.0), (0.0, 20.0)],
        )
    }

    fn close(a: (f32, f32), b: (f64, f64), tol: f64) -> bool {
        (f64::from(a.0) - b.0).abs() < tol && (f64::from(a.1) - b.1).abs() < tol
    }

    #[test]
    fn four_pairs_fit_exactly_and_map_between_them() {
        let (img, gnd) = square();
        let cal = Calibration::fit(&img, &gnd).unwrap();
        assert_eq!(cal.points, 4);
        assert!(cal.rms_error_m < 1e-6, "{}", cal.rms_error_m);
        for (i, g) in img.iter().zip(&gnd) {
            let p = cal.to_ground((i.0 as f32, i.1 as f32)).unwrap();
            assert!(close(p, *g, 1e-3), "{p:?} vs {g:?}");
        }
        // The middle of the bottom edge is 6 m along it. Perspective: the far edge looks half as
        // wide, so it is twice as far from the camera; image height is linear in 1 / distance,
        // so the image's middle row is at 4/3 of the near distance: a third of the way (6.67 m).
        assert!(close(cal.to_ground((0.5, 0.9)).unwrap(), (6.0, 0.0), 1e-3));
        let mid = cal.to_ground((0.5, 0.65)).unwrap();
        assert!(close(mid, (6.0, 20.0 / 3.0), 1e-3), "{mid:?}");
        // And back.
        let back = cal.to_image((6.0, 20.0 / 3.0)).unwrap();
        assert!(
            (back.0 - 0.5).abs() < 1e-5 && (back.1 - 0.65).abs() < 1e-5,
            "{back:?}"
        );
        // The sides meet at y = -0.1: the horizon. Above it there is no ground.
        assert!(cal.to_ground((0.5, -0.05)).is_some());
        assert_eq!(cal.to_ground((0.5, -0.1)), None);
        assert_eq!(cal.to_ground((0.5, -0.2)), None);
    }

    #[test]
    fn ground_velocity_grows_with_distance() {
        let (img, gnd) = square();
        let cal = Calibration::fit(&img, &gnd).unwrap();
        // The same image speed to the right is more ground speed far away than near.
        let near = cal.ground_velocity((0.5, 0.9), (0.1, 0.0)).unwrap();
        let far = cal.ground_velocity((0.5, 0.45), (0.1, 0.0)).unwrap();
        assert!((near.0 - 1.5).abs() < 1e-3, "{near:?}"); // 0.1 of 0.8 image = 12 m wide
                                                          // At image row 0.45 the distance is 1 / 0.55 of the near one.
        assert!(
            (far.0 / near.0 - 1.0 / 0.55).abs() < 0.01,
            "{far:?} vs {near:?}"
        );
    }

    #[test]
    fn redundant_pairs_measure_the_error() {
        let (mut img, mut gnd) = square();
        let truth = Calibration::fit(&img, &gnd).unwrap();
        // A fifth, consistent pair: the error stays ~0.
        let p5 = (0.5, 0.6);
        let g5 = truth.to_ground((0.5, 0.6)).unwrap();
        img.push(p5);
        gnd.push((f64::from(g5.0), f64::from(g5.1)));
        let cal = Calibration::fit(&img, &gnd).unwrap();
        assert!(cal.rms_error_m < 1e-3, "{}", cal.rms_error_m);
        // The same pair 3 m off: the error shows.
        gnd[4].0 += 3.0;
        let cal = Calibration::fit(&img, &gnd).unwrap();
        assert!(
            cal.rms_error_m > 0.3 && cal.max_error_m > cal.rms_error_m,
            "{cal:?}"
        );
    }

    #[test]
    fn degenerate_sets_are_refused() {
        let (img, gnd) = square();
        assert_eq!(
            Calibration::fit(&img, &gnd[..3]),
            Err(CalibrationError::CountMismatch {
                image: 4,
                ground: 3
            })
        );
        assert_eq!(
            Calibration::fit(&img[..3], &gnd[..3]),
            Err(CalibrationError::TooFew(3))
        );
        let mut line = img.clone();
        line[2] = (0.5, 0.9); // on the bottom edge with points 0 and 1
        assert!(matches!(
            Calibration::fit(&line, &gnd),
            Err(CalibrationError::Collinear {
                set: "image",
                i: 0,
                j: 1,
                k: 2
            })
        ));
        let mut same = gnd.clone();
        same[3] = same[0];
        assert!(matches!(
            Calibration::fit(&img, &same),
            Err(CalibrationError::Collinear { set: "ground", .. })
        ));
        let mut nan = gnd.clone();
        nan[1].0 = f64::NAN;
        assert_eq!(
            Calibration::fit(&img, &nan),
            Err(CalibrationError::NotFinite)
        );
        // Ground corners listed in another order than the image's: a bow tie, folded across the
        // horizon.
        for crossed in [
            vec![gnd[0], gnd[2], gnd[1], gnd[3]],
            vec![gnd[1], gnd[0], gnd[2], gnd[3]],
            vec![(0.0, 0.0), (12.0, 0.0), (2.0, 8.0), (0.0, 20.0)],
        ] {
            let got = Calibration::fit(&img, &crossed);
            assert!(
                matches!(
                    got,
                    Err(CalibrationError::Folded(_) | CalibrationError::Degenerate)
                ),
                "{crossed:?}: {got:?}"
            );
        }
    }
}
