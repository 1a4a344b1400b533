#!/usr/bin/env bash
# The Swagger UI in a real browser: installs headless Chromium and playwright-core (scripts/install-browser.sh),
# builds the test server, and runs tests/browser/swagger.test.mjs with node's test runner — the seed's first
# prediction made from /api/v1.0/doc/, directly and behind a prefix-stripping proxy. Screenshots land in
# target/browser/ (swagger.png, swagger-direct.png; failed-*.png on failure). Exits non-zero on failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-browser.sh
cargo build -q -p oxserve-tests --bin oxserve-test-server
rm -f target/browser/*.png
# The test starts and stops its own server, proxy and browser; the timeout bounds the whole run.
exec timeout --kill-after=10 300 node --test --test-timeout=240000 tests/browser/swagger.test.mjs
