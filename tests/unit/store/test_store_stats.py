"""The store's aggregates for the metrics (zfsyncd/store/stats.py), over rows written by
hand: the step durations counted under each bound (a table), the bytes each stream sent
from the steps' stored results, and the newest completed transaction per dataset."""

from __future__ import annotations

import json

import pytest

from zfsyncd.store import Database, StepSpec, TransactionStore, TxState
from zfsyncd.store.stats import TRANSFER_STEP, SentBytes, StoreStats

BOUNDS = (0.1, 1.0, 60.0)


async def _steps(db: Database, store: TransactionStore, rows: list[tuple[str, str, float]]) -> None:
    """One transaction with a step per (kind, state, seconds it took)."""
    record = await store.create_transaction(
        "snapshot", steps=[StepSpec(kind) for kind, _, _ in rows]
    )
    async with db.transaction() as conn:
        for idx, (_, state, seconds) in enumerate(rows):
            await conn.execute(
                "UPDATE steps SET state = ?, started_at = 100.0, finished_at = ? "
                "WHERE tx_id = ? AND idx = ?",
                (state, 100.0 + seconds, record.id, idx),
            )


#: (case, steps as (kind, state, seconds), per kind: (bucket counts under BOUNDS, count, sum))
DURATIONS: list[
    tuple[str, list[tuple[str, str, float]], dict[str, tuple[tuple[int, ...], int, float]]]
] = [
    ("none", [], {}),
    (
        "each under its bound, a bound inclusive, one past them all",
        [("hold", "COMPLETED", 0.05), ("hold", "COMPLETED", 1.0), ("hold", "COMPLETED", 90.0)],
        {"hold": ((1, 2, 2), 3, 91.05)},
    ),
    (
        "only completed steps count; kinds apart",
        [("hold", "FAILED", 0.05), ("hold", "PENDING", 0.0), ("bookmarks", "COMPLETED", 2.0)],
        {"bookmarks": ((0, 0, 1), 1, 2.0)},
    ),
]


@pytest.mark.parametrize(("case", "rows", "expected"), DURATIONS, ids=[c[0] for c in DURATIONS])
async def test_step_durations(
    db: Database,
    store: TransactionStore,
    case: str,
    rows: list[tuple[str, str, float]],
    expected: dict[str, tuple[tuple[int, ...], int, float]],
) -> None:
    await _steps(db, store, rows)
    found = {
        d.kind: (tuple(n for _, n in d.buckets), d.count, round(d.total_seconds, 6))
        for d in await StoreStats(db).step_durations(BOUNDS)
    }
    assert found == expected


def _stream(snapshot: str, target: str) -> dict[str, object]:
    return {"send": {"snapshot": snapshot}, "recv": {"target": target}}


async def test_sent_bytes_by_source_dataset_and_target(
    db: Database, store: TransactionStore
) -> None:
    args = {"source": "local", "target": "backup",
            "streams": [_stream("tank/a@s1", "bak/a"), _stream("tank/b@s1", "bak/b")]}  # fmt: skip
    spec = StepSpec(TRANSFER_STEP, args)
    done, undone, failed = [
        await store.create_transaction("replica-sync", steps=[spec]) for _ in range(3)
    ]
    results = [
        (done.id, "COMPLETED", {"sent": {"bak/a": 100, "bak/b": 0}}),
        (undone.id, "COMPLETED", {"sent": {"bak/a": 20}}),  # undone later: still sent
        (failed.id, "FAILED", {"sent": {"bak/a": 5}}),
    ]
    async with db.transaction() as conn:
        for tx_id, state, result in results:
            await conn.execute(
                "UPDATE steps SET state = ?, undo_data = json(?) WHERE tx_id = ?",
                (state, json.dumps(result), tx_id),
            )
    assert await StoreStats(db).sent_bytes() == [
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
