#!/usr/bin/env bash
# Run one bench script inside the OpenZFS lab guest (real pools need real OpenZFS):
#   bench/in-lab.sh bench/tx_overhead.py [ARGS...]
# Builds or reuses the lab (tests/lab/zfs-lab.sh), boots one guest, runs the script as root
# with the project's .venv (or BENCH_PYTHON: bench/peers/ runs its own venv's), streams its
# output and returns its exit status. SCRIPT may be `-m MODULE`.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
[ "$#" -ge 1 ] || { echo "usage: bench/in-lab.sh SCRIPT [ARGS...]" >&2; exit 2; }
bash "$REPO/tests/lab/zfs-lab.sh" setup > /dev/null
LAB=$(bash "$REPO/tests/lab/zfs-lab.sh" path)
job=$(mktemp /tmp/zfsyncd-bench.XXXXXX.sh)
trap 'rm -f "$job"' EXIT
{
  echo 'set -euo pipefail'
  printf 'cd %q\n' "$REPO"
  # the script's own dir, not the checkout, heads sys.path: without this a shared or
  # editable venv may import zfsyncd from another checkout than the one benchmarked
  printf 'export PYTHONPATH=%q\n' "$REPO"
  printf 'exec %q -u' "${BENCH_PYTHON:-.venv/bin/python}"  # -u: a long bench's lines as they come
  printf ' %q' "$@"
  echo
} > "$job"
"$LAB/bin/zfs-vm" run "$job" "$REPO" 2>&1 | sed -u 's/\r$//' | grep --line-buffered -v '^\[ *[0-9.]*\]'
exit "${PIPESTATUS[0]}"
