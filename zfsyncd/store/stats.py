"""Aggregates over what the store holds, for the metrics (zfsyncd/metrics/): each one SQL
statement that counts or sums in SQLite, so a scrape reads a few rows however many
transactions are stored.

Everything here is derived from stored rows, so a restart of the daemon loses nothing; the
one thing that lowers a total is `transaction cleanup` (it forgets finished transactions,
their steps with them), which a Prometheus counter reads as a reset, as it reads a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from zfsyncd.store import json_columns
from zfsyncd.store.database import Database
from zfsyncd.store.records import StepState, TxState

#: the step kind whose result says what each stream sent (tx/steps/transfers.py's `sent`)
TRANSFER_STEP = "send-receive-many"


@dataclass(frozen=True)
class StepDurations:
    """One step kind's durations (do phase, completed steps), as a Prometheus histogram
    holds them: the count at or below each bound (cumulative), the count and the sum."""

    kind: str
    #: (upper bound in seconds, steps that took at most that long), bounds ascending
    buckets: tuple[tuple[float, int], ...]
    count: int
    total_seconds: float


@dataclass(frozen=True)
class SentBytes:
    """Bytes the completed transfer steps sent from one source dataset to one target (the
    hosts as the steps name them; None where a step's arguments left one out)."""

    source_host: str | None
    dataset: str
    host: str | None
    target: str
    bytes: int


class StoreStats:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def transactions_by_type_and_state(self) -> dict[tuple[str, TxState], int]:
        """(type, state) -> how many are stored."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT type, state, count(*) FROM transactions GROUP BY type, state"
            )
        return {(str(r[0]), TxState(r[1])): int(r[2]) for r in rows}

    async def step_durations(self, bounds: Sequence[float]) -> list[StepDurations]:
        """Per step kind, the completed steps' durations (finished_at - started_at) counted
        under each of `bounds` (ascending): one scan of the steps, summed in SQLite."""
        under = ", ".join("SUM(d <= ?)" for _ in bounds)
        statement = f"""SELECT kind, count(*), COALESCE(SUM(d), 0){", " if bounds else ""}{under}
            FROM (SELECT kind, MAX(finished_at - started_at, 0) AS d FROM steps
                  WHERE state = ? AND started_at IS NOT NULL AND finished_at IS NOT NULL)
            GROUP BY kind ORDER BY kind"""  # noqa: S608 - only placeholders are formatted in
        async with self._db.reading() as conn:
            # the placeholders in order: the bounds (in the columns), then the state
            rows = await conn.execute_fetchall(statement, (*bounds, StepState.COMPLETED.value))
        return [
            StepDurations(
                kind=str(r[0]),
                buckets=tuple((b, int(r[3 + i] or 0)) for i, b in enumerate(bounds)),
                count=int(r[1]),
                total_seconds=float(r[2]),
            )
            for r in rows
        ]

    async def sent_bytes(self) -> list[SentBytes]:
        """Per source dataset and target (host, dataset): the bytes the completed transfer
        steps sent, whatever became of their transaction after (a stream undone later was
        still sent). Each stream's bytes are in its step's stored result (`sent`, by
        target); the source is the stream's snapshot's dataset."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                """SELECT source, substr(snap, 1, instr(snap, '@') - 1), host, target, SUM(sent)
                FROM (
                    SELECT json_extract(stream.value, '$.send.snapshot') AS snap,
                           json_extract(steps.args, '$.source') AS source,
                           json_extract(steps.args, '$.target') AS host,
                           json_extract(stream.value, '$.recv.target') AS target,
                           sent.value AS sent
                    FROM steps,
                         json_each(steps.args, '$.streams') AS stream,
                         json_each(steps.undo_data, '$.sent') AS sent
                    WHERE steps.kind = ? AND steps.state = ? AND steps.undo_data IS NOT NULL
                      AND sent.key = json_extract(stream.value, '$.recv.target'))
                WHERE instr(snap, '@') > 0
                GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
                (TRANSFER_STEP, StepState.COMPLETED.value),
            )
        return [
            SentBytes(_text(r[0]), str(r[1]), _text(r[2]), str(r[3]), int(r[4] or 0)) for r in rows
        ]

    async def last_completed(
        self, types: Iterable[str], datasets: Iterable[str]
    ) -> dict[str, float]:
        """Dataset (as the store names it: located) -> when the newest COMPLETED
        transaction of one of `types` naming it finished."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                """SELECT d.dataset, MAX(t.finished_at) FROM tx_datasets AS d
                JOIN transactions AS t ON t.id = d.tx_id
                WHERE t.state = ? AND t.finished_at IS NOT NULL
                  AND t.type IN (SELECT value FROM json_each(?))
                  AND d.dataset IN (SELECT value FROM json_each(?))
                GROUP BY d.dataset""",
                (
                    TxState.COMPLETED.value,
                    json_columns.dump(sorted(types)),
                    json_columns.dump(sorted(datasets)),
                ),
            )
        return {str(r[0]): float(r[1]) for r in rows}


def _text(value: object) -> str | None:
    return None if value is None else str(value)
