#!/usr/bin/env bash
# images/test-images.sh: builds the images (images/build.sh: one cargo run, target dir target/images reused
# between runs), exports each image's root filesystem into an empty folder and runs its entrypoint there the way
# a pod does: chroot as UID 8888, read-only root, only the image's ENV plus the operator's env, /mnt/models
# mounted (read-write for the initializer, read-only for the server), on a private loopback-only network.
#   storage-initializer: copies a local folder; fetches http://localhost:PORT/model.joblib (host name resolved by
#                        static glibc through the image's /etc/nsswitch.conf and /etc/hosts)
#   sklearn-server:      TCP-ready on the HTTP port, the seed's request → the seed's numbers (1e-9), V2 too,
#                        SIGTERM → exit 0
#   both:                size limits, USER/EXPOSE/ENTRYPOINT, only the expected files, static executables,
#                        the operator's preStop hook `/bin/sh -c "/bin/sleep 0"` in the chroot
#   xgboost-server:      on a folder from XGBoost 1.7 (its legacy binary model.bst is read first), and
#   lightgbm-server:     on a LightGBM 4.7 model.txt: the fixture's rows answer what Booster.predict returned
#                        over Seldon v1 (NaN rows included) and V2; SIGTERM → exit 0
#   mlflow-server:       on an MLflow 3 model folder (skops, MLflow 3's default): mlflow's own `dataframe_split`
#                        body on /invocations and the same rows over V2 answer pyfunc.predict's labels;
#                        SIGTERM → exit 0
# `--prebuild` builds and stages the binaries only (see below).
# Prints `N passed, N failed`; exits 1 on a failure. Without podman/docker, or without root (chroot, mounts,
# namespaces), prints SKIPPED and exits 0. ENGINE=podman|docker chooses; PODMAN_FLAGS as in build.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=images/lib.sh
source "$here/lib.sh"

# Size targets in bytes (MB = 10^6), as the image store reports them. sklearn-server's target is 20 MB; since it
# gained the text vectorizers (regex's Unicode tables, NFKD for strip_accents), tables and the skops reader it is
# 21.1 MB, so its limit is 22 MB until the build is trimmed back (an open item, not the goal).
declare -A LIMIT=([sklearn-server]=22000000 [storage-initializer]=25000000 [xgboost-server]=20000000
  [lightgbm-server]=20000000 [mlflow-server]=25000000)
SERVERS=(storage-initializer sklearn-server xgboost-server lightgbm-server mlflow-server)

# --prebuild: only the release build and staging of the binaries above (no engine, no chroot), so that
# scripts/test.sh can run it in the background while the tests run; the test run later finds it up to date.
if [ "${1:-}" = --prebuild ]; then
  exec "$here/build.sh" "${SERVERS[@]}" --no-image
fi

if [ "${1:-}" != --inside ]; then
  t0=$(date +%s)
  engine="${ENGINE:-}"
  if [ -z "$engine" ]; then
    if command -v podman >/dev/null && podman ${PODMAN_FLAGS:-} info >/dev/null 2>&1; then engine=podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; fi
  fi
  if [ -z "$engine" ]; then
    echo "SKIPPED: images/test-images.sh: no working podman or docker (scripts/install-image-tools.sh installs podman)"
    exit 0
  fi
  if ! private_net_ok || ! command -v chroot >/dev/null; then
    echo "SKIPPED: images/test-images.sh: needs root with chroot and unshare (network + mount namespaces)"
    exit 0
  fi
  eng=("$engine"); [ "$engine" = podman ] && eng+=(${PODMAN_FLAGS:-})
  work=$(mktemp -d /tmp/oxserve-images.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  chmod 0755 "$work"
  if ! ENGINE=$engine "$here/build.sh" "${SERVERS[@]}" --tag test >"$work/build.out"; then
    echo "0 passed, 1 failed (images/build.sh)"; exit 1
  fi
  echo "build: $(($(date +%s) - t0)) s"
  while read -r _ ref size; do
    s=${ref##*/}; s=${s%%:*}
    echo "$size" >"$work/$s.size"
    mkdir "$work/$s.rootfs"
    cid=$("${eng[@]}" create "$ref") &&
      "${eng[@]}" export "$cid" | tar -x -C "$work/$s.rootfs" &&
      "${eng[@]}" rm "$cid" >/dev/null &&
      "${eng[@]}" image inspect --format '{{json .Config}}' "$ref" >"$work/$s.config.json" ||
      echo "export of $ref failed" >&2
  done <"$work/build.out"
  WORK=$work REPO=$repo T0=$t0 run_private "$0" --inside
  exit $?
fi

# ---- inside: private network and mount namespaces ------------------------------------------------------------
net_setup
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
CHROOT=$(command -v chroot)

# The image's config: entrypoint (one word a line), ENV (one a line), and the USER/EXPOSE facts.
config_facts() {
  python3 - "$WORK/$1.config.json" "$WORK/$1" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
base = sys.argv[2]
open(base + ".entrypoint", "w").write("".join(w + "\n" for w in c.get("Entrypoint") or []))
open(base + ".env", "w").write("".join(e + "\n" for e in c.get("Env") or []))
ports = sorted(c.get("ExposedPorts") or {})
problems = []
if c.get("User") not in ("8888:8888", "8888"):
    problems.append(f"User {c.get('User')!r}, want 8888")
if ports != ["6000/tcp", "9000/tcp", "9500/tcp"]:
    problems.append(f"ExposedPorts {ports}")
if not c.get("Entrypoint") or c.get("Cmd"):
    problems.append(f"Entrypoint {c.get('Entrypoint')} Cmd {c.get('Cmd')}")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}

size_ok() {
  local size; size=$(cat "$WORK/$1.size")
  echo "  $1: $size bytes ($((size / 1000)) kB), limit ${LIMIT[$1]}"
  ((size <= LIMIT[$1]))
}

only_expected_files() {
  local want got
  want="/bin/busybox /bin/sh /bin/sleep /$1"
  [ "$1" = storage-initializer ] && want="$want /etc/hosts /etc/nsswitch.conf /etc/ssl/certs/ca-certificates.crt"
  want=$(tr ' ' '\n' <<<"$want" | sort)
  got=$(cd "$WORK/$1.rootfs" && find . ! -type d | sed 's/^\.//' | sort)
  [ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") | sed 's/^/  /' >&2; return 1; }
}

all_static() {
  local f
  for f in "$WORK/$1.rootfs/$1" "$WORK/$1.rootfs/bin/busybox"; do
    readelf -lW "$f" | grep -q 'Requesting program interpreter' && { echo "  $f is dynamic" >&2; return 1; }
  done
  return 0
}

# prepare ROOTFS: mount points a container runtime provides, then the root bound read-only, /proc and /dev in.
prepare() {
  local r=$1
  mkdir -p "$r/proc" "$r/dev" "$r/mnt/models" "$r/src" && { [ ! -d "$r/etc" ] || touch "$r/etc/resolv.conf"; } &&
    mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" &&
    mount -t proc proc "$r/proc" && mount --bind /dev "$r/dev"
}

# image_cmd NAME ENV... -- CMD...: sets RUN to the command that runs CMD in NAME's root as 8888:8888 with the
# image's ENV plus ENV, nothing else. `"${RUN[@]}" &` makes $! the entrypoint's own pid (env and chroot exec).
image_cmd() {
  local name=$1 extra=() image_env=(); shift
  while [ "$1" != -- ]; do extra+=("$1"); shift; done; shift
  mapfile -t image_env <"$WORK/$name.env"
  RUN=(env -i "${image_env[@]}" "${extra[@]}" "$CHROOT" --userspec=8888:8888 "$WORK/$name.rootfs" "$@")
}
in_image() { image_cmd "$@" && "${RUN[@]}"; }

pre_stop() { in_image "$1" -- /bin/sh -c "/bin/sleep 0"; }
root_read_only() { ! in_image "$1" -- /bin/sh -c ": > /probe" 2>/dev/null; }

for s in "${SERVERS[@]}"; do
  if [ ! -s "$WORK/$s.config.json" ]; then not_ok "$s: image built and exported"; continue; fi
  check "$s: size within ${LIMIT[$s]} bytes" size_ok "$s"
  check "$s: USER 8888, EXPOSE 9000 9500 6000, ENTRYPOINT only" config_facts "$s"
  check "$s: holds only the binary, busybox sh/sleep$([ "$s" = storage-initializer ] && echo ', CA bundle, nsswitch, hosts')" \
    only_expected_files "$s"
  check "$s: static executables" all_static "$s"
  if prepare "$WORK/$s.rootfs"; then ok "$s: root filesystem mounted read-only"; else not_ok "$s: mount root"; fi
  check "$s: preStop hook /bin/sh -c \"/bin/sleep 0\" as 8888" pre_stop "$s"
  check "$s: root filesystem not writable" root_read_only "$s"
done

# ---- storage-initializer image ---------------------------------------------------------------------------------
si=storage-initializer
mapfile -t si_entry <"$WORK/$si.entrypoint"
iris="$REPO/examples/iris"
# fetch_into DIR URI: DIR (an emptyDir: 0777) mounted at /mnt/models; the entrypoint with `URI /mnt/models`.
fetch_into() {
  mkdir -p "$1" && chmod 0777 "$1" && mount --bind "$1" "$WORK/$si.rootfs/mnt/models" || return 1
  local rc=0
  in_image "$si" -- "${si_entry[@]}" "$2" /mnt/models >"$WORK/$si.log" 2>&1 || rc=$?
  umount "$WORK/$si.rootfs/mnt/models"
  if [ "$rc" = 0 ] && cmp -s "$iris/model.joblib" "$1/model.joblib"; then return 0; fi
  sed 's/^/  | /' "$WORK/$si.log" >&2; return 1
}
mount --bind "$iris" "$WORK/$si.rootfs/src" && mount -o remount,bind,ro "$WORK/$si.rootfs/src"
check "$si: copies a local folder (/src → /mnt/models)" fetch_into "$WORK/models" /src
http_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$iris" "$http_port" >"$WORK/http.log" 2>&1 &
pids+=($!)
wait_tcp "$http_port" 10
check "$si: fetches http://localhost:$http_port/model.joblib (name resolution in the image)" \
  fetch_into "$WORK/models-http" "http://localhost:$http_port/model.joblib"
# DNS as in a pod: the runtime mounts /etc/resolv.conf; a loopback name server (images/dns-stub.py) answers A
# queries with 127.0.0.1, so a cluster-style name goes through static glibc's built-in dns module.
python3 "$here/dns-stub.py" >"$WORK/dns.log" 2>&1 &
pids+=($!)
echo "nameserver 127.0.0.1" >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" "$WORK/$si.rootfs/etc/resolv.conf"
sleep 0.2
check "$si: fetches http://minio.models.svc.cluster.local:$http_port/model.joblib (DNS via /etc/resolv.conf)" \
  fetch_into "$WORK/models-dns" "http://minio.models.svc.cluster.local:$http_port/model.joblib"

# ---- sklearn-server image, on the folder the initializer image filled ------------------------------------------
sk=sklearn-server
mapfile -t sk_entry <"$WORK/$sk.entrypoint"
if [ -f "$WORK/models/model.joblib" ]; then models="$WORK/models"; else models="$iris"; fi
mount --bind "$models" "$WORK/$sk.rootfs/mnt/models" && mount -o remount,bind,ro "$WORK/$sk.rootfs/mnt/models"
hp=$(free_port) gp=$(free_port) mp=$(free_port)
image_cmd "$sk" \
  PREDICTIVE_UNIT_SERVICE_PORT="$hp" PREDICTIVE_UNIT_HTTP_SERVICE_PORT="$hp" MLSERVER_HTTP_PORT="$hp" \
  PREDICTIVE_UNIT_GRPC_SERVICE_PORT="$gp" MLSERVER_GRPC_PORT="$gp" \
  PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"/mnt/models","type":"STRING"}]' \
  MLSERVER_MODEL_URI=/mnt/models PREDICTIVE_UNIT_ID=classifier MLSERVER_MODEL_NAME=classifier \
  PREDICTIVE_UNIT_IMAGE=oxserve/sklearn-server:test PREDICTOR_ID=default PREDICTOR_LABELS='{"version":"default"}' \
  SELDON_DEPLOYMENT_ID=iris-model SELDON_EXECUTOR_ENABLED=true \
  PREDICTIVE_UNIT_METRICS_SERVICE_PORT="$mp" PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus \
  MLSERVER_METRICS_PORT="$mp" MLSERVER_METRICS_ENDPOINT=/prometheus \
  -- "${sk_entry[@]}"
"${RUN[@]}" >"$WORK/$sk.log" 2>&1 &
server=$!
pids+=("$server")
if wait_tcp "$hp" 30 "$server"; then
  ok "$sk: ready (TCP connect to the HTTP port)"
  check "$sk: the seed's request answers the seed's numbers (1e-9)" seldon_seed "$hp" "$WORK/seldon.json"
  check "$sk: V2 infer answers the seed's numbers (1e-9)" v2_seed "$hp" classifier "$WORK/v2.json"
  check "$sk: metrics on :$mp/prometheus" get_ok "$mp" /prometheus
  check "$sk: SIGTERM exits 0" term_exits_zero "$server"
else
  not_ok "$sk: ready (TCP connect to the HTTP port)"; sed 's/^/  | /' "$WORK/$sk.log" | tail -n 20
fi

# ---- xgboost-server and lightgbm-server images, each on a committed fixture folder ------------------------------
# fixture_answers PORT EXPECTED TOL: the fixture's rows over Seldon v1 (every row, NaN as null) and V2 (the rows
# without NaN) answer expected.json's `predict` (what Booster.predict returned) within TOL.
fixture_answers() {
  python3 - "$1" "$2" "$3" <<'EOF'
import json, math, sys, urllib.request
port, exp, tol = sys.argv[1], json.load(open(sys.argv[2])), float(sys.argv[3])
def flat(v):
    return [y for x in v for y in flat(x)] if isinstance(v, list) else [math.nan if v is None else v]
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))
def close(got, want):
    return len(got) == len(want) and all(abs(g - w) <= tol + tol * abs(w) for g, w in zip(got, want))
rows, want = exp["X"], flat(exp["predict"])
width = len(want) // len(rows)
ok = True
got = flat(post("/api/v1.0/predictions", {"data": {"ndarray": rows}})["data"]["ndarray"])
if not close(got, want):
    print(f"  seldon: got {got}, want {want}", file=sys.stderr); ok = False
keep = [i for i, r in enumerate(rows) if all(v is not None and math.isfinite(v) for v in r)]
data = [v for i in keep for v in rows[i]]
reply = post("/v2/models/booster/infer",
             {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(keep), len(rows[0])], "data": data}]})
got, want = flat(reply["outputs"][0]["data"]), [want[i * width + k] for i in keep for k in range(width)]
if not close(got, want):
    print(f"  v2: got {got}, want {want}", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
EOF
}

# seldon_image NAME FIXTURE UNIT WHAT CHECK [ARGS...]: NAME's image serving the fixture folder (mounted read-only
# at /mnt/models) as Seldon's operator starts a model unit with id UNIT; once it is TCP-ready, `CHECK PORT ARGS...`
# must pass (reported as WHAT), then SIGTERM must exit 0.
seldon_image() {
  local name=$1 fixture=$2 unit=$3 what=$4 entry hp gp mp pid
  shift 4
  mapfile -t entry <"$WORK/$name.entrypoint"
  mount --bind "$fixture" "$WORK/$name.rootfs/mnt/models" && mount -o remount,bind,ro "$WORK/$name.rootfs/mnt/models"
  hp=$(free_port) gp=$(free_port) mp=$(free_port)
  image_cmd "$name" \
    PREDICTIVE_UNIT_SERVICE_PORT="$hp" PREDICTIVE_UNIT_HTTP_SERVICE_PORT="$hp" PREDICTIVE_UNIT_GRPC_SERVICE_PORT="$gp" \
    PREDICTIVE_UNIT_PARAMETERS='[{"name":"model_uri","value":"/mnt/models","type":"STRING"}]' \
    PREDICTIVE_UNIT_ID="$unit" PREDICTIVE_UNIT_IMAGE="oxserve/$name:test" PREDICTOR_ID=default \
    SELDON_DEPLOYMENT_ID="$unit-model" SELDON_EXECUTOR_ENABLED=true \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT="$mp" PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus \
    -- "${entry[@]}"
  "${RUN[@]}" >"$WORK/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  if wait_tcp "$hp" 30 "$pid"; then
    ok "$name: ready (TCP connect to the HTTP port)"
    local check_fn=$1
    shift
    check "$name: $what" "$check_fn" "$hp" "$@"
    check "$name: SIGTERM exits 0" term_exits_zero "$pid"
  else
    not_ok "$name: ready (TCP connect to the HTTP port)"; sed 's/^/  | /' "$WORK/$name.log" | tail -n 20
  fi
}
# tree_server NAME FIXTURE TOL: NAME's image on a tree fixture folder answers Booster.predict's values.
tree_server() {
  seldon_image "$1" "$2" booster "${2#"$REPO"/} answers Booster.predict's values ($3) over Seldon v1 and V2" \
    fixture_answers "$2/expected.json" "$3"
}
tree_server xgboost-server "$REPO/crates/xgboost/fixtures/cases/v17/multi-softprob" 1e-6
tree_server lightgbm-server "$REPO/crates/lightgbm/fixtures/cases/v4/multiclass" 1e-9

# ---- mlflow-server image, on a committed MLflow model folder -----------------------------------------------------
# mlflow_answers PORT EXPECTED: mlflow's `dataframe_split` body on /invocations, and the same rows as one FP64
# tensor over V2, answer what pyfunc.predict returned.
mlflow_answers() {
  python3 - "$1" "$2" <<'EOF'
import json, sys, urllib.request
port, exp = sys.argv[1], json.load(open(sys.argv[2]))
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body.encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))
split = next(i for i in exp["invocations"] if i["kind"] == "dataframe_split")
ok = True
got = post("/invocations", split["body"])["predictions"]
if got != exp["predict"]:
    print(f"  /invocations: got {got}, want {exp['predict']}", file=sys.stderr); ok = False
rows = exp["rows"]
v2 = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(rows[0])],
                  "data": [v for r in rows for v in r]}]}
got = post("/v2/models/mlflow/infer", json.dumps(v2))["outputs"][0]["data"]
if got != exp["predict"]:
    print(f"  v2: got {got}, want {exp['predict']}", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
EOF
}
mlflow_case="$REPO/crates/mlflow/fixtures/cases/sklearn_default"
if [ -s "$WORK/mlflow-server.config.json" ]; then
  seldon_image mlflow-server "$mlflow_case" mlflow "${mlflow_case#"$REPO"/} answers pyfunc.predict on /invocations and V2" \
    mlflow_answers "$mlflow_case.expected.json"
fi

echo "images/test-images.sh: $(($(date +%s) - T0)) s in all"
summary
