"""Helpers of scripts/bench-onnx.sh.

  make-mlp DIR              writes DIR/model.onnx: a float32 MLP 256 -> 1024 -> 1024 -> 10 (relu, softmax)
  python MODEL BATCH SECS   onnxruntime's InferenceSession.run in a loop (1 intra-op thread): prints calls/s
  bodies MODEL BATCH DIR    writes V2 REST request bodies for the model's single float32 input: DIR/binary.body
                            (binary tensor extension; DIR/binary.hlen holds the JSON header's length) and
                            DIR/json.body
"""

import json
import os
import sys
import time

import numpy as np


def make_mlp(folder):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    sizes = [256, 1024, 1024, 10]
    inits, nodes = [], []
    prev = "x"
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32)
        bias = np.zeros(b, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(bias, f"b{k}")]
        out = f"h{k}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{k}", f"b{k}"], [out]))
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [out], [f"r{k}"]))
            out = f"r{k}"
        prev = out
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", sizes[-1]])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))


def session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def feed(sess, batch):
    inp = sess.get_inputs()[0]
    shape = [batch] + [d if isinstance(d, int) else batch for d in inp.shape[1:]]
    return inp.name, np.random.default_rng(5).random(shape, dtype=np.float32)


def python(model, batch, secs):
    sess = session(model)
    name, x = feed(sess, batch)
    for _ in range(20):
        sess.run(None, {name: x})
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < secs:
        sess.run(None, {name: x})
        calls += 1
    elapsed = time.perf_counter() - start
    print(f"{calls / elapsed:.2f}")


def bodies(model, batch, folder):
    sess = session(model)
    name, x = feed(sess, batch)
    raw = x.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {"name": name, "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    with open(os.path.join(folder, "binary.body"), "wb") as f:
        f.write(header + raw)
    with open(os.path.join(folder, "binary.hlen"), "w") as f:
        f.write(str(len(header)))
    body = {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]}
    with open(os.path.join(folder, "json.body"), "w") as f:
        json.dump(body, f)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make-mlp":
        make_mlp(sys.argv[2])
    elif cmd == "python":
        python(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "bodies":
        bodies(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
