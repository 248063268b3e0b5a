"""The scripted daemon double (daemon_double.py) on the session's private bus
(tests/unit/conftest.py); DBUS_SYSTEM_BUS_ADDRESS points at it, so zfsyncctl finds it as it
finds the system bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.cli.daemon_double import DaemonDouble


@pytest.fixture
def double(private_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonDouble]:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus)
    d = DaemonDouble(private_bus).start()
    yield d
    d.stop()
