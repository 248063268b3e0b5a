"""`python -m zfsyncctl` as a process, as scripts run it: exit codes, one-line errors and no
tracebacks, also when zfsyncd or the whole bus goes away while it waits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.cli.daemon_double import DaemonDouble, Tx
from tests.unit.private_bus import PrivateBus

REPO = Path(__file__).resolve().parents[3]


def zfsyncctl(*argv: str, address: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "zfsyncctl", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_status_as_a_process(double: DaemonDouble) -> None:
    result = zfsyncctl("status", "--json", address=double.address)
    assert result.returncode == 0, result.stderr
    assert '"backend": "memory"' in result.stdout


def test_usage_error_as_a_process(double: DaemonDouble) -> None:
    result = zfsyncctl("snapshot", "create", "-o", "x=y", "tank", address=double.address)
    assert result.returncode == 2
    assert "Usage: zfsyncctl snapshot create" in result.stderr


def test_no_bus_as_a_process() -> None:
    result = zfsyncctl("status", address="unix:path=/nonexistent/zfsync-test.sock")
    assert result.returncode == 7
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_the_daemon_vanishing_mid_watch(double: DaemonDouble) -> None:
    async def crash(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.step_started(tx, 0, "zfs snapshot tank")
        d.progress(tx, 30.0, 3, 10, 1.0, 7.0)
        await asyncio.sleep(0.2)
        await d.vanish()

    double.script = crash
    result = zfsyncctl("snapshot", "create", "tank", address=double.address)
    assert result.returncode == 7, result.stderr
    assert "30%" in result.stderr  # it was watching
    last = result.stderr.splitlines()[-1]
    assert last.startswith("zfsyncctl: zfsyncd left the system bus while transaction tx0001")
    assert "Traceback" not in result.stderr


def test_the_bus_dying_mid_watch(tmp_path: Path) -> None:
    bus = PrivateBus(tmp_path / "bus")
    double = DaemonDouble(bus.address).start()
    try:

        async def hang(d: DaemonDouble, tx: Tx) -> None:
            await tx.watched.wait()
            d.progress(tx, 50.0, 5, 10, 1.0, 5.0)
            await asyncio.sleep(60)

        double.script = hang
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "zfsyncctl", "snapshot", "create", "tank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while not any(tx.watched.is_set() for tx in double.txs.values()):
            assert time.monotonic() < deadline, "zfsyncctl never watched"
            time.sleep(0.05)
        time.sleep(0.2)
        bus.stop(crash=True)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 7, stderr
        assert "lost the connection to the system bus" in stderr.splitlines()[-1]
        assert "Traceback" not in stderr
    finally:
        double.stop()
        bus.stop()


def test_ctrl_c_while_waiting_leaves_the_transaction_be(double: DaemonDouble) -> None:
    async def hang(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.progress(tx, 50.0, 5, 10, 1.0, 5.0)
        await asyncio.sleep(60)

    double.script = hang
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": double.address, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zfsyncctl", "snapshot", "create", "tank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    deadline = time.monotonic() + 20
    while not any(tx.watched.is_set() for tx in double.txs.values()):
        assert time.monotonic() < deadline, "zfsyncctl never watched"
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert stderr.splitlines()[-1] == (
        "zfsyncctl: stopped waiting; transaction tx0001 goes on "
        "(zfsyncctl transaction cancel tx0001 stops it)"
    )
    assert "Cancel" not in [c[0] for c in double.calls]
