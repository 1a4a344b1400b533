#!/usr/bin/env bash
# Benchmark, not a test: downloads one large object from moto (S3) on loopback with our
# storage-initializer and with boto3's download_file, and prints wall time and peak RSS of each
# (GNU time -v). Needs scripts/install-storage-peers.sh first.
#
#   SIZE_MB=1024 PROFILE=release scripts/bench-storage.sh
#
# PROFILE=release (default) builds an optimised binary; PROFILE=debug reuses the test build.
# Both clients read the same moto server, which (being Python) is usually the bottleneck:
# compare peak RSS and treat wall time as "at least as fast as".
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-storage"
SIZE_MB="${SIZE_MB:-1024}"
PROFILE="${PROFILE:-release}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"

[[ -x "$VENV/bin/moto_server" ]] || { echo "run scripts/install-storage-peers.sh first" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

if [[ "$PROFILE" == release ]]; then
    cargo build --release -p oxserve-storage --bin storage-initializer >&2
else
    cargo build -p oxserve-storage --bin storage-initializer >&2
fi
BIN="$TARGET/$PROFILE/storage-initializer"

WORK="$(mktemp -d)"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
    (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.1
done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"

echo "creating a ${SIZE_MB} MiB object in moto" >&2
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$WORK/source.bin"
"$VENV/bin/python" - "$WORK/source.bin" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench")
s3.upload_file(sys.argv[1], "bench", "big/model.bin")
PY

measure() {  # name, command...
    local name="$1"; shift
    /usr/bin/time -v "$@" 2>"$WORK/$name.time" >/dev/null || { cat "$WORK/$name.time" >&2; exit 1; }
    local wall rss
    wall="$(grep 'Elapsed (wall clock)' "$WORK/$name.time" | awk '{print $NF}')"
    rss="$(grep 'Maximum resident set size' "$WORK/$name.time" | awk '{print $NF}')"
    printf '%-22s wall %8s   peak RSS %7.1f MiB\n' "$name" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

echo "object: ${SIZE_MB} MiB, moto on 127.0.0.1:$PORT, binary: $BIN"
RUST_LOG=warn measure "storage-initializer" "$BIN" s3://bench/big/model.bin "$WORK/ours"
cmp "$WORK/source.bin" "$WORK/ours/model.bin"
measure "boto3 download_file" "$VENV/bin/python" -c '
import sys, boto3
boto3.client("s3").download_file("bench", "big/model.bin", sys.argv[1])
' "$WORK/boto3.bin"
cmp "$WORK/source.bin" "$WORK/boto3.bin"
