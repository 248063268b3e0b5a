"""A bounded number of slots, shared fairly between callers (one queue per caller, served in
turn), so that one caller's flood delays only that caller.

zfsyncd asks polkit once per call through its one bus connection, and dbus-daemon lets a
connection have only so many calls awaiting a reply (`max_replies_per_connection`, 128 by
default): past that, asks fail. So asks go through a few slots; a caller that already has
`max_waiting` asks queued is told at once that the daemon is busy, instead of growing the
queue without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable


class TooManyWaitingError(Exception):
    """The caller already has as many requests waiting as it may."""


class FairSlots:
    def __init__(self, slots: int, *, max_waiting: int) -> None:
        if slots < 1 or max_waiting < 0:
            raise ValueError("at least one slot, and a non-negative bound on waiting")
        self._free = slots
        self._max_waiting = max_waiting
        #: the waiting requests of each caller, oldest first; callers in the order served
        self._queues: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    def waiting(self, key: Hashable | None = None) -> int:
        if key is not None:
            return len(self._queues.get(key, ()))
        return sum(len(q) for q in self._queues.values())

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        await self._acquire(key)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, key: Hashable) -> None:
        if self._free > 0 and not self._queues:
            self._free -= 1
            return
        queue = self._queues.get(key)
        if queue is not None and len(queue) >= self._max_waiting:
            raise TooManyWaitingError(f"{len(queue)} requests of this caller are waiting")
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # the slot came just as the caller left: pass it on
            else:
                self._forget(key, granted)
            raise

    def _forget(self, key: Hashable, granted: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(granted)
        if not queue:
            del self._queues[key]

    def _release(self) -> None:
        """Hand the freed slot to the caller whose turn it is (round robin), or keep it."""
        while self._queues:
            key, queue = next(iter(self._queues.items()))
            granted = queue.popleft()
            if queue:
                self._queues.move_to_end(key)  # served one: the others' turn first
            else:
                del self._queues[key]
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1
