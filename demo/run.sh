#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (root): set up, then, in the OpenZFS lab
# guest, start a system bus, real polkitd and zfsyncd on real pools, and drive it with
# zfsyncctl, its progress on the terminal (demo/service_demo.py).
#   demo/run.sh            the service demo
#   demo/run.sh engine     the engine alone, in-process (demo/engine_demo.py): it also shows
#                          a send|recv with a byte progress bar, until replication is a
#                          transaction type of the daemon's
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
bash "$REPO/tests/setup-host.sh"
if [ "${1:-}" = engine ]; then
  exec bash "$REPO/bench/in-lab.sh" demo/engine_demo.py
fi
exec bash "$REPO/bench/in-lab.sh" -m demo.service_demo
