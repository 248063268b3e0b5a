#!/usr/bin/env bash
# Every case of issue 11 and every tool, in one command (after bench/peers/setup.sh), as root:
#
#   bench/peers/run.sh [--case 1 2 3 4 5] [--tools bare zfsyncd syncoid zfs-autobackup bzfs]
#                      [--runs 3] [--mib 512] [--datasets 51] [--parallel 4] [--smoke]
#                      [--out-dir bench/results]
#
# Cases 1-4 run in the OpenZFS lab, one guest per group of cases (bench/in-lab.sh; LAB_SLOT=CMD puts CMD before it,
# e.g. a lock that shares the machine's lab between users), case 5 on the host (zfsyncd's own benches). Then, on the host, the summary
# (bench/peers/__main__.py report): OUT_DIR/peers.json, peers.md (the table, also printed)
# and peers.png; each guest's raw figures in OUT_DIR/raw/. --smoke labels the result a smoke run (small sizes) and runs case 5 small.
# Exit status: non-zero when any tool or case failed (a peer is never left out silently).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VENV=${BENCH_VENV:-/opt/zfsync-bench}
PY=$VENV/bin/python
[ -x "$PY" ] && [ -x "$VENV/bin/syncoid" ] || { echo "run.sh: run bench/peers/setup.sh first" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root" >&2; exit 1; }

cases=(1 2 3 4 5) lab_args=() smoke=() out_dir=$REPO/bench/results
while [ "$#" -gt 0 ]; do
  case $1 in
    --case) shift; cases=(); while [ "$#" -gt 0 ] && [[ $1 != --* ]]; do cases+=("$1"); shift; done ;;
    --smoke) smoke=(--smoke); shift ;;
    --out-dir) out_dir=$2; shift 2 ;;
    --tools) lab_args+=("$1"); shift; while [ "$#" -gt 0 ] && [[ $1 != --* ]]; do lab_args+=("$1"); shift; done ;;
    --runs|--mib|--datasets|--parallel) lab_args+=("$1" "$2"); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# one guest for each group of cases that share their pools (1; 2 and 3; 4): a guest's run
# stays short, and the lab's slot is free between two
groups=() want5=
for c in "${cases[@]}"; do
  case $c in
    1) groups+=("1") ;;
    2|3) groups+=("2 3") ;;
    4) groups+=("4") ;;
    5) want5=1 ;;
    *) echo "run.sh: no case $c (1-5)" >&2; exit 2 ;;
  esac
done
mapfile -t groups < <(printf '%s\n' "${groups[@]}" | awk 'NF && !seen[$0]++')
# each guest lives until its cases end: zfs-vm's default of one hour (VM_TIMEOUT) kills a
# group of full size midway (measured: syncoid alone runs 14 min of case 2 and 9 of case 3
# a run at 51 datasets under TCG), so a group's guest gets 8 hours unless told otherwise
export VM_TIMEOUT=${VM_TIMEOUT:-28800}
WORK=$(mktemp -d /tmp/zfsb.XXXXXX)
# on failure, keep what the guests measured before it (each writes after every measure)
# shellcheck disable=SC2317  # run by the trap
keep_partial() {
  local rc=$? f
  if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/s*/lab.json; do
      [ -s "$f" ] || continue
      mkdir -p "$out_dir"
      cp "$f" "$out_dir/partial-$(basename "$(dirname "$f")").json"
      echo "run.sh: FAILED (exit $rc); what was measured before: $out_dir/partial-*.json" >&2
    done
  fi
  rm -rf "$WORK"
}
trap keep_partial EXIT
ZFSYNC_BENCH_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo "?")
if [ -n "$(git -C "$REPO" status --porcelain 2> /dev/null)" ]; then
  ZFSYNC_BENCH_COMMIT+="+changes"
fi

labs=()
for i in "${!groups[@]}"; do
  read -r -a group <<< "${groups[$i]}"
  echo "=== case(s) ${group[*]} in the lab (zfsyncd $ZFSYNC_BENCH_COMMIT)"
  # the share is the one guest path that outlives the guest (mounted at the same path, which
  # goes on the kernel command line: short, under /tmp); a new one for each guest
  share=$WORK/s$i
  mkdir "$share"
  # shellcheck disable=SC2086  # LAB_SLOT: a command, maybe with arguments
  VM_SHARE=$share BENCH_PYTHON=$PY ${LAB_SLOT:-} bash "$REPO/bench/in-lab.sh" \
    -m bench.peers lab --out "$share/lab.json" --case "${group[@]}" \
    --commit "$ZFSYNC_BENCH_COMMIT" "${lab_args[@]}"
  [ -s "$share/lab.json" ] || { echo "run.sh: the lab wrote no results" >&2; exit 1; }
  # each guest's raw figures are kept: `python -m bench.peers report OUT_DIR/raw/*.json`
  # makes one result of several invocations (e.g. some tools at a time)
  mkdir -p "$out_dir/raw"
  raw=$out_dir/raw/lab-case$(IFS=-; echo "${group[*]}")-$(date -u +%Y%m%dT%H%M%S).json
  cp "$share/lab.json" "$raw"
  labs+=("$raw")
done
if [ -n "$want5" ]; then
  echo "=== case 5 on the host"
  small=()
  [ "${#smoke[@]}" -gt 0 ] && small=(--small)
  mkdir -p "$out_dir/raw"
  (cd "$REPO" && PYTHONPATH=$REPO "$PY" -m bench.peers alone --out "$WORK/alone.json" "${small[@]}")
  cp "$WORK/alone.json" "$out_dir/raw/alone-$(date -u +%Y%m%dT%H%M%S).json"
fi
echo "=== report"
alone=()
[ -n "$want5" ] && alone=(--alone "$WORK/alone.json")
(cd "$REPO" && PYTHONPATH=$REPO "$PY" -m bench.peers report "${labs[@]}" "${alone[@]}" \
  --out-dir "$out_dir" "${smoke[@]}")
