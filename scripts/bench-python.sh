#!/usr/bin/env bash
# oxserve-microservice against Seldon's seldon-core-microservice serving the same user class (the quickstart's
# iris Model.py: scikit-learn's predict_proba inside), in the same run, as scripts/bench-http.sh measures:
# wrk pinned to CPU 1, REST requests/s and p50 / p99 at 1, 8 and 64 connections of
# POST /api/v1.0/predictions {"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}, then exec-to-ready (spawn → the first
# 200 from /health/ping) and idle RSS (the whole process tree after start-up).
#
#   oxserve       oxserve-microservice, pinned to CPU 0, one Python thread
#   seldon-1      seldon-core-microservice --workers 1 (gunicorn, one sync worker), pinned to CPU 0
#   seldon-N      seldon-core-microservice --workers $(nproc), not pinned (every core)
#
# Usage: scripts/bench-python.sh [seconds-per-point]. Needs wrk (scripts/bench-tools.sh) and the venv of
# servers/python/venv.sh (built here if missing; OXSERVE_PYWRAP_VENV=<venv> uses another with seldon-core and
# scikit-learn). BENCH_BIN=<dir> uses the oxserve-microservice in <dir>.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/bench-tools.sh)" >&2; exit 1; }
venv=${OXSERVE_PYWRAP_VENV:-$(servers/python/venv.sh | tail -1)}
if [ -n "${BENCH_BIN:-}" ]; then bin=$(cd "$BENCH_BIN" && pwd); else
  cargo build --release -q -p oxserve-python-server
  bin=$repo/target/release
fi
work=$(mktemp -d)
trap 'for p in $(jobs -p); do kill -KILL -- "-$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
printf '{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}' >"$work/seldon.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/seldon.json", "rb")); wrk.body = f:read("*a"); f:close()
LUA
export PREDICTIVE_UNIT_ID=classifier PREDICTIVE_UNIT_IMAGE=me/iris:0.1
cd servers/python/tests/iris

us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /[^mu]s$/) n *= 1e6; printf "%.0fus", n }'; }
now_ms() { date +%s%3N; }
tree_rss_kb() { # pid: VmRSS of the pid and all its descendants
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null) $(for c in $(pgrep -P "$1" 2>/dev/null); do pgrep -P "$c"; done); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
start() { # name port metrics-port command...
  local name=$1 port=$2 t0; shift 3
  t0=$(now_ms)
  setsid "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/health/ping" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
    sleep 0.01
  done
  ready_ms=$(($(now_ms) - t0))
  sleep 2
  rss_mb=$(($(tree_rss_kb "$pid") / 1024))
}
measure() { # name port
  local c out
  for c in 1 8 64; do
    out=$(taskset -c 1 wrk -t1 -c"$c" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$2/api/v1.0/predictions")
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx replies from $1" >&2; fi
    printf '%-10s %5s %10s %10s %10s\n' "$1" "$c" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
      "$(us "$(awk '$1=="50%" {print $2}' <<<"$out")")" "$(us "$(awk '$1=="99%" {print $2}' <<<"$out")")"
  done
}
# The whole process group (gunicorn's master, workers, the gRPC and metrics processes), then no waiting on it.
stop() { kill -TERM -- "-$pid" 2>/dev/null || true; sleep 1; kill -KILL -- "-$pid" 2>/dev/null || true; }

printf '%-10s %5s %10s %10s %10s\n' server conns req/s p50 p99
summary=()
start oxserve 9201 9202 env VIRTUAL_ENV="$venv" OXSERVE_HOST=127.0.0.1 taskset -c 0 \
  "$bin/oxserve-microservice" Model --http-port 9201 --metrics-port 9202 --grpc-port 9203
summary+=("oxserve    exec-to-ready ${ready_ms} ms, idle RSS ${rss_mb} MB")
measure oxserve 9201; stop
start seldon-1 9211 9212 taskset -c 0 "$venv/bin/seldon-core-microservice" Model --workers 1 \
  --http-port 9211 --metrics-port 9212 --grpc-port 9213
summary+=("seldon-1   exec-to-ready ${ready_ms} ms, idle RSS ${rss_mb} MB (gunicorn + gRPC + metrics processes)")
measure seldon-1 9211; stop
n=$(nproc)
start seldon-N 9221 9222 "$venv/bin/seldon-core-microservice" Model --workers "$n" \
  --http-port 9221 --metrics-port 9222 --grpc-port 9223
summary+=("seldon-N   exec-to-ready ${ready_ms} ms, idle RSS ${rss_mb} MB ($n workers)")
measure seldon-N 9221; stop
printf '%s\n' "${summary[@]}"
