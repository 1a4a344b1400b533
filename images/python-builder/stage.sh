#!/usr/bin/env bash
# images/python-builder/stage.sh BIN CTX: lays out the builder image's build context in CTX (emptied first) for
# images/python-builder/Containerfile, from fetch.sh's cache (fetched if missing) and BIN, an
# oxserve-microservice linked against libpython3.11 (the image carries Debian bookworm's):
#   CTX/rootfs  owned by root: merged /usr; the files of packages.txt's Debian packages (docs, manuals, locales
#               and glibc's iconv modules left out; the standard library compiled to .pyc here, since the running
#               user cannot write beside it); a static busybox for /bin/sh, tar and the few commands s2i and the
#               s2i scripts call; /usr/local/bin/oxserve-microservice (debug info stripped); /usr/libexec/s2i/*;
#               /etc/passwd and /etc/group naming the user 8888; /tmp
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
py311=$(command -v python3.11 || true)
[ -n "$py311" ] || { echo "stage.sh: need a python3.11 to compile the standard library's .pyc" >&2; exit 1; }

rm -rf "$ctx"
r="$ctx/rootfs" app="$ctx/app"
mkdir -p "$r"/usr/{bin,lib,lib64,sbin,local/bin,libexec/s2i} "$r/etc" "$r/tmp" "$app/microservice"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$r/$d"; done
for deb in "$cache"/debs/*.deb; do
  dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$r"
done
rm -rf "$r"/usr/share/{doc,man,info,locale,lintian,bug} "$r"/usr/lib/x86_64-linux-gnu/gconv
"$py311" -m compileall -q -j 0 -s "$r" -p / "$r/usr/lib/python3.11" >/dev/null

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
"$py311" -m zipfile -e "$cache"/wheels/pip-*.whl "$venv/lib/python3.11/site-packages"
for s in pip pip3; do
  printf '#!/opt/app-root/bin/python3\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' \
    >"$venv/bin/$s"
  chmod 0755 "$venv/bin/$s"
done
chmod 1777 "$r/tmp"
chmod -R a+rX,go-w "$r/usr" "$r/etc" "$app"
