#!/usr/bin/env bash
# Installs the Python peers the end-to-end tests talk to, each in its own venv (they cannot share one):
#   .venv-seldon  Seldon's own client and wrapper (`seldon-core` 1.18.2: pins protobuf<4, numpy<2; gunicorn needs
#                 setuptools<81), with scikit-learn for the quickstart iris Model.py the differential suite of
#                 servers/python runs (wheels: ~75 s of download and install on a loaded 2-core machine)
#   .venv-triton  NVIDIA's `tritonclient` (HTTP and gRPC), the usual V2 client
#   .venv-kserve  KServe's own Python SDK (`kserve`: InferenceRESTClient over V1 and V2; no GPU stack)
# Idempotent: a venv is only built once (a stamp file marks success; a venv whose pins changed has a new stamp
# name, so an older one is rebuilt).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

make_venv() { # dir stamp-suffix requirements...
  local venv="$repo/$1" stamp="$repo/$1/.oxserve-ok$2"; shift 2
  [ -f "$stamp" ] && return 0
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  touch "$stamp"
}

make_venv .venv-seldon -sklearn-1.5.2 "seldon-core==1.18.2" "setuptools<81" "numpy<2" "protobuf<4" \
  "scikit-learn==1.5.2" "scipy==1.17.1" "joblib==1.6.0"
make_venv .venv-triton "" "tritonclient[http,grpc]==2.73.0" "numpy"
make_venv .venv-kserve "" "kserve==0.21.0"
echo "peers installed: $repo/.venv-seldon $repo/.venv-triton $repo/.venv-kserve"
