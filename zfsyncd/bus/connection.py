"""The daemon's bus connection, with a writer that survives a full socket.

dbus-fast's writer treats EAGAIN (the socket buffer is full: the daemon wrote faster than
dbus-daemon read) as a fatal error and drops the connection (DESIGN.md, "known traps").
Guarded, a send that would block sends nothing: the writer keeps the unsent rest of the
message queued and waits for the socket to become writable again, which is what a
non-blocking writer should do. Signals are
throttled as well (throttle.py), so the queue stays short.
"""

from __future__ import annotations

from dbus_fast import BusType
from dbus_fast.aio import MessageBus


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


async def connect(address: str | None = None) -> MessageBus:
    """The system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), or the bus at `address`."""
    bus = MessageBus(bus_address=address) if address else MessageBus(bus_type=BusType.SYSTEM)
    await bus.connect()
    _guard(bus)
    return bus
