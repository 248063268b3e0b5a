"""A failure to ask polkit is Busy (try again), never NotAuthorized; a refusal stays one."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import Action, ErrorName
from zfsyncd.bus.errors import BusCallError
from zfsyncd.bus.polkit import Polkit


class FakeBus:
    """Answers CheckAuthorization with `reply`, after `gate` opens."""

    def __init__(self, reply: Message | None) -> None:
        self.reply = reply
        self.gate = asyncio.Event()
        self.gate.set()
        self.asked = 0

    async def call(self, msg: Message) -> Message | None:
        self.asked += 1
        await self.gate.wait()
        return self.reply


def _answer(authorized: bool) -> Message:
    return Message(
        message_type=MessageType.METHOD_RETURN,
        reply_serial=1,
        signature="(bba{ss})",
        body=[[authorized, False, {}]],
    )


def _polkit(bus: FakeBus, **kw: Any) -> Polkit:
    return Polkit(cast(MessageBus, bus), **kw)


async def test_an_error_reply_is_busy_not_a_refusal() -> None:
    limits = Message.new_error(
        Message(destination="org.x.Y", path="/x", member="y", serial=1),
        "org.freedesktop.DBus.Error.LimitsExceeded",
        "too many pending replies",
    )
    with pytest.raises(BusCallError) as raised:
        await _polkit(FakeBus(limits)).check(":1.5", 0, Action.SNAPSHOT, interactive=False)
    assert raised.value.type == ErrorName.BUSY
    assert "cannot ask polkit now whether uid 0 may take or destroy snapshots" in raised.value.text
    assert "try again" in raised.value.text


async def test_a_refusal_is_not_authorized_and_a_yes_returns() -> None:
    with pytest.raises(BusCallError) as raised:
        await _polkit(FakeBus(_answer(False))).check(":1.5", 65534, Action.SNAPSHOT,
                                                     interactive=False)  # fmt: skip
    assert raised.value.type == ErrorName.NOT_AUTHORIZED
    await _polkit(FakeBus(_answer(True))).check(":1.5", 0, Action.READ, interactive=False)


async def test_one_uid_flooding_is_busy_beyond_its_bound_while_another_uid_is_asked() -> None:
    bus = FakeBus(_answer(True))
    bus.gate.clear()
    polkit = _polkit(bus, slots=2, max_waiting_per_uid=3)
    flood = [
        asyncio.create_task(polkit.check(":1.9", 65534, Action.READ, interactive=False))
        for _ in range(5)  # 2 asked, 3 waiting
    ]
    await asyncio.sleep(0)
    with pytest.raises(BusCallError) as raised:
        await polkit.check(":1.9", 65534, Action.READ, interactive=False)
    assert raised.value.type == ErrorName.BUSY
    assert "too many calls of uid 65534" in raised.value.text
    root = asyncio.create_task(polkit.check(":1.2", 0, Action.SNAPSHOT, interactive=False))
    await asyncio.sleep(0)
    bus.gate.set()
    await asyncio.gather(root, *flood)
    assert bus.asked == 6
