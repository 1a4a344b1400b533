#!/usr/bin/env bash
# images/rustc-static.sh RUSTC ARGS...: cargo's RUSTC_WORKSPACE_WRAPPER for images/build.sh.
#
# Runs rustc as cargo asked, adding `-C target-feature=+crt-static` to the compilation of the binary crates named
# in OXSERVE_STATIC_BINS (crate names, `sklearn_server`, space-separated) and to nothing else. The binary crate's
# compilation is where rustc links, so those executables come out static-pie, while every library (the
# workspace's, passed through unchanged, and its dependencies', which cargo does not pass through a workspace
# wrapper) is compiled once with the same flags for static and dynamic executables alike: one cargo run, one
# feature resolution, one set of rlibs.
# (`cargo rustc -p PKG --bin BIN -- FLAGS` reaches only the final crate too, but one package per run: each run
# resolves features for its own package, and serde, serde_json and regex-automata then differ between the
# servers, so every run recompiles most dependencies.)
rustc=$1
shift
name="" type="" prev=""
for arg in "$@"; do
  case "$prev" in
    --crate-name) name=$arg ;;
    --crate-type) type=$arg ;;
  esac
  prev=$arg
done
if [ "$type" = bin ] && [ -n "$name" ] && [[ " ${OXSERVE_STATIC_BINS:-} " == *" $name "* ]]; then
  exec "$rustc" "$@" -C target-feature=+crt-static
fi
exec "$rustc" "$@"
