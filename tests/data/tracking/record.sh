#!/usr/bin/env bash
# Re-records detections.jsonl: the clip's frames 0-149, scaled to 416x416 BGR exactly as the
# file pipeline does (pipelines/file.pipeline), through the real NanoDet model at score 0.1.
# Needs the ONNX Runtime library (`make setup`). Usage: tests/data/tracking/record.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
clip=${VIGIE_CLIP:-$root/.deps/media/vtest.avi}
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.deps/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! identity eos-after=150 \
  ! videoscale add-borders=false ! video/x-raw,width=416,height=416 \
  ! videoconvert ! video/x-raw,format=BGR ! filesink location="$tmp/frames.bgr"
VIGIE_TRACKING_FRAMES="$tmp/frames.bgr" VIGIE_TRACKING_LAST=149 \
  cargo test --release --lib record_tracking_detections -- --ignored --exact track::mot_tests::record_tracking_detections
