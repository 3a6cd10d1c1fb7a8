#!/usr/bin/env bash
# Makes models/nanodet-m-416-int8.onnx from models/nanodet-m-416.onnx: a Python venv
# (.deps/quantize-venv) with the pinned onnxruntime/onnx/numpy of requirements.txt, frames of
# vtest.avi decoded by GStreamer as Vigie's file pipeline does, static QDQ int8 calibration
# (quantize.py), then the input's H and W declared symbolic (dynamic_size.py). Prints the
# sha256 to put into models/models.toml.
# Deterministic: calibration on one ONNX Runtime thread (quantize.py), every package pinned.
# deploy/quantize/check.sh compares a fresh run with the sha256 of models/models.toml.
# Usage: deploy/quantize/quantize.sh [OUTPUT]   (default models/nanodet-m-416-int8.onnx)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-models/nanodet-m-416-int8.onnx}
venv=.deps/quantize-venv
clip=${VIGIE_CLIP:-.deps/media/vtest.avi}
[ -f "$clip" ] || { echo "missing $clip (run deploy/setup.sh)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r deploy/quantize/requirements.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" deploy/quantize/quantize.py --model models/nanodet-m-416.onnx \
  --clip "$clip" --out "$out" --work "$work"
# Input H and W symbolic, as the float model's (any multiple of 32: `[detector] input`).
"$venv/bin/python" deploy/quantize/dynamic_size.py "$out"
