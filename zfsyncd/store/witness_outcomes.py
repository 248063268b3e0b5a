"""The witness client's outcomes waiting to be sent (migration 4), oldest first.

Pure persistence: the client (zfsyncd/witness/outbox.py) says what an outcome means and
when one is sent. The queue is bounded by its caller's `limit`: adding past it drops the
oldest rows in the same transaction, and says how many.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from zfsyncd.store.database import Database, changed_rows


@dataclass(frozen=True)
class QueuedOutcome:
    seq: int
    group_id: str
    dataset: str
    ok: bool
    error: str | None
    tx_id: str | None
    queued_at: float


class WitnessOutcomes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        group_id: str,
        dataset: str,
        ok: bool,
        error: str | None,
        tx_id: str | None,
        *,
        limit: int,
    ) -> int:
        """Queue one outcome; the number of the oldest dropped to keep at most `limit`."""
        async with self._db.transaction() as conn:
            await conn.execute(
                """INSERT INTO witness_outcomes (group_id, dataset, ok, error, tx_id, queued_at)
                VALUES (?, ?, ?, ?, ?, ?)""",
                (group_id, dataset, int(ok), error, tx_id, self._db.now()),
            )
            return await changed_rows(
                conn,
                """DELETE FROM witness_outcomes WHERE seq IN (
                    SELECT seq FROM witness_outcomes ORDER BY seq DESC LIMIT -1 OFFSET ?)""",
                (max(limit, 1),),
            )

    async def oldest(self, count: int) -> list[QueuedOutcome]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT * FROM witness_outcomes ORDER BY seq LIMIT ?", (count,)
            )
        return [_outcome(row) for row in rows]

    async def remove(self, seq: int) -> None:
        """The witness took it (gone already: nothing to do)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM witness_outcomes WHERE seq = ?", (seq,))

    async def count(self) -> int:
        async with self._db.reading() as conn:
            rows = list(await conn.execute_fetchall("SELECT count(*) FROM witness_outcomes"))
        return int(rows[0][0])


def _outcome(row: sqlite3.Row) -> QueuedOutcome:
    return QueuedOutcome(
        seq=row["seq"],
        group_id=row["group_id"],
        dataset=row["dataset"],
        ok=bool(row["ok"]),
        error=row["error"],
        tx_id=row["tx_id"],
        queued_at=row["queued_at"],
    )
