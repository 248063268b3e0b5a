#!/usr/bin/env bash
# The real-ZFS tier, host side: build or reuse the OpenZFS lab, boot N guests AT ONCE, each
# running tests/lab/guest-job.sh (pytest tests/contract tests/engine tests/real, on real
# pools) on its shard "i/N" of the tests, and bring the results back to build/.
#
#   tests/lab/run-real-tier.sh [PYTEST ARGS...]      e.g. -k snapshot, -x (in every shard)
#
# Why shards: under TCG every process start is ~65x slower, and a guest's test process keeps
# about one host core busy whatever its vCPUs; a second guest on a 2-core host runs the
# other half of the tests in the same wall time. The split (tests/lab/shard.py) is computed
# in each guest from the same collected tests and tests/lab/lab-weights.json (expected
# seconds per test; refresh it with tests/lab/lab-weights.py after adding many lab tests),
# longest first onto the least loaded shard; a test it does not know gets a default weight.
#
# Output, per shard i (no "-i" suffix when N=1): build/junit-real-i.xml,
# build/real-job-i.out (the job's output), build/real-console-i.log (everything the guest
# printed; streamed live with a "[i] " prefix when N>1), and build/junit-real.xml, all
# shards' junit merged (what tests/run-all.sh counts). Exit status: 125 when a guest did not
# boot or did not report an exit status; else the first failing shard's pytest status, or 1
# when a shard's junit file is missing or shows no test that ran.
# Env: LAB_SHARDS (default: 2 on a host with >= 2 cores, else 1; 1 = one guest with every
# test), VM_CPUS (default 1 per guest when sharded: the tests are not parallel inside a
# guest; else zfs-vm's default), VM_TIMEOUT (default 4500 s), VM_MEM (4096 MB per guest),
# VM_ACCEL and LAB/KVER/ZFS_VERSION as for zfs-lab.sh.
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

if [ "$(nproc)" -ge 2 ]; then N=${LAB_SHARDS:-2}; else N=${LAB_SHARDS:-1}; fi
[[ $N =~ ^[1-9][0-9]?$ ]] || die "LAB_SHARDS=$N: expected a number from 1 to 99"
if [ "$N" -gt 1 ]; then export VM_CPUS=${VM_CPUS:-1}; fi
sfx() { [ "$N" -eq 1 ] || echo "-$1"; }  # build/ file suffix of shard $1: none when N=1

mkdir -p "$BUILD"
# never report a previous run's results as this run's, even when the lab build fails
rm -f "$BUILD"/junit-real*.xml "$BUILD"/real-job*.out "$BUILD"/real-console*.log

echo "=== real tier: build or reuse the OpenZFS lab"
bash "$HERE/zfs-lab.sh" setup
LAB=$(bash "$HERE/zfs-lab.sh" path)
[ -x "$LAB/bin/zfs-vm" ] || die "zfs-lab.sh setup left no $LAB/bin/zfs-vm"

# One share per guest: the only guest path that survives power-off; the guest mounts it at
# the same path, which goes on the kernel command line: keep it short and blank-free under
# /tmp. The shard and the pytest arguments go in as files (no quoting, no eval).
SHARES=()
trap 'rm -rf "${SHARES[@]}"' EXIT
for i in $(seq "$N"); do
  share=$(mktemp -d /tmp/zfsyncd-real.XXXXXX)
  SHARES+=("$share")
  [ "$N" -eq 1 ] || echo "$i/$N" > "$share/shard"
  if [ "$#" -gt 0 ]; then printf '%s\0' "$@" > "$share/pytest-args"; fi
done

# Byte-compile the project on the host first: the guest would otherwise compile it under
# TCG, and its __pycache__ writes would vanish with the overlay at power-off. Only a speed-up:
# a file that does not compile is for pytest in the guest to report, as a test failure.
for pkg in zfsyncd zfsyncctl tests; do
  if [ -d "$REPO/$pkg" ] && ! "$PY" -m compileall -q -j 0 "$REPO/$pkg" > /dev/null; then
    echo "run-real-tier: note: $pkg/ has files that do not compile (pytest will say which)"
  fi
done

# guest i: its console to build/real-console[-i].log and (prefixed when sharded) to stdout;
# zfs-vm's exit status to $share/host.rc
guest() {
  local i=$1 share=$2 prefix=
  [ "$N" -eq 1 ] || prefix="[$i] "
  # sed -u: the guest's serial console ends lines with CR LF; drop the CR without
  # buffering, so the output still streams live
  VM_SHARE=$share VM_TIMEOUT=${VM_TIMEOUT:-4500} \
    "$LAB/bin/zfs-vm" run "$HERE/guest-job.sh" "$REPO" 2>&1 | sed -u 's/\r$//' |
    tee "$BUILD/real-console$(sfx "$i").log" | sed -u "s/^/$prefix/"
  echo "${PIPESTATUS[0]}" > "$share/host.rc"
}

echo "=== real tier: boot $N guest(s) (VM_CPUS=${VM_CPUS:-$(nproc)} each), run pytest" \
  "tests/contract tests/engine tests/real${*:+ $*} (VM_TIMEOUT=${VM_TIMEOUT:-4500}s)"
trap - ERR; set +e  # the guests' statuses are judged below, not by the ERR trap
t0=$SECONDS
pids=()
for i in $(seq "$N"); do
  guest "$i" "${SHARES[i - 1]}" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
wall=$((SECONDS - t0))
set -e; trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

rc=0 junits=()
for i in $(seq "$N"); do
  share=${SHARES[i - 1]} s=$(sfx "$i")
  [ -f "$share/job.out" ] && cp "$share/job.out" "$BUILD/real-job$s.out"
  [ -f "$share/junit-real.xml" ] && cp "$share/junit-real.xml" "$BUILD/junit-real$s.xml"
  junits+=("$BUILD/junit-real$s.xml")
  host_rc=$(cat "$share/host.rc" 2> /dev/null || echo '?')
  echo "=== real tier: shard $i/$N: $(grep -ho 'wall=[0-9.]*s' "$BUILD/real-console$s.log" |
    tail -1 || true) zfs-vm exit $host_rc"
  if [ ! -f "$share/job.rc" ]; then
    echo "run-real-tier: FAIL: guest $i/$N did not boot or did not report an exit status" \
      "(zfs-vm exit $host_rc); console: $BUILD/real-console$s.log" >&2
    rc=125
  elif [ "$rc" -eq 0 ] && [ "$host_rc" != 0 ]; then
    rc=$host_rc; [[ $rc =~ ^[0-9]+$ ]] || rc=1
  fi
done
echo "=== real tier: $N guest(s) in ${wall}s"
if [ "$N" -gt 1 ]; then
  found=()
  for f in "${junits[@]}"; do [ ! -f "$f" ] || found+=("$f"); done
  # a missing shard is judged below, on the shards' own files
  [ "${#found[@]}" -eq 0 ] || "$PY" "$HERE/junit-merge.py" "$BUILD/junit-real.xml" "${found[@]}"
fi
[ "$rc" -ne 125 ] || exit 125
# pytest's own status is not enough: exit 5 (nothing collected) and an all-skipped run both
# mean the real tier (or one shard of it) tested nothing
if ! "$PY" "$HERE/junit-summary.py" --no-total "${junits[@]}"; then
  [ "$rc" -ne 0 ] || rc=1
  echo "run-real-tier: FAIL: guest job exit $rc; see $BUILD/real-job*.out" >&2
  exit "$rc"
fi
if [ "$rc" -ne 0 ]; then
  echo "run-real-tier: FAIL: guest job exit $rc; see $BUILD/real-job*.out" >&2
fi
exit "$rc"
