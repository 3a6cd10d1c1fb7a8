//! MoveNet MultiPose output decoding (pure).
//!
//! Output `[1, people, 56]`, per person (TF Hub `movenet/multipose/lightning`): 17 keypoints as
//! `(y, x, score)`, then `(ymin, xmin, ymax, xmax, score)` of the box, all normalised to the input
//! image.

use super::{Keypoint, Pose, KEYPOINTS};
use crate::detect::{BBox, DetectError};

/// Values per person in the output: 17 x (y, x, score) + box (4) + box score.
pub const VALUES_PER_PERSON: usize = 3 * KEYPOINTS + 5;

/// Decodes the raw output (`data` of `shape` `[1, people, 56]`) into every person slot, in the
/// model's order, in coordinates normalised to the model input. Nothing is filtered: slots
/// without a person have low scores.
pub fn decode_movenet(data: &[f32], shape: &[usize]) -> Result<Vec<Pose>, DetectError> {
    let people = match shape {
        [1, p, VALUES_PER_PERSON] if data.len() == p * VALUES_PER_PERSON => *p,
        _ => {
            return Err(DetectError::OutputLayout {
                message: format!(
                    "MoveNet output has shape {shape:?} and {} values; expected [1, people, \
                     {VALUES_PER_PERSON}]",
                    data.len()
                ),
            })
        }
    };
    Ok(data
        .chunks_exact(VALUES_PER_PERSON)
        .take(people)
        .map(decode_person)
        .collect())
}

fn decode_person(row: &[f32]) -> Pose {
    let mut keypoints = [Keypoint::default(); KEYPOINTS];
    for (k, v) in keypoints.iter_mut().zip(row.chunks_exact(3)) {
        *k = Keypoint {
            x: v[1],
            y: v[0],
            score: v[2],
        };
    }
    let b = &row[3 * KEYPOINTS..];
    let (ymin, xmin, ymax, xmax) = (b[0], b[1], b[2], b[3]);
    Pose {
        keypoints,
        bbox: BBox::new(
            xmin.min(xmax),
            ymin.min(ymax),
            xmin.max(xmax),
            ymin.max(ymax),
        ),
        box_score: b[4],
        score: keypoints.iter().map(|k| k.score).sum::<f32>() / KEYPOINTS as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(person: usize) -> Vec<f32> {
        let mut r = Vec::with_capacity(VALUES_PER_PERSON);
        for k in 0..KEYPOINTS {
            // y, x, score (binary fractions: exact in f32)
            r.extend([
                k as f32 / 32.0,
                0.5 + person as f32 / 64.0,
                person as f32 / 8.0,
            ]);
        }
        r.extend([0.25, 0.375, 0.625, 0.5, 0.125]);
        r
    }

    #[test]
    fn decodes_every_slot_in_order() {
        let data: Vec<f32> = (0..6).flat_map(row).collect();
        let poses = decode_movenet(&data, &[1, 6, VALUES_PER_PERSON]).unwrap();
        assert_eq!(poses.len(), 6);
        let p = &poses[2];
        assert_eq!(
            p.keypoints[5],
            Keypoint {
                x: 0.53125,
                y: 0.15625,
                score: 0.25
            }
        );
        assert_eq!(p.bbox, BBox::new(0.375, 0.25, 0.5, 0.625));
        assert_eq!(p.box_score, 0.125);
        assert_eq!(p.score, 0.25);
        assert_eq!(poses[5].score, 0.625);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let data = vec![0.0; 6 * VALUES_PER_PERSON];
        for shape in [&[1, 6, 55][..], &[6, 56], &[2, 3, 56], &[1, 5, 56]] {
            let err = decode_movenet(&data, shape).unwrap_err().to_string();
            assert!(err.contains("MoveNet output"), "{err}");
        }
    }
}
