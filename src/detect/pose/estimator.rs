//! [`PoseEstimator`]: one ONNX Runtime session of a pose model and its input buffer.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::{decode_movenet, sample_crop, Affine, Crop, Orientation, Pose};
use crate::detect::detector::{inference, open_session, to_usize_shape, DetectorOptions};
use crate::detect::manifest::ModelKind;
use crate::detect::preprocess::preprocess_rgb_i32;
use crate::detect::{BBox, DetectError, Manifest};

/// Pose estimation options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseOptions {
    /// ONNX Runtime intra-op threads for this estimator's session.
    pub intra_threads: usize,
    /// Let the intra-op threads spin while idle (off: the cores are shared with the decoders).
    pub spinning: bool,
    /// Model input `(width, height)` for whole frames; `None` = the manifest's `input.shape`.
    /// Multiples of 32.
    pub frame_input: Option<(u32, u32)>,
    /// Model input side for person crops (square), a multiple of 32; `None` = the manifest's
    /// input height.
    pub crop_input: Option<u32>,
    /// A pose is reported when its mean keypoint score is at least this.
    pub min_score: f32,
    /// Crop margin around a person box, as a fraction of its longer side on each side.
    pub crop_margin: f32,
    /// Retry on crops turned 90° (both ways) when a person box is wider than tall (display
    /// units) and the upright pose scores below `rotate_below` (or is missing).
    pub rotate_retry: bool,
    pub rotate_below: f32,
}

impl Default for PoseOptions {
    fn default() -> Self {
        PoseOptions {
            intra_threads: 1,
            spinning: false,
            frame_input: None,
            crop_input: None,
            min_score: 0.2,
            crop_margin: 0.2,
            rotate_retry: true,
            rotate_below: 0.5,
        }
    }
}

fn invalid(field: &'static str, message: String) -> DetectError {
    DetectError::InvalidOption { field, message }
}

fn check_side(field: &'static str, side: u32) -> Result<(), DetectError> {
    if side == 0 || !side.is_multiple_of(32) || side > 2048 {
        return Err(invalid(
            field,
            format!("{side} is not a multiple of 32 in 32..=2048"),
        ));
    }
    Ok(())
}

impl PoseOptions {
    fn validate(&self) -> Result<(), DetectError> {
        if self.intra_threads == 0 || self.intra_threads > 256 {
            return Err(invalid(
                "intra_threads",
                format!("{} is not in 1..=256", self.intra_threads),
            ));
        }
        if let Some((w, h)) = self.frame_input {
            check_side("frame_input", w)?;
            check_side("frame_input", h)?;
        }
        if let Some(s) = self.crop_input {
            check_side("crop_input", s)?;
        }
        for (field, v) in [
            ("min_score", self.min_score),
            ("rotate_below", self.rotate_below),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(field, format!("{v} is not in 0..=1")));
            }
        }
        if !(0.0..=2.0).contains(&self.crop_margin) {
            return Err(invalid(
                "crop_margin",
                format!("{} is not in 0..=2", self.crop_margin),
            ));
        }
        Ok(())
    }
}

/// A packed BGR frame and the shape of the picture it shows.
#[derive(Debug, Clone, Copy)]
pub struct PoseImage<'a> {
    /// `width * height * 3` bytes, row stride `width * 3`.
    pub bgr: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Displayed width / height of the picture: `width / height` for square pixels; for the
    /// engine's 416x416 frames of a 768x576 camera, 4/3. Crops are square in these units.
    pub aspect: f32,
}

impl<'a> PoseImage<'a> {
    /// A frame of square pixels.
    pub fn new(bgr: &'a [u8], width: u32, height: u32) -> Self {
        PoseImage {
            bgr,
            width,
            height,
            aspect: width as f32 / height.max(1) as f32,
        }
    }

    /// The same frame showing a picture of `aspect` (displayed width / height).
    pub fn with_aspect(self, aspect: f32) -> Self {
        PoseImage { aspect, ..self }
    }
}

/// The pose found for one person box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonPose {
    /// In frame coordinates, whatever the crop's orientation.
    pub pose: Pose,
    /// The crop it was found in (`orientation` not `Upright` = the lying-person retry won).
    pub crop: Crop,
    /// Score of the best upright pose for this box (0 when none matched), to see what the
    /// retry gained.
    pub upright_score: f32,
}

/// A pose model: one ONNX Runtime session plus its input buffer. Methods take `&mut self`; use
/// one estimator per inference thread.
pub struct PoseEstimator {
    session: Session,
    model_name: String,
    model_path: PathBuf,
    frame_input: (u32, u32),
    crop_input: u32,
    opts: PoseOptions,
    input: Vec<i32>,
}

impl std::fmt::Debug for PoseEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoseEstimator")
            .field("model", &self.model_name)
            .field("path", &self.model_path)
            .field("frame_input", &self.frame_input)
            .field("crop_input", &self.crop_input)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl PoseEstimator {
    /// Loads pose model `model_name` of `manifest` from `model_dir`: the manifest entry must be
    /// `kind = "pose"`; the file's SHA-256 is checked before ONNX Runtime sees it; the graph's
    /// input name and single output are checked against the manifest.
    pub fn load(
        manifest: &Manifest,
        model_dir: &Path,
        model_name: &str,
        opts: PoseOptions,
    ) -> Result<PoseEstimator, DetectError> {
        opts.validate()?;
        let session_opts = DetectorOptions {
            intra_threads: opts.intra_threads,
            spinning: opts.spinning,
            ..DetectorOptions::default()
        };
        let (spec, path, session, _provider) = open_session(
            manifest,
            model_dir,
            model_name,
            ModelKind::Pose,
            &session_opts,
        )?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if inputs != [spec.input.name.as_str()] || session.outputs().len() != 1 {
            return Err(DetectError::ModelMismatch {
                path,
                message: format!(
                    "inputs {inputs:?} and {} outputs; the manifest says input [{:?}] and one \
                     output",
                    session.outputs().len(),
                    spec.input.name
                ),
            });
        }
        let frame_input = opts.frame_input.unwrap_or(spec.input_size());
        let crop_input = opts.crop_input.unwrap_or(spec.input_size().1);
        Ok(PoseEstimator {
            session,
            model_name: spec.name.clone(),
            model_path: path,
            frame_input,
            crop_input,
            opts,
            input: Vec::new(),
        })
    }

    /// The model's manifest name.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The options this estimator was loaded with.
    pub fn options(&self) -> &PoseOptions {
        &self.opts
    }

    /// Model input `(width, height)` for whole frames.
    pub fn frame_input(&self) -> (u32, u32) {
        self.frame_input
    }

    /// Model input side for person crops.
    pub fn crop_input(&self) -> u32 {
        self.crop_input
    }

    /// Runs the model on an NHWC int32 RGB tensor of `w x h` (`w * h * 3` values); returns every
    /// person slot decoded, in input-normalised coordinates, unfiltered.
    pub fn infer_tensor(
        &mut self,
        input: &[i32],
        w: u32,
        h: u32,
    ) -> Result<Vec<Pose>, DetectError> {
        let shape = [1usize, h as usize, w as usize, 3];
        if input.len() != shape.iter().product::<usize>() {
            return Err(DetectError::BufferSize {
                what: "pose input tensor (w * h * 3 int32)",
                expected: shape.iter().product(),
                actual: input.len(),
            });
        }
        let model = &self.model_name;
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| inference(model, e))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| inference(model, e))?;
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| inference(model, format!("output #0: {e}")))?;
        decode_movenet(data, &to_usize_shape(model, 0, shape)?)
    }

    /// Poses on the whole frame (stretched to the frame input, as the reference does), in frame
    /// coordinates, scoring at least `min_score`, best first.
    pub fn estimate_frame(&mut self, img: &PoseImage<'_>) -> Result<Vec<Pose>, DetectError> {
        let (w, h) = self.frame_input;
        let mut input = std::mem::take(&mut self.input);
        input.resize(w as usize * h as usize * 3, 0);
        let result = preprocess_rgb_i32(img.bgr, img.width, img.height, w, h, &mut input)
            .and_then(|()| self.infer_tensor(&input, w, h));
        self.input = input;
        Ok(self.keep(result?, &Affine::IDENTITY))
    }

    /// Poses in `crop` of the frame (sampled into the square crop input), in frame coordinates,
    /// scoring at least `min_score`, best first.
    pub fn estimate_crop(
        &mut self,
        img: &PoseImage<'_>,
        crop: &Crop,
    ) -> Result<Vec<Pose>, DetectError> {
        let side = self.crop_input;
        let to_frame = crop.to_frame();
        let mut input = std::mem::take(&mut self.input);
        input.resize(side as usize * side as usize * 3, 0);
        let result = sample_crop(
            img.bgr,
            img.width,
            img.height,
            &to_frame,
            (side, side),
            &mut input,
        )
        .and_then(|()| self.infer_tensor(&input, side, side));
        self.input = input;
        Ok(self.keep(result?, &to_frame))
    }

    /// The pose of the person in `person` (a detector box, frame coordinates): runs on a square
    /// crop with margin and keeps the best pose whose keypoints are centred inside the box. When
    /// the box is wider than tall and that pose is missing or scores below `rotate_below`, the
    /// crop is retried turned 90° both ways and the best of the three is kept.
    pub fn estimate_person(
        &mut self,
        img: &PoseImage<'_>,
        person: BBox,
    ) -> Result<Option<PersonPose>, DetectError> {
        let crop = Crop::around(person, img.aspect, self.opts.crop_margin);
        let upright = self.best_in_box(img, &crop, person)?;
        let upright_score = upright.map_or(0.0, |p| p.score);
        let mut best = upright.map(|pose| PersonPose {
            pose,
            crop,
            upright_score,
        });
        let wide = person.width() * img.aspect > person.height();
        if self.opts.rotate_retry && wide && upright_score < self.opts.rotate_below {
            for orientation in [Orientation::Cw90, Orientation::Ccw90] {
                let turned = crop.turned(orientation);
                if let Some(pose) = self.best_in_box(img, &turned, person)? {
                    if best.is_none_or(|b| pose.score > b.pose.score) {
                        best = Some(PersonPose {
                            pose,
                            crop: turned,
                            upright_score,
                        });
                    }
                }
            }
        }
        Ok(best)
    }

    /// [`PoseEstimator::estimate_person`] for each box, in order.
    pub fn estimate_people(
        &mut self,
        img: &PoseImage<'_>,
        people: &[BBox],
    ) -> Result<Vec<Option<PersonPose>>, DetectError> {
        people
            .iter()
            .map(|&b| self.estimate_person(img, b))
            .collect()
    }

    fn best_in_box(
        &mut self,
        img: &PoseImage<'_>,
        crop: &Crop,
        person: BBox,
    ) -> Result<Option<Pose>, DetectError> {
        let poses = self.estimate_crop(img, crop)?;
        Ok(poses.into_iter().find(|p| centred_in(p, person)))
    }

    fn keep(&self, poses: Vec<Pose>, to_frame: &Affine) -> Vec<Pose> {
        let mut kept: Vec<Pose> = poses
            .iter()
            .filter(|p| p.score >= self.opts.min_score)
            .map(|p| p.mapped(to_frame))
            .collect();
        kept.sort_by(|a, b| b.score.total_cmp(&a.score));
        kept
    }
}

/// Whether the pose's confident keypoints are centred inside `person` grown by 10 % per side.
fn centred_in(pose: &Pose, person: BBox) -> bool {
    let (gx, gy) = (person.width() * 0.1, person.height() * 0.1);
    pose.centre(0.2).is_some_and(|(x, y)| {
        x >= person.x1 - gx && x <= person.x2 + gx && y >= person.y1 - gy && y <= person.y2 + gy
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        assert!(PoseOptions::default().validate().is_ok());
        let cases = [
            (
                PoseOptions {
                    intra_threads: 0,
                    ..Default::default()
                },
                "intra_threads",
            ),
            (
                PoseOptions {
                    crop_input: Some(100),
                    ..Default::default()
                },
                "crop_input",
            ),
            (
                PoseOptions {
                    frame_input: Some((256, 0)),
                    ..Default::default()
                },
                "frame_input",
            ),
            (
                PoseOptions {
                    min_score: 1.5,
                    ..Default::default()
                },
                "min_score",
            ),
            (
                PoseOptions {
                    crop_margin: -0.1,
                    ..Default::default()
                },
                "crop_margin",
            ),
        ];
        for (opts, field) in cases {
            let err = opts.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
