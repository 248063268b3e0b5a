"""One migration copy's rsync, by who runs it and how its output is read (run in the lab):

    bench/in-lab.sh bench/rsync_callers.py [REPS]

A source of two snapshots of 200 files of 256 KiB, the second changing a fifth of them; a
dataset is brought from one to the other and back REPS times for each way, the ways in
turn (each copy writes 40 files, 10 MiB, as a migration's later snapshots do). The ways:
- bare: `subprocess.run` of bench/migration.py's bare argv (no output asked for);
- zfsyncd's argv (progress, checksums, itemized list) with its output to /dev/null;
- the same from asyncio, output to /dev/null: what starting it from the event loop costs;
- the same from asyncio, its output read as it comes (each line a wake-up of the loop:
  how files/rsync.py read it until 2026-12-01);
- `run_rsync` as the migration calls it (its output read every 0.1 s).
Prints each way's median, mean and least time per copy. The medians' differences are what
each layer adds; single copies scatter with the host's load, hence the many turns.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.migration import make_pool, make_source, sh
from bench.migration_rsync import variant_argv, variant_bare, zfsyncd_job
from zfsyncd.files.rsync import RsyncJob, rsync_argv, run_rsync

POOL = "zbenchc"
WORK = Path("/var/tmp/zfsyncd-bench-callers")
SOURCE = WORK / "src"
TARGET = Path(f"/mnt/{POOL}/d")


def job(n: int) -> RsyncJob:
    return zfsyncd_job(SOURCE, TARGET, n)


def bare(n: int) -> None:
    variant_bare(SOURCE, TARGET, n)


def argv_devnull(n: int) -> None:
    variant_argv(SOURCE, TARGET, n)


async def _spawn(n: int, stdout: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *rsync_argv(job(n)), stdout=stdout, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


async def asyncio_devnull(n: int) -> None:
    proc = await _spawn(n, asyncio.subprocess.DEVNULL)
    await proc.communicate()


async def asyncio_each_line(n: int) -> None:
    proc = await _spawn(n, asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass
    await proc.communicate()


async def zfsyncd_run_rsync(n: int) -> None:
    await run_rsync(job(n), lambda _b: None)


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    shutil.rmtree(WORK, ignore_errors=True)  # an earlier run's source
    WORK.mkdir(parents=True)
    make_pool(POOL, WORK / "pool.img", "2G")
    make_source(SOURCE, 2, 200, 256, 20)
    sh("zfs", "create", f"{POOL}/d")
    loop = asyncio.new_event_loop()  # one loop for all, as the daemon has
    ways: dict[str, Callable[[int], object]] = {
        "bare": bare,
        "zfsyncd's argv, output to /dev/null": argv_devnull,
        "asyncio, output to /dev/null": lambda n: loop.run_until_complete(asyncio_devnull(n)),
        "asyncio, each line as it comes": lambda n: loop.run_until_complete(asyncio_each_line(n)),
        "run_rsync (read every 0.1 s)": lambda n: loop.run_until_complete(zfsyncd_run_rsync(n)),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    bare(1)
    n = 1
    for _ in range(reps):
        for name, way in ways.items():
            n = 3 - n  # to the other snapshot: a fifth of the files again
            start = time.perf_counter()
            way(n)
            times[name].append(time.perf_counter() - start)
    print(f"{reps} copies each, of 40 files (10 MiB) changed out of 200")
    for name, ts in times.items():
        print(
            f"{name:<40} median {statistics.median(ts):.3f} s  mean {statistics.mean(ts):.3f} s"
            f"  least {min(ts):.3f} s"
        )
    subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)


if __name__ == "__main__":
    main()
