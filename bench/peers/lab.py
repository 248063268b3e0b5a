"""The cases, run in the lab guest as root (bench/peers/run.sh starts it): for each run, each
case and each tool, fresh identical pools; the tool's first replication (not measured); new
data; then the measured step, from an empty ARC, every zfs and zpool command of it counted by
the wrapper first on PATH (bench/lab_zfs.py). Writes the raw figures as JSON; `report`
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
from dataclasses import dataclass
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
    make_pools,
    write_data,
    zfs,
)
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


def groups_for(cases: Sequence[str]) -> list[str]:
    """The pool setups that measure `cases` ("2" and "3" share one, as do "4.2" and "4.3";
    "4" means both of its own)."""
    wanted = {c for case in cases for c in (("4.2", "4.3") if case == "4" else (case,))}
    return [group for group, measured in GROUPS.items() if wanted & set(measured)]


class Lab:
    """The pools, the wrapper's log and the bench's own snapshots, for one whole run."""

    def __init__(self, tmp: Path, counter: ZfsCounter, sizes: Sizes) -> None:
        self.tmp, self.counter, self.sizes = tmp, counter, sizes
        self.last_snapshot = 0

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
    measured step (not measured), and the measured step."""

    def __init__(self, lab: Lab, job: Job, datasets: list[str]) -> None:
        self.lab, self.job, self.datasets = lab, job, datasets

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *_: object) -> None:
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
        self.base = self.lab.bench_snapshot(self.job.source, self.job.children)
        for dataset in self.datasets:
            bare_send(None, f"{dataset}@{self.base}", self.job.copy_of(dataset))

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

    async def __aenter__(self) -> Driver:
        self.engine = await Engine(self.lab.tmp / f"zfsyncd-{time.time_ns()}.db").__aenter__()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.engine.__aexit__()

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


def driver(tool: str, lab: Lab, job: Job, datasets: list[str]) -> Driver:
    if tool == BARE:
        return Bare(lab, job, datasets)
    if tool == ZFSYNCD:
        return Zfsyncd(lab, job, datasets)
    return Peer(tool, lab, job, datasets)


async def large(lab: Lab, tool: str) -> dict[str, dict[str, Any]]:
    """Case 1: a dataset with FIRST_MIB replicated, then `mib` MiB more, synced."""
    lab.fresh_pools()
    source = f"{SRC_POOL}/data"
    job = Job(source, f"{DST_POOL}/{tool}", children=False, own_snapshots=False)
    zfs("create", source)
    zfs("create", job.target)
    write_data(f"{MOUNT}/data", "first", FIRST_MIB)
    async with driver(tool, lab, job, [source]) as side:
        await side.first()
        write_data(f"{MOUNT}/data", "new", lab.sizes.mib)
        side.before_sync()
        return {"1": await lab.measured(side.sync)}


async def many(lab: Lab, tool: str, own: bool) -> dict[str, dict[str, Any]]:
    """Cases 2 and 3 (4.2 and 4.3 with `own`): `datasets` children replicated, MANY_MIB more
    in each, synced; then synced again with nothing to do (not the bare loop: it checks
    nothing, so it has nothing to measure there)."""
    lab.fresh_pools()
    parent = f"{SRC_POOL}/many"
    job = Job(parent, f"{DST_POOL}/{tool}", children=True, own_snapshots=own)
    zfs("create", parent)
    zfs("create", job.target)
    children = [f"{parent}/d{i:03}" for i in range(lab.sizes.datasets)]
    for child in children:
        zfs("create", child)
        write_data(f"/mnt/{child}", "first", MANY_MIB)
    synced, idle = ("4.2", "4.3") if own else ("2", "3")
    async with driver(tool, lab, job, children) as side:
        await side.first()
        for child in children:
            write_data(f"/mnt/{child}", "second", MANY_MIB)
        side.before_sync()
        out = {synced: await lab.measured(side.sync)}
        if tool != BARE:
            # no export and import first: an import claims the intent log of each dataset
            # written with a sync (the bench's `sync` after its data) and so writes to it
            # (`written` 8 KiB after the sync's snapshot, measured in the lab), which is not
            # nothing to do for a tool that checks `written`; every tool finds the caches
            # as the case before left them
            out[idle] = await lab.measured(side.sync, evict=False)
        return out


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
    measured is kept). Runs outermost: each run measures every tool in turn, so a slow
    spell of the host falls on all tools, not on one."""
    results: Results = {}
    wanted = {c for case in cases for c in (("4.2", "4.3") if case == "4" else (case,))}
    for run in range(runs):
        for group in groups_for(cases):
            for tool in rotated(tools, run):
                print(f"run {run + 1}/{runs}, case {'/'.join(GROUPS[group])}: {tool}", flush=True)
                if group == "1":
                    figures = await large(lab, tool)
                else:
                    figures = await many(lab, tool, own=group == "many-own")
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
            "not; new pools for every tool in every run",
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
    lab = Lab(tmp, counter, sizes)

    def save(results: Results, complete: bool = False) -> None:
        cases = {
            case: {"title": TITLES[case], "runs": by_tool} for case, by_tool in results.items()
        }
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        data = {**meta, "finished": finished, "complete": complete, "cases": cases}
        out.write_text(json.dumps(data, indent=1) + "\n")

    try:
        save(asyncio.run(measure(lab, cases, tools, runs, save)), complete=True)
    finally:
        destroy_pools()
