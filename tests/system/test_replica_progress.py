"""Per-stream progress from the real daemon: a replica sync of two datasets (one stream at
a time), each held at its `zfs send` by the memory model's gate, is seen running on its own
in a StreamProgress signal and the Streams property; the last StreamProgress before Finished
says no stream runs; Progress keeps its signature. Nothing here waits on a clock: the gate
holds the transfer while the test looks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

import zfsyncd.ops  # noqa: F401 - registers the kinds the daemon runs (the same code)
from tests.system.daemon import POOLS, Daemon, call, start_daemon
from tests.system.harness import SystemBus
from zfsyncd.api.names import BUS_NAME, TRANSACTION_IFACE

SOURCES = ("tank", "data")


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    started = await start_daemon(
        system_bus,
        tmp_path_factory.mktemp("daemon"),
        memory_delay=0.01,
        memory_pools=[*POOLS, "data"],
    )
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    assert system_bus.stop(started.proc) == 0, started.log()


class Signals:
    """Every signal of the transactions' interface, as (path, member, body)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        self.arrived = asyncio.Event()

    def __call__(self, msg: Message) -> bool:
        if msg.message_type is MessageType.SIGNAL and msg.interface == TRANSACTION_IFACE:
            self.seen.append((msg.path or "", msg.member or "", msg.body))
            self.arrived.set()
        return False

    def of(self, path: str, member: str) -> list[Any]:
        return [body for p, m, body in self.seen if p == path and m == member]

    async def until(self, path: str, member: str, wanted: Any) -> None:
        """Wait for a `member` signal of `path` whose body `wanted` accepts."""
        async with asyncio.timeout(60):
            while not any(wanted(b) for b in self.of(path, member)):
                self.arrived.clear()
                await self.arrived.wait()


async def _running_kind(client: MessageBus, tx_id: str) -> str:
    reply = await call(client, "GetTransaction", "s", [tx_id])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    steps = reply.body[0]["steps"].value
    return next((s["kind"].value for s in steps if s["state"].value == "RUNNING"), "")


async def _streams_property(client: MessageBus, path: str) -> Any:
    reply = await call(
        client, "Get", "ss", [TRANSACTION_IFACE, "Streams"], path=path,
        interface="org.freedesktop.DBus.Properties",
    )  # fmt: skip
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return reply.body[0].value


async def test_a_sync_of_two_datasets_shows_each_stream(daemon: Daemon, client: MessageBus) -> None:
    for source in SOURCES:
        done = daemon.ctl("replica", "init", source, f"backup/{source}")
        assert done.returncode == 0, done.stderr
    made = daemon.ctl("snapshot", "create", *SOURCES)  # something new to send
    assert made.returncode == 0, made.stderr

    signals = Signals()
    client.add_message_handler(signals)
    rule = f"type='signal',sender='{BUS_NAME}',interface='{TRANSACTION_IFACE}'"
    added = await client.call(
        Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule],
        )
    )  # fmt: skip
    assert added is not None
    assert added.message_type is MessageType.METHOD_RETURN, added.body
    # hold the next changing call, and those after it one by one until the transfer's
    daemon.gate.hold_after(0)
    reply = await call(
        client, "ReplicaSync", "asa{sv}", [list(SOURCES), {"parallel": Variant("u", 1)}]
    )
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    path: str = reply.body[0]
    tx_id = path.rsplit("/", 1)[1]

    held: list[str] = []
    try:
        for _ in range(40):
            await asyncio.to_thread(daemon.gate.wait_held)
            if await _running_kind(client, tx_id) == "send-receive-many":
                # held at a stream's `zfs send`: that stream, alone, is shown running
                await signals.until(
                    path, "StreamProgress", lambda b: len(b[0]) == 1 and b[0][0][0] not in held
                )
                ((name, done, *_),) = signals.of(path, "StreamProgress")[-1][0]
                assert done == 0  # held before its first byte, and shown all the same
                assert [row[0] for row in await _streams_property(client, path)] == [name]
                held.append(name)
                if len(held) == len(SOURCES):
                    break
            daemon.gate.hold_after(0)  # let the held call go, hold the next
    finally:
        daemon.gate.release()
    assert sorted(held) == sorted(SOURCES)  # each dataset's stream, on its own

    await signals.until(path, "Finished", lambda b: True)
    assert signals.of(path, "Finished")[-1] == ["COMPLETED", ""]
    assert signals.of(path, "StreamProgress")[-1] == [[]]  # none runs any more
    assert await _streams_property(client, path) == []
    order = [m for p, m, _ in signals.seen if p == path]
    assert order.index("Finished") == len(order) - 1
    assert signals.of(path, "Progress")  # the total, as ever
    assert all(len(b) == 5 for b in signals.of(path, "Progress"))
    client.remove_message_handler(signals)
