#!/usr/bin/env bash
# Fuzzes Booster::load_serialized briefly (default 20 s; FUZZ_SECS=N to change): the bytes a pickled XGBClassifier /
# XGBRegressor carries, which sklearn-server reads through oxserve-xgboost (a pickled LightGBM wrapper's model
# string goes through the `text` target of crates/lightgbm/fuzz).
#
# With cargo-fuzz and a nightly toolchain it runs the libFuzzer target `serialized` in crates/xgboost/fuzz (corpus
# in crates/xgboost/fuzz/corpus/serialized, git-ignored); without them the stable smoke test
# crates/xgboost/tests/fuzz_serialized.rs (seeded mutations of serialized boosters built from the fixtures) for
# FUZZ_SECS seconds. Dev profile, as scripts/fuzz-pickle.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECS:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
cd "$repo/crates/xgboost"

if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
  echo "cargo-fuzz on nightly: libFuzzer for ${secs}s" >&2
  mkdir -p fuzz/corpus/serialized
  exec cargo +nightly fuzz run --dev serialized fuzz/corpus/serialized -- \
    -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 -timeout=10
else
  echo "cargo-fuzz or nightly missing: stable smoke run for ${secs}s" >&2
  OXSERVE_FUZZ_SECS="$secs" OXSERVE_FUZZ_SEED="${FUZZ_SEED:-$RANDOM}" \
    exec cargo test -p oxserve-xgboost --test fuzz_serialized -- --nocapture
fi
