//! Camera ingest: GStreamer pipelines rendered from the templates in `pipelines/`, ending in an
//! appsink that hands frames (already scaled for the detector) to the camera's frame queue.
//! One supervisor thread per camera handles that camera's bus, loops, restarts and status; a
//! failing camera never touches another.

mod camera;
mod pipeline;
mod probe;
mod status;

pub use camera::{init, spawn_camera, CameraHandle, CameraSpec, IngestError};
pub use pipeline::{launch_description, launch_description_with, FullBranch, PipelineParams};
pub use status::{CameraSnapshot, CameraState, CameraStatus};
