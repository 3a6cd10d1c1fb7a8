#!/usr/bin/env python3
"""Writes tests/data/models/fire-stub.onnx: a STUB fire/smoke detector for tests only.

It is not a fire model: whatever the picture, it reports one `fire` box over the bottom-right
quarter of the frame (score 0.9) and nothing else. Its interface is the one Vigie's detector
decodes (manifest `format = "nanodet"`): input `images` [1, 3, 64, 64] float32; one stride (32,
a 2x2 grid): a class tensor [1, 4, 2] (labels fire, smoke; sigmoid applied) and a box tensor
[1, 4, 8] (4 sides x 2 bins; equal logits put each side 0.5 x 32 = 16 pixels from the cell
centre). The outputs are constants plus 0 x the input's mean, so the input is used.

Usage: .deps/quantize-venv/bin/python deploy/stub-models/fire_stub.py [OUTPUT]
(the venv of deploy/quantize/quantize.sh: onnx and numpy pinned in deploy/quantize/requirements.txt).
Prints the sha256 for the manifest entry tests/data/models/fire-stub.toml.
"""
import hashlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/models/fire-stub.onnx"

# Cells row-major: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
cls = np.full((1, 4, 2), 0.01, dtype=np.float32)
cls[0, 3, 0] = 0.9  # fire, bottom-right cell: box (32..64, 32..64) of the 64x64 input
box = np.zeros((1, 4, 8), dtype=np.float32)

nodes = [
    helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
    helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    helper.make_node("Add", ["cls_const", "nothing"], ["cls"]),
    helper.make_node("Add", ["box_const", "nothing"], ["box"]),
]
graph = helper.make_graph(
    nodes,
    "fire_stub",
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
    [
        helper.make_tensor_value_info("cls", TensorProto.FLOAT, [1, 4, 2]),
        helper.make_tensor_value_info("box", TensorProto.FLOAT, [1, 4, 8]),
    ],
    initializer=[
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(cls, "cls_const"),
        numpy_helper.from_array(box, "box_const"),
    ],
)
model = helper.make_model(
    graph,
    producer_name="vigie deploy/stub-models/fire_stub.py",
    opset_imports=[helper.make_opsetid("", 13)],
)
model.ir_version = 7
onnx.checker.check_model(model)
data = model.SerializeToString()
with open(out, "wb") as f:
    f.write(data)
print(out, hashlib.sha256(data).hexdigest())
