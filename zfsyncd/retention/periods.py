"""sanoid's per-period counts: `hourly = 24`, `daily = 14`, `weekly`, `monthly`, `yearly`
(and `frequently`, every `frequent_period` minutes).

sanoid (its prune_snapshots) types each snapshot by its name (`autosnap_..._daily`) and
reads `daily = 30` as two rules together: "keep no daily older than 30 days" and "destroy no
daily unless more than 30 are left"; so a daily goes when it is older than 30 x the period
(an hour; a day; 7 days; 31 days for a month; 365.25 days for a year, sanoid's figures) AND
30 newer dailies exist.

zfsyncd's snapshots carry no type in their name: the snapshot that stands for a period is
the FIRST one made in it (the calendar hour, day, ISO week from Monday, month or year, in
the policy's time zone). The first, as sanoid's hourly, monthly and yearly are taken at the
start of their period (its daily at 23:59 is the one exception), and because the first of a
period stays the first as newer snapshots arrive: what a rule kept yesterday it keeps today
(with the last one, each new snapshot would displace the period's previous one). Then
sanoid's two rules apply to those: a period's first snapshot is kept while it is younger than
N periods or is among the N newest such firsts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Period(StrEnum):
    FREQUENTLY = "frequently"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


#: sanoid's period lengths for its age rule (a month is 31 days, a year 365.25), in
#: seconds; `frequently`'s comes from the policy's frequent_period
SANOID_SECONDS: dict[Period, float] = {
    Period.HOURLY: 3600,
    Period.DAILY: 86400,
    Period.WEEKLY: 7 * 86400,
    Period.MONTHLY: 31 * 86400,
    Period.YEARLY: 365.25 * 86400,
}


def period_key(period: Period, moment: datetime, frequent_minutes: int) -> tuple[int, ...]:
    """Which calendar period a moment (aware, in the policy's zone) falls in."""
    if period is Period.FREQUENTLY:
        minutes = moment.hour * 60 + moment.minute
        return (moment.year, moment.month, moment.day, minutes // frequent_minutes)
    if period is Period.HOURLY:
        return (moment.year, moment.month, moment.day, moment.hour)
    if period is Period.DAILY:
        return (moment.year, moment.month, moment.day)
    if period is Period.WEEKLY:
        iso = moment.isocalendar()
        return (iso.year, iso.week)
    if period is Period.MONTHLY:
        return (moment.year, moment.month)
    return (moment.year,)


def period_label(period: Period, key: tuple[int, ...], frequent_minutes: int) -> str:
    """The period in words for a reason: "hour 2026-11-30 14:00", "week 2026-W48"."""
    if period is Period.FREQUENTLY:
        start = key[3] * frequent_minutes
        day = f"{key[0]:04}-{key[1]:02}-{key[2]:02}"
        return f"{frequent_minutes}-minute period {day} {start // 60:02}:{start % 60:02}"
    if period is Period.HOURLY:
        return f"hour {key[0]:04}-{key[1]:02}-{key[2]:02} {key[3]:02}:00"
    if period is Period.DAILY:
        return f"day {key[0]:04}-{key[1]:02}-{key[2]:02}"
    if period is Period.WEEKLY:
        return f"week {key[0]:04}-W{key[1]:02}"
    if period is Period.MONTHLY:
        return f"month {key[0]:04}-{key[1]:02}"
    return f"year {key[0]:04}"


@dataclass(frozen=True, slots=True)
class CountRule:
    """`PERIOD = COUNT`, with the length sanoid's age rule uses."""

    period: Period
    count: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.period}={self.count}"


def fit_counts(
    rule: CountRule,
    creations: Sequence[int],
    moments: Sequence[datetime],
    now: int,
    frequent_minutes: int,
) -> dict[int, str]:
    """The snapshots (by index, oldest first as given) this rule keeps, each with why;
    `moments` are the creations as times of the policy's zone. O(n)."""
    firsts: dict[tuple[int, ...], int] = {}
    for index, moment in enumerate(moments):
        # oldest first: the first index seen for a period is its first snapshot
        firsts.setdefault(period_key(rule.period, moment, frequent_minutes), index)
    kept: dict[int, str] = {}
    newest_first = list(firsts.items())[::-1]
    for rank, (key, index) in enumerate(newest_first):
        if rank < rule.count:
            label = period_label(rule.period, key, frequent_minutes)
            kept[index] = f"{rule}: the first of {label}, one of the {rule.count} newest such"
        elif now - creations[index] < rule.count * rule.seconds:
            label = period_label(rule.period, key, frequent_minutes)
            kept[index] = (
                f"{rule}: the first of {label}, younger than {rule.count} {rule.period} periods"
            )
        else:
            break  # older ones are older still: neither rule keeps them
    return kept
