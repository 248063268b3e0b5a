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

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import Database, last_rowid
from zfsyncd.store.errors import RecordNotFoundError
from zfsyncd.store.records import JournalEntry, JournalEvent, JournalPhase, StepRecord, StepState

_INSERT_JOURNAL = """INSERT INTO journal (at, tx_id, step_idx, phase, event, outcome, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""

#: the step states after which a step has nothing left to do
_STEP_FINISHED = frozenset({StepState.COMPLETED, StepState.FAILED, StepState.SKIPPED})


class StepJournal:
    """Step states and journal rows of the transactions in one database. Each method is one
    call to SQLite's thread (see `Database.write`)."""

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
        now = self._db.now()

        def work(conn: sqlite3.Connection) -> StepRecord:
            _update_step(conn, tx_id, idx, state, now, error, undo_json, bytes_total)
            _touch(conn, tx_id, now)
            return _load_step(conn, tx_id, idx)

        return await self._db.write(work)

    async def mark_undo(
        self, tx_id: str, idx: int, undo_state: StepState, *, error: str | None = None
    ) -> StepRecord:
        now = self._db.now()

        def work(conn: sqlite3.Connection) -> StepRecord:
            _update_undo(conn, tx_id, idx, undo_state, error)
            _touch(conn, tx_id, now)
            return _load_step(conn, tx_id, idx)

        return await self._db.write(work)

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
        now = self._db.now()
        journal_row = (now, tx_id, idx, phase.value, event.value, outcome, detail_json)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_JOURNAL, journal_row)
            if phase is JournalPhase.DO:
                _update_step(conn, tx_id, idx, state, now, error, undo_json, bytes_total)
            else:
                _update_undo(conn, tx_id, idx, state, error)
            _touch(conn, tx_id, now)

        await self._db.write(work)

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
        at = self._db.now()
        row = (at, tx_id, step_idx, phase.value, event.value, outcome, detail_json)

        def work(conn: sqlite3.Connection) -> int:
            return last_rowid(conn.execute(_INSERT_JOURNAL, row))

        seq = await self._db.write(work)
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

        def work(conn: sqlite3.Connection) -> builtins.list[JournalEntry]:
            rows = conn.execute("SELECT * FROM journal WHERE tx_id = ? ORDER BY seq", (tx_id,))
            return [rows_.record(JournalEntry, row) for row in rows]

        return await self._db.read(work)


def _update_step(
    conn: sqlite3.Connection,
    tx_id: str,
    idx: int,
    state: StepState,
    now: float,
    error: str | None,
    undo_json: str | None,
    bytes_total: int | None,
) -> None:
    changed = conn.execute(
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
    ).rowcount
    if changed == 0:
        raise RecordNotFoundError(f"no step {idx} in transaction {tx_id}")


def _update_undo(
    conn: sqlite3.Connection, tx_id: str, idx: int, undo_state: StepState, error: str | None
) -> None:
    changed = conn.execute(
        "UPDATE steps SET undo_state = ?, undo_error = ? WHERE tx_id = ? AND idx = ?",
        (undo_state.value, error, tx_id, idx),
    ).rowcount
    if changed == 0:
        raise RecordNotFoundError(f"no step {idx} in transaction {tx_id}")


def _touch(conn: sqlite3.Connection, tx_id: str, now: float) -> None:
    conn.execute("UPDATE transactions SET updated_at = ? WHERE id = ?", (now, tx_id))


def _load_step(conn: sqlite3.Connection, tx_id: str, idx: int) -> StepRecord:
    row = conn.execute("SELECT * FROM steps WHERE tx_id = ? AND idx = ?", (tx_id, idx)).fetchone()
    return _step(row)


def _step(row: sqlite3.Row) -> StepRecord:
    return rows_.record(StepRecord, row)
