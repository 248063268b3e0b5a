"""Parsing of durations, points in time and -o key=value (params.py)."""

from __future__ import annotations

from datetime import datetime

import pytest

from zfsyncctl.params import parse_duration, parse_since, parse_user_property


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("45s", 45.0),
        ("10m", 600.0),
        ("10min", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("30d", 30 * 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1D", 86400.0),
        (" 2h ", 7200.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "2x", "-1d", "1d-", "two days", "1e3", "d1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_since_a_duration_ago() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200


def test_since_iso_8601() -> None:
    assert parse_since("2026-05-01T12:00:00+00:00") == 1777636800.0
    local = datetime(2026, 5, 1, 12, 0, 0).timestamp()
    assert parse_since("2026-05-01T12:00:00") == local
    assert parse_since("2026-05-01") == datetime(2026, 5, 1).timestamp()


def test_since_nonsense() -> None:
    with pytest.raises(ValueError, match="neither a duration ago"):
        parse_since("yesterday")


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("com.example:owner=alice", ("com.example:owner", "alice")),
        ("a:b=", ("a:b", "")),
        ("a:b=x=y", ("a:b", "x=y")),
        ("zfsync:note=with spaces; and $(symbols)", ("zfsync:note", "with spaces; and $(symbols)")),
    ],
)
def test_user_properties(text: str, pair: tuple[str, str]) -> None:
    assert parse_user_property(text) == pair


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("noequals", "is not key=value"),
        ("=v", "no property name"),
        ("compression=lz4", "not a ZFS user property"),
        ("Com.Example:x=1", "not a ZFS user property"),
        ("a b:c=1", "not a ZFS user property"),
        ("a:" + "b" * 300 + "=1", "not a ZFS user property"),
        ("a:b=" + "x" * 9000, "longer than ZFS allows"),
    ],
)
def test_bad_user_properties(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_user_property(text)
