"""Starting zfsyncd itself under the private system bus, with a configuration of the test's.

The daemon runs as root (as under systemd) on the in-memory ZFS model (these hosts have no
ZFS; only tests/real/test_zfsyncctl_real.py runs the daemon on real ZFS, in the lab), with
`memory_delay` so a transaction takes long enough to be watched, and `memory_gate` (see
`Gate`) where a test must hold a transaction at a chosen zfs call until it has acted.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from tests.system.harness import START_TIMEOUT, SystemBus, User
from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH
from zfsyncd.zfs.latency import HELD

POOLS = ("tank", "backup")


@dataclass
class Gate:
    """The daemon's `memory_gate` file (zfsyncd/zfs/latency.py): holds a transaction at a
    changing zfs call until the test has done what it must do while it runs."""

    path: Path

    def hold_after(self, calls: int) -> None:
        """Let `calls` more changing calls pass, then hold the next one."""
        self.path.write_text(str(calls))

    def wait_held(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.path.exists() and self.path.read_text() == HELD):
            assert time.monotonic() < deadline, "the daemon never reached the held call"
            time.sleep(0.02)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Daemon:
    bus: SystemBus
    proc: subprocess.Popen[bytes]
    database: Path
    config: Path
    gate: Gate

    def ctl(
        self, *args: str, user: User | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """zfsyncctl as a subprocess, as root or as `user`, never asking for a password."""
        argv = [sys.executable, "-m", "zfsyncctl", *args]
        return self.bus.run(argv, user=user, timeout=timeout)

    def ctl_spawn(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """zfsyncctl as root, running on while the test acts: the process (stdout piped)
        and the file its stderr goes to."""
        proc = self.bus.spawn(
            [sys.executable, "-m", "zfsyncctl", *args], name="zfsyncctl", stdout_pipe=True
        )
        return proc, self.bus.processes.log_of(proc)

    def ctl_json(self, *args: str, user: User | None = None) -> Any:
        done = self.ctl(*args, "--json", user=user)
        assert done.returncode == 0, (done.returncode, done.stderr)
        return json.loads(done.stdout)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Read the daemon's own database (WAL: readers do not disturb the daemon)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            return conn.execute(sql, params).fetchall()

    def log(self) -> str:
        return self.bus.processes.log_of(self.proc).read_text(errors="replace")


async def call(
    bus: MessageBus, member: str, signature: str = "", body: list[object] | None = None,
    *, path: str = MANAGER_PATH, interface: str = MANAGER_IFACE,
) -> Message:  # fmt: skip
    reply = await bus.call(
        Message(
            destination=BUS_NAME,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body or [],
        )
    )
    assert reply is not None
    return reply


def write_config(directory: Path, *, tables: str = "", **settings: object) -> Path:
    """The daemon's TOML: `settings` as top-level keys, then `tables` as written (e.g. a
    `[hosts.NAME]` table, tests/real/ssh.py's config_text)."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "database": str(directory / "zfsyncd.db"),
        "backend": "memory",
        "memory_pools": list(POOLS),
        "finished_linger": 30.0,
        "memory_gate": str(directory / "gate"),
        **settings,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = directory / "zfsyncd.toml"
    path.write_text("\n".join(lines) + "\n" + tables)
    return path


async def start_daemon(
    bus: SystemBus,
    directory: Path,
    *,
    tables: str = "",
    start_timeout: float = START_TIMEOUT,
    **settings: object,
) -> Daemon:
    """zfsyncd with `settings` (and `tables`), ready once it owns its bus name, which may
    take longer than START_TIMEOUT in a loaded TCG guest: `start_timeout`."""
    config = write_config(directory, tables=tables, **settings)
    proc = await bus.start_service(
        [sys.executable, "-m", "zfsyncd", "--config", str(config)],
        BUS_NAME,
        name="zfsyncd",
        timeout=start_timeout,
    )
    return Daemon(bus, proc, directory / "zfsyncd.db", config, Gate(directory / "gate"))


@asynccontextmanager
async def running_daemon(system_bus: SystemBus, directory: Path) -> AsyncIterator[Daemon]:
    """A daemon for a module's tests, stopped cleanly at the end (it must not have died)."""
    started = await start_daemon(system_bus, directory)
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    assert system_bus.stop(started.proc) == 0, started.log()
