"""Deferred cleanups: work that could not be done now (a held snapshot, a busy dataset, an
unreachable peer) and must not be forgotten.

An item is only ever marked done, never deleted while pending (the schema refuses it), so a
restart, a crash or a bug in the retry loop cannot silently drop one. Done items may be
purged explicitly to bound the table.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Mapping
from typing import Any

import aiosqlite

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import Database, inserted_rowid
from zfsyncd.store.errors import RecordNotFoundError, StoreError
from zfsyncd.store.records import CleanupItem


class CleanupQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        kind: str,
        args: Mapping[str, Any],
        reason: str,
        *,
        tx_id: str | None = None,
        not_before: float | None = None,
    ) -> CleanupItem:
        """Queue a cleanup, due at once unless `not_before` says later."""
        args_json = json_columns.dump_object(args)
        async with self._db.transaction() as conn:
            now = self._db.now()
            row = await conn.execute_insert(
                """INSERT INTO cleanup_queue (tx_id, kind, args, reason, created_at,
                    next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?)""",
                (tx_id, kind, args_json, reason, now, now if not_before is None else not_before),
            )
            return await _load(conn, inserted_rowid(row))

    async def get(self, item_id: int) -> CleanupItem | None:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall("SELECT * FROM cleanup_queue WHERE id = ?", (item_id,))
            )
        return _item(rows[0]) if rows else None

    async def due(self, now: float | None = None) -> builtins.list[CleanupItem]:
        """Pending items whose next attempt is at or before `now` (default: the store's
        clock), the longest-waiting first."""
        return await self._pending(self._db.now() if now is None else now)

    async def pending(self) -> builtins.list[CleanupItem]:
        """Every item not done yet, due or not, in the order they will fall due."""
        return await self._pending(None)

    async def mark_attempt(self, item_id: int, error: str, next_attempt_at: float) -> CleanupItem:
        """Record a failed attempt and when to try again (the caller owns the backoff).
        Refused for an item already done: that would hide a bug in the retry loop."""
        async with self._db.transaction() as conn:
            await _update(
                conn,
                item_id,
                """UPDATE cleanup_queue
                SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                WHERE id = ? AND done_at IS NULL""",
                (error, next_attempt_at, item_id),
            )
            return await _load(conn, item_id)

    async def mark_done(self, item_id: int) -> CleanupItem:
        """Record the successful attempt; `attempts` counts it too. Marking an item done
        again changes nothing: a worker that crashed between doing the work and recording it
        may well do so after a restart."""
        async with self._db.transaction() as conn:
            await conn.execute(
                """UPDATE cleanup_queue SET attempts = attempts + 1, done_at = ?
                WHERE id = ? AND done_at IS NULL""",
                (self._db.now(), item_id),
            )
            return await _load(conn, item_id)

    async def purge_done(self, older_than: float) -> int:
        """Delete items done more than `older_than` seconds ago; pending ones stay."""
        async with self._db.transaction() as conn:
            cutoff = self._db.now() - older_than
            async with conn.execute(
                "DELETE FROM cleanup_queue WHERE done_at IS NOT NULL AND done_at < ?",
                (cutoff,),
            ) as cursor:
                return int(cursor.rowcount)

    async def _pending(self, due_by: float | None) -> builtins.list[CleanupItem]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                """SELECT * FROM cleanup_queue
                WHERE done_at IS NULL AND (:due_by IS NULL OR next_attempt_at <= :due_by)
                ORDER BY next_attempt_at, id""",
                {"due_by": due_by},
            )
        return [_item(row) for row in rows]


async def _update(
    conn: aiosqlite.Connection, item_id: int, statement: str, params: tuple[Any, ...]
) -> None:
    async with conn.execute(statement, params) as cursor:
        if cursor.rowcount == 1:
            return
    await _load(conn, item_id)  # raises if there is no such item
    raise StoreError(f"cleanup item {item_id} is already done")


async def _load_optional(conn: aiosqlite.Connection, item_id: int) -> CleanupItem | None:
    rows = list(await conn.execute_fetchall("SELECT * FROM cleanup_queue WHERE id = ?", (item_id,)))
    return _item(rows[0]) if rows else None


async def _load(conn: aiosqlite.Connection, item_id: int) -> CleanupItem:
    item = await _load_optional(conn, item_id)
    if item is None:
        raise RecordNotFoundError(f"no cleanup item {item_id}")
    return item


def _item(row: sqlite3.Row) -> CleanupItem:
    return rows_.record(CleanupItem, row)
