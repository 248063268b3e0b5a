"""The steps' progress and the journal crash recovery reads: the part of the transaction
store the executor writes to while a transaction runs (see `tx.executor.StepLog`).

The journal's rule: an `intent` row is committed before anything touches ZFS, a `result`
row after; so after a crash a step with an intent and no result may or may not have
happened (its `check` decides), and a step without an intent certainly did not.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Mapping
from typing import Any

import aiosqlite

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import Database, changed_rows, inserted_rowid
from zfsyncd.store.errors import RecordNotFoundError
from zfsyncd.store.records import JournalEntry, JournalEvent, JournalPhase, StepRecord, StepState

_INSERT_JOURNAL = """INSERT INTO journal (at, tx_id, step_idx, phase, event, outcome, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""

#: the step states after which a step has nothing left to do
_STEP_FINISHED = frozenset({StepState.COMPLETED, StepState.FAILED, StepState.SKIPPED})


class StepJournal:
    """Step states and journal rows of the transactions in one database."""

    _db: Database

    # -- steps ----------------------------------------------------------------------------

    async def mark_step(
        self,
        tx_id: str,
        idx: int,
        state: StepState,
        *,
        error: str | None = None,
        undo_data: Mapping[str, Any] | None = None,
        bytes_total: int | None = None,
    ) -> StepRecord:
        """Record a step's new state. RUNNING stamps `started_at`, a finished state
        `finished_at`. `error` is replaced (so a RUNNING retry clears an old one);
        `undo_data` and `bytes_total` are replaced only when given."""
        undo_json = json_columns.dump_optional(undo_data)
        async with self._db.transaction() as conn:
            now = self._db.now()
            await _update_step(conn, tx_id, idx, state, now, error, undo_json, bytes_total)
            await _touch(conn, tx_id, now)
            return await _load_step(conn, tx_id, idx)

    async def mark_undo(
        self, tx_id: str, idx: int, undo_state: StepState, *, error: str | None = None
    ) -> StepRecord:
        async with self._db.transaction() as conn:
            await _update_undo(conn, tx_id, idx, undo_state, error)
            await _touch(conn, tx_id, self._db.now())
            return await _load_step(conn, tx_id, idx)

    async def step_event(
        self,
        tx_id: str,
        idx: int,
        phase: JournalPhase,
        event: JournalEvent,
        state: StepState,
        *,
        outcome: str | None = None,
        detail: Mapping[str, Any] | None = None,
        error: str | None = None,
        undo_data: Mapping[str, Any] | None = None,
        bytes_total: int | None = None,
    ) -> None:
        """Journal one event of step `idx` and record the new state it leads to, in one
        commit (synced when this returns): the executor's intent with RUNNING before the
        step acts, its result with how it ended after. For the ``do`` phase `state` is the
        step's state (as `mark_step` records it, with `error` and `undo_data`); for ``undo``
        it is the state of the step's undo (as `mark_undo`). One commit rather than two
        halves the syncs a step costs, and a crash can no longer leave a journal row
        without the state it implies, or the reverse. `bytes_total` (``do`` phase, given
        only) replaces the step's estimate: what a finished transfer moved."""
        if phase is JournalPhase.TX:
            raise ValueError("a tx-phase journal entry has no step: use journal()")
        detail_json = json_columns.dump_object(detail)
        undo_json = json_columns.dump_optional(undo_data)
        async with self._db.transaction() as conn:
            now = self._db.now()
            # no seq wanted back: a plain execute is one statement, execute_insert two
            await conn.execute(
                _INSERT_JOURNAL, (now, tx_id, idx, phase.value, event.value, outcome, detail_json)
            )
            if phase is JournalPhase.DO:
                await _update_step(conn, tx_id, idx, state, now, error, undo_json, bytes_total)
            else:
                await _update_undo(conn, tx_id, idx, state, error)
            await _touch(conn, tx_id, now)

    # -- journal --------------------------------------------------------------------------

    async def journal(
        self,
        tx_id: str,
        step_idx: int | None,
        phase: JournalPhase,
        event: JournalEvent,
        *,
        outcome: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> JournalEntry:
        """Append to the journal; committed (and synced) when this returns, unless the caller
        holds an outer transaction. Write the intent before acting, the result after.
        A ``tx`` phase entry has no step; a result needs an outcome (the schema checks)."""
        detail_json = json_columns.dump_object(detail)
        async with self._db.transaction() as conn:
            at = self._db.now()
            seq = await _insert_journal(
                conn, at, tx_id, step_idx, phase, event, outcome, detail_json
            )
        return JournalEntry(
            seq=seq,
            at=at,
            tx_id=tx_id,
            step_idx=step_idx,
            phase=phase,
            event=event,
            outcome=outcome,
            detail=json_columns.load_object(detail_json),
        )

    async def journal_for(self, tx_id: str) -> builtins.list[JournalEntry]:
        """In the order written."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM journal WHERE tx_id = ? ORDER BY seq", (tx_id,)
            )
        return [rows_.record(JournalEntry, row) for row in rows]


async def _insert_journal(
    conn: aiosqlite.Connection,
    at: float,
    tx_id: str,
    step_idx: int | None,
    phase: JournalPhase,
    event: JournalEvent,
    outcome: str | None,
    detail_json: str,
) -> int:
    """Append one journal row; its seq."""
    row = await conn.execute_insert(
        _INSERT_JOURNAL, (at, tx_id, step_idx, phase.value, event.value, outcome, detail_json)
    )
    return inserted_rowid(row)


async def _update_step(
    conn: aiosqlite.Connection,
    tx_id: str,
    idx: int,
    state: StepState,
    now: float,
    error: str | None,
    undo_json: str | None,
    bytes_total: int | None,
) -> None:
    changed = await changed_rows(
        conn,
        """UPDATE steps SET
            state = :state,
            started_at = CASE WHEN :running THEN :now ELSE started_at END,
            finished_at = CASE WHEN :finished THEN :now ELSE finished_at END,
            error = :error,
            undo_data = coalesce(:undo_data, undo_data),
            bytes_total = coalesce(:bytes_total, bytes_total)
        WHERE tx_id = :tx_id AND idx = :idx""",
        {
            "tx_id": tx_id,
            "idx": idx,
            "state": state.value,
            "now": now,
            "running": int(state is StepState.RUNNING),
            "finished": int(state in _STEP_FINISHED),
            "error": error,
            "undo_data": undo_json,
            "bytes_total": bytes_total,
        },
    )
    if changed == 0:
        raise RecordNotFoundError(f"no step {idx} in transaction {tx_id}")


async def _update_undo(
    conn: aiosqlite.Connection, tx_id: str, idx: int, undo_state: StepState, error: str | None
) -> None:
    changed = await changed_rows(
        conn,
        "UPDATE steps SET undo_state = ?, undo_error = ? WHERE tx_id = ? AND idx = ?",
        (undo_state.value, error, tx_id, idx),
    )
    if changed == 0:
        raise RecordNotFoundError(f"no step {idx} in transaction {tx_id}")


async def _touch(conn: aiosqlite.Connection, tx_id: str, now: float) -> None:
    await conn.execute("UPDATE transactions SET updated_at = ? WHERE id = ?", (now, tx_id))


async def _load_step(conn: aiosqlite.Connection, tx_id: str, idx: int) -> StepRecord:
    rows = list(
        await conn.execute_fetchall("SELECT * FROM steps WHERE tx_id = ? AND idx = ?", (tx_id, idx))
    )
    return _step(rows[0])


def _step(row: sqlite3.Row) -> StepRecord:
    return rows_.record(StepRecord, row)
