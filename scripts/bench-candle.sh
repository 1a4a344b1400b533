#!/usr/bin/env bash
# Sentences/s on all-MiniLM-L6-v2 at batch 1 and 32: oxserve's candle engine (release build) vs
# sentence-transformers (PyTorch, CPU), both limited to the same number of threads (THREADS, default 2).
# The Python side needs the venv of scripts/gen-candle-reference.sh (PyTorch from PyPI, several GB); without it
# only the candle figures are printed. Benchmarks print figures; they are not tests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
threads="${THREADS:-2}"
seconds="${SECONDS_PER_CASE:-5}"
model=$("$repo/scripts/fetch-minilm.sh")
cd "$repo"
cargo build -q --release -p oxserve-candle --example bench_minilm
target="${CARGO_TARGET_DIR:-$repo/target}"
RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$target/release/examples/bench_minilm" "$model" "$seconds"
py="$repo/.venv-candle-ref/bin/python"
if [ -x "$py" ]; then
  OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$py" "$repo/scripts/bench-candle.py" "$model" "$threads" "$seconds"
else
  echo "sentence-transformers: skipped (run scripts/gen-candle-reference.sh to install it)"
fi
