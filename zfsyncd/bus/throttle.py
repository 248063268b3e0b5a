"""At most `rate` emissions a second, each carrying the newest state.

A transfer reports progress for every chunk it moves, thousands of times a second; a bus
connection whose socket fills up is dropped (DESIGN.md). So progress is coalesced: `poke`
says "something changed"; the first poke after a quiet period emits at once, later ones
within the interval are folded into one emission at its end, which reads the state then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Throttle:
    def __init__(self, rate: float, emit: Callable[[], None]) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._emit = emit
        self._last = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self.emitted = 0

    def poke(self) -> None:
        if self._pending is not None:
            return  # an emission is scheduled; it will read the newest state
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0:
            self._fire()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._fire)

    def flush(self) -> None:
        """Emit now if something is pending (before a final signal, so none comes after)."""
        if self._pending is not None:
            self._pending.cancel()
            self._fire()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _fire(self) -> None:
        self._pending = None
        self._last = time.monotonic()
        self.emitted += 1
        self._emit()
