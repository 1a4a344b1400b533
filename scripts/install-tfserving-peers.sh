#!/usr/bin/env bash
# Installs the TF Serving client peer the end-to-end tests talk to, in a git-ignored venv:
#   .venv-tfserving  grpcio + requests + numpy, and Python stubs for TF Serving's gRPC API.
# PyPI's `tensorflow-serving-api` stubs import `tensorflow.core.framework.*_pb2`, which only the full
# `tensorflow` wheel ships (hundreds of MB), so the stubs are compiled here with grpcio-tools from the repo's own
# wire-compatible protos (protocol/proto: same packages, messages and field numbers as TF Serving's) into
# .venv-tfserving/stubs. Idempotent: built once (a stamp file marks success).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-tfserving"
stamp="$venv/.oxserve-ok"
[ -f "$stamp" ] && exit 0
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "grpcio==1.85.1" "grpcio-tools==1.85.1" requests numpy
mkdir -p "$venv/stubs"
(cd "$repo/protocol/proto" && "$venv/bin/python" -m grpc_tools.protoc -I . \
  --python_out="$venv/stubs" --grpc_python_out="$venv/stubs" \
  tensorflow/core/framework/tensor.proto \
  tensorflow/core/protobuf/meta_graph.proto \
  tensorflow/core/protobuf/error_codes.proto \
  tensorflow_serving/apis/*.proto)
touch "$stamp"
echo "TF Serving peer installed: $venv"
