"""A burst of signals larger than the socket buffer must not drop the connection.

Unguarded, dbus-fast treats EAGAIN from a full socket as fatal (DESIGN.md, known traps):
the same burst on this bus, unguarded, ends with the writer's future failed with
BlockingIOError and the connection closed (seen while writing this test; not kept as a test
because the dead connection's leftovers crash CPython 3.11's compiler at interpreter exit).
"""

from __future__ import annotations

import asyncio

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from zfsyncd.bus.connection import _guard, _NonFatalSocket

BURST = 20_000
PAYLOAD = "x" * 2048  # ~40 MB in all: far beyond any socket buffer


def _burst(bus: MessageBus, sent: list[asyncio.Future[None]]) -> None:
    """Queue the whole burst without yielding to the loop, as a tight progress loop would."""
    for i in range(BURST):
        sent.append(
            bus.send(Message.new_signal("/burst", "org.zfsync.Test", "Tick", "us", [i, PAYLOAD]))
        )


async def _still_connected(bus: MessageBus) -> bool:
    reply = await asyncio.wait_for(
        bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetId",
            )
        ),
        timeout=60,
    )
    return reply is not None and bool(reply.body)


async def test_the_guarded_connection_survives_a_burst(private_bus: str) -> None:
    bus = await MessageBus(bus_address=private_bus).connect()
    _guard(bus)
    sent: list[asyncio.Future[None]] = []
    try:
        _burst(bus, sent)
        assert await _still_connected(bus)
        assert bus.connected
        assert all(f.done() and f.exception() is None for f in sent)
    finally:
        bus.disconnect()


def test_a_send_that_would_block_sends_nothing_instead_of_raising() -> None:
    class Full:
        def send(self, data: memoryview) -> int:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        def fileno(self) -> int:
            return 7

    sock = _NonFatalSocket(Full())
    assert sock.send(memoryview(b"abc")) == 0
    assert sock.fileno() == 7  # type: ignore[operator]  # everything else passes through
