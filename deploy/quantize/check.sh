#!/usr/bin/env bash
# Checks that deploy/quantize reproduces the committed models byte for byte, without touching
# them: runs quantize.sh into a temporary file and compares its sha256 with the one
# models/models.toml records for nanodet-m-416-int8; checks that dynamic_size.py leaves the
# committed float model's bytes unchanged; and, given the fixed-size float conversion
# (sha256 a4e2cdb8…3a44, the file the provenance of nanodet-m-416 names), that dynamic_size.py
# makes the committed float model from it. Needs the network once (pip, as quantize.sh does) and
# about 2 minutes on 2 cores; not part of `make test`.
# Usage: deploy/quantize/check.sh [FIXED_SIZE_FP32_ONNX]
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.deps/quantize-venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect FILE MODEL_NAME: FILE's sha256 must be the one models.toml records for MODEL_NAME.
expect() {
  local want got
  want=$("$py" -c 'import sys, tomllib
m = tomllib.load(open("models/models.toml", "rb"))["model"]
print(next(x["sha256"] for x in m if x["name"] == sys.argv[1]))' "$2")
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" = "$want" ]; then
    echo "check: $1 = $2 (sha256 $got)"
  else
    echo "check: $1 differs from $2: sha256 $got, models.toml $want" >&2
    fail=1
  fi
}

deploy/quantize/quantize.sh "$tmp/int8.onnx"
expect "$tmp/int8.onnx" nanodet-m-416-int8
"$py" deploy/quantize/dynamic_size.py models/nanodet-m-416.onnx "$tmp/fp32-again.onnx" >/dev/null
expect "$tmp/fp32-again.onnx" nanodet-m-416
if [ $# -ge 1 ]; then
  "$py" deploy/quantize/dynamic_size.py "$1" "$tmp/fp32-from-fixed.onnx" >/dev/null
  expect "$tmp/fp32-from-fixed.onnx" nanodet-m-416
fi
[ "$fail" = 0 ] && echo "check: reproduced byte for byte"
exit "$fail"
