#!/bin/sh
# Makes the 720p25 H.264 clip of the camera-ingest benchmark (`vigie bench-ingest`) from the
# pedestrian clip: vtest.avi (768x576, 10 fps, 79.5 s) scaled to 1280x720, 25 fps, H.264 main
# profile at about 2 Mbit/s with a key frame every 2 s, as a typical IP camera sends, in MP4.
# Usage: deploy/make-bench-clip.sh [SOURCE] [OUTPUT] [WIDTHxHEIGHT]   (default 1280x720; the
# 1080p clip of the decode-cost measurement: .deps/media/vtest.avi .deps/media/vtest-1080p25.mp4
# 1920x1080)
set -eu
src=${1:-${VIGIE_CLIP:-.deps/media/vtest.avi}}
out=${2:-.deps/media/vtest-720p25.mp4}
size=${3:-1280x720}
width=${size%x*}
height=${size#*x}
# About 2 Mbit/s at 720p, scaled with the pixel count (4.5 Mbit/s at 1080p).
bitrate=$(( 2000 * width * height / (1280 * 720) ))
[ -f "$src" ] || { echo "missing $src (run deploy/setup.sh)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
gst-launch-1.0 -q filesrc location="$src" ! decodebin ! videoconvert ! videoscale \
  ! videorate ! video/x-raw,width=$width,height=$height,framerate=25/1,format=I420 \
  ! x264enc speed-preset=veryfast bitrate=$bitrate key-int-max=50 bframes=0 \
  ! video/x-h264,profile=main ! h264parse ! mp4mux ! filesink location="$out"
echo "$out"
