"""The guard against SQLite connections a test leaves open (tests/leaks.py): it finds one,
and stops it, so that a fixture that failed after opening the Database fails its test
instead of hanging the run at exit."""

from __future__ import annotations

from pathlib import Path

from tests import leaks
from zfsyncd.store import Database


async def test_an_open_connection_is_found_and_stopped(tmp_path: Path) -> None:
    before = leaks.connection_threads()
    db = await Database.open(tmp_path / "zfsyncd.db")
    left = leaks.left_open(before, grace=0.1)
    assert len(left) == 1
    leaks.stop(left)
    assert not left[0].is_alive()
    assert leaks.left_open(before, grace=0.1) == []
    await db.close()  # its connection is gone already: nothing left to do


async def test_a_closed_connection_is_not_a_leak(tmp_path: Path) -> None:
    before = leaks.connection_threads()
    async with Database.open(tmp_path / "zfsyncd.db"):
        pass
    assert leaks.left_open(before) == []
