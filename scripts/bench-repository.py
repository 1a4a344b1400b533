#!/usr/bin/env python3
"""The V2 model repository's figures (issue #17 item 7): `oxserve` binaries and MLServer on the same models, in
one run, through the same repository REST calls (standard library only; not part of CI).

Two models folders, written per server start, each model a `model-settings.json` with
`mlserver_sklearn.SKLearnModel` beside its `model.joblib`:
- `two/`: the seed's iris (`examples/iris/model.joblib`) and a 150-tree random forest
  (`servers/oxserve/fixtures/bench/forest-150.joblib`, generated here from gen_bench.py when missing):
  iris load time (20 load/unload calls, HTTP round trip included) and RSS growth with it loaded; the forest's load
  time and RSS before loading it, loaded, 0.2 s after unloading it and after 12 s idle (an allocator that returns
  memory on a timer shows only in the second), then a second load+unload.
- `many/`: N iris copies (default 1,000) loaded one after the other: total RSS, RSS per model, load rate. A
  separate folder so that the per-model figures above are not those of a 1,000-model folder (MLServer reads every
  model-settings.json of its folder on each load call).
Memory is the server's whole process tree (MLServer forks inference workers): VmRSS summed, and PSS summed (shared
pages split between the processes, so forked workers' shared pages count once). Targets (#17): iris load <= 5 ms,
N = 1,000 iris in <= 100 MB RSS, RSS after unloading the forest within 20% of before loading it.

Usage: scripts/bench-repository.py [--env 'NAME=VALUE ...']... [--no-mlserver] [--mlserver-budget S] \
           [path/to/oxserve...] [N_IRIS]
Each binary runs once as it is and once more per `--env` set (e.g. --env MIMALLOC_PURGE_DELAY=0), all in one run
so that their figures compare on a busy machine. MLServer (scripts/mlserver-venv.sh: a pinned venv, created once)
runs last with its defaults (one parallel inference worker) unless --no-mlserver; its N-model loop stops after
--mlserver-budget seconds (default 900) and says how far it got.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IRIS = os.path.join(ROOT, "examples", "iris", "model.joblib")
FOREST = os.path.join(ROOT, "servers", "oxserve", "fixtures", "bench", "forest-150.joblib")
IMPLEMENTATION = "mlserver_sklearn.SKLearnModel"


def write_model(models, name, source):
    folder = os.path.join(models, name)
    os.makedirs(folder, exist_ok=True)
    shutil.copy(source, os.path.join(folder, "model.joblib"))
    with open(os.path.join(folder, "model-settings.json"), "w") as f:
        json.dump({"name": name, "implementation": IMPLEMENTATION,
                   "parameters": {"uri": "./model.joblib", "version": "1"}}, f)


def tree_pids(root):
    """`root` and every process below it (MLServer's inference workers and their helpers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def field_kib(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Mem:
    """The process tree's memory in KiB: RSS summed and PSS summed."""

    def __init__(self, root):
        pids = tree_pids(root)
        self.procs = len(pids)
        self.rss = sum(field_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
        self.pss = sum(field_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)

    def __str__(self):
        return f"RSS {self.rss / 1024:.1f} MiB / PSS {self.pss / 1024:.1f} MiB ({self.procs} proc)"


def pct(after, before):
    return f"{100 * (after - before) / before:+.0f}%"


def post(port, path, body=b"{}"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"POST {path}: {e.code} {e.read()[:2000]!r}") from None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc, port, limit_s):
    t = time.perf_counter()
    while time.perf_counter() - t < limit_s:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5) as r:
                if r.status == 200:
                    return time.perf_counter() - t
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"server not ready after {limit_s} s")


def start_oxserve(binary, models, env_extra):
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "OXSERVE_HOST": "127.0.0.1",
           "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(port), "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "0",
           "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": "0", "MLSERVER_LOAD_MODELS_AT_STARTUP": "false",
           "RUST_LOG": "warn"}
    env.update(env_extra)
    proc = subprocess.Popen([binary, "start", models], env=env, start_new_session=True)
    return proc, port


def start_mlserver(mlserver, models, env_extra):
    port = free_port()
    env = dict(os.environ)
    env.update({"MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": str(port),
                "MLSERVER_GRPC_PORT": str(free_port()), "MLSERVER_METRICS_PORT": str(free_port()),
                "MLSERVER_LOAD_MODELS_AT_STARTUP": "false"})
    env.update(env_extra)
    log = open(os.path.join(models, "..", "mlserver.log"), "w")
    proc = subprocess.Popen([mlserver, "start", models], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port


def stop(proc):
    """SIGTERM to the server's session (each server starts in its own, so MLServer's workers go with it)."""
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def timed(port, path):
    t = time.perf_counter()
    post(port, path)
    return (time.perf_counter() - t) * 1000


def load(port, name):
    return timed(port, f"/v2/repository/models/{name}/load")


def unload(port, name):
    return timed(port, f"/v2/repository/models/{name}/unload")


def loadavg():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_two(label, starter, tmp):
    """Iris and the forest, one folder of two models."""
    models = os.path.join(tmp, "two")
    write_model(models, "iris", IRIS)
    write_model(models, "forest", FOREST)
    proc, port = starter(models)
    try:
        ready_s = wait_ready(proc, port, 180)
        time.sleep(1)
        idle = Mem(proc.pid)
        print(f"[{label}] ready in {ready_s:.2f} s (2-model folder); idle {idle}; {loadavg()}", flush=True)
        first_ms = load(port, "iris")  # MLServer starts its worker's imports here
        unload(port, "iris")
        times = []
        for _ in range(20):
            times.append(load(port, "iris"))
            unload(port, "iris")
        before_one = Mem(proc.pid)
        load(port, "iris")
        one = Mem(proc.pid)
        unload(port, "iris")
        times.sort()
        print(f"[{label}] iris load: first {first_ms:.1f} ms, then median {times[10]:.2f} ms, min {times[0]:.2f}, "
              f"max {times[-1]:.2f} (20 calls, HTTP round trip included); loaded: RSS +{one.rss - before_one.rss} KiB, "
              f"PSS +{one.pss - before_one.pss} KiB", flush=True)
        time.sleep(1)
        before = Mem(proc.pid)
        forest_ms = load(port, "forest")
        loaded = Mem(proc.pid)
        unload_ms = unload(port, "forest")
        time.sleep(0.2)
        after = Mem(proc.pid)
        time.sleep(12)
        after_idle = Mem(proc.pid)
        forest2_ms = load(port, "forest")
        loaded2 = Mem(proc.pid)
        unload(port, "forest")
        time.sleep(0.2)
        after2 = Mem(proc.pid)
        print(f"[{label}] forest-150 load {forest_ms:.1f} ms (second {forest2_ms:.1f} ms), unload {unload_ms:.1f} ms",
              flush=True)
        print(f"[{label}]   before load: {before}", flush=True)
        print(f"[{label}]   loaded:      {loaded}  (second load: {loaded2})", flush=True)
        print(f"[{label}]   unloaded:    {after}  0.2 s after ({pct(after.rss, before.rss)} RSS, "
              f"{pct(after.pss, before.pss)} PSS vs before)", flush=True)
        print(f"[{label}]   idle 12 s:   {after_idle}  ({pct(after_idle.rss, before.rss)} RSS, "
              f"{pct(after_idle.pss, before.pss)} PSS)", flush=True)
        print(f"[{label}]   second load+unload: {after2}  ({pct(after2.rss, before.rss)} RSS)", flush=True)
    finally:
        stop(proc)


def bench_many(label, starter, tmp, n_iris, budget_s):
    """N iris copies loaded one after the other, in a folder of N models."""
    models = os.path.join(tmp, "many")
    for i in range(n_iris):
        write_model(models, f"iris-{i}", IRIS)
    proc, port = starter(models)
    try:
        ready_s = wait_ready(proc, port, 300)
        time.sleep(1)
        before = Mem(proc.pid)
        print(f"[{label}] ready in {ready_s:.2f} s ({n_iris}-model folder); idle {before}; {loadavg()}",
              flush=True)
        t = time.perf_counter()
        load(port, "iris-0")
        first_s = time.perf_counter() - t
        time.sleep(1)
        first = Mem(proc.pid)
        print(f"[{label}]   1 loaded after {first_s:.1f} s: {first}", flush=True)
        loaded = 1
        for i in range(1, n_iris):
            load(port, f"iris-{i}")
            loaded += 1
            if loaded in (10, 100, 250, 500, 750):
                print(f"[{label}]   {loaded} loaded after {time.perf_counter() - t:.1f} s: {Mem(proc.pid)}",
                      flush=True)
            if time.perf_counter() - t > budget_s:
                break
        all_s = time.perf_counter() - t
        time.sleep(1)
        after = Mem(proc.pid)
        stopped = "" if loaded == n_iris else f" (stopped after {budget_s:.0f} s: {loaded} of {n_iris})"
        rest = max(loaded - 1, 1)
        print(f"[{label}] {loaded} iris loaded at once in {all_s:.1f} s ({1000 * (all_s - first_s) / rest:.1f} ms "
              f"each after the first){stopped}: {after} total, +{(after.rss - before.rss) / 1024:.1f} MiB RSS over "
              f"idle; after the first model {(after.rss - first.rss) / rest:.1f} KiB RSS / "
              f"{(after.pss - first.pss) / rest:.1f} KiB PSS per model; {loadavg()}", flush=True)
    finally:
        stop(proc)


def run(label, starter, n_iris, budget_s):
    tmp = tempfile.mkdtemp(prefix="oxserve-bench-repo-")
    try:
        bench_two(label, starter, tmp)
        bench_many(label, starter, tmp, n_iris, budget_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_forest():
    if os.path.exists(FOREST):
        return
    py = subprocess.check_output([os.path.join(ROOT, "scripts", "fixtures-venv.sh")], text=True).strip()
    subprocess.check_call([py, os.path.join(ROOT, "servers", "oxserve", "fixtures", "gen_bench.py")])


def main():
    args = sys.argv[1:]
    envs, binaries, n_iris, mlserver, budget_s = [{}], [], 1000, True, 900.0
    while args:
        arg = args.pop(0)
        if arg == "--env":
            envs.append(dict(kv.split("=", 1) for kv in args.pop(0).split()))
        elif arg == "--no-mlserver":
            mlserver = False
        elif arg == "--mlserver-budget":
            budget_s = float(args.pop(0))
        elif arg.isdigit():
            n_iris = int(arg)
        else:
            binaries.append(os.path.abspath(arg))
    if not binaries and not mlserver:
        raise SystemExit(__doc__)
    ensure_forest()
    print(f"{os.cpu_count()} CPUs; {loadavg()}", flush=True)
    for binary in binaries:
        for env in envs:
            label = " ".join([os.path.relpath(binary, ROOT)] + [f"{k}={v}" for k, v in env.items()])
            run(label, lambda models, b=binary, e=env: start_oxserve(b, models, e), n_iris, float("inf"))
    if mlserver:
        exe = subprocess.check_output([os.path.join(ROOT, "scripts", "mlserver-venv.sh")], text=True).strip()
        version = subprocess.check_output([exe, "--version"], text=True).strip()
        run(version, lambda models: start_mlserver(exe, models, {}), n_iris, budget_s)


if __name__ == "__main__":
    main()
