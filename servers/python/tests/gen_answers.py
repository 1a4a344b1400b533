"""Runs the differential cases under Seldon's own wrapper and records its answers in answers.json.

    servers/python/venv.sh                      # seldon-core 1.18.2 + scikit-learn, pinned
    servers/python/.venv-pywrap/bin/python servers/python/tests/gen_answers.py [--server CMD]

Each case group is one user class (tests/classes/*.py, or the quickstart iris example) started once under
`seldon-core-microservice` with the operator's env; every request is sent as REST JSON, a form post
(`json=`, SeldonClient's microservice mode) or a query string, and the status, content type and body are
recorded, then the metrics port's text (worker ids blanked). servers/python/tests/differential.rs replays the
same requests against oxserve-microservice and compares. `--server oxserve` runs the replay from here instead
(handy while developing) and prints the differences.
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


def start(server, case, http, metrics):
    cwd = os.path.join(REPO, case["dir"]) if "dir" in case else os.path.join(HERE, "classes")
    env = {**os.environ, **ENV, "PREDICTIVE_UNIT_PARAMETERS": json.dumps(case.get("parameters", []))}
    venv = os.path.dirname(os.path.dirname(sys.executable))
    if server == "seldon":
        cmd = [os.path.join(venv, "bin", "seldon-core-microservice"), case["interface"], "--grpc-workers", "0"]
    else:
        env["VIRTUAL_ENV"] = venv
        env["OXSERVE_HOST"] = "127.0.0.1"
        cmd = [os.path.join(REPO, "target", "debug", "oxserve-microservice"), case["interface"]]
    cmd += ["--http-port", str(http), "--metrics-port", str(metrics), "--grpc-port", str(free_port())]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health/ping", timeout=1).read()
            return proc
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{server} did not start for {case['group']}")


def run(server):
    out = []
    for case in CASES:
        if case.get("needs"):
            try:
                __import__(case["needs"])
            except ImportError:
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
            proc.terminate()
            proc.wait(timeout=30)
        out.append({**{k: v for k, v in case.items() if k != "requests"}, "answers": answers, "metrics": prom})
    return out


if __name__ == "__main__":
    server = sys.argv[sys.argv.index("--server") + 1] if "--server" in sys.argv else "seldon"
    result = run(server)
    if server == "seldon":
        with open(os.path.join(HERE, "answers.json"), "w") as f:
            json.dump({"env": ENV, "cases": result}, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {sum(len(c['answers']) for c in result)} answers")
    else:
        with open(os.path.join(HERE, "answers.json")) as f:
            want = json.load(f)["cases"]
        bad = 0
        for got, exp in zip(result, want):
            for g, e in zip(got["answers"], exp["answers"]):
                if (g["status"], g["reply"]) != (e["status"], e["reply"]):
                    bad += 1
                    print(f"{got['group']} {e['method']} {e['path']} {e['kind']} {e['body']}\n  seldon:  {e['status']} {e['reply']!r}\n  oxserve: {g['status']} {g['reply']!r}")
            if got["metrics"] != exp["metrics"]:
                bad += 1
                print(f"{got['group']} metrics differ:\n--- seldon\n{exp['metrics']}\n--- oxserve\n{got['metrics']}")
        print(f"{bad} differences")
