"""Retrying with backoff.

`do` is retried only for errors classed transient (a busy dataset, a lost connection): a
permanent error would only fail again. `undo` is retried for any error, because every undo
is idempotent (it reads ZFS before it acts), and an undo that gives up early leaves ZFS
half-changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from zfsyncd.commands.errors import CommandError

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """A command (zfs, ssh, rsync, ...) failed in a way that retrying unchanged may fix."""
    return isinstance(error, CommandError) and error.transient


@dataclass(frozen=True)
class Backoff:
    """Waits that double after each failure in a row, for what is tried again later rather
    than at once (a job's replication target, a witness instruction, the witness itself)."""

    #: seconds waited after the first failure; doubled after each one more
    first: float
    #: seconds waited at most
    cap: float

    def delay(self, failures: int) -> float:
        """Seconds before a try after `failures` failures in a row (0: none)."""
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.first * 2 ** min(failures - 1, 40)))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    first_delay: float = 0.5  # seconds; doubled after each failed attempt
    max_delay: float = 8.0

    def delays(self) -> list[float]:
        """The waits between the attempts: one fewer than the attempts."""
        backoff = Backoff(first=self.first_delay, cap=self.max_delay)
        return [backoff.delay(failures) for failures in range(1, self.attempts)]

    async def run(
        self,
        action: Callable[[], Awaitable[T]],
        *,
        retry_if: Callable[[BaseException], bool] = is_transient,
        what: str = "action",
    ) -> T:
        """Run `action`, again after a delay while it fails with an error `retry_if` accepts."""
        for delay in [*self.delays(), None]:
            try:
                return await action()
            except Exception as exc:
                if delay is None or not retry_if(exc):
                    raise
                log.warning("%s failed (%s); trying again in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


NO_RETRY = RetryPolicy(attempts=1)
