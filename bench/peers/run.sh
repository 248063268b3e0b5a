#!/usr/bin/env bash
# Every case of issue 11 and every tool, in one command (after bench/peers/setup.sh), as root:
#
#   bench/peers/run.sh [--case 1 2 3 4 5] [--tools bare zfsyncd syncoid zfs-autobackup bzfs]
#                      [--runs 3] [--mib 512] [--datasets 51] [--parallel 4] [--smoke]
#                      [--out-dir bench/results]
#
# Cases 1-4 run in ONE OpenZFS lab guest (bench/in-lab.sh; LAB_SLOT=CMD puts CMD before it,
# e.g. a lock that shares the machine's lab between users), case 5 on the host (zfsyncd's own benches). Then, on the host, the summary
# (bench/peers/__main__.py report): OUT_DIR/peers.json, peers.md (the table, also printed)
# and peers.png. --smoke labels the result a smoke run (small sizes) and runs case 5 small.
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
lab_cases=() want5=
for c in "${cases[@]}"; do
  if [ "$c" = 5 ]; then want5=1; else lab_cases+=("$c"); fi
done

# The share is the one guest path that outlives it (the guest mounts it at the same path,
# which goes on the kernel command line: short, under /tmp)
SHARE=$(mktemp -d /tmp/zfsb.XXXXXX)
trap 'rm -rf "$SHARE"' EXIT
export ZFSYNC_BENCH_COMMIT
ZFSYNC_BENCH_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo "?")
if [ -n "$(git -C "$REPO" status --porcelain 2> /dev/null)" ]; then
  ZFSYNC_BENCH_COMMIT+="+changes"
fi

if [ "${#lab_cases[@]}" -gt 0 ]; then
  echo "=== cases ${lab_cases[*]} in the lab (zfsyncd $ZFSYNC_BENCH_COMMIT)"
  # shellcheck disable=SC2086  # LAB_SLOT: a command, maybe with arguments
  VM_SHARE=$SHARE BENCH_PYTHON=$PY ${LAB_SLOT:-} bash "$REPO/bench/in-lab.sh" \
    -m bench.peers lab --out "$SHARE/lab.json" --case "${lab_cases[@]}" "${lab_args[@]}"
  [ -s "$SHARE/lab.json" ] || { echo "run.sh: the lab wrote no results" >&2; exit 1; }
fi
if [ -n "$want5" ]; then
  echo "=== case 5 on the host"
  small=()
  [ "${#smoke[@]}" -gt 0 ] && small=(--small)
  (cd "$REPO" && PYTHONPATH=$REPO "$PY" -m bench.peers alone --out "$SHARE/alone.json" "${small[@]}")
fi
[ -s "$SHARE/lab.json" ] || echo '{"cases": {}}' > "$SHARE/lab.json"
echo "=== report"
(cd "$REPO" && PYTHONPATH=$REPO "$PY" -m bench.peers report "$SHARE/lab.json" \
  ${want5:+"$SHARE/alone.json"} --out-dir "$out_dir" "${smoke[@]}")
