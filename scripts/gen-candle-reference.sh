#!/usr/bin/env bash
# Regenerates the candle engine's fixtures (crates/candle/fixtures/): all-MiniLM-L6-v2 reference embeddings from
# sentence-transformers, tiny random-weight BERT/RoBERTa/DistilBERT models with transformers' outputs, PyTorch
# MLPs and a TorchScript archive. Needs PyTorch from PyPI (several GB with its CUDA libraries; CPU is used), in
# the git-ignored venv .venv-candle-ref. The outputs are committed; tests never run this.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-candle-ref"
stamp="$venv/.oxserve-candle-ref-1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "torch==2.15.0" "sentence-transformers==6.2.0" "transformers==5.24.0" "numpy==2.4.6" \
    "safetensors==0.8.0" "tokenizers==0.23.3" >&2
  touch "$stamp"
fi
minilm=$("$repo/scripts/fetch-minilm.sh")
OMP_NUM_THREADS=1 "$venv/bin/python" "$repo/scripts/gen-candle-reference.py" "$minilm" "$repo/crates/candle/fixtures"
