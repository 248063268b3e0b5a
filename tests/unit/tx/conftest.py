"""Fixtures shared by the engine's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the transaction kinds
from zfsyncd.store import Database
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.memory import MemoryBackend


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[TransactionManager]:
    """A manager over the model's pools `tank` and `backup`, on a fresh database."""
    db = await Database.open(tmp_path / "zfsyncd.db")
    try:
        engine = TransactionManager(db, local_hosts(MemoryBackend(pools=("tank", "backup"))))
        yield engine
        await engine.shutdown()
    finally:
        await db.close()
