"""When a job runs: an interval, or a systemd-style calendar expression. Pure: no clock.

    schedule = "every 15m"          # an interval: at every multiple of it since the epoch
    schedule = "hourly"             # a shorthand (see SHORTHANDS)
    schedule = "*-*-* 00/4:00"      # at 00:00, 04:00, ..., 20:00
    schedule = "Mon..Fri 02:30"     # weekdays at 02:30
    schedule = "Sat,Sun *-*-01..07 03:00 UTC"

The subset of systemd.time(7) understood here, `[WEEKDAYS] [DATE] [TIME] [UTC]`, at least
one of the first three:
- WEEKDAYS: names (`Mon` or `Monday`, any case), separated by `,`, ranges with `..`;
- DATE: `YEAR-MONTH-DAY` or `MONTH-DAY`; TIME: `HOUR:MINUTE[:SECOND]`; each component is
  `*`, a number, a range `A..B`, `START/STEP` or `*/STEP` (every STEP from START up), or a
  list of those separated by `,`;
- a missing DATE is `*-*-*`, a missing TIME `00:00:00`, a missing SECOND `00`;
- the time is the daemon's local time (the caller passes the zone), or UTC with `UTC`.
Not understood (refused with the reason): `~` (days from the end of the month), fractional
seconds, other time zones, and `A..B/STEP`.

An interval's slots are the multiples of it since the epoch (UTC), so they do not drift
with restarts or with how long a run took; `every 1d` is at 00:00 UTC.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

#: how far ahead a calendar is searched: an expression with no firing in that span (a date
#: that has passed, February 30) never fires
HORIZON_YEARS = 200

SHORTHANDS: dict[str, str] = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*(min|s|m|h|d|w)")


class ScheduleError(ValueError):
    """An expression that cannot be understood; the message says which part and why."""


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h30m`, `2d`, `1w` (or a bare number of seconds) -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    compact = text.replace(" ", "")
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += int(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if pos != len(compact) or not compact:
        raise ScheduleError(f"{text!r} is not a duration (e.g. 90s, 15m, 1h30m, 2d, 1w)")
    return total


@dataclass(frozen=True)
class Interval:
    seconds: float

    def next_after(self, t: float, tz: tzinfo | None = UTC) -> float | None:
        """The first slot strictly after `t` (the zone does not matter: epoch multiples)."""
        return (int(t // self.seconds) + 1) * self.seconds


@dataclass(frozen=True)
class Calendar:
    """Each field: the values it matches, sorted; None for `*` (any)."""

    weekdays: frozenset[int] | None
    years: tuple[int, ...] | None
    months: tuple[int, ...] | None
    days: tuple[int, ...] | None
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    utc: bool = False

    def next_after(self, t: float, tz: tzinfo | None = UTC) -> float | None:
        """The first time strictly after `t` that matches, or None if none within
        HORIZON_YEARS. `tz` is the zone the expression is read in (unless it says UTC);
        None: the host's local time, daylight saving included."""
        zone = UTC if self.utc else tz
        start = datetime.fromtimestamp(t, zone)
        day = start.date()
        last = date(min(start.year + HORIZON_YEARS, 9999), 12, 31)
        first_day = True
        while day <= last:
            skip = self._skip(day)
            if skip is not None:
                day, first_day = skip, False
                continue
            after = (start.hour, start.minute, start.second) if first_day else None
            for hour, minute, second in self._times(after):
                at = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
                stamp = at.timestamp()
                if stamp > t:
                    return stamp
            day, first_day = day + timedelta(days=1), False
        return None

    def _skip(self, day: date) -> date | None:
        """The next day worth looking at when `day` cannot match (None: it may)."""
        if self.years is not None and day.year not in self.years:
            later = [y for y in self.years if y > day.year]
            return date(later[0], 1, 1) if later and later[0] <= 9999 else date.max
        if self.months is not None and day.month not in self.months:
            if day.month == 12:
                return date(day.year + 1, 1, 1) if day.year < 9999 else date.max
            return date(day.year, day.month + 1, 1)
        if self.days is not None and day.day not in self.days:
            return day + timedelta(days=1)
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return day + timedelta(days=1)
        return None

    def _times(self, after: tuple[int, int, int] | None) -> Iterator[tuple[int, int, int]]:
        """The times of a day in order; with `after`, from the first one not before it
        (the caller compares timestamps, which also sorts out a daylight-saving change)."""
        hours = self.hours
        if after is not None:
            hours = hours[bisect.bisect_left(hours, after[0]) :]
        for hour in hours:
            minutes = self.minutes
            if after is not None and hour == after[0]:
                minutes = minutes[bisect.bisect_left(minutes, after[1]) :]
            for minute in minutes:
                seconds = self.seconds
                if after is not None and (hour, minute) == after[:2]:
                    seconds = seconds[bisect.bisect_left(seconds, after[2]) :]
                for second in seconds:
                    yield hour, minute, second


Schedule = Interval | Calendar


def parse(text: str) -> Schedule:
    """A schedule from its text; ScheduleError naming the part that is wrong."""
    stripped = " ".join(text.split())
    if not stripped:
        raise ScheduleError("the schedule is empty")
    lowered = stripped.lower()
    if lowered.startswith("every "):
        seconds = parse_duration(lowered[len("every ") :])
        if seconds < 60:
            raise ScheduleError(f"{text!r}: an interval is at least 1 minute")
        return Interval(seconds)
    first, _, rest = stripped.partition(" ")
    if first.lower() in SHORTHANDS:  # `daily`, `daily UTC`
        return _calendar(f"{SHORTHANDS[first.lower()]} {rest}".strip(), text)
    return _calendar(stripped, text)


def _calendar(expression: str, original: str) -> Calendar:
    parts = expression.split(" ")
    utc = False
    if parts[-1].upper() == "UTC":
        utc, parts = True, parts[:-1]
    weekdays = None
    if parts and re.match(r"[A-Za-z]", parts[0]):
        weekdays = _weekdays(parts.pop(0), original)
    date_part = time_part = None
    for part in parts:
        if ":" in part and time_part is None:
            time_part = part
        elif "-" in part and date_part is None and time_part is None:
            date_part = part
        elif re.fullmatch(r"[A-Za-z][A-Za-z/_+]*", part):
            raise ScheduleError(f"{original!r}: time zone {part!r}: only UTC is understood")
        else:
            raise ScheduleError(f"{original!r}: {part!r} is not a date (Y-M-D) or time (H:M)")
    if weekdays is None and date_part is None and time_part is None:
        raise ScheduleError(f"{original!r}: neither weekdays, a date nor a time")
    years = months = days = None
    if date_part is not None:
        fields = date_part.split("-")
        if len(fields) == 2:
            fields = ["*", *fields]
        if len(fields) != 3:
            raise ScheduleError(f"{original!r}: date {date_part!r} is not YEAR-MONTH-DAY")
        years = _field(fields[0], 1970, 9999, "year", original)
        months = _field(fields[1], 1, 12, "month", original)
        days = _field(fields[2], 1, 31, "day", original)
    hours: tuple[int, ...] = (0,)
    minutes: tuple[int, ...] = (0,)
    seconds: tuple[int, ...] = (0,)
    if time_part is not None:
        fields = time_part.split(":")
        if len(fields) == 2:
            fields.append("00")
        if len(fields) != 3:
            raise ScheduleError(f"{original!r}: time {time_part!r} is not HOUR:MINUTE[:SECOND]")
        hours = _all(_field(fields[0], 0, 23, "hour", original), 0, 23)
        minutes = _all(_field(fields[1], 0, 59, "minute", original), 0, 59)
        seconds = _all(_field(fields[2], 0, 59, "second", original), 0, 59)
    return Calendar(weekdays, years, months, days, hours, minutes, seconds, utc)


def _all(values: tuple[int, ...] | None, low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1)) if values is None else values


def _field(text: str, low: int, high: int, what: str, original: str) -> tuple[int, ...] | None:
    """The values of one component (None for a bare `*`)."""
    if text == "*":
        return None
    values: set[int] = set()
    for item in text.split(","):
        values.update(_item(item, low, high, what, original))
    return tuple(sorted(values))


def _item(item: str, low: int, high: int, what: str, original: str) -> range:
    def number(word: str) -> int:
        if not word.isdigit():
            if "~" in word:
                raise ScheduleError(f"{original!r}: '~' (from the month's end) is not supported")
            if "." in word:
                raise ScheduleError(f"{original!r}: {what} {word!r} is not a whole number")
            raise ScheduleError(f"{original!r}: {what} {word!r} is not a number")
        value = int(word)
        if not low <= value <= high:
            raise ScheduleError(f"{original!r}: {what} {value} is not in {low}..{high}")
        return value

    if "/" in item:
        start, _, step = item.partition("/")
        if ".." in start:
            raise ScheduleError(f"{original!r}: a range with a step ({item!r}) is not supported")
        if not step.isdigit() or int(step) == 0:
            raise ScheduleError(f"{original!r}: {what} step {step!r} is not a positive number")
        first = low if start == "*" else number(start)
        return range(first, high + 1, int(step))
    if ".." in item:
        start, _, end = item.partition("..")
        a, b = number(start), number(end)
        if a > b:
            raise ScheduleError(f"{original!r}: {what} range {item!r} goes backwards")
        return range(a, b + 1)
    value = number(item)
    return range(value, value + 1)


def _weekdays(text: str, original: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        if ".." in item:
            start, _, end = item.partition("..")
            a, b = _weekday(start, original), _weekday(end, original)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(_weekday(item, original))
    return frozenset(days)


def _weekday(word: str, original: str) -> int:
    lowered = word.lower()
    if lowered in WEEKDAYS:
        return WEEKDAYS.index(lowered)
    if lowered in _FULL_WEEKDAYS:
        return _FULL_WEEKDAYS.index(lowered)
    raise ScheduleError(f"{original!r}: {word!r} is not a weekday (Mon..Sun)")
