"""The daemon's metrics: the endpoint and the node-exporter textfile, over one cache.

Both are off unless configured (`metrics_port`, `metrics_textfile` in zfsyncd.toml): the
endpoint binds `metrics_address` (127.0.0.1 unless told otherwise: the figures name every
replicated dataset, and polkit's read action is the daemon's only other door to them); the
textfile is written every `metrics_textfile_interval` seconds, atomically (a file of its
own beside it, then rename(2), so node-exporter never reads half of one). Scrapes and the
writer share one `FiguresCache`: at most one reading every `metrics_max_age` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from zfsyncd.metrics.families import exposition
from zfsyncd.metrics.figures import STEP_BUCKETS, FiguresCache, JobStates, read_figures
from zfsyncd.metrics.http import MetricsEndpoint
from zfsyncd.metrics.totals import StepTotals
from zfsyncd.tx.manager import TransactionManager

log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes) -> None:
    """`path` holds `data` whole, or what it held before: written to a file of its own in
    the same directory (a name node-exporter skips: not `*.prom`), synced, then renamed
    over `path`."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)  # node-exporter runs as a user of its own
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class MetricsService:
    def __init__(
        self,
        manager: TransactionManager,
        *,
        address: str = "127.0.0.1",
        port: int | None = None,
        textfile: Path | None = None,
        textfile_interval: float = 60.0,
        max_age: float = 5.0,
        jobs: JobStates | None = None,
    ) -> None:
        totals = StepTotals(STEP_BUCKETS)  # the cache reads one at a time: one updates it
        self.cache = FiguresCache(lambda: read_figures(manager, totals, jobs), max_age)
        self.endpoint = None if port is None else MetricsEndpoint(self.render, address, port)
        self.textfile, self.textfile_interval = textfile, textfile_interval
        self._writer: asyncio.Task[None] | None = None

    async def render(self) -> bytes:
        return exposition(await self.cache.get())

    async def write_textfile(self) -> None:
        if self.textfile is not None:
            data = await self.render()
            await asyncio.to_thread(write_atomically, self.textfile, data)

    async def start(self) -> None:
        if self.endpoint is not None:
            await self.endpoint.start()
            log.info("metrics at http://%s:%d/metrics", self.endpoint.address, self.endpoint.port)
        if self.textfile is not None:
            self._writer = asyncio.create_task(self._write_every_interval())

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self.endpoint is not None:
            await self.endpoint.stop()

    async def _write_every_interval(self) -> None:
        while True:
            try:
                await self.write_textfile()
            except Exception:
                log.exception("metrics: %s could not be written", self.textfile)
            await asyncio.sleep(self.textfile_interval)
