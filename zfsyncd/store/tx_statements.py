"""The statements the transaction store is made of, each run on a connection inside a
transaction (or a reading) its caller holds, so that a method of the store, or several at
once, commits as one: changing a state, storing a plan, loading records with their
datasets and steps.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import changed_rows
from zfsyncd.store.errors import RecordNotFoundError, StaleStateError
from zfsyncd.store.journal import _step, _touch
from zfsyncd.store.records import TERMINAL_STATES, StepRecord, StepSpec, TransactionRecord, TxState

#: states in which the plan (steps, datasets) may still change: nothing has run yet
PLANNING = frozenset({TxState.CREATED, TxState.PREPARED})


def state_set(state: TxState | Collection[TxState] | None) -> frozenset[TxState] | None:
    if state is None:
        return None
    if isinstance(state, TxState):
        return frozenset({state})
    return frozenset(TxState(s) for s in state)


async def state_of(conn: aiosqlite.Connection, tx_id: str) -> str | None:
    rows = list(
        await conn.execute_fetchall("SELECT state FROM transactions WHERE id = ?", (tx_id,))
    )
    return str(rows[0]["state"]) if rows else None


async def replace(
    conn: aiosqlite.Connection,
    now: float,
    tx_id: str,
    *,
    steps: Sequence[StepSpec] | None,
    datasets: Iterable[str] | None,
    description: str | None = None,
) -> None:
    """Replace the steps and/or datasets (and, when given, the description) of a
    transaction still being planned."""
    step_rows = [
        (spec.kind, json_columns.dump_object(spec.args), spec.description, spec.bytes_total)
        for spec in steps or ()
    ]
    names = None if datasets is None else list(datasets)
    actual = await state_of(conn, tx_id)
    if actual is None:
        raise RecordNotFoundError(f"no transaction {tx_id}")
    if actual not in PLANNING:
        raise StaleStateError(tx_id, PLANNING, actual)
    if steps is not None:
        await conn.execute("DELETE FROM steps WHERE tx_id = ?", (tx_id,))
        await insert_steps(conn, tx_id, step_rows)
    if names is not None:
        await conn.execute("DELETE FROM tx_datasets WHERE tx_id = ?", (tx_id,))
        await insert_datasets(conn, tx_id, names)
    if description is not None:
        await conn.execute(
            "UPDATE transactions SET description = ? WHERE id = ?", (description, tx_id)
        )
    await _touch(conn, tx_id, now)


async def change_state(
    conn: aiosqlite.Connection,
    tx_id: str,
    new_state: TxState,
    now: float,
    *,
    expected: TxState | Collection[TxState],
    error: str | None,
    error_kind: str | None,
    rollback_outcome: str | None,
    finished: bool | None,
) -> None:
    allowed = state_set(expected) or frozenset()
    if finished is None:
        finished = new_state in TERMINAL_STATES
    changed = await changed_rows(
        conn,
        """UPDATE transactions SET
            state = :state,
            updated_at = :now,
            finished_at = CASE WHEN :finished THEN :now ELSE finished_at END,
            error = coalesce(:error, error),
            error_kind = coalesce(:error_kind, error_kind),
            rollback_outcome = coalesce(:rollback_outcome, rollback_outcome),
            attempts = attempts + (:state = 'EXECUTING')
        WHERE id = :id
          AND state IN (SELECT value FROM json_each(:expected))""",
        {
            "id": tx_id,
            "state": new_state.value,
            "now": now,
            "finished": int(finished),
            "error": error,
            "error_kind": error_kind,
            "rollback_outcome": rollback_outcome,
            "expected": json_columns.dump(sorted(allowed)),
        },
    )
    if changed == 0:
        actual = await state_of(conn, tx_id)
        if actual is None:
            raise RecordNotFoundError(f"no transaction {tx_id}")
        raise StaleStateError(tx_id, allowed, actual)


async def insert_datasets(conn: aiosqlite.Connection, tx_id: str, datasets: Iterable[str]) -> None:
    rows = [(tx_id, name) for name in sorted(set(datasets))]
    if rows:  # an empty executemany is still a round trip to SQLite's thread
        await conn.executemany("INSERT INTO tx_datasets (tx_id, dataset) VALUES (?, ?)", rows)


async def insert_steps(
    conn: aiosqlite.Connection,
    tx_id: str,
    step_rows: Sequence[tuple[str, str, str | None, int | None]],
) -> None:
    if not step_rows:  # as in insert_datasets: no round trip for nothing
        return
    await conn.executemany(
        """INSERT INTO steps (tx_id, idx, kind, args, description, bytes_total)
        VALUES (?, ?, ?, ?, ?, ?)""",
        [(tx_id, idx, *row) for idx, row in enumerate(step_rows)],
    )


async def load(conn: aiosqlite.Connection, tx_id: str) -> TransactionRecord:
    records = await load_many(conn, "SELECT * FROM transactions WHERE id = ?", (tx_id,))
    if not records:
        raise RecordNotFoundError(f"no transaction {tx_id}")
    return records[0]


async def load_many(
    conn: aiosqlite.Connection, query: str, params: Sequence[Any] | Mapping[str, Any]
) -> builtins.list[TransactionRecord]:
    """Run a query over `transactions` and attach datasets and steps, in three queries."""
    tx_rows = list(await conn.execute_fetchall(query, params))
    if not tx_rows:
        return []
    id_list = json_columns.dump([row["id"] for row in tx_rows])
    datasets: dict[str, builtins.list[str]] = {}
    for row in await conn.execute_fetchall(
        """SELECT tx_id, dataset FROM tx_datasets
        WHERE tx_id IN (SELECT value FROM json_each(?)) ORDER BY tx_id, dataset""",
        (id_list,),
    ):
        datasets.setdefault(row["tx_id"], []).append(row["dataset"])
    steps: dict[str, builtins.list[StepRecord]] = {}
    for row in await conn.execute_fetchall(
        """SELECT * FROM steps
        WHERE tx_id IN (SELECT value FROM json_each(?)) ORDER BY tx_id, idx""",
        (id_list,),
    ):
        steps.setdefault(row["tx_id"], []).append(_step(row))
    return [
        rows_.record(
            TransactionRecord,
            row,
            datasets=datasets.get(row["id"], []),
            steps=steps.get(row["id"], []),
        )
        for row in tx_rows
    ]
