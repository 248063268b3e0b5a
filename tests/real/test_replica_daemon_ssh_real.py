"""Replication through the whole service over real ssh: zfsyncd (backend "cli") on a
private system bus with polkitd (tests/system's harness), its configuration naming
`[hosts.loop]` (the guest's own sshd on 127.0.0.1, tests/real/ssh.py), driven by zfsyncctl
as an administrator would: `replica init SRC loop:DST`, `replica sync`, `replica status
--json`; each result checked with the zfs command itself, not through the daemon. Then the
ssh connection of a sync is cut in the middle of its stream (the far sshd session killed,
as test_ssh_transport_real does): the same `replica sync` resumes it from the token and
completes.

One test: every zfsyncctl call is a Python start and every far command an ssh login, each
seconds under TCG.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.real.realzfs import write_file, zfs_cli
from tests.real.ssh import HOST, config_text, lab_ssh_dir
from tests.real.test_replication_real import BASE_HOLD, _release_all, holds, snapshots
from tests.real.test_ssh_transport_real import _receive_and_its_sshd
from tests.system.conftest import system_bus  # noqa: F401 - the fixture, shared
from tests.system.daemon import Daemon, start_daemon
from tests.system.harness import SystemBus

#: bytes the far receive must have read before its connection is cut (a cut before any
#: data arrived leaves no state to resume)
CUT_AFTER = 4 << 20


@pytest.fixture
async def daemon(
    system_bus: SystemBus,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Daemon]:
    started = await start_daemon(
        system_bus, tmp_path, backend="cli", memory_pools=[], tables=config_text(lab_ssh_dir()),
        start_timeout=180.0,  # a Python start under TCG, with another guest on the machine
    )  # fmt: skip
    yield started
    assert started.proc.poll() is None, started.log()
    assert system_bus.stop(started.proc) == 0, started.log()


def _get(dataset: str, prop: str) -> str:
    return zfs_cli("zfs", "get", "-H", "-o", "value", prop, dataset).strip()


def _read_bytes(pid: int) -> int:
    """What the process has read so far (`rchar` of /proc/PID/io): a receive's stream."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


def _cut_when_moving(target: str, deadline: float) -> None:
    """Once the far `zfs receive` of `target` has read CUT_AFTER bytes, SIGKILL the sshd
    session serving it: the connection dies on the far side, the client sees it closed."""
    while True:
        assert time.monotonic() < deadline, f"no receive of {target} moved {CUT_AFTER} bytes"
        try:
            receive, sshd = _receive_and_its_sshd(target)
            if _read_bytes(receive) > CUT_AFTER:
                os.kill(sshd, signal.SIGKILL)
                return
        except (AssertionError, OSError):
            pass  # not started yet, or gone between the look and the read
        time.sleep(0.2)


@pytest.mark.timeout(900)
def test_replica_init_sync_status_and_a_cut_stream_through_the_daemon_over_ssh(
    daemon: Daemon, root: str, loop_root: str
) -> None:
    src, dst = f"{root}/src", f"{loop_root}/dst"
    zfs_cli("zfs", "create", "-o", "compression=off", "-o", "atime=off", src)
    write_file(src, "one", 1)
    try:
        init = daemon.ctl("replica", "init", src, f"{HOST}:{dst}", timeout=600)
        assert init.returncode == 0, init.stderr
        [first] = snapshots(src)
        assert snapshots(dst) == snapshots(src)
        assert (_get(dst, "readonly"), _get(dst, "zfsync:role")) == ("on", "destination")
        assert _get(dst, "zfsync:peer") == f"local:{src}"
        assert _get(src, "zfsync:peer") == f"{HOST}:{dst}"

        write_file(src, "two", 1)
        sync = daemon.ctl("replica", "sync", src, timeout=600)
        assert sync.returncode == 0, sync.stderr
        [_, second] = snapshots(src)
        assert list(snapshots(dst)) == [first, second]
        assert snapshots(dst) == snapshots(src)
        assert holds(f"{src}@{second}") == holds(f"{dst}@{second}") == [BASE_HOLD]
        assert holds(f"{dst}@{first}") == []

        # zloop is a pool of this machine too: its side is listed as a row of its own
        [row] = [r for r in daemon.ctl_json("replica", "status", src) if r["dataset"] == src]
        assert row["role"] == "source"
        assert (row["source"], row["destination"]) == (f"local:{src}", f"{HOST}:{dst}")
        assert (row["last_sent"], row["lag_bytes"], row["unsent"]) == (f"{src}@{second}", 0, 0)
        assert (row["paused"], row["resume_token"], row["error"]) == (False, False, "")

        # the connection drops in the middle of the stream: the sync resumes it (`send -t`)
        write_file(src, "big", 48)
        proc, log = daemon.ctl_spawn("replica", "sync", src)
        try:
            _cut_when_moving(dst, time.monotonic() + 600)
            assert proc.wait(timeout=900) == 0, log.read_text(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
        [_, _, third] = snapshots(src)
        assert snapshots(dst) == snapshots(src)
        assert _get(dst, "receive_resume_token") == "-"
        assert holds(f"{dst}@{third}") == [BASE_HOLD]
        [row] = [r for r in daemon.ctl_json("replica", "status", src) if r["dataset"] == src]
        assert (row["last_sent"], row["resume_token"]) == (f"{src}@{third}", False)
        # the cut one was resumed inside its own transaction (its step tried again), not
        # failed and done anew
        syncs = daemon.rows(
            "SELECT state FROM transactions WHERE type = 'replica-sync' ORDER BY created_at"
        )
        assert syncs == [("COMPLETED",), ("COMPLETED",)]
        assert "trying again" in daemon.log()
    finally:
        _release_all(root)
        _release_all(loop_root)
