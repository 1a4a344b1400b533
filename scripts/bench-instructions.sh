#!/usr/bin/env bash
# Instructions per request of the request path, counted by valgrind's callgrind: a figure that other load on the
# machine does not move (requests/s and even CPU time per request swing 2x on a shared 2-core machine), and a
# profile per protocol to read with callgrind_annotate (inclusive costs, callers).
#
# For each build (sklearn-server on the seed's iris model, one tokio worker) and each row, the script sends 200
# requests to warm up, zeroes the counters, sends N requests (h2load: 8 connections, one request in flight
# each; HTTP/1.1 for REST, h2c for gRPC), dumps the counters and prints the server's instructions per request
# (the same binary varies by up to ~5% between runs: scheduling, timers and allocator state differ; compare
# builds in one run and read smaller differences as noise):
#
#   floor        POST / on bare-axum (oxserve-tests' fixed-reply server), HTTP/1.1
#   floor-grpc   the same server over h2c, sent the Seldon gRPC request (no gRPC framing read, no trailers)
#   seldon-rest  POST /api/v1.0/predictions {"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}
#   v2-rest      POST /v2/models/classifier/infer, the same row as V2 JSON
#   v2-binary    the same as the V2 binary tensor extension
#   seldon-grpc  /seldon.protos.Model/Predict
#   v2-grpc      /inference.GRPCInferenceService/ModelInfer (fp64_contents)
#   tfserving-rest  POST /v1/models/iris:predict {"instances":[[5.1,3.5,1.4,0.2]]} on onnx-server (TF Serving's
#                flags) with the ONNX iris pipeline fixture (crates/onnx/fixtures/sklearn-pipeline: three FP32
#                probabilities and a label back, printed as TF Serving prints them); only with BENCH_ONNX=1,
#                which also builds onnx-server and fetches ONNX Runtime (scripts/fetch-onnxruntime.sh)
#
# Usage: scripts/bench-instructions.sh [N]   (default 2000; loopback only)
# BENCH_BIN=<dir>[:<dir>...] takes `sklearn-server` and `bare-axum` from each <dir> (default: builds them into
# target/release); BENCH_ONLY=<regex> keeps the rows whose name matches; BENCH_OUT=<dir> keeps the callgrind
# files (<row>-<build>.callgrind) there. Needs valgrind and h2load (scripts/bench-tools.sh installs h2load).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
n=${1:-2000}
only=${BENCH_ONLY:-.}
for tool in valgrind callgrind_control callgrind_annotate h2load curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
listed=$(scripts/bench-builds.sh)
rows="floor floor-grpc seldon-rest v2-rest v2-binary seldon-grpc v2-grpc"
if [ "${BENCH_ONNX:-0}" = 1 ]; then
  rows="$rows tfserving-rest"
  export ORT_DYLIB_PATH; ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
fi
mapfile -t builds <<<"$listed"
work=$(mktemp -d)
out=${BENCH_OUT:-$work}
mkdir -p "$out"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The request bodies (the seed's iris row in every protocol): scripts/bench-bodies.sh.
header_len=$(scripts/bench-bodies.sh "$work")
mkdir -p "$work/tfm/iris/1"
cp crates/onnx/fixtures/sklearn-pipeline/model.onnx "$work/tfm/iris/1/"

port=9341
rest() { # requests path body content-type [header]
  h2load --h1 -n "$1" -c $(($1 < 8 ? $1 : 8)) -d "$3" -H "content-type: $4" ${5:+-H "$5"} "http://127.0.0.1:$port$2"
}
grpc() { # requests path body [port]
  h2load -n "$1" -c $(($1 < 8 ? $1 : 8)) -m 1 -d "$3" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:${4:-$((port + 1))}$2"
}
load() { # row requests
  case $1 in
    floor) rest "$2" / "$work/seldon.json" application/json ;;
    floor-grpc) grpc "$2" / "$work/seldon.grpc" "$port" ;;
    seldon-rest) rest "$2" /api/v1.0/predictions "$work/seldon.json" application/json ;;
    v2-rest) rest "$2" /v2/models/classifier/infer "$work/v2.json" application/json ;;
    v2-binary) rest "$2" /v2/models/classifier/infer "$work/v2.bin" application/octet-stream \
      "inference-header-content-length: $header_len" ;;
    seldon-grpc) grpc "$2" /seldon.protos.Model/Predict "$work/seldon.grpc" ;;
    v2-grpc) grpc "$2" /inference.GRPCInferenceService/ModelInfer "$work/v2.grpc" ;;
    tfserving-rest) rest "$2" /v1/models/iris:predict "$work/tf.json" application/json ;;
  esac
}
# Starts build $1's server for a row under callgrind; sets vpid.
start() { # build row
  local bin
  bin=$(cd "$1" && pwd)
  if [[ $2 == floor* ]]; then
    TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
      "$bin/bare-axum" "$port" 2>"$work/valgrind.log" &
  elif [[ $2 == tfserving* ]]; then
    # One ONNX Runtime thread, so that its pool's spinning is not counted as work.
    TOKIO_WORKER_THREADS=1 OXSERVE_HOST=127.0.0.1 \
      PREDICTIVE_UNIT_PARAMETERS='[{"name":"intra_op_threads","value":"1","type":"INT"}]' \
      valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$bin/onnx-server" --model_name iris \
      --model_base_path "$work/tfm/iris" --rest_api_port "$port" --port $((port + 1)) 2>"$work/valgrind.log" &
  else
    TOKIO_WORKER_THREADS=1 PREDICTIVE_UNIT_ID=classifier OXSERVE_HOST=127.0.0.1 \
      PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$port PREDICTIVE_UNIT_GRPC_SERVICE_PORT=$((port + 1)) \
      PREDICTIVE_UNIT_METRICS_SERVICE_PORT=$((port + 2)) \
      PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$repo"'/examples/iris","type":"STRING"}]' \
      valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$bin/sklearn-server" 2>"$work/valgrind.log" &
  fi
  vpid=$!
  for _ in $(seq 600); do
    if [[ $(load "$2" 1 2>/dev/null) == *"status codes: 1 2xx"* ]]; then return; fi
    sleep 0.1
  done
  echo "build $1 did not answer $2" >&2
  exit 1
}

printf '%-12s %-6s %10s %14s\n' row build requests instr/req
for row in $rows; do
  [[ $row =~ $only ]] || continue
  for i in "${!builds[@]}"; do
    start "${builds[$i]}" "$row"
    load "$row" 200 >/dev/null
    callgrind_control -z "$vpid" >/dev/null
    ok=$(load "$row" "$n" | awk '/^status codes:/ {print $3}')
    callgrind_control -d "$row" "$vpid" >/dev/null
    dump=$(ls "$work"/cg."$vpid".* | head -1)
    mv "$dump" "$out/$row-$i.callgrind"
    kill "$vpid"; wait "$vpid" 2>/dev/null || true
    ir=$(callgrind_annotate "$out/$row-$i.callgrind" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    [ "$ok" = "$n" ] || echo "$row, build $i: $ok of $n requests answered 2xx" >&2
    printf '%-12s %-6s %10s %14s\n' "$row" "$i" "$n" "$((ir / n))"
  done
done
