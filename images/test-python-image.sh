#!/usr/bin/env bash
# images/test-python-image.sh: the Python builder (images/python-builder) end to end, as a user runs it:
#   1. the builder image: images/python-builder/stage.sh lays out Debian bookworm's CPython 3.11 runtime (from
#      the .deb cache of images/python-builder/fetch.sh), pip in a venv, the s2i scripts and oxserve-microservice;
#      podman builds images/python-builder/Containerfile on it (FROM scratch: nothing is pulled)
#   2. the user's image: podman builds images/python-builder/Containerfile.user on examples/python-iris (the
#      seed's Model.py, model.joblib, requirements.txt, .s2i/environment) FROM that builder: `assemble` runs pip
#      on requirements.txt with no network (chroot isolation in a private network namespace), offline from the
#      cached wheels (an /etc/pip.conf mounted for the build only)
#   3. its root filesystem, exported and run as images/test-images.sh runs the others: chroot as UID 8888,
#      read-only root, the image's ENV plus the operator's env, a private loopback-only network; its CMD (the s2i
#      run script) execs oxserve-microservice, which answers the seed's curl with the seed's numbers; SIGTERM → 0
# Also: the builder's s2i labels, USER, CMD (usage); image sizes (printed, and within the limits below).
#
# The binary: $OXSERVE_MICROSERVICE_BIN, else target/debug/oxserve-microservice of package
# oxserve-python-server (built by `cargo test --no-run`; built here if missing). Prints SKIPPED and exits 0 when
# that package is not in the workspace, without podman, without root (chroot, namespaces), or without the cache
# (images/python-builder/fetch.sh; a failure instead when OXSERVE_REQUIRE_PEERS=1). Prints `N passed, N failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=images/lib.sh
source "$here/lib.sh"

PKG=oxserve-python-server BIN=oxserve-microservice
# Size limits in bytes (MB = 10^6) as podman reports them; see the README for the figures. The builder's limit is
# for everything but oxserve-microservice: the test stages whatever binary it is given (a debug build from the test
# run is ~50 MB, a release build ~15 MB), so the binary's own size is printed and left out of the comparison.
BUILDER_LIMIT=70000000 USER_LIMIT=400000000
BUILDER=localhost/oxserve/python-builder:test USER_IMAGE=localhost/oxserve-test/python-iris:0.1

if [ "${1:-}" != --inside ]; then
  t0=$(date +%s)
  skip() { echo "SKIPPED: images/test-python-image.sh: $*"; exit 0; }
  bin=${OXSERVE_MICROSERVICE_BIN:-}
  if [ -z "$bin" ]; then
    grep -qx "name = \"$PKG\"" "$repo"/servers/*/Cargo.toml 2>/dev/null ||
      skip "package $PKG (binary $BIN) is not in the workspace yet (OXSERVE_MICROSERVICE_BIN=PATH tests another build)"
    bin="${CARGO_TARGET_DIR:-$repo/target}/debug/$BIN"
    if [ ! -x "$bin" ]; then
      (cd "$repo" && cargo build --locked -q -p "$PKG" --bin "$BIN") ||
        { echo "0 passed, 1 failed (cargo build -p $PKG)"; exit 1; }
    fi
  fi
  { command -v podman >/dev/null && podman ${PODMAN_FLAGS:-} info >/dev/null 2>&1; } ||
    skip "no working podman (scripts/install-image-tools.sh installs it)"
  { private_net_ok && command -v chroot >/dev/null; } ||
    skip "needs root with chroot and unshare (network + mount namespaces)"
  if ! cache=$("$here/python-builder/fetch.sh" --check); then
    msg="no complete cache of Debian packages and wheels (run images/python-builder/fetch.sh)"
    [ -z "${OXSERVE_REQUIRE_PEERS:-}" ] || { echo "0 passed, 1 failed ($msg)"; exit 1; }
    skip "$msg"
  fi
  # The image carries Debian bookworm's CPython 3.11: a binary built against another minor version cannot start.
  if ! readelf -dW "$bin" | grep -q 'NEEDED.*\[libpython3\.11\.so'; then
    echo "FAIL - $bin does not link libpython3.11 ($(readelf -dW "$bin" | grep -o 'libpython[^]]*' || echo 'no libpython');"
    echo "  build it with PYO3_PYTHON naming a Python 3.11)"
    echo "0 passed, 1 failed"; exit 1
  fi
  eng=(podman ${PODMAN_FLAGS:-})
  work=$(mktemp -d /tmp/oxserve-python-image.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  chmod 0755 "$work"
  fail() {
    not_ok "$1"; sed 's/^/  | /' "$work/$2.log" | tail -n 30
    summary; exit 1
  }

  "$here/python-builder/stage.sh" "$bin" "$work/builder.ctx" >"$work/stage.log" 2>&1 ||
    fail "builder context staged (images/python-builder/stage.sh)" stage
  old_id=$("${eng[@]}" image inspect --format '{{.Id}}' "$BUILDER" 2>/dev/null || true)
  "${eng[@]}" build -q -f "$here/python-builder/Containerfile" -t "$BUILDER" "$work/builder.ctx" \
    >"$work/builder.log" 2>&1 || fail "builder image built" builder
  # A rebuild on a new binary leaves the previous builder untagged: drop it.
  [ -z "$old_id" ] || [ "$old_id" = "$("${eng[@]}" image inspect --format '{{.Id}}' "$BUILDER")" ] ||
    "${eng[@]}" rmi "$old_id" >/dev/null 2>&1 || true
  rm -rf "$work/builder.ctx"
  ok "builder image $BUILDER built on $bin ($(($(date +%s) - t0)) s)"

  # `assemble` offline: the wheels and a pip.conf pointing at them are mounted for the build's RUN only; the
  # conf also skips byte-compiling (half of pip's time here; a real build compiles, and a read-only root then
  # starts faster).
  printf '[global]\nno-index = true\nfind-links = /wheels\n[install]\ncompile = false\n' >"$work/pip.conf"
  t1=$(date +%s)
  unshare --net "${eng[@]}" build -f "$here/python-builder/Containerfile.user" --isolation chroot \
    --build-arg "BUILDER=$BUILDER" -v "$cache/wheels:/wheels:ro" -v "$work/pip.conf:/etc/pip.conf:ro" \
    -t "$USER_IMAGE" "$repo/examples/python-iris" >"$work/user.log" 2>&1 ||
    fail "examples/python-iris built with Containerfile.user" user
  ok "examples/python-iris built with Containerfile.user, pip offline ($(($(date +%s) - t1)) s)"
  # Each image's root filesystem is its container's, mounted by podman (no copy): WORK/NAME.rootfs links to it.
  cids=()
  for ref in "$BUILDER" "$USER_IMAGE"; do
    n=${ref%%:*}; n=${n##*/}
    "${eng[@]}" image inspect --format '{{.Size}}' "$ref" >"$work/$n.size"
    "${eng[@]}" image inspect --format '{{json .Config}}' "$ref" >"$work/$n.config.json"
    cid=$("${eng[@]}" create "$ref") && cids+=("$cid") && dir=$("${eng[@]}" mount "$cid") &&
      ln -s "$dir" "$work/$n.rootfs" || echo "mounting $ref failed" >&2
  done
  WORK=$work REPO=$repo T0=$t0 CARRY="$PASSED $FAILED" run_private "$0" --inside
  rc=$?
  for cid in "${cids[@]}"; do "${eng[@]}" umount "$cid" >/dev/null; "${eng[@]}" rm "$cid" >/dev/null; done
  "${eng[@]}" rmi "$USER_IMAGE" >/dev/null 2>&1 || true
  exit $rc
fi

# ---- inside: private network and mount namespaces ------------------------------------------------------------
read -r PASSED FAILED <<<"$CARRY"
net_setup
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
CHROOT=$(command -v chroot)
B=python-builder U=python-iris

size_ok() {
  local size; size=$(cat "$WORK/$1.size")
  echo "  $1: $size bytes ($((size / 1000000)) MB), limit $2"
  ((size <= $2))
}
# builder_size_ok LIMIT: the builder less its oxserve-microservice within LIMIT.
builder_size_ok() {
  local size bin; size=$(cat "$WORK/$B.size")
  bin=$(stat -c %s "$WORK/$B.rootfs/usr/local/bin/$BIN") || return 1
  echo "  $B: $size bytes ($((size / 1000000)) MB), of which $BIN $bin; the rest $((size - bin)), limit $1"
  ((size - bin <= $1))
}
# builder_config: s2i finds its scripts through the labels; the builder runs as 8888 and shows its usage.
builder_config() {
  python3 - "$WORK/$B.config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
labels, problems = c.get("Labels") or {}, []
for k in ("io.openshift.s2i.scripts-url", "io.s2i.scripts-url"):
    if labels.get(k) != "image:///usr/libexec/s2i":
        problems.append(f"label {k} = {labels.get(k)!r}")
if c.get("User") != "8888" or c.get("Cmd") != ["/usr/libexec/s2i/usage"] or c.get("WorkingDir") != "/microservice":
    problems.append(f"User {c.get('User')!r} Cmd {c.get('Cmd')} WorkingDir {c.get('WorkingDir')!r}")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}
# config_list NAME KEY: the image config's list KEY (Env, Cmd), one item a line.
config_list() {
  python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1])).get(sys.argv[2]) or []))' \
    "$WORK/$1.config.json" "$2"
}
# image_cmd NAME ENV... -- CMD...: RUN = CMD in NAME's root as 8888:0 with the image's ENV plus ENV only.
image_cmd() {
  local name=$1 extra=() image_env=(); shift
  while [ "$1" != -- ]; do extra+=("$1"); shift; done; shift
  mapfile -t image_env < <(config_list "$name" Env)
  RUN=(env -i "${image_env[@]}" "${extra[@]}" "$CHROOT" --userspec=8888:0 "$WORK/$name.rootfs" "$@")
}
usage_prints() { image_cmd "$B" -- /usr/libexec/s2i/usage && "${RUN[@]}" | grep -q 's2i build'; }
# prepare ROOTFS: the root bound read-only, /proc and /dev in.
prepare() {
  local r=$1
  r=$(readlink -f "$r")
  mkdir -p "$r/proc" "$r/dev" && mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" &&
    mount -t proc proc "$r/proc" && mount --bind /dev "$r/dev"
}
# assembled: s2i's layout after assemble: the user's folder in /microservice (owned by 8888), /tmp/src emptied,
# the requirements in the venv, and nothing the offline build mounted (wheels, pip.conf) left behind.
assembled() {
  local r=$WORK/$U.rootfs f problems=()
  for f in Model.py model.joblib requirements.txt .s2i/environment; do
    [ "$(stat -c %u "$r/microservice/$f" 2>/dev/null)" = 8888 ] || problems+=("/microservice/$f missing or not 8888's")
  done
  [ -z "$(ls -A "$r/tmp/src" 2>/dev/null)" ] || problems+=("/tmp/src not emptied")
  ls -d "$r"/opt/app-root/lib/python3.11/site-packages/sklearn >/dev/null 2>&1 || problems+=("no sklearn in the venv")
  [ -z "$(ls -A "$r/wheels" 2>/dev/null)" ] || problems+=("/wheels left in the image")
  [ ! -s "$r/etc/pip.conf" ] || problems+=("/etc/pip.conf left in the image")
  ((${#problems[@]} == 0)) || { printf '  %s\n' "${problems[@]}" >&2; return 1; }
}
seed_rows() {
  post_json "$1" /api/v1.0/predictions '{"data":{"ndarray":[[1,2,3,4]]}}' "$WORK/rows.json" && seed_matches "$WORK/rows.json"
}
# The process that answers is oxserve-microservice itself (the run script execs it), so SIGTERM reaches it.
is_microservice() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "${BIN:0:15}" ]; }

check "$B: size less $BIN within $BUILDER_LIMIT bytes" builder_size_ok "$BUILDER_LIMIT"
check "$B: s2i labels, USER 8888, WORKDIR /microservice, CMD usage" builder_config
if prepare "$WORK/$B.rootfs"; then check "$B: the usage script says how to s2i build" usage_prints
else not_ok "$B: root mounted read-only"; fi

check "$U: size within $USER_LIMIT bytes" size_ok "$U" "$USER_LIMIT"
if [ ! -s "$WORK/$U.config.json" ] || ! prepare "$WORK/$U.rootfs"; then
  not_ok "$U: image exported and its root mounted read-only"
else
  check "$U: /microservice holds the folder (8888's), requirements in /opt/app-root, no build mounts left" assembled
  mapfile -t cmd < <(config_list "$U" Cmd)
  hp=$(free_port) gp=$(free_port) mp=$(free_port)
  image_cmd "$U" "${HOST_ENV[@]}" \
    PREDICTIVE_UNIT_SERVICE_PORT="$hp" PREDICTIVE_UNIT_HTTP_SERVICE_PORT="$hp" PREDICTIVE_UNIT_GRPC_SERVICE_PORT="$gp" \
    PREDICTIVE_UNIT_PARAMETERS='[]' PREDICTIVE_UNIT_ID=classifier PREDICTIVE_UNIT_IMAGE=oxserve-test/python-iris:0.1 \
    PREDICTOR_ID=default SELDON_DEPLOYMENT_ID=iris SELDON_EXECUTOR_ENABLED=true \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT="$mp" PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus -- "${cmd[@]}"
  t_start=$(date +%s%N)
  "${RUN[@]}" >"$WORK/$U.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  if wait_tcp "$hp" 60 "$pid"; then
    ok "$U: ready, TCP connect to the HTTP port ($((($(date +%s%N) - t_start) / 1000000)) ms after exec)"
    check "$U: the run script exec'd $BIN (pid $pid)" is_microservice "$pid"
    check "$U: the seed's curl answers the seed's numbers (1e-9)" seldon_seed "$hp" "$WORK/seed.json"
    check "$U: the seed's row as a 2-D ndarray answers them too" seed_rows "$hp"
    check "$U: SIGTERM exits 0" term_exits_zero "$pid"
  else
    not_ok "$U: ready (TCP connect to the HTTP port)"; sed 's/^/  | /' "$WORK/$U.log" | tail -n 30
  fi
fi
echo "images/test-python-image.sh: $(($(date +%s) - T0)) s in all"
summary
