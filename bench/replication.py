"""Replication against the bare zfs commands, on two real pools (run in the lab): issue 10's
cost, as ratios measured in one run, never as absolute timings.

    bench/in-lab.sh bench/replication.py [--mib 512] [--runs 1] [--datasets 51] [--parallel 4]

A directory put first on PATH holds a `zfs` script that logs its argv and then execs the real
zfs, so every zfs command either side runs is counted the same way (the counts come from
what ran, not from the engine's own tally). Two file-backed pools, `zbsrc` and `zbdst`:

- baseline: a dataset on zbsrc with a first snapshot, fully received on zbdst; then --mib MiB
  of new data and a second snapshot; then, timed, the bare `zfs send -I | zfs receive` of
  that incremental (two processes joined by a kernel pipe, as a shell pipe joins them), with
  the same flags zfsyncd uses (-c -L -e; receive -s -u).
- engine: zfsyncd's replica-sync of the same source (same data, same run), timed and its
  zfs commands counted to the sync's own end: what `zfsyncctl replica sync` waits for (the
  transaction's Finished signal). The expiry that follows a sync is a transaction of its
  own (sync.py), run after it: its time and commands are printed apart.
- many: --datasets filesystems (1 MiB each), each initialised; 1 MiB more in each; then
  `sync all -P N` (one new snapshot each), and again with nothing to do; beside it the bare
  loop, one send|recv pair per dataset in turn, over the same snapshots (without the kinds:
  over a `zfs snapshot -r` of its own, counted with it).

Each measured side starts with an empty ARC (the pools exported and imported). Prints the
times, the ratio bare / engine (issue 10's target: at least 0.97), and the zfs
commands of each side by verb.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.lab_zfs import (
    ARC_MAX,
    DST_POOL,
    RECV_FLAGS,
    SEND_FLAGS,
    SRC_POOL,
    STREAM_VERBS,
    Engine,
    Timed,
    ZfsCounter,
    bare_send,
    beside_stream,
    cap_arc,
    evict_cache,
    snapshots_of,
    zfs,
)
from bench.lab_zfs import make_pools as make_lab_pools
from bench.lab_zfs import write_data as write_file
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec

#: the dataset replicated: the bare pipe and the engine send the same snapshots of it
SOURCE = f"{SRC_POOL}/data"
BARE_TARGET = f"{DST_POOL}/bare"
ENGINE_TARGET = f"{DST_POOL}/engine"
#: the engine's pipe alone (CliBackend.send_recv: -vP, the splice pump), without the engine
PIPE_TARGET = f"{DST_POOL}/pipe"
#: issue 10: bare time / engine time for one large incremental, at least this
RATIO_TARGET = 0.97
#: the module whose presence means the replica kinds are there to measure
SYNC_MODULE = "zfsyncd.ops.replication.sync"


@dataclass
class Measured:
    """One side's runs: seconds, and the zfs commands of each run."""

    seconds: list[float] = field(default_factory=list)
    commands: list[list[list[str]]] = field(default_factory=list)
    #: per run: seconds in the commands beside the stream (not send, receive), by verb
    spent: list[dict[str, float]] = field(default_factory=list)
    #: the last run's timed commands and its own start and end (epoch seconds)
    timeline: list[Timed] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)
    #: per run, a replica sync's expiry after it (add_transaction): seconds, zfs commands
    follow: list[tuple[float, int]] = field(default_factory=list)

    def add(
        self, seconds: float, commands: list[list[str]], spent: dict[str, float] | None = None
    ) -> None:
        self.seconds.append(seconds)
        self.commands.append(commands)
        self.spent.append(spent or {})

    def add_transaction(
        self, counter: ZfsCounter, began: float, ended: float, waited: float
    ) -> None:
        """One run of a replica sync that `began` and `ended` (epoch seconds): timed and
        counted to its own end, which is what `zfsyncctl replica sync` waits for (its
        Finished signal); the expiry that follows it (replica-expire, a transaction of its
        own, run once the sync's locks are released) until `waited`, kept apart. Every
        command is timed here (ZFSYNC_BENCH_TIME_STREAM=1, main): those that started
        before the sync's end are its own."""
        timeline = counter.timeline()
        mine = [t for t in timeline if t.start < ended]
        self.add(ended - began, [t.argv for t in mine], beside_stream(mine))
        self.follow.append((waited - ended, len(timeline) - len(mine)))
        self.timeline, self.window = mine, (began, ended)

    def followed(self) -> str:
        """The follow-up of the runs: median seconds and the last run's commands."""
        if not self.follow:
            return "none"
        seconds = statistics.median(s for s, _ in self.follow)
        return f"{seconds:.2f} s, {self.follow[-1][1]} zfs commands"

    def phases(self) -> str:
        """The last run in three parts: before the first stream command started, from it to
        the end of the last one, after it; with where the time outside went."""
        began, ended = self.window
        stream = [t for t in self.timeline if t.argv and t.argv[0] in STREAM_VERBS]
        if not stream:
            return "no stream timed"
        first, last = min(t.start for t in stream), max(t.end for t in stream)
        outside = [t for t in self.timeline if t not in stream]
        busy_before = sum(min(t.end, first) - t.start for t in outside if t.start < first)
        busy_after = sum(t.end - max(t.start, last) for t in outside if t.end > last)
        during = sum(
            min(t.end, last) - max(t.start, first)
            for t in outside
            if t.end > first and t.start < last
        )
        return (
            f"before the stream {first - began:.2f} s ({busy_before:.2f} s in zfs commands),"
            f" the stream {last - first:.2f} s ({during:.2f} s of other commands beside it),"
            f" after it {ended - last:.2f} s ({busy_after:.2f} s in zfs commands)"
        )

    def lines(self) -> list[str]:
        """The last run's timed commands, each as offset from the run's start, duration,
        argv (cut)."""
        began = self.window[0]
        return [
            f"    {t.start - began:7.2f} +{t.end - t.start:6.2f} s  {' '.join(t.argv)[:110]}"
            for t in self.timeline
        ]

    def beside(self) -> str:
        """Where the last run's time beside the stream went: its zfs commands by verb."""
        spent = self.spent[-1] if self.spent else {}
        total = sum(spent.values())
        verbs = ", ".join(f"{v} {t:.2f} s" for v, t in sorted(spent.items(), key=lambda i: -i[1]))
        return f"{total:.2f} s in zfs commands beside send and receive ({verbs})"

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def verbs(self) -> str:
        """The zfs commands of the last run, by verb: 'send x1, receive x1'."""
        counts = Counter(argv[0] if argv else "?" for argv in self.commands[-1])
        return ", ".join(f"{verb} x{n}" for verb, n in counts.most_common())


def make_pools(tmp: Path, mib: int, runs: int, datasets: int) -> None:
    """Both pools, atime=off as replicated datasets usually are: with atime on, a read of a
    file is a write (README, "Nothing written"), and "nothing to do" would send again."""
    # each pool holds the first snapshot plus every run's new data, once per target on zbdst,
    # and the many datasets' 2 MiB each, with room for their metadata and half a run more
    # (the pool's own reserve: `--runs 3 --datasets 0` filled the source in its last run)
    src_size = (mib * runs + mib // 2 + 256 + 4 * datasets) << 20
    make_lab_pools(tmp, {SRC_POOL: src_size, DST_POOL: 3 * src_size})


def check_room(mib: int, runs: int, datasets: int) -> None:
    """Refuse, before any pool is made, a run that cannot fit the guest's memory. The pool
    images live in its RAM-backed /var/tmp and nothing is freed between runs: every run's
    `mib` stays on the source and on each of its three targets (bare, the engine's pipe,
    replica-sync), and the many datasets' 2 MiB each on the source and two targets, beside
    the ARC (ARC_MAX). Past that the guest runs out of memory and stalls without a word:
    the likely end of `--runs 3 --datasets 0` at 512 MiB in a 4 GiB guest, twice (about
    6.8 GiB needed; session 9: an empty output until it was stopped)."""
    need = ((4 * (mib * runs + 16) + 3 * 2 * datasets) << 20) + ARC_MAX
    meminfo = Path("/proc/meminfo").read_text().split()
    have = int(meminfo[meminfo.index("MemAvailable:") + 1]) << 10
    if need > have:
        raise SystemExit(
            f"replication.py: --runs {runs} of --mib {mib} (and --datasets {datasets}) needs "
            f"about {need >> 20} MiB of the guest's memory, which has {have >> 20} MiB "
            "available: fewer runs or MiB, or a larger guest (VM_MEM=MiB bench/in-lab.sh ...)"
        )


def write_data(dataset: str, name: str, mib: int) -> None:
    """`mib` MiB of random data in a new file of the dataset (mounted at /mnt/NAME: see
    large() and many())."""
    write_file(f"/mnt/{dataset}", name, mib)


def engine_available() -> bool:
    try:
        return importlib.util.find_spec(SYNC_MODULE) is not None
    except ModuleNotFoundError:
        return False


async def measure(counter: ZfsCounter, args: argparse.Namespace, db_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        eng = await stack.enter_async_context(Engine(db_path)) if engine_available() else None
        bare, engine, piped = await large(counter, args.mib, args.runs, eng, db_path.parent)
        report(args.mib, args.runs, bare, engine if eng is not None else None, piped)
        if args.datasets:
            await many(counter, args.datasets, args.parallel, eng, db_path.parent)


async def engine_pipe(base: str, snapshot: str, target: str) -> float:
    """Seconds of the engine's own send|recv (CliBackend.send_recv: `zfs send -vP`, the
    splice pump, progress) of the same incremental, without the engine around it: what
    the stream alone costs the engine beside the bare shell pipe."""
    zfs = CliBackend()
    start = time.perf_counter()
    await zfs.send_recv(SendSpec(snapshot=snapshot, base=base), zfs, RecvSpec(target=target))
    return time.perf_counter() - start


async def large(
    counter: ZfsCounter, mib: int, runs: int, eng: Engine | None, images: Path
) -> tuple[Measured, Measured, Measured]:
    """One large incremental per run: the bare pipe, the engine's pipe alone and (with the
    kinds) replica-sync. The two pipes change order from run to run (a loaded host slows
    one run more than the next)."""
    bare, engine, piped = Measured(), Measured(), Measured()
    zfs("create", "-o", f"mountpoint=/mnt/{SOURCE}", SOURCE)
    write_data(SOURCE, "first", 16)
    # the first snapshot, on both targets (not measured)
    if eng is not None:
        await eng.run("replica-init", {"source": SOURCE, "destination": ENGINE_TARGET})
        first = snapshots_of(SOURCE)[-1]  # the snapshot init made and sent
    else:
        first = f"{SOURCE}@bench0"
        zfs("snapshot", first)
    bare_send(None, first, BARE_TARGET)
    bare_send(None, first, PIPE_TARGET)
    base = first
    for run in range(1, runs + 1):
        write_data(SOURCE, f"run{run}", mib)
        if eng is not None:
            evict_cache(images)
            counter.clear()
            began = time.time()
            tx_id = await eng.run("replica-sync", {"sources": [SOURCE]})
            engine.add_transaction(counter, began, eng.ended[tx_id], time.time())
            new = snapshots_of(SOURCE)[-1]  # the snapshot the sync made and sent
        else:
            new = f"{SOURCE}@bench{run}"
            zfs("snapshot", new)
        for side in (bare, piped) if run % 2 else (piped, bare):
            evict_cache(images)
            counter.clear()
            if side is bare:
                bare.add(bare_send(base, new, BARE_TARGET), counter.commands())
            else:
                piped.add(await engine_pipe(base, new, PIPE_TARGET), counter.commands())
        base = new
    return bare, engine, piped


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[1]


async def many(
    counter: ZfsCounter, count: int, parallel: int, eng: Engine | None, images: Path
) -> None:
    """`sync all -P N` over `count` datasets with one new snapshot each, then again with
    nothing to do; beside it the bare loop (one send|recv pair per dataset, in turn, as a
    shell loop runs them) over the same snapshots."""
    parent = f"{SRC_POOL}/many"
    bare_parent, engine_parent = f"{DST_POOL}/bare_many", f"{DST_POOL}/engine_many"
    zfs("create", "-o", f"mountpoint=/mnt/{parent}", parent)
    zfs("create", bare_parent)
    zfs("create", engine_parent)
    children = [f"{parent}/d{i:03}" for i in range(count)]
    for child in children:
        zfs("create", child)
        write_data(child, "first", 1)
    if eng is not None:
        inits: list[dict[str, object]] = [
            {"source": c, "destination": f"{engine_parent}/{_leaf(c)}"} for c in children
        ]
        await eng.run_all("replica-init", inits)
    else:
        zfs("snapshot", "-r", f"{parent}@bench0")
    firsts = [snapshots_of(c)[-1] for c in children]
    for first in firsts:
        bare_send(None, first, f"{bare_parent}/{_leaf(names_dataset(first))}")
    for child in children:
        write_data(child, "second", 1)

    bare, synced, idle = Measured(), Measured(), Measured()
    snapshot_seconds, snapshot_commands = 0.0, []
    if eng is not None:
        for side in (synced, idle):  # the second sync finds nothing written
            if side is synced:
                # not before the idle one: an import writes to every dataset (its ZIL
                # claimed), which `written` counts, so nothing would be idle any more
                evict_cache(images)
            counter.clear()
            began = time.time()
            tx_id = await eng.run("replica-sync", {"parallel": parallel})
            side.add_transaction(counter, began, eng.ended[tx_id], time.time())
    else:  # the bare side makes its own snapshots: one recursive command
        counter.clear()
        start = time.perf_counter()
        zfs("snapshot", "-r", f"{parent}@bench1")
        snapshot_seconds, snapshot_commands = time.perf_counter() - start, counter.commands()
    news = [snapshots_of(c)[-1] for c in children]
    evict_cache(images)
    counter.clear()
    start = time.perf_counter()
    for first, new in zip(firsts, news, strict=True):
        bare_send(first, new, f"{bare_parent}/{_leaf(names_dataset(new))}")
    bare.add(time.perf_counter() - start + snapshot_seconds, snapshot_commands + counter.commands())
    report_many(count, parallel, bare, synced if eng is not None else None, idle)


def names_dataset(snapshot: str) -> str:
    return snapshot.split("@", 1)[0]


def report_many(
    count: int, parallel: int, bare: Measured, synced: Measured | None, idle: Measured
) -> None:
    print(f"\n{count} datasets, one new snapshot each (1 MiB written in each)")
    made = "snapshots by the sync" if synced is not None else "`zfs snapshot -r` included"
    print(f"  bare loop of send|recv pairs: {bare.median:7.2f} s, "
          f"{len(bare.commands[-1])} zfs commands ({made}): {bare.verbs()}")  # fmt: skip
    if synced is None:
        # TODO(issue 10, repl-core): dead once zfsyncd.ops.replication.sync is in the tree
        print(f"  zfsyncd sync all: not measured: {SYNC_MODULE} is not in this tree")
        return
    # sync all sends every pair of the pools, the large incremental's too: per pair sent
    pairs = max(1, sum(1 for argv in synced.commands[-1] if argv[:1] == ["send"]))
    per = len(synced.commands[-1]) / pairs
    print(f"  zfsyncd sync all -P {parallel}: {synced.median:7.2f} s, "
          f"{len(synced.commands[-1])} zfs commands ({per:.2f} per pair of the {pairs} sent;"
          " target about 2,"
          f" bzfs 464, syncoid 513): {synced.verbs()}")  # fmt: skip
    print(f"  ratio bare / zfsyncd: {bare.median / synced.median:.3f}")
    print(f"  of it: {synced.beside()}")
    print(f"  its last run: {synced.phases()}")
    print(f"  then its expiry (a transaction of its own, after the sync): {synced.followed()}")
    print(f"  nothing to do, sync all: {idle.median:7.2f} s, {len(idle.commands[-1])} zfs "
          f"commands (target a constant handful; bzfs 107): {idle.verbs()};"
          f" then its expiry: {idle.followed()}")  # fmt: skip


def report(mib: int, runs: int, bare: Measured, engine: Measured | None, piped: Measured) -> None:
    print(f"one incremental of {mib} MiB, {SRC_POOL} -> {DST_POOL}, median of {runs} run(s);"
          f" {zfs('version').splitlines()[0]}")  # fmt: skip
    rate = mib / bare.median
    print(f"  bare `zfs send {' '.join(SEND_FLAGS)} -I | zfs receive {' '.join(RECV_FLAGS)}`:"
          f" {bare.median:7.2f} s ({rate:.1f} MiB/s), {bare.verbs()};"
          f" runs: {_runs(bare)}")  # fmt: skip
    print(f"  the engine's pipe alone (send -vP, splice pump): {piped.median:7.2f} s,"
          f" ratio bare / it {bare.median / piped.median:.3f}; runs: {_runs(piped)}")  # fmt: skip
    if engine is None:
        # TODO(issue 10, repl-core): dead once zfsyncd.ops.replication.sync (replica-init,
        # replica-sync) is in the tree: Engine then runs them (large() and many()), and the
        # lines below print the engine's time, ratio and zfs commands.
        print(f"  engine: not measured: {SYNC_MODULE} is not in this tree (branch repl-core)")
        return
    ratio = bare.median / engine.median
    verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
    print(f"  zfsyncd replica-sync, to its end (what `zfsyncctl replica sync` waits for):"
          f" {engine.median:7.2f} s, {engine.verbs()}; runs: {_runs(engine)}")  # fmt: skip
    print(f"  then its expiry (replica-expire, a transaction of its own, once the sync's"
          f" locks are released): {engine.followed()}")  # fmt: skip
    # the rest: the stream (about the bare pipe's time) and the engine's own Python, SQLite
    print(f"  of it: {engine.beside()}")
    print(f"  its last run: {engine.phases()}")
    print("  its commands (seconds from the sync's start, duration, command):")
    print("\n".join(engine.lines()))
    print(f"  ratio bare / zfsyncd: {ratio:.3f} (target at least {RATIO_TARGET}: {verdict})")
    # each run's own ratio: the engine and the bare pipe of one run meet the same load,
    # where the medians of the two sides may come from runs the host treated differently
    paired = [b / e for b, e in zip(bare.seconds, engine.seconds, strict=True)]
    print(f"  each run's bare / zfsyncd: {' '.join(f'{r:.3f}' for r in paired)};"
          f" their median {statistics.median(paired):.3f}")  # fmt: skip
    counts = sorted({len(c) for c in engine.commands})
    print(f"  zfs commands per sync: {'/'.join(map(str, counts))} (bare: 2)")


def _runs(side: Measured) -> str:
    return " ".join(f"{s:.2f}" for s in side.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="size of the incremental")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=51, help="for sync all; 0: skip it")
    parser.add_argument("--parallel", type=int, default=4, help="sync all -P")
    args = parser.parse_args()
    check_room(args.mib, args.runs, args.datasets)
    cap_arc()
    # send and receive timed too, for the timeline of each run (nothing here stops a stream)
    os.environ["ZFSYNC_BENCH_TIME_STREAM"] = "1"
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        tmp = Path(name)
        counter = ZfsCounter.install(tmp)
        print(f"zfs commands counted and timed by a wrapper: {counter.cost()}")
        make_pools(tmp, args.mib, args.runs, args.datasets)
        try:
            asyncio.run(measure(counter, args, tmp / "zfsyncd.db"))
        finally:
            for pool in (SRC_POOL, DST_POOL):
                subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True, check=False)


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("run as root, in the lab: bench/in-lab.sh bench/replication.py")
    main()
