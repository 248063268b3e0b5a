"""What the metrics show, read at once from the engine's current state: `Figures`.

Read when a scrape (or the textfile writer) asks and the last reading is older than the
configured age (`FiguresCache`): a storm of scrapes makes one reading, not one each, so it
cannot load ZFS or SQLite. Nothing here is counted in memory but from the store: every
figure comes from what ZFS or the store holds, so a restart of the daemon loses none.

Where each comes from, and why there:
- the replica pairs (lag, last sent snapshot, snapshot counts, paused, partial receive):
  ZFS itself, read as `replica status` reads it (ops/replication/status.py's
  `read_replicas`: a few zfs commands per host whatever the number of pairs, never one per
  dataset). The pairs live in ZFS properties, and ZFS is what the lag is about.
- the last successful sync of each pair: the store (the newest COMPLETED replica-sync or
  replica-init naming its source); ZFS shows when the last sent snapshot was taken, not
  when a sync last confirmed there was nothing to send.
- transactions by type and outcome: the store's rows, counted in SQLite (store/stats.py).
  Counters kept in memory would start from 0 at each restart and could not show what
  happened before it; the store's only drop is an explicit `transaction cleanup`, which
  Prometheus reads as a counter reset, as it would a restart.
- bytes sent, step durations: the store's steps too, but summed once and then brought up
  to date from the journal at each reading (metrics/totals.py): summing the whole history
  at each reading grows with it (2.6 s for 6,000 stored syncs of 10 datasets).
- the queue and running transactions, pending cleanups: the store (the engine's state is
  persisted at every transition: the store is the truth, the manager's memory a cache).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from zfsyncd.api import limits
from zfsyncd.api.records import ReplicaRow
from zfsyncd.commands.errors import CommandError
from zfsyncd.metrics.jobs import JobStateLike
from zfsyncd.metrics.totals import StepDurations, StepTotals
from zfsyncd.ops.replication.status import ReplicaQuery, read_replicas, row
from zfsyncd.store import TxState
from zfsyncd.store.stats import SentBytes, StoreStats
from zfsyncd.tx.hosts import located
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.errors import ZfsError

log = logging.getLogger(__name__)

#: upper bounds of the step duration histogram, in seconds: a property change takes well
#: under a second, a snapshot of many datasets seconds, a large send minutes to hours
STEP_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
#: the kinds whose COMPLETED transactions count as a pair's successful sync
SYNC_TYPES = ("replica-init", "replica-sync")


@dataclass(frozen=True)
class PairFigures:
    """One replica pair: its status row, with what the metrics add to it."""

    status: ReplicaRow
    #: snapshots each side holds (the pair's root datasets; None: that side was not read)
    source_snapshots: int | None
    destination_snapshots: int | None
    #: when the newest COMPLETED sync (or init) of its source finished (None: none stored)
    last_success: float | None


@dataclass(frozen=True)
class Figures:
    #: when they were read, and how long reading took (seconds)
    read_at: float
    read_seconds: float = 0.0
    pairs: Sequence[PairFigures] = ()
    #: why the local pairs could not be read ("" when they were)
    replicas_error: str = ""
    transactions: dict[tuple[str, TxState], int] = field(default_factory=dict)
    steps: Sequence[StepDurations] = ()
    sent: Sequence[SentBytes] = ()
    #: cleanup kind -> items not done yet
    pending_cleanups: dict[str, int] = field(default_factory=dict)
    #: the scheduler's job states (zfsyncd/metrics/jobs.py: none until jobs are merged)
    jobs: Sequence[JobStateLike] = ()


#: the job states for the metrics, read at each reading (the `jobs` branch's store)
JobStates = Callable[[], Awaitable[Sequence[JobStateLike]]]


async def read_figures(
    manager: TransactionManager,
    totals: StepTotals,
    jobs: JobStates | None = None,
    now: float | None = None,
) -> Figures:
    """Every figure, read once: the replicas from ZFS (a few commands per host), the rest
    with a handful of SQL statements; `totals` (kept from reading to reading) gains the
    steps completed since the last one."""
    started = time.monotonic()
    now = time.time() if now is None else now
    stats = StoreStats(manager.db)
    await totals.catch_up(stats)
    try:
        pairs, error = await _pairs(manager, stats, now), ""
    except (ZfsError, CommandError, OSError) as exc:
        pairs, error = [], limits.cut(str(exc) or type(exc).__name__, limits.MAX_DESCRIPTION_CHARS)
        log.warning("metrics: the replica pairs could not be read: %s", error)
    cleanups: dict[str, int] = {}
    for item in await manager.cleanups.pending():
        cleanups[item.kind] = cleanups.get(item.kind, 0) + 1
    return Figures(
        read_at=now,
        pairs=pairs,
        replicas_error=error,
        transactions=await stats.transactions_by_type_and_state(),
        steps=totals.durations(),
        sent=totals.sent(),
        pending_cleanups=cleanups,
        jobs=await jobs() if jobs is not None else (),
        read_seconds=time.monotonic() - started,
    )


async def _pairs(manager: TransactionManager, stats: StoreStats, now: float) -> list[PairFigures]:
    """Every pair of the local pools, page by page (each page a constant number of zfs
    commands per host: one page up to limits.MAX_REPLICA_PAGE pairs)."""
    found: list[PairFigures] = []
    after: str | None = None
    while True:
        query = ReplicaQuery(after=after)
        page, readings = await read_replicas(manager.hosts, manager.store, query)
        sources = {located(p.source.host, p.source.dataset): p for p in page if p.source}
        last = await stats.last_completed(SYNC_TYPES, sources)
        for pair in page:
            src, dst = (
                None if end is None else readings.sides.get((end.host, end.dataset))
                for end in (pair.source, pair.destination)
            )
            source = pair.source
            found.append(
                PairFigures(
                    status=row(pair, readings, now),
                    source_snapshots=None if src is None else len(src.snapshots),
                    destination_snapshots=None if dst is None else len(dst.snapshots),
                    last_success=None
                    if source is None
                    else last.get(located(source.host, source.dataset)),
                )
            )
        if len(page) < query.page:
            return found
        after = page[-1].local


class FiguresCache:
    """The last reading, read again only once it is older than `max_age` seconds; callers
    that ask while a reading runs wait for that one (one reading at a time)."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Figures]],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._max_age, self._clock = read, max_age, clock
        self._figures: Figures | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()
        #: readings made (for tests: a storm of scrapes makes one)
        self.readings = 0

    def _fresh(self) -> Figures | None:
        if self._figures is not None and self._clock() - self._read_at < self._max_age:
            return self._figures
        return None

    def forget(self) -> None:
        """The next `get` reads again."""
        self._figures = None

    async def get(self) -> Figures:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()  # read by the caller this one waited for
            if fresh is not None:
                return fresh
            figures = await self._read()
            self._figures, self._read_at = figures, self._clock()
            self.readings += 1
            return figures
