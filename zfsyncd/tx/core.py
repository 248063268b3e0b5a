"""What the parts of the transaction manager share (zfsyncd/tx/manager.py puts them
together): the store, the audit log, the cleanup queue, the hosts, the dataset locks, the
retry policies, the table of transaction kinds and the state listeners; and the few helpers
every part uses (a transaction's state machine, the context its steps run in, an executor,
an audit entry).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from zfsyncd.store import (
    AuditLog,
    CleanupQueue,
    Database,
    TransactionRecord,
    TransactionStore,
    TxState,
)
from zfsyncd.tx.bounds import cut_error
from zfsyncd.tx.errors import TransactionNotFoundError
from zfsyncd.tx.executor import Executor
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.tx.kinds import TX_KINDS, PlanContext, TxKind
from zfsyncd.tx.locks import DatasetLocks
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.progress import ProgressSink
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.steps import StepContext

log = logging.getLogger(__name__)


@dataclass
class Caller:
    """Who asked: the uid the bus reported and the caller's bus name (or 'cli', 'recovery')."""

    uid: int | None = None
    name: str | None = None


SYSTEM = Caller(None, "zfsyncd")
RECOVERY = Caller(None, "recovery")

#: told the id and new state of a transaction whenever one is created or changes state
StateListener = Callable[[str, TxState], None]

#: the state changes made inside `EngineCore.one_commit`, told to the listeners once it has
#: committed (None outside one)
_held_notices: ContextVar[list[tuple[str, TxState]] | None] = ContextVar(
    "zfsyncd_held_notices", default=None
)


class EngineCore:
    def __init__(
        self,
        db: Database,
        hosts: Mapping[str, Host],
        *,
        max_parallel: int = 4,
        do_retry: RetryPolicy | None = None,
        undo_retry: RetryPolicy | None = None,
        kinds: Mapping[str, TxKind] | None = None,
    ) -> None:
        if LOCAL not in hosts:
            raise ValueError("the manager needs the local host's backend under 'local'")
        self.db = db
        self.store = TransactionStore(db)
        self.audit = AuditLog(db)
        self.cleanups = CleanupQueue(db)
        self.hosts = dict(hosts)
        self.locks = DatasetLocks(max_parallel)
        self.do_retry = do_retry or RetryPolicy()
        self.undo_retry = undo_retry or RetryPolicy()
        self.kinds = TX_KINDS if kinds is None else kinds
        self.listeners: list[StateListener] = []

    async def get(self, tx_id: str) -> TransactionRecord:
        record = await self.store.get(tx_id)
        if record is None:
            raise TransactionNotFoundError(tx_id)
        return record

    def context(self, tx_id: str, sink: ProgressSink | None = None) -> StepContext:
        """What the steps of `tx_id` run with."""
        sink = sink or ProgressSink()
        return StepContext(
            tx_id=tx_id,
            hosts=self.hosts,
            progress=sink.transfer,
            stream=sink.stream,
            stream_ended=sink.stream_ended,
        )

    def plan_context(self, tx_id: str) -> PlanContext:
        """What the plan of `tx_id` is built with."""
        return PlanContext(tx_id=tx_id, hosts=self.hosts, transactions=self.store)

    def machine(self, record: TransactionRecord) -> TransactionMachine:
        return TransactionMachine(record.id, record.state, self._persist)

    def executor(self) -> Executor:
        return Executor(self.store, do_retry=self.do_retry, undo_retry=self.undo_retry)

    async def record(
        self, action: str, outcome: str, caller: Caller, tx_id: str | None, **detail: Any
    ) -> None:
        """An entry in the audit log: who asked for what, and how it ended (cut short: a
        refusal's words may quote what the caller sent)."""
        await self.audit.append_later(  # inside one_commit: with the commit, no call of its own
            action,
            cut_error(outcome) or "",
            uid=caller.uid,
            caller=caller.name,
            tx_id=tx_id,
            detail=detail,
        )

    @asynccontextmanager
    async def one_commit(self) -> AsyncIterator[None]:
        """Several writes of the engine as one commit, so one sync of the database: a state
        change with its audit row, or a plan with the moves that follow it. All or none of
        them persist (a write that fails inside fails it all: no savepoints are needed,
        which saves two round trips to SQLite a write); the state listeners hear of the
        changes once they have committed, and not at all if they did not. Inside another
        one it is part of that one. A `Database.batch`: the moves and audit rows, which
        nobody reads back, go with the commit's next call to SQLite's thread, so a commit
        of several writes costs one or two calls there."""
        if _held_notices.get() is not None:
            async with self.db.batch():
                yield
            return
        notices: list[tuple[str, TxState]] = []
        token = _held_notices.set(notices)
        try:
            async with self.db.batch():
                yield
        finally:
            _held_notices.reset(token)
        for tx_id, state in notices:
            self.notify(tx_id, state)

    def tell(self, tx_id: str, state: TxState) -> None:
        """Tell the listeners of a change now, or once the commit it is part of has
        committed (not at all if it did not)."""
        held = _held_notices.get()
        if held is not None:
            held.append((tx_id, state))
        else:
            self.notify(tx_id, state)

    def notify(self, tx_id: str, state: TxState) -> None:
        for listener in self.listeners:
            try:
                listener(tx_id, state)
            except Exception:  # a listener (the bus) must never break a transaction
                log.exception("%s: a state listener failed", tx_id)

    async def _persist(
        self, tx_id: str, source: TxState, dest: TxState, details: dict[str, Any]
    ) -> None:
        # inside one_commit, with the commit (no call to SQLite's thread of its own)
        await self.store.set_state(
            tx_id,
            dest,
            later=True,
            expected=source,
            # ZFS's words and an undo's account are not the caller's to bound: cut short
            error=cut_error(details.get("error")),
            error_kind=details.get("error_kind"),
            rollback_outcome=cut_error(details.get("rollback_outcome")),
        )
        self.tell(tx_id, dest)
