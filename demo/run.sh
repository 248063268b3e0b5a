#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (root): set up, then run zfsyncd's engine on
# real pools in the OpenZFS lab guest with its progress on the terminal (demo/engine_demo.py).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
bash "$REPO/tests/setup-host.sh"
exec bash "$REPO/bench/in-lab.sh" demo/engine_demo.py
