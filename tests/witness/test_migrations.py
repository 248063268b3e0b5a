"""The migrations make exactly the models' schema, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.witness.conftest import fresh_database
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine
from zfsync_witness.db.models import Base


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_upgrade_head_gives_the_models_schema_and_downgrade_removes_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await fresh_database(kind, tmp_path, request)
    engine = make_engine(url)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
        await asyncio.to_thread(migrate.downgrade, url, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}
            # and the check above can fail: an empty database differs from the models
            assert len(await conn.run_sync(_diff)) >= len(Base.metadata.tables)
    finally:
        await engine.dispose()
