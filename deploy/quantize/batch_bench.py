"""Does batching several cameras' frames help on the CPU? Makes a copy of a model with a dynamic
batch dimension (the two Reshape shape constants [1, C, -1] become [0, C, -1], 0 = "keep the
input's batch size"; the input's first dimension becomes symbolic), checks that a batch of N
frames gives the same outputs as N single runs, then times batch 1, 2 and 4 side by side
(rounds interleaved, so machine noise hits every batch size alike), with real frames of vtest.avi.

Usage: .deps/quantize-venv/bin/python deploy/quantize/batch_bench.py --model models/X.onnx \
           --clip .deps/media/vtest.avi [--threads 1] [--rounds 6] [--seconds 2]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

import frames as fr

INPUT = "input_1:0"
ort.set_default_logger_severity(3)  # no per-run shape warnings of the dynamic copy


def dynamic_batch(model_path, out_path):
    m = onnx.load(model_path)
    g = m.graph
    # The Reshape shapes are computed from constants as [1, C, -1]: each Reshape gets a constant
    # [0, C, -1] instead.
    names = sorted({n.input[1] for n in g.node if n.op_type == "Reshape"})
    probe = onnx.load(model_path)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None))
    s = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = s.run(names, {INPUT: np.zeros((1, 3, 416, 416), np.float32)})
    for name, value in zip(names, values):
        assert value[0] == 1 and value[-1] == -1, value
        value = value.astype(np.int64).copy()
        value[0] = 0
        g.node.insert(0, onnx.helper.make_node(
            "Constant", [], [name + "_dynbatch"], value=numpy_helper.from_array(value)))
    for n in g.node:
        if n.op_type == "Reshape":
            n.input[1] = n.input[1] + "_dynbatch"
    g.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    for o in g.output:
        o.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, out_path)
    return out_path


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    frames = fr.decode(a.clip, os.path.join(work, "frames.raw"))
    x = fr.tensor(frames[[100, 300, 500, 700]])
    dyn = dynamic_batch(a.model, os.path.join(work, "dynamic.onnx"))
    s1 = session(a.model, a.threads)
    sd = session(dyn, a.threads)
    # Same outputs: batch of 4 vs 4 single runs of the original model.
    batched = sd.run(None, {INPUT: x})
    for i in range(4):
        single = s1.run(None, {INPUT: x[i:i + 1]})
        for p, q in zip(single, batched):
            assert np.abs(p[0] - q[i]).max() < 1e-4, np.abs(p[0] - q[i]).max()
    print(f"{a.model}: dynamic batch outputs equal single runs; {a.threads} intra-op thread(s)")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    totals = {b: [0, 0.0] for b in (1, 2, 4)}
    for _ in range(a.rounds):
        for b in (1, 2, 4):
            inp = {INPUT: np.ascontiguousarray(x[:b])}
            t0 = time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < a.seconds:
                sd.run(None, inp)
                n += b
            totals[b][0] += n
            totals[b][1] += time.perf_counter() - t0
    base = totals[1][0] / totals[1][1]
    for b, (n, t) in totals.items():
        fps = n / t
        print(f"batch {b}: {fps:6.1f} frames/s, {1000 / fps:5.1f} ms/frame, x{fps / base:.2f} vs batch 1")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(main())
