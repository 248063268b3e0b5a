"""The read side (zfsyncd.tx.queries): which transactions a query selects, and the status,
without a bus: a manager on the model of ZFS and a real SQLite file."""

from __future__ import annotations

import pytest

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from zfsyncd.api.states import TxState
from zfsyncd.tx import queries
from zfsyncd.tx.cleanup import CleanupKind
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.queries import TransactionQuery


async def _three(manager: TransactionManager) -> tuple[str, str, str]:
    """Oldest first: one COMPLETED, one CREATED, one CREATED whose undo is pending."""
    done = await manager.create("snapshot", {"datasets": ["tank"]})
    await manager.start(done.id)
    await manager.wait(done.id)
    queued = await manager.create("snapshot", {"datasets": ["backup"]})
    pending = await manager.create("snapshot", {"datasets": ["tank"]})
    await manager.cleanups.add(CleanupKind.FINISH_UNDO, {}, "its undo failed", tx_id=pending.id)
    return done.id, queued.id, pending.id


def test_states_are_named_in_any_case_and_an_unknown_one_is_refused() -> None:
    query = TransactionQuery.parse({"states": ["failed", "Completed"], "limit": 0})
    assert query.states == (TxState.FAILED, TxState.COMPLETED)
    assert query.limit == 0
    with pytest.raises(PlanError) as unknown:
        TransactionQuery.parse({"states": ["DONE"]})
    assert str(unknown.value) == (
        "unknown state 'DONE' (known: CREATED, PREPARED, EXECUTING, COMPLETED, FAILED, CANCELLED)"
    )
    assert TransactionQuery().limit == 100


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TransactionQuery(), ["pending", "queued", "done"]),
        (TransactionQuery(limit=1), ["pending"]),
        (TransactionQuery(limit=0), ["pending", "queued", "done"]),

        (TransactionQuery(states=(TxState.COMPLETED,)), ["done"]),
        (TransactionQuery(active=True), ["pending", "queued"]),
        (TransactionQuery(active=True, states=(TxState.COMPLETED,)), []),
        (TransactionQuery(active=True, states=(TxState.CREATED, TxState.FAILED)),
         ["pending", "queued"]),
        (TransactionQuery(rollback_pending=True), ["pending"]),
        (TransactionQuery(rollback_pending=True, states=(TxState.COMPLETED,)), []),
        (TransactionQuery(rollback_pending=True, type="destroy-snapshots"), []),
        (TransactionQuery(type="destroy-snapshots"), []),
        (TransactionQuery(since=4e9), []),
    ],
)  # fmt: skip
async def test_a_query_selects(
    manager: TransactionManager, query: TransactionQuery, expected: list[str]
) -> None:
    done, queued, pending = await _three(manager)
    names = {done: "done", queued: "queued", pending: "pending"}
    listed = await queries.list_transactions(manager, query)
    assert [names[t.record.id] for t in listed] == expected
    assert all(t.rollback_pending == (t.record.id == pending) for t in listed)


async def test_one_transaction_and_the_status(manager: TransactionManager) -> None:
    done, _queued, pending = await _three(manager)
    assert not (await queries.transaction(manager, done)).rollback_pending
    assert (await queries.transaction(manager, pending)).rollback_pending
    status = await queries.engine_status(manager)
    assert status == queries.EngineStatus(
        pools=["backup", "tank"], active=0, queued=2, max_parallel=4, pending_cleanups=1,
        transactions=3,
    )  # fmt: skip
