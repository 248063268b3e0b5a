"""The bounds a transaction's options must keep (zfsyncd/api/limits.py has the numbers),
checked by the engine's `create`, the one place every request passes, so a caller over a
bound is refused (InvalidArgument on the bus) before anything is stored.

Values that are not the engine's to bound (the steps' own words, ZFS's error text) are cut
short where they are stored instead: `cut_description` and `cut_error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zfsyncd.api import limits
from zfsyncd.store import json_columns
from zfsyncd.tx.errors import PlanError


def check_tag(tag: object) -> str:
    if not isinstance(tag, str):
        raise PlanError(f"a tag must be text, not {type(tag).__name__}")
    if not tag:
        raise PlanError("a tag may not be empty")
    if len(tag) > limits.MAX_TAG_CHARS:
        raise PlanError(
            f"a tag is limited to {limits.MAX_TAG_CHARS} characters; one has {len(tag)}"
        )
    if limits.has_control(tag):
        bad = next(c for c in tag if not c.isprintable())
        raise PlanError(f"a tag may hold only printable characters; one holds {bad!r}")
    return tag


def check_tags(tags: Sequence[object]) -> list[str]:
    if len(tags) > limits.MAX_TAGS:
        raise PlanError(f"at most {limits.MAX_TAGS} tags, not {len(tags)}")
    return [check_tag(t) for t in tags]


def check_timeout(timeout: float | None) -> float | None:
    """None (no timeout), or seconds: finite, more than 0, at most 7 days."""
    if timeout is None:
        return None
    if not (limits.finite(timeout) and 0 < timeout <= limits.MAX_TIMEOUT_SECONDS):
        raise PlanError(
            f"a timeout must be more than 0 and at most {limits.MAX_TIMEOUT_SECONDS:.0f} "
            f"seconds (7 days), not {timeout}"
        )
    return float(timeout)


def check_priority(priority: int) -> int:
    if not limits.MIN_PRIORITY <= priority <= limits.MAX_PRIORITY:
        raise PlanError(
            f"a priority must be from {limits.MIN_PRIORITY} to {limits.MAX_PRIORITY}, "
            f"not {priority}"
        )
    return priority


def check_json_size(value: Mapping[str, Any] | None, what: str, limit: int) -> None:
    """`value` as stored (JSON) fits in `limit` bytes; NaN and infinities are refused too."""
    try:
        size = len(json_columns.dump_object(value).encode())
    except (TypeError, ValueError) as exc:
        raise PlanError(f"the {what} cannot be stored: {exc}") from None
    if size > limit:
        raise PlanError(f"the {what} take {size} bytes stored, over the limit of {limit}")


def check_age(seconds: float, what: str = "older_than") -> float:
    """An age in seconds, as Cleanup takes it: finite, 0 or more."""
    if not (limits.finite(seconds) and 0 <= seconds <= limits.MAX_AGE_SECONDS):
        raise PlanError(
            f"{what} must be from 0 to {limits.MAX_AGE_SECONDS:.0f} seconds, not {seconds}"
        )
    return float(seconds)


def cut_description(text: str | None) -> str | None:
    return None if text is None else limits.cut(text, limits.MAX_DESCRIPTION_CHARS)


def cut_error(text: str | None) -> str | None:
    return None if text is None else limits.cut(text, limits.MAX_ERROR_CHARS)
