#!/usr/bin/env bash
# images/python-builder/build.sh [--tag T] [--repo R]: builds the builder image R/python-builder:T (default
# $OXSERVE_IMAGE_REPO or `oxserve`, and the workspace version) for real use: a release oxserve-microservice
# linked against Debian's CPython 3.11 (PYO3_PYTHON=/usr/bin/python3.11, the libpython3.11 the image carries;
# needs Debian bookworm's python3.11-dev here), in its own target dir (target/images/python, or
# $OXSERVE_IMAGES_TARGET_DIR/python), then stage.sh and podman (or docker, ENGINE=). Prints `image REF SIZE_BYTES`.
# Not run by CI: images/test-python-image.sh builds the same image on the test build's binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tag="" image_repo="${OXSERVE_IMAGE_REPO:-oxserve}"
while (($#)); do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --repo) image_repo="${2:?--repo needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: images/python-builder/build.sh [--tag T] [--repo R]" >&2; exit 2 ;;
  esac
done
[ -n "$tag" ] || tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
export CARGO_TARGET_DIR="${OXSERVE_IMAGES_TARGET_DIR:-$repo/target/images}/python"
[ -x /usr/bin/python3.11 ] || { echo "build.sh: needs Debian bookworm's /usr/bin/python3.11 (and python3.11-dev)" >&2; exit 1; }
(cd "$repo" && PYO3_PYTHON=/usr/bin/python3.11 CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked -p oxserve-python-server --bin oxserve-microservice)
ctx="$CARGO_TARGET_DIR/context/python-builder"
"$here/stage.sh" "$CARGO_TARGET_DIR/release/oxserve-microservice" "$ctx"

# shellcheck source=images/lib.sh
source "$repo/images/lib.sh"
container_engine build.sh
eng=("${ENG[@]}")
ref="$image_repo/python-builder:$tag"
"${eng[@]}" build -q -f "$here/Containerfile" -t "$ref" --label "org.opencontainers.image.version=$tag" "$ctx" >/dev/null
echo "image $ref $("${eng[@]}" image inspect --format '{{.Size}}' "$ref")"
