#!/usr/bin/env bash
# Fuzzes every request decoder briefly under a counting allocator (default 40 s in all; FUZZ_SECS=N to change):
# Seldon JSON and protobuf (message and feedback), V2 JSON, binary extension and gRPC, TF Serving JSON and
# protobuf (with and without a signature). A decode fails when it panics, aborts, or its peak memory or one
# allocation exceeds a bound linear in the input (protocol/fuzz-harness/src/lib.rs, `allowed_bytes`).
#
# With cargo-fuzz and a nightly toolchain it runs the libFuzzer targets in protocol/fuzz (FUZZ_SECS split between
# them), seeded with the harness's seeds (written to protocol/fuzz/corpus/<target>, git-ignored); crashes land in
# protocol/fuzz/artifacts/<target>. Without them it runs the stable smoke test
# (protocol/fuzz-harness/tests/smoke.rs: the reproductions of issue #12, the valid seeds, then seeded mutations
# for FUZZ_SECS seconds). FUZZ_RELEASE=1 uses cargo-fuzz's optimised build instead of the dev profile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECS:-40}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
cd "$repo"
targets=(seldon_json seldon_pb seldon_feedback_pb v2_json v2_binary v2_pb tfserving_json tfserving_json_signed
  tfserving_pb tfserving_pb_signed)

if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
  each=$(( secs / ${#targets[@]} )); [ "$each" -ge 1 ] || each=1
  echo "cargo-fuzz on nightly: libFuzzer, ${each}s for each of ${#targets[@]} targets" >&2
  cargo run -q -p oxserve-protocol-fuzz-harness --example corpus -- protocol/fuzz/corpus
  profile=(--dev)
  if [ "${FUZZ_RELEASE:-0}" = 1 ]; then profile=(); fi
  cd protocol
  for t in "${targets[@]}"; do
    cargo +nightly fuzz run "${profile[@]}" "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$each" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10
  done
else
  echo "cargo-fuzz or nightly missing: stable smoke run for ${secs}s" >&2
  OXSERVE_FUZZ_SECS="$secs" OXSERVE_FUZZ_SEED="${FUZZ_SEED:-$RANDOM}" \
    exec cargo test -p oxserve-protocol-fuzz-harness --test smoke -- --nocapture
fi
