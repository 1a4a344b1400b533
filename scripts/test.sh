#!/usr/bin/env bash
# Runs every test oxserve has, from a clean clone: installs the Python peers the end-to-end tests talk to
# (into git-ignored venvs inside the repo), checks formatting and lints, runs the whole workspace's tests with
# peers required, then a short fuzz smoke run of the pickle reader. `.ci/run` calls this.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TERM_COLOR=never
export OXSERVE_REQUIRE_PEERS=1
# A run from a clean clone gains nothing from incremental compilation's caches (it only writes them) and links
# fewer, larger objects without it.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# The installers are network- and disk-bound: they run in the background while fmt and clippy compile, and the
# tests wait for them. Three chains, because apt-get and dpkg allow one caller at a time.
step "installing peers, ONNX Runtime, MiniLM, Chromium, podman, the Python builder's .debs and wheels (in the background)"
logs="$repo/target/ci-install"
mkdir -p "$logs"
(scripts/install-peers.sh && scripts/install-storage-peers.sh && scripts/install-tfserving-peers.sh &&
  scripts/install-schemathesis.sh) >"$logs/python.log" 2>&1 &
python_pid=$!
(scripts/fetch-onnxruntime.sh && scripts/fetch-minilm.sh) >"$logs/wheels.log" 2>&1 &
wheels_pid=$!
(scripts/install-browser.sh && scripts/install-image-tools.sh && images/python-builder/fetch.sh) >"$logs/system.log" 2>&1 &
system_pid=$!
# wait_for PID NAME: prints the chain's log; a failed chain fails the run.
wait_for() {
  local status=0
  wait "$1" || status=$?
  sed "s/^/[$2] /" "$logs/$2.log"
  ((status == 0)) || { echo "installing ($2) failed with status $status" >&2; exit "$status"; }
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test: build"
cargo test --workspace --locked --no-run

step "waiting for the installers"
wait_for "$python_pid" python
wait_for "$wheels_pid" wheels
wait_for "$system_pid" system

# The images' release build (its own target dir, target/images) is CPU work that the tests, which mostly wait
# on processes and sockets, leave room for: it runs in the background at a lower priority while they run, and
# the image test below finds it up to date. A failure here is reported by the image test's own build.
step "images: release build in the background"
setsid nice -n 19 images/test-images.sh --prebuild >"$logs/images-build.log" 2>&1 &
images_pid=$!
# A failing step ends the run: the build (its own process group) goes with it.
trap 'kill -- "-$images_pid" 2>/dev/null || true' EXIT

step "cargo test"
cargo test --workspace --locked --no-fail-fast

step "Swagger UI in headless Chromium"
scripts/test-browser.sh

step "schemathesis against the served OpenAPI document"
scripts/test-schemathesis.sh

step "Kubernetes manifests"
scripts/install-image-tools.sh
images/test-manifests.py

step "pod contract with real processes"
images/test-pod-contract.sh

step "images: build, unpack, run under chroot"
wait "$images_pid" || echo "(the background image build failed; the image test builds again and reports)"
tail -n 3 "$logs/images-build.log"
images/test-images.sh

step "Python builder image: examples/python-iris built FROM it, run under chroot"
images/test-python-image.sh

step "pickle reader fuzz run"
FUZZ_SECS=30 scripts/fuzz-pickle.sh

step "serialized XGBoost booster fuzz run (pickled wrappers' bytes)"
FUZZ_SECS=15 scripts/fuzz-boosters.sh

step "request decoders fuzz run (bounded allocation)"
FUZZ_SECS=30 FUZZ_SEED=12 scripts/fuzz-requests.sh
step "all tests passed"
