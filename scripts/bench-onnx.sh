#!/usr/bin/env bash
# onnx-server's overhead over calling ONNX Runtime directly: Python's InferenceSession.run in a loop against the
# server's throughput under wrk (V2 REST, binary tensor extension and plain JSON), same model, same batch, one
# intra-op thread each, the model side pinned to CPU 0 (server: one tokio worker too) and wrk to CPU 1.
# Models: the committed conv fixture (crates/onnx/fixtures/keras-conv) and a generated float32 MLP
# 256-1024-1024-10. Prints calls/s and the overhead in %. Needs `wrk` (apt-get install wrk) and
# scripts/fetch-onnxruntime.sh's library; Python peers (onnxruntime==1.31.1) go into .venv-onnx-bench.
# Usage: scripts/bench-onnx.sh [seconds-per-point] [batch] [rounds]   (best of the rounds is reported)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
secs=${1:-10}
batch=${2:-64}
rounds=${3:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
lib=$(scripts/fetch-onnxruntime.sh)
venv="$repo/.venv-onnx-bench"
if [ ! -f "$venv/.oxserve-onnx-bench-1" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "onnxruntime==1.31.1" "onnx==1.23.2" "numpy==2.4.6" >&2
  touch "$venv/.oxserve-onnx-bench-1"
fi
py="$venv/bin/python"
cargo build --release -q -p oxserve-onnx-server --bin onnx-server
bin=${CARGO_TARGET_DIR:-target}/release/onnx-server
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$py" scripts/bench-onnx.py make-mlp "$work/mlp"
mkdir -p "$work/conv" && cp crates/onnx/fixtures/keras-conv/model.onnx "$work/conv/"

rps() { awk '/Requests\/sec/ {print $2}'; }
for model in conv mlp; do
  "$py" scripts/bench-onnx.py bodies "$work/$model/model.onnx" "$batch" "$work/$model"
  hlen=$(cat "$work/$model/binary.hlen")
  cat > "$work/$model/binary.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "$hlen"
local f = io.open("$work/$model/binary.body", "rb"); wrk.body = f:read("*all"); f:close()
LUA
  cat > "$work/$model/json.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/$model/json.body", "rb"); wrk.body = f:read("*all"); f:close()
LUA
  TOKIO_WORKER_THREADS=1 taskset -c 0 env ORT_DYLIB_PATH="$lib" PREDICTIVE_UNIT_ID=bench OXSERVE_HOST=127.0.0.1 \
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9201 PREDICTIVE_UNIT_GRPC_SERVICE_PORT=9202 \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=9203 \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$work/$model"'","type":"STRING"},{"name":"intra_op_threads","value":"1","type":"INT"}]' \
    "$bin" 2>"$work/server.log" &
  server=$!
  for _ in $(seq 50); do curl -sf localhost:9201/v2/health/ready >/dev/null 2>&1 && break; sleep 0.1; done
  url=http://127.0.0.1:9201/v2/models/bench/infer
  taskset -c 1 wrk -t1 -c1 -d2s -s "$work/$model/binary.lua" "$url" >/dev/null # warm-up
  # Rounds alternate Python and the server so that a busy machine hurts both alike; the best of each is kept.
  declare -A best=()
  for _ in $(seq "$rounds"); do
    got=$(taskset -c 0 "$py" scripts/bench-onnx.py python "$work/$model/model.onnx" "$batch" "$secs")
    best[python]=$(awk -v a="${best[python]:-0}" -v b="$got" 'BEGIN { print (b > a ? b : a) }')
    for point in "binary 1" "binary 4" "json 1"; do
      set -- $point
      got=$(taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" -s "$work/$model/$1.lua" "$url" | rps)
      best[$1$2]=$(awk -v a="${best[$1$2]:-0}" -v b="$got" 'BEGIN { print (b > a ? b : a) }')
    done
  done
  printf '%-5s batch %-4s python InferenceSession.run          %10.1f calls/s  %8.1f us/call\n' "$model" "$batch" \
    "${best[python]}" "$(awk -v p="${best[python]}" 'BEGIN { print 1e6 / p }')"
  for point in "binary 1" "binary 4" "json 1"; do
    set -- $point
    got=${best[$1$2]}
    over=$(awk -v p="${best[python]}" -v s="$got" 'BEGIN { printf "%+.1f", (p / s - 1) * 100 }')
    printf '%-5s batch %-4s onnx-server V2 REST %-6s c=%s       %10.1f req/s    %8.1f us/req   overhead %s%%\n' \
      "$model" "$batch" "$1" "$2" "$got" "$(awk -v s="$got" 'BEGIN { print 1e6 / s }')" "$over"
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=
done
