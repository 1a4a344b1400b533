#!/usr/bin/env bash
# images/python-builder/stage.sh BIN CTX: lays out the builder image's build context in CTX (emptied first) for
# images/python-builder/Containerfile, from fetch.sh's cache (fetched if missing) and BIN, an
# oxserve-microservice linked against libpython3.11 (the image carries Debian bookworm's):
#   CTX/rootfs  owned by root: fetch.sh's rootfs (packages.txt's Debian packages unpacked on a merged /usr, the
#               standard library compiled to .pyc); a static busybox for /bin/sh, tar and the few commands s2i and the
#               s2i scripts call; /usr/local/bin/oxserve-microservice (debug info stripped); /usr/libexec/s2i/*;
#               /etc/passwd and /etc/group naming the user 8888, /etc/nsswitch.conf; /tmp
#   CTX/app     owned by 8888 in the image: /opt/app-root, a venv on /usr/bin/python3.11 holding pip (what
#               `assemble` installs requirements.txt into; VIRTUAL_ENV, which oxserve-microservice reads), and the
#               empty /microservice
# Used by images/python-builder/build.sh (release binary) and images/test-python-image.sh (the test build's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: stage.sh BIN CTX}
ctx=${2:?usage: stage.sh BIN CTX}
[ -x "$bin" ] || { echo "stage.sh: $bin is not an executable" >&2; exit 1; }
cache=$("$here/fetch.sh" | tail -n1)
busybox=$(command -v busybox || true)
[ -z "$busybox" ] && [ -x /bin/busybox ] && busybox=/bin/busybox
if [ -z "$busybox" ] || readelf -lW "$busybox" | grep -q 'Requesting program interpreter'; then
  echo "stage.sh: need a static busybox (apt-get install busybox-static)" >&2; exit 1
fi

rm -rf "$ctx"
r="$ctx/rootfs" app="$ctx/app"
mkdir -p "$ctx" "$app/microservice"
cp -a "$cache/rootfs" "$r"
mkdir -p "$r/usr/local/bin" "$r/usr/libexec/s2i" "$r/etc" "$r/tmp"

cp "$busybox" "$r/usr/bin/busybox"
for a in sh sleep cat cp mv rm ln ls mkdir chmod env id tar find grep sed head tail test true false; do
  ln -s busybox "$r/usr/bin/$a"
done
ln -s python3.11 "$r/usr/bin/python3"
cp "$bin" "$r/usr/local/bin/oxserve-microservice"
strip --strip-debug "$r/usr/local/bin/oxserve-microservice"
cp "$here"/s2i/bin/* "$r/usr/libexec/s2i/"
chmod 0755 "$r"/usr/libexec/s2i/*
printf 'root:x:0:0:root:/root:/bin/sh\nmicroservice:x:8888:0:microservice:/microservice:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
# glibc's built-in files and dns modules, in that order (pip reaching an index; the runtime mounts hosts/resolv.conf).
printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"

# The venv: what `python3 -m venv --without-pip` writes, then pip unpacked from its wheel (a wheel is a zip of
# its installed files) with the two scripts its entry points name.
venv="$app/opt/app-root"
version=$(basename "$cache"/debs/python3.11-minimal_*.deb | sed 's/^python3.11-minimal_\([0-9.]*\).*/\1/')
mkdir -p "$venv/bin" "$venv/lib/python3.11/site-packages"
ln -s lib "$venv/lib64"
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' "$version" >"$venv/pyvenv.cfg"
ln -s /usr/bin/python3.11 "$venv/bin/python3"
ln -s python3 "$venv/bin/python"
ln -s python3 "$venv/bin/python3.11"
python3 -m zipfile -e "$cache"/wheels/pip-*.whl "$venv/lib/python3.11/site-packages"
for s in pip pip3; do
  printf '#!/opt/app-root/bin/python3\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' \
    >"$venv/bin/$s"
  chmod 0755 "$venv/bin/$s"
done
chmod 1777 "$r/tmp"
chmod -R a+rX,go-w "$r/usr" "$r/etc" "$app"
