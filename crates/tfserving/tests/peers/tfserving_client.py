"""A TF Serving client, as users write one: REST `:predict` with `requests` (row and columnar formats) and gRPC
`PredictionService/Predict` with a `TensorProto` whose numbers travel in `tensor_content` (as
`tf.make_tensor_proto` sends a numpy array) or in typed fields.

Usage: tfserving_client.py HTTP_PORT GRPC_PORT MODEL_NAME STUBS_DIR. Prints one JSON object of what came back.
"""

import json
import sys

import grpc
import numpy as np
import requests

http_port, grpc_port, model, stubs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sys.path.insert(0, stubs)

from tensorflow.core.framework import tensor_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

base = f"http://127.0.0.1:{http_port}/v1/models/{model}"
out = {}

r = requests.get(base, timeout=10)
out["rest/status"] = r.json()
r = requests.get(base + "/metadata", timeout=10)
out["rest/metadata"] = r.json()
r = requests.post(
    base + ":predict",
    json={"signature_name": "serving_default",
          "instances": [{"x": [1.0, 2.0, 3.0], "n": 2}, {"x": [0.5, 1.0, -1.0], "n": -1}]},
    timeout=10,
)
out["rest/row"] = {"status": r.status_code, "body": r.json()}
r = requests.post(base + ":predict", json={"inputs": {"x": [[1, 2, 3]], "n": [3]}}, timeout=10)
out["rest/columnar"] = {"status": r.status_code, "body": r.json()}
r = requests.post(base + "/versions/1:predict", json={"instances": [[1, 2, 3]]}, timeout=10)
out["rest/error"] = {"status": r.status_code, "body": r.json()}
r = requests.post(f"http://127.0.0.1:{http_port}/v1/models/nope:predict",
                  json={"instances": [[1, 2, 3]]}, timeout=10)
out["rest/unknown"] = {"status": r.status_code, "body": r.json()}


def tensor(proto):
    values = {
        tensor_pb2.DT_FLOAT: list(proto.float_val),
        tensor_pb2.DT_DOUBLE: list(proto.double_val),
        tensor_pb2.DT_INT64: list(proto.int64_val),
    }.get(proto.dtype, [])
    return {
        "dtype": tensor_pb2.DataType.Name(proto.dtype),
        "shape": [d.size for d in proto.tensor_shape.dim],
        "values": values,
    }


channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

x = np.array([[1, 2, 3], [0.5, 1, -1]], dtype=np.float32)
request = predict_pb2.PredictRequest()
request.model_spec.name = model
request.model_spec.signature_name = "serving_default"
request.inputs["x"].dtype = tensor_pb2.DT_FLOAT
request.inputs["x"].tensor_shape.dim.add(size=2)
request.inputs["x"].tensor_shape.dim.add(size=3)
request.inputs["x"].tensor_content = x.tobytes()
request.inputs["n"].dtype = tensor_pb2.DT_INT64
request.inputs["n"].tensor_shape.dim.add(size=2)
request.inputs["n"].int64_val.extend([2, -1])
response = stub.Predict(request, timeout=10)
out["grpc/predict"] = {
    "model_spec": {"name": response.model_spec.name, "version": response.model_spec.version.value,
                   "signature_name": response.model_spec.signature_name},
    "outputs": {k: tensor(v) for k, v in response.outputs.items()},
}

request.output_filter.append("total")
response = stub.Predict(request, timeout=10)
out["grpc/filtered"] = sorted(response.outputs.keys())

metadata = stub.GetModelMetadata(
    get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": model}, metadata_field=["signature_def"]),
    timeout=10,
)
signatures = get_model_metadata_pb2.SignatureDefMap()
metadata.metadata["signature_def"].Unpack(signatures)
sig = signatures.signature_def["serving_default"]
out["grpc/metadata"] = {
    "method_name": sig.method_name,
    "inputs": {k: {"dtype": tensor_pb2.DataType.Name(v.dtype),
                   "shape": [d.size for d in v.tensor_shape.dim]} for k, v in sig.inputs.items()},
    "outputs": sorted(sig.outputs.keys()),
}

status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
    get_model_status_pb2.GetModelStatusRequest(model_spec={"name": model}), timeout=10)
out["grpc/status"] = [
    {"version": s.version, "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state)}
    for s in status.model_version_status
]

bad = predict_pb2.PredictRequest()
bad.CopyFrom(request)
bad.model_spec.name = "nope"
try:
    stub.Predict(bad, timeout=10)
    out["grpc/unknown"] = None
except grpc.RpcError as e:
    out["grpc/unknown"] = {"code": e.code().name, "details": e.details()}

print(json.dumps(out))
