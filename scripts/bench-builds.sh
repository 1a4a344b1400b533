#!/usr/bin/env bash
# scripts/bench-builds.sh: the build folders the request-path benchmarks (bench-http.sh, bench-instructions.sh)
# compare, one per line: each <dir> of BENCH_BIN=<dir>[:<dir>...], else target/release after building
# `sklearn-server` and `bare-axum` there (and `onnx-server` with BENCH_ONNX=1, for bench-instructions.sh's
# tfserving-rest row).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${BENCH_BIN:-}" ]; then
  tr ':' '\n' <<<"$BENCH_BIN"
else
  cargo build --release -q -p oxserve-sklearn-server -p oxserve-tests --bin sklearn-server --bin bare-axum
  if [ "${BENCH_ONNX:-0}" = 1 ]; then
    cargo build --release -q -p oxserve-onnx-server --bin onnx-server
  fi
  echo target/release
fi
