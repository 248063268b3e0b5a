"""A typed async client of zfsyncd over dbus-fast: the Manager's methods as coroutines that
return pydantic models (models.py) and raise typed errors (errors.py).

    async with await ZfsyncClient.connect(interactive=True) as zc:
        started = await zc.snapshot(["tank/home"], SnapshotOptions(recursive=True))
        async with zc.watch(started.id) as watch:
            async for event in watch.events(): ...

Calls to the daemon carry ALLOW_INTERACTIVE_AUTHORIZATION when `interactive` (zfsyncctl sets
it when stdin is a terminal and --no-ask-password was not given), so polkit may ask for a
password through the session's agent instead of saying no at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from dbus_fast import (
    BusType,
    DBusError,
    DBusFastError,
    Message,
    MessageFlag,
    MessageType,
    Variant,
    unpack_variants,
)
from dbus_fast.aio import MessageBus
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zfsyncd.api.limits import MAX_SNAPSHOT_PAGE, MAX_TRANSACTION_PAGE
from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH, transaction_id

from .errors import ClientError, DaemonUnavailableError, InternalError, error_from_dbus
from .models import (
    DaemonStatus,
    SnapshotRow,
    StartedTransaction,
    TransactionDetail,
    TransactionSummary,
)
from .watch import TransactionWatch

DEFAULT_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"

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


class TransactionFilter(_Options):
    """filter of ListTransactions."""

    SIGNATURES: ClassVar[dict[str, str]] = {
        "states": "as",
        "type": "s",
        "since": "d",
        "limit": "u",
        "after": "s",
        "active": "b",
        "rollback_pending": "b",
    }
    states: list[str] = Field(default_factory=list)
    type: str | None = None
    since: float | None = None
    #: one page: at most this many (daemon default 100, maximum MAX_TRANSACTION_PAGE)
    limit: int | None = Field(default=None, ge=0, le=MAX_TRANSACTION_PAGE)
    #: the `cursor` of the previous page's last row
    after: str | None = None
    active: bool | None = None
    rollback_pending: bool | None = None


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


class ZfsyncClient:
    """The Manager interface of zfsyncd on one bus connection."""

    def __init__(self, bus: MessageBus, *, interactive: bool = False) -> None:
        self.bus = bus
        self.interactive = interactive
        # one task per connection awaits dbus-fast's disconnect future; waiters shield it,
        # as cancelling a task that awaits that future directly would cancel the future
        self._disconnected = asyncio.ensure_future(self._wait_disconnected())

    async def _wait_disconnected(self) -> None:
        with contextlib.suppress(Exception):  # how it ended is no concern, only that it did
            await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def wait_disconnected(self) -> None:
        """Return when the bus connection has gone (cancelling this leaves it be)."""
        await asyncio.shield(self._disconnected)

    @classmethod
    async def connect(
        cls, *, interactive: bool = False, bus_address: str | None = None
    ) -> ZfsyncClient:
        """Connect to the system bus: `bus_address`, else DBUS_SYSTEM_BUS_ADDRESS, else the
        standard socket (what dbus-fast's BusType.SYSTEM does, named here for messages)."""
        address = bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS
        bus = MessageBus(bus_address=address, bus_type=BusType.SYSTEM)
        try:
            await bus.connect()
        except (OSError, DBusFastError, EOFError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise DaemonUnavailableError(
                f"cannot connect to the system bus at {address}: {why}"
            ) from e
        return cls(bus, interactive=interactive)

    async def close(self) -> None:
        if self.bus.connected:
            self.bus.disconnect()
        await self._disconnected

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- plumbing ---

    async def call(
        self,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        path: str = MANAGER_PATH,
        interface: str = MANAGER_IFACE,
        destination: str = BUS_NAME,
    ) -> list[Any]:
        """Call a method and return its reply body with variants unpacked; D-Bus errors are
        raised as ClientError subclasses."""
        flags = MessageFlag.NONE
        if self.interactive and destination == BUS_NAME:
            flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION
        msg = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
            flags=flags,
        )
        if not self.bus.connected:
            raise DaemonUnavailableError("the connection to the system bus was lost")
        try:
            reply = await self.bus.call(msg)
        except DBusError as e:
            raise error_from_dbus(e.type, e.text) from e
        except (OSError, EOFError, DBusFastError) as e:
            raise DaemonUnavailableError(f"the connection to the system bus was lost: {e}") from e
        if reply is None:
            raise DaemonUnavailableError("the connection to the system bus was lost")
        if reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise error_from_dbus(reply.error_name or "", text)
        return list(unpack_variants(reply.body))

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
    ) -> list[TransactionSummary]:
        """One page (see `all_transactions` for more than a page holds)."""
        opts = (tx_filter or TransactionFilter()).to_dbus()
        (rows,) = await self.call("ListTransactions", "a{sv}", [opts])
        return [_parse(TransactionSummary, r, "ListTransactions") for r in rows]

    async def all_transactions(
        self, tx_filter: TransactionFilter, at_most: int | None = None
    ) -> list[TransactionSummary]:
        """Page after page until `at_most` rows (None: every one the filter selects)."""
        found: list[TransactionSummary] = []
        while at_most is None or len(found) < at_most:
            want = MAX_TRANSACTION_PAGE if at_most is None else at_most - len(found)
            page = min(want, MAX_TRANSACTION_PAGE)
            after = (found[-1].cursor or found[-1].id) if found else None
            rows = await self.list_transactions(
                tx_filter.model_copy(update={"limit": page, "after": after})
            )
            found += rows
            if len(rows) < page:
                break
        return found

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

    # --- the bus itself ---

    async def add_match(self, rule: str) -> None:
        await self.call(
            "AddMatch", "s", [rule], path=DBUS_PATH, interface=DBUS_NAME, destination=DBUS_NAME
        )

    async def remove_match(self, rule: str) -> None:
        await self.call(
            "RemoveMatch", "s", [rule], path=DBUS_PATH, interface=DBUS_NAME, destination=DBUS_NAME
        )

    async def daemon_owner(self) -> str:
        """The unique bus name of zfsyncd now; DaemonUnavailableError if it is not on the bus."""
        try:
            (owner,) = await self.call(
                "GetNameOwner",
                "s",
                [BUS_NAME],
                path=DBUS_PATH,
                interface=DBUS_NAME,
                destination=DBUS_NAME,
            )
        except ClientError as e:
            raise DaemonUnavailableError(
                f"zfsyncd is not running ({BUS_NAME} is not on the system bus)"
            ) from e
        return str(owner)

    def watch(self, tx_id: str, *, poll_interval: float | None = 5.0) -> TransactionWatch:
        """Watch transaction `tx_id` (see TransactionWatch)."""
        return TransactionWatch(self, tx_id, poll_interval=poll_interval)
