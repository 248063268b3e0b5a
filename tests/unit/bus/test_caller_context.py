"""The caller's message reaches an async method handler through the ContextVar, each
handler its own, however many calls are in flight (DESIGN.md: keep a test on it)."""

from __future__ import annotations

import asyncio

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDouble, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method

from zfsyncd.bus.caller import current_call, remember_call


class Echo(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.zfsync.Test")

    @dbus_method()
    async def WhoAmI(self, delay: DBusDouble) -> DBusStr:
        await asyncio.sleep(delay)  # later calls arrive and set the variable meanwhile
        return current_call().sender or ""


async def _call(bus: MessageBus, service: str, delay: float) -> str:
    reply = await bus.call(
        Message(
            destination=service,
            path="/test",
            interface="org.zfsync.Test",
            member="WhoAmI",
            signature="d",
            body=[delay],
        )
    )
    assert reply is not None
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return str(reply.body[0])


async def test_each_handler_sees_its_own_caller(private_bus: str) -> None:
    server = await MessageBus(bus_address=private_bus).connect()
    server.add_message_handler(remember_call)
    server.export("/test", Echo())
    clients = [await MessageBus(bus_address=private_bus).connect() for _ in range(5)]
    try:
        assert server.unique_name
        # the first call waits longest, so every later call is handled while it waits
        answers = await asyncio.gather(
            *(_call(c, server.unique_name, 0.3 - 0.05 * i) for i, c in enumerate(clients))
        )
        assert answers == [c.unique_name for c in clients]
    finally:
        for bus in [server, *clients]:
            bus.disconnect()
