#!/bin/bash
# The real-ZFS tier inside the lab guest. run-real-tier.sh hands this file to
# `zfs-vm run <this> <repo>`: it runs as root, cwd = the repo checkout, in a guest whose root
# is the host's / (read-only 9p) under a tmpfs overlay. So the repo and its .venv are the
# host's own files, everything is writable (writes vanish at power-off), /var/tmp is RAM,
# and only "$SHARE_DIR" (a host directory) survives. Extra pytest arguments arrive
# NUL-separated in "$SHARE_DIR/pytest-args" (no quoting, no eval). When the tier runs in
# several guests at once, "$SHARE_DIR/shard" holds this guest's part, "i/N": it becomes
# ZFSYNC_LAB_SHARD, and the hook in tests/conftest.py (tests/lab/shard.py) deselects every
# test of the other shards; without the file this guest runs everything.
set -eEuo pipefail
trap 'echo "GUEST: guest-job.sh FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

up() { cut -d' ' -f1 /proc/uptime; }
REPO=$(pwd -P)
PY=$REPO/.venv/bin/python
: "${SHARE_DIR:?SHARE_DIR is not set: run this through zfs-vm, not directly}"

# A guest without the module would make every test fail for a reason that is not the
# code's; say so once, loudly, instead.
if [ ! -e /dev/zfs ]; then
  echo "GUEST: FAIL: /dev/zfs is missing: the zfs kernel module did not load" >&2
  exit 3
fi
[ -x "$PY" ] || { echo "GUEST: FAIL: no virtualenv python at $PY" >&2; exit 3; }
for d in tests/contract tests/engine tests/real; do
  [ -d "$REPO/$d" ] || { echo "GUEST: FAIL: no $REPO/$d" >&2; exit 3; }
done

args=()
if [ -s "$SHARE_DIR/pytest-args" ]; then
  mapfile -d '' -t args < "$SHARE_DIR/pytest-args"
fi

export ZFSYNC_TEST_BACKEND=real
if [ -s "$SHARE_DIR/shard" ]; then
  shard=$(head -c 32 "$SHARE_DIR/shard")
  # only digits and one slash get through; tests/lab/shard.py checks the numbers
  [[ $shard =~ ^[0-9]+/[0-9]+$ ]] || { echo "GUEST: FAIL: bad shard '$shard'" >&2; exit 3; }
  export ZFSYNC_LAB_SHARD=$shard
  echo "GUEST: shard $shard of the real tier"
fi
# A real sshd on 127.0.0.1 for the ssh transport tests (tests/real/ssh.py finds it through
# ZFSYNC_LAB_SSH). When it does not start, only those tests fail (saying so), not the tier.
ssh_dir=/var/tmp/zfsyncd-lab-ssh
if bash "$REPO/tests/lab/guest-sshd.sh" "$ssh_dir"; then
  export ZFSYNC_LAB_SSH=$ssh_dir
  echo "GUEST: sshd on 127.0.0.1:$(cat "$ssh_dir/port") at $(up)s"
else
  echo "GUEST: sshd did not start: the ssh transport tests will fail" >&2
fi
# HOME=/root and the repo are writable (overlay), so __pycache__ and tmp_path work as on the
# host. The pytest cache is disabled because nothing of it would survive anyway; no
# `-o cache_dir=...` with it: without the cacheprovider plugin that option is unknown and
# pytest warns (an error under --strict-config).
echo "GUEST: $(zfs version | head -1), starting pytest at $(up)s"
# tests/contract and tests/engine: the suites the host runs on the in-memory model, here on
# real pools (ZFSYNC_TEST_BACKEND=real); tests/real: what only real ZFS can show
exec "$PY" -m pytest tests/contract tests/engine tests/real -p no:cacheprovider \
  --junitxml="$SHARE_DIR/junit-real.xml" -v "${args[@]}"
