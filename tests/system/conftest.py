"""Fixtures of the system tier (see tests/system/harness.py for what each piece does).

    system_bus      session: SystemBus, a private system bus with a real polkitd on it
    nobody          session: User `nobody`
    zfsync_admin    session: User `zfsync-test-admin`, member of group `zfsync-admin`
    user_process    a factory: user_process(user) -> pid of a process of that user, for
                    polkit's --process; stopped when the test ends

A rules file for the length of a block (installed in /etc/polkit-1/rules.d, loaded by
polkitd before the block runs; removed and unloaded after it):

    async with polkit_rules(system_bus, ADMIN_RULES): ...

A daemon under the bus, as root, ready once it owns its name; stopped like systemd would:

    proc = await system_bus.start_service([sys.executable, "-m", "zfsyncd", "--config", cfg],
                                          BUS_NAME)
    ...
    system_bus.stop(proc)        # or leave it: the session stops whatever it started

A command as another user, with the bus address and a clean environment of that user's:

    done = system_bus.run([sys.executable, "-m", "zfsyncctl", "status"], user=nobody)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from dbus_fast.aio import MessageBus

from tests.system.harness import (
    REPO,
    Processes,
    SystemBus,
    User,
    disconnect,
    ensure_user,
    make_bus_dir,
    remove_dir,
    start_bus,
    start_polkitd,
    wait_until_running_as,
)

ADMIN_GROUP = "zfsync-admin"
ADMIN_USER = "zfsync-test-admin"


@pytest.fixture(scope="session")
async def system_bus() -> AsyncIterator[SystemBus]:
    if os.geteuid() != 0:
        # a failure, not a skip: a tier that skips has tested nothing (junit-summary.py)
        pytest.fail("the system tier runs as root (polkitd, users, setpriv)")
    directory = make_bus_dir()
    processes = Processes(directory)
    try:
        bus = start_bus(directory, processes)
        await start_polkitd(bus)
        yield bus
    finally:
        processes.stop_all()
        remove_dir(directory)


@pytest.fixture(scope="session")
def nobody(system_bus: SystemBus) -> User:
    user = User.lookup("nobody")
    # The tests run this interpreter and the repository's modules as nobody: a checkout or
    # a python under a directory closed to others (/root is 0700 on Debian) cannot work.
    done = system_bus.run([sys.executable, "-c", "import tests.system.busprobe"], user=user)
    if done.returncode != 0:
        pytest.fail(
            f"nobody cannot run {sys.executable} on {REPO} (each directory on the way must be "
            f"open to others; PYTHON=/usr/bin/python3 for the venv helps):\n{done.stderr}"
        )
    return user


@pytest.fixture(scope="session")
def zfsync_admin() -> User:
    """Created if missing and left in place: harmless, and the next run finds it ready."""
    return ensure_user(ADMIN_USER, groups=[ADMIN_GROUP])


@pytest.fixture
def user_process(system_bus: SystemBus) -> Iterator[Callable[[User], int]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(user: User) -> int:
        # a process that only exists to be asked about; `sleep` needs nothing of the user
        proc = system_bus.spawn(["sleep", "infinity"], user=user, name=f"sleep-{user.name}")
        started.append(proc)
        wait_until_running_as(proc.pid, user, "sleep")
        return proc.pid

    yield start
    for proc in started:
        system_bus.stop(proc)


@pytest.fixture
async def client(system_bus: SystemBus) -> AsyncIterator[MessageBus]:
    """A connection of the test's own to the private system bus (as root)."""
    bus = await MessageBus(bus_address=system_bus.address).connect()
    yield bus
    await disconnect(bus)
