"""zfsyncd's D-Bus surface under load and misuse: introspection matches the shipped XML; bad
input refused by the daemon itself; a storm of calls and signals; clients that hang up
mid-call."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.introspection import Node

from tests.system.daemon import Daemon, call, start_daemon, write_config
from tests.system.harness import REPO, SystemBus, disconnect
from zfsyncd.api.names import (
    BUS_NAME,
    MANAGER_IFACE,
    MANAGER_PATH,
    TRANSACTION_IFACE,
    transaction_id,
)

XML = REPO / "dbus" / "org.zfsync.Daemon1.xml"


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    started = await start_daemon(system_bus, tmp_path_factory.mktemp("daemon"), memory_delay=0.02)
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    system_bus.stop(started.proc)


def _shape(node: Node, interface: str) -> dict[str, object]:
    """What a client depends on: members, in-argument names, every argument's type, and
    the properties' access. (dbus-fast names no out-argument or signal argument, so for
    those the types are compared.)"""
    (iface,) = [i for i in node.interfaces if i.name == interface]
    return {
        "methods": {
            m.name: (
                [(a.name, a.signature) for a in m.in_args],
                [a.signature for a in m.out_args],
            )
            for m in iface.methods
        },
        "signals": {s.name: [a.signature for a in s.args] for s in iface.signals},
        "properties": {p.name: (p.signature, p.access.value) for p in iface.properties},
    }


async def _introspect(bus: MessageBus, path: str) -> Node:
    reply = await call(
        bus, "Introspect", path=path, interface="org.freedesktop.DBus.Introspectable"
    )
    return Node.parse(reply.body[0])


async def test_introspection_matches_the_shipped_xml(daemon: Daemon, client: MessageBus) -> None:
    shipped = Node.parse(XML.read_text())
    live = await _introspect(client, MANAGER_PATH)
    assert _shape(live, MANAGER_IFACE) == _shape(shipped, MANAGER_IFACE)
    reply = await call(client, "Snapshot", "asa{sv}", [["tank"], {}])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    tx = await _introspect(client, reply.body[0])
    assert _shape(tx, TRANSACTION_IFACE) == _shape(shipped, TRANSACTION_IFACE)


async def test_the_daemon_refuses_bad_input_itself(daemon: Daemon, client: MessageBus) -> None:
    """Not only zfsyncctl checks: a client that sends anything gets a named error."""
    cases: list[tuple[str, str, list[object], str, str]] = [
        ("Snapshot", "asa{sv}", [["tank/a*b"], {}], "InvalidArgument", "tank/a*b"),
        ("Snapshot", "asa{sv}", [["tank"], {"recursive": Variant("s", "yes")}],
         "InvalidArgument", "must be of D-Bus type b"),
        ("Snapshot", "asa{sv}", [[], {}], "InvalidArgument", "datasets"),
        ("GetTransaction", "s", ["../etc"], "NotFound", "no transaction"),
        ("Cleanup", "d", [-1.0], "InvalidArgument", "older_than"),
        ("ListTransactions", "a{sv}", [{"states": Variant("as", ["DONE"])}],
         "InvalidArgument", "unknown state 'DONE'"),
    ]  # fmt: skip
    for member, signature, body, error, text in cases:
        reply = await call(client, member, signature, body)
        assert reply.message_type is MessageType.ERROR, (member, body)
        assert reply.error_name == f"org.zfsync.Error.{error}", (member, reply.error_name)
        assert text in reply.body[0], (member, reply.body)


async def test_a_storm_of_calls_and_signals(daemon: Daemon, client: MessageBus) -> None:
    """Thirty transactions on one dataset at once (they queue on its lock) while a watcher
    counts every signal and other callers read: all complete, nothing is dropped."""
    finished: list[str] = []
    changed = asyncio.Event()

    def on_message(msg: Message) -> bool:
        if msg.member == "TransactionFinished" and msg.interface == MANAGER_IFACE:
            finished.append(msg.body[0])
            changed.set()
        return False

    client.add_message_handler(on_message)
    await _call_dbus(client, "AddMatch", f"type='signal',sender='{BUS_NAME}'")
    calls = [call(client, "Snapshot", "asa{sv}", [["backup"], {}]) for _ in range(30)]
    # 120 in flight: below the bus's limit of 128 pending replies per connection
    reads = [call(client, "ListTransactions", "a{sv}", [{}]) for _ in range(90)]
    replies = await asyncio.gather(*calls, *reads)
    assert all(r.message_type is MessageType.METHOD_RETURN for r in replies), [
        r.body for r in replies if r.message_type is not MessageType.METHOD_RETURN
    ]
    started = {transaction_id(r.body[0]) for r in replies[:30]}

    async def all_finished() -> None:
        while not started <= set(finished):
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(all_finished(), timeout=120)
    assert len(finished) == len(set(finished))  # each Finished exactly once
    for tx_id in started:
        details = await call(client, "GetTransaction", "s", [tx_id])
        assert details.body[0]["state"].value == "COMPLETED"
    client.remove_message_handler(on_message)


async def _call_dbus(bus: MessageBus, member: str, arg: str) -> None:
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member=member,
            signature="s",
            body=[arg],
        )
    )
    assert reply is not None
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body


async def test_a_client_that_hangs_up_midcall(daemon: Daemon, system_bus: SystemBus) -> None:
    """Callers that are gone before their reply: depending on how far the daemon got, the
    call is refused (a caller that left cannot be authorized: fail closed) or its
    transaction runs to its end. Either way the daemon goes on serving others, and nothing
    is left half-done."""
    polite = await MessageBus(bus_address=system_bus.address).connect()
    try:
        before = await call(polite, "ListTransactions", "a{sv}", [{"limit": Variant("u", 0)}])
        for _ in range(20):
            rude = await MessageBus(bus_address=system_bus.address).connect()
            rude.send(
                Message(
                    destination=BUS_NAME,
                    path=MANAGER_PATH,
                    interface=MANAGER_IFACE,
                    member="Snapshot",
                    signature="asa{sv}",
                    body=[["tank"], {}],
                )
            )
            await asyncio.sleep(0.01 * _)  # hang up at a different moment each time
            rude.disconnect()
        for _ in range(1200):  # a minute at most: a loaded machine may take that long
            reply = await call(
                polite, "ListTransactions", "a{sv}", [{"active": Variant("b", True)}]
            )
            if not reply.body[0]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("transactions of the callers that hung up never ended")
        after = await call(polite, "ListTransactions", "a{sv}", [{"limit": Variant("u", 0)}])
        new = [t for t in after.body[0] if t not in before.body[0]]
        assert all(t["state"].value == "COMPLETED" for t in new), new
        assert (await call(polite, "GetStatus")).message_type is MessageType.METHOD_RETURN
        assert "Traceback" not in daemon.log()
    finally:
        await disconnect(polite)


async def test_a_second_daemon_refuses_to_start(
    daemon: Daemon, system_bus: SystemBus, tmp_path: Path
) -> None:
    """Same database: it must not even recover (it would undo the running one's work).
    Another database but the name taken: it says so and stops."""

    def second(config: Path) -> subprocess.CompletedProcess[str]:
        return system_bus.run([sys.executable, "-m", "zfsyncd", "--config", str(config)])

    same = second(daemon.config)
    assert same.returncode == 1
    assert f"another zfsyncd is using {daemon.database}" in same.stderr
    other = write_config(tmp_path / "other")
    taken = second(other)
    assert taken.returncode == 1
    assert "org.zfsync.Daemon1 is owned by another process" in taken.stderr
    assert daemon.proc.poll() is None  # the first one serves on, undisturbed
