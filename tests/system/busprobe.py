"""A tiny dbus-fast client and service for the bus policy tests, run as a subprocess (as root
or, through setpriv, as another user) on the bus in DBUS_SYSTEM_BUS_ADDRESS.

    python -m tests.system.busprobe own NAME
    python -m tests.system.busprobe call NAME PATH INTERFACE MEMBER
    python -m tests.system.busprobe serve NAME     (prints "ready", runs until SIGTERM)

`own` and `call` print one JSON object: {"uid": <the caller's uid as the bus sees it>,
"ok": <reply code or body>} or {"uid": ..., "error": <D-Bus error name>, "text": ...}, and
exit 0 either way: the tests judge the answer; any other exit means the probe broke.
`serve` exports the same `Ping` method on the Manager interface, which our bus policy
opens to everyone, and on PROBE_IFACE, which it does not name.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from dbus_fast import BusType, DBusError, Message, MessageType, NameFlag
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr
from dbus_fast.service import ServiceInterface, method

from tests.system.harness import SystemBus, User, disconnect
from zfsyncd.api.names import MANAGER_IFACE, MANAGER_PATH

PROBE_IFACE = "org.zfsync.Daemon1.Probe"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"


def ask(system_bus: SystemBus, user: User | None, *args: str) -> dict[str, Any]:
    """Run the probe (`own` or `call`) as `user` (None: root) and return its answer."""
    done = system_bus.run([sys.executable, "-m", "tests.system.busprobe", *args], user=user)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


class _Ping(ServiceInterface):
    @method()
    def Ping(self) -> DBusStr:
        return "pong"


async def _connect() -> MessageBus:
    # BusType.SYSTEM honours DBUS_SYSTEM_BUS_ADDRESS, as the daemon and zfsyncctl do
    return await MessageBus(bus_type=BusType.SYSTEM).connect()


async def _uid(bus: MessageBus) -> int:
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="GetConnectionUnixUser",
            signature="s",
            body=[bus.unique_name],
        )
    )
    assert reply is not None
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    uid: int = reply.body[0]
    return uid


async def _own(name: str) -> dict[str, Any]:
    bus = await _connect()
    try:
        result: dict[str, Any] = {"uid": await _uid(bus)}
        try:
            reply = await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
            result["ok"] = reply.name
        except DBusError as e:
            result.update(error=e.type, text=e.text)
        return result
    finally:
        await disconnect(bus)


async def _call(name: str, path: str, interface: str, member: str) -> dict[str, Any]:
    bus = await _connect()
    try:
        result: dict[str, Any] = {"uid": await _uid(bus)}
        reply = await bus.call(
            Message(destination=name, path=path, interface=interface, member=member)
        )
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            result.update(error=reply.error_name, text=reply.body[0] if reply.body else "")
        else:
            # Introspect returns a page of XML: that it arrived is all the tests ask
            result["ok"] = [
                "<xml>" if isinstance(b, str) and b.startswith("<!DOCTYPE") else b
                for b in reply.body
            ]
        return result
    finally:
        await disconnect(bus)


async def _serve(name: str) -> None:
    bus = await _connect()
    ping = _Ping(MANAGER_IFACE)
    probe = _Ping(PROBE_IFACE)
    bus.export(MANAGER_PATH, ping)
    bus.export(MANAGER_PATH, probe)
    await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await disconnect(bus)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "own":
        print(json.dumps(asyncio.run(_own(argv[1]))))
    elif len(argv) == 5 and argv[0] == "call":
        print(json.dumps(asyncio.run(_call(*argv[1:]))))
    elif len(argv) == 2 and argv[0] == "serve":
        asyncio.run(_serve(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # the bus address must come from the environment, as for the real clients
    assert "DBUS_SYSTEM_BUS_ADDRESS" in os.environ, "run under the private bus"
    sys.exit(main(sys.argv[1:]))
