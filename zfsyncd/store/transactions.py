"""Transactions, their datasets and their plans (the steps' progress and the journal are in
journal.py, which this store extends).

The engine owns the state machine; the store keeps what it decided, and catches one thing
the engine cannot see on its own: a change based on a stale reading. `set_state` takes the
state the caller believes is current and refuses if the stored one differs, so two paths
(a cancel from the bus, the executor finishing) cannot both "win" silently.

Filters with optional values are written as ``(:x IS NULL OR column = :x)`` and sets are
passed as a JSON array to ``json_each``, so every query is a fixed string: no SQL is ever
assembled from values, and there is no limit on how many ids or states a filter holds.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from zfsyncd.store import ids, json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store import tx_statements as sql
from zfsyncd.store.database import Database
from zfsyncd.store.errors import RecordNotFoundError
from zfsyncd.store.journal import StepJournal
from zfsyncd.store.records import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    StepRecord,
    StepSpec,
    TransactionRecord,
    TxState,
)

_INSERT_TRANSACTION = """INSERT INTO transactions (id, type, state, description, created_at,
    updated_at, uid, priority, timeout, tags, metadata, rolls_back, retry_of, params)
VALUES (:id, :type, :state, :description, :created_at, :updated_at, :uid, :priority,
    :timeout, :tags, :metadata, :rolls_back, :retry_of, :params)"""

#: the columns of a step's row as `tx_statements.step_rows` makes it
_STEP = ("kind", "args", "description", "bytes_total")


class TransactionStore(StepJournal):
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- creating and reading -------------------------------------------------------------

    async def create_transaction(
        self,
        type: str,
        *,
        description: str | None = None,
        uid: int | None = None,
        priority: int = 0,
        timeout: float | None = None,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        datasets: Iterable[str] = (),
        steps: Sequence[StepSpec] = (),
        rolls_back: str | None = None,
        retry_of: str | None = None,
    ) -> TransactionRecord:
        """Store a new CREATED transaction with its datasets and steps, all or nothing. The
        record returned is made from what was written, as a read would return it (JSON
        columns decoded from the text stored), without reading it back."""
        # serialise first: a value JSON cannot hold fails here, before anything is written
        tags_json = json_columns.dump(list(tags))
        metadata_json = json_columns.dump_object(metadata)
        params_json = json_columns.dump_object(params)
        step_rows = sql.step_rows(steps)
        names = sorted(set(datasets))
        row: dict[str, Any] = {
            "type": type,
            "state": TxState.CREATED.value,
            "description": description,
            "uid": uid,
            "priority": priority,
            # the column's REAL affinity: a whole number of seconds reads back as a float
            "timeout": None if timeout is None else float(timeout),
            "tags": tags_json,
            "metadata": metadata_json,
            "rolls_back": rolls_back,
            "retry_of": retry_of,
            "params": params_json,
        }

        def work(conn: sqlite3.Connection) -> dict[str, Any]:
            for link in (rolls_back, retry_of):
                if link is not None and sql.state_of(conn, link) is None:
                    raise RecordNotFoundError(f"no transaction {link} to link to")
            now = self._db.now()  # under the lock: creation times follow the ids' order
            last = conn.execute("SELECT id FROM transactions ORDER BY id DESC LIMIT 1").fetchone()
            tx_id = ids.new_transaction_id(now, None if last is None else str(last["id"]))
            stored = {**row, "id": tx_id, "created_at": now, "updated_at": now}
            conn.execute(_INSERT_TRANSACTION, stored)
            sql.insert_datasets(conn, tx_id, names)
            sql.insert_steps(conn, tx_id, step_rows)
            return stored

        stored = await self._db.write(work)
        tx_id = stored["id"]
        stored_steps = [
            rows_.record(
                StepRecord, {"tx_id": tx_id, "idx": idx, **dict(zip(_STEP, s, strict=True))}
            )
            for idx, s in enumerate(step_rows)
        ]
        return rows_.record(TransactionRecord, stored, datasets=names, steps=stored_steps)

    async def get(self, tx_id: str) -> TransactionRecord | None:
        def work(conn: sqlite3.Connection) -> builtins.list[TransactionRecord]:
            return sql.load_many(conn, "SELECT * FROM transactions WHERE id = ?", (tx_id,))

        rows = await self._db.read(work)
        return rows[0] if rows else None

    async def list(
        self,
        *,
        state: TxState | Collection[TxState] | None = None,
        type: str | None = None,
        since: float | None = None,
        until: float | None = None,
        uid: int | None = None,
        before: str | None = None,
        limit: int | None = 100,
    ) -> builtins.list[TransactionRecord]:
        """Newest first. `since` is inclusive and `until` exclusive, on `created_at`, so
        consecutive windows neither miss nor repeat a transaction. `before` is an id: only
        older ones (ids sort by creation), the next page after a row. ``limit=None``: all."""
        states = sql.state_set(state)
        return await self._load_many(
            """SELECT * FROM transactions
            WHERE (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
              AND (:type IS NULL OR type = :type)
              AND (:since IS NULL OR created_at >= :since)
              AND (:until IS NULL OR created_at < :until)
              AND (:uid IS NULL OR uid = :uid)
              AND (:before IS NULL OR id < :before)
            ORDER BY id DESC
            LIMIT :limit""",
            {
                "states": None if states is None else json_columns.dump(sorted(states)),
                "type": type,
                "since": since,
                "until": until,
                "uid": uid,
                "before": before,
                "limit": -1 if limit is None else limit,
            },
        )

    async def count(self) -> int:
        """How many transactions are stored (finished ones until cleaned up)."""

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT count(*) FROM transactions").fetchone()
            return int(row[0]) if row else 0

        return await self._db.read(work)

    async def list_active(self) -> builtins.list[TransactionRecord]:
        """CREATED, PREPARED and EXECUTING ones, oldest first: the order a restart re-queues
        and recovers them in."""
        return await self._load_many(
            """SELECT * FROM transactions
            WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id""",
            (json_columns.dump(sorted(ACTIVE_STATES)),),
        )

    async def _load_many(
        self, query: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> builtins.list[TransactionRecord]:
        def work(conn: sqlite3.Connection) -> builtins.list[TransactionRecord]:
            return sql.load_many(conn, query, params)

        return await self._db.read(work)

    async def transactions_touching(
        self,
        datasets: Iterable[str],
        *,
        after: str | None = None,
        since: float | None = None,
        states: Collection[TxState] | None = None,
        hierarchical: bool = False,
    ) -> builtins.list[TransactionRecord]:
        """Transactions that touch any of `datasets`, newest first: what the rollback refusal
        rule asks ("did anything later change the same datasets?").

        `after` is a transaction id: only those created after it (ids sort by creation).
        `since` is a time, on `created_at`, inclusive. With `hierarchical`, a stored dataset
        also matches when it is an ancestor or descendant of one asked for, the names being
        paths separated by "/" (a recursive snapshot of ``p/a`` touches ``p/a/b``).
        """
        names = sorted(set(datasets))
        states_json = None if states is None else json_columns.dump(sorted(set(states)))
        return await self._load_many(
            """SELECT * FROM transactions t
                WHERE EXISTS (
                    SELECT 1 FROM tx_datasets d, json_each(:names) n
                    WHERE d.tx_id = t.id AND (
                        d.dataset = n.value
                        OR (:hierarchical AND (
                            substr(d.dataset, 1, length(n.value) + 1) = n.value || '/'
                            OR substr(n.value, 1, length(d.dataset) + 1) = d.dataset || '/'
                        ))
                    )
                )
                  AND (:after IS NULL OR t.id > :after)
                  AND (:since IS NULL OR t.created_at >= :since)
                  AND (:states IS NULL OR t.state IN (SELECT value FROM json_each(:states)))
                ORDER BY t.id DESC""",
            {
                "names": json_columns.dump(names),
                "hierarchical": int(hierarchical),
                "after": after,
                "since": since,
                "states": states_json,
            },
        )

    # -- changing a transaction -----------------------------------------------------------

    async def set_state(
        self,
        tx_id: str,
        new_state: TxState,
        *,
        expected: TxState | Collection[TxState],
        error: str | None = None,
        error_kind: str | None = None,
        rollback_outcome: str | None = None,
        finished: bool | None = None,
        later: bool = False,
    ) -> None:
        """Move a transaction to `new_state` if it is still in `expected`, else raise
        `StaleStateError` and change nothing. The record is not read back (`get` reads it):
        the engine's state machine writes this at every move and keeps the state itself.

        `error`, `error_kind` and `rollback_outcome` are set when given, kept when None.
        `finished_at` is stamped when `finished` is True, or (the default, None) when the
        new state is terminal. Entering EXECUTING counts an attempt, so recovery can tell a
        transaction that already crashed the daemon once.

        With `later`, the write goes with the commit it is part of (`Database.write_later`:
        inside the engine's commits, no call to SQLite's thread of its own); a stale state
        then fails that commit with `StaleStateError`, rolling all of it back.
        """
        now = self._db.now()

        def work(conn: sqlite3.Connection) -> None:
            sql.change_state(
                conn, tx_id, new_state, now, expected=expected, error=error,
                error_kind=error_kind, rollback_outcome=rollback_outcome, finished=finished,
            )  # fmt: skip

        await (self._db.write_later(work) if later else self._db.write(work))

    async def update_metadata(self, tx_id: str, merge: Mapping[str, Any]) -> dict[str, Any]:
        """Merge into the metadata as a JSON merge patch (RFC 7396): nested objects merge,
        a key set to None is removed. One statement, so concurrent merges cannot lose each
        other's keys. Returns the metadata after the merge."""
        patch = json_columns.dump_object(merge)

        def work(conn: sqlite3.Connection) -> dict[str, Any]:
            changed = conn.execute(
                """UPDATE transactions SET metadata = json_patch(metadata, ?), updated_at = ?
                WHERE id = ?""",
                (patch, self._db.now(), tx_id),
            ).rowcount
            if changed == 0:
                raise RecordNotFoundError(f"no transaction {tx_id}")
            row = conn.execute("SELECT metadata FROM transactions WHERE id = ?", (tx_id,))
            return json_columns.load_object(row.fetchone()["metadata"])

        return await self._db.write(work)

    async def replace_steps(self, tx_id: str, steps: Sequence[StepSpec]) -> TransactionRecord:
        """Replace the planned steps: prepare computes the real list. Refused (as stale) once
        the transaction has left CREATED/PREPARED, since steps may then have run."""
        return await self._replace(tx_id, steps=steps)

    async def replace_datasets(self, tx_id: str, datasets: Iterable[str]) -> TransactionRecord:
        """Replace the datasets a transaction touches (prepare may discover children);
        the same CREATED/PREPARED rule as `replace_steps`."""
        return await self._replace(tx_id, datasets=datasets)

    async def store_plan(
        self,
        tx_id: str,
        steps: Sequence[StepSpec],
        datasets: Iterable[str],
        description: str | None = None,
    ) -> None:
        """`replace_steps` and `replace_datasets` in one commit, without reading the record
        back: what prepare stores; with `description`, the plan's (a replica sync names
        what it left out and why)."""
        rows, names = sql.step_rows(steps), list(datasets)
        now = self._db.now()

        def work(conn: sqlite3.Connection) -> None:
            sql.replace(conn, now, tx_id, steps=rows, datasets=names, description=description)

        # inside the engine's commit of the move to PREPARED: with it, no call of its own
        await self._db.write_later(work)

    async def _replace(
        self,
        tx_id: str,
        *,
        steps: Sequence[StepSpec] | None = None,
        datasets: Iterable[str] | None = None,
    ) -> TransactionRecord:
        rows = None if steps is None else sql.step_rows(steps)
        names = None if datasets is None else list(datasets)

        def work(conn: sqlite3.Connection) -> TransactionRecord:
            sql.replace(conn, self._db.now(), tx_id, steps=rows, datasets=names)
            return sql.load(conn, tx_id)

        return await self._db.write(work)

    async def delete_finished_older_than(self, age_seconds: float) -> int:
        """Forget finished transactions that finished more than `age_seconds` ago, with
        their datasets, steps and journal; returns how many. The audit log keeps every row.

        One that an active transaction links to (a rollback or retry still running) is
        kept: that one still needs its steps. Finished transactions that link to a deleted
        one have the link set to NULL by the schema.
        """

        def work(conn: sqlite3.Connection) -> int:
            cutoff = self._db.now() - age_seconds
            return conn.execute(
                """DELETE FROM transactions
                WHERE state IN (SELECT value FROM json_each(:terminal))
                  AND finished_at IS NOT NULL AND finished_at < :cutoff
                  AND NOT EXISTS (
                    SELECT 1 FROM transactions o
                    WHERE (o.rolls_back = transactions.id OR o.retry_of = transactions.id)
                      AND o.state NOT IN (SELECT value FROM json_each(:terminal))
                  )""",
                {"terminal": json_columns.dump(sorted(TERMINAL_STATES)), "cutoff": cutoff},
            ).rowcount

        return await self._db.write(work)
