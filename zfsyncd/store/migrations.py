"""The schema, as an append-only list of migrations numbered by ``PRAGMA user_version``.

Never edit a migration that has shipped: a database already at its version would not see
the change. Add a new one instead. Each migration runs in its own ``BEGIN IMMEDIATE``
transaction together with the ``user_version`` bump, so a crash mid-migration leaves the
previous version intact, and two processes opening the same new file cannot both apply it.

Statements are listed one by one (not as a script) because Python's ``executescript``
commits any open transaction first, which would break that atomicity.

Why the schema looks as it does:

- ``journal`` and ``audit`` are append-only, enforced by triggers so no code path (nor a
  careless ``sqlite3`` session) can rewrite history. Audit rows are deleted only by the
  retention (`AuditLog.prune`), and never before they are a day old (version 2's trigger):
  a bug or a flood cannot wipe what just happened. Journal
  rows exist to recover a transaction; once a finished transaction is cleaned up they have
  nothing left to recover, so they go with it: they reference ``transactions`` with ``ON
  DELETE CASCADE``, and the delete trigger only refuses while their transaction still
  exists. A cascaded delete runs after the parent row is gone, so it passes; deleting
  journal rows of a living transaction is refused.
- Only a finished (COMPLETED, FAILED, CANCELLED) transaction may be deleted at all, so
  cleanup can never wipe the journal of one that is running or must be recovered.
- ``audit.tx_id`` has no foreign key on purpose: audit rows outlive their transaction.
- ``rolls_back`` and ``retry_of`` are ``ON DELETE SET NULL``: cleaning up an old transaction
  only unlinks the finished ones that point to it (the store never deletes one that an
  active transaction points to, since a running rollback still needs its steps).
- ``cleanup_queue`` items are only ever marked done; deleting one that is not done is
  refused by a trigger, so deferred cleanup work cannot be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_TX_STATES = "('CREATED', 'PREPARED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELLED')"
_TERMINAL = "('COMPLETED', 'FAILED', 'CANCELLED')"
_STEP_STATES = "('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')"


def _append_only(table: str) -> tuple[str, str]:
    return (
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
    )


_INITIAL = Migration(
    version=1,
    description="transactions, their datasets, steps and journal; audit log; cleanup queue",
    statements=(
        f"""CREATE TABLE transactions (
            id TEXT PRIMARY KEY NOT NULL,
            type TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN {_TX_STATES}),
            description TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL,
            uid INTEGER,
            priority INTEGER NOT NULL DEFAULT 0,
            timeout REAL CHECK (timeout IS NULL OR timeout > 0),
            tags TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
            metadata TEXT NOT NULL DEFAULT '{{}}' CHECK (json_type(metadata) = 'object'),
            error TEXT,
            error_kind TEXT,
            rollback_outcome TEXT,
            rolls_back TEXT REFERENCES transactions(id) ON DELETE SET NULL,
            retry_of TEXT REFERENCES transactions(id) ON DELETE SET NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            params TEXT NOT NULL DEFAULT '{{}}' CHECK (json_type(params) = 'object')
        )""",
        "CREATE INDEX transactions_by_state ON transactions(state)",
        "CREATE INDEX transactions_by_created ON transactions(created_at)",
        # foreign-key actions look children up by these; without an index, a scan per row
        "CREATE INDEX transactions_by_rolls_back ON transactions(rolls_back)",
        "CREATE INDEX transactions_by_retry_of ON transactions(retry_of)",
        f"""CREATE TRIGGER transactions_delete_only_finished BEFORE DELETE ON transactions
        WHEN OLD.state NOT IN {_TERMINAL}
        BEGIN SELECT RAISE(ABORT, 'only a finished transaction may be deleted'); END""",
        """CREATE TABLE tx_datasets (
            tx_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
            dataset TEXT NOT NULL,
            PRIMARY KEY (tx_id, dataset)
        ) WITHOUT ROWID""",
        "CREATE INDEX tx_datasets_by_dataset ON tx_datasets(dataset)",
        f"""CREATE TABLE steps (
            tx_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL CHECK (idx >= 0),
            kind TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{{}}' CHECK (json_type(args) = 'object'),
            description TEXT,
            state TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN {_STEP_STATES}),
            started_at REAL,
            finished_at REAL,
            error TEXT,
            undo_data TEXT CHECK (undo_data IS NULL OR json_type(undo_data) = 'object'),
            undo_state TEXT CHECK (undo_state IS NULL OR undo_state IN {_STEP_STATES}),
            undo_error TEXT,
            bytes_total INTEGER CHECK (bytes_total IS NULL OR bytes_total >= 0),
            PRIMARY KEY (tx_id, idx)
        )""",
        """CREATE TABLE journal (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            tx_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
            step_idx INTEGER,
            phase TEXT NOT NULL CHECK (phase IN ('do', 'undo', 'tx')),
            event TEXT NOT NULL CHECK (event IN ('intent', 'result')),
            outcome TEXT,
            detail TEXT NOT NULL DEFAULT '{}' CHECK (json_type(detail) = 'object'),
            CHECK ((phase = 'tx') = (step_idx IS NULL)),
            CHECK (event = 'intent' OR outcome IS NOT NULL)
        )""",
        "CREATE INDEX journal_by_tx ON journal(tx_id, seq)",
        """CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END""",
        """CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
        WHEN EXISTS (SELECT 1 FROM transactions WHERE id = OLD.tx_id)
        BEGIN SELECT RAISE(ABORT,
            'journal is append-only: its rows go only with their finished transaction'); END""",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            uid INTEGER,
            caller TEXT,
            action TEXT NOT NULL,
            tx_id TEXT,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}' CHECK (json_type(detail) = 'object')
        )""",
        "CREATE INDEX audit_by_tx ON audit(tx_id)",
        "CREATE INDEX audit_by_at ON audit(at)",
        *_append_only("audit"),
        """CREATE TABLE cleanup_queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tx_id TEXT REFERENCES transactions(id) ON DELETE SET NULL,
            kind TEXT NOT NULL,
            args TEXT NOT NULL DEFAULT '{}' CHECK (json_type(args) = 'object'),
            reason TEXT NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            done_at REAL
        )""",
        "CREATE INDEX cleanup_queue_by_tx ON cleanup_queue(tx_id)",
        """CREATE INDEX cleanup_queue_pending ON cleanup_queue(next_attempt_at)
        WHERE done_at IS NULL""",
        """CREATE TRIGGER cleanup_queue_delete_only_done BEFORE DELETE ON cleanup_queue
        WHEN OLD.done_at IS NULL
        BEGIN SELECT RAISE(ABORT, 'a cleanup item is deleted only once it is done'); END""",
    ),
)

#: seconds an audit row is kept whatever the retention says
AUDIT_MIN_AGE = 86400.0

_AUDIT_RETENTION = Migration(
    version=2,
    description="audit rows may be deleted by the retention once a day old",
    statements=(
        "DROP TRIGGER audit_no_delete",
        f"""CREATE TRIGGER audit_delete_only_old BEFORE DELETE ON audit
        WHEN OLD.at > (julianday('now') - 2440587.5) * 86400.0 - {AUDIT_MIN_AGE}
        BEGIN SELECT RAISE(ABORT, 'audit rows are kept for a day at least'); END""",
    ),
)

_JOB_STATE = Migration(
    version=3,
    description="the scheduler's state of each job (zfsyncd/jobs): catch-up, outcomes, backoff",
    statements=(
        # one row per job name, kept when a job leaves the configuration (its history is
        # still shown; a job of the same name coming back continues from it)
        """CREATE TABLE job_state (
            name TEXT PRIMARY KEY NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
            covered REAL,
            next_run_at REAL,
            last_run_at REAL,
            last_success_at REAL,
            last_error TEXT,
            last_error_at REAL,
            failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
            last_transactions TEXT NOT NULL DEFAULT '[]'
                CHECK (json_type(last_transactions) = 'array'),
            targets TEXT NOT NULL DEFAULT '{}' CHECK (json_type(targets) = 'object'),
            updated_at REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
)

_WITNESS_OUTBOX = Migration(
    version=4,
    description="the witness client's unsent outcomes and its instructions' backoff",
    statements=(
        # oldest first by seq; a row goes once the witness took it (or the bound drops it):
        # kept across restarts so that an outcome is not lost with the process
        """CREATE TABLE witness_outcomes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id TEXT NOT NULL,
            dataset TEXT NOT NULL,
            ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
            error TEXT,
            tx_id TEXT,
            queued_at REAL NOT NULL
        )""",
        # an instruction that failed, by its key (zfsyncd/witness/backoff.py): not run
        # again before retry_at; a row goes when it succeeds or the witness stops handing
        # it out, so there are at most as many as instructions handed out
        """CREATE TABLE witness_backoff (
            key TEXT PRIMARY KEY NOT NULL,
            failures INTEGER NOT NULL CHECK (failures > 0),
            retry_at REAL NOT NULL,
            last_error TEXT,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_INITIAL, _AUDIT_RETENTION, _JOB_STATE, _WITNESS_OUTBOX)
LATEST_VERSION = MIGRATIONS[-1].version


async def schema_version(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def apply_migrations(conn: aiosqlite.Connection) -> list[int]:
    """Bring the schema up to `LATEST_VERSION`; returns the versions applied (none if current).

    The caller has already refused a database newer than `LATEST_VERSION`. The version is
    read again inside each write transaction, so a concurrent opener that got there first
    makes this a no-op rather than a second application.
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        if await schema_version(conn) >= migration.version:
            continue
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if await schema_version(conn) < migration.version:
                for statement in migration.statements:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                applied.append(migration.version)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    return applied
