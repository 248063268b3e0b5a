"""A backend that takes its time: each call that changes ZFS waits `delay` seconds first,
and, for tests, may be held at a gate.

Only for the in-memory model (config `memory_delay`, `memory_gate`): the model answers in
microseconds, so without it a demo or a system test could never watch a transaction run,
cancel it while it runs, or stop the daemon in the middle of a step. The real CLI needs no
help with that.

The gate (config `memory_gate`, a file path; off unless set, and only tests set it) lets a
test hold a transaction at a changing call of its choosing, instead of racing a delay:
- no file, or an empty one: every call passes;
- the test writes a number N: N more changing calls pass (each counts it down), and the
  next one is held: the file then reads `held` while it waits;
- the test deletes the file (or writes a new number) to let the held call go on; a held
  call that is cancelled instead (the transaction was cancelled or the daemon stopped)
  deletes the file itself, so the undo that follows is not held.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from zfsyncd.zfs.backend import CHANGING_CALLS, ZfsBackend

HELD = "held"
#: how often a held call looks at the gate file again
POLL = 0.02


class LatencyBackend:
    def __init__(self, inner: ZfsBackend, delay: float, gate: Path | None = None) -> None:
        self.inner = inner
        self.delay = delay
        self.gate = gate

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
            if self.gate is not None:
                await self._pass_gate(self.gate)
            await asyncio.sleep(self.delay)
            if (
                call.__name__ == "send_recv"
                and len(args) > 1
                and isinstance(args[1], LatencyBackend)
            ):
                # the model sends only into a model: the target's, not its wrapper
                args = (args[0], args[1].inner, *args[2:])
            return await call(*args, **kwargs)

        return slowed

    async def _pass_gate(self, gate: Path) -> None:
        if not _take_turn(gate):
            return
        try:
            # a file another process changes: nothing to await but the next look at it
            while _read(gate) == HELD:  # noqa: ASYNC110
                await asyncio.sleep(POLL)
        finally:
            _open_if_held(gate)  # cancelled while held: later calls pass


def _read(gate: Path) -> str:
    try:
        return gate.read_text().strip()
    except FileNotFoundError:
        return ""


def _open_if_held(gate: Path) -> None:
    if _read(gate) == HELD:
        gate.unlink(missing_ok=True)


def _take_turn(gate: Path) -> bool:
    """Count the gate down; True when this call is the one to hold (the file now says so).
    No await in here, so calls of one event loop count one at a time."""
    text = _read(gate)
    if not text.isdigit():
        return False
    left = int(text)
    gate.write_text(HELD if left == 0 else str(left - 1))
    return left == 0
