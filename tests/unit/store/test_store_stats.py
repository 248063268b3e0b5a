"""The store's aggregates for the metrics (zfsyncd/store/stats.py) over steps journaled as
the executor journals them (a clock moved by hand): the steps completed in a range of the
journal with their durations, the bytes each stream sent, the newest completed
transaction per dataset; and metrics/totals.py, which adds each new range to what it read
before (bucket bounds inclusive, a table)."""

from __future__ import annotations

from typing import Any

import pytest
from store_helpers import FakeClock

from zfsyncd.metrics import totals as totals_module
from zfsyncd.metrics.totals import StepTotals
from zfsyncd.store import (
    Database,
    JournalEvent,
    JournalPhase,
    StepSpec,
    StepState,
    TransactionStore,
    TxState,
)
from zfsyncd.store.stats import TRANSFER_STEP, SentBytes, StoreStats

DO, INTENT, RESULT = JournalPhase.DO, JournalEvent.INTENT, JournalEvent.RESULT


async def _run_step(
    store: TransactionStore, clock: FakeClock, tx_id: str, idx: int, seconds: float,
    state: StepState = StepState.COMPLETED, result: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Step `idx` journaled as the executor does: its intent, then `seconds` later its
    result (completed, or failed)."""
    await store.step_event(tx_id, idx, DO, INTENT, StepState.RUNNING, detail={}, undo_data={})
    clock.advance(seconds)
    outcome = "completed" if state is StepState.COMPLETED else "failed"
    await store.step_event(
        tx_id, idx, DO, RESULT, state, outcome=outcome, undo_data=result or {}
    )  # fmt: skip


async def test_completed_steps_of_a_journal_range(
    db: Database, store: TransactionStore, clock: FakeClock
) -> None:
    stats = StoreStats(db)
    assert await stats.journal_end() == 0
    kinds = ["hold", "hold", "bookmarks"]
    record = await store.create_transaction("snapshot", steps=[StepSpec(k) for k in kinds])
    await _run_step(store, clock, record.id, 0, 2.5)
    await _run_step(store, clock, record.id, 1, 1.0, StepState.FAILED)  # not a completion
    first = await stats.journal_end()
    await _run_step(store, clock, record.id, 2, 0.25)
    end = await stats.journal_end()
    assert await stats.completed_steps(0, first) == [("hold", 2.5)]
    assert await stats.completed_steps(first, end) == [("bookmarks", 0.25)]
    assert await stats.completed_steps(end, end) == []


def _stream(snapshot: str, target: str) -> dict[str, object]:
    return {"send": {"snapshot": snapshot}, "recv": {"target": target}}


async def test_sent_bytes_by_source_dataset_and_target(
    db: Database, store: TransactionStore, clock: FakeClock
) -> None:
    args = {"source": "local", "target": "backup",
            "streams": [_stream("tank/a@s1", "bak/a"), _stream("tank/b@s1", "bak/b")]}  # fmt: skip
    spec = StepSpec(TRANSFER_STEP, args)
    done, undone, failed = [
        await store.create_transaction("replica-sync", steps=[spec]) for _ in range(3)
    ]
    await _run_step(store, clock, done.id, 0, 1.0, result={"sent": {"bak/a": 100, "bak/b": 0}})
    await _run_step(store, clock, undone.id, 0, 1.0, result={"sent": {"bak/a": 20}})
    # undone later: it was still sent
    await store.step_event(undone.id, 0, JournalPhase.UNDO, INTENT, StepState.COMPLETED)
    await _run_step(store, clock, failed.id, 0, 1.0, StepState.FAILED, {"sent": {"bak/a": 5}})
    stats = StoreStats(db)
    assert await stats.sent_bytes(0, await stats.journal_end()) == [
        SentBytes("local", "tank/a", "backup", "bak/a", 120),
        SentBytes("local", "tank/b", "backup", "bak/b", 0),
    ]


async def test_last_completed_per_dataset(db: Database, store: TransactionStore) -> None:
    rows = [
        ("replica-sync", TxState.COMPLETED, 10.0, ["tank/a"]),
        ("replica-sync", TxState.COMPLETED, 30.0, ["tank/a", "tank/b"]),
        ("replica-sync", TxState.FAILED, 50.0, ["tank/a"]),
        ("snapshot", TxState.COMPLETED, 60.0, ["tank/b"]),
    ]
    for type_, state, finished, datasets in rows:
        record = await store.create_transaction(type_, datasets=datasets)
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE transactions SET state = ?, finished_at = ? WHERE id = ?",
                (state.value, finished, record.id),
            )
    found = await StoreStats(db).last_completed(["replica-sync"], ["tank/a", "tank/b", "tank/c"])
    assert found == {"tank/a": 30.0, "tank/b": 30.0}


# --------------------------------------------------------------------------- the totals

BOUNDS = (0.1, 1.0, 60.0)

#: (case, (kind, seconds) added, per kind: (cumulative counts under BOUNDS, count, sum))
DURATIONS: list[
    tuple[str, list[tuple[str, float]], dict[str, tuple[tuple[int, ...], int, float]]]
] = [
    ("none", [], {}),
    (
        "each under its bound, a bound inclusive, one past them all",
        [("hold", 0.05), ("hold", 1.0), ("hold", 90.0)],
        {"hold": ((1, 2, 2), 3, 91.05)},
    ),
    (
        "kinds apart",
        [("hold", 0.1), ("bookmarks", 2.0)],
        {"bookmarks": ((0, 0, 1), 1, 2.0), "hold": ((1, 1, 1), 1, 0.1)},
    ),
]


@pytest.mark.parametrize(("case", "added", "expected"), DURATIONS, ids=[c[0] for c in DURATIONS])
def test_step_totals_bucket_durations(
    case: str,
    added: list[tuple[str, float]],
    expected: dict[str, tuple[tuple[int, ...], int, float]],
) -> None:
    totals = StepTotals(BOUNDS)
    totals.add_durations(added)
    found = {
        d.kind: (tuple(n for _, n in d.buckets), d.count, round(d.total_seconds, 6))
        for d in totals.durations()
    }
    assert found == expected


@pytest.mark.parametrize("chunk", [1, totals_module.CHUNK])
async def test_step_totals_add_only_what_was_journaled_since(
    db: Database,
    store: TransactionStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """The same totals whether the journal is read a row at a time or all at once."""
    monkeypatch.setattr(totals_module, "CHUNK", chunk)
    args = {"source": "local", "target": "backup", "streams": [_stream("tank/a@s1", "bak/a")]}
    record = await store.create_transaction(
        "replica-sync", steps=[StepSpec(TRANSFER_STEP, args), StepSpec(TRANSFER_STEP, args)]
    )
    totals, stats = StepTotals(BOUNDS), StoreStats(db)
    await _run_step(store, clock, record.id, 0, 0.5, result={"sent": {"bak/a": 100}})
    await totals.catch_up(stats)
    await totals.catch_up(stats)  # nothing new: nothing added twice
    assert [(d.count, s.bytes) for d, s in zip(totals.durations(), totals.sent(), strict=True)] == [
        (1, 100)
    ]
    await _run_step(store, clock, record.id, 1, 2.0, result={"sent": {"bak/a": 7}})
    await totals.catch_up(stats)
    [durations] = totals.durations()
    assert (durations.buckets, durations.count) == (((0.1, 0), (1.0, 1), (60.0, 2)), 2)
    assert totals.sent() == [SentBytes("local", "tank/a", "backup", "bak/a", 107)]
