"""Real frames of vtest.avi exactly as Vigie's file pipeline gives them to the detector.

GStreamer (the same elements as pipelines/file.pipeline: decodebin, videoscale to 416x416,
videoconvert to BGR) writes every frame to one raw file; the tensor is Vigie's pre-processing
(x = (pixel - mean) / std per channel, BGR, NCHW; mean/std from models/models.toml).
"""
import os
import subprocess

import numpy as np

W = H = 416
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)


def decode(clip, out_path):
    """Decodes `clip` to raw 416x416 BGR frames in `out_path`; returns the frames (N, H, W, 3)."""
    if not os.path.exists(out_path):
        subprocess.run(
            [
                "gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!", "decodebin", "!",
                "videoscale", "add-borders=false", "!", f"video/x-raw,width={W},height={H}", "!",
                "videoconvert", "!", "video/x-raw,format=BGR", "!",
                "filesink", f"location={out_path}",
            ],
            check=True,
        )
    raw = np.fromfile(out_path, dtype=np.uint8)
    return raw.reshape(-1, H, W, 3)


def tensor(frames):
    """(N, H, W, 3) uint8 BGR -> (N, 3, H, W) float32, as Vigie's preprocess_bgr."""
    x = (frames.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
