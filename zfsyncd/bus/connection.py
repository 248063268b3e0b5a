"""The daemon's bus connection, with a writer that survives a full socket.

dbus-fast's writer treats EAGAIN (the socket buffer is full: the daemon wrote faster than
dbus-daemon read) as a fatal error and drops the connection (DESIGN.md, "known traps").
Guarded, a send that would block sends nothing: the writer keeps the unsent rest of the
message queued and waits for the socket to become writable again, which is what a
non-blocking writer should do. Signals are
throttled as well (throttle.py), so the queue stays short.
"""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from zfsyncd.api.limits import REPLY_MAX_BYTES
from zfsyncd.api.names import ErrorName

log = logging.getLogger(__name__)


def _guard(bus: MessageBus) -> None:
    """Give the connected bus's writer a socket whose send never raises EAGAIN."""
    writer = bus._writer
    if writer is None:  # not connected
        raise RuntimeError("the bus is not connected")
    writer.sock = _NonFatalSocket(writer.sock)  # type: ignore[assignment]  # duck-typed


class _NonFatalSocket:
    """Wraps the bus socket: a send that would block sends nothing instead of raising, so
    the writer keeps the message and waits for the socket to be writable."""

    def __init__(self, sock: object) -> None:
        self._sock = sock

    def send(self, data: memoryview) -> int:
        try:
            return int(self._sock.send(data))  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return 0

    def sendmsg(self, *args: object) -> int:
        try:
            return int(self._sock.sendmsg(*args))  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class GuardedBus(MessageBus):
    """A MessageBus whose replies never cost it its connection.

    - A reply larger than REPLY_MAX_BYTES (zfsyncd/api/limits.py) is not sent: the caller
      gets org.zfsync.Error.Refused saying so (a signal that large is not sent at all).
      dbus-daemon drops a connection that sends a message over its limit (32 MiB by
      default), which would end the daemon for every caller. The bounds of the API keep
      every reply under it; this is the guard.
    - What a send fails with (the connection was lost) is not logged: the daemon reports a
      lost connection once, in one line (daemon.py), where dbus-fast's reply and signal
      futures, never awaited, would each log "Future exception was never retrieved"."""

    def send(self, msg: Message) -> asyncio.Future[None]:  # type: ignore[override]
        # dbus-fast's own send, with a future whose failure is never logged: the writer
        # sets it (the socket is gone) even when the send itself then raises
        future = _QuietFuture(loop=self._loop)
        writer = self._writer
        if writer is None:
            raise RuntimeError("the bus is not connected")
        if not msg.serial:
            msg.serial = self.next_serial()
        if msg.message_type is MessageType.METHOD_CALL:  # ours to polkit are small
            writer.schedule_write(msg, future)
            return future
        # marshalled once, before the serial could change: the bytes measured are the
        # bytes sent (a reply of a page of rows is tens of kB)
        marshalled = _Marshalled(msg, writer.negotiate_unix_fd)
        if len(marshalled.data) <= REPLY_MAX_BYTES:
            writer.schedule_write(marshalled, future)  # type: ignore[arg-type]  # duck-typed
            return future
        instead = _instead_of(msg, len(marshalled.data))
        if instead is None:
            future.set_result(None)
            return future
        instead.serial = msg.serial  # the one it was given: it is never sent
        writer.schedule_write(instead, future)
        return future


class _Marshalled:
    """A message marshalled once, as dbus-fast's writer takes it: the writer's
    buffer_message asks a message for `_marshall(negotiate_unix_fd)` and `unix_fds`."""

    __slots__ = ("data", "unix_fds")

    def __init__(self, msg: Message, negotiate_unix_fd: bool) -> None:
        self.data = msg._marshall(negotiate_unix_fd)
        self.unix_fds = msg.unix_fds

    def _marshall(self, negotiate_unix_fd: bool) -> bytearray:
        return self.data


class _QuietFuture(asyncio.Future[None]):
    """A send's future: its failure is for whoever awaits it, and is not logged as "never
    retrieved" when nobody does (replies and signals are sent and not awaited)."""

    def set_exception(self, exception: type | BaseException) -> None:
        super().set_exception(exception)
        self._log_traceback = False


def _instead_of(reply: Message, size: int) -> Message | None:
    """What is sent instead of `reply`, `size` bytes, too large: a short error for a reply
    (method return or error), nothing for a signal."""
    what = reply.member or reply.error_name or "reply"
    log.error("a message (%s) of %d bytes to %s was not sent (over %d)", what, size,
              reply.destination or "every listener", REPLY_MAX_BYTES)  # fmt: skip
    if reply.message_type is MessageType.SIGNAL:
        return None  # better not sent than costing the connection: properties stay current
    return Message(
        message_type=MessageType.ERROR,
        reply_serial=reply.reply_serial,
        destination=reply.destination,
        error_name=ErrorName.REFUSED,
        signature="s",
        body=[
            f"the reply would be {size} bytes, over the {REPLY_MAX_BYTES} a reply may take: "
            "ask for less (a smaller limit, fewer names)"
        ],
    )


async def connect(address: str | None = None) -> MessageBus:
    """The system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), or the bus at `address`."""
    bus = GuardedBus(bus_address=address) if address else GuardedBus(bus_type=BusType.SYSTEM)
    await bus.connect()
    _guard(bus)
    return bus
