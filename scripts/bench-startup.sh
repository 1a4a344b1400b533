#!/usr/bin/env bash
# Start-up benchmark: exec-to-ready time (until /health/ping answers on the HTTP port) and idle RSS of a release
# server over N runs (default 10). Loopback only.
#   scripts/bench-startup.sh [runs]                      sklearn-server on the bundled iris model
#   scripts/bench-startup.sh [runs] SERVER MODEL_URI     e.g. lightgbm-server
#       crates/lightgbm/fixtures/bench/regression-1000.txt (the 1,000-tree model gen_bench.py writes), or
#       xgboost-server crates/xgboost/fixtures/bench/multi-500x31.json
# ALLOC=system|jemalloc builds the server with that global allocator instead of the default (crates/alloc's
# measurement features) into target/release/alloc-$ALLOC/ (oxserve too when ALLOC_OXSERVE=1, for
# scripts/bench-repository.py), so the allocators compare: startup, idle RSS and the binary's size.
# BIN=path runs that binary instead of building one; SERVER_ENV='NAME=VALUE ...' is the server's extra env (e.g.
# LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 on an ALLOC=system build: another malloc, no rebuild).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${1:-10}
server=${2:-sklearn-server}
model=${3:-$repo/examples/iris}
case "$model" in /*) ;; *) model="$repo/$model" ;; esac
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  args=(-p "oxserve-${server%-server}-server" --bin "$server")
  [ "${ALLOC_OXSERVE:-0}" = 1 ] && args+=(-p oxserve-server --bin oxserve)
  [ -n "${ALLOC:-}" ] && args+=(--features "oxserve-alloc/$ALLOC")
  cargo build --release -q "${args[@]}"
  bin=target/release/$server
  if [ -n "${ALLOC:-}" ]; then
    mkdir -p "target/release/alloc-$ALLOC"
    cp target/release/"$server" "target/release/alloc-$ALLOC/"
    [ "${ALLOC_OXSERVE:-0}" = 1 ] && cp target/release/oxserve "target/release/alloc-$ALLOC/"
    bin=target/release/alloc-$ALLOC/$server
  fi
fi
echo "$bin: $(stat -c %s "$bin") bytes ($(size "$bin" | awk 'NR == 2 {print $1}') bytes of text)"
port=9301
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$port PREDICTIVE_UNIT_GRPC_SERVICE_PORT=$((port + 1)) \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=$((port + 2)) OXSERVE_HOST=127.0.0.1 \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$model"'","type":"STRING"}]' \
    env ${SERVER_ENV:-} "$bin" 2>/dev/null &
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
