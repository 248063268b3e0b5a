"""The audit log and the journal are append-only; cleanup forgets old transactions but never
the audit log."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from store_helpers import START, FakeClock, query

from zfsyncd.store import (
    AuditLog,
    CleanupQueue,
    Database,
    JournalEvent,
    JournalPhase,
    StepSpec,
    TransactionStore,
    TxState,
)

DAY = 86_400.0


async def _finished(store: TransactionStore, state: TxState = TxState.COMPLETED) -> str:
    tx = await store.create_transaction("snapshot", steps=[StepSpec("a")], datasets=["p/a"])
    await store.journal(tx.id, 0, JournalPhase.DO, JournalEvent.INTENT)
    await store.journal(tx.id, 0, JournalPhase.DO, JournalEvent.RESULT, outcome="completed")
    await store.set_state(tx.id, state, expected=TxState.CREATED)
    return tx.id


async def test_audit_entries_read_back_newest_first(audit: AuditLog, clock: FakeClock) -> None:
    first = await audit.append("CreateSnapshot", "ok", uid=1000, caller=":1.42", tx_id="t1")
    clock.advance(1)
    second = await audit.append("Rollback", "denied", uid=1001, caller=":1.43", detail={"a": 1})
    clock.advance(1)
    third = await audit.append("recover", "rolled back", caller="recovery", tx_id="t1")
    assert await audit.list() == [third, second, first]
    assert second.detail == {"a": 1}
    assert second.at == START + 1
    assert await audit.list(tx_id="t1") == [third, first]
    assert await audit.list(since=START + 1) == [third, second]
    assert await audit.list(uid=1000) == [first]
    assert await audit.list(limit=1) == [third]


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit SET outcome = 'ok'", "append-only"),
        # a row less than a day old by the database's clock (the fake clock is moved to now)
        ("DELETE FROM audit", "kept for a day at least"),
        ("UPDATE journal SET outcome = 'completed'", "append-only"),
        ("DELETE FROM journal", "append-only"),
    ],
)
async def test_history_cannot_be_rewritten(
    db: Database,
    store: TransactionStore,
    audit: AuditLog,
    clock: FakeClock,
    statement: str,
    refusal: str,
) -> None:
    clock.now = time.time()
    tx_id = await _finished(store)
    await audit.append("CreateSnapshot", "failed", tx_id=tx_id)
    with pytest.raises(sqlite3.IntegrityError, match=refusal):
        async with db.transaction() as conn:
            await conn.execute(statement)
    # nor by anyone else holding the file: the schema enforces it, not this code
    with closing(sqlite3.connect(db.path)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(statement)
    assert len(await audit.list()) == 1
    assert len(await store.journal_for(tx_id)) == 2


async def test_cleanup_forgets_old_finished_transactions_but_not_the_audit(
    db: Database, store: TransactionStore, audit: AuditLog, clock: FakeClock
) -> None:
    old_ok = await _finished(store, TxState.COMPLETED)
    old_failed = await _finished(store, TxState.FAILED)
    old_cancelled = await _finished(store, TxState.CANCELLED)
    still_running = await store.create_transaction("snapshot", steps=[StepSpec("a")])
    await store.set_state(still_running.id, TxState.EXECUTING, expected=TxState.CREATED)
    await store.journal(still_running.id, 0, JournalPhase.DO, JournalEvent.INTENT)
    for tx_id in (old_ok, old_failed, old_cancelled, still_running.id):
        await audit.append("create", "ok", tx_id=tx_id)
    clock.advance(10 * DAY)
    recent = await _finished(store)

    assert await store.delete_finished_older_than(7 * DAY) == 3

    remaining = {r.id for r in await store.list(limit=None)}
    assert remaining == {still_running.id, recent}
    for table in ("steps", "journal", "tx_datasets"):
        rows = query(db.path, f"SELECT DISTINCT tx_id FROM {table}")  # noqa: S608
        assert {row[0] for row in rows} <= remaining, table
    assert len(await store.journal_for(still_running.id)) == 1
    assert len(await audit.list()) == 4
    assert {e.tx_id for e in await audit.list()} >= {old_ok, old_failed, old_cancelled}
    assert await store.delete_finished_older_than(7 * DAY) == 0


async def test_journal_rows_of_a_living_transaction_cannot_be_deleted(
    db: Database, store: TransactionStore
) -> None:
    tx_id = await _finished(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM journal WHERE tx_id = ?", (tx_id,))


async def test_only_finished_transactions_can_be_deleted(
    db: Database, store: TransactionStore
) -> None:
    tx = await store.create_transaction("snapshot")
    await store.set_state(tx.id, TxState.EXECUTING, expected=TxState.CREATED)
    with pytest.raises(sqlite3.IntegrityError, match="finished"):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM transactions")
    assert await store.get(tx.id) is not None


async def test_cleanup_keeps_what_an_active_transaction_still_needs(
    store: TransactionStore, cleanup: CleanupQueue, clock: FakeClock
) -> None:
    undone_by_running = await _finished(store)
    undone_by_finished = await _finished(store)
    running = await store.create_transaction("rollback", rolls_back=undone_by_running)
    await store.set_state(running.id, TxState.EXECUTING, expected=TxState.CREATED)
    rollback = await store.create_transaction("rollback", rolls_back=undone_by_finished)
    await store.set_state(rollback.id, TxState.COMPLETED, expected=TxState.CREATED)
    item = await cleanup.add("destroy", {"snapshot": "p/a@x"}, "held", tx_id=undone_by_finished)
    clock.advance(10 * DAY)

    # the finished rollback goes too: it finished as long ago
    assert await store.delete_finished_older_than(DAY) == 2
    assert await store.get(undone_by_running) is not None
    assert await store.get(undone_by_finished) is None
    assert await store.get(rollback.id) is None
    kept = await cleanup.get(item.id)
    assert kept is not None
    assert kept.tx_id is None  # unlinked, not forgotten


async def test_a_deleted_transaction_only_unlinks_those_pointing_at_it(
    store: TransactionStore, clock: FakeClock
) -> None:
    target = await _finished(store)
    clock.advance(10 * DAY)
    retry = await store.create_transaction("snapshot", retry_of=target)
    await store.set_state(retry.id, TxState.FAILED, expected=TxState.CREATED)
    assert await store.delete_finished_older_than(DAY) == 1
    unlinked = await store.get(retry.id)
    assert unlinked is not None
    assert unlinked.retry_of is None


async def test_the_audit_log_survives_a_reopen(db_path: Path) -> None:
    async with Database.open(db_path) as db:
        await AuditLog(db).append("CreateSnapshot", "ok", uid=0, caller="cli")
    async with Database.open(db_path) as db:
        [entry] = await AuditLog(db).list()
    assert (entry.action, entry.caller, entry.uid) == ("CreateSnapshot", "cli", 0)
