"""The schedule parser: each form, its next firing from a fixed time, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from zfsyncd.jobs.calendar import Calendar, Interval, ScheduleError, parse, parse_duration


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %a %H:%M:%S")


# 2026-11-30 is a Monday
NOW = "2026-11-30 10:17:05"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("minutely", NOW, "2026-11-30 Mon 10:18:00"),
        ("hourly", NOW, "2026-11-30 Mon 11:00:00"),
        ("hourly", "2026-11-30 10:59:59", "2026-11-30 Mon 11:00:00"),
        ("hourly", "2026-11-30 11:00:00", "2026-11-30 Mon 12:00:00"),  # strictly after
        ("daily", NOW, "2026-12-01 Tue 00:00:00"),
        ("weekly", NOW, "2026-12-07 Mon 00:00:00"),
        ("weekly", "2026-11-29 23:59:59", "2026-11-30 Mon 00:00:00"),
        ("monthly", NOW, "2026-12-01 Tue 00:00:00"),
        ("monthly", "2026-12-15 00:00:00", "2027-01-01 Fri 00:00:00"),
        ("quarterly", NOW, "2027-01-01 Fri 00:00:00"),
        ("yearly", NOW, "2027-01-01 Fri 00:00:00"),
        ("*-*-* 00/4:00", NOW, "2026-11-30 Mon 12:00:00"),
        ("*-*-* 00/4:00", "2026-11-30 20:00:00", "2026-12-01 Tue 00:00:00"),
        ("*-*-* *:*/15", NOW, "2026-11-30 Mon 10:30:00"),
        ("*:0/15", NOW, "2026-11-30 Mon 10:30:00"),
        ("Mon..Fri 02:30", NOW, "2026-12-01 Tue 02:30:00"),
        ("Mon..Fri 02:30", "2026-12-04 03:00:00", "2026-12-07 Mon 02:30:00"),  # over the weekend
        ("Sat,Sun 02:30", NOW, "2026-12-05 Sat 02:30:00"),
        ("Fri..Mon 12:00", "2026-12-01 00:00:00", "2026-12-04 Fri 12:00:00"),  # wraps the week
        ("Monday 10:17:05", NOW, "2026-12-07 Mon 10:17:05"),
        ("Monday 10:17:06", NOW, "2026-11-30 Mon 10:17:06"),
        ("*-*-01..07 03:00", NOW, "2026-12-01 Tue 03:00:00"),
        ("Sat *-*-01..07 03:00", NOW, "2026-12-05 Sat 03:00:00"),  # the first Saturday
        ("12-25", NOW, "2026-12-25 Fri 00:00:00"),
        ("2027-02-28 23:59:59", NOW, "2027-02-28 Sun 23:59:59"),
        ("*-02-29", NOW, "2028-02-29 Tue 00:00:00"),  # the next leap year
        ("10,14:30", NOW, "2026-11-30 Mon 10:30:00"),
        ("10,14:30", "2026-11-30 10:30:00", "2026-11-30 Mon 14:30:00"),
        ("08..09:00,30", NOW, "2026-12-01 Tue 08:00:00"),
        ("daily UTC", NOW, "2026-12-01 Tue 00:00:00"),
        ("2020-01-01", NOW, None),  # passed
        ("*-02-30", NOW, None),  # never
        ("every 15m", NOW, "2026-11-30 Mon 10:30:00"),
        ("every 1h", NOW, "2026-11-30 Mon 11:00:00"),
        ("every 1d", NOW, "2026-12-01 Tue 00:00:00"),
        ("every 1h30m", NOW, "2026-11-30 Mon 10:30:00"),
    ],
)
def test_next_firing(expression: str, after: str, expected: str | None) -> None:
    assert iso(parse(expression).next_after(at(after))) == expected


def test_local_time_unless_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    # 02:30 at UTC+2 is 00:30 UTC
    assert iso(parse("Tue 02:30").next_after(at(NOW), plus2)) == "2026-12-01 Tue 00:30:00"
    assert iso(parse("Tue 02:30 UTC").next_after(at(NOW), plus2)) == "2026-12-01 Tue 02:30:00"
    assert iso(parse("every 1h").next_after(at(NOW), plus2)) == "2026-11-30 Mon 11:00:00"


def test_shapes() -> None:
    assert parse("every 2h") == Interval(7200)
    daily = parse("daily")
    assert isinstance(daily, Calendar)
    assert (daily.hours, daily.minutes, daily.seconds, daily.days) == ((0,), (0,), (0,), None)
    assert parse("Mon..Fri 02:30") == parse("mon,tue,wed,thu,friday *-*-* 02:30:00")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("every 30s", "at least 1 minute"),
        ("every soon", "not a duration"),
        ("Mon..Fry 02:30", "'Fry' is not a weekday"),
        ("*-*-* 25:00", "hour 25 is not in 0..23"),
        ("*-13-01", "month 13 is not in 1..12"),
        ("*-*-* 00:60", "minute 60 is not in 0..59"),
        ("*-*-* 00/0:00", "step '0' is not a positive number"),
        ("*-*-* 10..08:00", "goes backwards"),
        ("*-*-* 00..12/2:00", "a range with a step"),
        ("*-02~01", "'~'"),
        ("*-*-* 00:00:00.5", "not a whole number"),
        ("daily Europe/Berlin", "only UTC"),
        ("*-*-* 00:00 00:00", "is not a date"),
        ("1-2-3-4", "not YEAR-MONTH-DAY"),
        ("1:2:3:4", "not HOUR:MINUTE"),
    ],
)
def test_refused(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse(expression)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("15min", 900), ("1h30m", 5400), ("2d", 172800),
     ("1w", 604800), ("1h 30m", 5400)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1h junk", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_duration(text)
