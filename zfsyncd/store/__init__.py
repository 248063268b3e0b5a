"""Persistence for the transaction engine: one SQLite file, written by the daemon alone.

Pure persistence: this package knows nothing of ZFS, D-Bus or the engine's state machine.

    async with Database.open(path) as db:
        transactions, audit, cleanup = TransactionStore(db), AuditLog(db), CleanupQueue(db)
        async with db.transaction():  # optional: several calls, one atomic commit
            ...

Modules: `database` (connection, pragmas, integrity check, the write lock), `migrations`
(schema), `records` (models and enums), `transactions`, `journal`, `audit`, `cleanup`
(repositories; `tx_statements`: the statements `transactions` is made of), `jobs`,
`witness_state` (the witness client's outcomes and backoff), `rows` (rows to records), `ids`
(transaction id format), `json_columns`, `errors`.
"""

from zfsyncd.store.audit import AuditLog
from zfsyncd.store.cleanup import CleanupQueue
from zfsyncd.store.database import Database
from zfsyncd.store.errors import (
    RecordNotFoundError,
    StaleStateError,
    StoreCorruptError,
    StoreError,
    StoreVersionError,
)
from zfsyncd.store.migrations import LATEST_VERSION
from zfsyncd.store.records import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    AuditEntry,
    CleanupItem,
    JournalEntry,
    JournalEvent,
    JournalPhase,
    StepRecord,
    StepSpec,
    StepState,
    TransactionRecord,
    TxState,
)
from zfsyncd.store.transactions import TransactionStore

__all__ = [
    "ACTIVE_STATES",
    "LATEST_VERSION",
    "TERMINAL_STATES",
    "AuditEntry",
    "AuditLog",
    "CleanupItem",
    "CleanupQueue",
    "Database",
    "JournalEntry",
    "JournalEvent",
    "JournalPhase",
    "RecordNotFoundError",
    "StaleStateError",
    "StepRecord",
    "StepSpec",
    "StepState",
    "StoreCorruptError",
    "StoreError",
    "StoreVersionError",
    "TransactionRecord",
    "TransactionStore",
    "TxState",
]
