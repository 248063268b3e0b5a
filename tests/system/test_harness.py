"""The harness itself: what it promises the other system tests (nothing left running, a
clear error when a service dies before it owns its name, a clean environment for another
user)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.system.harness import SystemBus, User, group_members, read_line

# A parent that starts a child and then waits: the child is what a careless teardown
# would leave behind (as a daemon's zfs send would be).
PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', 'infinity'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(3600)\n"
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False


def test_stop_leaves_no_child_behind(system_bus: SystemBus, nobody: User) -> None:
    proc = system_bus.spawn([sys.executable, "-c", PARENT], user=nobody, stdout_pipe=True)
    assert proc.stdout is not None
    child = int(read_line(proc.stdout, 30))
    assert alive(child)
    system_bus.stop(proc, timeout=5)
    # stop() returns only once the whole group is gone, so no waiting here
    assert not alive(proc.pid)
    assert not alive(child)
    assert group_members(proc.pid) == []


async def test_start_service_reports_a_service_that_dies(system_bus: SystemBus) -> None:
    with pytest.raises(RuntimeError, match="exited"):
        await system_bus.start_service(["false"], "org.zfsync.NeverThere", timeout=10)


def test_another_user_gets_a_clean_environment(system_bus: SystemBus, nobody: User) -> None:
    os.environ["ZFSYNC_HARNESS_SECRET"] = "root's"  # what must not leak
    try:
        done = system_bus.run(["env"], user=nobody)
    finally:
        del os.environ["ZFSYNC_HARNESS_SECRET"]
    env = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert env["DBUS_SYSTEM_BUS_ADDRESS"] == system_bus.address
    assert env["HOME"] == nobody.home
    assert env["USER"] == "nobody"
    assert "ZFSYNC_HARNESS_SECRET" not in env
    done = system_bus.run(["id", "-u"], user=nobody)
    assert done.stdout.strip() == str(nobody.uid)
