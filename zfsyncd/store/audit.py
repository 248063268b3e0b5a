"""The audit log: who asked for what, when, and how it ended. Append-only, never cleaned up.

Rows name their transaction by id without a foreign key, so they outlive it: the answer to
"who destroyed that snapshot last spring" must not depend on the retention of the
transaction that did it. The schema refuses UPDATE and DELETE on this table.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import Database, inserted_rowid
from zfsyncd.store.records import AuditEntry


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self,
        action: str,
        outcome: str,
        *,
        uid: int | None = None,
        caller: str | None = None,
        tx_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Record one call. Inside a caller's transaction it commits with that transaction,
        so an audited change and its audit row cannot exist without each other."""
        detail_json = json_columns.dump_object(detail)
        async with self._db.transaction() as conn:
            at = self._db.now()
            row = await conn.execute_insert(
                """INSERT INTO audit (at, uid, caller, action, tx_id, outcome, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (at, uid, caller, action, tx_id, outcome, detail_json),
            )
        return AuditEntry(
            seq=inserted_rowid(row),
            at=at,
            uid=uid,
            caller=caller,
            action=action,
            tx_id=tx_id,
            outcome=outcome,
            detail=json_columns.load_object(detail_json),
        )

    async def list(
        self,
        *,
        tx_id: str | None = None,
        since: float | None = None,
        uid: int | None = None,
        limit: int | None = 100,
    ) -> builtins.list[AuditEntry]:
        """Newest first; `since` is inclusive. ``limit=None``: all."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                """SELECT * FROM audit
                WHERE (:tx_id IS NULL OR tx_id = :tx_id)
                  AND (:since IS NULL OR at >= :since)
                  AND (:uid IS NULL OR uid = :uid)
                ORDER BY seq DESC
                LIMIT :limit""",
                {
                    "tx_id": tx_id,
                    "since": since,
                    "uid": uid,
                    "limit": -1 if limit is None else limit,
                },
            )
        return [
            rows_.record(AuditEntry, row)
            for row in rows
        ]
