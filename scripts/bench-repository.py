#!/usr/bin/env python3
"""The V2 model repository's figures against a running `oxserve` binary (standard library only):

- load time and RSS growth per model: the seed's iris (`examples/iris/model.joblib`) and a 150-tree random forest
  (`servers/oxserve/fixtures/bench/forest-150.joblib`, from that folder's gen_bench.py);
- 1,000 iris-sized models loaded at once: the server's total RSS;
- RSS after unloading the forest against before loading it, 0.2 s after the unload and after 12 s idle (an
  allocator that returns memory on a timer, jemalloc's decay, shows only in the second).

Usage: scripts/bench-repository.py [--env 'NAME=VALUE ...']... path/to/oxserve... [N_IRIS=1000]
Each binary (e.g. one per allocator: scripts/bench-startup.sh's ALLOC builds them) runs once as it is and once
more per `--env` set (e.g. --env MALLOC_MMAP_THRESHOLD_=131072, --env MIMALLOC_PURGE_DELAY=0), all in one run
so their figures compare on a busy machine.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IRIS = os.path.join(ROOT, "examples", "iris", "model.joblib")
FOREST = os.path.join(ROOT, "servers", "oxserve", "fixtures", "bench", "forest-150.joblib")


def write_model(models, name, source):
    folder = os.path.join(models, name)
    os.makedirs(folder, exist_ok=True)
    shutil.copy(source, os.path.join(folder, "model.joblib"))
    with open(os.path.join(folder, "model-settings.json"), "w") as f:
        json.dump({"name": name, "implementation": "mlserver_sklearn.SKLearnModel",
                   "parameters": {"uri": "./model.joblib", "version": "1"}}, f)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(port, path, body=b"{}"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def start(binary, models, env_extra):
    ports_file = os.path.join(models, "..", "ports.json")
    if os.path.exists(ports_file):
        os.remove(ports_file)
    env = {"PATH": os.environ.get("PATH", ""), "OXSERVE_HOST": "127.0.0.1", "OXSERVE_PORTS_FILE": ports_file,
           "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "0", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "0",
           "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": "0", "MLSERVER_LOAD_MODELS_AT_STARTUP": "false",
           "RUST_LOG": "warn"}
    env.update(env_extra)
    proc = subprocess.Popen([binary, "start", models], env=env)
    for _ in range(600):
        if os.path.exists(ports_file):
            try:
                with open(ports_file) as f:
                    return proc, json.load(f)["http"]
            except ValueError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def timed_load(port, name):
    t = time.perf_counter()
    post(port, f"/v2/repository/models/{name}/load")
    return (time.perf_counter() - t) * 1000


def run(binary, n_iris, env_extra, label):
    tmp = tempfile.mkdtemp(prefix="oxserve-bench-repo-")
    models = os.path.join(tmp, "models")
    for i in range(n_iris):
        write_model(models, f"iris-{i}", IRIS)
    write_model(models, "forest", FOREST)
    proc, port = start(binary, models, env_extra)
    try:
        base = rss_kib(proc.pid)
        # iris: load/unload 20 times for the time, then RSS with one loaded.
        times = []
        for _ in range(20):
            times.append(timed_load(port, "iris-0"))
            post(port, "/v2/repository/models/iris-0/unload")
        before_one = rss_kib(proc.pid)
        timed_load(port, "iris-0")
        one = rss_kib(proc.pid) - before_one
        post(port, "/v2/repository/models/iris-0/unload")
        # forest
        before_forest = rss_kib(proc.pid)
        forest_ms = timed_load(port, "forest")
        with_forest = rss_kib(proc.pid)
        post(port, "/v2/repository/models/forest/unload")
        time.sleep(0.2)
        after_forest = rss_kib(proc.pid)
        time.sleep(12)
        after_idle = rss_kib(proc.pid)
        # forest again (glibc's dynamic mmap threshold shows on the second load)
        timed_load(port, "forest")
        post(port, "/v2/repository/models/forest/unload")
        time.sleep(0.2)
        after_second = rss_kib(proc.pid)
        # n iris at once
        before_all = rss_kib(proc.pid)
        t = time.perf_counter()
        for i in range(n_iris):
            post(port, f"/v2/repository/models/iris-{i}/load")
        all_s = time.perf_counter() - t
        with_all = rss_kib(proc.pid)
        times.sort()
        print(f"[{label}] idle server RSS {base / 1024:.1f} MiB")
        print(f"[{label}] iris load: median {times[len(times) // 2]:.2f} ms (HTTP round trip included), "
              f"RSS +{one} KiB")
        print(f"[{label}] forest-150 load: {forest_ms:.1f} ms, RSS {before_forest / 1024:.1f} -> "
              f"{with_forest / 1024:.1f} MiB loaded -> {after_forest / 1024:.1f} MiB unloaded, "
              f"{after_idle / 1024:.1f} MiB 12 s later ({100 * (after_idle - before_forest) / before_forest:+.0f}%; "
              f"second load+unload: {after_second / 1024:.1f} MiB)")
        print(f"[{label}] {n_iris} iris loaded at once in {all_s:.2f} s: RSS {with_all / 1024:.1f} MiB total "
              f"(+{(with_all - before_all) / 1024:.1f} MiB, {(with_all - before_all) / max(n_iris, 1):.1f} KiB "
              f"per model)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = sys.argv[1:]
    envs, binaries, n_iris = [{}], [], 1000
    while args:
        arg = args.pop(0)
        if arg == "--env":
            envs.append(dict(kv.split("=", 1) for kv in args.pop(0).split()))
        elif arg.isdigit():
            n_iris = int(arg)
        else:
            binaries.append(arg)
    if not binaries:
        raise SystemExit(__doc__)
    if not os.path.exists(FOREST):
        raise SystemExit(f"{FOREST} is missing: run servers/oxserve/fixtures/gen_bench.py")
    for binary in binaries:
        for env in envs:
            label = " ".join([binary] + [f"{k}={v}" for k, v in env.items()])
            run(binary, n_iris, env, label)


if __name__ == "__main__":
    main()
