#!/usr/bin/env bash
# Installs what images/build.sh and images/test-*.{sh,py} need: podman (daemonless, rootful, vfs storage),
# a static busybox for the operator's preStop hook (`/bin/sh -c "/bin/sleep 10"`), Debian's CA bundle for the
# storage initializer's image, and PyYAML in the git-ignored venv `.venv-images` for images/test-manifests.py.
# Idempotent and quick when everything is there. Needs root for apt-get (as on the project's machines); without
# root and without the tools it says so and exits 0, so images/test-images.sh then prints SKIPPED.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(podman busybox-static ca-certificates uidmap crun)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install-image-tools: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install-image-tools: missing ${missing[*]} and cannot apt-get install (not root or no apt); image tests will be skipped"
  fi
fi

venv="$repo/.venv-images"
if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'PyYAML==6.0.2'
fi
echo "install-image-tools: ok ($(podman --version 2>/dev/null || echo 'no podman'))"
