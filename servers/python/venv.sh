#!/usr/bin/env bash
# The venv the differential tests and the benchmark run the user classes in, under both
# seldon-core-microservice and oxserve-microservice (pinned; git-ignored; built once, a stamp marks success).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv="$repo/servers/python/.venv-pywrap"
[ -f "$venv/.oxserve-ok" ] && { echo "$venv"; exit 0; }
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "seldon-core==1.18.2" "setuptools<81" "numpy==1.26.4" "protobuf<4" "scikit-learn==1.5.2"
touch "$venv/.oxserve-ok"
echo "$venv"
