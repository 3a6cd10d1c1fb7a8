//! Multi-object tracking per camera. (Being written.)
