"""Helpers for the witness's API tests: systems, groups and reports in a few calls, and a
dump of every table to compare before and after a refused request."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import select

from tests.witness.conftest import Member, Witness
from tests.witness.histories import DATASET, snap
from zfsync_witness.db.engine import make_engine
from zfsync_witness.db.models import Base


async def register(w: Witness, name: str) -> Member:
    r = await w.client.post(
        "/systems/register", json={"name": name, "hostname": f"{name}.lan"}, headers=w.admin()
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Member(body["system"]["id"], name, body["api_key"])


async def group(w: Witness, strategy: str, members: dict[Member, str | None]) -> str:
    r = await w.client.post(
        "/sync-groups", json={"name": "g", "strategy": strategy}, headers=w.admin()
    )
    assert r.status_code == 201, r.text
    gid: str = r.json()["id"]
    for m, pool in members.items():
        r = await w.client.post(
            f"/sync-groups/{gid}/systems",
            json={"system_id": str(m.id), "pool": pool},
            headers=w.admin(),
        )
        assert r.status_code == 201, r.text
    return gid


def wire(pool: str, tokens: str, dataset: str = DATASET, size: int = 0) -> list[dict[str, Any]]:
    """The notation of histories.py as a report's snapshots (guids made numeric)."""
    out = []
    for t in tokens.split():
        name, _, sz = t.partition(":")
        s = snap("X", pool, name, dataset, size=int(sz or size))
        out.append(
            {
                "name": f"{pool}/{dataset}@{s.name}",
                "created": s.created,
                "guid": str(zlib.crc32(s.guid.encode())) if s.guid else None,
                "txg": s.txg,
                "size": s.size,
            }
        )
    return out


async def report(w: Witness, m: Member, pool: str, tokens: str, complete: bool = True) -> None:
    r = await w.client.post(
        "/snapshots/batch",
        headers=m.auth(),
        json={"snapshots": wire(pool, tokens), "complete": complete},
    )
    assert r.status_code == 201, r.text


async def instructions(w: Witness, m: Member) -> list[dict[str, Any]]:
    r = await w.client.get(f"/sync/instructions/{m.id}", headers=m.auth())
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["instructions"]
    return out


async def conflicts(w: Witness, gid: str) -> list[dict[str, Any]]:
    r = await w.client.get(f"/conflicts/{gid}", headers=w.admin())
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the witness's whole state)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                name: sorted(tuple(map(str, row)) for row in await conn.execute(select(table)))
                for name, table in Base.metadata.tables.items()
            }
    finally:
        await engine.dispose()
