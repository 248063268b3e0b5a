"""The audit log: who asked for what, when, and how it ended. Append-only, and bounded.

Rows name their transaction by id without a foreign key, so they outlive it: the answer to
"who destroyed that snapshot last spring" must not depend on the retention of the
transaction that did it. The schema refuses UPDATE on this table, and DELETE of a row less
than a day old.

Bounds (documented in README.md): `prune` deletes rows past the retention age and the oldest
beyond a row count; and calls that repeat in bursts (a refused caller retrying in a loop)
are folded: the first of a burst is written at once, the repeats within `fold_window`
seconds are counted and written as one row when the window has passed. So a flood of
refusals writes a row or two per caller and method a minute, not one per call.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from zfsyncd.store import json_columns
from zfsyncd.store import rows as rows_
from zfsyncd.store.database import Database, last_rowid
from zfsyncd.store.migrations import AUDIT_MIN_AGE
from zfsyncd.store.records import AuditEntry

#: seconds within which repeats of a folded call are counted rather than written
FOLD_WINDOW = 60.0
#: bursts followed at once; past that the oldest is written out early (memory stays bounded)
MAX_FOLDS = 4096


@dataclass
class _Burst:
    """Repeats of one folded call since its first row was written."""

    first_at: float
    repeats: int = 0
    last_at: float = 0.0
    last: dict[str, Any] = field(default_factory=dict)


_INSERT = """INSERT INTO audit (at, uid, caller, action, tx_id, outcome, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""


class Who(TypedDict, total=False):
    """Who asked, about which transaction, and the details: `append`'s keywords."""

    uid: int | None
    caller: str | None
    tx_id: str | None
    detail: Mapping[str, Any] | None


class AuditLog:
    def __init__(self, db: Database, *, fold_window: float = FOLD_WINDOW) -> None:
        self._db = db
        self.fold_window = fold_window
        self._bursts: dict[Hashable, _Burst] = {}

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

        def work(conn: sqlite3.Connection) -> tuple[int, float]:
            at = self._db.now()
            row = (at, uid, caller, action, tx_id, outcome, detail_json)
            return last_rowid(conn.execute(_INSERT, row)), at

        seq, at = await self._db.write(work)
        return AuditEntry(
            seq=seq,
            at=at,
            uid=uid,
            caller=caller,
            action=action,
            tx_id=tx_id,
            outcome=outcome,
            detail=json_columns.load_object(detail_json),
        )

    async def append_later(self, action: str, outcome: str, **who: Unpack[Who]) -> None:
        """`append` without the entry back: inside one of the engine's commits the row goes
        with the commit's next call to SQLite's thread (`Database.write_later`), not in a
        call of its own; outside one it is written at once."""
        detail_json = json_columns.dump_object(who.get("detail"))
        row = (self._db.now(), who.get("uid"), who.get("caller"), action, who.get("tx_id"),
               outcome, detail_json)  # fmt: skip

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT, row)

        await self._db.write_later(work)

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
        return [rows_.record(AuditEntry, row) for row in rows]

    async def append_folded(
        self,
        key: Hashable,
        action: str,
        outcome: str,
        *,
        uid: int | None = None,
        caller: str | None = None,
        tx_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a call that may repeat in bursts, such as a refused one: calls with the same
        `key` within `fold_window` seconds of the first are counted, not written, and come out
        as one row ("repeated N times") once the window has passed."""
        now = self._db.now()
        burst = self._bursts.get(key)
        if burst is not None and now - burst.first_at < self.fold_window:
            burst.repeats += 1
            burst.last_at = now
            burst.last = {"action": action, "outcome": outcome, "uid": uid, "caller": caller,
                          "tx_id": tx_id, "detail": dict(detail or {})}  # fmt: skip
            return
        # the new burst is known before any await: concurrent refusals (a flood) count into it
        # instead of each writing a row while the first one's write is under way
        self._bursts.pop(key, None)
        self._bursts[key] = _Burst(first_at=now)
        if burst is not None:
            await self._write_burst(burst)
        await self.append(action, outcome, uid=uid, caller=caller, tx_id=tx_id, detail=detail)
        if len(self._bursts) > MAX_FOLDS:
            oldest = next(iter(self._bursts))
            await self._write_burst(self._bursts.pop(oldest))

    async def flush_folded(self, *, everything: bool = False) -> int:
        """Write the counts of bursts whose window has passed (all of them with
        `everything`, at a stop); returns how many rows that wrote."""
        now = self._db.now()
        done = [
            key
            for key, burst in self._bursts.items()
            if everything or now - burst.first_at >= self.fold_window
        ]
        written = 0
        for key in done:
            written += await self._write_burst(self._bursts.pop(key))
        return written

    async def _write_burst(self, burst: _Burst) -> int:
        if not burst.repeats:
            return 0
        last = burst.last
        span = burst.last_at - burst.first_at
        await self.append(
            last["action"],
            f"{last['outcome']} (repeated {burst.repeats} more times in {span:.0f} s)",
            uid=last["uid"],
            caller=last["caller"],
            tx_id=last["tx_id"],
            detail={**last["detail"], "repeats": burst.repeats, "first_at": burst.first_at,
                    "last_at": burst.last_at},
        )  # fmt: skip
        return 1

    async def prune(self, *, older_than: float, keep_at_most: int) -> int:
        """Delete the rows older than `older_than` seconds, and the oldest rows beyond
        `keep_at_most`; a row less than a day old is kept whatever these say (the schema
        refuses its delete). Returns how many rows went."""
        if older_than < 0 or keep_at_most < 0:
            raise ValueError("the audit retention is a non-negative age and row count")
        async with self._db.transaction() as conn:
            cutoff = self._db.now() - older_than
            # rows a day old by the database's own clock (the trigger's), never younger
            safe = "at <= (julianday('now') - 2440587.5) * 86400.0 - :min_age"
            async with conn.execute(
                f"""DELETE FROM audit WHERE {safe} AND (
                    at < :cutoff
                    OR seq <= (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1 OFFSET :keep)
                )""",  # noqa: S608 - a fixed string: no value is formatted into it
                {"min_age": AUDIT_MIN_AGE, "cutoff": cutoff, "keep": keep_at_most},
            ) as cursor:
                return int(cursor.rowcount)
