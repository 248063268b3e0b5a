"""A backend that takes its time: each call that changes ZFS waits `delay` seconds first.

Only for the in-memory model (config `memory_delay`): the model answers in microseconds, so
without it a demo or a system test could never watch a transaction run, cancel it while it
runs, or stop the daemon in the middle of a step. The real CLI needs no help with that.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from zfsyncd.zfs.backend import CHANGING_CALLS, ZfsBackend


class LatencyBackend:
    def __init__(self, inner: ZfsBackend, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in CHANGING_CALLS:
            return attr
        return self._slowed(attr)

    def _slowed(
        self, call: Callable[..., Coroutine[Any, Any, Any]]
    ) -> Callable[..., Coroutine[Any, Any, Any]]:
        @functools.wraps(call)
        async def slowed(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(self.delay)
            return await call(*args, **kwargs)

        return slowed
