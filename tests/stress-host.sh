#!/usr/bin/env bash
# tests/stress-host.sh [RUNS] [pytest args...] — the host tier (tests/unit, tests/contract,
# tests/engine, tests/system) RUNS times in a row (default 10) with two CPU-bound processes
# beside it, as a loaded CI machine would have: a test that races the clock fails here.
# May be run in the background (nohup, &): tests that send SIGINT give their child its handler
# back. Stops at the first failing run; its output is kept in build/stress-<run>.out. Exits 0
# only when every run passed. Needs what tests/run-all.sh's steps a-b install (root, for
# the system tier's bus and polkitd).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
VPY=$REPO/.venv/bin/python
RUNS=${1:-10}
shift || true
mkdir -p build

burners=()
stop_burners() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_burners EXIT
for _ in 1 2; do
  "$VPY" -c 'while True: pass' &
  burners+=($!)
done

for run in $(seq 1 "$RUNS"); do
  out=build/stress-$run.out
  start=$SECONDS
  if "$VPY" -m pytest tests/unit tests/contract tests/engine tests/system -q \
      -p no:cacheprovider "$@" >"$out" 2>&1; then
    echo "run $run/$RUNS: $(tail -n 1 "$out") ($((SECONDS - start))s)"
    rm -f "$out"
  else
    echo "run $run/$RUNS: FAILED ($((SECONDS - start))s), output in $out:"
    grep -E '^(FAILED|ERROR)' "$out" || tail -n 20 "$out"
    echo "$((run - 1)) of $RUNS runs passed"
    exit 1
  fi
done
echo "$RUNS of $RUNS runs passed"
