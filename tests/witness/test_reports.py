"""Reports and what they can be asked (query, history, statistics), health, groups'
administration. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.witness.api import group, register, report, wire
from tests.witness.conftest import Witness, fresh_database
from zfsync_witness.api.app import create_app
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db import migrate
from zfsync_witness.db.engine import make_engine


async def test_reports_query_history_statistics(witness: Witness) -> None:
    w = witness
    a = await register(w, "A")
    b = await register(w, "B")
    await report(w, a, "tank", "s1 s2 s3")
    await report(w, b, "backup", "s1")
    # one more, alone; then the same again (unchanged) and a changed size (updated)
    one = wire("tank", "s4")[0]
    r = await w.client.post("/snapshots", json=one, headers=a.auth())
    assert r.json() == {"added": 1, "updated": 0, "removed": 0, "unchanged": 0}
    r = await w.client.post("/snapshots", json=one, headers=a.auth())
    assert r.json() == {"added": 0, "updated": 0, "removed": 0, "unchanged": 1}
    r = await w.client.post("/snapshots", json={**one, "size": 77}, headers=a.auth())
    assert r.json()["updated"] == 1
    # a complete report without s1: s1 is removed, kept for the history
    r = await w.client.post(
        "/snapshots/batch",
        headers=a.auth(),
        json={"snapshots": wire("tank", "s2 s3 s4"), "complete": True},
    )
    assert r.json() == {"added": 0, "updated": 1, "removed": 1, "unchanged": 2}
    r = await w.client.get("/snapshots", headers=a.auth())
    assert [(s["pool"], s["dataset"], s["name"]) for s in r.json()] == [
        ("tank", "data", n) for n in ("s2", "s3", "s4")
    ]
    r = await w.client.get("/snapshots", params={"include_removed": True}, headers=a.auth())
    assert [s["removed_at"] is not None for s in r.json()] == [True, False, False, False]
    r = await w.client.get("/snapshots/history", params={"dataset": "data"}, headers=w.admin())
    assert [(s["name"], s["pool"]) for s in r.json()] == [
        ("s4", "tank"),
        ("s3", "tank"),
        ("s2", "tank"),
        ("s1", "backup"),
        ("s1", "tank"),  # removed, still in the history
    ]
    r = await w.client.get("/snapshots/statistics", headers=w.admin())
    stats = r.json()
    assert (stats["snapshots"], stats["removed"]) == (4, 1)
    by = {s["system_id"]: s for s in stats["systems"]}
    assert (by[a.id]["snapshots"], by[a.id]["bytes"], by[a.id]["newest"]) == (
        3,
        0,
        4000,
    )  # s4's size back to 0
    r = await w.client.get("/snapshots/statistics", headers=b.auth())
    assert [s["system_id"] for s in r.json()["systems"]] == [b.id]


async def test_groups_and_systems_administration(witness: Witness) -> None:
    w = witness
    a = await register(w, "A")
    b = await register(w, "B")
    gid = await group(w, "manual", {a: "tank"})
    r = await w.client.post(
        f"/sync-groups/{gid}/systems", json={"system_id": a.id}, headers=w.admin()
    )
    assert r.status_code == 409  # in it already
    r = await w.client.post("/sync-groups", json={"name": "g"}, headers=w.admin())
    assert r.status_code == 409  # the name is taken
    r = await w.client.put(
        f"/sync-groups/{gid}", json={"strategy": "use_newest"}, headers=w.admin()
    )
    assert r.json()["strategy"] == "use_newest"
    r = await w.client.get("/sync-groups", headers=b.auth())
    assert r.json() == []  # B sees only its groups
    r = await w.client.get(f"/sync-groups/{gid}", headers=a.auth())
    assert [m["system_id"] for m in r.json()["members"]] == [a.id]
    r = await w.client.delete(f"/sync-groups/{gid}/systems/{a.id}", headers=w.admin())
    assert r.status_code == 204
    r = await w.client.put(
        f"/systems/{a.id}", json={"ssh_user": "zfsync", "ssh_port": 2222}, headers=a.auth()
    )
    assert (r.json()["ssh_user"], r.json()["ssh_port"]) == ("zfsync", 2222)
    r = await w.client.get("/systems", headers=a.auth())
    assert [s["name"] for s in r.json()] == ["A"]
    r = await w.client.get("/systems", headers=w.admin())
    assert [s["name"] for s in r.json()] == ["A", "B"]
    await report(w, b, "backup", "s1")
    r = await w.client.delete(f"/systems/{b.id}", headers=w.admin())
    assert r.status_code == 204
    r = await w.client.get("/snapshots", params={"system_id": b.id}, headers=w.admin())
    assert r.json() == []  # its snapshots went with it
    r = await w.client.delete(f"/sync-groups/{gid}", headers=w.admin())
    assert r.status_code == 204


async def test_health(witness: Witness) -> None:
    r = await witness.client.get("/health/live")
    assert r.json()["status"] == "ok"
    r = await witness.client.get("/health/ready")
    assert r.status_code == 200
    assert r.json()["schema_revision"] == migrate.head()
    r = await witness.client.get("http://witness/openapi.json")  # not under /api/v1
    assert "/api/v1/sync/instructions/{system_id}" in r.json()["paths"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_not_ready_before_migration(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = await fresh_database(kind, tmp_path, request)
    engine = make_engine(url)
    app = create_app(WitnessSettings(database_url=url), engine)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://w/api/v1"
        ) as c:
            assert (await c.get("/health/ready")).status_code == 503
            await asyncio.to_thread(migrate.upgrade, url)
            assert (await c.get("/health/ready")).status_code == 200
    finally:
        await engine.dispose()
