//! Post-processing: decoding NanoDet output tensors into boxes, and per-class NMS. Pure functions.

use super::{BBox, DetectError, Detection, ModelSpec};

/// A detection in **model input pixel coordinates** (0..input width, 0..input height), before
/// normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawDetection {
    pub class_id: u16,
    pub score: f32,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl RawDetection {
    /// Intersection over union with another box (same coordinate space).
    pub fn iou(&self, other: &RawDetection) -> f32 {
        BBox::new(self.x1, self.y1, self.x2, self.y2)
            .iou(&BBox::new(other.x1, other.y1, other.x2, other.y2))
    }

    /// Converts to a [`Detection`] with a box normalised by the input size (clamped to 0..1).
    /// With a stretch resize, normalised input coordinates are normalised frame coordinates.
    pub fn to_detection(&self, input_w: u32, input_h: u32) -> Detection {
        let (w, h) = (input_w as f32, input_h as f32);
        let n = |v: f32, d: f32| (v / d).clamp(0.0, 1.0);
        Detection {
            class_id: self.class_id,
            score: self.score,
            bbox: BBox::new(n(self.x1, w), n(self.y1, h), n(self.x2, w), n(self.y2, h)),
        }
    }
}

/// One output tensor of the model, borrowed: its shape and its row-major data.
#[derive(Debug, Clone, Copy)]
pub struct OutputTensor<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

/// What the NanoDet decoder needs to know about the model.
#[derive(Debug, Clone, PartialEq)]
pub struct NanodetParams {
    pub input_w: u32,
    pub input_h: u32,
    pub strides: Vec<u32>,
    /// Bins per box side (NanoDet `reg_max + 1`).
    pub bins: usize,
    pub num_classes: usize,
}

impl NanodetParams {
    /// NanoDet-m as shipped: strides 8/16/32, 11 bins, 80 COCO classes, square input.
    pub fn coco(input_size: u32) -> Self {
        NanodetParams {
            input_w: input_size,
            input_h: input_size,
            strides: vec![8, 16, 32],
            bins: 11,
            num_classes: 80,
        }
    }

    /// Parameters from a manifest entry.
    pub fn from_spec(spec: &ModelSpec) -> Self {
        let (input_w, input_h) = spec.input_size();
        NanodetParams {
            input_w,
            input_h,
            strides: spec.output.strides.clone(),
            bins: spec.output.bins_per_side as usize,
            num_classes: spec.labels.len(),
        }
    }
}

/// Decodes NanoDet-m outputs (80 classes, 11 bins, strides 8/16/32, square `input_size`); see
/// [`decode_nanodet_with`].
pub fn decode_nanodet(
    outputs: &[OutputTensor<'_>],
    input_size: u32,
    score_threshold: f32,
) -> Result<Vec<RawDetection>, DetectError> {
    decode_nanodet_with(outputs, &NanodetParams::coco(input_size), score_threshold)
}

/// `[1, n, c]` or `[n, c]` → `(n, c)`.
fn rows_cols(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [n, c] => Some((*n, *c)),
        [1, n, c] => Some((*n, *c)),
        _ => None,
    }
}

/// Expected value of the bin index under softmax(`logits`).
#[inline]
fn softmax_expectation(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    let mut weighted = 0.0f32;
    for (i, &v) in logits.iter().enumerate() {
        let e = (v - max).exp();
        sum += e;
        weighted += e * i as f32;
    }
    weighted / sum
}

/// Decodes NanoDet outputs into detections in input pixel coordinates, one per cell whose best
/// class probability is `>= score_threshold`, boxes clipped to the input. No NMS.
///
/// Tensors are matched **by shape**, not by name or order: for each stride `s` with
/// `N = (input_h / s) * (input_w / s)` cells, a class tensor `[1, N, num_classes]` (probabilities,
/// sigmoid already applied) and a box tensor `[1, N, 4 * bins]` (per side left, top, right,
/// bottom: `bins` logits whose softmax expectation times `s` is the distance from the cell
/// centre `((col + 0.5) * s, (row + 0.5) * s)`; cells row-major). Every tensor must be used
/// exactly once.
pub fn decode_nanodet_with(
    outputs: &[OutputTensor<'_>],
    params: &NanodetParams,
    score_threshold: f32,
) -> Result<Vec<RawDetection>, DetectError> {
    let layout = |message: String| DetectError::OutputLayout { message };
    let shapes = || {
        outputs
            .iter()
            .map(|o| format!("{:?}", o.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let box_width = 4 * params.bins;
    if params.num_classes == box_width || params.bins == 0 || params.num_classes == 0 {
        return Err(layout(format!(
            "{} classes and {} bins per side cannot be told apart by shape",
            params.num_classes, params.bins
        )));
    }
    let mut used = vec![false; outputs.len()];
    let mut find = |n: usize, width: usize, what: &str, stride: u32| {
        let mut found = None;
        for (i, o) in outputs.iter().enumerate() {
            if rows_cols(o.shape) == Some((n, width)) {
                if found.is_some() {
                    return Err(layout(format!(
                        "two {what} tensors [1, {n}, {width}] for stride {stride} (outputs: {})",
                        shapes()
                    )));
                }
                found = Some(i);
            }
        }
        let i = found.ok_or_else(|| {
            layout(format!(
                "no {what} tensor [1, {n}, {width}] for stride {stride} (outputs: {})",
                shapes()
            ))
        })?;
        if outputs[i].data.len() != n * width {
            return Err(layout(format!(
                "{what} tensor {:?} holds {} values, expected {}",
                outputs[i].shape,
                outputs[i].data.len(),
                n * width
            )));
        }
        used[i] = true;
        Ok(outputs[i].data)
    };

    let mut dets = Vec::new();
    let (in_w, in_h) = (params.input_w as f32, params.input_h as f32);
    for &stride in &params.strides {
        if stride == 0
            || !params.input_w.is_multiple_of(stride)
            || !params.input_h.is_multiple_of(stride)
        {
            return Err(layout(format!(
                "stride {stride} does not divide the input size {}x{}",
                params.input_w, params.input_h
            )));
        }
        let gw = (params.input_w / stride) as usize;
        let gh = (params.input_h / stride) as usize;
        let n = gw * gh;
        let classes = find(n, params.num_classes, "class", stride)?;
        let boxes = find(n, box_width, "box", stride)?;
        let s = stride as f32;
        for (cell, (probs, reg)) in classes
            .chunks_exact(params.num_classes)
            .zip(boxes.chunks_exact(box_width))
            .enumerate()
        {
            let mut best = 0usize;
            let mut score = probs[0];
            for (c, &p) in probs.iter().enumerate().skip(1) {
                if p > score {
                    best = c;
                    score = p;
                }
            }
            if score.is_nan() || score < score_threshold {
                continue;
            }
            let (row, col) = (cell / gw, cell % gw);
            let cx = (col as f32 + 0.5) * s;
            let cy = (row as f32 + 0.5) * s;
            let mut d = [0.0f32; 4];
            for (side, logits) in d.iter_mut().zip(reg.chunks_exact(params.bins)) {
                *side = softmax_expectation(logits) * s;
            }
            dets.push(RawDetection {
                class_id: best as u16,
                score,
                x1: (cx - d[0]).clamp(0.0, in_w),
                y1: (cy - d[1]).clamp(0.0, in_h),
                x2: (cx + d[2]).clamp(0.0, in_w),
                y2: (cy + d[3]).clamp(0.0, in_h),
            });
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(layout(format!(
            "output #{i} with shape {:?} matches no stride (outputs: {})",
            outputs[i].shape,
            shapes()
        )));
    }
    Ok(dets)
}

/// Greedy non-maximum suppression within each class: boxes are taken by decreasing score and a
/// box is dropped when its IoU with an already kept box **of the same class** is `> iou`.
/// Returns the kept detections sorted by decreasing score (NaN scores are dropped).
pub fn nms_per_class(mut dets: Vec<RawDetection>, iou: f32) -> Vec<RawDetection> {
    dets.retain(|d| !d.score.is_nan());
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<RawDetection> = Vec::with_capacity(dets.len().min(256));
    for d in dets {
        if kept
            .iter()
            .all(|k| k.class_id != d.class_id || k.iou(&d) <= iou)
        {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(class_id: u16, score: f32, b: [f32; 4]) -> RawDetection {
        RawDetection {
            class_id,
            score,
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        }
    }

    /// Tiny model: input 16x8, strides 4 and 8, 3 classes, 2 bins.
    fn tiny() -> NanodetParams {
        NanodetParams {
            input_w: 16,
            input_h: 8,
            strides: vec![4, 8],
            bins: 2,
            num_classes: 3,
        }
    }

    #[test]
    fn decodes_softmax_expectation_and_cell_centre() {
        let p = tiny();
        // Stride 4: grid 4x2 = 8 cells; stride 8: grid 2x1 = 2 cells.
        let mut cls4 = vec![0.01f32; 8 * 3];
        let mut box4 = vec![0.0f32; 8 * 8];
        // Cell 6 = row 1, col 2 -> centre (10, 6); class 2 with 0.9.
        cls4[6 * 3 + 2] = 0.9;
        cls4[6 * 3 + 1] = 0.5;
        // left: logits (0, 0) -> expectation 0.5 -> 2 px; top: (0, ln 3) -> p1 = 0.75 -> 3 px;
        // right: (ln 3, 0) -> 0.25 -> 1 px; bottom: (-inf-ish, 0) -> 1 -> 4 px.
        let l3 = 3.0f32.ln();
        box4[6 * 8..6 * 8 + 8].copy_from_slice(&[0.0, 0.0, 0.0, l3, l3, 0.0, -100.0, 0.0]);
        let cls8 = vec![0.2f32; 2 * 3];
        let box8 = vec![0.0f32; 2 * 8];
        // Deliberately out of order, box tensors first, 2-D and 3-D shapes mixed.
        let outputs = [
            OutputTensor {
                shape: &[1, 2, 8],
                data: &box8,
            },
            OutputTensor {
                shape: &[8, 8],
                data: &box4,
            },
            OutputTensor {
                shape: &[1, 2, 3],
                data: &cls8,
            },
            OutputTensor {
                shape: &[1, 8, 3],
                data: &cls4,
            },
        ];
        let dets = decode_nanodet_with(&outputs, &p, 0.3).unwrap();
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!(d.class_id, 2);
        assert_eq!(d.score, 0.9);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
        assert!(close(d.x1, 8.0) && close(d.y1, 3.0), "{d:?}");
        assert!(close(d.x2, 11.0) && close(d.y2, 8.0), "{d:?}"); // 6 + 4 = 10, clipped to 8

        // Lower threshold: every stride-8 cell (score 0.2, class 0 = first max) comes through,
        // centred at ((col + 0.5) * 8, 4) with 0.5 * 8 = 4 px on each side.
        let dets = decode_nanodet_with(&outputs, &p, 0.2).unwrap();
        let s8: Vec<_> = dets.iter().filter(|d| d.score == 0.2).collect();
        assert_eq!(s8.len(), 2);
        assert_eq!(s8[0].class_id, 0);
        assert!(close(s8[1].x1, 8.0) && close(s8[1].x2, 16.0) && close(s8[1].y2, 8.0));
        assert!(close(s8[1].y1, 0.0));
    }

    #[test]
    fn missing_or_extra_tensors_are_errors() {
        let p = tiny();
        let cls4 = vec![0.0f32; 8 * 3];
        let box4 = vec![0.0f32; 8 * 8];
        let cls8 = vec![0.0f32; 2 * 3];
        let box8 = vec![0.0f32; 2 * 8];
        let extra = vec![0.0f32; 5];
        let mut outputs = vec![
            OutputTensor {
                shape: &[1, 8, 3],
                data: &cls4,
            },
            OutputTensor {
                shape: &[1, 8, 8],
                data: &box4,
            },
            OutputTensor {
                shape: &[1, 2, 3],
                data: &cls8,
            },
        ];
        let err = decode_nanodet_with(&outputs, &p, 0.3).unwrap_err();
        assert!(err.to_string().contains("no box tensor [1, 2, 8]"), "{err}");
        outputs.push(OutputTensor {
            shape: &[1, 2, 8],
            data: &box8,
        });
        assert!(decode_nanodet_with(&outputs, &p, 0.3).unwrap().is_empty());
        outputs.push(OutputTensor {
            shape: &[1, 5],
            data: &extra,
        });
        let err = decode_nanodet_with(&outputs, &p, 0.3).unwrap_err();
        assert!(err.to_string().contains("matches no stride"), "{err}");
        outputs.pop();
        let short = vec![0.0f32; 3];
        outputs[0] = OutputTensor {
            shape: &[1, 8, 3],
            data: &short,
        };
        let err = decode_nanodet_with(&outputs, &p, 0.3).unwrap_err();
        assert!(err.to_string().contains("holds 3 values"), "{err}");
    }

    #[test]
    fn nms_suppresses_within_a_class_only() {
        let dets = vec![
            raw(0, 0.6, [0.0, 0.0, 10.0, 10.0]),
            raw(0, 0.9, [1.0, 0.0, 11.0, 10.0]), // IoU with the first: 9/11 = 0.82
            raw(1, 0.7, [0.0, 0.0, 10.0, 10.0]), // other class, same box: kept
            raw(0, 0.5, [20.0, 20.0, 30.0, 30.0]), // far away: kept
            raw(0, 0.4, [0.0, 0.0, 10.0, 15.0]), // IoU with 0.9 box: 90/160 = 0.5625 -> dropped
            raw(1, f32::NAN, [0.0, 0.0, 1.0, 1.0]),
        ];
        let kept = nms_per_class(dets, 0.5);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.5]);
        assert_eq!(kept[1].class_id, 1);
    }

    #[test]
    fn nms_threshold_is_strictly_greater() {
        // IoU exactly 0.5: 10x10 boxes overlapping by 10x(20/3)... use a simple exact case:
        // boxes [0,0,3,1] and [1,0,4,1]: inter 2, union 4 -> 0.5, kept at threshold 0.5.
        let dets = vec![
            raw(0, 0.9, [0.0, 0.0, 3.0, 1.0]),
            raw(0, 0.8, [1.0, 0.0, 4.0, 1.0]),
        ];
        assert_eq!(nms_per_class(dets.clone(), 0.5).len(), 2);
        assert_eq!(nms_per_class(dets, 0.49).len(), 1);
    }

    #[test]
    fn to_detection_normalises() {
        let d = raw(3, 0.5, [104.0, 0.0, 416.0, 208.0]).to_detection(416, 416);
        assert_eq!(d.class_id, 3);
        assert_eq!(d.bbox, BBox::new(0.25, 0.0, 1.0, 0.5));
        // A non-square input (`[detector] input = [416, 288]`): x by the width, y by the height.
        let d = raw(0, 0.5, [104.0, 72.0, 416.0, 144.0]).to_detection(416, 288);
        assert_eq!(d.bbox, BBox::new(0.25, 0.25, 1.0, 0.5));
    }
}
