#!/usr/bin/env bash
# images/build.sh SERVER... [--tag T] [--repo R] [--no-image]
#
# Builds oxserve's FROM-scratch images: first every requested binary in ONE cargo invocation (own target dir
# target/images, so the workspace's normal builds stay valid), then one image per server with podman (or docker
# when its engine answers).
#
#   SERVER     sklearn-server | xgboost-server | lightgbm-server | mlflow-server | onnx-server | candle-server |
#              oxserve | storage-initializer | all
#   --tag T    image tag (default: the workspace version); a T containing `:` or `/` is a whole image
#              reference (only with one SERVER)
#   --repo R   image name prefix (default $OXSERVE_IMAGE_REPO or `oxserve`): images are R/SERVER:T
#   --no-image build and stage the binaries only (no container engine needed)
#
# Env: ENGINE=podman|docker to choose; PODMAN_FLAGS (e.g. `--storage-driver vfs`) for podman's global flags;
# OXSERVE_IMAGES_TARGET_DIR to keep the release build outside the checkout (a CI cache between fresh clones).
# Prints one line per image: `image REF SIZE_BYTES`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

declare -A PKG=([sklearn-server]=oxserve-sklearn-server [onnx-server]=oxserve-onnx-server
  [candle-server]=oxserve-candle-server [storage-initializer]=oxserve-storage
  [xgboost-server]=oxserve-xgboost-server [lightgbm-server]=oxserve-lightgbm-server
  [mlflow-server]=oxserve-mlflow-server [oxserve]=oxserve-server)
# onnx-server and oxserve load ONNX Runtime (a C++ shared library) at run time: a static glibc executable cannot
# dlopen it safely, so they are dynamic executables and their images carry the loader and the libraries `ldd`
# names. Every other binary is a static-pie executable.
declare -A DYNAMIC=([onnx-server]=1 [oxserve]=1)
ORT_VERSION=1.31.1
TRIPLE=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${OXSERVE_IMAGES_TARGET_DIR:-$repo/target/images}"

servers=() tag="" image_repo="${OXSERVE_IMAGE_REPO:-oxserve}" build_image=1
while (($#)); do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --repo) image_repo="${2:?--repo needs a value}"; shift 2 ;;
    --no-image) build_image=0; shift ;;
    all) servers+=(sklearn-server xgboost-server lightgbm-server mlflow-server onnx-server candle-server oxserve
           storage-initializer); shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *)
      [ -n "${PKG[$1]:-}" ] || { echo "build.sh: unknown server \`$1\`; known: ${!PKG[*]} all" >&2; exit 2; }
      servers+=("$1"); shift ;;
  esac
done
((${#servers[@]})) || { echo "usage: images/build.sh SERVER... [--tag T] [--repo R] [--no-image]" >&2; exit 2; }
if [[ "$tag" == *[:/]* ]] && ((${#servers[@]} > 1)); then
  echo "build.sh: a whole image reference in --tag needs exactly one SERVER" >&2; exit 2
fi
[ -n "$tag" ] || tag=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

# --- the binaries: two cargo runs in one target dir, symbols stripped ------------------------------------------
# Every crate is compiled with the same RUSTFLAGS and profile, so the static and the dynamic executables share one
# set of dependency rlibs; images/rustc-static.sh adds `+crt-static` to the static servers' own binary crates only,
# where rustc links them as static-pie executables.
# `oxserve` gets a cargo run of its own, after the others: one run resolves features once for every package it
# builds, and `oxserve` turns on `oxserve-mlflow-server/transformers` (candle), which would then be linked into the
# single-format `mlflow-server` too. Its own run reuses every rlib whose features are the same and compiles only
# the crates whose features differ (the mlflow library with candle, and what depends on it).
# RELR packs the relative relocations (~0.5 MB less per static binary; glibc 2.36+, binutils 2.38+); one codegen
# unit lets LLVM drop and merge more (sklearn-server stays within its size limit).
declare -A OWN_RUN=([oxserve]=1)
args=() own_args=() static_bins=()
for s in "${servers[@]}"; do
  if [ -n "${OWN_RUN[$s]:-}" ]; then own_args+=(-p "${PKG[$s]}" --bin "$s"); else args+=(-p "${PKG[$s]}" --bin "$s"); fi
  [ -n "${DYNAMIC[$s]:-}" ] || static_bins+=("${s//-/_}")
done
# The static set is fixed by the table above (cargo does not see it): a binary never switches kind in one target dir.
images_cargo() {
  RUSTFLAGS='-C link-arg=-Wl,-z,pack-relative-relocs' CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 RUSTC_WORKSPACE_WRAPPER="$repo/images/rustc-static.sh" \
    OXSERVE_STATIC_BINS="${static_bins[*]}" cargo build --release --locked --target "$TRIPLE" "$@"
}
if ((${#args[@]})); then images_cargo "${args[@]}"; fi
if ((${#own_args[@]})); then images_cargo "${own_args[@]}"; fi
need_ort=0
for s in "${servers[@]}"; do [ -z "${DYNAMIC[$s]:-}" ] || need_ort=1; done
if ((need_ort)); then
  ort_lib=$("$repo/scripts/fetch-onnxruntime.sh" | tail -n1)
  [ -f "$ort_lib" ] || { echo "build.sh: ONNX Runtime not found (scripts/fetch-onnxruntime.sh printed \`$ort_lib\`)" >&2; exit 1; }
fi

busybox=$(command -v busybox || true)
[ -z "$busybox" ] && [ -x /bin/busybox ] && busybox=/bin/busybox
is_static() { ! readelf -lW "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; }

# --- one build context per server: exactly the files the image holds ------------------------------------------
stage() {
  local s=$1 ctx="$CARGO_TARGET_DIR/context/$1" bin="$CARGO_TARGET_DIR/$TRIPLE/release/$1"
  if [ -z "${DYNAMIC[$s]:-}" ]; then
    is_static "$bin" || { echo "build.sh: $bin is not a static executable" >&2; exit 1; }
  elif is_static "$bin"; then
    echo "build.sh: $bin is static but loads ONNX Runtime: it must be dynamic" >&2; exit 1
  fi
  [ -n "$busybox" ] && is_static "$busybox" || {
    echo "build.sh: need a static busybox for the preStop hook (apt-get install busybox-static)" >&2; exit 1; }
  rm -rf "$ctx"; mkdir -p "$ctx/bin"
  cp "$bin" "$ctx/$s"
  # The operator's preStop hook runs `/bin/sh -c "/bin/sleep 10"`: busybox provides just those two applets.
  cp "$busybox" "$ctx/bin/busybox"
  ln -s busybox "$ctx/bin/sh"; ln -s busybox "$ctx/bin/sleep"
  if [ -n "${DYNAMIC[$s]:-}" ]; then
    # ONNX Runtime where the Containerfile's ORT_DYLIB_PATH points, then the loader and every library the
    # binary and ONNX Runtime need, at the paths the loader looks in.
    mkdir -p "$ctx/usr/lib/oxserve"
    cp "$ort_lib" "$ctx/usr/lib/oxserve/libonnxruntime.so.$ORT_VERSION"
    local lib
    for lib in $(ldd "$bin" "$ort_lib" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u); do
      mkdir -p "$ctx$(dirname "$lib")"
      cp -L "$lib" "$ctx$lib"
    done
  fi
  if [ "$s" = storage-initializer ]; then
    mkdir -p "$ctx/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/etc/ssl/certs/ca-certificates.crt"
    # Static glibc resolves host names with its built-in files and dns modules; say which, in which order.
    # Kubernetes (and podman) mount their own /etc/hosts and /etc/resolv.conf over these.
    printf 'hosts: files dns\n' >"$ctx/etc/nsswitch.conf"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$ctx/etc/hosts"
  fi
  chmod -R a+rX,go-w "$ctx"
}
for s in "${servers[@]}"; do stage "$s"; done
((build_image)) || exit 0

# --- the images ---------------------------------------------------------------------------------------------
# shellcheck source=images/lib.sh
source "$repo/images/lib.sh"
container_engine build.sh
eng=("${ENG[@]}")
for s in "${servers[@]}"; do
  if [[ "$tag" == *[:/]* ]]; then ref=$tag; else ref="$image_repo/$s:$tag"; fi
  old_id=$("${eng[@]}" image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
  "${eng[@]}" build -q -f "$repo/images/$s/Containerfile" -t "$ref" \
    --label "org.opencontainers.image.version=$tag" "$CARGO_TARGET_DIR/context/$s" >/dev/null
  # A rebuild leaves the previous image untagged; drop it unless something still uses it.
  new_id=$("${eng[@]}" image inspect --format '{{.Id}}' "$ref")
  [ -z "$old_id" ] || [ "$old_id" = "$new_id" ] || "${eng[@]}" rmi "$old_id" >/dev/null 2>&1 || true
  echo "image $ref $("${eng[@]}" image inspect --format '{{.Size}}' "$ref")"
done
