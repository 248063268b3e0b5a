"""The engine the tests start (conftest.Engine) closes its database on every path: a start
that fails after opening it left an aiosqlite thread that hung the run at exit."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from tests import leaks
from tests.contract.world import World
from tests.engine import conftest
from tests.engine.conftest import Engine


async def test_a_start_that_fails_closes_its_database(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError("no manager")

    before = leaks.connection_threads()
    monkeypatch.setattr(conftest, "TransactionManager", refuse)
    with pytest.raises(RuntimeError, match="no manager"):
        await Engine.start(world, tmp_path / "zfsyncd.db")
    assert leaks.left_open(before) == []
