"""The witness client's state that outlives a restart (migration 4): the outcomes waiting
to be sent, oldest first, and the instructions held back after failures.

Pure persistence: the client (zfsyncd/witness/outbox.py, backoff.py) says what an outcome
means, when one is sent, what an instruction's key is and how long it waits. The outcome
queue is bounded by its caller's `limit`: adding past it drops the oldest rows in the same
transaction, and says how many.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
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


@dataclass(frozen=True)
class HeldInstruction:
    """An instruction that failed `failures` times in a row: not run before `retry_at`."""

    key: str
    failures: int
    retry_at: float
    last_error: str | None


class WitnessBackoff:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> dict[str, HeldInstruction]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall("SELECT * FROM witness_backoff")
        return {
            r["key"]: HeldInstruction(r["key"], r["failures"], r["retry_at"], r["last_error"])
            for r in rows
        }

    async def failed(self, held: HeldInstruction) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                """INSERT OR REPLACE INTO witness_backoff
                    (key, failures, retry_at, last_error, updated_at) VALUES (?, ?, ?, ?, ?)""",
                (held.key, held.failures, held.retry_at, held.last_error, self._db.now()),
            )

    async def forget(self, key: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM witness_backoff WHERE key = ?", (key,))

    async def keep_only(self, keys: Collection[str]) -> int:
        """Forget every instruction but `keys` (those handed out now); how many went."""
        async with self._db.transaction() as conn:
            return await changed_rows(
                conn,
                "DELETE FROM witness_backoff WHERE key NOT IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(keys)),),
            )
