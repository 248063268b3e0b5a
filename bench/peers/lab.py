"""The cases, run in the lab guest as root (bench/peers/run.sh starts it). Each tool starts
from identical pools holding its first replication (not measured) and new data, then the
measured step, from an empty ARC, every zfs and zpool command of it counted by the wrapper
first on PATH (bench/lab_zfs.py). Case 1: fresh pools for each tool in each run. Cases 2-4
(many datasets): that setup made once per tool in the guest, the first time the tool is met,
kept (the pools' images and zfsyncd's database: bench/peers/kept.py) and restored before each
run, so that a run costs its measured steps, not the minutes of creating, writing and first
replicating each dataset again. Writes the raw figures as JSON; `report`
(bench/peers/__main__.py) turns them into medians, ratios, the table and the chart.

zfsyncd runs in this process (its engine on CliBackend, as the daemon runs it, without the
bus); each peer runs as the command an administrator would type, a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.lab_zfs import (
    DST_POOL,
    SRC_POOL,
    Engine,
    ZfsCounter,
    bare_send,
    cap_arc,
    destroy_pools,
    evict_cache,
    export_pools,
    import_pools,
    make_pools,
    write_data,
    zfs,
)
from bench.peers import kept
from bench.peers.stats import verbs
from bench.peers.tools import (
    BARE,
    PEERS,
    VERSION_ARGV,
    ZFSYNCD,
    Job,
    parse_version,
    peer_argv,
    select_argv,
    snapshot_name,
    verb,
)

#: where the source pool is mounted (the bench writes its data there); the destination pool
#: is not mounted, and neither are the copies (they inherit mountpoint=none)
MOUNT = f"/mnt/{SRC_POOL}"
#: what the first replication sends, for case 1
FIRST_MIB = 16
#: what each of the many datasets gets before its first replication, and again before the sync
MANY_MIB = 1
#: the case groups: one pool setup measures the cases listed
GROUPS = {"1": ("1",), "many": ("2", "3"), "many-own": ("4.2", "4.3")}
TITLES = {
    "1": "one large incremental",
    "2": "many datasets, one new snapshot each (the bench's), incremental sync of all",
    "3": "the same datasets, nothing to do: the cost of checking",
    "4.2": "case 2, each tool taking its own snapshots (its default)",
    "4.3": "case 3, each tool in its default mode",
}
#: what the JSON says of the setup of cases 2-4 (its seconds and size per tool beside it)
SETUP_HOW = (
    "cases 2-4: each tool's setup (fresh pools, the datasets, the first data, the tool's "
    "first replication, the second data) made once per guest, the first time the tool is met "
    "in run 1, then both pools exported and their images kept (sparse copies, in the guest's "
    "RAM-backed /var/tmp) with zfsyncd's database; every run, the first included, restores "
    "them and imports the pools (an empty ARC) before the bench's snapshot and the measured "
    "steps. Case 1: fresh pools for every tool in every run, nothing kept"
)


@dataclass(frozen=True)
class Sizes:
    mib: int
    datasets: int
    parallel: int

    def pool_bytes(self) -> dict[str, int]:
        # the source holds the first data, the incremental and the many datasets (2 MiB
        # each, with room for metadata); the destination the same once more, with room
        src = (FIRST_MIB + self.mib + 4 * self.datasets + 256) << 20
        return {SRC_POOL: src, DST_POOL: 2 * src}


@dataclass
class Setup:
    """What one tool's kept setup of a group of cases cost: seconds to make it once (pools,
    datasets, data, first replication, the copies), bytes its files take (each of the
    working files and the kept copies), seconds of each run's restore and import."""

    seconds: float
    bytes: int
    restores: list[float] = field(default_factory=list)


def groups_for(cases: Sequence[str]) -> list[str]:
    """The pool setups that measure `cases` ("2" and "3" share one, as do "4.2" and "4.3";
    "4" means both of its own)."""
    wanted = {c for case in cases for c in (("4.2", "4.3") if case == "4" else (case,))}
    return [group for group, measured in GROUPS.items() if wanted & set(measured)]


class Lab:
    """The pools, the wrapper's log, the bench's own snapshots and each tool's kept setup of
    cases 2-4, for the whole bench (every run)."""

    def __init__(self, tmp: Path, counter: ZfsCounter, sizes: Sizes, setups: int = 1) -> None:
        self.tmp, self.counter, self.sizes = tmp, counter, sizes
        self.last_snapshot = 0
        #: how many setups the bench keeps (one per tool and group of cases 2-4)
        self.setups_planned = setups
        #: (group, tool) -> the tool's driver, its setup kept (files: kept.kept_files)
        self.kept_sides: dict[tuple[str, str], Driver] = {}
        #: group -> tool -> what its setup cost (the JSON's "setup")
        self.setups: dict[str, dict[str, Setup]] = {}

    def fresh_pools(self) -> None:
        make_pools(self.tmp, self.sizes.pool_bytes(), {SRC_POOL: MOUNT})

    def bench_snapshot(self, dataset: str, recursive: bool) -> str:
        """A snapshot named as zfs-autobackup names its own (one a second: wait for the next)."""
        while int(time.time()) <= self.last_snapshot:
            time.sleep(0.05)
        now = time.time()
        self.last_snapshot = int(now)
        name = snapshot_name(now)
        zfs("snapshot", *(["-r"] if recursive else []), f"{dataset}@{name}")
        return name

    async def measured(
        self, step: Callable[[], Awaitable[None]], evict: bool = True
    ) -> dict[str, Any]:
        if evict:
            evict_cache(self.tmp)
        self.counter.clear()
        start = time.perf_counter()
        await step()
        seconds = time.perf_counter() - start
        commands = self.counter.commands()
        return {
            "seconds": seconds,
            "commands": len(commands),
            "verbs": verbs([verb(argv) for argv in commands]),
        }


class Driver:
    """One tool: its first replication (not measured), what the bench does before the
    measured step (not measured), and the measured step. `async with` holds what it needs
    open between them (zfsyncd's engine); outside it, its files can be copied."""

    def __init__(self, lab: Lab, job: Job, datasets: list[str]) -> None:
        self.lab, self.job, self.datasets = lab, job, datasets

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def beside_pools(self) -> list[Path]:
        """The files of the tool's state outside the pools, kept with their images."""
        return []

    def restored(self) -> None:
        """The kept setup is back: what the driver remembers goes back to it too."""
        return None

    async def first(self) -> None:
        raise NotImplementedError

    def before_sync(self) -> None:
        """The bench's snapshot, for a tool that sends the snapshots it finds."""
        if not self.job.own_snapshots:
            self.lab.bench_snapshot(self.job.source, self.job.children)

    async def sync(self) -> None:
        raise NotImplementedError


class Bare(Driver):
    """`zfs send | zfs receive`, one pair per dataset in turn, as a shell loop runs them; in
    its own mode it takes the snapshot first, with one `zfs snapshot [-r]`."""

    async def first(self) -> None:
        self.base = self.first_base = self.lab.bench_snapshot(self.job.source, self.job.children)
        for dataset in self.datasets:
            bare_send(None, f"{dataset}@{self.base}", self.job.copy_of(dataset))

    def restored(self) -> None:
        self.base = self.first_base

    def before_sync(self) -> None:
        if not self.job.own_snapshots:
            self.new = self.lab.bench_snapshot(self.job.source, self.job.children)

    async def sync(self) -> None:
        if self.job.own_snapshots:
            self.new = self.lab.bench_snapshot(self.job.source, self.job.children)
        for dataset in self.datasets:
            bare_send(f"{dataset}@{self.base}", f"{dataset}@{self.new}", self.job.copy_of(dataset))
        self.base = self.new


class Zfsyncd(Driver):
    """replica-init of each pair, then replica-sync: of the one source, or `sync all -P N`.
    zfsyncd has one mode: it always takes the snapshot it sends."""

    def __init__(self, lab: Lab, job: Job, datasets: list[str], db: Path) -> None:
        super().__init__(lab, job, datasets)
        self.db = db

    async def __aenter__(self) -> Driver:
        self.engine = await Engine(self.db).__aenter__()
        return self

    async def __aexit__(self, *_: object) -> None:
        # closed before its database is copied: the copy is a whole, checkpointed database
        await self.engine.__aexit__()

    def beside_pools(self) -> list[Path]:
        return kept.sqlite_files(self.db)

    async def first(self) -> None:
        inits: list[dict[str, object]] = [
            {"source": dataset, "destination": self.job.copy_of(dataset)}
            for dataset in self.datasets
        ]
        await self.engine.run_all("replica-init", inits)

    def before_sync(self) -> None:
        return None

    async def sync(self) -> None:
        request: dict[str, object] = (
            {"parallel": self.lab.sizes.parallel}
            if self.job.children
            else {"sources": list(self.datasets)}
        )
        await self.engine.run("replica-sync", request)


class Peer(Driver):
    """syncoid, zfs-autobackup or bzfs, as a command of its own; one that fails ends the
    benchmark with its output (never left out of the figures)."""

    def __init__(self, tool: str, lab: Lab, job: Job, datasets: list[str]) -> None:
        super().__init__(lab, job, datasets)
        self.tool = tool

    async def first(self) -> None:
        self.select()
        self.before_sync()
        self.run()

    def select(self) -> None:
        argv = select_argv(self.tool, self.datasets)
        if argv is not None:
            subprocess.run(argv, check=True, capture_output=True)

    async def sync(self) -> None:
        self.run()

    def run(self) -> None:
        argv = peer_argv(self.tool, self.job, str(self.lab.tmp))
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-30:]
            raise SystemExit(
                f"{self.tool} failed (exit {done.returncode}): {' '.join(argv)}\n"
                + "\n".join(output)
            )


def driver(tool: str, lab: Lab, job: Job, datasets: list[str], db: Path) -> Driver:
    """The driver of `tool`; `db`: zfsyncd's database (a new file: a new replica set)."""
    if tool == BARE:
        return Bare(lab, job, datasets)
    if tool == ZFSYNCD:
        return Zfsyncd(lab, job, datasets, db)
    return Peer(tool, lab, job, datasets)


async def large(lab: Lab, tool: str) -> dict[str, dict[str, Any]]:
    """Case 1: a dataset with FIRST_MIB replicated, then `mib` MiB more, synced."""
    lab.fresh_pools()
    source = f"{SRC_POOL}/data"
    job = Job(source, f"{DST_POOL}/{tool}", children=False, own_snapshots=False)
    zfs("create", source)
    zfs("create", job.target)
    write_data(f"{MOUNT}/data", "first", FIRST_MIB)
    db = lab.tmp / f"zfsyncd-{time.time_ns()}.db"
    async with driver(tool, lab, job, [source], db) as side:
        await side.first()
        write_data(f"{MOUNT}/data", "new", lab.sizes.mib)
        side.before_sync()
        return {"1": await lab.measured(side.sync)}


async def set_up_many(lab: Lab, group: str, tool: str, own: bool) -> Setup:
    """A tool's setup of cases 2 and 3 (4.2 and 4.3 with `own`), made once: fresh pools,
    `datasets` children with MANY_MIB each, the tool's first replication, MANY_MIB more in
    each; then both pools exported and kept with the tool's files (kept.kept_files). Its
    seconds and size go to lab.setups. (`zfs create` takes one filesystem, and a channel
    program creates none: one command a dataset, once per tool and guest.)"""
    start = time.perf_counter()
    lab.fresh_pools()
    parent = f"{SRC_POOL}/many"
    job = Job(parent, f"{DST_POOL}/{tool}", children=True, own_snapshots=own)
    zfs("create", parent)
    zfs("create", job.target)
    children = [f"{parent}/d{i:03}" for i in range(lab.sizes.datasets)]
    for child in children:
        zfs("create", child)
        write_data(f"/mnt/{child}", "first", MANY_MIB)
    side = driver(tool, lab, job, children, kept.engine_db(lab.tmp, group))
    async with side:
        await side.first()
    for child in children:
        write_data(f"/mnt/{child}", "second", MANY_MIB)
    export_pools()
    files = kept.kept_files(lab.tmp, group, tool, side.beside_pools())
    size = kept.allocated([work for work, _ in files])
    largest = max([size, *(setup.bytes for g in lab.setups.values() for setup in g.values())])
    # this copy and the ones still to make, each as large as the largest so far: refused
    # now rather than an hour later, when the guest's memory runs out under a pool
    short = kept.room_short(
        largest, lab.setups_planned - len(lab.kept_sides), kept.available(lab.tmp)
    )
    if short is not None:
        raise SystemExit(f"the kept setups would not fit in the guest: {short}")
    kept.copy(files, keeping=True)
    lab.kept_sides[group, tool] = side
    made = Setup(round(time.perf_counter() - start, 2), size)
    lab.setups.setdefault(group, {})[tool] = made
    return made


async def many(lab: Lab, group: str, tool: str) -> dict[str, dict[str, Any]]:
    """Cases 2 and 3 (4.2 and 4.3 in group many-own): the tool's kept setup (set_up_many)
    restored, both pools imported (an empty ARC), the bench's snapshot, the measured sync of
    all; then synced again with nothing to do (not the bare loop: it checks nothing, so it
    has nothing to measure there)."""
    side = lab.kept_sides[group, tool]
    start = time.perf_counter()
    destroy_pools()  # any left imported (case 1's): their images are overwritten next
    kept.copy(kept.kept_files(lab.tmp, group, tool, side.beside_pools()), keeping=False)
    import_pools(lab.tmp)
    side.restored()
    lab.setups[group][tool].restores.append(round(time.perf_counter() - start, 2))
    synced, idle = GROUPS[group]
    async with side:
        # the bench's snapshot after the import: any write the import makes (the intent
        # log's claim) is in it, not left for case 3 to find
        side.before_sync()
        out = {synced: await lab.measured(side.sync, evict=False)}
        if tool != BARE:
            # no export and import first: an import claims the intent log of each dataset
            # written with a sync (the bench's `sync` after its data) and so writes to it
            # (`written` 8 KiB after the sync's snapshot, measured in the lab), which is not
            # nothing to do for a tool that checks `written`; every tool finds the caches
            # as the case before left them
            out[idle] = await lab.measured(side.sync, evict=False)
    export_pools()
    return out


@dataclass(frozen=True)
class Step:
    """One tool measured in one group of cases in one run; `set_up`: its setup of the group
    is made first (the group's datasets, kept for the runs after)."""

    run: int
    group: str
    tool: str
    set_up: bool


def plan(cases: Sequence[str], tools: Sequence[str], runs: int) -> list[Step]:
    """What the bench does, in order. Runs outermost, the tools rotated (each run measures
    every tool in turn, so a slow spell of the host falls on all tools, not on one); each
    tool's setup of a group of many datasets made once, before its first measure (in run 1),
    and none for case 1 (fresh pools every time: kept, its 512 MiB would fill the guest)."""
    steps, made = [], set()
    for run in range(runs):
        for group in groups_for(cases):
            for tool in rotated(tools, run):
                set_up = group != "1" and (group, tool) not in made
                made.add((group, tool))
                steps.append(Step(run, group, tool, set_up))
    return steps


def rotated(tools: Sequence[str], run: int) -> list[str]:
    """The tools in the order of run `run`: each run starts with the next one, so that no
    tool is always measured first (or last) of a run."""
    shift = run % len(tools)
    return [*tools[shift:], *tools[:shift]]


def version_of(tool: str) -> str:
    out = subprocess.run(VERSION_ARGV[tool], capture_output=True, text=True, check=False)
    return parse_version(out.stdout + out.stderr)


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "?",
    )  # fmt: skip
    return {
        "openzfs": zfs("version").split(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20,
        "python": sys.version.split()[0],
    }


Results = dict[str, dict[str, list[dict[str, Any]]]]


async def measure(
    lab: Lab,
    cases: Sequence[str],
    tools: Sequence[str],
    runs: int,
    save: Callable[[Results], None],
) -> Results:
    """case -> tool -> one dict per run, `save`d after each measure (what a run cut short
    measured is kept), in the order of plan()."""
    results: Results = {}
    wanted = {c for case in cases for c in (("4.2", "4.3") if case == "4" else (case,))}
    for step in plan(cases, tools, runs):
        group, tool = step.group, step.tool
        print(f"run {step.run + 1}/{runs}, case {'/'.join(GROUPS[group])}: {tool}", flush=True)
        if group == "1":
            figures = await large(lab, tool)
        else:
            if step.set_up:
                made = await set_up_many(lab, group, tool, own=group == "many-own")
                print(f"  setup, once: {made.seconds:.0f} s, {made.bytes / (1 << 20):.0f} MiB "
                      "kept", flush=True)  # fmt: skip
            figures = await many(lab, group, tool)
        for case, figure in figures.items():
            if case in wanted:
                results.setdefault(case, {}).setdefault(tool, []).append(figure)
                print(f"  {case}: {figure['seconds']:.2f} s, "
                      f"{figure['commands']} commands", flush=True)  # fmt: skip
        save(results)
    return results


def run(
    tmp: Path,
    cases: Sequence[str],
    tools: Sequence[str],
    runs: int,
    sizes: Sizes,
    out: Path,
    commit: str,
) -> None:
    """Everything the lab measures, with what it was measured on, written to `out` as JSON
    after each measure ("complete": false until the last)."""
    cap_arc()
    bench_bin = str(Path(sys.executable).parent)  # the peers' venv: bzfs, zfs-autobackup
    os.environ["PATH"] = f"{bench_bin}:{os.environ['PATH']}"
    counter = ZfsCounter.install(tmp)
    peers = [tool for tool in tools if tool in PEERS]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    meta = {
        "started": started,
        "machine": machine(),
        "versions": {tool: version_of(tool) for tool in peers},
        "zfsyncd": commit,
        "pools": {
            "layout": "two pools, one file-backed vdev each (sparse image in the guest's "
            "/var/tmp, a RAM-backed tmpfs), ashift=12; the source mounted, the destination "
            "not; case 1: new pools for every tool in every run; cases 2-4: each tool's "
            "pools made once and restored from kept copies before every run (setup)",
            "bytes": sizes.pool_bytes(),
        },
        "sizes": {
            "mib": sizes.mib,
            "first_mib": FIRST_MIB,
            "datasets": sizes.datasets,
            "many_mib": MANY_MIB,
            "parallel": sizes.parallel,
            "runs": runs,
        },
        "tools": list(tools),
    }
    many_groups = [group for group in groups_for(cases) if group != "1"]
    lab = Lab(tmp, counter, sizes, setups=len(tools) * len(many_groups))

    def save(results: Results, complete: bool = False) -> None:
        cases = {
            case: {"title": TITLES[case], "runs": by_tool} for case, by_tool in results.items()
        }
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        setup = {
            "how": SETUP_HOW,
            "tools": {g: {t: asdict(s) for t, s in by_tool.items()}
                      for g, by_tool in lab.setups.items()},
        }  # fmt: skip
        data = {**meta, "finished": finished, "complete": complete, "setup": setup,
                "cases": cases}  # fmt: skip
        out.write_text(json.dumps(data, indent=1) + "\n")

    try:
        save(asyncio.run(measure(lab, cases, tools, runs, save)), complete=True)
    finally:
        destroy_pools()
