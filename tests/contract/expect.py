"""Assertions shared by the contract tests."""

from __future__ import annotations

from collections.abc import Awaitable

from zfsyncd.zfs.errors import ZfsCommandError


async def fails_with(action: Awaitable[object], wanted: type[ZfsCommandError]) -> ZfsCommandError:
    """`action` must fail with `wanted` (or a subclass); returns the error. Any other
    class, a bare ZfsCommandError (a message errors.classify does not map) included, fails
    the test: no known gap is excused."""
    try:
        await action
    except ZfsCommandError as exc:
        if isinstance(exc, wanted):
            return exc
        raise AssertionError(
            f"expected {wanted.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"expected {wanted.__name__}, but it succeeded")
