"""A controllable clock and a scheduler over two hosts' models: weeks of job runs in
milliseconds, for tests/engine/test_jobs_*.py.

The clock moves only when the test moves it; the models stamp snapshots (`creation`) and
the store stamps rows and transaction ids (so snapshot names) with it. `advance` jumps from
one wakeup of the scheduler to the next, running what is due at each, like the daemon's
loop would after sleeping that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from tests.engine.conftest import FAST
from zfsyncd.jobs.config import JobConfig
from zfsyncd.jobs.run import JobRun
from zfsyncd.jobs.scheduler import Scheduler
from zfsyncd.metrics.families import exposition
from zfsyncd.metrics.figures import STEP_BUCKETS, read_figures
from zfsyncd.metrics.totals import StepTotals
from zfsyncd.store import Database
from zfsyncd.store.jobs import JobStateStore
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ObjectType

HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0


@contextlib.contextmanager
def ram_directory() -> Iterator[Path]:
    """A directory in RAM when there is one: a week of hourly runs is some 500 transactions,
    each a few fdatasync calls (synchronous=FULL), seconds each on a loaded disk; what is
    tested here is the scheduler, not the disk."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    path = Path(tempfile.mkdtemp(prefix="zfsyncd-jobs-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # the test moves time; the daemon's loop is not run here


#: a sample: its name and its labels, sorted
Sample = tuple[str, tuple[tuple[str, str], ...]]


async def metric_samples(manager: TransactionManager, db: Database) -> dict[Sample, float]:
    """The metrics as the daemon serves them (its reading: ZFS, the store and the stored
    job states), parsed by prometheus_client's own parser."""
    figures = await read_figures(manager, StepTotals(STEP_BUCKETS), JobStateStore(db).all)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition(figures).decode())
        for sample in family.samples
    }


@dataclass
class Sim:
    clock: FakeClock
    db: Database
    manager: TransactionManager
    local: MemoryBackend
    backup: MemoryBackend
    scheduler: Scheduler
    runner: JobRun

    @classmethod
    async def start(
        cls,
        path: Path,
        start: float,
        *,
        parallel: int = 2,
        clock: FakeClock | None = None,
        local: MemoryBackend | None = None,
        backup: MemoryBackend | None = None,
    ) -> Sim:
        clock = clock or FakeClock(start)
        local = local or MemoryBackend(pools=("tank", "rep"), seed=3, clock=clock.now)
        backup = backup or MemoryBackend(pools=("bak",), seed=4, clock=clock.now)
        db = await Database.open(path, clock=clock.now)
        try:
            hosts = {"local": Host("local", local), "backup": Host("backup", backup)}
            manager = TransactionManager(db, hosts, do_retry=FAST, undo_retry=FAST, max_parallel=4)
            runner = JobRun(manager, clock.now)
            scheduler = Scheduler(JobStateStore(db), runner, clock, parallel=parallel)
        except BaseException:
            await db.close()  # an open connection's thread would hang the run at exit
            raise
        return cls(clock, db, manager, local, backup, scheduler, runner)

    async def restart(self, downtime: float) -> Sim:
        """The daemon stopped for `downtime` seconds, then started again: the same database
        file and pools, nothing in memory."""
        jobs = self.scheduler.jobs
        await self.close()
        self.clock.t += downtime
        sim = await Sim.start(
            self.db.path, self.clock.t, clock=self.clock, local=self.local, backup=self.backup
        )
        try:
            await sim.manager.recover()
            await sim.scheduler.configure(jobs)
        except BaseException:
            await sim.close()
            raise
        return sim

    async def configure(self, **jobs: dict[str, Any]) -> None:
        await self.scheduler.configure({n: JobConfig(**j) for n, j in jobs.items()})

    async def advance(self, seconds: float) -> int:
        """Move the clock by `seconds`, running each due job at its time; how many ticks
        started at least one run."""
        until = self.clock.t + seconds
        ticks = 0
        while True:
            await self.scheduler.tick()  # first sight of a job: its state is made
            await self.scheduler.idle()
            wake = self.scheduler.next_wakeup()
            if wake is None or wake > until:
                break
            self.clock.t = max(self.clock.t, wake)
            if await self.scheduler.tick():
                ticks += 1
            await self.scheduler.idle()
        self.clock.t = until
        return ticks

    async def snapshots(self, host: str, dataset: str) -> list[str]:
        zfs = self.local if host == "local" else self.backup
        found = await zfs.list(dataset, types=[ObjectType.SNAPSHOT], depth=1)
        return [o.name.split("@", 1)[1] for o in found]

    async def close(self) -> None:
        await self.scheduler.stop()
        if not self.db.closed:
            await self.manager.shutdown()
            await self.db.close()
