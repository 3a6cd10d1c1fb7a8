//! Pre-processing: packed 8-bit BGR frames to a normalised NCHW float tensor (B, G, R planes),
//! with a bilinear resize that reproduces OpenCV's `INTER_LINEAR` for 8-bit images.

use std::path::Path;

use super::DetectError;

/// Fixed-point precision of the interpolation coefficients (OpenCV `INTER_RESIZE_COEF_BITS`).
const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// `lut[c][v] = (v - mean[c]) / std[c]`: the same value as computing it per pixel, without a
/// division per sample.
fn normalise_luts(mean: [f32; 3], std: [f32; 3]) -> [[f32; 256]; 3] {
    let mut lut = [[0.0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, slot) in table.iter_mut().enumerate() {
            *slot = (v as f32 - mean[c]) / std[c];
        }
    }
    lut
}

fn checked_len(what: &'static str, w: u32, h: u32, per_pixel: usize) -> Result<usize, DetectError> {
    if w == 0 || h == 0 {
        return Err(DetectError::Dimensions {
            what,
            width: w,
            height: h,
        });
    }
    (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(per_pixel))
        .filter(|&n| n <= i32::MAX as usize)
        .ok_or(DetectError::Dimensions {
            what,
            width: w,
            height: h,
        })
}

/// Checks that a buffer of `len` elements holds a `w x h` image of `per_pixel` elements each.
fn check_buffer(
    dims: &'static str,
    what: &'static str,
    len: usize,
    (w, h): (u32, u32),
    per_pixel: usize,
) -> Result<(), DetectError> {
    let expected = checked_len(dims, w, h, per_pixel)?;
    if len != expected {
        return Err(DetectError::BufferSize {
            what,
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// Checks a packed BGR source frame of `width x height`.
pub(crate) fn check_source(src: &[u8], width: u32, height: u32) -> Result<(), DetectError> {
    check_buffer(
        "source frame",
        "source BGR frame (width * height * 3 bytes)",
        src.len(),
        (width, height),
        3,
    )
}

/// Converts a packed BGR frame (`width * height * 3` bytes, row stride `width * 3`) into the
/// model input: NCHW float32, planes B, G, R, `x = (pixel - mean) / std` (`mean` and `std` in
/// B, G, R order). `out` must hold `3 * input_w * input_h` floats.
///
/// A frame already at the input size is converted without resizing (the engine's hot path);
/// otherwise the whole frame is stretched to the input size with a bilinear resize equal to
/// OpenCV `cv::resize(..., INTER_LINEAR)` on 8-bit images (half-pixel centres, fixed-point
/// coefficients, rounded to 8 bits before normalisation).
#[allow(clippy::too_many_arguments)]
pub fn preprocess_bgr(
    src: &[u8],
    width: u32,
    height: u32,
    input_w: u32,
    input_h: u32,
    mean: [f32; 3],
    std: [f32; 3],
    out: &mut [f32],
) -> Result<(), DetectError> {
    check_source(src, width, height)?;
    check_buffer(
        "model input",
        "input tensor (3 * input_w * input_h floats)",
        out.len(),
        (input_w, input_h),
        3,
    )?;
    let lut = normalise_luts(mean, std);
    if width == input_w && height == input_h {
        normalise_same_size(src, &lut, out);
    } else {
        let plane = input_w as usize * input_h as usize;
        resize_linear(src, width, height, input_w, input_h, |i, c, v| {
            out[c * plane + i] = lut[c][usize::from(v)];
        });
    }
    Ok(())
}

/// Converts a packed BGR frame into an NHWC int32 RGB tensor of raw pixel values (0..255), as
/// MoveNet takes it: the whole frame stretched to `input_w x input_h` with the same OpenCV-equal
/// bilinear resize as [`preprocess_bgr`]. `out` must hold `3 * input_w * input_h` values.
pub fn preprocess_rgb_i32(
    src: &[u8],
    width: u32,
    height: u32,
    input_w: u32,
    input_h: u32,
    out: &mut [i32],
) -> Result<(), DetectError> {
    check_source(src, width, height)?;
    check_buffer(
        "model input",
        "input tensor (3 * input_w * input_h int32)",
        out.len(),
        (input_w, input_h),
        3,
    )?;
    if (width, height) == (input_w, input_h) {
        for (o, px) in out.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
            o.copy_from_slice(&[i32::from(px[2]), i32::from(px[1]), i32::from(px[0])]);
        }
    } else {
        resize_linear(src, width, height, input_w, input_h, |i, c, v| {
            out[i * 3 + 2 - c] = i32::from(v);
        });
    }
    Ok(())
}

/// Resizes a packed 3-channel 8-bit image (`width * height * 3` bytes) to `out_w x out_h`
/// (`out` holds `out_w * out_h * 3` bytes, same channel order) with the OpenCV-equal bilinear
/// resize of [`preprocess_bgr`]; a copy when the sizes are equal.
pub fn resize_bgr(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
    out: &mut [u8],
) -> Result<(), DetectError> {
    check_source(src, width, height)?;
    check_buffer(
        "resized image",
        "resized image (out_w * out_h * 3 bytes)",
        out.len(),
        (out_w, out_h),
        3,
    )?;
    if (width, height) == (out_w, out_h) {
        out.copy_from_slice(src);
    } else {
        resize_linear(src, width, height, out_w, out_h, |i, c, v| {
            out[i * 3 + c] = v
        });
    }
    Ok(())
}

fn normalise_same_size(src: &[u8], lut: &[[f32; 256]; 3], out: &mut [f32]) {
    let plane = out.len() / 3;
    let (b, rest) = out.split_at_mut(plane);
    let (g, r) = rest.split_at_mut(plane);
    for (((px, b), g), r) in src
        .chunks_exact(3)
        .zip(b.iter_mut())
        .zip(g.iter_mut())
        .zip(r.iter_mut())
    {
        *b = lut[0][usize::from(px[0])];
        *g = lut[1][usize::from(px[1])];
        *r = lut[2][usize::from(px[2])];
    }
}

/// One destination coordinate of a linear resize: the two source indices and their fixed-point
/// weights (summing to `1 << COEF_BITS`).
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: i32,
    w1: i32,
}

fn round_coef(v: f32) -> i32 {
    // OpenCV's saturate_cast<short>(float) rounds half to even.
    (v * COEF_SCALE).round_ties_even() as i32
}

/// Taps along one axis, as OpenCV computes them: `f = (d + 0.5) * scale - 0.5` in double, cast to
/// float, split into floor and fraction. `clamp_fraction` reproduces the horizontal case, where
/// OpenCV zeroes the fraction at the borders; vertically it only clamps the row indices.
fn taps(src_len: u32, dst_len: u32, clamp_fraction: bool) -> Vec<Tap> {
    let inv_scale = f64::from(dst_len) / f64::from(src_len);
    let scale = 1.0 / inv_scale;
    let last = src_len as i64 - 1;
    (0..dst_len)
        .map(|d| {
            let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut frac = f - s as f32;
            if clamp_fraction {
                if s < 0 {
                    s = 0;
                    frac = 0.0;
                }
                if s >= last {
                    s = last;
                    frac = 0.0;
                }
            }
            let i0 = s.clamp(0, last) as usize;
            let i1 = (s + 1).clamp(0, last) as usize;
            Tap {
                i0,
                i1,
                w0: round_coef(1.0 - frac),
                w1: round_coef(frac),
            }
        })
        .collect()
}

/// Horizontal pass of one source row: `dst[x * 3 + c] = S[i0] * w0 + S[i1] * w1` (scaled by 2048).
fn hresize_row(row: &[u8], xtaps: &[Tap], dst: &mut [i32]) {
    for (t, d) in xtaps.iter().zip(dst.chunks_exact_mut(3)) {
        let p0 = &row[t.i0 * 3..t.i0 * 3 + 3];
        let p1 = &row[t.i1 * 3..t.i1 * 3 + 3];
        for c in 0..3 {
            d[c] = i32::from(p0[c]) * t.w0 + i32::from(p1[c]) * t.w1;
        }
    }
}

/// OpenCV's 8-bit vertical step (`VResizeLinear<uchar, int, short, ...>`), bit for bit.
#[inline]
fn vmix(s0: i32, s1: i32, b0: i32, b1: i32) -> u8 {
    let v = (((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2;
    v.clamp(0, 255) as u8
}

/// OpenCV-equal bilinear resize of a packed 3-channel 8-bit image; `put(pixel, channel, value)`
/// receives each output sample (`pixel` = `y * input_w + x`), so callers write their own layout.
fn resize_linear(
    src: &[u8],
    width: u32,
    height: u32,
    input_w: u32,
    input_h: u32,
    mut put: impl FnMut(usize, usize, u8),
) {
    let xtaps = taps(width, input_w, true);
    let ytaps = taps(height, input_h, false);
    let stride = width as usize * 3;
    let dst_w = input_w as usize;
    let mut rows = [vec![0i32; dst_w * 3], vec![0i32; dst_w * 3]];
    let mut cached: [Option<usize>; 2] = [None, None];

    for (dy, t) in ytaps.iter().enumerate() {
        if cached[0] != Some(t.i0) {
            if cached[1] == Some(t.i0) {
                // Moving down: the previous lower row is the new upper row.
                rows.swap(0, 1);
                cached.swap(0, 1);
            } else {
                let row = &src[t.i0 * stride..(t.i0 + 1) * stride];
                hresize_row(row, &xtaps, &mut rows[0]);
                cached[0] = Some(t.i0);
            }
        }
        if cached[1] != Some(t.i1) {
            let row = &src[t.i1 * stride..(t.i1 + 1) * stride];
            hresize_row(row, &xtaps, &mut rows[1]);
            cached[1] = Some(t.i1);
        }
        let base = dy * dst_w;
        let (r0, r1) = (&rows[0], &rows[1]);
        for dx in 0..dst_w {
            for c in 0..3 {
                put(
                    base + dx,
                    c,
                    vmix(r0[dx * 3 + c], r1[dx * 3 + c], t.w0, t.w1),
                );
            }
        }
    }
}

/// Decodes an image file (JPEG) into packed BGR bytes; returns `(bgr, width, height)`. The EXIF
/// orientation, if any, is applied (as OpenCV's `imread` does).
pub fn load_image_bgr(path: &Path) -> Result<(Vec<u8>, u32, u32), DetectError> {
    use image::ImageDecoder;
    let decode_err = |e: image::ImageError| DetectError::ImageDecode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let reader = image::ImageReader::open(path)
        .map_err(|source| DetectError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| DetectError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let orientation = decoder.orientation().map_err(decode_err)?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    let mut bgr = rgb.into_raw();
    for px in bgr.chunks_exact_mut(3) {
        px.swap(0, 2);
    }
    Ok((bgr, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEAN: [f32; 3] = [103.53, 116.28, 123.675];
    const STD: [f32; 3] = [57.375, 57.12, 58.395];

    #[test]
    fn fast_path_is_planar_bgr_normalised() {
        // 2x1 image: pixel 0 = (B=10, G=20, R=30), pixel 1 = (B=200, G=100, R=0).
        let src = [10u8, 20, 30, 200, 100, 0];
        let mut out = vec![0.0f32; 6];
        preprocess_bgr(&src, 2, 1, 2, 1, MEAN, STD, &mut out).unwrap();
        let expect = [
            (10.0 - MEAN[0]) / STD[0],
            (200.0 - MEAN[0]) / STD[0],
            (20.0 - MEAN[1]) / STD[1],
            (100.0 - MEAN[1]) / STD[1],
            (30.0 - MEAN[2]) / STD[2],
            (0.0 - MEAN[2]) / STD[2],
        ];
        assert_eq!(out, expect);
    }

    #[test]
    fn size_mismatches_are_errors() {
        let mut out = vec![0.0f32; 12];
        let err = preprocess_bgr(&[0u8; 5], 2, 1, 2, 2, MEAN, STD, &mut out).unwrap_err();
        assert!(err.to_string().contains("source BGR frame"), "{err}");
        let err = preprocess_bgr(&[0u8; 6], 2, 1, 2, 1, MEAN, STD, &mut out).unwrap_err();
        assert!(err.to_string().contains("input tensor"), "{err}");
        let err = preprocess_bgr(&[], 0, 1, 2, 1, MEAN, STD, &mut out).unwrap_err();
        assert!(matches!(err, DetectError::Dimensions { .. }), "{err}");
    }

    /// Plain floating-point bilinear with OpenCV's coordinate mapping, rounded to u8.
    fn reference_resize(src: &[u8], w: usize, h: usize, dw: usize, dh: usize) -> Vec<u8> {
        let sx = w as f64 / dw as f64;
        let sy = h as f64 / dh as f64;
        let mut out = vec![0u8; dw * dh * 3];
        for y in 0..dh {
            let fy = ((y as f64 + 0.5) * sy - 0.5).max(0.0);
            let y0 = (fy.floor() as usize).min(h - 1);
            let y1 = (y0 + 1).min(h - 1);
            let ay = fy - y0 as f64;
            for x in 0..dw {
                let fx = ((x as f64 + 0.5) * sx - 0.5).max(0.0);
                let x0 = (fx.floor() as usize).min(w - 1);
                let x1 = (x0 + 1).min(w - 1);
                let ax = if x0 == w - 1 { 0.0 } else { fx - x0 as f64 };
                for c in 0..3 {
                    let p = |yy: usize, xx: usize| f64::from(src[(yy * w + xx) * 3 + c]);
                    let top = p(y0, x0) * (1.0 - ax) + p(y0, x1) * ax;
                    let bot = p(y1, x0) * (1.0 - ax) + p(y1, x1) * ax;
                    out[(y * dw + x) * 3 + c] = (top * (1.0 - ay) + bot * ay).round() as u8;
                }
            }
        }
        out
    }

    fn pseudo_random_image(w: usize, h: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..w * h * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn resize_matches_float_bilinear_within_one_level() {
        for (w, h, dw, dh) in [(37, 23, 16, 12), (768, 576, 416, 416), (10, 7, 23, 19)] {
            let src = pseudo_random_image(w, h);
            let expect = reference_resize(&src, w, h, dw, dh);
            // Identity normalisation gives the resized 8-bit values back.
            let mut out = vec![0.0f32; dw * dh * 3];
            preprocess_bgr(
                &src, w as u32, h as u32, dw as u32, dh as u32, [0.0; 3], [1.0; 3], &mut out,
            )
            .unwrap();
            let plane = dw * dh;
            for i in 0..plane {
                for c in 0..3 {
                    let got = out[c * plane + i];
                    let want = f32::from(expect[i * 3 + c]);
                    assert!(
                        (got - want).abs() <= 1.0,
                        "{w}x{h}->{dw}x{dh} pixel {i} channel {c}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// SHA-256 of `cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR).tobytes()` (OpenCV
    /// 5.0.0, opencv-python-headless) for the `pseudo_random_image` of each size, as packed BGR.
    #[test]
    fn resize_is_bit_exact_with_opencv() {
        let cases = [
            (
                37,
                23,
                16,
                12,
                "95303c5c76026666bc1a68575485bfe92ab6940f81f80ed7a9b722991826d2b6",
            ),
            (
                768,
                576,
                416,
                416,
                "f158db5b665e02426057427b8ead69f232d87cbda4f6195914d41ce8cf5414d3",
            ),
            (
                10,
                7,
                23,
                19,
                "995a6d131f23a701d8d7c75a9c8768dcb8985bc8809e5ee8af4701668a025ee3",
            ),
            (
                640,
                424,
                416,
                416,
                "3b34659700d850d0d164773d88594089135aff8952121f486b68715b7de25bf2",
            ),
            (
                1352,
                900,
                416,
                416,
                "3161094a6f26166b0738b361ee8d310175b7b771310f9f1dddf04c86b9182f81",
            ),
        ];
        for (w, h, dw, dh, want) in cases {
            let src = pseudo_random_image(w, h);
            let mut out = vec![0.0f32; dw * dh * 3];
            preprocess_bgr(
                &src, w as u32, h as u32, dw as u32, dh as u32, [0.0; 3], [1.0; 3], &mut out,
            )
            .unwrap();
            let plane = dw * dh;
            let packed: Vec<u8> = (0..plane)
                .flat_map(|i| (0..3).map(move |c| (c, i)))
                .map(|(c, i)| out[c * plane + i] as u8)
                .collect();
            assert_eq!(
                crate::detect::manifest::sha256_hex(&packed),
                want,
                "{w}x{h} -> {dw}x{dh}"
            );
        }
    }

    #[test]
    fn resize_exact_cases() {
        // Halving a 4x2 image horizontally: centres fall exactly between two source pixels.
        let src: Vec<u8> = [0u8, 100, 50, 150, 10, 20, 30, 40]
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect();
        let mut out = vec![0.0f32; 2 * 2 * 3];
        preprocess_bgr(&src, 4, 2, 2, 2, [0.0; 3], [1.0; 3], &mut out).unwrap();
        assert_eq!(&out[..4], &[50.0, 100.0, 15.0, 35.0]);
        // A constant image stays constant whatever the scale.
        let src = vec![77u8; 13 * 9 * 3];
        let mut out = vec![0.0f32; 5 * 21 * 3];
        preprocess_bgr(&src, 13, 9, 5, 21, [0.0; 3], [1.0; 3], &mut out).unwrap();
        assert!(out.iter().all(|&v| v == 77.0));
    }

    #[test]
    fn load_image_bgr_reports_missing_file() {
        let err = load_image_bgr(Path::new("/nonexistent/frame.jpg")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/frame.jpg"), "{err}");
    }
}
