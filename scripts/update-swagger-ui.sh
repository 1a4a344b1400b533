#!/usr/bin/env bash
# Refreshes the Swagger UI assets compiled into the runtime (crates/runtime/assets/swagger-ui/) from the npm
# package `swagger-ui-dist`. Only the files the page needs are kept: the bundle, its CSS, and the licences.
# index.html and swagger-initializer.js there are ours and are left alone.
#   scripts/update-swagger-ui.sh [VERSION]   (default: the pinned one below)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-5.35.0}
dest="$repo/crates/runtime/assets/swagger-ui"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tar -xzf "$tmp"/swagger-ui-dist-*.tgz -C "$tmp"
mkdir -p "$dest"
# The source map is not shipped, so drop the comment that points at it (browsers would ask for it).
sed '/^\/\/# sourceMappingURL=/d' "$tmp/package/swagger-ui-bundle.js" >"$dest/swagger-ui-bundle.js"
sed '/sourceMappingURL=/d' "$tmp/package/swagger-ui.css" >"$dest/swagger-ui.css"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/NOTICE" "$dest/NOTICE"
cp "$tmp/package/swagger-ui-bundle.js.LICENSE.txt" "$dest/swagger-ui-bundle.js.LICENSE.txt"
echo "$version" >"$dest/VERSION"
echo "swagger-ui-dist $version -> $dest"
ls -l "$dest"
