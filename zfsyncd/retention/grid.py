"""zrepl's retention grid: `1x1h(keep=all) | 24x1h | 14x1d | 12x30d`.

The same grammar and the same meaning as zrepl's (internal/config/retentiongrid.go,
internal/pruning/retentiongrid/retentiongrid.go), so a zrepl user's grid keeps here what it
kept there:

- `N x LENGTH` is N adjacent intervals of LENGTH each; `(keep=K)` keeps at most K
  snapshots in each of them (`keep=all`: every one), default 1. LENGTH is a whole number and
  a unit: s, m, h, d, w (zrepl has no month or year: write 30d, 365d).
- The first interval's newer edge is the creation of the newest snapshot the grid sees
  (not the clock: a dataset that stopped getting snapshots is not pruned to nothing); each
  interval lies right before the previous one, and a snapshot belongs to the one whose
  (older edge, newer edge] holds its creation.
- In each interval the OLDEST K are kept (so a kept snapshot stays kept as newer ones
  arrive), the younger ones beyond K go; a snapshot older than the last interval goes.
- The lengths must grow from one interval to the next (a shorter one after a longer is a
  mistake in zrepl's view too), except after intervals that all keep everything.

zrepl's caution applies: the first interval decides whether the newest snapshots are kept.
zfsyncd keeps the newest snapshot of each dataset anyway (see decide.py), so a grid that
starts with `1x1h` does not destroy it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: the seconds of each unit zrepl knows
UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: intervals a grid may expand to (8,760 is a year of hours): bounds the work and memory of
#: a grid from a caller
MAX_INTERVALS = 10_000
#: characters of a grid's text
MAX_GRID_CHARS = 1_000

_PART = re.compile(r"\s*(\d+)\s*x\s*(\d+)\s*([a-z]*)\s*(?:\((.*)\))?\s*", re.IGNORECASE)
_KEEP = re.compile(r"\s*keep\s*=\s*(\w+)\s*")


class GridError(ValueError):
    """A grid's text that is not a grid: the message names each wrong part."""


@dataclass(frozen=True, slots=True)
class GridInterval:
    """`COUNTxLENGTH(keep=KEEP)`: COUNT adjacent intervals, each keeping KEEP (None: all)."""

    count: int
    seconds: int
    keep: int | None = 1

    def __str__(self) -> str:
        keep = "" if self.keep == 1 else f"(keep={'all' if self.keep is None else self.keep})"
        return f"{self.count}x{_length(self.seconds)}{keep}"


_LARGEST_FIRST = tuple(sorted(UNITS.items(), key=lambda item: -item[1]))


def _length(seconds: int) -> str:
    for unit, size in _LARGEST_FIRST:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("every length is a whole number of seconds")  # pragma: no cover


def _parse_part(text: str) -> GridInterval:
    match = _PART.fullmatch(text)
    if match is None:
        raise GridError("not of the form COUNTxLENGTH or COUNTxLENGTH(keep=N|all), e.g. 24x1h")
    count_text, length_text, unit, options = match.groups()
    count, length = int(count_text), int(length_text)
    if count <= 0:
        raise GridError("the count must be 1 or more")
    if unit.lower() not in UNITS:
        known = ", ".join(UNITS)
        raise GridError(
            f"{unit!r} is not a unit (one of {known})" if unit else f"no unit (one of {known})"
        )
    if length <= 0:
        raise GridError("the length must be more than 0")
    keep: int | None = 1
    if options is not None:
        option = _KEEP.fullmatch(options)
        if option is None:
            raise GridError(f"({options}) is not (keep=N) or (keep=all)")
        value = option.group(1)
        if value == "all":
            keep = None
        elif value.isdigit() and int(value) > 0:
            keep = int(value)
        else:
            raise GridError(f"keep={value}: keep is a whole number of 1 or more, or all")
    return GridInterval(count, length * UNITS[unit.lower()], keep)


def parse_grid(text: str) -> tuple[GridInterval, ...]:
    """The grid a text says; GridError naming every part that is wrong ("interval 2 of 4
    (24x1q): ..."), and the grid as a whole when its lengths shrink or it is too large."""
    if len(text) > MAX_GRID_CHARS:
        raise GridError(f"is limited to {MAX_GRID_CHARS} characters")
    parts = text.split("|")
    intervals: list[GridInterval] = []
    wrong: list[str] = []
    for number, part in enumerate(parts, 1):
        try:
            intervals.append(_parse_part(part))
        except GridError as exc:
            wrong.append(f"interval {number} of {len(parts)} ({part.strip() or 'empty'}): {exc}")
    if wrong:
        raise GridError("; ".join(wrong))
    total = sum(i.count for i in intervals)
    if total > MAX_INTERVALS:
        raise GridError(f"expands to {total} intervals, more than {MAX_INTERVALS}")
    longest, all_kept = 0, True
    for number, interval in enumerate(intervals, 1):
        if interval.seconds < longest and not all_kept:
            raise GridError(
                f"interval {number} ({interval}) is shorter than one before it: the lengths "
                "must grow (except after intervals that keep all)"
            )
        longest = max(longest, interval.seconds)
        all_kept = all_kept and interval.keep is None
    return tuple(intervals)


def format_grid(grid: Sequence[GridInterval]) -> str:
    """The text parse_grid reads back to the same grid."""
    return " | ".join(str(i) for i in grid)


@dataclass(frozen=True, slots=True)
class GridFit:
    """Where the grid puts each snapshot, by its index in the creations given."""

    #: index -> the interval that keeps it (its number from 1 in the expanded grid, and the
    #: part of the grid it comes from)
    kept: dict[int, tuple[int, GridInterval]]
    #: index -> why the grid does not keep it
    dropped: dict[int, str]


def fit_grid(grid: Sequence[GridInterval], creations: Sequence[int]) -> GridFit:
    """zrepl's FitEntries: the grid anchored at the newest creation. O(n log n)."""
    kept: dict[int, tuple[int, GridInterval]] = {}
    dropped: dict[int, str] = {}
    if not creations:
        return GridFit(kept, dropped)
    anchor = max(creations)
    # the expanded intervals' older edges, as ages from the anchor: interval j holds the
    # ages in [edges[j-1], edges[j]) (zrepl's bucket is (older edge, newer edge] in time)
    edges: list[int] = []
    owners: list[GridInterval] = []
    age = 0
    for interval in grid:
        for _ in range(interval.count):
            age += interval.seconds
            edges.append(age)
            owners.append(interval)
    # the snapshots of each interval, oldest first (ties: the order given, like zrepl's
    # stable sort)
    members: dict[int, list[int]] = {}
    for index in sorted(range(len(creations)), key=lambda i: creations[i]):
        slot = bisect.bisect_right(edges, anchor - creations[index])
        if slot >= len(edges):
            # (not the grid's text: a reason per snapshot of thousands stays short)
            dropped[index] = "older than the grid's last interval"
            continue
        members.setdefault(slot, []).append(index)
    for slot, indexes in members.items():
        owner = owners[slot]
        limit = len(indexes) if owner.keep is None else owner.keep
        for position, index in enumerate(indexes):
            if position < limit:
                kept[index] = (slot + 1, owner)
            else:
                dropped[index] = f"grid interval {slot + 1} ({owner}) keeps its oldest {owner.keep}"
    return GridFit(kept, dropped)
