"""Where a running transaction reports what it is doing.

The engine calls these; the default does nothing. The bus layer (issue 4) subclasses it to
keep properties current and emit throttled D-Bus signals; tests subclass it to record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zfsyncd.store.records import StepState
from zfsyncd.zfs.models import TransferProgress


class ProgressSink:
    def step_started(self, idx: int, description: str) -> None:
        """A step's `do` begins."""

    def step_finished(self, idx: int, state: StepState) -> None:
        """A step's `do` ended (COMPLETED or FAILED)."""

    def transfer(self, progress: TransferProgress) -> None:
        """Bytes moved by the running transfer step."""

    def message(self, text: str) -> None:
        """Something a person watching should read (a retry, an undo)."""


@dataclass(frozen=True)
class ProgressReading:
    percent: float  # 0..100
    bytes_done: int
    bytes_total: int  # the steps' estimates, 0 when none has one
    rate: float  # bytes per second, smoothed
    eta: float  # seconds, -1 when unknown
    current_step: int  # -1 when no step runs


class ProgressTracker(ProgressSink):
    """Turns what the executor reports into one reading: percent, bytes, rate and ETA.

    Each step counts as an equal share of the percentage, except that a step with a size
    estimate (a transfer) advances its share as its bytes move. The rate is an exponential
    moving average, so a stall or a burst moves the ETA smoothly rather than wildly.
    """

    SMOOTHING = 0.3

    def __init__(
        self, estimates: Sequence[int | None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._estimates = list(estimates)
        self._clock = clock
        self._finished: set[int] = set()
        self._current = -1
        self._step_bytes = 0  # of the running step
        self._bytes_before = 0  # of finished steps
        self._rate = 0.0
        self._last: tuple[float, int] | None = None

    def step_started(self, idx: int, description: str) -> None:
        self._current = idx
        self._step_bytes = 0

    def step_finished(self, idx: int, state: StepState) -> None:
        if state is StepState.COMPLETED:
            self._finished.add(idx)
            estimate = self._estimates[idx] if idx < len(self._estimates) else None
            self._bytes_before += max(self._step_bytes, estimate or 0)
        self._current = -1
        self._step_bytes = 0

    def transfer(self, progress: TransferProgress) -> None:
        self._step_bytes = progress.bytes_done
        done = self._bytes_before + self._step_bytes
        now = self._clock()
        if self._last is not None and now > self._last[0]:
            instant = (done - self._last[1]) / (now - self._last[0])
            self._rate = (
                instant if self._rate == 0 else self._rate + self.SMOOTHING * (instant - self._rate)
            )
        self._last = (now, done)

    def reading(self) -> ProgressReading:
        steps = len(self._estimates)
        share = 0.0
        if self._current >= 0 and self._current < steps:
            estimate = self._estimates[self._current]
            if estimate:
                share = min(self._step_bytes / estimate, 1.0)
        percent = 100.0 * (len(self._finished) + share) / steps if steps else 0.0
        total = sum(e or 0 for e in self._estimates)
        done = self._bytes_before + self._step_bytes
        eta = (total - done) / self._rate if self._rate > 0 and total > done else -1.0
        return ProgressReading(
            percent=min(percent, 100.0),
            bytes_done=done,
            bytes_total=max(total, done),
            rate=self._rate,
            eta=eta,
            current_step=self._current,
        )
