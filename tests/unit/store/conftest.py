"""Fixtures for the store tests: a real SQLite file under tmp_path and a clock tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_helpers import FakeClock

from zfsyncd.store import AuditLog, CleanupQueue, Database, TransactionStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "zfsyncd.db"


@pytest.fixture
async def db(db_path: Path, clock: FakeClock) -> AsyncIterator[Database]:
    async with Database.open(db_path, clock=clock) as database:
        yield database


@pytest.fixture
def store(db: Database) -> TransactionStore:
    return TransactionStore(db)


@pytest.fixture
def audit(db: Database) -> AuditLog:
    return AuditLog(db)


@pytest.fixture
def cleanup(db: Database) -> CleanupQueue:
    return CleanupQueue(db)
