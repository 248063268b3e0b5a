"""click parameter types for what zfsyncctl reads from its command line: durations
(`30d`, `1h30m`, `90`), points in time (`2h` ago or ISO-8601) and `-o key=value` user
properties. Bad input is a usage error (exit 2) with a message that says what was wrong."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import click

_UNITS: dict[str, float] = {
    "s": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(s|min|m|h|d|w)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:s|min|m|h|d|w))+")


def parse_duration(text: str) -> float:
    """Seconds in `text`: a number of seconds, or parts like 30d, 2h, 1h30m, 45s, 1w."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    if not _DURATION.fullmatch(t):
        raise ValueError(
            f"{text!r} is not a duration: use a number of seconds or e.g. 45s, 10m, 2h, 1d, "
            "1w, 1h30m"
        )
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(t))


def parse_since(text: str, now: float | None = None) -> float:
    """Seconds since the epoch of `text`: a duration ago (2h, 1d) or an ISO-8601 time
    (a time without a zone is local time)."""
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration ago (2h, 1d) nor an ISO-8601 time "
            "(2026-05-01 or 2026-05-01T12:00:00+02:00)"
        ) from None
    return when.timestamp()


class Duration(click.ParamType[float, Any]):
    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            seconds = parse_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)
        if seconds <= 0:
            self.fail(f"{value!r} must be longer than zero", param, ctx)
        return seconds


class Since(click.ParamType[float, Any]):
    name = "WHEN"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_since(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


# ZFS user properties: a colon, and only [a-z0-9:._-], at most 256 characters (zfsprops(7))
_USER_PROPERTY = re.compile(r"[a-z0-9_.\-]*:[a-z0-9_.:\-]*")


def parse_user_property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r} is not key=value")
    if not key:
        raise ValueError(f"{text!r} has no property name before '='")
    if not _USER_PROPERTY.fullmatch(key) or len(key) > 256:
        raise ValueError(
            f"{key!r} is not a ZFS user property: it needs a colon and only lowercase "
            "letters, digits and : . _ - (e.g. com.example:owner=alice)"
        )
    if len(value.encode()) > 8191:
        raise ValueError(f"the value of {key!r} is longer than ZFS allows (8191 bytes)")
    return key, value


class UserProperty(click.ParamType[tuple[str, str], Any]):
    name = "KEY=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value  # already converted (a default)
        try:
            return parse_user_property(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


DURATION = Duration()
SINCE = Since()
USER_PROPERTY = UserProperty()
