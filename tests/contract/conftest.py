"""Fixtures of the contract suite: `world` (see world.py) against the selected backend."""

from __future__ import annotations

import pytest

from .world import backend_kind


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "contract: runs against MemoryBackend and, in the lab, real OpenZFS"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.contract)
            if backend_kind() == "real":
                item.add_marker(pytest.mark.real)


# `pools` and `world` live in tests/conftest.py: tests/engine uses the same real pools.
