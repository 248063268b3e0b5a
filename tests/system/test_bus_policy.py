"""dbus/org.zfsync.Daemon1.conf, as loaded into the private system bus: only root may own
org.zfsync.Daemon1. The probes are separate processes (tests/system/busprobe.py) so that
each runs as the user it is meant to be; test_bus_calls.py has who may call."""

from __future__ import annotations

import shutil

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from tests.system.busprobe import ACCESS_DENIED, ask
from tests.system.harness import (
    ACTIVATION_FILE,
    Processes,
    SystemBus,
    User,
    disconnect,
    make_bus_dir,
    remove_dir,
    start_bus,
)
from zfsyncd.api.names import BUS_NAME

ROOT = None  # SystemBus.run's user for "as root"


def test_root_may_own_the_name(system_bus: SystemBus) -> None:
    got = ask(system_bus, ROOT, "own", BUS_NAME)
    assert got["uid"] == 0
    assert got == {"uid": 0, "ok": "PRIMARY_OWNER"}


def test_nobody_may_not_own_the_name(system_bus: SystemBus, nobody: User) -> None:
    got = ask(system_bus, nobody, "own", BUS_NAME)
    # the bus itself saw nobody's uid: setpriv really switched
    assert got["uid"] == nobody.uid
    assert got.get("error") == ACCESS_DENIED, got


def test_nobody_may_own_no_similar_name(system_bus: SystemBus, nobody: User) -> None:
    # not just our name: the default policy (deny own="*") is in force on the private bus
    got = ask(system_bus, nobody, "own", "org.zfsync.Daemon2")
    assert got.get("error") == ACCESS_DENIED, got


async def test_dbus_daemon_reads_the_activation_file() -> None:
    """dbus-daemon itself parses dbus/org.zfsync.Daemon1.service (on a bus of its own: an
    activatable name on the shared bus would turn "daemon not running" into an activation
    attempt for every other test)."""
    directory = make_bus_dir()
    processes = Processes(directory)
    try:
        services = directory / "services"
        services.mkdir()
        # a system bus insists that the file is named after the Name= it declares
        shutil.copy(ACTIVATION_FILE, services / ACTIVATION_FILE.name)
        bus = start_bus(directory, processes, service_dir=services)
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            reply = await client.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="ListActivatableNames",
                )
            )
        finally:
            await disconnect(client)
        assert reply is not None
        assert BUS_NAME in reply.body[0]
    finally:
        processes.stop_all()
        remove_dir(directory)
