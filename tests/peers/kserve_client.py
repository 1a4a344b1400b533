"""Drives an oxserve server with KServe's own Python SDK (`kserve` on PyPI): InferenceRESTClient over V1 and V2.

Usage: kserve_client.py HTTP_PORT MODEL_NAME
Prints one JSON line with what the client got back; exits non-zero when a call that should succeed fails.
"""
import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

port, model = int(sys.argv[1]), sys.argv[2]
base = f"http://127.0.0.1:{port}"
ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


async def main():
    out = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
    out["v1_live"] = await v1.is_server_live(base)
    out["v1_ready"] = await v1.is_model_ready(base, model)
    out["v1_predict"] = await v1.infer(base, {"instances": ROWS}, model_name=model)
    try:
        await v1.infer(base, {"instances": ROWS}, model_name="missing")
        out["v1_missing"] = "accepted"
    except Exception as e:  # httpx.HTTPStatusError carrying the server's {"error": ...}
        out["v1_missing"] = str(e)
    await v1.close()

    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    out["v2_ready"] = await v2.is_model_ready(base, model)
    x = InferInput("input-0", [2, 4], "FP64")
    x.set_data_from_numpy(np.array(ROWS, dtype=np.float64), binary_data=False)
    request = InferRequest(model_name=model, infer_inputs=[x], request_outputs=[RequestedOutput("predict")])
    response = await v2.infer(base, request, model_name=model)
    out["v2_predict"] = response.outputs[0].as_numpy().tolist()
    await v2.close()
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
