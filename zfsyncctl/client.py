"""A typed async client of zfsyncd over dbus-fast: the Manager's methods as coroutines that
return pydantic models (models.py) and raise typed errors (errors.py), on a bus connection
(connection.py: connecting, calls, errors).

    async with await ZfsyncClient.connect(interactive=True) as zc:
        started = await zc.snapshot(["tank/home"], SnapshotOptions(recursive=True))
        async with zc.watch(started.id) as watch:
            async for event in watch.events(): ...

ListTransactions' filter and rows are listing.py's (no pydantic: `transaction list` runs on
that module alone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from dbus_fast import Variant
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zfsyncd.api.limits import MAX_SNAPSHOT_PAGE
from zfsyncd.api.names import transaction_id

from . import listing
from .connection import Connection
from .errors import InternalError
from .listing import TransactionFilter as TransactionFilter
from .models import (
    CleanupRow,
    DaemonStatus,
    SnapshotRow,
    StartedTransaction,
    TransactionDetail,
)
from .rows import SummaryRow
from .watch import TransactionWatch

M = TypeVar("M", bound=BaseModel)


# --- requests: options dictionaries (a{sv}) ------------------------------------------------


class _Options(BaseModel):
    """An options dictionary of the API; fields left None are not sent (daemon default).
    The daemon derives the keys it takes from its declarations; tests/unit/bus/
    test_declarations.py fails when these disagree with them."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    #: field name -> D-Bus signature of its value
    SIGNATURES: ClassVar[dict[str, str]] = {}

    def to_dbus(self) -> dict[str, Variant]:
        out: dict[str, Variant] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            sig = self.SIGNATURES[name]
            if sig in ("a{ss}", "as") and not value:
                continue
            out[name] = Variant(sig, value)
        return out


class LockOptions(_Options):
    """options of Rollback and Retry."""

    SIGNATURES: ClassVar[dict[str, str]] = {"wait_for_locks": "b"}
    wait_for_locks: bool | None = None


class SnapshotOptions(_Options):
    """options of Snapshot."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        "recursive": "b",
        "hold": "b",
        "properties": "a{ss}",
        "priority": "i",
        "timeout": "d",
        "tags": "as",
        "wait_for_locks": "b",
    }
    recursive: bool | None = None
    hold: bool | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    priority: int | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool | None = None


class DestroyOptions(_Options):
    """options of DestroySnapshots."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        "any_name": "b",
        "priority": "i",
        "timeout": "d",
        "tags": "as",
        "wait_for_locks": "b",
    }
    any_name: bool | None = None
    priority: int | None = None
    timeout: float | None = None
    tags: list[str] = Field(default_factory=list)
    wait_for_locks: bool | None = None


class ListSnapshotsOptions(_Options):
    """options of ListSnapshots."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        "recursive": "b",
        "any_name": "b",
        "limit": "u",
        "after": "s",
    }
    recursive: bool | None = None
    any_name: bool | None = None
    #: one page: at most this many (daemon default and maximum: MAX_SNAPSHOT_PAGE)
    limit: int | None = Field(default=None, ge=0, le=MAX_SNAPSHOT_PAGE)
    #: the `cursor` of the previous page's last row
    after: str | None = None


# --- the client --------------------------------------------------------------------------


def _parse(model: type[M], value: Any, what: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise InternalError(f"zfsyncd's reply to {what} was not understood: {e}") from e


def _started(path: Any, what: str) -> StartedTransaction:
    try:
        return StartedTransaction(id=transaction_id(str(path)), path=str(path))
    except ValueError as e:
        raise InternalError(f"zfsyncd's reply to {what} was not understood: {e}") from e


class ZfsyncClient(Connection):
    """The Manager interface of zfsyncd on one bus connection."""

    # --- the Manager's methods ---

    async def get_status(self) -> DaemonStatus:
        (status,) = await self.call("GetStatus")
        return _parse(DaemonStatus, status, "GetStatus")

    async def snapshot(
        self, datasets: Sequence[str], options: SnapshotOptions | None = None
    ) -> StartedTransaction:
        opts = (options or SnapshotOptions()).to_dbus()
        (path,) = await self.call("Snapshot", "asa{sv}", [list(datasets), opts])
        return _started(path, "Snapshot")

    async def destroy_snapshots(
        self, snapshots: Sequence[str], options: DestroyOptions | None = None
    ) -> StartedTransaction:
        opts = (options or DestroyOptions()).to_dbus()
        (path,) = await self.call("DestroySnapshots", "asa{sv}", [list(snapshots), opts])
        return _started(path, "DestroySnapshots")

    async def list_snapshots(
        self, datasets: Sequence[str] = (), options: ListSnapshotsOptions | None = None
    ) -> list[SnapshotRow]:
        opts = (options or ListSnapshotsOptions()).to_dbus()
        (rows,) = await self.call("ListSnapshots", "asa{sv}", [list(datasets), opts])
        return [_parse(SnapshotRow, r, "ListSnapshots") for r in rows]

    async def list_transactions(
        self, tx_filter: TransactionFilter | None = None
    ) -> list[SummaryRow]:
        """One page (see `all_transactions` for more than a page holds)."""
        return await listing.list_transactions(self, tx_filter or TransactionFilter())

    async def all_transactions(
        self, tx_filter: TransactionFilter, at_most: int | None = None
    ) -> list[SummaryRow]:
        """Page after page until `at_most` rows (None: every one the filter selects)."""
        return await listing.all_transactions(self, tx_filter, at_most)

    async def all_snapshots(
        self, datasets: Sequence[str], options: ListSnapshotsOptions
    ) -> list[SnapshotRow]:
        """Every snapshot the options select, page after page."""
        found: list[SnapshotRow] = []
        while True:
            after = found[-1].cursor if found else None
            rows = await self.list_snapshots(
                datasets, options.model_copy(update={"limit": MAX_SNAPSHOT_PAGE, "after": after})
            )
            found += rows
            if len(rows) < MAX_SNAPSHOT_PAGE or not rows[-1].cursor:
                return found

    async def get_transaction(self, tx_id: str) -> TransactionDetail:
        (tx,) = await self.call("GetTransaction", "s", [tx_id])
        return _parse(TransactionDetail, tx, "GetTransaction")

    async def rollback(self, tx_id: str, options: LockOptions | None = None) -> StartedTransaction:
        opts = (options or LockOptions()).to_dbus()
        (path,) = await self.call("Rollback", "sa{sv}", [tx_id, opts])
        return _started(path, "Rollback")

    async def finish_rollback(self, tx_id: str) -> str:
        (outcome,) = await self.call("FinishRollback", "s", [tx_id])
        return str(outcome)

    async def retry(self, tx_id: str, options: LockOptions | None = None) -> StartedTransaction:
        opts = (options or LockOptions()).to_dbus()
        (path,) = await self.call("Retry", "sa{sv}", [tx_id, opts])
        return _started(path, "Retry")

    async def cancel(self, tx_id: str) -> None:
        await self.call("Cancel", "s", [tx_id])

    async def cleanup(self, older_than: float) -> int:
        (removed,) = await self.call("Cleanup", "d", [float(older_than)])
        return int(removed)

    async def list_cleanups(self) -> list[CleanupRow]:
        """The deferred-cleanup queue (ListCleanups)."""
        (rows,) = await self.call("ListCleanups", "", [])
        return [_parse(CleanupRow, r, "ListCleanups") for r in rows]

    async def run_cleanups(self) -> int:
        """Try every queued cleanup now; how many succeeded (RunCleanups)."""
        (done,) = await self.call("RunCleanups", "", [])
        return int(done)

    def watch(self, tx_id: str, *, poll_interval: float | None = 5.0) -> TransactionWatch:
        """Watch transaction `tx_id` (see TransactionWatch)."""
        return TransactionWatch(self, tx_id, poll_interval=poll_interval)
