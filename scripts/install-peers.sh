#!/usr/bin/env bash
# Installs the Python peers the end-to-end tests talk to, each in its own venv (they cannot share one):
#   .venv-seldon  Seldon's own client (`seldon-core` 1.18.2: pins protobuf<4, numpy<2; gunicorn needs setuptools<81)
#   .venv-triton  NVIDIA's `tritonclient` (HTTP and gRPC), the usual V2 client
#   .venv-kserve  KServe's own Python SDK (`kserve`: InferenceRESTClient over V1 and V2; no GPU stack)
# Idempotent: a venv is only built once (a stamp file marks success).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

make_venv() {
  local venv="$repo/$1"; shift
  local stamp="$venv/.oxserve-ok"
  [ -f "$stamp" ] && return 0
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  touch "$stamp"
}

make_venv .venv-seldon "seldon-core==1.18.2" "setuptools<81" "numpy<2" "protobuf<4"
make_venv .venv-triton "tritonclient[http,grpc]==2.73.0" "numpy"
make_venv .venv-kserve "kserve==0.21.0"
echo "peers installed: $repo/.venv-seldon $repo/.venv-triton $repo/.venv-kserve"
