"""Writes the ONNX fixtures of oxserve-onnx into crates/onnx/fixtures/<case>/: model.onnx plus expected.json, the
inputs and what onnxruntime's Python API returns for them. Run through scripts/gen-onnx-fixtures.sh (pinned venv).

Cases:
- keras-two-io: a Keras functional model with two inputs (float32 [-1,4], int64 [-1,3]) and two outputs, exported
  with tf2onnx;
- sklearn-pipeline: Pipeline(StandardScaler, LogisticRegression) on iris through skl2onnx with zipmap=False
  (outputs label int64 and probabilities float32);
- keras-conv: an image-style NHWC 16x16x3 conv -> pool -> dense softmax Keras model, exported with tf2onnx;
- dtypes: a hand-built onnx.helper graph whose inputs are float64, int32, uint8, bool and string tensors, so that
  every element type the server converts to is exercised.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

OUT = sys.argv[1]
OPSET = 17

DTYPES = {
    np.dtype("float32"): "FP32",
    np.dtype("float64"): "FP64",
    np.dtype("int32"): "INT32",
    np.dtype("int64"): "INT64",
    np.dtype("uint8"): "UINT8",
    np.dtype("bool"): "BOOL",
}


def describe(name, arr):
    arr = np.asarray(arr)
    if arr.dtype.kind in ("U", "O", "S"):
        datatype = "BYTES"
        data = [str(v) for v in arr.reshape(-1)]
    else:
        datatype = DTYPES[arr.dtype]
        # JSON has no NaN: write null (readers take it as NaN, as oxserve's Seldon decoder does).
        data = [None if isinstance(v, float) and v != v else v for v in arr.reshape(-1).tolist()]
    return {"name": name, "datatype": datatype, "shape": list(arr.shape), "data": data}


def write_case(case, model_bytes, inputs, note):
    folder = os.path.join(OUT, case)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as f:
        f.write(model_bytes)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, inputs)
    expected = {
        "note": note,
        "versions": {
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
        },
        "inputs": [describe(k, v) for k, v in inputs.items()],
        "outputs": [describe(n, r) for n, r in zip(names, results)],
    }
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, allow_nan=False)
        f.write("\n")
    size = os.path.getsize(path)
    assert size < 500_000, (case, size)
    print(f"{case}: {size} bytes, inputs {list(inputs)}, outputs {names}")


def keras_cases():
    import tensorflow as tf
    import tf2onnx
    import keras

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)

    # (a) two inputs of different dtypes and shapes, two outputs.
    features = keras.Input(shape=(4,), dtype="float32", name="features")
    counts = keras.Input(shape=(3,), dtype="int64", name="counts")
    counts_f = keras.layers.Lambda(lambda t: tf.cast(t, tf.float32))(counts)
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([features, counts_f]))
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(hidden)
    logits = keras.layers.Dense(3, name="logits")(hidden)
    model = keras.Model([features, counts], {"score": score, "logits": logits})

    spec = [tf.TensorSpec([None, 4], tf.float32, name="features"), tf.TensorSpec([None, 3], tf.int64, name="counts")]

    @tf.function(input_signature=spec)
    def two_io(features, counts):
        out = model([features, counts])
        return {"score": tf.identity(out["score"], name="score"), "logits": tf.identity(out["logits"], name="logits")}

    proto, _ = tf2onnx.convert.from_function(two_io, input_signature=spec, opset=OPSET)
    rename_outputs(proto, ["score", "logits"])
    inputs = {
        "features": rng.normal(size=(5, 4)).astype(np.float32),
        "counts": rng.integers(0, 10, size=(5, 3)).astype(np.int64),
    }
    write_case(
        "keras-two-io",
        proto.SerializeToString(),
        inputs,
        f"Keras {keras.__version__} functional model, two inputs / two outputs, tf2onnx {tf2onnx.__version__}, "
        f"TensorFlow {tf.__version__}",
    )

    # (c) image-style convolutional model, NHWC.
    image = keras.Input(shape=(16, 16, 3), dtype="float32", name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(image)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    probs = keras.layers.Dense(5, activation="softmax", name="probs")(x)
    conv = keras.Model(image, probs)

    spec = [tf.TensorSpec([None, 16, 16, 3], tf.float32, name="image")]

    @tf.function(input_signature=spec)
    def conv_fn(image):
        return {"probs": tf.identity(conv(image), name="probs")}

    proto, _ = tf2onnx.convert.from_function(conv_fn, input_signature=spec, opset=OPSET)
    rename_outputs(proto, ["probs"])
    inputs = {"image": rng.random(size=(3, 16, 16, 3)).astype(np.float32)}
    write_case(
        "keras-conv",
        proto.SerializeToString(),
        inputs,
        f"Keras {keras.__version__} NHWC 16x16x3 conv/pool/dense softmax, tf2onnx {tf2onnx.__version__}",
    )


def rename_outputs(proto, wanted):
    """tf2onnx names graph outputs after TensorFlow tensors (`Identity:0`); give them the Keras names."""
    graph = proto.graph
    assert len(graph.output) == len(wanted), [o.name for o in graph.output]
    current = [o.name for o in graph.output]
    # tf2onnx keeps the order of the structured outputs sorted by key; match by the name's prefix when possible.
    mapping = {}
    for old in current:
        match = [w for w in wanted if old.split(":")[0].endswith(w) or w in old]
        mapping[old] = match[0] if len(match) == 1 else None
    if None in mapping.values() or len(set(mapping.values())) != len(wanted):
        mapping = dict(zip(current, wanted))
    for node in graph.node:
        node.output[:] = [mapping.get(n, n) for n in node.output]
        node.input[:] = [mapping.get(n, n) for n in node.input]
    for out in graph.output:
        out.name = mapping[out.name]
    order = {w: i for i, w in enumerate(wanted)}
    outs = sorted(graph.output, key=lambda o: order[o.name])
    del graph.output[:]
    graph.output.extend(outs)


def sklearn_case():
    import sklearn
    import skl2onnx
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    pipe = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=500))]).fit(X, y)
    proto = to_onnx(pipe, X[:1], options={id(pipe.steps[-1][1]): {"zipmap": False}}, target_opset=OPSET)
    inputs = {"X": X[[0, 50, 100, 25, 75, 149]]}
    write_case(
        "sklearn-pipeline",
        proto.SerializeToString(),
        inputs,
        f"scikit-learn {sklearn.__version__} Pipeline(StandardScaler, LogisticRegression) on iris, "
        f"skl2onnx {skl2onnx.__version__}, zipmap=False",
    )


def dtypes_case():
    """Every element type: float64 x2, int32 + 1, uint8 as int32, bool not, string identity."""
    f64 = helper.make_tensor_value_info("f64", TensorProto.DOUBLE, ["batch", 2])
    i32 = helper.make_tensor_value_info("i32", TensorProto.INT32, ["batch", 2])
    u8 = helper.make_tensor_value_info("u8", TensorProto.UINT8, ["batch", 2])
    flag = helper.make_tensor_value_info("flag", TensorProto.BOOL, ["batch", 2])
    text = helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", 1])
    outs = [
        helper.make_tensor_value_info("f64_twice", TensorProto.DOUBLE, ["batch", 2]),
        helper.make_tensor_value_info("i32_plus_one", TensorProto.INT32, ["batch", 2]),
        helper.make_tensor_value_info("u8_as_i64", TensorProto.INT64, ["batch", 2]),
        helper.make_tensor_value_info("flag_not", TensorProto.BOOL, ["batch", 2]),
        helper.make_tensor_value_info("text_same", TensorProto.STRING, ["batch", 1]),
        helper.make_tensor_value_info("u8_same", TensorProto.UINT8, ["batch", 2]),
    ]
    two = helper.make_tensor("two", TensorProto.DOUBLE, [], [2.0])
    one = helper.make_tensor("one", TensorProto.INT32, [], [1])
    nodes = [
        helper.make_node("Mul", ["f64", "two"], ["f64_twice"]),
        helper.make_node("Add", ["i32", "one"], ["i32_plus_one"]),
        helper.make_node("Cast", ["u8"], ["u8_as_i64"], to=TensorProto.INT64),
        helper.make_node("Not", ["flag"], ["flag_not"]),
        helper.make_node("Identity", ["text"], ["text_same"]),
        helper.make_node("Identity", ["u8"], ["u8_same"]),
    ]
    graph = helper.make_graph(nodes, "dtypes", [f64, i32, u8, flag, text], outs, initializer=[two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="oxserve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    inputs = {
        "f64": np.array([[0.1, -2.5], [1e300, float("nan")], [3.0, 4.0]], dtype=np.float64),
        "i32": np.array([[1, -2], [2147483646, 0], [7, 8]], dtype=np.int32),
        "u8": np.array([[0, 255], [1, 2], [3, 4]], dtype=np.uint8),
        "flag": np.array([[True, False], [False, False], [True, True]]),
        "text": np.array([["héllo"], [""], ["x y"]], dtype=object),
    }
    write_case("dtypes", model.SerializeToString(), inputs, f"onnx.helper graph, onnx {onnx.__version__}")


if __name__ == "__main__":
    only = sys.argv[2:]
    if not only or "dtypes" in only:
        dtypes_case()
    if not only or "sklearn-pipeline" in only:
        sklearn_case()
    if not only or "keras" in only:
        keras_cases()
