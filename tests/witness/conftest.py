"""Fixtures of the witness's tests: each API test runs against SQLite and against a real
PostgreSQL (one throwaway cluster per session, a fresh database per test), on a schema
made by the Alembic migrations, through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.witness.postgres import Cluster, cluster
from zfsync_witness.api.app import create_app
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine, sessions
from zfsync_witness.services import registry

_DB = itertools.count(1)
#: small, so that the bound's tests need no large bodies
MAX_BODY = 256 * 1024


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    with cluster() as c:
        yield c


async def fresh_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database's URL (not migrated)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'witness.db'}"
    pg: Cluster = request.getfixturevalue("pg")
    name = f"w{next(_DB)}"
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return pg.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = await fresh_database(request.param, tmp_path, request)
    # Alembic runs its own event loop: in a thread, as `zfsync-witness migrate` would
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@dataclass
class Witness:
    client: httpx.AsyncClient
    url: str
    admin_key: str

    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}


@pytest.fixture
async def witness(db_url: str) -> AsyncIterator[Witness]:
    engine = make_engine(db_url)
    async with sessions(engine)() as s:
        admin_key = await registry.create_admin_key(s, "tests")
    settings = WitnessSettings(database_url=db_url, max_body_bytes=MAX_BODY)
    app = create_app(settings, engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://witness/api/v1") as c:
        yield Witness(c, db_url, admin_key)
    await engine.dispose()


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    key: str

    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@pytest.fixture
def systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: run tests/setup-host.sh (apt: systemd)")
