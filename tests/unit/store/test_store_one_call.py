"""Database.write, write_later, read and batch: the store's statements run as one call to
aiosqlite's thread each, with the same all-or-nothing rules as `transaction`; and a record
`create_transaction` builds from what it wrote equals the one a read returns."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from store_helpers import query

from zfsyncd.store import (
    Database,
    StaleStateError,
    StepSpec,
    StoreError,
    TransactionStore,
    TxState,
)


def _insert_audit(action: str) -> Callable[[sqlite3.Connection], int]:
    def work(conn: sqlite3.Connection) -> int:
        cursor = conn.execute(
            "INSERT INTO audit (at, action, outcome) VALUES (0, ?, 'ok')", (action,)
        )
        return int(cursor.lastrowid or 0)

    return work


def _fail(conn: sqlite3.Connection) -> None:
    raise RuntimeError("boom")


def _actions(db: Database) -> list[str]:
    return [str(r[0]) for r in query(db.path, "SELECT action FROM audit ORDER BY seq")]


class Calls:
    """The calls made to the connection's thread (aiosqlite's `_execute`, which every one
    of its methods and `Database`'s one-call helpers go through)."""

    def __init__(self, db: Database) -> None:
        conn = db._connection()
        self.count = 0
        inner = conn._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await inner(fn, *args, **kwargs)

        conn._execute = counted  # type: ignore[method-assign]


async def test_a_write_is_one_call_and_commits_whole_or_not_at_all(db: Database) -> None:
    calls = Calls(db)
    await db.write(_insert_audit("a"))
    assert calls.count == 1

    def two_then_fail(conn: sqlite3.Connection) -> None:
        _insert_audit("b")(conn)
        _insert_audit("c")(conn)
        _fail(conn)

    with pytest.raises(RuntimeError, match="boom"):
        await db.write(two_then_fail)
    assert _actions(db) == ["a"]
    await db.write(_insert_audit("d"))  # the connection was not left inside a transaction
    assert _actions(db) == ["a", "d"]


async def test_a_failed_nested_write_rolls_back_only_itself(db: Database) -> None:
    async with db.transaction():
        await db.write(_insert_audit("kept"))
        with pytest.raises(RuntimeError, match="boom"):
            await db.write(lambda conn: (_insert_audit("gone")(conn), _fail(conn)))
    assert _actions(db) == ["kept"]


async def test_no_write_inside_a_read(db: Database) -> None:
    async with db.reading():
        with pytest.raises(StoreError, match="reading"):
            await db.write(_insert_audit("a"))
        with pytest.raises(StoreError, match="reading"):
            await db.write_later(_insert_audit("a"))
    assert _actions(db) == []


async def test_a_batch_sends_its_later_writes_with_its_next_call_or_its_commit(
    db: Database,
) -> None:
    calls = Calls(db)
    async with db.batch():
        await db.write_later(_insert_audit("a"))
        await db.write_later(_insert_audit("b"))
        assert calls.count == 0  # nothing sent yet
        # a read sees them: they go with it, in its one call (with BEGIN)
        assert await db.read(lambda conn: len(conn.execute("SELECT 1 FROM audit").fetchall())) == 2
        assert calls.count == 1
        await db.write_later(_insert_audit("c"))
        assert query(db.path, "SELECT count(*) FROM audit") == [(0,)]  # not committed yet
    assert calls.count == 2  # the COMMIT took "c" with it
    assert _actions(db) == ["a", "b", "c"]


async def test_an_empty_batch_sends_nothing(db: Database) -> None:
    calls = Calls(db)
    async with db.batch():
        pass
    assert calls.count == 0


async def test_a_later_write_that_fails_fails_the_commit_and_keeps_nothing(
    db: Database,
) -> None:
    store = TransactionStore(db)
    record = await store.create_transaction("snapshot")

    async def stale_move() -> None:
        async with db.batch():
            await db.write_later(_insert_audit("a"))
            # expects PREPARED, but it is CREATED: refused when it is sent, at the COMMIT
            await store.set_state(
                record.id, TxState.EXECUTING, expected=TxState.PREPARED, later=True
            )

    with pytest.raises(StaleStateError):
        await stale_move()
    assert _actions(db) == []
    assert (await store.get(record.id)).state is TxState.CREATED  # type: ignore[union-attr]
    async with db.batch():  # the next one is not doomed
        await db.write_later(_insert_audit("b"))
    assert _actions(db) == ["b"]


async def test_a_batch_whose_call_failed_keeps_nothing_even_if_the_block_went_on(
    db: Database,
) -> None:
    async def goes_on() -> None:
        async with db.batch():
            await db.write_later(_insert_audit("a"))
            with pytest.raises(RuntimeError, match="boom"):
                await db.write(_fail)
            await db.write_later(_insert_audit("b"))

    with pytest.raises(StoreError, match="none of it is kept"):
        await goes_on()
    assert _actions(db) == []


async def test_a_write_cancelled_while_it_waits_for_the_lock_writes_nothing(
    db: Database,
) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.transaction():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiting = asyncio.create_task(db.write(_insert_audit("a")))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert _actions(db) == []


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "description": "d",
            "uid": 1000,
            "priority": 3,
            "timeout": 60,  # a whole number: the column stores a float
            "tags": ("b", "a"),
            "metadata": {"k": {"n": [1, 2]}, "t": (1, 2)},  # a tuple reads back as a list
            "params": {"datasets": ["p/b", "p/a"], "hold": True, "x": 1.5},
            "datasets": ["p/b", "p/a", "p/b"],  # stored sorted, once each
            "steps": [
                StepSpec("create-snapshots", {"names": ("p/a@s",)}, "snap", 10),
                StepSpec("hold"),
            ],
        },
    ],
    ids=["bare", "everything"],
)
async def test_a_created_record_is_the_one_a_read_returns(
    store: TransactionStore, options: dict[str, Any]
) -> None:
    first = await store.create_transaction("snapshot")
    created = await store.create_transaction("snapshot", retry_of=first.id, **options)
    assert created == await store.get(created.id)
