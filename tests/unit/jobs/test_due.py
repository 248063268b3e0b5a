"""When a job runs: catch-up after downtime is one run, the offset spreads starts, a target
that fails backs off. Pure decisions, tables of examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zfsyncd.jobs.calendar import parse
from zfsyncd.jobs.due import BACKOFF_MAX, Due, backoff, decide, jitter_offset


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


HOURLY = parse("hourly")


@pytest.mark.parametrize(
    ("covered", "now", "offset", "expected"),
    [
        # first seen: no run, covered up to now, the next slot is the first run
        (None, "2026-11-30 10:17", 0, Due(False, at("2026-11-30 10:17"), at("2026-11-30 11:00"))),
        # not yet
        ("2026-11-30 10:17", "2026-11-30 10:59", 0,
         Due(False, at("2026-11-30 10:17"), at("2026-11-30 11:00"))),
        # the slot came: one run, covered up to now
        ("2026-11-30 10:17", "2026-11-30 11:00", 0,
         Due(True, at("2026-11-30 11:00"), at("2026-11-30 12:00"))),
        # a week of downtime: ONE run, covering all 168 slots
        ("2026-11-23 10:17", "2026-11-30 10:17", 0,
         Due(True, at("2026-11-30 10:17"), at("2026-11-30 11:00"))),
        # an offset of 90 s: the 11:00 slot runs at 11:01:30
        ("2026-11-30 10:17", "2026-11-30 11:01", 90,
         Due(False, at("2026-11-30 10:17"), at("2026-11-30 11:01:30"))),
        ("2026-11-30 10:17", "2026-11-30 11:01:30", 90,
         Due(True, at("2026-11-30 11:00"), at("2026-11-30 12:01:30"))),
        # right after a run: nothing until the next slot
        ("2026-11-30 11:00", "2026-11-30 11:00:01", 0,
         Due(False, at("2026-11-30 11:00"), at("2026-11-30 12:00"))),
    ],
)  # fmt: skip
def test_decide(covered: str | None, now: str, offset: float, expected: Due) -> None:
    stored = None if covered is None else at(covered)
    assert decide(HOURLY, stored, at(now), offset=offset) == expected


def test_a_schedule_that_has_ended() -> None:
    once = parse("2026-12-01 00:00")
    due = decide(once, at("2026-11-30 00:00"), at("2026-12-02 00:00"))
    assert (due.run, due.next_at) == (True, None)
    assert decide(once, due.covered, at("2026-12-03 00:00")) == Due(False, due.covered, None)


def test_offsets_are_fixed_by_name_and_within_the_jitter() -> None:
    names = [f"job{i}" for i in range(50)]
    offsets = [jitter_offset(n, 300) for n in names]
    assert offsets == [jitter_offset(n, 300) for n in names]  # the same after a restart
    assert all(0 <= o < 300 for o in offsets)
    assert len({round(o) for o in offsets}) > 40  # spread, not bunched
    assert jitter_offset("job0", 0) == 0


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (1, 60), (2, 120), (3, 240), (6, 1920), (7, BACKOFF_MAX), (1000, BACKOFF_MAX)],
)
def test_backoff(failures: int, seconds: float) -> None:
    assert backoff(failures) == seconds
