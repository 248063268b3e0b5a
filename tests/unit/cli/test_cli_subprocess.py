"""`python -m zfsyncctl` as a process, as scripts run it: exit codes, one-line errors and no
tracebacks, also when zfsyncd or the whole bus goes away while it waits."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import threading
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


# A process started in the background by a non-interactive shell (`cmd &`, nohup, as
# tests/stress-host.sh may be run) inherits SIGINT ignored, and Python then installs no
# KeyboardInterrupt handler: the Ctrl-C test would wait forever. The child gets Python's own
# handler back first, as a terminal's foreground process has it.
_AS_IN_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('zfsyncctl', run_name='__main__', alter_sys=True)"
)


def spawn(*argv: str, address: str) -> subprocess.Popen[bytes]:
    """zfsyncctl as a running process (SIGINT as in a terminal), its stderr to be read
    while it runs."""
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _AS_IN_A_TERMINAL, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )


def read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 30) -> str:
    """What `proc` wrote to stderr up to and including `text`: the client has shown it,
    so it is past that point (no sleep that a loaded machine could outrun)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"zfsyncctl never showed {text!r}: {seen!r}"
        ready, _, _ = select.select([proc.stderr], [], [], left)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"zfsyncctl ended before it showed {text!r}: {seen!r}"
            seen += chunk
    return seen.decode()


def finish(proc: subprocess.Popen[bytes], shown: str) -> str:
    """The rest of its stderr once it has ended, after what `read_until` read."""
    _, rest = proc.communicate(timeout=20)
    return shown + rest.decode()


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
    shown = threading.Event()

    async def crash(d: DaemonDouble, tx: Tx) -> None:
        await tx.watched.wait()
        d.step_started(tx, 0, "zfs snapshot tank")
        d.progress(tx, 30.0, 3, 10, 1.0, 7.0)
        await asyncio.to_thread(shown.wait, 30)  # until zfsyncctl has shown it
        await d.vanish()

    double.script = crash
    proc = spawn("snapshot", "create", "tank", address=double.address)
    try:
        seen = read_until(proc, "30%")  # it was watching
    finally:
        shown.set()
    stderr = finish(proc, seen)
    assert proc.returncode == 7, stderr
    last = stderr.splitlines()[-1]
    assert last.startswith("zfsyncctl: zfsyncd left the system bus while transaction tx0001")
    assert "Traceback" not in stderr


def test_the_bus_dying_mid_watch(tmp_path: Path) -> None:
    bus = PrivateBus(tmp_path / "bus")
    double = DaemonDouble(bus.address).start()
    try:

        async def hang(d: DaemonDouble, tx: Tx) -> None:
            await tx.watched.wait()
            d.progress(tx, 50.0, 5, 10, 1.0, 5.0)
            await asyncio.sleep(60)

        double.script = hang
        proc = spawn("snapshot", "create", "tank", address=bus.address)
        seen = read_until(proc, "50%")  # it is watching
        bus.stop(crash=True)
        stderr = finish(proc, seen)
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
    proc = spawn("snapshot", "create", "tank", address=double.address)
    seen = read_until(proc, "50%")  # it is waiting, with its SIGINT handler in place
    proc.send_signal(signal.SIGINT)
    stderr = finish(proc, seen)
    assert proc.returncode == 130
    assert stderr.splitlines()[-1] == (
        "zfsyncctl: stopped waiting; transaction tx0001 goes on "
        "(zfsyncctl transaction cancel tx0001 stops it)"
    )
    assert "Cancel" not in [c[0] for c in double.calls]
