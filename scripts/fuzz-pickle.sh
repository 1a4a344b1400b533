#!/usr/bin/env bash
# Fuzzes the pickle/joblib reader briefly (default 45 s; FUZZ_SECS=N to change).
#
# With cargo-fuzz and a nightly toolchain (`cargo install cargo-fuzz`, `rustup toolchain install nightly`) it runs
# the libFuzzer target `loads` in crates/pickle/fuzz, seeded with the committed
# fixtures; new corpus entries land in crates/pickle/fuzz/corpus/loads (git-ignored), crashes in
# crates/pickle/fuzz/artifacts/loads. Without them it runs the same target as a plain stable-toolchain smoke test
# (crates/pickle/tests/fuzz_smoke.rs: seeded mutations of the same seeds, for FUZZ_SECS seconds).
# The fuzz build uses the dev profile (the team's "no release builds" rule); it manages ~20 inputs/s on a busy
# 2-core box. FUZZ_RELEASE=1 uses cargo-fuzz's usual optimised build (~1000 inputs/s there).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECS:-45}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
cd "$repo/crates/pickle"

if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
  echo "cargo-fuzz on nightly: libFuzzer for ${secs}s" >&2
  mkdir -p fuzz/corpus/loads
  profile=(--dev)
  if [ "${FUZZ_RELEASE:-0}" = 1 ]; then profile=(); fi
  exec cargo +nightly fuzz run "${profile[@]}" loads fuzz/corpus/loads tests/fixtures -- \
    -max_total_time="$secs" -dict=fuzz/loads.dict -max_len=65536 -rss_limit_mb=2048 -timeout=10
else
  echo "cargo-fuzz or nightly missing: stable smoke run for ${secs}s" >&2
  OXSERVE_FUZZ_SECS="$secs" OXSERVE_FUZZ_SEED="${FUZZ_SEED:-$RANDOM}" \
    exec cargo test -p oxserve-pickle --test fuzz_smoke -- --nocapture
fi
