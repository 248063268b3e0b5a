"""A private bus (dbus-daemon with a generated config, a unix socket in tmp) and the
scripted daemon double on it (daemon_double.py); DBUS_SYSTEM_BUS_ADDRESS points at it, so
zfsyncctl finds it as it finds the system bus."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli.daemon_double import DaemonDouble

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """dbus-daemon on a unix socket under `directory`; stop() kills it."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("dbus-daemon") is None:
            pytest.skip("dbus-daemon is not installed (tests/setup-host.sh installs it)")
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=directory / "bus.sock"))
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--nofork", "--print-address", f"--config-file={config}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.address

    def stop(self, *, crash: bool = False) -> None:
        """Stop it; `crash`: SIGKILL, so no client hears anything before its socket closes."""
        if self.proc.poll() is None:
            if crash:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def bus_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bus = PrivateBus(tmp_path_factory.mktemp("bus"))
    yield bus.address
    bus.stop()


@pytest.fixture
def double(bus_address: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonDouble]:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address)
    d = DaemonDouble(bus_address).start()
    yield d
    d.stop()
