#!/usr/bin/env bash
# Installs the load generators scripts/bench-http.sh drives: wrk (HTTP/1.1) and h2load (HTTP/2 and gRPC, from
# nghttp2-client), from Debian's packages. Profiling (scripts/profile-http.sh) also wants perf (linux-perf) and
# inferno (cargo install inferno).
set -euo pipefail
if command -v wrk >/dev/null && command -v h2load >/dev/null; then exit 0; fi
apt-get update -qq
apt-get install -y -qq wrk nghttp2-client
