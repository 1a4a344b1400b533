#!/usr/bin/env bash
# Load benchmark of the request path: sklearn-server (the seed's iris model) against a bare axum server with a
# fixed reply (the floor), each pinned to CPU 0 with its tokio runtime on one worker, the load generator pinned
# to CPU 1, in the same run. One table: requests/s, p50 and p99 per protocol at 1, 8 and 64 connections
# (REST, wrk) or streams (gRPC, h2load: 1 connection × 1 stream, 8 × 1, 8 × 8), and the server's CPU time
# per request.
#
#   floor         POST / on bare-axum (HTTP/1.1 for the REST rows, h2c for the gRPC floor row)
#   seldon-rest   POST /api/v1.0/predictions  {"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}
#   v2-rest       POST /v2/models/classifier/infer, the same row as V2 JSON
#   v2-binary     the same, as the V2 binary tensor extension (JSON header + 32 raw bytes)
#   seldon-grpc   /seldon.protos.Model/Predict with the row as an ndarray
#   v2-grpc       /inference.GRPCInferenceService/ModelInfer with the row as fp64_contents
#
# Needs wrk and h2load (Debian: apt-get install wrk nghttp2-client; scripts/bench-tools.sh installs both).
# Usage: scripts/bench-http.sh [seconds-per-point]   (loopback only; every point is bounded by -d / -D)
# BENCH_BIN=<dir>[:<dir>...] uses the `sklearn-server` and `bare-axum` binaries in each <dir> instead of
# building them; with several dirs every point is measured for each build in turn (same run, same load), so
# two builds compare on a busy machine. BENCH_ONLY=<regex> keeps the rows whose name matches; BENCH_CONNS
# the connection counts (default "1 8 64"). BENCH_PROFILE=<dir> also records each sklearn-server row with
# `perf record --call-graph dwarf` while it runs and writes <dir>/<row>-<build>-<conns>.svg (inferno's
# flame graph) and .txt (the hottest functions by self time); BENCH_PROFILE_HZ sets perf's sampling rate
# (default 499; raise it on a busy machine, where the server gets few samples).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
secs=${1:-10}
only=${BENCH_ONLY:-.}
conns=${BENCH_CONNS:-1 8 64}
profile=${BENCH_PROFILE:-}
if [ -n "$profile" ]; then
  mkdir -p "$profile"
  for tool in perf inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/bench-tools.sh)" >&2; exit 1; }
  done
fi
for tool in wrk h2load; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/bench-tools.sh)" >&2; exit 1; }
done
listed=$(scripts/bench-builds.sh)
mapfile -t builds <<<"$listed"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The request bodies (the seed's iris row in every protocol): scripts/bench-bodies.sh.
header_len=$(scripts/bench-bodies.sh "$work")
lua() { # body-file [extra header line]
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "${3:-application/json}"
${2:-}
local f = assert(io.open("$1", "rb")); wrk.body = f:read("*a"); f:close()
LUA
}
lua "$work/seldon.json" >"$work/seldon.lua"
lua "$work/v2.json" >"$work/v2.lua"
lua "$work/v2.bin" "wrk.headers[\"Inference-Header-Content-Length\"] = \"$header_len\"" \
  application/octet-stream >"$work/v2bin.lua"

# Build i listens on 9100+10i (bare axum) and 9101..9104+10i (REST, gRPC, metrics).
for i in "${!builds[@]}"; do
  bin=$(cd "${builds[$i]}" && pwd)
  base=$((9100 + 10 * i))
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin/bare-axum" "$base" &
  floor_pids[$i]=$!
  TOKIO_WORKER_THREADS=1 taskset -c 0 env PREDICTIVE_UNIT_ID=classifier OXSERVE_HOST=127.0.0.1 \
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$((base + 1)) PREDICTIVE_UNIT_GRPC_SERVICE_PORT=$((base + 2)) \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=$((base + 3)) \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"'"$repo"'/examples/iris","type":"STRING"}]' \
    "$bin/sklearn-server" 2>"$work/server-$i.log" &
  pids[$i]=$!
done
sleep 1

# Microseconds from wrk's latency (`88.00us`, `2.56ms`, `1.20s`).
us() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /[^mu]s$/) n *= 1e6; printf "%.0fus", n }'
}
# A process's CPU time so far (user + system, all its threads), in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The server's CPU time per request in microseconds: steadier than requests/s on a shared machine, where the
# server's core is also lent to other work.
per_request() { # ticks-before ticks-after requests
  awk -v t="$(($2 - $1))" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }'
}
# wrk: requests/s, p50, p99, CPU µs per request.
rest() { # url lua conns pid
  local out before
  before=$(ticks "$4")
  out=$(taskset -c 1 wrk -t1 -c"$3" -d"${secs}s" --latency -s "$2" "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx replies from $1" >&2; fi
  printf '%s %s %s %s' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(us "$(awk '$1=="50%" {print $2}' <<<"$out")")" "$(us "$(awk '$1=="99%" {print $2}' <<<"$out")")" \
    "$(per_request "$before" "$(ticks "$4")" "$(awk '/requests in/ {print $1}' <<<"$out")")"
}
# h2load: requests/s, p50 / p99 from its per-request log (microseconds), CPU µs per request (the warm-up's
# requests included, as its log leaves them out of the count: a slight overestimate).
grpc() { # url body-file streams pid
  local conns=$(($3 < 8 ? $3 : 8)) out before
  before=$(ticks "$4")
  out=$(taskset -c 1 h2load -c"$conns" -m$(($3 / conns)) -D"$secs" --warm-up-time=1 -d "$2" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$work/h2.log" "$1")
  if ! grep -q "0 failed, 0 errored" <<<"$out"; then echo "failed requests to $1" >&2; fi
  printf '%s %s %s' "$(awk '/^finished in/ {print $4}' <<<"$out")" \
    "$(cut -f3 "$work/h2.log" | sort -n | awk '{v[NR]=$1} END {printf "%.0fus %.0fus", v[int(NR*0.5)+1], v[int(NR*0.99)+1]}')" \
    "$(per_request "$before" "$(ticks "$4")" "$(awk '/^requests:/ {print $2}' <<<"$out")")"
}

# Records build $1's server for the point's duration (less a second at each end) as <row>-<build>-<conns>.
record() { # build row conns
  local name="$profile/$2-$1-$3"
  sleep 1
  perf record -q -F "${BENCH_PROFILE_HZ:-499}" --call-graph dwarf,16384 -p "${pids[$1]}" -o "$name.data" -- sleep $((secs - 2)) \
    >/dev/null 2>&1
  perf script -i "$name.data" 2>/dev/null | inferno-collapse-perf >"$name.folded"
  inferno-flamegraph --title "$2, build $1, $3 connections/streams" <"$name.folded" >"$name.svg"
  perf report -i "$name.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' >"$name.txt" || true
  rm -f "$name.data"
}

printf '%-12s %-6s %5s %12s %9s %9s %12s\n' row build conns req/s p50 p99 cpu-us/req
for c in $conns; do
  for row in floor-rest seldon-rest v2-rest v2-binary floor-grpc seldon-grpc v2-grpc; do
    [[ $row =~ $only ]] || continue
    for i in "${!builds[@]}"; do
      base=$((9100 + 10 * i))
      recorder=
      if [ -n "$profile" ] && [[ $row != floor-* ]]; then
        record "$i" "$row" "$c" &
        recorder=$!
      fi
      case $row in
        floor-rest) r=$(rest "http://127.0.0.1:$base/" "$work/seldon.lua" "$c" "${floor_pids[$i]}") ;;
        seldon-rest) r=$(rest "http://127.0.0.1:$((base + 1))/api/v1.0/predictions" "$work/seldon.lua" "$c" "${pids[$i]}") ;;
        v2-rest) r=$(rest "http://127.0.0.1:$((base + 1))/v2/models/classifier/infer" "$work/v2.lua" "$c" "${pids[$i]}") ;;
        v2-binary) r=$(rest "http://127.0.0.1:$((base + 1))/v2/models/classifier/infer" "$work/v2bin.lua" "$c" "${pids[$i]}") ;;
        floor-grpc) r=$(grpc "http://127.0.0.1:$base/" "$work/seldon.grpc" "$c" "${floor_pids[$i]}") ;;
        seldon-grpc) r=$(grpc "http://127.0.0.1:$((base + 2))/seldon.protos.Model/Predict" "$work/seldon.grpc" "$c" "${pids[$i]}") ;;
        v2-grpc) r=$(grpc "http://127.0.0.1:$((base + 2))/inference.GRPCInferenceService/ModelInfer" "$work/v2.grpc" "$c" "${pids[$i]}") ;;
      esac
      if [ -n "$recorder" ]; then wait "$recorder"; fi
      read -r rps p50 p99 cpu <<<"$r"
      printf '%-12s %-6s %5s %12s %9s %9s %12s\n' "$row" "$i" "$c" "$rps" "$p50" "$p99" "$cpu"
    done
  done
done
