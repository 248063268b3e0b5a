"""The engine's fixed cost per transaction and per step, on the model, against bare calls.

    .venv/bin/python -m bench.engine_cost [--transactions 200] [--runs 3] [--no-strace]
        [--shape 0|1|2 ...] [--profile TOP]

Runs snapshot transactions through the TransactionManager on the in-memory ZFS model with
a real SQLite file (in /var/tmp, on disk: its syncs are real), in three shapes: one step (a
snapshot of one dataset), two steps (held) and eight steps (held, four pools). The baseline,
in the same run, is the bare model calls a shell script would make for the same work
(`snapshot`, then `hold`), without the engine. It prints, for each shape:
- the time per transaction and per step, wall and CPU (the process's user + system time,
  every thread's: aiosqlite runs SQLite in a thread of its own), the engine's cost over the
  baseline per step, and the verdict against the goal of issue 9 (at most 5 ms per step),
  judged by CPU time: on a loaded host the wall time waits for the cores, the CPU time and
  the counts below do not;
- the SQL statements and COMMITs per transaction (counted by SQLite's trace callback: each
  COMMIT is one sync of the write-ahead log, the journal's durability);
- with strace on PATH, the fdatasync/fsync calls per transaction, counted in a child run;
- where the CPU goes: SQLite's thread (aiosqlite's worker, by its own CPU clock), the
  model's calls, the rest of the event loop's thread (the engine's Python); and what the
  syncs cost (against a run with synchronous=OFF, which the daemon never uses).
With --profile TOP, cProfile of the loop's thread instead (the functions by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zfsyncd.ops  # noqa: F401 - registers the snapshot transaction
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ObjectType

GOAL_PER_STEP = 0.005
#: (label, pools, hold): one step per pool, and one more per pool when held
SHAPES = [("1 step (snapshot)", 1, False), ("2 steps (held)", 1, True),
          ("8 steps (held, 4 pools)", 4, True)]  # fmt: skip


class TimedBackend:
    """The model, with the time spent in its calls summed (what the engine waits for ZFS)."""

    def __init__(self, inner: MemoryBackend) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed


def model(pools: int) -> MemoryBackend:
    names = [f"p{i}" for i in range(pools)]
    backend = MemoryBackend(pools=names)
    return backend


async def make_datasets(zfs: MemoryBackend, pools: int) -> list[str]:
    datasets = [f"p{i}/data" for i in range(pools)]
    for name in datasets:
        await zfs.create(name)
    return datasets


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all its threads (SQLite's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    seconds: float
    cpu: float
    #: CPU time of aiosqlite's thread, where SQLite runs (part of `cpu`)
    sqlite_cpu: float
    steps: int
    statements: int
    commits: int
    model_seconds: float
    model_calls: int


async def forget(zfs: MemoryBackend, datasets: list[str]) -> None:
    """Release and destroy the snapshots made, untimed: the model's listing grows with the
    snapshots a dataset has, and each transaction should find the same world."""
    for dataset in datasets:
        for snap in await zfs.list(dataset, types=(ObjectType.SNAPSHOT,), recursive=True):
            for held in await zfs.holds(snap.name):
                await zfs.release(held.tag, [snap.name])
            await zfs.destroy(snap.name)


async def bare(count: int, pools: int, hold: bool) -> float:
    """The same snapshots (and holds) as bare model calls, one pool at a time."""
    zfs = model(pools)
    datasets = await make_datasets(zfs, pools)
    took = 0.0
    for i in range(count):
        start = time.perf_counter()
        for dataset in datasets:
            snap = f"{dataset}@s{i}"
            await zfs.snapshot([snap])
            if hold:
                await zfs.hold(f"zfsync_s{i}", [snap])
        took += time.perf_counter() - start
        await forget(zfs, datasets)
    return took


async def engine(count: int, pools: int, hold: bool, db_path: Path, *, sync: bool) -> Run:
    zfs = TimedBackend(model(pools))
    datasets = await make_datasets(zfs.inner, pools)
    db = await Database.open(db_path)
    conn = db._connection()  # the bench counts what the store sends
    statements: list[str] = []
    await conn.set_trace_callback(statements.append)
    if not sync:  # only to measure what the syncs cost; the daemon never does this
        await conn.execute("PRAGMA synchronous = OFF")
    manager = TransactionManager(db, local_hosts(zfs))  # type: ignore[arg-type]
    params = {"datasets": datasets, "hold": hold}
    steps = 0
    statements.clear()
    zfs.seconds, zfs.calls = 0.0, 0
    # the CPU clock of aiosqlite's worker thread (a private attribute: the bench only)
    sqlite_clock = time.pthread_getcpuclockid(conn._thread.ident or 0)
    elapsed = cpu = sqlite_cpu = 0.0
    for _ in range(count):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        start_sqlite = time.clock_gettime(sqlite_clock)
        record = await manager.submit("snapshot", params)
        done = await manager.wait(record.id)
        elapsed += time.perf_counter() - start
        cpu += cpu_seconds() - start_cpu
        sqlite_cpu += time.clock_gettime(sqlite_clock) - start_sqlite
        if done.state is not TxState.COMPLETED:
            raise SystemExit(f"transaction {done.id} ended {done.state}: {done.error}")
        steps += len(done.steps)
        before = zfs.seconds, zfs.calls
        await forget(zfs.inner, datasets)
        zfs.seconds, zfs.calls = before
    # the last wait's read is not part of a transaction's own cost, but is counted: a caller
    # that waits makes it too
    commits = sum(1 for s in statements if s.strip().upper() == "COMMIT")
    await conn.set_trace_callback(None)
    await db.close()
    return Run(elapsed, cpu, sqlite_cpu, steps, len(statements), commits, zfs.seconds, zfs.calls)


def syncs_per_transaction(count: int, pools: int, hold: bool) -> float | None:
    """fdatasync + fsync calls per transaction, counted by strace in a child process (the
    child runs a few transactions more than `count` as a warm-up, then `count`)."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    counts = []
    for n in (0, count):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            argv = [strace, "-f", "-c", "-e", "trace=fdatasync,fsync", "-o", f"{tmp}/strace",
                    sys.executable, "-m", "bench.engine_cost", "--child", str(n),
                    str(pools), str(int(hold)), tmp]  # fmt: skip
            subprocess.run(argv, check=True, capture_output=True)
            text = Path(f"{tmp}/strace").read_text()
        # strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall"
        rows = [line.split() for line in text.splitlines()]
        counts.append(sum(int(r[3]) for r in rows if r and r[-1] in ("fdatasync", "fsync")))
    return (counts[1] - counts[0]) / count


async def child(count: int, pools: int, hold: bool, directory: Path) -> None:
    """What `syncs_per_transaction` runs under strace: opening, 3 warm-up transactions,
    then `count` more (so the difference of two runs is `count` transactions' syncs)."""
    await engine(3 + count, pools, hold, directory / "zfsyncd.db", sync=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.2f} ms"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


#: where the loop thread's own time (cProfile's tottime) is summed in --profile's summary:
#: the first group whose text is in a function's file (or name, for built-ins) takes it
GROUPS = [
    ("the bench itself (its model cleanup, the timing wrapper)", "bench/"),
    ("the model (zfsyncd/zfs)", "zfsyncd/zfs/"),
    ("the store (zfsyncd/store)", "zfsyncd/store/"),
    ("the engine (zfsyncd/tx)", "zfsyncd/tx/"),
    ("the snapshot kind (zfsyncd/ops)", "zfsyncd/ops/"),
    ("aiosqlite's side of each call", "aiosqlite/"),
    ("pydantic (records, requests)", "pydantic"),
    ("json", "json"),
    ("transitions", "transitions/"),
    ("asyncio's loop: select, wake-ups, tasks", "asyncio"),
    ("asyncio's loop: select, wake-ups, tasks", "select"),
    ("asyncio's loop: select, wake-ups, tasks", "_socket"),
    ("asyncio's loop: select, wake-ups, tasks", "_contextvars"),
]


def profile(n: int, pools: int, hold: bool, top: int) -> None:
    """cProfile of the event loop's thread over `n` transactions of one shape, by the
    thread's CPU clock (SQLite's own thread is not profiled: its CPU time is the `SQLite's
    thread` figure): the TOP functions by own time, then that time summed by GROUPS."""
    profiler = cProfile.Profile(time.thread_time)  # CPU time: the load does not inflate it
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        profiler.enable()
        asyncio.run(engine(n, pools, hold, Path(tmp) / "p.db", sync=True))
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    sums: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        where = f"{path} {name}"
        group = next((label for label, text in GROUPS if text in where), "other")
        sums[group] = sums.get(group, 0.0) + tottime
    total = sum(sums.values())
    print(f"the loop thread's CPU under the profiler, {ms(total / n)} a transaction:")
    for group, seconds in sorted(sums.items(), key=lambda item: -item[1]):
        print(f"  {100 * seconds / total:5.1f}%  {group}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transactions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="repeats; the median is shown")
    parser.add_argument("--no-strace", action="store_true", help="do not count syncs")
    parser.add_argument("--shape", type=int, choices=range(len(SHAPES)), action="append",
                        help="only this shape (0, 1, 2; repeatable)")  # fmt: skip
    parser.add_argument("--profile", type=int, metavar="TOP",
                        help="cProfile the loop's thread, printing the TOP functions")  # fmt: skip
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        count, pools, hold, directory = args.child
        asyncio.run(child(int(count), int(pools), bool(int(hold)), Path(directory)))
        return
    n = args.transactions
    shapes = [SHAPES[i] for i in args.shape] if args.shape else SHAPES
    if args.profile:
        for _label, pools, hold in shapes:
            profile(n, pools, hold, args.profile)
        return
    print(f"{n} snapshot transactions per shape on the model, SQLite on disk "
          f"(median of {args.runs} runs; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f}); CPU: user + system, all threads")  # fmt: skip
    for label, pools, hold in shapes:
        bares = [asyncio.run(bare(n, pools, hold)) for _ in range(args.runs)]
        runs: list[Run] = []
        nosync: list[Run] = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
                runs.append(asyncio.run(engine(n, pools, hold, Path(tmp) / "a.db", sync=True)))
                nosync.append(asyncio.run(engine(n, pools, hold, Path(tmp) / "b.db", sync=False)))
        report(label, n, runs, nosync, bares, None if args.no_strace else
               syncs_per_transaction(min(n, 50), pools, hold))  # fmt: skip


def report(
    label: str, n: int, runs: list[Run], nosync: list[Run], bares: list[float],
    syncs: float | None,
) -> None:  # fmt: skip
    """One shape's medians: each figure is the median over the runs on its own."""
    steps = runs[0].steps / n
    wall, cpu = median(r.seconds for r in runs) / n, median(r.cpu for r in runs) / n
    bare_s = median(bares) / n
    sqlite_cpu = median(r.sqlite_cpu for r in runs) / n
    model_cost = median(r.model_seconds for r in runs) / n
    sync_wall = wall - median(r.seconds for r in nosync) / n
    sync_cpu = cpu - median(r.cpu for r in nosync) / n
    verdict = "meets" if cpu / steps <= GOAL_PER_STEP else "misses"
    print(f"\n{label}:")
    print(f"  bare model calls      {ms(bare_s)} a transaction")
    print(f"  through the engine    CPU {ms(cpu)} a transaction, {ms(cpu / steps)} a step "
          f"({verdict} the goal of {GOAL_PER_STEP * 1000:.0f} ms a step)")  # fmt: skip
    print(f"                        wall {ms(wall)} a transaction, {ms(wall / steps)} a step "
          f"({wall / bare_s:.0f}x the bare calls; engine over bare "
          f"{ms((wall - bare_s) / steps)} a step)")  # fmt: skip
    print(f"  SQL per transaction   {runs[0].statements / n:.1f} statements, "
          f"{runs[0].commits / n:.1f} commits"
          + ("" if syncs is None else f", {syncs:.1f} fdatasync/fsync (strace)"))  # fmt: skip
    print(f"  where the CPU goes    SQLite's thread {ms(sqlite_cpu)}, model calls "
          f"{ms(model_cost)} ({runs[0].model_calls / n:.1f} calls), the rest of the loop's "
          f"thread {ms(cpu - sqlite_cpu - model_cost)}; syncs {ms(sync_cpu)} of CPU, "
          f"{ms(sync_wall)} of wall (against synchronous=OFF)")  # fmt: skip


if __name__ == "__main__":
    main()
