#!/usr/bin/env bash
# REST load benchmark: sklearn-server (the seed's iris model, Seldon v1 and V2) against a bare axum server with a
# fixed reply, each pinned to CPU 0 with its tokio runtime on one worker, the load generator (wrk) pinned to CPU 1,
# in the same run. Prints requests/s and latency per connection count. Needs `wrk` (Debian: apt-get install wrk).
# Usage: scripts/bench-http.sh [seconds-per-point]   (loopback only; every run is bounded by wrk's -d)
# BENCH_BIN=<dir> uses the `sklearn-server` and `bare-axum` binaries in <dir> instead of building them (to compare
# two builds, e.g. before/after a change, on the same machine in one sitting).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$(cd "$BENCH_BIN" && pwd)
else
  cargo build --release -q -p oxserve-sklearn-server -p oxserve-tests --bin sklearn-server --bin bare-axum
  bin=target/release
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/seldon.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}'
LUA
cat > "$work/v2.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}'
LUA

TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin/bare-axum" 9100 &
TOKIO_WORKER_THREADS=1 taskset -c 0 env PREDICTIVE_UNIT_ID=classifier OXSERVE_HOST=127.0.0.1 \
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9101 PREDICTIVE_UNIT_GRPC_SERVICE_PORT=9102 \
  PREDICTIVE_UNIT_METRICS_SERVICE_PORT=9103 \
  PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$repo"'/examples/iris","type":"STRING"}]' \
  "$bin/sklearn-server" 2>"$work/server.log" &
sleep 1

point() { # name url script conns
  local out
  out=$(taskset -c 1 wrk -t1 -c"$4" -d"${secs}s" --latency -s "$3" "$2")
  printf '%-22s %4s conns  %10s req/s  p99 %s\n' "$1" "$4" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}
for c in 1 8 64; do
  point "bare axum" http://127.0.0.1:9100/ "$work/seldon.lua" "$c"
  point "sklearn seldon v1" http://127.0.0.1:9101/api/v1.0/predictions "$work/seldon.lua" "$c"
  point "sklearn v2" http://127.0.0.1:9101/v2/models/classifier/infer "$work/v2.lua" "$c"
done
