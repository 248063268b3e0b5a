#!/usr/bin/env bash
# Installs what bench/peers/ needs, on a fresh Debian 12 (as root, with the Debian mirrors
# and PyPI reachable); not part of CI or tests/run-all.sh. Run it again at any time.
#
#   bench/peers/setup.sh          # BENCH_VENV=/opt/zfsync-bench by default
#
# - a venv of its own (never the project's .venv): this checkout with its `bench` extra
#   (pyproject.toml: matplotlib, zfs-autobackup, bzfs, pinned), so `python -m bench.peers`
#   runs there with zfsyncd's dependencies beside the peers;
# - syncoid from Debian's `sanoid` package, but not the package itself: it depends on
#   `zfs-fuse | zfsutils-linux`, and apt picks zfs-fuse, whose ancient `zfs` on the host's
#   PATH would be found by anything looking for zfs (the lab's OpenZFS is layered over
#   the host's / in the guest only). So: syncoid's own dependencies from apt, the .deb
#   downloaded and unpacked into the venv, syncoid linked into its bin/.
# The OpenZFS lab itself is built by tests/lab/zfs-lab.sh on first use (bench/in-lab.sh).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VENV=${BENCH_VENV:-/opt/zfsync-bench}
PYTHON=${PYTHON:-python3}
[ "$(id -u)" -eq 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }

echo "=== apt: syncoid's dependencies (perl modules, pv, lzop, mbuffer), python3-venv"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  perl libconfig-inifiles-perl libcapture-tiny-perl pv lzop mbuffer procps python3-venv > /dev/null

echo "=== venv $VENV: this checkout with its bench extra"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$REPO[bench]"

echo "=== syncoid from Debian's sanoid package (unpacked, not installed: see above)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q sanoid 2> /dev/null)
rm -rf "$VENV/sanoid"
dpkg-deb -x "$work"/sanoid_*.deb "$VENV/sanoid"
ln -sf "$VENV/sanoid/usr/sbin/syncoid" "$VENV/bin/syncoid"

echo "=== versions"
# (zfs-autobackup --version exits 255 after printing it)
"$VENV/bin/syncoid" --version 2>&1 | head -1 || true
"$VENV/bin/zfs-autobackup" --version 2>&1 | head -1 || true
"$VENV/bin/bzfs" --version 2>&1 | head -1
"$VENV/bin/python" -c 'import matplotlib; print("matplotlib", matplotlib.__version__)'
if command -v zfs > /dev/null && ! dpkg -S "$(command -v zfs)" 2> /dev/null | grep -q zfsutils; then
  echo "setup.sh: note: a zfs on this host's PATH ($(command -v zfs)): the lab does not use it"
fi
echo "setup.sh: done; run bench/peers/run.sh"
