//! Camera ingest: GStreamer pipelines from the templates in `pipelines/`, ending in an appsink
//! that hands frames (already scaled for the detector) to the camera's frame queue.

mod status;
pub use status::{CameraSnapshot, CameraState, CameraStatus};
