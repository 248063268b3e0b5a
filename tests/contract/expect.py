"""Assertions shared by the contract tests."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from zfsyncd.zfs.errors import ZfsCommandError


async def fails_with(
    action: Awaitable[object], wanted: type[ZfsCommandError], *, gap: str | None = None
) -> ZfsCommandError:
    """`action` must fail with `wanted` (or a subclass); returns the error.

    `gap` names a known, reported gap: real zfs prints a message that errors.classify does
    not map yet, so both backends raise a bare ZfsCommandError. Only that case marks the
    test xfail; once errors.py learns the message the test passes, and any other class
    still fails it.
    """
    try:
        await action
    except ZfsCommandError as exc:
        if isinstance(exc, wanted):
            return exc
        if gap is not None and type(exc) is ZfsCommandError:
            pytest.xfail(f"errors.py does not classify this yet ({gap}): {exc.stderr!r}")
        raise AssertionError(
            f"expected {wanted.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"expected {wanted.__name__}, but it succeeded")
