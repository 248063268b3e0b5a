"""Where a running transaction reports what it is doing.

The engine calls these; the default does nothing. The bus layer (issue 4) subclasses it to
keep properties current and emit throttled D-Bus signals; tests subclass it to record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zfsyncd.api.limits import MAX_PROGRESS_STREAMS
from zfsyncd.store.records import StepState
from zfsyncd.zfs.models import TransferProgress


class ProgressSink:
    def step_started(self, idx: int, description: str) -> None:
        """A step's `do` begins."""

    def step_finished(self, idx: int, state: StepState) -> None:
        """A step's `do` ended (COMPLETED or FAILED)."""

    def transfer(self, progress: TransferProgress) -> None:
        """Bytes moved by the running transfer step (all its streams)."""

    def stream(self, name: str, progress: TransferProgress) -> None:
        """Bytes moved by one stream (named by its dataset) of the running step; the first
        report says it started (bytes_done 0). `transfer` still reports the step's total."""

    def stream_ended(self, name: str) -> None:
        """That stream ended (received, failed or cut): it runs no more."""

    def message(self, text: str) -> None:
        """Something a person watching should read (a retry, an undo)."""


@dataclass(frozen=True)
class ProgressReading:
    percent: float  # 0..100
    bytes_done: int
    #: the steps' estimates (a step planned without one: what it reports once it knows), at
    #: least bytes_done; 0 when none has one, or while the running step moves bytes of a
    #: size it does not know yet (a sync whose streams have not all started)
    bytes_total: int
    rate: float  # bytes per second, smoothed
    eta: float  # seconds, -1 when unknown
    current_step: int  # -1 when no step runs


@dataclass(frozen=True)
class StreamReading:
    """One running stream: what a progress bar of its own shows."""

    name: str  # the dataset it sends
    bytes_done: int
    bytes_total: int  # the `send -nvP` estimate, 0 while unknown
    rate: float  # bytes per second, smoothed; 0 until two reports
    eta: float  # seconds, -1 when unknown


def smoothed(rate: float, instant: float, smoothing: float) -> float:
    """The next moving average of a rate: the first measure as it is, then each measure
    moves it by `smoothing` of the difference (a stall or a burst moves it gradually)."""
    return instant if rate == 0 else rate + smoothing * (instant - rate)


def eta(done: int, total: int, rate: float) -> float:
    """Seconds left at `rate`; -1 when it cannot be said (no rate yet, no estimate, or
    past the estimate: the estimate was short, and any number would be a guess)."""
    return (total - done) / rate if rate > 0 and total > done else -1.0


@dataclass
class _Stream:
    done: int = 0
    total: int = 0
    rate: float = 0.0
    last: tuple[float, int] | None = None


class ProgressTracker(ProgressSink):
    """Turns what the executor reports into one reading: percent, bytes, rate and ETA.

    Each step counts as an equal share of the percentage, except that a step with a size
    estimate (a transfer) advances its share as its bytes move. The rate is an exponential
    moving average, so a stall or a burst moves the ETA smoothly rather than wildly.

    A step that runs several streams at once (a replica sync) also reports each: the
    tracker keeps, per running stream, its bytes, estimate, rate and ETA (`streams()`), in
    the order they started, until it ends or its step does.
    """

    SMOOTHING = 0.3

    def __init__(
        self,
        estimates: Sequence[int | None],
        clock: Callable[[], float] = time.monotonic,
        *,
        max_streams: int = MAX_PROGRESS_STREAMS,
    ) -> None:
        self._estimates = list(estimates)
        self._clock = clock
        self._max_streams = max_streams
        self._streams: dict[str, _Stream] = {}  # running ones, in the order they started
        self._finished: set[int] = set()
        self._current = -1
        self._step_bytes = 0  # of the running step
        self._step_total: int | None = None  # the running step's own total, once it knows
        self._bytes_before = 0  # of finished steps
        self._rate = 0.0
        self._last: tuple[float, int] | None = None

    def step_started(self, idx: int, description: str) -> None:
        self._current = idx
        self._step_bytes = 0
        self._step_total = None
        self._streams.clear()

    def step_finished(self, idx: int, state: StepState) -> None:
        if state is StepState.COMPLETED:
            self._finished.add(idx)
            estimate = self._estimates[idx] if idx < len(self._estimates) else None
            self._bytes_before += max(self._step_bytes, estimate or 0)
        self._current = -1
        self._step_bytes = 0
        self._step_total = None
        self._streams.clear()  # whatever a stream left unsaid, its step has ended

    def transfer(self, progress: TransferProgress) -> None:
        self._step_bytes = progress.bytes_done
        if progress.bytes_total is not None:
            self._step_total = progress.bytes_total
        done = self._bytes_before + self._step_bytes
        now = self._clock()
        if self._last is not None and now > self._last[0]:
            instant = (done - self._last[1]) / (now - self._last[0])
            self._rate = smoothed(self._rate, instant, self.SMOOTHING)
        self._last = (now, done)

    def stream(self, name: str, progress: TransferProgress) -> None:
        one = self._streams.setdefault(name, _Stream())
        now = self._clock()
        done = progress.bytes_done
        # a stream resumed, then sent again from a newer base, counts from 0 again: no
        # rate from that pair of reports (it would be negative)
        if one.last is not None and now > one.last[0] and done >= one.last[1]:
            one.rate = smoothed(
                one.rate, (done - one.last[1]) / (now - one.last[0]), self.SMOOTHING
            )
        one.last = (now, done)
        one.done = done
        if progress.bytes_total is not None:
            one.total = progress.bytes_total

    def stream_ended(self, name: str) -> None:
        self._streams.pop(name, None)

    def streams(self) -> tuple[StreamReading, ...]:
        """The running streams, the first `max_streams` started (a bounded signal)."""
        return tuple(
            StreamReading(
                name=name,
                bytes_done=one.done,
                bytes_total=max(one.total, one.done) if one.total else 0,
                rate=one.rate,
                eta=eta(one.done, one.total, one.rate),
            )
            for name, one in list(self._streams.items())[: self._max_streams]
        )

    def reading(self) -> ProgressReading:
        steps = len(self._estimates)
        estimates = list(self._estimates)
        share = 0.0
        unknown = False  # the running step moves bytes of a size not known yet
        if 0 <= self._current < steps:
            # planned without an estimate (a step of several streams: each is estimated as
            # it starts, with no command more): its own total, once it reports one
            estimate = estimates[self._current] or self._step_total
            estimates[self._current] = estimate
            if estimate:
                share = min(self._step_bytes / estimate, 1.0)
            unknown = estimate is None and self._step_bytes > 0
        percent = 100.0 * (len(self._finished) + share) / steps if steps else 0.0
        total = sum(e or 0 for e in estimates)
        done = self._bytes_before + self._step_bytes
        return ProgressReading(
            percent=min(percent, 100.0),
            bytes_done=done,
            bytes_total=0 if unknown else max(total, done),
            rate=self._rate,
            eta=-1.0 if unknown else eta(done, total, self._rate),
            current_step=self._current,
        )
