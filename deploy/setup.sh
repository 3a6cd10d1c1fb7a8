#!/usr/bin/env bash
# Installs what Vigie needs on a fresh Debian 12 machine, idempotently:
#   - GStreamer 1.22 (development files and the plugins the pipelines use), mosquitto, chromium
#     for the console browser test, a C compiler and pkg-config;
#   - ONNX Runtime 1.31.1 (libonnxruntime.so) from the PyPI wheel, into .deps/onnxruntime;
#   - the real pedestrian clip vtest.avi from Debian's opencv-doc package, into .deps/media.
# Nothing here downloads model weights: the model is in models/ with its sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS="$ROOT/.deps"
mkdir -p "$DEPS"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# sqlite3: the audit test tampers with the journal behind the engine's back, as an intruder would.
# cmake + nasm: the golden tests build libjpeg-turbo 3 (turbojpeg crate, `cmake` feature; Debian
# bookworm ships libturbojpeg 2.1, older than the crate's TurboJPEG 3 API).
APT_PACKAGES=(
  pkg-config build-essential cmake nasm
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  mosquitto mosquitto-clients
  python3 python3-pip
  sqlite3
)
if [ "${VIGIE_BROWSER:-1}" = 1 ]; then APT_PACKAGES+=(chromium chromium-driver); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ORT_LIB="$DEPS/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1"
if [ ! -f "$ORT_LIB" ]; then
  echo "setup: ONNX Runtime 1.31.1 from the PyPI wheel"
  rm -rf "$DEPS/onnxruntime"
  PIP=(python3 -m pip)
  "${PIP[@]}" install --quiet --disable-pip-version-check --no-deps --target "$DEPS/onnxruntime" onnxruntime==1.31.1 \
    || "${PIP[@]}" install --quiet --break-system-packages --disable-pip-version-check --no-deps --target "$DEPS/onnxruntime" onnxruntime==1.31.1
fi
test -f "$ORT_LIB" || { echo "setup: $ORT_LIB missing after install" >&2; exit 1; }

CLIP="$DEPS/media/vtest.avi"
if [ ! -f "$CLIP" ]; then
  echo "setup: vtest.avi from Debian's opencv-doc package"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  mkdir -p "$DEPS/media"
  cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$CLIP"
  rm -rf "$tmp"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo (Rust) is required; install it with rustup" >&2
  exit 1
fi
echo "setup: ok (ORT_DYLIB_PATH=$ORT_LIB, clip $CLIP)"
