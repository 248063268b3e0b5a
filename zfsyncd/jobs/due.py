"""Whether a job runs now, and when next: pure decisions from the schedule, the job's stored
state and the time (tested with tables of examples in tests/unit/jobs/test_due.py).

Catch-up: a job remembers `covered`, the schedule time up to which its slots are served.
Every slot missed while the daemon was down (or the job paused) is served by ONE run, not a
burst: that run covers everything up to now. A job seen for the first time covers up to
now without running (its first run is at its next slot; `zfsyncctl job run` runs it now).

Spreading: each job runs `offset` seconds after its slots, the offset fixed by the job's
name (`jitter_offset`), so jobs on the same schedule do not all start at the same second,
and the same job starts at the same offset after every restart.

Backoff: a replication target that failed is retried after `backoff(failures)`, doubling
from BACKOFF_FIRST up to BACKOFF_MAX, independently of the job's own schedule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, tzinfo

from zfsyncd.jobs.calendar import Schedule
from zfsyncd.tx.retry import Backoff

BACKOFF_FIRST = 60.0
BACKOFF_MAX = 3600.0
TARGET_BACKOFF = Backoff(first=BACKOFF_FIRST, cap=BACKOFF_MAX)


def jitter_offset(name: str, jitter: float) -> float:
    """A fraction of `jitter` fixed by the job's name (its hash, not Python's salted one)."""
    if jitter <= 0:
        return 0.0
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 * jitter


def backoff(failures: int) -> float:
    """Seconds before a target that failed `failures` times in a row is tried again."""
    return TARGET_BACKOFF.delay(failures)


@dataclass(frozen=True)
class Due:
    #: run now
    run: bool
    #: the schedule time the job's slots are served up to after this decision
    covered: float
    #: when the next slot comes (offset included); None: never again
    next_at: float | None


def decide(
    schedule: Schedule,
    covered: float | None,
    now: float,
    *,
    offset: float = 0.0,
    tz: tzinfo | None = UTC,
) -> Due:
    """Run now when a slot after `covered` has come (at `now - offset` in schedule time);
    one run covers every slot up to now."""
    at = now - offset
    if covered is None:  # first seen: served up to now, the first run at the next slot
        return Due(False, at, _shift(schedule.next_after(at, tz), offset))
    slot = schedule.next_after(covered, tz)
    if slot is not None and slot <= at:
        return Due(True, at, _shift(schedule.next_after(at, tz), offset))
    return Due(False, covered, _shift(slot, offset))


def _shift(slot: float | None, offset: float) -> float | None:
    return None if slot is None else slot + offset
