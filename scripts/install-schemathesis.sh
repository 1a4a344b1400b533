#!/usr/bin/env bash
# Installs schemathesis (pinned) into .venv-schemathesis for scripts/test-schemathesis.sh.
# Idempotent: a stamp file marks a finished install of this version.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=4.32.5
venv="$repo/.venv-schemathesis"
stamp="$venv/.oxserve-ok-$version"
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
  touch "$stamp"
fi
echo "schemathesis: $("$venv/bin/schemathesis" --version 2>/dev/null | head -1) in $venv"
