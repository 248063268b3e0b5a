"""Opening the state database: pragmas, migrations, refusals, and the transaction helper."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from store_helpers import FakeClock, query

from zfsyncd.store import (
    LATEST_VERSION,
    Database,
    StoreCorruptError,
    StoreError,
    StoreVersionError,
    TransactionStore,
)
from zfsyncd.store.migrations import MIGRATIONS

TABLES = {"transactions", "tx_datasets", "steps", "journal", "audit", "cleanup_queue",
          "witness_outcomes", "witness_backoff"}  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _damage_pages(path: Path) -> None:
    """Overwrite a stripe of every third page, leaving page 1 (the header) intact."""
    data = bytearray(path.read_bytes())
    page_size = query(path, "PRAGMA page_size")[0][0]
    assert len(data) > 8 * page_size
    for offset in range(2 * page_size, len(data), 3 * page_size):
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == LATEST_VERSION


async def test_an_empty_directory_gets_the_whole_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "zfsyncd.db"
    async with Database.open(path):
        pass
    assert _mode(path.parent) == 0o700
    assert query(path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    tables = {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables >= TABLES


async def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o740)
    async with Database.open(tmp_path / "zfsyncd.db"):
        pass
    assert _mode(tmp_path) == 0o740


async def test_reopening_applies_nothing_and_keeps_the_data(db_path: Path) -> None:
    async with Database.open(db_path) as db:
        created = await TransactionStore(db).create_transaction("snapshot")
    schema = query(db_path, "SELECT sql FROM sqlite_master ORDER BY name")
    for _ in range(2):
        async with Database.open(db_path) as db:
            assert await TransactionStore(db).get(created.id) == created
    assert query(db_path, "SELECT sql FROM sqlite_master ORDER BY name") == schema
    assert query(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]


async def test_the_connection_runs_with_wal_foreign_keys_and_full_sync(db: Database) -> None:
    async with db.reading() as conn:
        values = {}
        for pragma in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout"):
            rows = list(await conn.execute_fetchall(f"PRAGMA {pragma}"))
            values[pragma] = rows[0][0]
    assert values == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,  # FULL
        "busy_timeout": 5000,
    }


async def test_a_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    async with Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    before = _digest(db_path)
    with pytest.raises(StoreVersionError) as info:
        await Database.open(db_path)
    assert str(db_path) in str(info.value)
    assert f"version {LATEST_VERSION + 1}" in str(info.value)
    assert info.value.found == LATEST_VERSION + 1
    assert _digest(db_path) == before


async def test_garbage_is_reported_as_corrupt_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.db"
    path.write_bytes(b"this is not a database, just some bytes\n" * 200)
    before = _digest(path)
    with pytest.raises(StoreCorruptError) as info:
        await Database.open(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert "corrupt" in str(info.value)
    assert _digest(path) == before


async def test_damaged_pages_are_reported_as_corrupt(db_path: Path) -> None:
    async with Database.open(db_path) as db:
        store = TransactionStore(db)
        for i in range(200):
            await store.create_transaction("snapshot", description="x" * 200, datasets=[f"p/{i}"])
    _damage_pages(db_path)
    with pytest.raises(StoreCorruptError, match="corrupt"):
        await Database.open(db_path)


async def test_a_failing_block_leaves_nothing_behind(db: Database) -> None:
    store = TransactionStore(db)

    async def two_creates_then_boom() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            await store.create_transaction("snapshot")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await two_creates_then_boom()
    assert await store.list() == []


async def test_a_failed_nested_call_rolls_back_only_itself(db: Database) -> None:
    store = TransactionStore(db)

    async def create_then_fail() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            raise RuntimeError("inner")

    async with db.transaction():
        kept = await store.create_transaction("snapshot")
        with pytest.raises(RuntimeError, match="inner"):
            await create_then_fail()
    assert [r.id for r in await store.list()] == [kept.id]


async def test_all_or_nothing_keeps_nothing_once_a_nested_call_failed(db: Database) -> None:
    store = TransactionStore(db)
    statements: list[str] = []
    await db._connection().set_trace_callback(statements.append)

    async def create_then_fail() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            raise RuntimeError("inner")

    async def outer_goes_on() -> None:
        async with db.transaction(all_or_nothing=True):
            await store.create_transaction("snapshot")
            with pytest.raises(RuntimeError, match="inner"):
                await create_then_fail()

    with pytest.raises(StoreError, match="none of it is kept"):
        await outer_goes_on()
    assert await store.list() == []
    assert not [s for s in statements if s.upper().startswith("SAVEPOINT")]
    await db._connection().set_trace_callback(None)
    async with db.transaction(all_or_nothing=True):  # the next one is not doomed
        await store.create_transaction("snapshot")
        await store.create_transaction("snapshot")
    assert len(await store.list()) == 2


async def test_no_writes_inside_a_read(db: Database) -> None:
    store = TransactionStore(db)
    async with db.reading():
        with pytest.raises(StoreError, match="reading"):
            await store.create_transaction("snapshot")
    assert await store.list() == []


async def test_a_cancelled_transaction_rolls_back_and_frees_the_database(db: Database) -> None:
    store = TransactionStore(db)
    inside = asyncio.Event()

    async def stuck() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.list() == []
    await store.create_transaction("snapshot")  # not left inside a transaction
    assert len(await store.list()) == 1


async def test_a_closed_database_says_so(db_path: Path, clock: FakeClock) -> None:
    db = await Database.open(db_path, clock=clock)
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(StoreError, match="closed"):
        await TransactionStore(db).list()


async def test_close_waits_for_the_running_transaction(db: Database) -> None:
    store = TransactionStore(db)
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction():
            await store.create_transaction("snapshot")
            started.set()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(slow())
    await started.wait()
    await db.close()
    await task
    assert query(db.path, "SELECT count(*) FROM transactions") == [(1,)]
