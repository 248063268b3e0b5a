"""A recursive held snapshot of many children, and its rollback: the engine against the bare
zfs commands, on a real pool (run in the lab).

    bench/in-lab.sh bench/held_snapshot.py [--children 50] [--runs 3]

Makes a file-backed pool with two trees of `--children` filesystems, then, `--runs` times:
- bare: `zfs snapshot -r` + `zfs hold -r`, then `zfs release -r` + `zfs destroy -r`;
- engine: a snapshot transaction (recursive, held) through TransactionManager on CliBackend,
  then its rollback transaction (release, move to the trash, destroy the trash).
Every zfs command of both sides goes through one wrapper placed in front of zfs, which
counts it and times it, so both sides are measured the same way. Prints, per side, the
median time and the commands, the ratios, the goals of issue 9 (at most 6 zfs commands for
the held snapshot, reads included, and about the bare time; a constant number for the
rollback) and where the engine's time goes (zfs commands by verb; the rest is Python,
SQLite and its fsyncs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the snapshot transaction
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts, probe_local
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

POOL = "zbench"
TAG = "zfsync_bench"
#: issue 9's goal for the held snapshot: zfs commands, planning's reading included
SNAPSHOT_GOAL = 6
#: what the bare side runs: 2 commands each way
BARE_COMMANDS = 2
#: the zfs verbs that only read
READS = ("list", "holds", "get", "program -n")

# bash's $EPOCHREALTIME times the command without starting another process
WRAPPER = """#!/bin/bash
start=$EPOCHREALTIME
{real} "$@"
status=$?
printf '%s %s %s\\n' "$start" "$EPOCHREALTIME" "$*" >> {log}
exit $status
"""


@dataclass
class Commands:
    """What the wrapper logged: each zfs command with its start and end."""

    log: Path

    def read(self) -> list[tuple[float, str]]:
        """(seconds, argv) of each command logged so far."""
        if not self.log.exists():
            return []
        rows = []
        for line in self.log.read_text().splitlines():
            start, end, argv = line.split(" ", 2)
            rows.append((float(end) - float(start), argv))
        return rows

    def clear(self) -> None:
        self.log.write_text("")


@dataclass
class Side:
    """One side's runs: times, command counts and the time by zfs verb."""

    seconds: list[float] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)
    by_verb: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: the last run's commands in order, each with its time (what each one costs)
    last: list[tuple[float, str]] = field(default_factory=list)

    def add(self, seconds: float, rows: list[tuple[float, str]]) -> None:
        self.seconds.append(seconds)
        self.commands.append(len(rows))
        self.last = rows
        for took, argv in rows:
            # a read-only channel program (`zfs program -n`) is a reading
            verb = "program -n" if argv.startswith("program -n") else argv.split(" ", 1)[0]
            self.by_verb[verb].append(took)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def make_wrapper(tmp: Path) -> tuple[str, Commands]:
    real = shutil.which("zfs")
    if real is None:
        raise SystemExit("no zfs on PATH: run this in the lab (bench/in-lab.sh)")
    log = tmp / "zfs-commands.log"
    wrapper = tmp / "bin" / "zfs"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(real=real, log=log))
    wrapper.chmod(0o755)
    return str(wrapper), Commands(log)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def make_pool(image: Path, children: int) -> None:
    subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)
    sh("truncate", "-s", "512M", str(image))
    sh("zpool", "create", "-f", "-o", "ashift=12", "-m", "none", POOL, str(image))
    for side in ("bare", "engine"):
        sh("zfs", "create", f"{POOL}/{side}")
        for i in range(children):
            sh("zfs", "create", f"{POOL}/{side}/c{i:03}")


def names_under(root: str) -> list[str]:
    out = subprocess.run(
        ["zfs", "list", "-H", "-o", "name", "-t", "all", "-r", root],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def bare(zfs: str, commands: Commands, run: int, made: Side, undone: Side) -> None:
    root, snap = f"{POOL}/bare", f"{POOL}/bare@s{run}"
    commands.clear()
    start = time.perf_counter()
    sh(zfs, "snapshot", "-r", snap)
    sh(zfs, "hold", "-r", TAG, snap)
    made.add(time.perf_counter() - start, commands.read())
    commands.clear()
    start = time.perf_counter()
    sh(zfs, "release", "-r", TAG, snap)
    sh(zfs, "destroy", "-r", snap)
    undone.add(time.perf_counter() - start, commands.read())
    if any("@" in name for name in names_under(root)):
        raise SystemExit(f"bare run {run} left snapshots under {root}")


async def engine(manager: TransactionManager, commands: Commands, made: Side, undone: Side) -> None:
    root = f"{POOL}/engine"
    before = names_under(root)
    commands.clear()
    start = time.perf_counter()
    record = await manager.submit("snapshot", {"datasets": [root], "recursive": True, "hold": True})
    done = await manager.wait(record.id)
    made.add(time.perf_counter() - start, commands.read())
    if done.state is not TxState.COMPLETED:
        raise SystemExit(f"snapshot {done.id} ended {done.state}: {done.error}")
    commands.clear()
    start = time.perf_counter()
    rollback = await manager.rollback(done.id)
    await manager.prepare(rollback.id)
    await manager.execute(rollback.id)
    rolled = await manager.wait(rollback.id)
    undone.add(time.perf_counter() - start, commands.read())
    if rolled.state is not TxState.COMPLETED:
        raise SystemExit(f"rollback {rolled.id} ended {rolled.state}: {rolled.error}")
    if names_under(root) != before:
        raise SystemExit(f"the rollback of {done.id} did not leave {root} as it was")


async def engine_runs(zfs: str, commands: Commands, runs: int, db_path: Path) -> tuple[Side, Side]:
    db = await Database.open(db_path)
    hosts = local_hosts(CliBackend(zfs=zfs))
    manager = TransactionManager(db, hosts)
    await probe_local(hosts)  # as the daemon does at start: not in a measured run
    made, undone = Side(), Side()
    try:
        for _ in range(runs):
            await engine(manager, commands, made, undone)
    finally:
        await manager.shutdown()
        await db.close()
    return made, undone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        tmp = Path(name)
        zfs, commands = make_wrapper(tmp)
        make_pool(tmp / "pool.img", args.children)
        try:
            bare_made, bare_undone = Side(), Side()
            for run in range(args.runs):
                bare(zfs, commands, run, bare_made, bare_undone)
            made, undone = asyncio.run(engine_runs(zfs, commands, args.runs, tmp / "zfsyncd.db"))
        finally:
            subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)
    print(f"{args.children} children, median of {args.runs} runs; OpenZFS {zfs_version()}")
    report("held recursive snapshot", bare_made, made, goal=SNAPSHOT_GOAL)
    report("its rollback", bare_undone, undone, goal=None)


def zfs_version() -> str:
    out = subprocess.run(["zfs", "version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "?"


def _short(argv: str, width: int = 90) -> str:
    """A command line cut to one screen line (a program's argv names every snapshot)."""
    return argv if len(argv) <= width else f"{argv[: width - 3]}..."


def report(what: str, bare_side: Side, engine_side: Side, goal: int | None) -> None:
    counts = sorted(set(engine_side.commands))
    count = "/".join(map(str, counts))
    constant = "constant over runs" if len(counts) == 1 else "NOT constant over runs"
    print(f"\n{what}")
    print(f"  bare:   {bare_side.median:7.2f} s, {max(bare_side.commands)} zfs commands")
    print(f"  engine: {engine_side.median:7.2f} s, {count} zfs commands ({constant})")
    print(f"  ratio engine / bare: {engine_side.median / bare_side.median:.2f}x time, "
          f"{max(engine_side.commands) / BARE_COMMANDS:.1f}x commands")  # fmt: skip
    if goal is not None:
        verdict = "met" if max(engine_side.commands) <= goal else "MISSED"
        print(f"  goal: at most {goal} zfs commands: {verdict}; time about the bare time")
    runs = len(engine_side.seconds)
    in_zfs = sum(sum(t) for t in engine_side.by_verb.values()) / runs
    print(f"  where the engine's {engine_side.median:.2f} s go (per run):")
    for verb, took in sorted(engine_side.by_verb.items(), key=lambda item: -sum(item[1])):
        print(f"    zfs {verb:<10} x{len(took) / runs:4.1f} {sum(took) / runs:7.2f} s")
    print("  the last run's commands in order:")
    for took, argv in engine_side.last:
        print(f"    {took:6.2f} s  zfs {_short(argv)}")
    for took, argv in bare_side.last:
        print(f"    bare: {took:6.2f} s  zfs {_short(argv)}")
    rest = engine_side.median - in_zfs
    print(f"    the rest (Python, SQLite, fsync, process starts) {rest:7.2f} s")
    bare_zfs = sum(sum(t) for t in bare_side.by_verb.values()) / len(bare_side.seconds)
    print(f"  bare side in zfs itself: {bare_zfs:.2f} s per run")
    # what lies between the engine and the bare commands: the readings (which the bare side
    # does not make), the changes' own excess over the bare ones (noise: the same commands),
    # and the engine itself
    reads = sum(sum(engine_side.by_verb.get(v, [])) for v in READS) / runs
    changes = in_zfs - reads
    print(f"  above the bare time ({engine_side.median - bare_side.median:+.2f} s): readings "
          f"{reads:.2f} s, the changes' excess {changes - bare_zfs:+.2f} s, the engine's own "
          f"{rest:.2f} s")  # fmt: skip


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("run as root, in the lab: bench/in-lab.sh bench/held_snapshot.py")
    main()
