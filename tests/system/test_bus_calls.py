"""dbus/org.zfsync.Daemon1.conf, as loaded into the private system bus: anyone may call the
daemon's interfaces and the standard ones, and an interface the file does not name stays
closed, against a root-owned stand-in for the daemon (tests/system/busprobe.py serve)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from tests.system.busprobe import ACCESS_DENIED, PROBE_IFACE, ask
from tests.system.harness import SystemBus, User
from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH


@pytest.fixture(scope="module")
async def probe_service(system_bus: SystemBus) -> AsyncIterator[None]:
    """A root-owned stand-in for the daemon: org.zfsync.Daemon1 exporting Ping on the
    Manager interface and on an interface our policy does not name."""
    proc = await system_bus.start_service(
        [sys.executable, "-m", "tests.system.busprobe", "serve", BUS_NAME],
        BUS_NAME,
        name="busprobe-serve",
    )
    yield
    assert proc.poll() is None, "the probe service died during the tests"
    system_bus.stop(proc)


@pytest.mark.usefixtures("probe_service")
@pytest.mark.parametrize(
    ("interface", "member"),
    [
        (MANAGER_IFACE, "Ping"),
        ("org.freedesktop.DBus.Introspectable", "Introspect"),
        ("org.freedesktop.DBus.Peer", "Ping"),
    ],
)
def test_nobody_may_call(system_bus: SystemBus, nobody: User, interface: str, member: str) -> None:
    got = ask(system_bus, nobody, "call", BUS_NAME, MANAGER_PATH, interface, member)
    assert got["uid"] == nobody.uid
    assert "error" not in got, got
    if interface == MANAGER_IFACE:
        assert got["ok"] == ["pong"]


@pytest.mark.usefixtures("probe_service")
def test_nobody_may_read_properties(system_bus: SystemBus, nobody: User) -> None:
    # GetAll takes an argument; the probe sends none, so the service answers with an error
    # of its own: what matters is that the bus let the call through (no AccessDenied)
    got = ask(
        system_bus,
        nobody,
        "call",
        BUS_NAME,
        MANAGER_PATH,
        "org.freedesktop.DBus.Properties",
        "GetAll",
    )
    assert got.get("error") != ACCESS_DENIED, got


@pytest.mark.usefixtures("probe_service")
def test_an_interface_the_policy_does_not_name_is_closed(
    system_bus: SystemBus, nobody: User
) -> None:
    got = ask(system_bus, nobody, "call", BUS_NAME, MANAGER_PATH, PROBE_IFACE, "Ping")
    assert got["error"] == ACCESS_DENIED, got
