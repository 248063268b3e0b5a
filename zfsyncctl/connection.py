"""One connection to zfsyncd over the system bus (dbus-fast): connect, call a method with
its reply's variants unpacked and its D-Bus errors raised as typed errors (errors.py), and
the bus's own methods a watch needs. No pydantic: `zfsyncctl transaction list` runs on this
alone (listing.py); client.py's ZfsyncClient adds the Manager's methods, typed.

Calls to the daemon carry ALLOW_INTERACTIVE_AUTHORIZATION when `interactive` (zfsyncctl sets
it when stdin is a terminal and --no-ask-password was not given), so polkit may ask for a
password through the session's agent instead of saying no at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from dbus_fast import (
    BusType,
    DBusError,
    DBusFastError,
    Message,
    MessageFlag,
    MessageType,
    unpack_variants,
)
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH

from .errors import ClientError, DaemonUnavailableError, error_from_dbus

DEFAULT_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"


class Connection:
    """One bus connection to zfsyncd."""

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
    async def connect(cls, *, interactive: bool = False, bus_address: str | None = None) -> Self:
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
