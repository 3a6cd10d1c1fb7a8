//! The image an operator sees with an alert: the triggering frame at the camera's aspect ratio,
//! with the rule's [`Overlay`] (zone outlines, lines, direction arrows, a count drawn as
//! seven-segment digits) and the objects boxed. No text is drawn (no font needed).

use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;

use crate::detect::BBox;
use crate::frames::Frame;
use crate::rules::{Arrow, Overlay};

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot render a snapshot: {0}")]
    BadFrame(String),
    #[error("cannot encode the snapshot as JPEG: {0}")]
    Encode(#[from] image::ImageError),
}

/// JPEG quality of snapshots.
pub const SNAPSHOT_QUALITY: u8 = 80;
/// Box outline thickness, pixels, on an image up to [`STROKE_HEIGHT`] high.
pub const BOX_THICKNESS: u32 = 3;
/// Strokes (boxes, lines, arrows) thicken by one step per this many rows of image, so that a
/// full-resolution snapshot (1080 rows: twice) reads like a detector-sized one.
pub const STROKE_HEIGHT: usize = 480;

/// Vivid colours for boxes, in turn (RGB).
pub const BOX_COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 160, 255], [255, 0, 255]];
/// Zone outline colour (RGB).
pub const ZONE_COLOUR: [u8; 3] = [255, 255, 0];
/// Line and arrow colour (RGB).
pub const LINE_COLOUR: [u8; 3] = [0, 255, 255];
/// Count digits colour (RGB), on a black plate.
pub const COUNT_COLOUR: [u8; 3] = [255, 255, 255];

/// Snapshot of `frame` with `boxes` (normalised, with their label) and `overlay`, as JPEG bytes.
///
/// The detector frame is stretched to its input size; the snapshot is scaled back to the source
/// aspect ratio: height = `frame.height`, width = `round(frame.height * source_w / source_h)`.
pub fn render_snapshot(
    frame: &Frame,
    boxes: &[(BBox, String)],
    overlay: &Overlay,
) -> Result<Vec<u8>, AlertError> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 {
        return Err(AlertError::BadFrame(format!(
            "empty frame {}x{}",
            frame.width, frame.height
        )));
    }
    let expected = w * h * 3;
    if frame.data.len() < expected {
        return Err(AlertError::BadFrame(format!(
            "frame {}x{} needs {expected} bytes of BGR, has {}",
            frame.width,
            frame.height,
            frame.data.len()
        )));
    }
    let out_w = if frame.source_width > 0 && frame.source_height > 0 {
        let ratio = f64::from(frame.source_width) / f64::from(frame.source_height);
        ((h as f64 * ratio).round() as usize).clamp(1, 16 * 1024)
    } else {
        w
    };
    let out_h = h;
    let mut img = Canvas {
        w: out_w,
        h: out_h,
        stroke: (out_h / STROKE_HEIGHT).max(1) as i64,
        rgb: resample_rows_bgr_to_rgb(&frame.data[..expected], w, h, out_w),
    };
    img.overlay(overlay);
    for (i, (bbox, _label)) in boxes.iter().enumerate() {
        img.rect(bbox, BOX_COLOURS[i % BOX_COLOURS.len()]);
    }
    if let Some(n) = overlay.count {
        img.count(n);
    }
    let mut jpeg = Vec::with_capacity(out_w * out_h / 4);
    let width = u32::try_from(out_w).map_err(|e| AlertError::BadFrame(e.to_string()))?;
    JpegEncoder::new_with_quality(&mut jpeg, SNAPSHOT_QUALITY).encode(
        &img.rgb,
        width,
        frame.height,
        ExtendedColorType::Rgb8,
    )?;
    Ok(jpeg)
}

/// Horizontal linear resampling (the height is unchanged) and BGR→RGB in one pass.
fn resample_rows_bgr_to_rgb(bgr: &[u8], w: usize, h: usize, out_w: usize) -> Vec<u8> {
    let mut out = vec![0u8; out_w * h * 3];
    // Per output column: left source column, right source column, weight of the right one.
    let scale = w as f32 / out_w as f32;
    let taps: Vec<(usize, usize, f32)> = (0..out_w)
        .map(|x| {
            let sx = ((x as f32 + 0.5) * scale - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = sx.floor() as usize;
            let x1 = (x0 + 1).min(w - 1);
            (x0, x1, sx - x0 as f32)
        })
        .collect();
    for (src_row, dst_row) in bgr.chunks_exact(w * 3).zip(out.chunks_exact_mut(out_w * 3)) {
        for (dst, &(x0, x1, t)) in dst_row.chunks_exact_mut(3).zip(&taps) {
            let a = &src_row[x0 * 3..x0 * 3 + 3];
            let b = &src_row[x1 * 3..x1 * 3 + 3];
            for c in 0..3 {
                let v = f32::from(a[2 - c]) * (1.0 - t) + f32::from(b[2 - c]) * t;
                dst[c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

struct Canvas {
    w: usize,
    h: usize,
    /// Stroke scale: 1 up to [`STROKE_HEIGHT`] rows, then one more per step.
    stroke: i64,
    rgb: Vec<u8>,
}

impl Canvas {
    fn to_px(&self, x: f32, y: f32) -> (i64, i64) {
        let fx = if x.is_finite() { x } else { 0.0 };
        let fy = if y.is_finite() { y } else { 0.0 };
        (
            (fx * self.w as f32).round() as i64,
            (fy * self.h as f32).round() as i64,
        )
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        self.rgb[i..i + 3].copy_from_slice(&c);
    }

    /// 1-pixel Bresenham line, clipped pixel by pixel.
    fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
        // Bound the work for absurd coordinates.
        let limit = 4 * (self.w + self.h) as i64;
        if [x0, y0, x1, y1].iter().any(|v| v.abs() > limit) {
            return;
        }
        let dx = (x1 - x0).abs();
        let dy = -(y1 - y0).abs();
        let sx = if x0 < x1 { 1 } else { -1 };
        let sy = if y0 < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            self.put(x0, y0, c);
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let (x0, x1) = (x0.max(0), x1.min(self.w as i64));
        let (y0, y1) = (y0.max(0), y1.min(self.h as i64));
        for y in y0..y1 {
            for x in x0..x1 {
                self.put(x, y, c);
            }
        }
    }

    /// A line 2 pixels thick (times the stroke scale).
    fn thick_line(&mut self, a: (i64, i64), b: (i64, i64), c: [u8; 3]) {
        let across_y = (b.0 - a.0).abs() >= (b.1 - a.1).abs();
        for k in 0..2 * self.stroke {
            let (dx, dy) = if across_y { (0, k) } else { (k, 0) };
            self.line((a.0 + dx, a.1 + dy), (b.0 + dx, b.1 + dy), c);
        }
    }

    /// A polyline through normalised points, closed or not.
    fn polyline(&mut self, points: &[(f32, f32)], closed: bool, c: [u8; 3]) {
        if points.len() < 2 {
            return;
        }
        let px: Vec<(i64, i64)> = points.iter().map(|&(x, y)| self.to_px(x, y)).collect();
        for w in px.windows(2) {
            self.thick_line(w[0], w[1], c);
        }
        if closed {
            self.thick_line(px[px.len() - 1], px[0], c);
        }
    }

    /// A shaft and two head strokes at 30 degrees, a quarter of the shaft long (at least 8 px
    /// times the stroke scale).
    fn arrow(&mut self, a: &Arrow, c: [u8; 3]) {
        let (from, to) = (self.to_px(a.from.0, a.from.1), self.to_px(a.to.0, a.to.1));
        self.thick_line(from, to, c);
        let (dx, dy) = ((from.0 - to.0) as f32, (from.1 - to.1) as f32);
        let len = dx.hypot(dy);
        if len < 1.0 {
            return;
        }
        let head = (len / 4.0).max(8.0 * self.stroke as f32) / len;
        for angle in [0.52f32, -0.52] {
            let (s, co) = angle.sin_cos();
            let (hx, hy) = ((dx * co - dy * s) * head, (dx * s + dy * co) * head);
            self.thick_line(to, (to.0 + hx.round() as i64, to.1 + hy.round() as i64), c);
        }
    }

    fn overlay(&mut self, o: &Overlay) {
        for p in &o.polygons {
            self.polyline(p, true, ZONE_COLOUR);
        }
        for l in &o.lines {
            self.polyline(l, false, LINE_COLOUR);
        }
        for a in &o.arrows {
            self.arrow(a, LINE_COLOUR);
        }
    }

    /// `n` in seven-segment digits on a black plate, top left; digit height 1/10 of the image.
    fn count(&mut self, n: u32) {
        // Segments a..g as bits 0..6.
        const DIGITS: [u8; 10] = [0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F];
        let text = n.to_string();
        let h = (self.h as i64 / 10).max(10);
        let (w, t, gap) = (h / 2, (h / 8).max(2), h / 4);
        let (x0, y0) = (gap, gap);
        let plate_w = text.len() as i64 * (w + gap) + gap;
        self.fill(
            x0 - gap / 2,
            y0 - gap / 2,
            x0 + plate_w - gap / 2,
            y0 + h + gap / 2,
            [0, 0, 0],
        );
        for (i, ch) in text.bytes().enumerate() {
            let bits = DIGITS[usize::from(ch - b'0')];
            let x = x0 + i as i64 * (w + gap);
            let m = y0 + h / 2;
            let segments = [
                (x, y0, x + w, y0 + t),               // a: top
                (x + w - t, y0, x + w, m),            // b: top right
                (x + w - t, m, x + w, y0 + h),        // c: bottom right
                (x, y0 + h - t, x + w, y0 + h),       // d: bottom
                (x, m, x + t, y0 + h),                // e: bottom left
                (x, y0, x + t, m),                    // f: top left
                (x, m - t / 2, x + w, m + t - t / 2), // g: middle
            ];
            for (k, &(a, b, c, d)) in segments.iter().enumerate() {
                if bits & (1 << k) != 0 {
                    self.fill(a, b, c, d, COUNT_COLOUR);
                }
            }
        }
    }

    /// Outline `BOX_THICKNESS` pixels thick (times the stroke scale), drawn inside the box edges.
    fn rect(&mut self, b: &BBox, c: [u8; 3]) {
        let (x0, y0) = self.to_px(b.x1.min(b.x2), b.y1.min(b.y2));
        let (x1, y1) = self.to_px(b.x1.max(b.x2), b.y1.max(b.y2));
        let (x1, y1) = (x1.max(x0 + 1), y1.max(y0 + 1));
        let t = i64::from(BOX_THICKNESS) * self.stroke;
        self.fill(x0, y0, x1, (y0 + t).min(y1), c); // top
        self.fill(x0, (y1 - t).max(y0), x1, y1, c); // bottom
        self.fill(x0, y0, (x0 + t).min(x1), y1, c); // left
        self.fill((x1 - t).max(x0), y0, x1, y1, c); // right
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn grey_frame(w: u32, h: u32, sw: u32, sh: u32) -> Frame {
        Frame {
            camera: Arc::from("cam"),
            seq: 1,
            pts_ns: 0,
            captured_at_ms: 0,
            captured: Instant::now(),
            width: w,
            height: h,
            source_width: sw,
            source_height: sh,
            data: vec![100; (w * h * 3) as usize],
        }
    }

    fn near(px: &[u8], want: [u8; 3], tol: i32) -> bool {
        px.iter()
            .zip(want)
            .all(|(&a, b)| (i32::from(a) - i32::from(b)).abs() <= tol)
    }

    #[test]
    fn snapshot_restores_aspect_and_draws_boxes() {
        let frame = grey_frame(416, 416, 1920, 1080);
        let bbox = BBox::new(0.25, 0.25, 0.75, 0.75);
        let zone = Overlay::polygon(&[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9)]);
        let jpeg = render_snapshot(&frame, &[(bbox, "person".into())], &zone).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let img = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8();
        // 416 * 1920 / 1080 = 739.6 → 740
        assert_eq!(img.dimensions(), (740, 416));
        // Middle of the top border (box spans x 185..555, y 104..312).
        let red = BOX_COLOURS[0];
        for (x, y) in [(370, 105), (370, 310), (186, 208), (553, 208)] {
            let p = img.get_pixel(x, y).0;
            assert!(near(&p, red, 70), "({x},{y}) = {p:?}");
        }
        // Inside the box and far from every line: the grey background.
        let p = img.get_pixel(300, 250).0;
        assert!(near(&p, [100, 100, 100], 12), "{p:?}");
    }

    #[test]
    fn snapshot_converts_bgr_to_rgb() {
        let mut frame = grey_frame(8, 8, 8, 8);
        for px in frame.data.chunks_exact_mut(3) {
            px.copy_from_slice(&[200, 30, 10]); // BGR: blue
        }
        let jpeg = render_snapshot(&frame, &[], &Overlay::none()).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (8, 8));
        let p = img.get_pixel(4, 4).0;
        assert!(near(&p, [10, 30, 200], 20), "{p:?}");
    }

    #[test]
    fn snapshot_rejects_a_short_buffer() {
        let mut frame = grey_frame(4, 4, 4, 4);
        frame.data.truncate(10);
        assert!(matches!(
            render_snapshot(&frame, &[], &Overlay::none()),
            Err(AlertError::BadFrame(_))
        ));
    }

    #[test]
    fn boxes_outside_the_image_are_clipped() {
        let frame = grey_frame(16, 16, 32, 16);
        let bbox = BBox::new(-0.5, 0.5, 1.5, 3.0);
        let jpeg = render_snapshot(
            &frame,
            &[(bbox, "car".into())],
            &Overlay::polygon(&[(0.0, 0.0), (5.0, -9.0)]).with_count(12),
        );
        let img = image::load_from_memory(&jpeg.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (32, 16));
    }

    #[test]
    fn strokes_thicken_on_a_full_resolution_image() {
        let frame = grey_frame(1920, 1080, 1920, 1080);
        let bbox = BBox::new(0.25, 0.25, 0.75, 0.75);
        let jpeg = render_snapshot(&frame, &[(bbox, "person".into())], &Overlay::none()).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (1920, 1080));
        // The box's top edge at y = 270: 3 rows on a 416-row image, 6 here (1080 / 480 = 2).
        let red = BOX_COLOURS[0];
        assert!(near(&img.get_pixel(960, 274).0, red, 70));
        assert!(near(&img.get_pixel(960, 280).0, [100, 100, 100], 12));
    }

    #[test]
    fn lines_arrows_and_count_are_drawn() {
        let frame = grey_frame(200, 100, 200, 100);
        let overlay = Overlay {
            lines: vec![vec![(0.1, 0.8), (0.9, 0.8)]],
            arrows: vec![Arrow {
                from: (0.5, 0.5),
                to: (0.9, 0.5),
            }],
            count: Some(8),
            ..Overlay::default()
        };
        let jpeg = render_snapshot(&frame, &[], &overlay).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        // The line at y = 80, the arrow's shaft at y = 50.
        assert!(near(&img.get_pixel(100, 80).0, LINE_COLOUR, 70));
        assert!(near(&img.get_pixel(150, 50).0, LINE_COLOUR, 70));
        // The head: a stroke going back and up from the tip (180, 50).
        assert!(near(&img.get_pixel(174, 47).0, LINE_COLOUR, 90));
        // Digit 8 at the top left (plate from ~(2, 2)): its middle bar at y ~ 2 + 5.
        assert!(
            near(&img.get_pixel(4, 7).0, COUNT_COLOUR, 90),
            "{:?}",
            img.get_pixel(4, 7)
        );
        // The plate is black around it, the background grey far from everything.
        assert!(near(&img.get_pixel(100, 20).0, [100, 100, 100], 12));
    }
}
