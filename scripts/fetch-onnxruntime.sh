#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library for oxserve-onnx (ort with `load-dynamic`): downloads the PyPI wheel
# onnxruntime==1.31.1 (the C API ort 2.0.0-rc.15 targets) and extracts libonnxruntime.so.1.31.1 and
# libonnxruntime_providers_shared.so into <repo>/.onnxruntime/ (git-ignored). Idempotent. Prints the library's path,
# which is what ORT_DYLIB_PATH should name (or copy it beside the onnx-server binary).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=1.31.1
dest="$repo/.onnxruntime"
lib="$dest/libonnxruntime.so.$version"
if [ ! -f "$lib" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The library inside is the same for every CPython tag; ask for one explicitly so that any local Python works.
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.12 --implementation cp --abi cp312 \
    -d "$work" "onnxruntime==$version" >&2
  wheel=$(ls "$work"/onnxruntime-"$version"-*.whl)
  python3 -m zipfile -e "$wheel" "$work/x" >&2
  mkdir -p "$dest"
  cp "$work/x/onnxruntime/capi/libonnxruntime_providers_shared.so" "$dest/"
  cp "$work/x/onnxruntime/capi/libonnxruntime.so.$version" "$dest/.tmp.so"
  mv "$dest/.tmp.so" "$lib"
  ln -sf "libonnxruntime.so.$version" "$dest/libonnxruntime.so"
fi
echo "$lib"
