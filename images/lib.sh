# Shared by images/test-images.sh and images/test-pod-contract.sh (sourced, not run).
# Counters and `N passed, N failed`, loopback helpers, the seed's request and numbers, and the private network
# namespace the tests run in so the servers (which bind 0.0.0.0, as in a pod) are reachable only on this loopback.

PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
# check NAME CMD...: runs CMD; passes on exit 0.
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" = 0 ]; }

# The seed's request and the reply's numbers (Seldon's published iris example, `[1,2,3,4]`).
SEED_BODY='{ "data": { "ndarray": [1,2,3,4] } }'
SEED_PROBA='[0.0006985194531162866, 0.003668039039435028, 0.9956334415074487]'

# A free TCP port on 127.0.0.1 (the kernel picks; nothing holds it afterwards).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_tcp PORT SECONDS [PID]: what the operator's readiness probe does, a TCP connect to the HTTP port;
# polled every 0.05 s. Fails early when PID (the server) has exited.
wait_tcp() {
  local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# seed_matches FILE: the Seldon v1 reply in FILE carries the seed's probabilities to 1e-9.
seed_matches() {
  python3 - "$1" "$SEED_PROBA" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))["data"]["ndarray"]
want = [json.loads(sys.argv[2])]
ok = len(got) == 1 and len(got[0]) == 3 and all(abs(g - w) <= 1e-9 for g, w in zip(got[0], want[0]))
if not ok:
    print(f"  got {got}, want {want}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

# v2_seed_matches FILE: the V2 reply's first output holds the seed's probabilities to 1e-9.
v2_seed_matches() {
  python3 - "$1" "$SEED_PROBA" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))["outputs"][0]
want = json.loads(sys.argv[2])
ok = len(out["data"]) == 3 and all(abs(g - w) <= 1e-9 for g, w in zip(out["data"], want))
if not ok:
    print(f"  got {out}, want {want}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

# post_json PORT PATH BODY OUT: POST on loopback; exit 0 on HTTP 200.
post_json() {
  local code
  code=$(curl -sS -o "$4" -w '%{http_code}' --max-time 10 -X POST "http://127.0.0.1:$1$2" \
    -H 'Content-Type: application/json' -d "$3") || return 1
  [ "$code" = 200 ] || { echo "  HTTP $code: $(head -c 300 "$4")" >&2; return 1; }
}

# seldon_seed PORT OUT: the seed's request on Seldon's route answers the seed's numbers.
seldon_seed() { post_json "$1" /api/v1.0/predictions "$SEED_BODY" "$2" && seed_matches "$2"; }
# v2_seed PORT MODEL OUT: the seed's row as a V2 FP64 tensor answers the seed's numbers.
v2_seed() {
  post_json "$1" "/v2/models/$2/infer" \
    '{"inputs":[{"name":"predict","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}' "$3" && v2_seed_matches "$3"
}

# get_ok PORT PATH: GET on loopback answers 200.
get_ok() { [ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$1$2")" = 200 ]; }

# term_exits_zero PID: SIGTERM, then the process must exit 0 within 10 s (the pod's grace period is 20 s).
term_exits_zero() {
  local pid=$1 rc i
  kill -TERM "$pid" 2>/dev/null || return 1
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; return 1; fi
  wait "$pid"; rc=$?
  [ "$rc" = 0 ] || echo "  exit status $rc" >&2
  [ "$rc" = 0 ]
}

# private_net_ok: this is root and `unshare` can make network, mount and PID namespaces. Then run_private
# SCRIPT ARGS... runs SCRIPT there as PID 1: loopback only, its mounts vanish with it, and every process it
# started is killed by the kernel when it exits. Otherwise callers run in place.
UNSHARE=(unshare --net --mount --pid --fork --mount-proc --propagation private)
private_net_ok() {
  [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
    "${UNSHARE[@]}" true 2>/dev/null
}
run_private() { OXSERVE_PRIVATE_NET=1 "${UNSHARE[@]}" -- bash "$@"; }

# Inside the namespace: bring loopback up. Outside one, servers must be told to bind loopback only.
net_setup() {
  if [ -n "${OXSERVE_PRIVATE_NET:-}" ]; then
    ip link set lo up
    HOST_ENV=()
  else
    echo "note: no private network namespace (needs root and unshare); binding the servers to 127.0.0.1"
    HOST_ENV=(OXSERVE_HOST=127.0.0.1)
  fi
}

# ro_bind SRC DST: bind SRC on DST read-only (root, in the private mount namespace); else copy and chmod a-w.
ro_bind() {
  if [ -n "${OXSERVE_PRIVATE_NET:-}" ]; then
    mount --bind "$1" "$2" && mount -o remount,bind,ro "$2"
  else
    { [ "$1" -ef "$2" ] || cp -a "$1/." "$2/"; } && chmod -R a-w "$2"
  fi
}

# container_engine WHO: sets ENG to the container engine's command (ENGINE=podman|docker, else podman, then docker,
# whichever answers; podman with PODMAN_FLAGS); without one, says so as WHO and exits 3.
container_engine() {
  local engine="${ENGINE:-}"
  if [ -z "$engine" ]; then
    if command -v podman >/dev/null && podman ${PODMAN_FLAGS:-} info >/dev/null 2>&1; then engine=podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
    else echo "$1: no working podman or docker (run scripts/install-image-tools.sh)" >&2; exit 3; fi
  fi
  ENG=("$engine"); [ "$engine" = podman ] && ENG+=(${PODMAN_FLAGS:-})
}
