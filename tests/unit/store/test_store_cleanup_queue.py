"""Deferred cleanups: due when their time comes, retried, marked done, never lost."""

from __future__ import annotations

import sqlite3

import pytest
from store_helpers import START, FakeClock

from zfsyncd.store import CleanupQueue, Database, RecordNotFoundError, StoreError


async def test_items_fall_due_and_are_retried(cleanup: CleanupQueue, clock: FakeClock) -> None:
    now = await cleanup.add("release", {"tag": "zfsync_x", "snapshot": "p/a@s"}, "hold in use")
    later = await cleanup.add("destroy", {"snapshot": "p/a@t"}, "busy", not_before=START + 60)
    assert now.next_attempt_at == START
    assert now.attempts == 0
    assert now.args == {"tag": "zfsync_x", "snapshot": "p/a@s"}
    assert [i.id for i in await cleanup.due()] == [now.id]
    assert [i.id for i in await cleanup.pending()] == [now.id, later.id]

    retried = await cleanup.mark_attempt(now.id, "dataset is busy", next_attempt_at=START + 120)
    assert (retried.attempts, retried.last_error) == (1, "dataset is busy")
    assert await cleanup.due() == []
    assert [i.id for i in await cleanup.due(START + 60)] == [later.id]
    clock.advance(200)
    assert [i.id for i in await cleanup.due()] == [later.id, now.id]

    done = await cleanup.mark_done(now.id)
    assert done.done_at == START + 200
    assert done.attempts == 2
    assert await cleanup.mark_done(now.id) == done  # again: nothing changes
    assert [i.id for i in await cleanup.pending()] == [later.id]
    assert [i.id for i in await cleanup.due()] == [later.id]
    with pytest.raises(StoreError, match="already done"):
        await cleanup.mark_attempt(now.id, "late", next_attempt_at=START)
    with pytest.raises(RecordNotFoundError):
        await cleanup.mark_done(999)
    with pytest.raises(RecordNotFoundError):
        await cleanup.mark_attempt(999, "x", next_attempt_at=START)


async def test_pending_items_cannot_be_deleted_done_ones_can_be_purged(
    db: Database, cleanup: CleanupQueue, clock: FakeClock
) -> None:
    pending = await cleanup.add("destroy", {}, "busy")
    done = await cleanup.add("destroy", {}, "busy")
    await cleanup.mark_done(done.id)
    with pytest.raises(sqlite3.IntegrityError, match="done"):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM cleanup_queue")

    assert await cleanup.purge_done(older_than=60) == 0  # done just now
    clock.advance(61)
    assert await cleanup.purge_done(older_than=60) == 1
    assert await cleanup.get(done.id) is None
    assert await cleanup.get(pending.id) == pending
