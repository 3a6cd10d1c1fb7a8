"""Declares the input height and width of an NCHW ONNX model symbolic ("H", "W").

Only declared shapes change: the input's dims 2 and 3 become dim_param "H" and "W", an output's
fixed anchor count (dim 1 of [1, N, C]) becomes symbolic, and the intermediate shapes ONNX stored
(value_info) are dropped because they were computed for the old fixed size (ONNX Runtime infers
them again at load). Weights and nodes are untouched.
NanoDet-m here is fully convolutional: its Reshape constants are [1, C, -1], Resize uses scales
and the TF "SAME" Pad constants are equal for every H, W multiple of 32, so any such size works
(tests/input_size_accuracy.rs guards the accuracy at 416x288). Idempotent: running it on a
dynamic file gives the same bytes.

Usage: dynamic_size.py MODEL [OUT]   (OUT defaults to MODEL: rewritten in place)
"""
import hashlib
import sys

import onnx


def make_dynamic(model):
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise SystemExit(f"expected a 4-D NCHW input, got {len(dims)} dims")
    for i, name in ((2, "H"), (3, "W")):
        dims[i].Clear()
        dims[i].dim_param = name
    for out in model.graph.output:
        odims = out.type.tensor_type.shape.dim
        if len(odims) == 3 and odims[1].HasField("dim_value"):
            odims[1].Clear()
            odims[1].dim_param = f"{out.name}_anchors"
    del model.graph.value_info[:]
    return model


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else src
    model = make_dynamic(onnx.load(src))
    onnx.checker.check_model(model)
    onnx.save(model, out)
    with open(out, "rb") as f:
        print(f"{out}\nsha256 {hashlib.sha256(f.read()).hexdigest()}")


if __name__ == "__main__":
    sys.exit(main())
