"""dbus/org.zfsync.Daemon1.conf, as loaded into the private system bus: only root may own
org.zfsync.Daemon1. The probes are separate processes (tests/system/busprobe.py) so that
each runs as the user it is meant to be; test_bus_calls.py has who may call."""

from __future__ import annotations

from tests.system.busprobe import ACCESS_DENIED, ask
from tests.system.harness import SystemBus, User
from zfsyncd.bus.names import BUS_NAME

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
