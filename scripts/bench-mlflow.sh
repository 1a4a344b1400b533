#!/usr/bin/env bash
# MLflow benchmark: mlflow-server against `mlflow models serve --env-manager local` (which skips the conda/venv
# build) on the same MLflow model folder, in the same run. Loopback only.
#   scripts/bench-mlflow.sh [runs] [model_dir]     defaults: 5 runs, crates/mlflow/fixtures/cases/sklearn_default
#       (a LogisticRegression on iris, MLflow 3's default skops format, with its signature)
# Prints, for each server: exec-to-ready (median of `runs` starts, until GET /ping answers 200) and requests/s of
# POST /invocations with a 1-row `dataframe_split` body (wrk, 1 thread, 8 connections, 10 s).
# Env: OXSERVE_BENCH_PROFILE=release (default) | debug — the cargo profile of mlflow-server;
#      MLFLOW_PYTHON — the python with mlflow (default: the fixtures' venv, crates/mlflow/fixtures/venv.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${1:-5}
model=${2:-$repo/crates/mlflow/fixtures/cases/sklearn_default}
profile=${OXSERVE_BENCH_PROFILE:-release}
py=${MLFLOW_PYTHON:-$(crates/mlflow/fixtures/venv.sh)}
command -v wrk >/dev/null || { echo "wrk missing: scripts/bench-tools.sh" >&2; exit 1; }
if [ "$profile" = release ]; then cargo build --release -q -p oxserve-mlflow-server; else cargo build -q -p oxserve-mlflow-server; fi
bin=target/$profile/mlflow-server
port=9311
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One row of the model's input example, as mlflow's own helper writes it.
"$py" - "$model" >"$tmp/body.json" <<'PY'
import json, sys
from mlflow.models import convert_input_example_to_serving_input
import pandas as pd
ex = json.load(open(sys.argv[1] + "/input_example.json"))
df = pd.DataFrame(ex["data"][:1], columns=ex["columns"])
print(convert_input_example_to_serving_input(df))
PY
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json"); wrk.body = f:read("*a"); f:close()
LUA

wait_ready() {  # pid → ms from $start until /ping answers
  for _ in $(seq 60000); do
    if curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1; then break; fi
    kill -0 "$1" 2>/dev/null || { echo "server died" >&2; return 1; }
    sleep 0.001
  done
  echo $(( ($(date +%s%N) - start) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
start_oxserve() {
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$port PREDICTIVE_UNIT_GRPC_SERVICE_PORT=$((port + 1)) \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=$((port + 2)) OXSERVE_HOST=127.0.0.1 RUST_LOG=warn \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$model"'","type":"STRING"}]' setsid "$bin" 2>/dev/null &
}
start_mlflow() {
  PATH="$(dirname "$py"):$PATH" MLFLOW_TRACKING_URI="file://$tmp/runs" setsid "$(dirname "$py")/mlflow" models serve -m "$model" --env-manager local \
    -h 127.0.0.1 -p "$port" >/dev/null 2>&1 &
}
# Each server runs in its own process group (setsid): the group goes, uvicorn's workers with it.
stop() { kill -- "-$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; sleep 0.5; }

for server in oxserve mlflow; do
  : >"$tmp/ready"
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "start_$server"
    pid=$!
    wait_ready "$pid" >>"$tmp/ready"
    stop "$pid"
  done
  start=$(date +%s%N)
  "start_$server"
  pid=$!
  wait_ready "$pid" >/dev/null
  answer=$(curl -s -H 'Content-Type: application/json' --data @"$tmp/body.json" "http://127.0.0.1:$port/invocations")
  rps=$(wrk -t1 -c8 -d10s -s "$tmp/post.lua" "http://127.0.0.1:$port/invocations" | awk '/Requests\/sec/ {print $2}')
  stop "$pid"
  label=$([ "$server" = oxserve ] && echo "mlflow-server ($profile)" || echo "mlflow models serve --env-manager local")
  echo "$label: exec-to-ready median $(median <"$tmp/ready") ms over $runs runs; /invocations 1-row dataframe_split: $rps req/s; answer $answer"
done
