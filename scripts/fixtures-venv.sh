#!/usr/bin/env bash
# Creates (once) the Python venv that generates oxserve's model fixtures: pinned scikit-learn and friends, the
# versions the shared conformance corpus was written with. Prints the venv's python path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-fixtures"
stamp="$venv/.oxserve-fixtures-1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "scikit-learn==1.9.1" "numpy==2.4.6" "scipy" "joblib==1.6.0" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
