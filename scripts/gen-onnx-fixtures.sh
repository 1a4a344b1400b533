#!/usr/bin/env bash
# Regenerates crates/onnx/fixtures/<case>/{model.onnx,expected.json} (committed) with pinned TensorFlow, tf2onnx,
# skl2onnx, scikit-learn and onnxruntime from PyPI, in a git-ignored venv (.venv-onnx-fixtures). Installing
# TensorFlow takes minutes the first time. Arguments (optional): the cases to write (dtypes, sklearn-pipeline, keras).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-onnx-fixtures"
stamp="$venv/.oxserve-onnx-fixtures-1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "tensorflow-cpu==2.21.0" "keras==3.15.1" "tf2onnx==1.17.0" "skl2onnx==1.20.0" "scikit-learn==1.9.1" \
    "onnxruntime==1.31.1" "onnx==1.23.2" "numpy==2.4.6" "protobuf==7.36.2" >&2
  touch "$stamp"
fi
"$venv/bin/python" "$repo/scripts/gen-onnx-fixtures.py" "$repo/crates/onnx/fixtures" "$@"
