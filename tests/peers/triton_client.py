"""Drives an oxserve server with NVIDIA's tritonclient (HTTP with binary tensors, and gRPC).

Usage: triton_client.py HTTP_PORT GRPC_PORT MODEL_NAME
Prints one JSON line with what the client got back; exits non-zero when a call fails.
"""
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

http_port, grpc_port, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]], dtype=np.float64)
out = {}

h = httpclient.InferenceServerClient(url=f"127.0.0.1:{http_port}")
out["http_live"] = h.is_server_live()
out["http_ready"] = h.is_model_ready(model)
out["http_metadata"] = h.get_model_metadata(model)
inp = httpclient.InferInput("input-0", list(X.shape), "FP64")
inp.set_data_from_numpy(X, binary_data=True)
outs = [httpclient.InferRequestedOutput("proba", binary_data=True),
        httpclient.InferRequestedOutput("sum", binary_data=False)]
r = h.infer(model, [inp], outputs=outs, request_id="req-1")
out["http_proba"] = r.as_numpy("proba").tolist()
out["http_sum"] = r.as_numpy("sum").tolist()
out["http_id"] = r.get_response()["id"]
inp_json = httpclient.InferInput("input-0", list(X.shape), "FP64")
inp_json.set_data_from_numpy(X, binary_data=False)
out["http_json_proba"] = h.infer(model, [inp_json]).as_numpy("proba").tolist()
try:
    bad = httpclient.InferInput("input-0", [1, 3], "FP64")
    bad.set_data_from_numpy(np.ones((1, 3)), binary_data=True)
    h.infer(model, [bad])
    out["http_bad"] = "accepted"
except Exception as e:  # tritonclient raises InferenceServerException with the server's message
    out["http_bad"] = str(e)

g = grpcclient.InferenceServerClient(url=f"127.0.0.1:{grpc_port}")
out["grpc_live"] = g.is_server_live()
out["grpc_ready"] = g.is_model_ready(model)
out["grpc_metadata_name"] = g.get_model_metadata(model).name
ginp = grpcclient.InferInput("input-0", list(X.shape), "FP64")
ginp.set_data_from_numpy(X)
gr = g.infer(model, [ginp], outputs=[grpcclient.InferRequestedOutput("proba"), grpcclient.InferRequestedOutput("sum")])
out["grpc_proba"] = gr.as_numpy("proba").tolist()
out["grpc_sum"] = gr.as_numpy("sum").tolist()
print(json.dumps(out, sort_keys=True))
