"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.leaks import no_leaked_connections  # noqa: F401 - autouse: no open SQLite left
from tests.unit.private_bus import PrivateBus


@pytest.fixture(scope="session")
def private_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a private bus that lives for the test session."""
    bus = PrivateBus(tmp_path_factory.mktemp("bus"))
    yield bus.address
    bus.stop()
