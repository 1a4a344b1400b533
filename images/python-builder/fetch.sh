#!/usr/bin/env bash
# images/python-builder/fetch.sh [--check]: downloads what stage.sh and images/test-python-image.sh build
# from, into a cache (default target/python-builder, or $OXSERVE_PYTHON_BUILDER_CACHE) that later runs reuse:
#   debs/    the Debian packages of packages.txt (`apt-get download`: the candidate versions of this machine's
#            bookworm lists; `apt-get update` once when a download fails and this is root)
#   wheels/  the wheels of wheels.txt for CPython 3.11 on x86_64 glibc (`pip download`, binary only; any pip)
#   rootfs/  debs/ unpacked into the base of the builder image's root filesystem (below)
# A stamp made from both lists and this script marks a complete cache: a second run with none of them changed
# downloads nothing.
# Prints the cache folder on its last line. Network: Debian's mirrors and PyPI only. `--check` downloads
# nothing: exit 0 and the folder when the cache is complete, else exit 1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="${OXSERVE_PYTHON_BUILDER_CACHE:-$repo/target/python-builder}"

list() { sed 's/#.*//; /^[[:space:]]*$/d' "$1"; }
stamp=$({ list "$here/packages.txt"; list "$here/wheels.txt"; cat "$here/fetch.sh"; } | sha256sum | cut -c1-16)
if [ -f "$cache/.ok-$stamp" ]; then echo "$cache"; exit 0; fi
[ "${1:-}" != --check ] || exit 1

mkdir -p "$cache"
rm -rf "$cache/debs" "$cache/wheels" "$cache/rootfs" "$cache"/.ok-* "$cache"/*.tmp
mkdir -p "$cache/debs.tmp"
mapfile -t pkgs < <(list "$here/packages.txt")
if ! (cd "$cache/debs.tmp" && apt-get download -qq "${pkgs[@]}" 2>/dev/null); then
  [ "$(id -u)" = 0 ] || { echo "fetch.sh: apt-get download failed (and apt-get update needs root)" >&2; exit 1; }
  apt-get update -qq
  (cd "$cache/debs.tmp" && apt-get download -qq "${pkgs[@]}")
fi
mv "$cache/debs.tmp" "$cache/debs"

py=$(command -v python3)
mapfile -t reqs < <(list "$here/wheels.txt")
"$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
  --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$cache/wheels.tmp" "${reqs[@]}"
mv "$cache/wheels.tmp" "$cache/wheels"

# rootfs/: the packages unpacked on a merged /usr, docs, manuals, locales and glibc's iconv modules left out, the
# standard library compiled to .pyc here (the image's user cannot write beside it). stage.sh copies it.
r="$cache/rootfs.tmp"
mkdir -p "$r"/usr/{bin,lib,lib64,sbin}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$r/$d"; done
for deb in "$cache"/debs/*.deb; do
  dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$r"
done
rm -rf "$r"/usr/share/{doc,man,info,locale,lintian,bug} "$r"/usr/lib/x86_64-linux-gnu/gconv
py311=$(command -v python3.11 || true)
[ -n "$py311" ] || { echo "fetch.sh: need a python3.11 to compile the standard library's .pyc" >&2; exit 1; }
"$py311" -m compileall -q -j 0 -s "$r" -p / "$r/usr/lib/python3.11" >/dev/null
mv "$r" "$cache/rootfs"
touch "$cache/.ok-$stamp"
echo "$cache"
