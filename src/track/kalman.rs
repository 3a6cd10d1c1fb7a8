//! The motion model of one track: a constant-velocity Kalman filter on the box centre and a
//! random-walk Kalman filter on the box size, all in normalised image units and seconds.
//!
//! With independent (diagonal) process and measurement noise, the 4-D constant-velocity filter on
//! `(cx, cy, vx, vy)` splits exactly into two independent 2-state filters, one per axis; width and
//! height are each a 1-state filter (size is assumed constant, allowed to drift). This keeps the
//! arithmetic scalar, allocation-free and easy to audit.
//!
//! Process noise is the continuous white-noise-acceleration model, so predicting over `dt1` then
//! `dt2` is the same as predicting once over `dt1 + dt2`: irregular frame intervals need no special
//! care, only the true `dt` from timestamps.

use crate::detect::BBox;

/// Standard deviation of a detector's box-centre measurement, normalised units (1 % of the frame).
const CENTRE_MEAS_STD: f32 = 0.01;
/// Spectral density of the centre's acceleration noise, (units/s²)²·s. Pedestrians and vehicles
/// seen by a city camera change speed by a few tenths of the frame per second, per second.
const CENTRE_ACCEL_Q: f32 = 0.1;
/// Variance of the velocity of a new track (velocity std 1 frame/s): the second match sets it.
const INIT_VEL_VAR: f32 = 1.0;
/// Measurement noise of the box width / height (normalised units).
const SIZE_MEAS_STD: f32 = 0.01;
/// Random-walk noise of the box size, units²/s.
const SIZE_Q: f32 = 0.01;
/// Smallest width/height a predicted box may shrink to.
const MIN_SIZE: f32 = 1e-4;

/// One axis of the constant-velocity filter: state `(p, v)`, covariance `[[p00, p01], [p01, p11]]`.
#[derive(Debug, Clone, Copy)]
struct CvAxis {
    p: f32,
    v: f32,
    p00: f32,
    p01: f32,
    p11: f32,
}

impl CvAxis {
    fn new(z: f32) -> Self {
        CvAxis {
            p: z,
            v: 0.0,
            p00: CENTRE_MEAS_STD * CENTRE_MEAS_STD,
            p01: 0.0,
            p11: INIT_VEL_VAR,
        }
    }

    fn predict(&mut self, dt: f32) {
        if dt <= 0.0 {
            return;
        }
        let q = CENTRE_ACCEL_Q;
        let dt2 = dt * dt;
        self.p += self.v * dt;
        // P = F P Fᵀ + Q, F = [[1, dt], [0, 1]], Q = q [[dt³/3, dt²/2], [dt²/2, dt]].
        let p00 = self.p00 + 2.0 * dt * self.p01 + dt2 * self.p11 + q * dt2 * dt / 3.0;
        let p01 = self.p01 + dt * self.p11 + q * dt2 / 2.0;
        let p11 = self.p11 + q * dt;
        self.p00 = p00;
        self.p01 = p01;
        self.p11 = p11;
    }

    fn update(&mut self, z: f32) {
        let r = CENTRE_MEAS_STD * CENTRE_MEAS_STD;
        let s = self.p00 + r;
        if s <= 0.0 || !s.is_finite() {
            *self = CvAxis::new(z);
            return;
        }
        let k0 = self.p00 / s;
        let k1 = self.p01 / s;
        let y = z - self.p;
        self.p += k0 * y;
        self.v += k1 * y;
        // P = (I - K H) P
        let p00 = (1.0 - k0) * self.p00;
        let p01 = (1.0 - k0) * self.p01;
        let p11 = self.p11 - k1 * self.p01;
        self.p00 = p00;
        self.p01 = p01;
        self.p11 = p11.max(0.0);
    }
}

/// A scalar random-walk filter (box width or height).
#[derive(Debug, Clone, Copy)]
struct RwScalar {
    x: f32,
    var: f32,
}

impl RwScalar {
    fn new(z: f32) -> Self {
        RwScalar {
            x: z,
            var: SIZE_MEAS_STD * SIZE_MEAS_STD,
        }
    }
    fn predict(&mut self, dt: f32) {
        if dt > 0.0 {
            self.var += SIZE_Q * dt;
        }
    }
    fn update(&mut self, z: f32) {
        let r = SIZE_MEAS_STD * SIZE_MEAS_STD;
        let k = self.var / (self.var + r);
        self.x += k * (z - self.x);
        self.var *= 1.0 - k;
    }
}

/// The motion state of one track.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoxFilter {
    cx: CvAxis,
    cy: CvAxis,
    w: RwScalar,
    h: RwScalar,
}

impl BoxFilter {
    pub(crate) fn new(b: &BBox) -> Self {
        let (cx, cy, w, h) = centre_size(b);
        BoxFilter {
            cx: CvAxis::new(cx),
            cy: CvAxis::new(cy),
            w: RwScalar::new(w),
            h: RwScalar::new(h),
        }
    }

    /// Advance the state by `dt` seconds (no-op for `dt <= 0`).
    pub(crate) fn predict(&mut self, dt: f32) {
        self.cx.predict(dt);
        self.cy.predict(dt);
        self.w.predict(dt);
        self.h.predict(dt);
    }

    /// Correct the state with a measured box.
    pub(crate) fn update(&mut self, b: &BBox) {
        let (cx, cy, w, h) = centre_size(b);
        self.cx.update(cx);
        self.cy.update(cy);
        self.w.update(w);
        self.h.update(h);
    }

    /// The current (predicted or filtered) box.
    pub(crate) fn bbox(&self) -> BBox {
        let w = self.w.x.max(MIN_SIZE) * 0.5;
        let h = self.h.x.max(MIN_SIZE) * 0.5;
        BBox::new(self.cx.p - w, self.cy.p - h, self.cx.p + w, self.cy.p + h)
    }

    /// Velocity of the box centre, normalised units per second.
    pub(crate) fn velocity(&self) -> (f32, f32) {
        (self.cx.v, self.cy.v)
    }
}

fn centre_size(b: &BBox) -> (f32, f32, f32, f32) {
    (
        (b.x1 + b.x2) * 0.5,
        (b.y1 + b.y2) * 0.5,
        b.width(),
        b.height(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_constant_velocity() {
        let mut f = BoxFilter::new(&BBox::new(0.1, 0.2, 0.2, 0.5));
        let mut t = 0.0f32;
        for dt in [0.1f32, 0.05, 0.2, 0.03, 0.15, 0.1, 0.07, 0.3] {
            t += dt;
            f.predict(dt);
            let x = 0.1 + 0.4 * t;
            let y = 0.2 - 0.1 * t;
            f.update(&BBox::new(x, y, x + 0.1, y + 0.3));
        }
        let (vx, vy) = f.velocity();
        assert!((vx - 0.4).abs() < 0.02, "vx {vx}");
        assert!((vy + 0.1).abs() < 0.02, "vy {vy}");
        // Predict 0.3 s ahead: the box moves with the velocity.
        let before = f.bbox();
        f.predict(0.3);
        let after = f.bbox();
        assert!(((after.x1 - before.x1) - 0.12).abs() < 0.01);
        assert!((after.width() - before.width()).abs() < 1e-6);
    }

    #[test]
    fn predict_split_equals_predict_once() {
        let mut a = BoxFilter::new(&BBox::new(0.1, 0.1, 0.2, 0.3));
        a.predict(0.1);
        a.update(&BBox::new(0.12, 0.1, 0.22, 0.3));
        let mut b = a;
        a.predict(0.25);
        b.predict(0.1);
        b.predict(0.15);
        assert!((a.cx.p - b.cx.p).abs() < 1e-6);
        assert!((a.cx.p00 - b.cx.p00).abs() < 1e-6);
        assert!((a.cx.p01 - b.cx.p01).abs() < 1e-6);
        assert!((a.cx.p11 - b.cx.p11).abs() < 1e-6);
    }
}
