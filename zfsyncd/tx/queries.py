"""The engine's read side: which transactions a query selects, and the engine's status.

What the Manager's read methods answer is decided here, over the manager's public parts
(its store, cleanup queue, locks and hosts), so a test reaches it without a bus; zfsyncd/bus
only turns a query's a{sv} into a TransactionQuery and the answers into D-Bus values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zfsyncd.api.limits import DEFAULT_TRANSACTION_PAGE, MAX_TRANSACTION_PAGE
from zfsyncd.api.states import ACTIVE_STATES, TxState
from zfsyncd.store import TransactionRecord
from zfsyncd.store.ids import is_transaction_id
from zfsyncd.tx.cleanup import CleanupKind
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.backend import ZfsBackend


def state_named(text: str | TxState) -> TxState:
    """A state as a person or a client names it, in any case."""
    try:
        return TxState(text.upper())
    except ValueError:
        known = ", ".join(s.value for s in TxState)
        raise PlanError(f"unknown state {text!r} (known: {known})") from None


class TransactionQuery(BaseModel):
    """Which transactions to list, newest first, one page at a time: a page holds at most
    `limit` (0: the most a page may hold, MAX_TRANSACTION_PAGE); the next page is asked for
    with `after` set to the last row's id (its `cursor`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    states: tuple[TxState, ...] = Field(default=(), max_length=len(TxState))
    type: str | None = Field(default=None, max_length=64)
    #: on the creation time, inclusive
    since: float | None = Field(default=None, allow_inf_nan=False)
    limit: int = Field(default=DEFAULT_TRANSACTION_PAGE, ge=0, le=MAX_TRANSACTION_PAGE)
    #: the cursor of the last row of the previous page: only older ones
    after: str | None = None
    #: only CREATED, PREPARED and EXECUTING ones (within `states`, if given)
    active: bool = False
    #: only those whose undo could not finish when they ended (it waits in the cleanup queue)
    rollback_pending: bool = False

    @field_validator("states", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(v.upper() if isinstance(v, str) else v for v in value)
        return value

    @field_validator("after")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None and not is_transaction_id(value):
            raise ValueError("not a cursor a list returned (the id of a transaction)")
        return value

    @property
    def page(self) -> int:
        """How many rows this page may hold."""
        return self.limit or MAX_TRANSACTION_PAGE

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> TransactionQuery:
        """From a client's keys; an unknown state is refused in the words of `state_named`
        (checked before pydantic, which would word it as a validation error)."""
        states = tuple(state_named(s) for s in values.get("states", ()))
        return cls.model_validate({**values, "states": states})

    def wanted_states(self) -> list[TxState] | None:
        """The states to select (None: any); [] when `active` excludes all that were named."""
        states = list(self.states)
        if self.active:
            return [s for s in states if s in ACTIVE_STATES] if states else list(ACTIVE_STATES)
        return states or None

    def admits(self, record: TransactionRecord, states: Iterable[TxState] | None) -> bool:
        chosen = None if states is None else set(states)
        return (
            (chosen is None or record.state in chosen)
            and (self.type is None or record.type == self.type)
            and (self.since is None or record.created_at >= self.since)
        )


@dataclass(frozen=True)
class ListedTransaction:
    record: TransactionRecord
    #: its undo waits in the cleanup queue (FinishRollback is for it)
    rollback_pending: bool


@dataclass(frozen=True)
class EngineStatus:
    pools: list[str]
    #: executing now
    active: int
    #: created or prepared, waiting to run
    queued: int
    max_parallel: int
    pending_cleanups: int
    #: stored, in any state
    transactions: int


def local_zfs(manager: TransactionManager) -> ZfsBackend:
    """The ZFS backend of the host the daemon runs on."""
    return manager.hosts[LOCAL].zfs


async def rollbacks_pending(manager: TransactionManager) -> set[str]:
    """Transactions whose undo waits in the cleanup queue (it failed when they ended)."""
    return {
        item.tx_id
        for item in await manager.cleanups.pending()
        if item.kind == CleanupKind.FINISH_UNDO and item.tx_id is not None
    }


async def list_transactions(
    manager: TransactionManager, query: TransactionQuery
) -> list[ListedTransaction]:
    states = query.wanted_states()
    if states == []:
        return []
    pending = await rollbacks_pending(manager)
    if query.rollback_pending:
        ids = sorted((i for i in pending if query.after is None or i < query.after), reverse=True)
        records = []
        for tx_id in ids:
            record = await manager.get(tx_id)
            if query.admits(record, states):
                records.append(record)
                if len(records) == query.page:
                    break
    else:
        records = await manager.store.list(
            state=states,
            type=query.type,
            since=query.since,
            before=query.after,
            limit=query.page,
        )
    return [ListedTransaction(r, r.id in pending) for r in records]


async def transaction(manager: TransactionManager, tx_id: str) -> ListedTransaction:
    record = await manager.get(tx_id)
    return ListedTransaction(record, tx_id in await rollbacks_pending(manager))


async def engine_status(manager: TransactionManager) -> EngineStatus:
    active = await manager.list_active()
    pools = [p.name for p in await local_zfs(manager).list(depth=0)]
    return EngineStatus(
        pools=pools,
        active=sum(1 for r in active if r.state is TxState.EXECUTING),
        queued=sum(1 for r in active if r.state is not TxState.EXECUTING),
        max_parallel=manager.locks.max_parallel,
        pending_cleanups=len(await manager.cleanups.pending()),
        transactions=await manager.store.count(),
    )
