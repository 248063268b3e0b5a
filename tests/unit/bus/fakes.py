"""Stand-ins for the bus layer's tests: a polkit that records what it was asked, and a
service that records what a method did (and fails a use before polkit answered)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from zfsyncd.api.names import ErrorName, transaction_path
from zfsyncd.bus.errors import BusCallError
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.manager import Caller

ME, SOMEONE_ELSE = 1000, 1001


def record(uid: int = ME) -> TransactionRecord:
    now = time.time()
    return TransactionRecord(
        id="t_1", type="snapshot", state=TxState.EXECUTING, uid=uid, created_at=now,
        updated_at=now,
    )  # fmt: skip


@dataclass
class Log:
    entries: list[tuple[str, str]] = field(default_factory=list)

    def asked(self) -> list[str]:
        return [what for who, what in self.entries if who == "polkit"]

    def touched(self) -> list[str]:
        return [what for who, what in self.entries if who == "service"]


@dataclass
class FakeAuthority:
    """polkit that says yes to the actions in `allow` (all when None), and records."""

    log: Log
    allow: set[str] | None = None

    async def authorize(self, action: str) -> Caller:
        if self.allow is not None and action not in self.allow:
            raise BusCallError(ErrorName.NOT_AUTHORIZED, f"not authorized: {action}")
        self.log.entries.append(("polkit", action))
        return Caller(uid=ME, name=":1.5")


class FakeService:
    """Records every use; a use before polkit answered fails the test."""

    version = "test"

    def __init__(self, log: Log, owner: int = ME) -> None:
        self._log, self._owner = log, owner
        #: (method, its arguments) of every use
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def active_paths(self) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Any:
        async def used(*args: Any) -> Any:
            assert self._log.asked(), f"service.{name} was called before polkit answered"
            self._log.entries.append(("service", name))
            self.calls.append((name, args))
            if name == "record":
                return record(self._owner)
            if name == "start_transaction":
                return transaction_path("t_1")
            return []

        return used
