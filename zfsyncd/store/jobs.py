"""The scheduler's state of each job: what its runs did and when the next one is due.

One row per job (migration 3), written after each decision and each run; read by
`zfsyncctl job list|show`, the metrics and the scheduler after a restart (catch-up starts
from `covered`). A target's state (its failures and backoff) is a JSON object in the row:
it is only ever read and written with its job.
"""

from __future__ import annotations

import builtins
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from zfsyncd.store import json_columns
from zfsyncd.store.database import Database


@dataclass(frozen=True)
class TargetState:
    """A replication target of a job: its last outcome and, after failures, its backoff."""

    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    #: failures in a row (0 after a success)
    failures: int = 0
    #: when it is tried again after a failure (None: at the job's next run)
    retry_at: float | None = None


@dataclass(frozen=True)
class JobState:
    name: str
    paused: bool = False
    #: the schedule time up to which the job's slots are served (jobs/due.py)
    covered: float | None = None
    next_run_at: float | None = None
    last_run_at: float | None = None
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    #: runs in a row that failed
    failures: int = 0
    #: the transactions of the last run, in order
    last_transactions: tuple[str, ...] = ()
    targets: dict[str, TargetState] = field(default_factory=dict)
    updated_at: float = 0.0

    def with_target(self, label: str, state: TargetState) -> JobState:
        return replace(self, targets={**self.targets, label: state})


class JobStateStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> JobState | None:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall("SELECT * FROM job_state WHERE name = ?", (name,))
            )
        return _state(rows[0]) if rows else None

    async def all(self) -> builtins.list[JobState]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall("SELECT * FROM job_state ORDER BY name")
        return [_state(row) for row in rows]

    async def put(self, state: JobState) -> JobState:
        """Store `state` (as a whole: the scheduler is the only writer of a job's row)."""
        targets = json_columns.dump({k: asdict(v) for k, v in state.targets.items()})
        last = json_columns.dump(list(state.last_transactions))
        async with self._db.transaction() as conn:
            now = self._db.now()
            await conn.execute(
                """INSERT OR REPLACE INTO job_state (name, paused, covered, next_run_at,
                    last_run_at, last_success_at, last_error, last_error_at, failures,
                    last_transactions, targets, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    state.name, int(state.paused), state.covered, state.next_run_at,
                    state.last_run_at, state.last_success_at, state.last_error,
                    state.last_error_at, state.failures, last, targets, now,
                ),
            )  # fmt: skip
        return replace(state, updated_at=now)


def _state(row: sqlite3.Row) -> JobState:
    targets: dict[str, Any] = json_columns.load_object(row["targets"])
    return JobState(
        name=row["name"],
        paused=bool(row["paused"]),
        covered=row["covered"],
        next_run_at=row["next_run_at"],
        last_run_at=row["last_run_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        failures=row["failures"],
        last_transactions=tuple(json_columns.load_list(row["last_transactions"])),
        targets={k: TargetState(**v) for k, v in targets.items()},
        updated_at=row["updated_at"],
    )
