//! The image an operator sees with an alert: the triggering frame at the camera's aspect ratio,
//! with the zone outlined and the objects boxed. No text is drawn (no font needed).

use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;

use crate::detect::BBox;
use crate::frames::Frame;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot render a snapshot: {0}")]
    BadFrame(String),
    #[error("cannot encode the snapshot as JPEG: {0}")]
    Encode(#[from] image::ImageError),
}

/// JPEG quality of snapshots.
pub const SNAPSHOT_QUALITY: u8 = 80;
/// Box outline thickness, pixels.
pub const BOX_THICKNESS: u32 = 3;

/// Vivid colours for boxes, in turn (RGB).
pub const BOX_COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 160, 255], [255, 0, 255]];
/// Zone outline colour (RGB).
pub const ZONE_COLOUR: [u8; 3] = [255, 255, 0];

/// Snapshot of `frame` with `boxes` (normalised, with their label) and an optional zone polygon
/// (normalised vertices), as JPEG bytes.
///
/// The detector frame is stretched to its input size; the snapshot is scaled back to the source
/// aspect ratio: height = `frame.height`, width = `round(frame.height * source_w / source_h)`.
pub fn render_snapshot(
    frame: &Frame,
    boxes: &[(BBox, String)],
    zone: Option<&[(f32, f32)]>,
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
        rgb: resample_rows_bgr_to_rgb(&frame.data[..expected], w, h, out_w),
    };
    if let Some(points) = zone.filter(|p| p.len() >= 2) {
        let px: Vec<(i64, i64)> = points.iter().map(|&(x, y)| img.to_px(x, y)).collect();
        for i in 0..px.len() {
            let (a, b) = (px[i], px[(i + 1) % px.len()]);
            img.line(a, b, ZONE_COLOUR);
        }
    }
    for (i, (bbox, _label)) in boxes.iter().enumerate() {
        img.rect(bbox, BOX_COLOURS[i % BOX_COLOURS.len()]);
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

    /// Outline `BOX_THICKNESS` pixels thick, drawn inside the box edges.
    fn rect(&mut self, b: &BBox, c: [u8; 3]) {
        let (x0, y0) = self.to_px(b.x1.min(b.x2), b.y1.min(b.y2));
        let (x1, y1) = self.to_px(b.x1.max(b.x2), b.y1.max(b.y2));
        let (x1, y1) = (x1.max(x0 + 1), y1.max(y0 + 1));
        let t = i64::from(BOX_THICKNESS);
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
        let zone = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9)];
        let jpeg = render_snapshot(&frame, &[(bbox, "person".into())], Some(&zone)).unwrap();
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
        let jpeg = render_snapshot(&frame, &[], None).unwrap();
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
            render_snapshot(&frame, &[], None),
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
            Some(&[(0.0, 0.0), (5.0, -9.0)]),
        );
        let img = image::load_from_memory(&jpeg.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (32, 16));
    }
}
