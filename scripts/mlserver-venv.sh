#!/usr/bin/env bash
# Creates (once) the pinned Python venv with MLServer and its scikit-learn runtime, the peer that
# scripts/bench-repository.py measures oxserve against, and prints its `mlserver` path. scikit-learn, numpy and
# joblib carry the fixtures venv's pins (scripts/fixtures-venv.sh) so MLServer unpickles the benchmark's models
# with the version that wrote them. uvloop is held at 0.21.0: with 0.23.0 (what pip picks unpinned) its
# get_event_loop() raises where no loop runs, MLServer 1.7.1's inference worker calls it as it starts, and every
# model load fails ("Worker process stopped unexpectedly with exit code 256").
# The venv lives in the repository root (git-ignored .venv-*). Not part of CI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-mlserver"
pkgs=("mlserver==1.7.1" "mlserver-sklearn==1.7.1" "scikit-learn==1.9.1" "numpy==2.4.6" "joblib==1.6.0" "uvloop==0.21.0")
stamp="$venv/.oxserve-mlserver-$(echo "${pkgs[*]}" | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "${pkgs[@]}" >&2
  touch "$stamp"
fi
echo "$venv/bin/mlserver"
