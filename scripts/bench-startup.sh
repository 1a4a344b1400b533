#!/usr/bin/env bash
# Start-up benchmark: exec-to-ready time (until /health/ping answers on the HTTP port) and idle RSS of a release
# server over N runs (default 10). Loopback only.
#   scripts/bench-startup.sh [runs]                      sklearn-server on the bundled iris model
#   scripts/bench-startup.sh [runs] SERVER MODEL_URI     e.g. lightgbm-server
#       crates/lightgbm/fixtures/bench/regression-1000.txt (the 1,000-tree model gen_bench.py writes), or
#       xgboost-server crates/xgboost/fixtures/bench/multi-500x31.json
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${1:-10}
server=${2:-sklearn-server}
model=${3:-$repo/examples/iris}
case "$model" in /*) ;; *) model="$repo/$model" ;; esac
cargo build --release -q -p "oxserve-${server%-server}-server" --bin "$server"
bin=target/release/$server
port=9301
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$port PREDICTIVE_UNIT_GRPC_SERVICE_PORT=$((port + 1)) \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=$((port + 2)) OXSERVE_HOST=127.0.0.1 \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$model"'","type":"STRING"}]' \
    "$bin" 2>/dev/null &
  pid=$!
  for _ in $(seq 2000); do
    if curl -sf "http://127.0.0.1:$port/health/ping" >/dev/null 2>&1; then break; fi
    sleep 0.001
  done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf 'run %2d: exec-to-ready %4d ms, idle RSS %6d kB\n' "$i" "$ready" "$rss"
done
