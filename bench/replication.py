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
  zfs commands counted: measured only once `zfsyncd.ops.replication.sync` exists (branch
  repl-core); until then the bench says so and measures the baseline alone.
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
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

SRC_POOL, DST_POOL = "zbsrc", "zbdst"
#: the dataset replicated: the bare pipe and the engine send the same snapshots of it
SOURCE = f"{SRC_POOL}/data"
BARE_TARGET = f"{DST_POOL}/bare"
ENGINE_TARGET = f"{DST_POOL}/engine"
#: issue 10: bare time / engine time for one large incremental, at least this
RATIO_TARGET = 0.97
#: the module whose presence means the replica kinds are there to measure
SYNC_MODULE = "zfsyncd.ops.replication.sync"
#: the flags zfsyncd's SendSpec and RecvSpec default to: the baseline uses the same, so
#: the ratio measures the engine, not a difference of flags
SEND_FLAGS = ("-c", "-L", "-e")
RECV_FLAGS = ("-s", "-u")
#: ARC cap in the guest: both pools' images live in its RAM (/var/tmp is a tmpfs there),
#: and an ARC of half the memory beside them would push the guest into swapless OOM
ARC_MAX = 768 << 20

# Logs the command, then becomes the real zfs (exec: same process, same pipes, nothing in
# the stream's way). One line per command; >> appends whole lines even from parallel sends.
# The same in front of zpool (zfsyncd runs `zpool sync` before it reads `written`), logged
# with "zpool" first so that its verb reads "zpool".
WRAPPER = """#!/bin/bash
printf -v argv '%q ' {prefix}"$@"
printf '%s\\n' "$argv" >> {log}
exec {real} "$@"
"""


@dataclass
class ZfsCounter:
    """The `zfs` in front of the real one: what it logged since the last clear."""

    log: Path

    @classmethod
    def install(cls, tmp: Path) -> ZfsCounter:
        """Write the wrapper and put its directory first on PATH (for this process and all
        it starts: the bare pipe, and the engine's CliBackend, which runs plain `zfs`)."""
        bindir = tmp / "bin"
        bindir.mkdir()
        log = tmp / "zfs-commands.log"
        for command, prefix in (("zfs", ""), ("zpool", "zpool ")):
            real = shutil.which(command)
            if real is None:
                raise SystemExit(f"no {command} on PATH: run this in the lab (bench/in-lab.sh)")
            wrapper = bindir / command
            text = WRAPPER.format(prefix=prefix, real=shlex.quote(real), log=shlex.quote(str(log)))
            wrapper.write_text(text)
            wrapper.chmod(0o755)
        os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
        wrapper = bindir / "zfs"
        if shutil.which("zfs") != str(wrapper):
            raise SystemExit(f"the counting wrapper {wrapper} is not the zfs on PATH")
        return cls(log)

    def commands(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [shlex.split(line) for line in self.log.read_text().splitlines() if line]

    def clear(self) -> None:
        self.log.write_text("")


@dataclass
class Measured:
    """One side's runs: seconds, and the zfs commands of each run."""

    seconds: list[float] = field(default_factory=list)
    commands: list[list[list[str]]] = field(default_factory=list)

    def add(self, seconds: float, commands: list[list[str]]) -> None:
        self.seconds.append(seconds)
        self.commands.append(commands)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def verbs(self) -> str:
        """The zfs commands of the last run, by verb: 'send x1, receive x1'."""
        counts = Counter(argv[0] if argv else "?" for argv in self.commands[-1])
        return ", ".join(f"{verb} x{n}" for verb, n in counts.most_common())


def zfs(*args: str) -> str:
    """A zfs command through the counting wrapper (setup: cleared before each measure)."""
    return subprocess.run(["zfs", *args], check=True, capture_output=True, text=True).stdout


def make_pools(tmp: Path, mib: int, runs: int, datasets: int) -> None:
    """Both pools, atime=off as replicated datasets usually are: with atime on, a read of a
    file is a write (README, "Nothing written"), and "nothing to do" would send again."""
    # each pool holds the first snapshot plus every run's new data, once per target on zbdst,
    # and the many datasets' 2 MiB each, with room for their metadata
    src_size = (mib * runs + 256 + 4 * datasets) << 20
    dst_size = 2 * src_size
    for pool, size in ((SRC_POOL, src_size), (DST_POOL, dst_size)):
        subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True, check=False)
        image = tmp / f"{pool}.img"
        subprocess.run(["truncate", "-s", str(size), str(image)], check=True)
        subprocess.run(
            ["zpool", "create", "-f", "-o", "ashift=12", "-O", "mountpoint=none",
             "-O", "atime=off", pool, str(image)],
            check=True,
        )  # fmt: skip


def evict_cache(images: Path) -> None:
    """Empty the ARC of both pools (export, import) before each measured side: otherwise the
    side measured second reads what the first left in memory (seen: 26 s instead of 48 s
    for the bare pipe right after the engine's send of the same blocks)."""
    for pool in (SRC_POOL, DST_POOL):
        subprocess.run(["zpool", "export", pool], check=True)
        subprocess.run(["zpool", "import", "-d", str(images), pool], check=True)


def cap_arc() -> None:
    knob = Path("/sys/module/zfs/parameters/zfs_arc_max")
    if knob.exists():
        knob.write_text(str(ARC_MAX))


def write_data(dataset: str, name: str, mib: int) -> None:
    """`mib` MiB of random (incompressible) data in a new file of the dataset, on disk (the
    source datasets are mounted at /mnt/NAME: see large() and many())."""
    mountpoint = f"/mnt/{dataset}"
    subprocess.run(
        ["dd", "if=/dev/urandom", f"of={mountpoint}/{name}", "bs=1M", f"count={mib}",
         "status=none"],
        check=True,
    )  # fmt: skip
    subprocess.run(["sync"], check=True)


def pipe(send: Sequence[str], receive: Sequence[str]) -> float:
    """Seconds of `SEND | RECEIVE`: two processes and one kernel pipe, no shell."""
    start = time.perf_counter()
    sender = subprocess.Popen(send, stdout=subprocess.PIPE)
    assert sender.stdout is not None
    receiver = subprocess.Popen(receive, stdin=sender.stdout)
    sender.stdout.close()  # receive holds the read end; send sees EPIPE if receive dies
    receive_rc, send_rc = receiver.wait(), sender.wait()
    took = time.perf_counter() - start
    if send_rc or receive_rc:
        raise SystemExit(f"bare pipe failed: send {send_rc}, receive {receive_rc}")
    return took


def bare_send(base: str | None, snapshot: str, target: str) -> float:
    incremental = ("-I", base) if base is not None else ()
    return pipe(
        ["zfs", "send", *SEND_FLAGS, *incremental, snapshot],
        ["zfs", "receive", *RECV_FLAGS, target],
    )


def snapshots_of(dataset: str) -> list[str]:
    out = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-s", "createtxg", dataset)
    return out.split()


def engine_available() -> bool:
    try:
        return importlib.util.find_spec(SYNC_MODULE) is not None
    except ModuleNotFoundError:
        return False


class Engine:
    """zfsyncd's replica transactions through the TransactionManager on CliBackend.

    The kinds and their requests are the ones REPL-PLAN.md fixes: replica-init
    {source, destination} and replica-sync {sources}. Used only when SYNC_MODULE exists.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    async def __aenter__(self) -> Engine:
        self.db = await Database.open(self.db_path)
        # plain "zfs": the counting wrapper, first on PATH
        self.manager = TransactionManager(self.db, local_hosts(CliBackend()))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.manager.shutdown()
        await self.db.close()

    async def run(self, kind: str, request: dict[str, object]) -> None:
        await self.run_all(kind, [request])

    async def run_all(self, kind: str, requests: Sequence[dict[str, object]]) -> None:
        """Submit every request, then wait for all (the manager runs them in parallel)."""
        records = [await self.manager.submit(kind, request) for request in requests]
        for record in records:
            done = await self.manager.wait(record.id)
            if done.state is not TxState.COMPLETED:
                raise SystemExit(f"{kind} {done.id} ended {done.state}: {done.error}")


async def measure(counter: ZfsCounter, args: argparse.Namespace, db_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        eng = await stack.enter_async_context(Engine(db_path)) if engine_available() else None
        bare, engine = await large(counter, args.mib, args.runs, eng, db_path.parent)
        report(args.mib, args.runs, bare, engine if eng is not None else None)
        if args.datasets:
            await many(counter, args.datasets, args.parallel, eng, db_path.parent)


async def large(
    counter: ZfsCounter, mib: int, runs: int, eng: Engine | None, images: Path
) -> tuple[Measured, Measured]:
    """One large incremental per run: the bare pipe and (with the kinds) replica-sync."""
    bare, engine = Measured(), Measured()
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
    base = first
    for run in range(1, runs + 1):
        write_data(SOURCE, f"run{run}", mib)
        if eng is not None:
            evict_cache(images)
            counter.clear()
            start = time.perf_counter()
            await eng.run("replica-sync", {"sources": [SOURCE]})
            engine.add(time.perf_counter() - start, counter.commands())
            new = snapshots_of(SOURCE)[-1]  # the snapshot the sync made and sent
        else:
            new = f"{SOURCE}@bench{run}"
            zfs("snapshot", new)
        evict_cache(images)
        counter.clear()
        bare.add(bare_send(base, new, BARE_TARGET), counter.commands())
        base = new
    return bare, engine


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
            start = time.perf_counter()
            await eng.run("replica-sync", {"parallel": parallel})
            side.add(time.perf_counter() - start, counter.commands())
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
    per = len(synced.commands[-1]) / count
    print(f"  zfsyncd sync all -P {parallel}: {synced.median:7.2f} s, "
          f"{len(synced.commands[-1])} zfs commands ({per:.2f} per dataset; target about 2,"
          f" bzfs 464, syncoid 513): {synced.verbs()}")  # fmt: skip
    print(f"  ratio bare / zfsyncd: {bare.median / synced.median:.3f}")
    print(f"  nothing to do, sync all: {idle.median:7.2f} s, {len(idle.commands[-1])} zfs "
          f"commands (target a constant handful; bzfs 107): {idle.verbs()}")  # fmt: skip


def report(mib: int, runs: int, bare: Measured, engine: Measured | None) -> None:
    print(f"one incremental of {mib} MiB, {SRC_POOL} -> {DST_POOL}, median of {runs} run(s);"
          f" {zfs('version').splitlines()[0]}")  # fmt: skip
    rate = mib / bare.median
    print(f"  bare `zfs send {' '.join(SEND_FLAGS)} -I | zfs receive {' '.join(RECV_FLAGS)}`:"
          f" {bare.median:7.2f} s ({rate:.1f} MiB/s), {bare.verbs()}")  # fmt: skip
    if engine is None:
        # TODO(issue 10, repl-core): dead once zfsyncd.ops.replication.sync (replica-init,
        # replica-sync) is in the tree: Engine then runs them (large() and many()), and the
        # lines below print the engine's time, ratio and zfs commands.
        print(f"  engine: not measured: {SYNC_MODULE} is not in this tree (branch repl-core)")
        return
    ratio = bare.median / engine.median
    verdict = "met" if ratio >= RATIO_TARGET else "MISSED"
    print(f"  zfsyncd replica-sync: {engine.median:7.2f} s, {engine.verbs()}")
    print(f"  ratio bare / zfsyncd: {ratio:.3f} (target at least {RATIO_TARGET}: {verdict})")
    counts = sorted({len(c) for c in engine.commands})
    print(f"  zfs commands per sync: {'/'.join(map(str, counts))} (bare: 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="size of the incremental")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=51, help="for sync all; 0: skip it")
    parser.add_argument("--parallel", type=int, default=4, help="sync all -P")
    args = parser.parse_args()
    cap_arc()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        tmp = Path(name)
        counter = ZfsCounter.install(tmp)
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
