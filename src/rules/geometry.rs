//! Geometry shared by the rules: point in polygon, signed distance to a polygon's edge, distance
//! to a polyline, area. Works in any plane: normalised image coordinates, image-height units or
//! metres on the ground.

/// Distance (normalised image units) within which a point counts as lying on a polygon edge:
/// about 0.002 pixel on a 1920-pixel-wide frame, i.e. "exactly on the line" up to `f32` rounding.
pub const BOUNDARY_EPSILON: f64 = 1e-6;

/// Whether `p` lies inside `polygon` (normalised image coordinates, vertices in order, either
/// orientation, implicitly closed).
///
/// * Even-odd (crossing-number) rule: works for any simple polygon, convex or concave. For a
///   self-intersecting polygon, regions covered an even number of times count as outside.
/// * **The boundary counts as inside**: a point on an edge or a vertex (within
///   [`BOUNDARY_EPSILON`]) is inside, whatever the edge's orientation. The zone is a closed set:
///   someone standing on the painted line of a restricted area is in it. The result is therefore
///   the same for a polygon and its reversed vertex order.
/// * Fewer than 3 vertices, or a non-finite point: `false`.
pub fn point_in_polygon(p: (f32, f32), polygon: &[(f32, f32)]) -> bool {
    if polygon.len() < 3 || !p.0.is_finite() || !p.1.is_finite() {
        return false;
    }
    let (px, py) = (f64::from(p.0), f64::from(p.1));
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (xi, yi) = (f64::from(polygon[i].0), f64::from(polygon[i].1));
        let (xj, yj) = (f64::from(polygon[j].0), f64::from(polygon[j].1));
        if on_segment((px, py), (xj, yj), (xi, yi)) {
            return true;
        }
        // Half-open rule on y so a ray through a vertex is counted once.
        if (yi > py) != (yj > py) {
            let x_cross = xi + (py - yi) * (xj - xi) / (yj - yi);
            if px < x_cross {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// `p` within [`BOUNDARY_EPSILON`] of the segment `a`–`b`.
fn on_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (qx, qy) = (p.0 - a.0, p.1 - a.1);
    let len = dx.hypot(dy);
    if len == 0.0 {
        return qx.hypot(qy) <= BOUNDARY_EPSILON;
    }
    let cross = dx * qy - dy * qx; // = distance to the line × len
    if cross.abs() > BOUNDARY_EPSILON * len {
        return false;
    }
    let dot = dx * qx + dy * qy; // = projection × len
    dot >= -BOUNDARY_EPSILON * len && dot <= len * len + BOUNDARY_EPSILON * len
}

/// Distance from `p` to the segment `a`–`b`.
pub fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p.0 - (a.0 + t * dx)).hypot(p.1 - (a.1 + t * dy))
}

/// Distance from `p` to the nearest point of a polyline (open: the last point is not joined to
/// the first). Infinite for fewer than 2 points.
pub fn polyline_distance(p: (f32, f32), points: &[(f32, f32)]) -> f32 {
    points
        .windows(2)
        .map(|w| segment_distance(p, w[0], w[1]))
        .fold(f32::INFINITY, f32::min)
}

/// How far `p` is inside `polygon`: the distance to the nearest edge, positive inside (the
/// boundary counts as inside, depth 0), negative outside. `-inf` for a degenerate polygon or a
/// non-finite point. Same units as the coordinates.
pub fn signed_depth(p: (f32, f32), polygon: &[(f32, f32)]) -> f32 {
    signed_depth_open(p, polygon, &[])
}

/// [`signed_depth`] ignoring the edges marked `open` (`open[i]`: the edge from vertex `i` to the
/// next), e.g. a zone's edges along the image border, which nobody crosses. `+inf` inside a
/// polygon whose edges are all open.
pub fn signed_depth_open(p: (f32, f32), polygon: &[(f32, f32)], open: &[bool]) -> f32 {
    if polygon.len() < 3 || !p.0.is_finite() || !p.1.is_finite() {
        return f32::NEG_INFINITY;
    }
    let n = polygon.len();
    let d = (0..n)
        .filter(|&i| !open.get(i).copied().unwrap_or(false))
        .map(|i| segment_distance(p, polygon[i], polygon[(i + 1) % n]))
        .fold(f32::INFINITY, f32::min);
    if point_in_polygon(p, polygon) {
        d
    } else {
        -d
    }
}

/// For each edge of a polygon in normalised image coordinates (from vertex `i` to the next):
/// whether it lies along the image border (both ends on the same side, within 0.2 %).
pub fn border_edges(polygon: &[(f32, f32)]) -> Vec<bool> {
    const E: f32 = 0.002;
    let on = |a: f32, b: f32, v: f32| (a - v).abs() <= E && (b - v).abs() <= E;
    let n = polygon.len();
    (0..n)
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % n]);
            on(a.0, b.0, 0.0) || on(a.0, b.0, 1.0) || on(a.1, b.1, 0.0) || on(a.1, b.1, 1.0)
        })
        .collect()
}

/// Area of a simple polygon (shoelace formula), in the square of the coordinates' unit.
pub fn polygon_area(polygon: &[(f32, f32)]) -> f32 {
    let n = polygon.len();
    if n < 3 {
        return 0.0;
    }
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % n]);
            f64::from(a.0) * f64::from(b.1) - f64::from(b.0) * f64::from(a.1)
        })
        .sum();
    (twice.abs() / 2.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [(f32, f32); 4] = [(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)];

    /// A "U": two arms joined at the bottom, the notch between them (0.4..0.6 × 0.1..0.6) is
    /// outside.
    const U: [(f32, f32); 8] = [
        (0.2, 0.1),
        (0.4, 0.1),
        (0.4, 0.6),
        (0.6, 0.6),
        (0.6, 0.1),
        (0.8, 0.1),
        (0.8, 0.9),
        (0.2, 0.9),
    ];

    fn reversed(p: &[(f32, f32)]) -> Vec<(f32, f32)> {
        p.iter().rev().copied().collect()
    }

    #[test]
    fn square_inside_outside() {
        for poly in [SQUARE.to_vec(), reversed(&SQUARE)] {
            assert!(point_in_polygon((0.4, 0.4), &poly));
            assert!(point_in_polygon((0.21, 0.59), &poly));
            assert!(!point_in_polygon((0.1, 0.4), &poly));
            assert!(!point_in_polygon((0.7, 0.4), &poly));
            assert!(!point_in_polygon((0.4, 0.1), &poly));
            assert!(!point_in_polygon((0.4, 0.7), &poly));
            // Ray through a vertex level.
            assert!(!point_in_polygon((0.1, 0.2), &poly));
            assert!(!point_in_polygon((0.1, 0.6), &poly));
        }
    }

    #[test]
    fn concave_polygon() {
        for poly in [U.to_vec(), reversed(&U)] {
            assert!(point_in_polygon((0.3, 0.3), &poly), "left arm");
            assert!(point_in_polygon((0.7, 0.3), &poly), "right arm");
            assert!(point_in_polygon((0.5, 0.8), &poly), "base");
            assert!(!point_in_polygon((0.5, 0.3), &poly), "notch");
            assert!(
                !point_in_polygon((0.5, 0.59), &poly),
                "notch, near its floor"
            );
            assert!(point_in_polygon((0.5, 0.61), &poly), "just below the notch");
            assert!(!point_in_polygon((0.9, 0.5), &poly));
            // Horizontal ray at the level of the notch's floor vertices.
            assert!(!point_in_polygon((0.1, 0.6), &poly));
            assert!(point_in_polygon((0.3, 0.6), &poly));
        }
    }

    #[test]
    fn boundary_counts_as_inside() {
        for poly in [SQUARE.to_vec(), reversed(&SQUARE)] {
            // Every edge, including the bottom and right ones that a plain half-open crossing
            // test would classify as outside.
            for p in [(0.4, 0.2), (0.6, 0.4), (0.4, 0.6), (0.2, 0.4)] {
                assert!(point_in_polygon(p, &poly), "{p:?}");
            }
            for v in SQUARE {
                assert!(point_in_polygon(v, &poly), "vertex {v:?}");
            }
            // Just outside is outside.
            assert!(!point_in_polygon((0.4, 0.601), &poly));
            assert!(!point_in_polygon((0.6001, 0.4), &poly));
            // On the line through an edge but beyond the segment: outside.
            assert!(!point_in_polygon((0.7, 0.6), &poly));
        }
        // Concave: the notch's floor is boundary.
        assert!(point_in_polygon((0.5, 0.6), &U));
        assert!(point_in_polygon((0.4, 0.3), &U));
    }

    #[test]
    fn degenerate_inputs() {
        assert!(!point_in_polygon((0.4, 0.4), &[]));
        assert!(!point_in_polygon((0.4, 0.4), &[(0.0, 0.0), (1.0, 1.0)]));
        assert!(!point_in_polygon((f32::NAN, 0.4), &SQUARE));
        assert!(!point_in_polygon((0.4, f32::INFINITY), &SQUARE));
        // Triangle, diagonal edge.
        let tri = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)];
        assert!(point_in_polygon((0.2, 0.2), &tri));
        assert!(point_in_polygon((0.5, 0.5), &tri), "on the hypotenuse");
        assert!(!point_in_polygon((0.51, 0.51), &tri));
    }

    #[test]
    fn signed_depth_distance_and_area() {
        // Square 0.2..0.6: depth is the distance to the nearest edge, negative outside.
        assert!((signed_depth((0.4, 0.4), &SQUARE) - 0.2).abs() < 1e-6);
        assert!((signed_depth((0.25, 0.4), &SQUARE) - 0.05).abs() < 1e-6);
        assert!((signed_depth((0.1, 0.4), &SQUARE) + 0.1).abs() < 1e-6);
        assert!((signed_depth((0.7, 0.7), &SQUARE) + 0.02f32.sqrt()).abs() < 1e-6);
        assert!(signed_depth((0.4, 0.2), &SQUARE).abs() < 1e-6);
        assert_eq!(signed_depth((0.4, 0.4), &SQUARE[..2]), f32::NEG_INFINITY);
        // Concave: the notch is outside, its depth measured to the nearest arm.
        assert!((signed_depth((0.5, 0.3), &U) + 0.1).abs() < 1e-6);
        assert!((polyline_distance((0.5, 1.0), &[(0.0, 0.0), (1.0, 0.0)]) - 1.0).abs() < 1e-6);
        assert!((polyline_distance((2.0, 0.0), &[(0.0, 0.0), (1.0, 0.0)]) - 1.0).abs() < 1e-6);
        assert_eq!(polyline_distance((0.0, 0.0), &[(1.0, 1.0)]), f32::INFINITY);
        assert!((polygon_area(&SQUARE) - 0.16).abs() < 1e-6);
        // A zone against the right border of the image: that edge is not a boundary.
        let against = [(0.5, 0.2), (1.0, 0.2), (1.0, 0.6), (0.5, 0.6)];
        let open = border_edges(&against);
        assert_eq!(open, vec![false, true, false, false]);
        assert!((signed_depth((0.99, 0.4), &against) - 0.01).abs() < 1e-6);
        assert!((signed_depth_open((0.99, 0.4), &against, &open) - 0.2).abs() < 1e-6);
        assert_eq!(
            signed_depth_open(
                (0.5, 0.5),
                &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
                &[true; 4]
            ),
            f32::INFINITY
        );
        assert!((polygon_area(&reversed(&U)) - (0.6 * 0.8 - 0.2 * 0.5)).abs() < 1e-6);
    }
}
