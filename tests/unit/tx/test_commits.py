"""How many commits (each one sync of the database) the engine makes, and that the journal's
rule still holds with fewer of them: a step's intent is committed before its zfs command.

The counts are the bound issue 9 set (the engine's fixed cost): a change that adds a commit
to a transaction or a step fails here, and must say why it needs one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import zfsyncd.ops  # noqa: F401 - registers the snapshot transaction
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.memory import MemoryBackend

#: create; plan + PREPARED + EXECUTING; COMPLETED (each with its audit rows)
COMMITS_PER_TRANSACTION = 3
#: the intent with RUNNING; the result with COMPLETED
COMMITS_PER_STEP = 2


class Counted:
    """The statements sent on the database's connection, from SQLite's trace callback."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def commits(self) -> int:
        return sum(1 for s in self.statements if s.strip().upper() == "COMMIT")

    def savepoints(self) -> int:
        return sum(1 for s in self.statements if s.strip().upper().startswith("SAVEPOINT"))


class JournalWitness:
    """The model, which looks at the committed journal (through a connection of its own,
    which sees only what was committed) each time a snapshot or hold is made."""

    def __init__(self, inner: MemoryBackend, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.seen: list[list[tuple[int, str, str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _committed(self) -> list[tuple[int, str, str]]:
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute(
                "SELECT step_idx, phase, event FROM journal WHERE step_idx IS NOT NULL ORDER BY seq"
            ).fetchall()
        return [(int(i), str(p), str(e)) for i, p, e in rows]

    async def snapshot_guids(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(self._committed())
        return await self.inner.snapshot_guids(*args, **kwargs)

    async def hold(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(self._committed())
        return await self.inner.hold(*args, **kwargs)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[TransactionManager, Counted, Any]]:
    model = MemoryBackend(pools=("p",))
    await model.create("p/a")
    path = tmp_path / "zfsyncd.db"
    zfs = JournalWitness(model, path)
    db = await Database.open(path)
    try:
        counted = Counted()
        await db._connection().set_trace_callback(counted.statements.append)
        manager = TransactionManager(db, local_hosts(zfs))  # type: ignore[arg-type]
        try:
            yield manager, counted, zfs
        finally:
            await manager.shutdown()
    finally:
        await db.close()


async def _run(manager: TransactionManager, params: dict[str, Any]) -> Sequence[Any]:
    record = await manager.submit("snapshot", params)
    done = await manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return done.steps


@pytest.mark.parametrize("hold", [False, True], ids=["one step", "held: two steps"])
async def test_a_transaction_costs_a_fixed_number_of_commits_and_two_a_step(
    engine: tuple[TransactionManager, Counted, Any], hold: bool
) -> None:
    manager, counted, _zfs = engine
    counted.statements.clear()
    steps = await _run(manager, {"datasets": ["p/a"], "hold": hold})
    assert len(steps) == (2 if hold else 1)
    assert counted.commits() == COMMITS_PER_TRANSACTION + COMMITS_PER_STEP * len(steps)
    # the engine's combined writes take no savepoints (two round trips to SQLite each)
    assert counted.savepoints() == 0


async def test_each_intent_is_committed_before_its_zfs_command(
    engine: tuple[TransactionManager, Counted, Any],
) -> None:
    manager, _counted, zfs = engine
    await _run(manager, {"datasets": ["p/a"], "hold": True})
    snapshot_saw, hold_saw = zfs.seen
    assert snapshot_saw == [(0, "do", "intent")]
    assert hold_saw == [(0, "do", "intent"), (0, "do", "result"), (1, "do", "intent")]


async def test_the_audit_log_and_the_states_are_as_before(
    engine: tuple[TransactionManager, Counted, Any],
) -> None:
    manager, _counted, _zfs = engine
    seen: list[TxState] = []
    manager.listeners.append(lambda _tx, state: seen.append(state))
    record = await manager.submit("snapshot", {"datasets": ["p/a"]})
    await manager.wait(record.id)
    rows = await manager.audit.list(tx_id=record.id)
    assert [(r.action, r.outcome) for r in reversed(rows)] == [
        ("create", "ok"),
        ("prepare", "ok"),
        ("execute", "started"),
        ("execute", "completed"),
    ]
    assert seen == [TxState.CREATED, TxState.PREPARED, TxState.EXECUTING, TxState.COMPLETED]


#: calls to SQLite's thread (each a wake-up of that thread and of the event loop, which
#: cost more CPU than most statements): the creation 2, the plan with PREPARED and
#: EXECUTING 2 (its read of the record, then COMMIT), COMPLETED 1, and `wait`'s read 1
CALLS_PER_TRANSACTION = 6
#: the intent and the result, one call each
CALLS_PER_STEP = 2


@pytest.mark.parametrize("hold", [False, True], ids=["one step", "held: two steps"])
async def test_each_commit_is_one_or_two_calls_to_sqlite_s_thread(
    engine: tuple[TransactionManager, Counted, Any], hold: bool
) -> None:
    manager, _counted, _zfs = engine
    conn = manager.db._connection()
    calls: list[object] = []
    inner = conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await inner(fn, *args, **kwargs)

    conn._execute = counted  # type: ignore[method-assign]
    steps = await _run(manager, {"datasets": ["p/a"], "hold": hold})
    assert len(calls) == CALLS_PER_TRANSACTION + CALLS_PER_STEP * len(steps)
