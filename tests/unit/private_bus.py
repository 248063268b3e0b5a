"""A private message bus for unit tests that need one (no polkit): dbus-daemon with a
generated config, listening on a unix socket under a directory of the test's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            pytest.fail("dbus-daemon is missing: tests/setup-host.sh installs the dbus package")
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=directory / "bus.sock"))
        self.proc = subprocess.Popen(
            [daemon, "--nofork", "--print-address", f"--config-file={config}"],
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
