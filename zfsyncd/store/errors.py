"""The errors the store raises, so callers can tell a broken file from a lost race.

Everything derives from `StoreError`. The daemon refuses to start on `StoreCorruptError`
and `StoreVersionError` (guessing would risk the journal the crash recovery depends on);
the engine handles `StaleStateError` as "someone else moved this transaction first".
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path


class StoreError(Exception):
    """Base of every error raised by zfsyncd.store."""


class StoreCorruptError(StoreError):
    """The database file is damaged or is not a SQLite database at all."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"state database {path} is corrupt ({detail}); it was left untouched: restore it "
            "from a backup or move it aside to start with an empty state"
        )


class StoreVersionError(StoreError):
    """The database was written by a newer zfsyncd; an older one must not touch it."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"state database {path} has schema version {found}, but this zfsyncd only knows "
            f"versions up to {known}; it was left untouched: run a newer zfsyncd"
        )


class RecordNotFoundError(StoreError, LookupError):
    """A transaction, step or cleanup item that was asked for does not exist."""


class StaleStateError(StoreError):
    """The stored state of a transaction is not the one the caller based its change on."""

    def __init__(self, tx_id: str, expected: Collection[str], actual: str) -> None:
        self.tx_id = tx_id
        self.expected = frozenset(expected)
        self.actual = actual
        wanted = " or ".join(sorted(self.expected))
        super().__init__(f"transaction {tx_id} is {actual}, expected {wanted}")
