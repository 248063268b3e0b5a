#!/usr/bin/env bash
# The real-ZFS tier, host side: build or reuse the OpenZFS lab, boot ONE guest (under TCG
# every process start is ~65x slower, so the whole tier shares one boot), run
# tests/lab/guest-job.sh (pytest tests/contract tests/engine tests/real, on real pools) in it, and bring the results back to build/.
#
#   tests/lab/run-real-tier.sh [PYTEST ARGS...]      e.g. -k snapshot, -x
#
# Output: build/junit-real.xml, build/real-job.out (the job's output), build/real-console.log
# (everything the guest printed). Exit status: the guest job's (pytest's); 1 when the junit
# file is missing or shows no test that ran; 125 when the guest did not boot or did not
# report an exit status. Env: VM_TIMEOUT (default 4500 s), VM_MEM, VM_CPUS, VM_ACCEL and
# LAB/KVER/ZFS_VERSION as for zfs-lab.sh.
set -eEuo pipefail
# -E: the ERR trap fires inside functions too; no failure may end this script silently
# shellcheck disable=SC2317  # called from the ERR trap
on_err() { echo "run-real-tier: FAILED (exit $1) at line $2: $3" >&2; }
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
BUILD=$REPO/build
die() { echo "run-real-tier: FAIL: $*" >&2; exit 1; }

PY=$REPO/.venv/bin/python
[ -x "$PY" ] || die "no $PY: create the venv first (tests/run-all.sh does)"
[ -d "$REPO/tests/real" ] || die "no $REPO/tests/real"

mkdir -p "$BUILD"
# never report a previous run's results as this run's, even when the lab build fails
rm -f "$BUILD/junit-real.xml" "$BUILD/real-job.out" "$BUILD/real-console.log"

echo "=== real tier: build or reuse the OpenZFS lab"
bash "$HERE/zfs-lab.sh" setup
LAB=$(bash "$HERE/zfs-lab.sh" path)
[ -x "$LAB/bin/zfs-vm" ] || die "zfs-lab.sh setup left no $LAB/bin/zfs-vm"

# The share is the only guest path that survives power-off; the guest mounts it at the same
# path, which goes on the kernel command line: keep it short and blank-free under /tmp.
SHARE=$(mktemp -d /tmp/zfsyncd-real.XXXXXX)
trap 'rm -rf "$SHARE"' EXIT
if [ "$#" -gt 0 ]; then
  printf '%s\0' "$@" > "$SHARE/pytest-args"
fi

# Byte-compile the project on the host first: the guest would otherwise compile it under
# TCG, and its __pycache__ writes would vanish with the overlay at power-off. Only a speed-up:
# a file that does not compile is for pytest in the guest to report, as a test failure.
for pkg in zfsyncd zfsyncctl; do
  if [ -d "$REPO/$pkg" ] && ! "$PY" -m compileall -q -j 0 "$REPO/$pkg" > /dev/null; then
    echo "run-real-tier: note: $pkg/ has files that do not compile (pytest will say which)"
  fi
done

echo "=== real tier: boot the guest, run pytest tests/contract tests/engine tests/real${*:+ $*} (VM_TIMEOUT=${VM_TIMEOUT:-4500}s)"
trap - ERR; set +e  # the guest's status is judged below, not by the ERR trap
# sed -u: the guest's serial console ends lines with CR LF; drop the CR without buffering,
# so the output still streams live
VM_SHARE=$SHARE VM_TIMEOUT=${VM_TIMEOUT:-4500} \
  "$LAB/bin/zfs-vm" run "$HERE/guest-job.sh" "$REPO" 2>&1 | sed -u 's/\r$//' |
  tee "$BUILD/real-console.log"
rc=${PIPESTATUS[0]}
set -e; trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

[ -f "$SHARE/job.out" ] && cp "$SHARE/job.out" "$BUILD/real-job.out"
[ -f "$SHARE/junit-real.xml" ] && cp "$SHARE/junit-real.xml" "$BUILD/junit-real.xml"

if [ ! -f "$SHARE/job.rc" ]; then
  echo "run-real-tier: FAIL: the guest did not boot or did not report an exit status" \
    "(zfs-vm exit $rc); console: $BUILD/real-console.log" >&2
  exit 125
fi
# pytest's own status is not enough: exit 5 (nothing collected) and an all-skipped run both
# mean the real tier tested nothing
if ! "$PY" "$HERE/junit-summary.py" --no-total "$BUILD/junit-real.xml"; then
  [ "$rc" -ne 0 ] || rc=1
  echo "run-real-tier: FAIL: guest job exit $rc; see $BUILD/real-job.out" >&2
  exit "$rc"
fi
if [ "$rc" -ne 0 ]; then
  echo "run-real-tier: FAIL: guest job exit $rc; see $BUILD/real-job.out" >&2
fi
exit "$rc"
