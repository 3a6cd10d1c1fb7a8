#!/usr/bin/env python3
"""Independent reference for MoveNet MultiPose decoding (Vigie golden test).

Runs models/movenet-multipose.onnx with onnxruntime + numpy (+ OpenCV for JPEG decoding and the
bilinear resize) on the photos of tests/data/images and on person.jpg rotated 90 degrees
clockwise, and writes tests/data/movenet-golden.json. It follows the model's documented
decoding (TF Hub "movenet/multipose/lightning"): output [1, 6, 56], per person 17 keypoints as
(y, x, score) normalised to the input, then (ymin, xmin, ymax, xmax, score) of the box. It shares
no code with Vigie's Rust decoding.

Usage: python3 deploy/reference/movenet_reference.py [--out tests/data/movenet-golden.json]
The first run creates a virtual environment in target/reference-venv with pinned packages and
re-runs itself inside it (network access to PyPI needed once).
"""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "target" / "reference-venv"
PACKAGES = ["onnxruntime==1.31.1", "numpy==2.2.6", "opencv-python-headless==5.0.0.93"]
KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]
INPUT_SIZE = 256  # width = height = 256, a multiple of 32 as the model requires


def ensure_venv():
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python3"
    if not python.exists():
        print(f"creating {VENV} with {' '.join(PACKAGES)}", file=sys.stderr)
        venv.create(VENV, with_pip=True)
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *PACKAGES])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def sha256(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def preprocess(bgr):
    """BGR uint8 HxWx3 -> int32 [1, 256, 256, 3] RGB, whole image stretched (no letterbox)."""
    import cv2
    import numpy as np
    resized = cv2.resize(bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    rgb = resized[:, :, ::-1]
    return np.ascontiguousarray(rgb, dtype=np.int32)[None, ...]


def decode(output):
    """[1, 6, 56] -> list of 6 people, coordinates normalised to the (stretched) input, which
    equal the image's normalised coordinates since the whole image is stretched."""
    people = []
    for row in output[0]:
        kp = row[:51].reshape(17, 3)  # (y, x, score)
        ymin, xmin, ymax, xmax, box_score = (float(v) for v in row[51:56])
        people.append({
            "keypoints": [[float(x), float(y), float(s)] for y, x, s in kp],
            "box_xyxy": [xmin, ymin, xmax, ymax],
            "box_score": box_score,
            "mean_keypoint_score": float(kp[:, 2].mean()),
        })
    return people


def unrotate_cw(person):
    """Maps coordinates found in an image rotated 90 degrees clockwise back to the original
    image: rotated (xr, yr) = (1 - yo, xo), so xo = yr and yo = 1 - xr (normalised, continuous)."""
    kps = [[y, 1.0 - x, s] for x, y, s in person["keypoints"]]
    x1, y1, x2, y2 = person["box_xyxy"]
    return {"keypoints": kps, "box_xyxy": [y1, 1.0 - x2, y2, 1.0 - x1]}


def main():
    ensure_venv()
    import argparse
    import cv2
    import numpy as np
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "tests/data/movenet-golden.json"))
    args = ap.parse_args()

    model = ROOT / "models" / "movenet-multipose.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()

    cases = []
    for path in sorted((ROOT / "tests/data/images").glob("*.jpg")):
        cases.append((path.name, path, False))
    cases.append(("person.jpg rotated 90 cw", ROOT / "tests/data/images/person.jpg", True))

    images = {}
    for name, path, rotate in cases:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if rotate:
            bgr = cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE)
        tensor = preprocess(bgr)
        (out,) = sess.run(None, {inp.name: tensor})
        assert out.shape == (1, 6, 56), out.shape
        people = decode(out)
        entry = {
            "file": path.name,
            "rotated_90_cw": rotate,
            "size": [int(bgr.shape[1]), int(bgr.shape[0])],
            "input_sha256": __import__("hashlib").sha256(tensor.astype("<i4").tobytes()).hexdigest(),
            "raw_output": [round(float(v), 7) for v in out.reshape(-1)],
            "people": people,
        }
        if rotate:
            entry["people_in_original"] = [unrotate_cw(p) for p in people]
        images[name] = entry

    doc = {
        "generator": "deploy/reference/movenet_reference.py",
        "model": model.name,
        "model_sha256": sha256(model),
        "packages": {"onnxruntime": ort.__version__, "numpy": np.__version__,
                     "opencv": cv2.__version__},
        "preprocessing": "cv2.imread (BGR, libjpeg-turbo), optional cv2.rotate 90 clockwise, "
                         "cv2.resize to 256x256 INTER_LINEAR (whole image stretched, no "
                         "letterbox), BGR->RGB, int32 NHWC [1,256,256,3], values 0-255",
        "decoding": "output_0 [1,6,56]: per person 17 x (y, x, score) then ymin, xmin, ymax, "
                    "xmax, box score, all normalised; written here as keypoints [x, y, score] in "
                    "COCO order, box_xyxy [xmin, ymin, xmax, ymax], mean_keypoint_score = mean "
                    "of the 17 scores; input_sha256 = sha256 of the little-endian int32 tensor",
        "keypoint_names": KEYPOINTS,
        "images": images,
    }
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
