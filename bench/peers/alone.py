"""Case 5, zfsyncd alone, on the host (root): the benches that already measure it, run as
they are (`.venv/bin/python -m bench.NAME`), their output kept verbatim in the JSON. They
print their own baselines and ratios; this does not measure anything again."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

#: issue 11's case 5, what measures it, and its arguments at full size (`small`: a smoke run)
BENCHES = {
    "engine overhead per step (model + SQLite)": (
        "bench.engine_cost", ["--transactions", "200", "--runs", "3"],
        ["--transactions", "20", "--runs", "1"],
    ),
    "D-Bus method rate, against a bare dbus-fast service": (
        "bench.bus", [],
        ["--calls", "200", "--signals", "500", "--burst", "2000"],
    ),
    "zfsyncctl transaction list and daemon start-up, 10,000 stored": (
        "bench.cli", ["--stored", "10000", "--runs", "7"],
        ["--stored", "1000", "--runs", "2"],
    ),
}  # fmt: skip


def run(repo: Path, small: bool) -> dict[str, Any]:
    """Each bench's command, exit status, seconds and output; the first that fails ends it."""
    python = repo / ".venv" / "bin" / "python"
    out: dict[str, Any] = {"title": "zfsyncd alone (host)", "benches": {}}
    for what, (module, full, smoke) in BENCHES.items():
        argv = [str(python), "-m", module, *(smoke if small else full)]
        print(f"case 5: {what}: {' '.join(argv[1:])}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False)
        record = {
            "command": argv[1:],
            "exit": done.returncode,
            "seconds": round(time.perf_counter() - start, 1),
            "output": done.stdout.splitlines(),
        }
        out["benches"][what] = record
        print(done.stdout, flush=True)
        if done.returncode != 0:
            raise SystemExit(f"case 5: {module} failed (exit {done.returncode}):\n{done.stderr}")
    return out
