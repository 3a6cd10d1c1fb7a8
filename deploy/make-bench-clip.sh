#!/bin/sh
# Makes the 720p25 H.264 clip of the camera-ingest benchmark (`vigie bench-ingest`) from the
# pedestrian clip: vtest.avi (768x576, 10 fps, 79.5 s) scaled to 1280x720, 25 fps, H.264 main
# profile at about 2 Mbit/s with a key frame every 2 s, as a typical IP camera sends, in MP4.
# Usage: deploy/make-bench-clip.sh [SOURCE] [OUTPUT]
set -eu
src=${1:-${VIGIE_CLIP:-.deps/media/vtest.avi}}
out=${2:-.deps/media/vtest-720p25.mp4}
[ -f "$src" ] || { echo "missing $src (run deploy/setup.sh)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
gst-launch-1.0 -q filesrc location="$src" ! decodebin ! videoconvert ! videoscale \
  ! videorate ! video/x-raw,width=1280,height=720,framerate=25/1,format=I420 \
  ! x264enc speed-preset=veryfast bitrate=2000 key-int-max=50 bframes=0 \
  ! video/x-h264,profile=main ! h264parse ! mp4mux ! filesink location="$out"
echo "$out"
