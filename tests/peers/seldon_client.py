"""Drives an oxserve server with Seldon's own Python client (seldon-core 1.18.2), REST and gRPC.

Usage: seldon_client.py HTTP_PORT GRPC_PORT N_FEATURES
Prints one JSON line with what the client got back; exits non-zero when a call fails.
"""
import json
import sys

import numpy as np
from seldon_core.seldon_client import SeldonClient

http_port, grpc_port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
X = np.arange(1, n + 1, dtype=np.float64).reshape(1, n)
out = {}
for transport, port in (("rest", http_port), ("grpc", grpc_port)):
    for payload in ("tensor", "ndarray"):
        sc = SeldonClient(microservice_endpoint=f"127.0.0.1:{port}")
        r = sc.microservice(data=X, method="predict", transport=transport, payload_type=payload)
        if not r.success:
            print(f"{transport}/{payload} failed: {r.msg}", file=sys.stderr)
            sys.exit(1)
        resp = r.response if isinstance(r.response, dict) else json.loads(
            __import__("google.protobuf.json_format", fromlist=["MessageToJson"]).MessageToJson(r.response))
        out[f"{transport}/{payload}"] = resp
print(json.dumps(out, sort_keys=True))
