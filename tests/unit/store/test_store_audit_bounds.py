"""The audit log is bounded: retention by age and by row count (never a row less than a day
old), and bursts of the same call folded into one row per window."""

from __future__ import annotations

import asyncio
import time

from store_helpers import START, FakeClock, query

from zfsyncd.store import AuditLog, Database

DAY = 86400.0


async def test_prune_deletes_by_age_and_by_count_but_never_a_young_row(
    db: Database, audit: AuditLog, clock: FakeClock
) -> None:
    for i in range(10):  # START is days before the real now: these rows are old
        await audit.append("Snapshot", f"ok {i}", uid=0)
        clock.advance(DAY)
    clock.now = time.time()  # and two rows of today
    await audit.append("Snapshot", "young 1", uid=0)
    await audit.append("Snapshot", "young 2", uid=0)

    # an age that puts the cutoff at START + 4.5 days: rows 0..4 go
    removed = await audit.prune(older_than=(time.time() - (START + 4.5 * DAY)), keep_at_most=100)
    assert removed == 5
    assert [e.outcome for e in await audit.list(limit=None)][-1] == "ok 5"
    # a count of 0 would leave nothing, but the young rows are kept whatever the bound
    assert await audit.prune(older_than=10 * 365 * DAY, keep_at_most=0) == 5
    assert [e.outcome for e in await audit.list(limit=None)] == ["young 2", "young 1"]
    assert query(db.path, "SELECT count(*) FROM audit") == [(2,)]


async def test_repeats_within_the_window_are_counted_then_written_as_one_row(
    audit: AuditLog, clock: FakeClock
) -> None:
    key = (65534, "Snapshot", "org.zfsync.snapshot")
    for _ in range(500):
        await audit.append_folded(key, "Snapshot", "refused: not authorized", uid=65534)
        clock.advance(0.01)  # 500 calls in 5 s
    other = (0, "Snapshot", "org.zfsync.snapshot")
    await audit.append_folded(other, "Snapshot", "refused: not authorized", uid=0)
    rows = await audit.list(limit=None)
    assert [(r.uid, r.outcome) for r in rows] == [
        (0, "refused: not authorized"),
        (65534, "refused: not authorized"),
    ]
    clock.advance(audit.fold_window)
    assert await audit.flush_folded() == 1  # nobody's burst; root's had no repeat
    newest = (await audit.list(limit=1))[0]
    assert newest.uid == 65534
    assert newest.outcome == "refused: not authorized (repeated 499 more times in 5 s)"
    assert newest.detail["repeats"] == 499
    # the next call after the window begins a new burst with a row of its own
    await audit.append_folded(key, "Snapshot", "refused: not authorized", uid=65534)
    assert len(await audit.list(limit=None)) == 4
    assert await audit.flush_folded(everything=True) == 0


async def test_concurrent_repeats_fold_too(audit: AuditLog, clock: FakeClock) -> None:
    """A flood arrives concurrently: the refusals that come while the first one's row is
    being written belong to its burst (issue 9: 26 rows in 0.4 s, one per refusal)."""
    key = (65534, "GetStatus", "org.zfsync.read", "org.zfsync.Error.Busy")
    await asyncio.gather(
        *(audit.append_folded(key, "GetStatus", "refused: busy", uid=65534) for _ in range(200))
    )
    assert [e.outcome for e in await audit.list(limit=None)] == ["refused: busy"]
    clock.advance(61)
    assert await audit.flush_folded() == 1
    assert "199" in (await audit.list(limit=None))[0].outcome
