#!/usr/bin/env bash
# images/test-pod-contract.sh: what Seldon's operator does for a prepackaged SKLEARN_SERVER, with real processes
# on loopback and no containers. The init container step: `storage-initializer <modelUri> <pod>/mnt/models` with
# only the env an `envSecretRefName` secret gives (local path, file:// and http://localhost URIs); the folder made
# read-only; then sklearn-server with exactly the env the operator sets (seldon-v1-details §1.4, and §1.7 for the
# v2 protocol), readiness as the probes do it (TCP connect to the HTTP port; GET /v2/health/ready for v2), the
# seed's request compared with the seed's numbers to 1e-9, and SIGTERM → exit 0.
#
# Binaries: $OXSERVE_BIN_DIR if set (e.g. target/images/x86_64-unknown-linux-gnu/release), else a debug build.
# As root it runs in private network + mount namespaces and as UID 8888 (like the pod); prints `N passed, N failed`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=images/lib.sh
source "$here/lib.sh"

if [ "${1:-}" != --inside ]; then
  if [ -n "${OXSERVE_BIN_DIR:-}" ]; then
    bin_dir=$(cd "$OXSERVE_BIN_DIR" && pwd)
  else
    (cd "$repo" && cargo build -q --locked -p oxserve-sklearn-server --bin sklearn-server \
      -p oxserve-storage --bin storage-initializer) || { echo "0 passed, 1 failed (cargo build)"; exit 1; }
    bin_dir="${CARGO_TARGET_DIR:-$repo/target}/debug"
  fi
  work=$(mktemp -d /tmp/oxserve-pod.XXXXXX)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  chmod 0755 "$work"
  export BIN_DIR=$bin_dir WORK=$work REPO=$repo
  if private_net_ok; then run_private "$0" --inside; else bash "$0" --inside; fi
  exit $?
fi

# ---- inside: loopback only --------------------------------------------------------------------------------
net_setup
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
as_pod_user=()
[ "$(id -u)" = 0 ] && as_pod_user=(setpriv --reuid=8888 --regid=8888 --clear-groups)
iris="$REPO/examples/iris"

# The secret an `envSecretRefName` would attach to the init container (envFrom): a MinIO remote in rclone's
# convention. It must not disturb URIs that don't name that remote.
secret="$WORK/secret.env"
cat >"$secret" <<'EOF'
RCLONE_CONFIG_S3_TYPE=s3
RCLONE_CONFIG_S3_PROVIDER=minio
RCLONE_CONFIG_S3_ENV_AUTH=false
RCLONE_CONFIG_S3_ACCESS_KEY_ID=minioadmin
RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=minioadmin
RCLONE_CONFIG_S3_ENDPOINT=http://127.0.0.1:9
EOF
mapfile -t secret_env <"$secret"

# init_container NAME URI: a fresh pod folder with an emptyDir-like /mnt/models (mode 0777), the initializer run
# with the secret's env only; then the model file must be there, byte for byte.
init_container() {
  local pod="$WORK/$1" log="$WORK/$1-init.log"
  mkdir -p "$pod/mnt/models" && chmod 0777 "$pod/mnt/models"
  if env -i "${secret_env[@]}" "${as_pod_user[@]}" "$BIN_DIR/storage-initializer" "$2" "$pod/mnt/models" \
    >"$log" 2>&1 && cmp -s "$iris/model.joblib" "$pod/mnt/models/model.joblib"; then
    return 0
  fi
  sed 's/^/  | /' "$log" >&2; ls -la "$pod/mnt/models" >&2; return 1
}

check "initializer: local path URI" init_container local "$iris"
check "initializer: file:// URI" init_container file "file://$iris"
http_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$iris" "$http_port" >"$WORK/http.log" 2>&1 &
pids+=($!)
wait_tcp "$http_port" 10
check "initializer: http://localhost URI (loopback server, host name)" \
  init_container http "http://localhost:$http_port/model.joblib"

models="$WORK/local/mnt/models"
ro_bind "$models" "$models"
read_only() { ! "${as_pod_user[@]}" touch "$1/x" 2>/dev/null; }
check "model folder is read-only to the server" read_only "$models"

# start_server NAME ENV...: sklearn-server with exactly ENV (plus a loopback bind when no private net).
start_server() {
  local name=$1; shift
  env -i "$@" "${HOST_ENV[@]}" "${as_pod_user[@]}" "$BIN_DIR/sklearn-server" >"$WORK/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
show_log() { sed 's/^/  | /' "$WORK/$1.log" | tail -n 20 >&2; }

# ---- protocol seldon: the default-server path (§1.4), env in the operator's order ---------------------------
hp=$(free_port) gp=$(free_port) mp=$(free_port)
start_server seldon \
  PREDICTIVE_UNIT_SERVICE_PORT="$hp" \
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT="$hp" \
  MLSERVER_HTTP_PORT="$hp" \
  PREDICTIVE_UNIT_GRPC_SERVICE_PORT="$gp" \
  MLSERVER_GRPC_PORT="$gp" \
  PREDICTIVE_UNIT_PARAMETERS="[{\"name\":\"model_uri\",\"value\":\"$models\",\"type\":\"STRING\"}]" \
  MLSERVER_MODEL_URI="$models" \
  PREDICTIVE_UNIT_ID=classifier \
  MLSERVER_MODEL_NAME=classifier \
  PREDICTIVE_UNIT_IMAGE=oxserve/sklearn-server:0.1.0 \
  PREDICTOR_ID=default \
  PREDICTOR_LABELS='{"version":"default"}' \
  SELDON_DEPLOYMENT_ID=iris-model \
  SELDON_EXECUTOR_ENABLED=true \
  PREDICTIVE_UNIT_METRICS_SERVICE_PORT="$mp" \
  PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus \
  MLSERVER_METRICS_PORT="$mp" \
  MLSERVER_METRICS_ENDPOINT=/prometheus
if wait_tcp "$hp" 30 "$server_pid"; then
  ok "seldon: readiness probe (TCP connect to the HTTP port)"
  check "seldon: the seed's request answers the seed's numbers (1e-9)" seldon_seed "$hp" "$WORK/seldon.json"
  check "seldon: gRPC port accepts connections" wait_tcp "$gp" 5
  check "seldon: metrics at :PREDICTIVE_UNIT_METRICS_SERVICE_PORT/prometheus" get_ok "$mp" /prometheus
  check "seldon: SIGTERM exits 0" term_exits_zero "$server_pid"
else
  not_ok "seldon: readiness probe (TCP connect to the HTTP port)"; show_log seldon
fi

# ---- protocol v2: the MLServer path (§1.7) on the folder the HTTP download filled -----------------------------
v2_models="$WORK/http/mnt/models"
ro_bind "$v2_models" "$v2_models"
hp=$(free_port) gp=$(free_port) mp=$(free_port)
start_server v2 \
  PREDICTIVE_UNIT_SERVICE_PORT="$hp" \
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT="$hp" \
  MLSERVER_HTTP_PORT="$hp" \
  PREDICTIVE_UNIT_GRPC_SERVICE_PORT="$gp" \
  MLSERVER_GRPC_PORT="$gp" \
  MLSERVER_MODEL_URI="$v2_models" \
  PREDICTIVE_UNIT_ID=classifier \
  MLSERVER_MODEL_NAME=classifier \
  PREDICTIVE_UNIT_IMAGE=oxserve/sklearn-server:0.1.0 \
  PREDICTOR_ID=default \
  PREDICTOR_LABELS='{"version":"default"}' \
  SELDON_DEPLOYMENT_ID=iris-model \
  SELDON_EXECUTOR_ENABLED=true \
  PREDICTIVE_UNIT_METRICS_SERVICE_PORT="$mp" \
  PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus \
  MLSERVER_METRICS_PORT="$mp" \
  MLSERVER_METRICS_ENDPOINT=/prometheus \
  MLSERVER_MODEL_IMPLEMENTATION=mlserver_sklearn.SKLearnModel \
  MLSERVER_MODEL_VERSION=v1
ready=0
if wait_tcp "$hp" 30 "$server_pid"; then
  for _ in $(seq 100); do get_ok "$hp" /v2/health/ready && { ready=1; break; }; sleep 0.05; done
fi
if ((ready)); then
  ok "v2: readiness probe (GET /v2/health/ready)"
  check "v2: the seed's input on /v2/models/classifier/infer answers the seed's numbers (1e-9)" \
    v2_seed "$hp" classifier "$WORK/v2.json"
  check "v2: SIGTERM exits 0" term_exits_zero "$server_pid"
else
  not_ok "v2: readiness probe (GET /v2/health/ready)"; show_log v2
fi

summary
