#!/usr/bin/env bash
# Installs what the browser test needs: Debian's headless Chromium (/usr/bin/chromium) and `playwright-core`
# (the driver only; it never downloads a browser of its own) into .cache/browser-test/node_modules.
# Idempotent: apt-get is skipped when chromium is there; npm when the pinned version is installed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
playwright_version=1.65.1
dir="$repo/.cache/browser-test"

if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null
fi
command -v node >/dev/null || { echo "node is required (Debian: apt-get install nodejs npm)" >&2; exit 1; }

stamp="$dir/.oxserve-ok-$playwright_version"
if [ ! -f "$stamp" ]; then
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"oxserve-browser-test","private":true}' >"$dir/package.json"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "playwright-core@$playwright_version"
  touch "$stamp"
fi
echo "browser test deps: $(chromium --version 2>/dev/null | head -1); playwright-core $playwright_version in $dir"
