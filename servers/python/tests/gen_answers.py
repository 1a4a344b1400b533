"""Runs the differential cases under Seldon's own wrapper and records its answers in answers.json.

    servers/python/venv.sh                      # seldon-core 1.18.2 + scikit-learn, pinned
    servers/python/.venv-pywrap/bin/python servers/python/tests/gen_answers.py [--server CMD]

Each case group is one user class (tests/classes/*.py, or the quickstart iris example) started once under
`seldon-core-microservice` with the operator's env; every request is sent as REST JSON, a form post
(`json=`, SeldonClient's microservice mode) or a query string, and the status, content type and body are
recorded, then the metrics port's text (worker ids blanked). servers/python/tests/differential.rs replays the
same requests against oxserve-microservice and compares. `--server oxserve` runs the replay from here instead
(handy while developing) and prints the differences.

Then every SeldonClient call of CLIENT_CASES (Seldon's own Python client in its microservice mode, transports
"rest" and "grpc") is made against a fresh server per transport and recorded under "client": for REST the form
body the client posted, the status, reason, content type and body, and the client's success / msg / response;
for gRPC the method, the request's and reply's bytes (hex, deterministic serialization), the status code and
details. `--client-only` records only those (the REST cases kept as they are); `--live GROUP REST GRPC ...` makes
those groups' calls against running endpoints and prints the client's view (differential.rs's live check).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
ENV = {
    "PREDICTIVE_UNIT_ID": "node",
    "PREDICTIVE_UNIT_IMAGE": "me/component:0.1",
    "PREDICTOR_ID": "default",
    "SELDON_DEPLOYMENT_ID": "dep",
    "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus",
}

J = "json"
F = "form"
Q = "query"
M = "multipart"
BOUNDARY = "oxserveBoundary7MA4YWxk"


def multipart_body(spec):
    """`{"fields": {name: text}, "files": {name: text}}` as a multipart/form-data body (fixed boundary)."""
    spec = json.loads(spec)
    out = b""
    for name, value in spec.get("fields", {}).items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, value in spec.get("files", {}).items():
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.txt"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n{value}\r\n"
        ).encode()
    return out + f"--{BOUNDARY}--\r\n".encode()


def req(path, body=None, kind=J, method="POST"):
    return {"method": method, "path": path, "kind": kind, "body": body}


ND = '{"data":{"ndarray":[[1,2],[3,4]]},"meta":{"puid":"p1","tags":{"t":"x"}}}'
TENSOR = '{"data":{"names":["a","b"],"tensor":{"shape":[1,2],"values":[1.5,2.5]}}}'

CASES = [
    {
        "group": "iris",
        "dir": "servers/python/tests/iris",
        "interface": "Model",
        "needs": "sklearn",
        "requests": [
            req("/api/v1.0/predictions", '{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}'),
            req("/predict", '{"data":{"ndarray":[[5.1,3.5,1.4,0.2],[6.2,3.4,5.4,2.3]]}}', F),
            req("/api/v1.0/predictions", '{"data":{"tensor":{"shape":[1,4],"values":[1,2,3,4]}}}'),
            req("/api/v1.0/predictions", '{"data":{"ndarray":[[1,2,3]]}}'),
            req("/health/status", method="GET", kind=None),
            req("/metadata", method="GET", kind=None),
        ],
    },
    {
        "group": "Basic",
        "interface": "Basic",
        "requests": [
            req("/api/v1.0/predictions", ND),
            req("/predict", TENSOR, F),
            req("/predict", '{"data":{"ndarray":[1,2,3]}}', Q, method="GET"),
            req("/api/v1.0/predictions", '{"jsonData":{"x":1}}'),
            req("/api/v1.0/predictions", "{\"meta\":{}}"),
            req("/api/v1.0/predictions", "[1, 2]"),
            req("/api/v1.0/predictions", "not json"),
            req("/predict", "not json", F),
            req("/api/v1.0/predictions", '{"data":{"ndarray":[[1,2]]}}', kind="text"),
            req("/api/v1.0/predictions", '{"data":{"tensor":{"shape":[3],"values":[1,2]}}}'),
            req("/api/v1.0/predictions", method="GET", kind=None),
            req("/api/v1.0/metadata", method="POST", kind=None),
            req("/ready", method="GET", kind=None),
            req("/nope", "{}"),
            req("/health/ping", method="POST", kind=None),
            req("/health/ping", method="GET", kind=None),
            req("/transform-input", '{"data":{"names":["a","b"],"ndarray":[[1,2]]}}'),
            req("/transform-output", '{"strData":"abc"}', F),
            req("/route", ND),
            req("/aggregate", '[' + ND + ']'),
            req("/api/v1.0/feedback", '{"request":{"data":{"ndarray":[[1,2]]}},"reward":1.5}'),
            req("/send-feedback", '{"request":{"jsonData":{}},"reward":0}', F),
            req("/health/status", method="GET", kind=None),
            req("/metadata", method="GET", kind=None),
        ],
    },
    {
        "group": "Returns",
        "interface": "Returns",
        "requests": [
            req("/predict", '{"jsonData":{"a":[1,2.5,"x",null,true]},"meta":{"tags":{"k":"v"}}}'),
            req("/predict", '{"strData":"hello"}'),
            req("/predict", '{"binData":"AQID"}'),
            req("/predict", '{"data":{"ndarray":[1,2,3]}}'),
            req("/predict", '{"data":{"ndarray":[[1,2,3]]}}'),
            req("/predict", '{"data":{"tensor":{"shape":[1,3],"values":[1,2,3]}}}'),
            req("/predict", '{"data":{"ndarray":[[1,2,3,4]]}}'),
            req("/predict", '{"data":{"ndarray":[[0.00001,1e20,-0.0,100]]}}'),
            req("/predict", '{"data":{"ndarray":[["x","y"]]}}'),
            req("/predict", '{"data":{"ndarray":[[1,2,3,4,5]]}}'),
            req("/predict", '{"jsonData":{"none":true}}'),
            req("/predict", '{"jsonData":{"np_scalar":true}}'),
            req("/predict", '{"data":{}}'),
            req("/predict", '{"fields":{"strData":"multi part"}}', M),
            req("/predict", '{"fields":{"jsonData":"{\\"k\\": [1, 2]}","meta":"{\\"puid\\": \\"m1\\"}"}}', M),
            req("/predict", '{"files":{"binData":"raw bytes"}}', M),
            req("/predict", '{"files":{"strData":"from a file"}}', M),
            req("/predict", '{"fields":{"data":"{\\"ndarray\\": [[1, 2, 3]]}"}}', M),
            req("/predict", '{"fields":{"data":"not json"}}', M),
        ],
    },
    {
        "group": "Raw",
        "interface": "Raw",
        "requests": [
            req("/predict", '{"data":{"ndarray":[[1]]}}'),
            req("/predict", '{"jsonData":{"fail":true}}'),
            req("/api/v1.0/predictions", '{"strData":"s"}', F),
        ],
    },
    {
        "group": "Errors",
        "interface": "Errors",
        "requests": [
            req("/predict", '{"data":{"ndarray":[[1,0]]}}'),
            req("/predict", '{"data":{"ndarray":[[2,0]]}}'),
            req("/predict", '{"data":{"ndarray":[[3,0]]}}'),
            req("/predict", '{"data":{"ndarray":[[4,0]]}}'),
            req("/predict", '{"data":{"ndarray":[[5,0]]}}'),
            req("/route", '{"data":{"ndarray":[[3,0]]}}'),
            req("/aggregate", '{"seldonMessages":[{"data":{"ndarray":[1]}}]}'),
        ],
    },
    {
        "group": "Hooks",
        "interface": "Hooks",
        "requests": [
            req("/metadata", method="GET", kind=None),
            req("/transform-input", '{"data":{"names":["a","b"],"ndarray":[[1,2]]}}'),
            req("/transform-output", '{"data":{"tensor":{"shape":[1,2],"values":[1,2]}}}'),
            req("/health/status", method="GET", kind=None),
            req("/api/v1.0/health/status", method="GET", kind=None),
            req("/send-feedback", '{"request":{"data":{"names":["a"],"ndarray":[[1]]}},"reward":2,"truth":{"data":{"ndarray":[[1]]}}}'),
            req("/api/v1.0/feedback", '{"request":{"data":{"ndarray":[[1]]}},"reward":0.5}'),
        ],
    },
    {
        "group": "Router",
        "interface": "Router",
        "parameters": [
            {"name": "n_branches", "value": "3", "type": "INT"},
            {"name": "epsilon", "value": "0.1", "type": "FLOAT"},
            {"name": "label", "value": "ab", "type": "STRING"},
            {"name": "verbose", "value": "true", "type": "BOOL"},
        ],
        "requests": [
            req("/route", '{"data":{"ndarray":[[1,2]]}}'),
            req("/send-feedback", '{"request":{"data":{"ndarray":[[1,2]]}},"response":{"meta":{"routing":{"node":2}}},"reward":1}'),
            req("/route", '{"data":{"ndarray":[[1,2]]}}', F),
            req("/route", '{"data":{"ndarray":[[-1,2]]}}'),
            req("/route", '{"jsonData":{}}'),
        ],
    },
    {
        "group": "Combiner",
        "interface": "Combiner",
        "requests": [
            req("/aggregate", '{"seldonMessages":[{"data":{"ndarray":[[1,2]]},"meta":{"tags":{"a":1}}},{"data":{"ndarray":[[3,5]]},"meta":{"tags":{"b":2}}}]}'),
            req("/aggregate", '[{"data":{"tensor":{"shape":[1,2],"values":[1,2]}}},{"data":{"tensor":{"shape":[1,2],"values":[2,3]}}}]', F),
            req("/aggregate", '{"data":{"ndarray":[1]}}'),
            req("/predict", '{"data":{"ndarray":[1]}}'),
        ],
    },
    {
        "group": "Transformer",
        "interface": "Transformer",
        "requests": [
            req("/transform-input", '{"data":{"ndarray":[[10,20]]}}'),
            req("/transform-output", '{"data":{"ndarray":[[0.123,0.456]]}}', F),
            req("/transform-input", '{"data":{"tensor":{"shape":[2],"values":[1,2]}}}'),
        ],
    },
]


# SeldonClient (seldon_core.seldon_client), Seldon's own Python client, in its microservice mode: every call is
# made once with transport "rest" (a form post `json=` to /<method>) and once with "grpc" (Model/Predict,
# Generic/TransformInput, …), each transport against a fresh server (the wrapper's REST and gRPC servers are
# separate processes, each with its own copy of the user object). gRPC `Metadata` (init_metadata) has no
# SeldonClient call: it is made with Seldon's own stub.
def call(method, **kw):
    return {"method": method, **kw}


CLIENT_CASES = [
    {
        "group": "iris",
        "dir": "servers/python/tests/iris",
        "interface": "Model",
        "needs": "sklearn",
        "calls": [
            call("predict", payload_type="ndarray", data=[[5.1, 3.5, 1.4, 0.2]]),
            call("predict", payload_type="tensor", data=[[6.2, 3.4, 5.4, 2.3], [5.9, 3.0, 4.2, 1.5]]),
            call("predict", payload_type="ndarray", data=[[1, 2, 3]]),
        ],
    },
    {
        "group": "Basic",
        "interface": "Basic",
        "calls": [
            call("predict", payload_type="ndarray", data=[[1, 2]], names=["a", "b"]),
            call("predict", payload_type="tensor", data=[[1.5, 2.5]]),
            call("predict", str_data="hello"),
            call("transform-input", payload_type="ndarray", data=[[1, 2]]),
            call("transform-output", payload_type="tensor", data=[[1, 2]], names=["x", "y"]),
            call("route", payload_type="ndarray", data=[[1, 2]]),
            call("aggregate", payload_type="tensor", datas=[[[1, 2]], [[3, 4]]]),
            call("send-feedback", request={"data": {"ndarray": [[1, 2]]}}, response={"data": {"ndarray": [[2, 4]]}}, reward=1.0),
            call("metadata"),
        ],
    },
    {
        "group": "Returns",
        "interface": "Returns",
        "calls": [
            call("predict", json_data={"a": [1, 2.5, "x", None, True]}),
            call("predict", str_data="hello"),
            call("predict", bin_data="AQID"),
            call("predict", payload_type="ndarray", data=[[1, 2, 3]]),
            call("predict", payload_type="tensor", data=[[1, 2, 3, 4]]),
            call("predict", json_data={"none": True}),
        ],
    },
    {
        "group": "Raw",
        "interface": "Raw",
        "calls": [
            call("predict", payload_type="ndarray", data=[[1]]),
            call("predict", json_data={"fail": True}),
        ],
    },
    {
        "group": "Errors",
        "interface": "Errors",
        "calls": [
            call("predict", payload_type="ndarray", data=[[1, 0]]),
            call("predict", payload_type="ndarray", data=[[2, 0]]),
            call("predict", payload_type="ndarray", data=[[3, 0]]),
            call("predict", payload_type="ndarray", data=[[4, 0]]),
            call("predict", payload_type="ndarray", data=[[5, 0]]),
        ],
    },
    {
        "group": "Hooks",
        "interface": "Hooks",
        "calls": [
            call("metadata"),
            call("transform-input", payload_type="ndarray", data=[[1, 2]], names=["a", "b"]),
            call("transform-output", payload_type="tensor", data=[[1, 2]]),
            call("send-feedback", request={"data": {"names": ["a"], "ndarray": [[1]]}}, response={"data": {"ndarray": [[2]]}}, reward=2.0),
            call("send-feedback", request={"data": {"ndarray": [[1]]}}, reward=0.5),
        ],
    },
    {
        "group": "Router",
        "interface": "Router",
        "parameters": [
            {"name": "n_branches", "value": "3", "type": "INT"},
            {"name": "label", "value": "ab", "type": "STRING"},
        ],
        "calls": [
            call("route", payload_type="ndarray", data=[[1, 2]]),
            call("send-feedback", request={"data": {"ndarray": [[1, 2]]}}, response={"meta": {"routing": {"node": 2}}}, reward=1.0),
            call("route", payload_type="tensor", data=[[1, 2]]),
            call("route", payload_type="ndarray", data=[[-1, 2]]),
        ],
    },
    {
        "group": "Combiner",
        "interface": "Combiner",
        "calls": [
            call("aggregate", payload_type="ndarray", datas=[[[1, 2]], [[3, 5]]]),
            call("aggregate", payload_type="tensor", datas=[[[1, 2]], [[2, 3]]], names=["p", "q"]),
            call("aggregate", payload_type="ndarray", datas=["a", "b"]),
        ],
    },
    {
        "group": "Transformer",
        "interface": "Transformer",
        "calls": [
            call("transform-input", payload_type="ndarray", data=[[10, 20]]),
            call("transform-output", payload_type="tensor", data=[[0.123, 0.456]]),
        ],
    },
]

# The gRPC method each SeldonClient call reaches, as a path the Rust replay dispatches on.
GRPC_METHOD = {
    "predict": "/seldon.protos.Model/Predict",
    "transform-input": "/seldon.protos.Generic/TransformInput",
    "transform-output": "/seldon.protos.Generic/TransformOutput",
    "route": "/seldon.protos.Generic/Route",
    "aggregate": "/seldon.protos.Generic/Aggregate",
    "send-feedback": "/seldon.protos.Generic/SendFeedback",
    "metadata": "/seldon.protos.Model/Metadata",
}


def client_call(transport, endpoint, c):
    """One SeldonClient call; returns the client's result and, for REST, the raw reply `requests` saw."""
    import base64

    import numpy as np
    import requests
    from seldon_core.seldon_client import SeldonClient
    from seldon_core.utils import json_to_seldon_message

    raw = {}
    post = requests.post

    def recording_post(url, data=None, **kw):
        response = post(url, data=data, **kw)
        raw.update(sent=data["json"], status=response.status_code, reason=response.reason,
                   content_type=response.headers.get("Content-Type"), reply=response.text)
        return response

    requests.post = recording_post
    try:
        client = SeldonClient(microservice_endpoint=endpoint, transport=transport)
        method = c["method"]
        if method == "send-feedback":
            result = client.microservice_feedback(
                prediction_request=json_to_seldon_message(c["request"]),
                prediction_response=json_to_seldon_message(c["response"]) if "response" in c else None,
                reward=c["reward"], transport=transport)
        else:
            kw = {k: v for k, v in c.items() if k != "method"}
            if "data" in kw:
                kw["data"] = np.array(kw["data"])
            if "datas" in kw:
                kw["datas"] = [d if isinstance(d, str) else np.array(d) for d in kw["datas"]]
            if "bin_data" in kw:
                kw["bin_data"] = base64.b64decode(kw["bin_data"])
            result = client.microservice(method=method, transport=transport, **kw)
    finally:
        requests.post = post
    return result, raw


def grpc_metadata(endpoint):
    """Model/Metadata through Seldon's own stub: (code, details, reply)."""
    import grpc
    from google.protobuf import empty_pb2
    from seldon_core.proto import prediction_pb2_grpc

    with grpc.insecure_channel(endpoint) as channel:
        try:
            return "OK", "", prediction_pb2_grpc.ModelStub(channel).Metadata(empty_pb2.Empty(), timeout=30)
        except grpc.RpcError as e:
            return e.code().name, e.details(), None


def grpc_status(msg):
    """The gRPC status code and details in SeldonClient's failure `msg` (str() of grpc's RpcError)."""
    code = re.search(r"status = StatusCode\.(\w+)", msg)
    details = re.search(r'details = "(.*)"\n', msg)
    return (code.group(1) if code else "NOT_GRPC"), (details.group(1) if details else msg)


def proto_json(message):
    from google.protobuf import json_format

    return None if message is None else json_format.MessageToDict(message)


def run_client_rest(case, endpoint):
    from seldon_core.utils import seldon_message_to_json

    out = []
    for c in case["calls"]:
        if c["method"] == "metadata":
            continue
        result, raw = client_call("rest", endpoint, c)
        out.append({
            "call": c, "path": "/" + c["method"], "sent": raw["sent"], "status": raw["status"],
            "reason": raw["reason"], "content_type": raw["content_type"], "reply": raw["reply"],
            "success": result.success, "msg": result.msg,
            "response": None if result.response is None else seldon_message_to_json(result.response),
        })
    return out


def run_client_grpc(case, endpoint):
    out = []
    for c in case["calls"]:
        if c["method"] == "metadata":
            code, details, reply = grpc_metadata(endpoint)
            request = b""
        else:
            result, _ = client_call("grpc", endpoint, c)
            request = result.request.SerializeToString(deterministic=True)
            reply = result.response
            code, details = ("OK", "") if result.success else grpc_status(result.msg)
        out.append({
            "call": c, "rpc": GRPC_METHOD[c["method"]], "request": request.hex(),
            "code": code, "details": details,
            "reply": "" if reply is None else reply.SerializeToString(deterministic=True).hex(),
            "reply_json": proto_json(reply),
        })
    return out


def wait_grpc(port, proc):
    import grpc

    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited before its gRPC port answered")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                pass
    raise RuntimeError(f"gRPC port {port} did not answer")


def run_client(server):
    out = []
    for case in CLIENT_CASES:
        if not runs_here(case):
            continue
        recorded = {k: v for k, v in case.items() if k != "calls"}
        for transport in ("rest", "grpc"):
            http, metrics, grpc_port = free_port(), free_port(), free_port()
            proc = start(server, case, http, metrics, grpc_port=grpc_port, grpc=transport == "grpc")
            try:
                if transport == "rest":
                    recorded["rest"] = run_client_rest(case, f"127.0.0.1:{http}")
                else:
                    wait_grpc(grpc_port, proc)
                    recorded["grpc"] = run_client_grpc(case, f"127.0.0.1:{grpc_port}")
            finally:
                stop(proc)
        out.append(recorded)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(base, r):
    url = base + r["path"]
    data = None
    headers = {}
    if r["kind"] == J:
        data = r["body"].encode()
        headers["Content-Type"] = "application/json"
    elif r["kind"] == F:
        data = urllib.parse.urlencode({"json": r["body"]}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif r["kind"] == Q:
        url += "?" + urllib.parse.urlencode({"json": r["body"]})
    elif r["kind"] == M:
        data = multipart_body(r["body"])
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
    elif r["kind"] == "text":
        data = r["body"].encode()
        headers["Content-Type"] = "text/plain"
    elif r["method"] == "POST":
        data = b""
    request = urllib.request.Request(url, data=data, headers=headers, method=r["method"])
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def normalize_metrics(text):
    return re.sub(r'worker_id="\d+"', 'worker_id="W"', text)


def start(server, case, http, metrics, grpc_port=None, grpc=False):
    cwd = os.path.join(REPO, case["dir"]) if "dir" in case else os.path.join(HERE, "classes")
    env = {**os.environ, **ENV, "PREDICTIVE_UNIT_PARAMETERS": json.dumps(case.get("parameters", []))}
    venv = os.path.dirname(os.path.dirname(sys.executable))
    if server == "seldon":
        cmd = [os.path.join(venv, "bin", "seldon-core-microservice"), case["interface"],
               "--grpc-workers", "1" if grpc else "0"]
    else:
        env["VIRTUAL_ENV"] = venv
        env["OXSERVE_HOST"] = "127.0.0.1"
        cmd = [os.path.join(REPO, "target", "debug", "oxserve-microservice"), case["interface"]]
    cmd += ["--http-port", str(http), "--metrics-port", str(metrics), "--grpc-port", str(grpc_port or free_port())]
    # Its own session: stop() ends the wrapper's whole process tree (gunicorn, the gRPC worker).
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health/ping", timeout=1).read()
            return proc
        except Exception:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{server} did not start for {case['group']}")


def stop(proc):
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Whatever of the group outlived its leader.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def runs_here(case):
    """Whether this venv has the module the case needs (the iris case: scikit-learn)."""
    try:
        if case.get("needs"):
            __import__(case["needs"])
        return True
    except ImportError:
        return False


def run(server):
    out = []
    for case in CASES:
        if not runs_here(case):
            continue
        http, metrics = free_port(), free_port()
        proc = start(server, case, http, metrics)
        try:
            answers = []
            for r in case["requests"]:
                status, ctype, body = send(f"http://127.0.0.1:{http}", r)
                answers.append({**r, "status": status, "content_type": ctype, "reply": body})
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/prometheus", timeout=10) as resp:
                prom = normalize_metrics(resp.read().decode())
        finally:
            stop(proc)
        out.append({**{k: v for k, v in case.items() if k != "requests"}, "answers": answers, "metrics": prom})
    return out


def compare_client(got, want):
    bad = 0
    for g, e in zip(got, want):
        for transport, keys in (("rest", ("status", "reply", "success", "msg")), ("grpc", ("code", "details", "reply"))):
            for gc, ec in zip(g.get(transport, []), e.get(transport, [])):
                if any(gc[k] != ec[k] for k in keys):
                    bad += 1
                    print(f"client {transport} {g['group']} {ec['call']}")
                    for k in keys:
                        print(f"  {k}: seldon {ec[k]!r}\n  {' ' * len(k)}  oxserve {gc[k]!r}")
    return bad


if __name__ == "__main__":
    if "--live" in sys.argv:
        # The live check differential.rs runs: one group's SeldonClient calls against a running server
        # (REST endpoint, gRPC endpoint), the client's view printed as JSON.
        # GROUP REST GRPC, repeated: one process for every group (the imports cost seconds).
        args = sys.argv[sys.argv.index("--live") + 1:]
        live = {}
        for group, rest, grpc in zip(args[0::3], args[1::3], args[2::3]):
            case = next(c for c in CLIENT_CASES if c["group"] == group)
            live[group] = {"rest": run_client_rest(case, rest), "grpc": run_client_grpc(case, grpc)}
        json.dump(live, sys.stdout)
        sys.exit(0)
    server = sys.argv[sys.argv.index("--server") + 1] if "--server" in sys.argv else "seldon"
    client_only = "--client-only" in sys.argv
    path = os.path.join(HERE, "answers.json")
    recorded = {}
    if os.path.exists(path):
        with open(path) as f:
            recorded = json.load(f)
    result = recorded["cases"] if client_only and server == "seldon" else ([] if client_only else run(server))
    client = run_client(server)
    if server == "seldon":
        with open(path, "w") as f:
            json.dump({"env": ENV, "cases": result, "client": client}, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {sum(len(c['answers']) for c in result)} answers, "
              f"{sum(len(c['rest']) + len(c['grpc']) for c in client)} SeldonClient calls")
    else:
        bad = compare_client(client, recorded.get("client", []))
        for got, exp in zip(result, recorded["cases"]):
            for g, e in zip(got["answers"], exp["answers"]):
                if (g["status"], g["reply"]) != (e["status"], e["reply"]):
                    bad += 1
                    print(f"{got['group']} {e['method']} {e['path']} {e['kind']} {e['body']}\n  seldon:  {e['status']} {e['reply']!r}\n  oxserve: {g['status']} {g['reply']!r}")
            if got["metrics"] != exp["metrics"]:
                bad += 1
                print(f"{got['group']} metrics differ:\n--- seldon\n{exp['metrics']}\n--- oxserve\n{got['metrics']}")
        print(f"{bad} differences")
