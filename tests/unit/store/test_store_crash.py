"""kill -9 a writer mid-way: every committed row survives, nothing uncommitted does."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from store_helpers import query

from zfsyncd.store import Database, TransactionStore

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[3]


async def _start(path: Path, mode: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), str(path), mode, stdout=asyncio.subprocess.PIPE, env=env
    )


async def _read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line, f"writer exited early with {await proc.wait()}"
    return line.decode().strip()


async def _kill(proc: asyncio.subprocess.Process) -> list[str]:
    """SIGKILL, then whatever it printed before dying."""
    proc.kill()
    rest, _ = await proc.communicate()
    return rest.decode().split("\n")


async def test_committed_journal_rows_survive_kill_9(db_path: Path) -> None:
    db_path.parent.mkdir(mode=0o700)
    proc = await _start(db_path, "journal")
    tx_id = (await _read_line(proc)).removeprefix("tx ")
    printed = [await _read_line(proc) for _ in range(25)]
    printed += await _kill(proc)
    committed = {int(line.removeprefix("seq ")) for line in printed if line.startswith("seq ")}
    assert len(committed) >= 25

    async with Database.open(db_path) as db:  # opening runs the integrity check
        entries = await TransactionStore(db).journal_for(tx_id)
    seqs = [e.seq for e in entries]
    assert committed <= set(seqs)
    # at most the row whose commit returned but was not printed yet
    assert len(seqs) - len(committed) <= 1
    assert seqs == list(range(1, len(seqs) + 1))  # no holes: nothing half-written
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]


async def test_a_transaction_open_at_kill_9_is_gone_whole(db_path: Path) -> None:
    db_path.parent.mkdir(mode=0o700)
    proc = await _start(db_path, "open-tx")
    assert await _read_line(proc) == "inside"
    await _kill(proc)

    async with Database.open(db_path) as db:
        assert await TransactionStore(db).list() == []
    for table in ("transactions", "steps", "journal", "tx_datasets"):
        assert query(db_path, f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]
