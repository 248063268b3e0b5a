"""The statements the transaction store is made of: plain functions of the sqlite3
connection, run on aiosqlite's thread by `Database.write` or `Database.read` (several at
once in one call there), inside a transaction their caller holds, so that a method of the
store, or several at once, commits as one: changing a state, storing a plan, loading
records with their datasets and steps.
"""

from __future__ import annotations

import builtins
import functools
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.errors import RecordNotFoundError, StaleStateError
from zfsyncd.store.journal import _step
from zfsyncd.store.records import TERMINAL_STATES, StepRecord, StepSpec, TransactionRecord, TxState

#: states in which the plan (steps, datasets) may still change: nothing has run yet
PLANNING = frozenset({TxState.CREATED, TxState.PREPARED})
_PLANNING_JSON = json_columns.dump(sorted(PLANNING))

#: a step as stored: kind, args (JSON text), description, bytes_total
StepRow = tuple[str, str, str | None, int | None]


def state_set(state: TxState | Collection[TxState] | None) -> frozenset[TxState] | None:
    if state is None:
        return None
    if isinstance(state, TxState):
        return frozenset({state})
    return frozenset(TxState(s) for s in state)


def step_rows(steps: Iterable[StepSpec]) -> builtins.list[StepRow]:
    """The steps as stored, serialised before the write (a value JSON cannot hold fails
    there, before anything is written)."""
    return [
        (spec.kind, json_columns.dump_object(spec.args), spec.description, spec.bytes_total)
        for spec in steps
    ]


def state_of(conn: sqlite3.Connection, tx_id: str) -> str | None:
    row = conn.execute("SELECT state FROM transactions WHERE id = ?", (tx_id,)).fetchone()
    return None if row is None else str(row["state"])


def replace(
    conn: sqlite3.Connection,
    now: float,
    tx_id: str,
    *,
    steps: Sequence[StepRow] | None,
    datasets: Iterable[str] | None,
    description: str | None = None,
) -> None:
    """Replace the steps and/or datasets (and, when given, the description) of a
    transaction still being planned."""
    # the check of the state and the stamp in one statement (the state is read only to say
    # why it was refused)
    changed = conn.execute(
        """UPDATE transactions SET updated_at = :now,
            description = coalesce(:description, description)
        WHERE id = :id AND state IN (SELECT value FROM json_each(:planning))""",
        {"now": now, "description": description, "id": tx_id, "planning": _PLANNING_JSON},
    ).rowcount
    if changed == 0:
        actual = state_of(conn, tx_id)
        if actual is None:
            raise RecordNotFoundError(f"no transaction {tx_id}")
        raise StaleStateError(tx_id, PLANNING, actual)
    if steps is not None:
        conn.execute("DELETE FROM steps WHERE tx_id = ?", (tx_id,))
        insert_steps(conn, tx_id, steps)
    if datasets is not None:
        conn.execute("DELETE FROM tx_datasets WHERE tx_id = ?", (tx_id,))
        insert_datasets(conn, tx_id, datasets)


_CHANGE_STATE = """UPDATE transactions SET
    state = :state,
    updated_at = :now,
    finished_at = CASE WHEN :finished THEN :now ELSE finished_at END,
    error = coalesce(:error, error),
    error_kind = coalesce(:error_kind, error_kind),
    rollback_outcome = coalesce(:rollback_outcome, rollback_outcome),
    attempts = attempts + (:state = 'EXECUTING')
WHERE id = :id
  AND state IN (SELECT value FROM json_each(:expected))"""


def change_state(
    conn: sqlite3.Connection,
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
    changed = conn.execute(
        _CHANGE_STATE,
        {
            "id": tx_id,
            "state": new_state.value,
            "now": now,
            "finished": int(finished),
            "error": error,
            "error_kind": error_kind,
            "rollback_outcome": rollback_outcome,
            "expected": _states_json(allowed),
        },
    ).rowcount
    if changed == 0:
        actual = state_of(conn, tx_id)
        if actual is None:
            raise RecordNotFoundError(f"no transaction {tx_id}")
        raise StaleStateError(tx_id, allowed, actual)


@functools.cache
def _states_json(states: frozenset[TxState]) -> str:
    """A set of states as the JSON array `json_each` reads (a state change's few sets, each
    encoded once)."""
    return json_columns.dump(sorted(states))


def insert_datasets(conn: sqlite3.Connection, tx_id: str, datasets: Iterable[str]) -> None:
    conn.executemany(
        "INSERT INTO tx_datasets (tx_id, dataset) VALUES (?, ?)",
        [(tx_id, name) for name in sorted(set(datasets))],
    )


def insert_steps(conn: sqlite3.Connection, tx_id: str, steps: Sequence[StepRow]) -> None:
    conn.executemany(
        """INSERT INTO steps (tx_id, idx, kind, args, description, bytes_total)
        VALUES (?, ?, ?, ?, ?, ?)""",
        [(tx_id, idx, *row) for idx, row in enumerate(steps)],
    )


def load(conn: sqlite3.Connection, tx_id: str) -> TransactionRecord:
    records = load_many(conn, "SELECT * FROM transactions WHERE id = ?", (tx_id,))
    if not records:
        raise RecordNotFoundError(f"no transaction {tx_id}")
    return records[0]


def load_many(
    conn: sqlite3.Connection, query: str, params: Sequence[Any] | Mapping[str, Any]
) -> builtins.list[TransactionRecord]:
    """Run a query over `transactions` and attach datasets and steps, in three queries."""
    tx_rows = conn.execute(query, params).fetchall()
    if not tx_rows:
        return []
    id_list = json_columns.dump([row["id"] for row in tx_rows])
    datasets: dict[str, builtins.list[str]] = {}
    for row in conn.execute(
        """SELECT tx_id, dataset FROM tx_datasets
        WHERE tx_id IN (SELECT value FROM json_each(?)) ORDER BY tx_id, dataset""",
        (id_list,),
    ):
        datasets.setdefault(row["tx_id"], []).append(row["dataset"])
    steps: dict[str, builtins.list[StepRecord]] = {}
    for row in conn.execute(
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
