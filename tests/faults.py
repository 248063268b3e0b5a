"""Fault injection for any ZfsBackend (the model or the real CLI): fail chosen calls.

The calls that change ZFS are numbered in the order they happen (0, 1, 2, ...). A test
runs a transaction once cleanly to count them, then again for every number, breaking that
call: so every point where a transaction can break is tried, inside steps (a step that
made two of three renames) and inside undos alike. Three ways to break a call:
- `fail`: it fails before it does anything (zfs refused);
- `fail_after`: it takes effect, then reports an error (the ssh link dropped after the
  receive finished, a timeout that fired as the command completed);
- `crash_after`: it takes effect, then the process dies before anyone learns of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zfsyncd.zfs.backend import CHANGING_CALLS, ZfsBackend
from zfsyncd.zfs.errors import ZfsCommandError

MUTATING = CHANGING_CALLS


class InjectedError(ZfsCommandError):
    """A failure the test made; permanent unless `transient` is set on the instance."""

    kind = "injected"


class SimulatedCrash(BaseException):
    """Stands for the daemon dying: a BaseException, so nothing in the engine handles it."""


class FaultyBackend:
    """Wraps a backend; `fail(n, times=k)` makes changing calls n .. n+k-1 fail."""

    def __init__(self, inner: ZfsBackend) -> None:
        self.inner = inner
        self.calls: list[str] = []  # every changing call, in order: "rename p/a p/b"
        self._failing: set[int] = set()
        self._failing_after: set[int] = set()
        self._crash_after: int | None = None
        self.transient = False
        self.on_call: Callable[[int, str], None] | None = None

    def fail(self, index: int, *, times: int = 1) -> None:
        """Fail `times` changing calls in a row from the `index`-th: with times=2, the call
        and whatever comes next (its retry, or the undo that follows its failure)."""
        self._failing.update(range(index, index + times))

    def fail_from(self, index: int) -> None:
        """Every changing call from `index` on fails (a pool gone bad, a lost host)."""
        self.fail(index, times=1 << 20)

    def fail_after(self, index: int) -> None:
        """Let the `index`-th changing call take effect, then raise InjectedError as if it
        had failed: the caller must find out from ZFS what really happened."""
        self._failing_after.add(index)

    def heal(self) -> None:
        self._failing.clear()
        self._failing_after.clear()

    def crash_after(self, index: int) -> None:
        """Let the `index`-th changing call happen, then die (SimulatedCrash) before the
        caller learns that it did: what a SIGKILL right after a zfs command does."""
        self._crash_after = index

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in MUTATING:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            index = len(self.calls)
            label = f"{name} {' '.join(str(a) for a in args if isinstance(a, str))}".strip()
            self.calls.append(label)
            if self.on_call is not None:
                self.on_call(index, label)
            if index in self._failing:
                error = InjectedError([name], 1, f"injected failure of call {index}: {label}")
                error.transient = self.transient
                raise error
            if name == "send_recv" and len(args) > 1 and isinstance(args[1], FaultyBackend):
                args = (args[0], args[1].inner, *args[2:])  # the real target, not our wrapper
            result = await attr(*args, **kwargs)
            if index in self._failing_after:
                error = InjectedError(
                    [name], 1, f"injected failure after call {index} took effect: {label}"
                )
                error.transient = self.transient
                raise error
            if self._crash_after == index:
                raise SimulatedCrash(f"crash after call {index}: {label}")
            return result

        return call
