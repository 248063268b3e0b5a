"""The transaction engine's cost over bare zfs commands, on a real pool (run in the lab).

    bench/in-lab.sh bench/tx_overhead.py [--transactions N]

Makes a file-backed pool, then takes N snapshots twice: bare (`zfs snapshot`, one process
each, as a shell loop would) and as N snapshot transactions through the engine (planned,
locked, journaled in SQLite, executed, audited). Prints both times, the overhead per
transaction and per step, the ratio, and how many zfs commands each side ran: the engine
reads ZFS before and after each change (what makes its steps idempotent), and that, more
than Python, is its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the snapshot transaction
from zfsyncd.commands.runner import CommandRunner
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts, probe_local
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

POOL = "zbench"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def make_pool(image: Path) -> None:
    subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)
    sh("truncate", "-s", "256M", str(image))
    sh("zpool", "create", "-f", "-o", "ashift=12", "-m", "none", POOL, str(image))
    sh("zfs", "create", f"{POOL}/bare")
    sh("zfs", "create", f"{POOL}/engine")


def bare(count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        sh("zfs", "snapshot", f"{POOL}/bare@s{i}")
    return time.perf_counter() - start


async def through_engine(count: int, db_path: Path) -> tuple[float, int, int]:
    commands: list[Sequence[str]] = []
    runner = CommandRunner(observers=[commands.append])
    db = await Database.open(db_path)
    hosts = local_hosts(CliBackend(runner))
    manager = TransactionManager(db, hosts)
    await probe_local(hosts)  # as the daemon does at start: not in a measured run
    commands.clear()
    steps = 0
    start = time.perf_counter()
    for _ in range(count):
        record = await manager.submit("snapshot", {"datasets": [f"{POOL}/engine"]})
        done = await manager.wait(record.id)
        if done.state is not TxState.COMPLETED:
            raise SystemExit(f"transaction {done.id} ended {done.state}: {done.error}")
        steps += len(done.steps)
    elapsed = time.perf_counter() - start
    await db.close()
    return elapsed, steps, len(commands)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20)
    args = parser.parse_args()
    n = args.transactions
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        make_pool(Path(tmp) / "pool.img")
        try:
            bare_s = bare(n)
            engine_s, steps, commands = asyncio.run(through_engine(n, Path(tmp) / "zfsyncd.db"))
        finally:
            subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)
    report(n, bare_s, engine_s, steps, commands)


def report(n: int, bare_s: float, engine_s: float, steps: int, commands: int) -> None:
    per_step = steps / n
    overhead = (engine_s - bare_s) / n
    print(f"bare zfs snapshot x{n}:        {bare_s:8.2f} s, {bare_s / n * 1000:7.1f} ms each")
    print(f"snapshot transactions x{n}:    {engine_s:8.2f} s, {engine_s / n * 1000:7.1f} ms each")
    print(f"zfs commands: bare {n}, engine {commands} ({commands / n:.1f} per transaction)")
    step_ms = overhead / per_step * 1000
    print(f"overhead: {overhead * 1000:.1f} ms per transaction, {step_ms:.1f} ms per step")
    print(f"ratio engine / bare: {engine_s / bare_s:.2f}x")


if __name__ == "__main__":
    main()
