"""Drives `oxserve start DIR`'s model repository with NVIDIA's tritonclient, over HTTP and gRPC.

Usage: triton_repository.py HTTP_PORT GRPC_PORT
The folder holds `iris` (scikit-learn, 4 features) and `xgb` (XGBoost, 5 features), neither loaded at start-up.
Prints one JSON line with what the client got back; exits non-zero when a call that should work fails.
"""
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

http_port, grpc_port = int(sys.argv[1]), int(sys.argv[2])
IRIS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float64)
XGB = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]], dtype=np.float64)
out = {}


def states(index):
    return {m["name"]: m.get("state", "") for m in index}


def failure(call):
    try:
        call()
        return "accepted"
    except Exception as e:  # tritonclient raises InferenceServerException with the server's message
        return str(e)


h = httpclient.InferenceServerClient(url=f"127.0.0.1:{http_port}")
out["http_index_before"] = states(h.get_model_repository_index())
h.load_model("iris")
out["http_ready_after_load"] = h.is_model_ready("iris")
inp = httpclient.InferInput("predict", list(IRIS.shape), "FP64")
inp.set_data_from_numpy(IRIS, binary_data=True)
r = h.infer("iris", [inp])
first = r.get_response()["outputs"][0]["name"]
out["http_iris"] = r.as_numpy(first).tolist()
out["http_index_loaded"] = states(h.get_model_repository_index())
h.unload_model("iris")
out["http_ready_after_unload"] = h.is_model_ready("iris")
out["http_infer_unloaded"] = failure(lambda: h.infer("iris", [inp]))
out["http_load_unknown"] = failure(lambda: h.load_model("nope"))

g = grpcclient.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
g.load_model("xgb")
g.load_model("iris")
out["grpc_ready"] = [g.is_model_ready("xgb"), g.is_model_ready("iris")]
out["grpc_index"] = {m.name: m.state for m in g.get_model_repository_index().models}
xinp = grpcclient.InferInput("predict", list(XGB.shape), "FP64")
xinp.set_data_from_numpy(XGB)
xr = g.infer("xgb", [xinp])
out["grpc_xgb"] = xr.as_numpy(xr.get_response().outputs[0].name).tolist()
ginp = grpcclient.InferInput("predict", list(IRIS.shape), "FP64")
ginp.set_data_from_numpy(IRIS)
gr = g.infer("iris", [ginp])
out["grpc_iris"] = gr.as_numpy(gr.get_response().outputs[0].name).tolist()
g.unload_model("xgb")
# MLServer answers ModelReady for a model it does not hold with NOT_FOUND, which tritonclient raises.
out["grpc_ready_after_unload"] = failure(lambda: g.is_model_ready("xgb"))
out["grpc_unload_unknown"] = failure(lambda: g.unload_model("nope"))
print(json.dumps(out, sort_keys=True))
