"""Refused requests change nothing: bad or missing keys (401), another system's id (403),
oversized (413) and malformed (422) bodies. Keys are stored hashed, rotate, and are
compared with their hash, not looked up. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.witness.api import dump, group, register, report, wire
from tests.witness.conftest import MAX_BODY, Witness
from zfsync_witness.api.app import create_app
from zfsync_witness.config import WitnessSettings
from zfsync_witness.db.engine import make_engine
from zfsync_witness.db.models import System


def writes(system_id: str, other: str) -> list[tuple[str, str, Any]]:
    """(method, path, json) of every request that writes something, for `system_id`."""
    batch = {"snapshots": wire("tank", "s1 s2"), "complete": True}
    return [
        ("POST", "/snapshots", wire("tank", "s9")[0]),
        ("POST", "/snapshots/batch", batch),
        ("POST", f"/systems/{system_id}/heartbeat", None),
        ("PUT", f"/systems/{system_id}", {"hostname": "evil"}),
        ("POST", f"/systems/{system_id}/rotate-key", None),
        ("GET", f"/sync/instructions/{system_id}", None),
        ("POST", "/systems/register", {"name": "new", "hostname": "h"}),
        ("POST", "/sync-groups", {"name": "g2"}),
        ("DELETE", f"/systems/{other}", None),
    ]


async def test_bad_or_missing_keys_get_401_and_nothing_is_written(witness: Witness) -> None:
    w = witness
    a = await register(w, "A")
    b = await register(w, "B")
    await group(w, "manual", {a: "tank", b: "backup"})
    await report(w, a, "tank", "s1")
    prefix, kind, hexid, secret = a.key.split("_", 3)
    bad_keys = [
        None,
        "",
        "nonsense",
        a.key[:-1] + ("A" if a.key[-1] != "A" else "B"),  # one character wrong
        f"{prefix}_{kind}_{'0' * 32}_{secret}",  # an id that does not exist
        f"{prefix}_a_{hexid}_{secret}",  # a system's key presented as an admin's
        w.admin_key[:-2] + "xx",
    ]
    before = await dump(w.url)
    for key in bad_keys:
        headers = {} if key is None else {"X-API-Key": key}
        for method, path, body in writes(a.id, b.id):
            r = await w.client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (key, method, path, r.text)
            assert r.json()["status_code"] == 401
    assert await dump(w.url) == before


async def test_a_system_acts_only_for_itself(witness: Witness) -> None:
    w = witness
    a = await register(w, "A")
    b = await register(w, "B")
    gid = await group(w, "manual", {a: "tank", b: "backup"})
    await report(w, b, "backup", "s1")
    before = await dump(w.url)
    one = wire("tank", "s5")[0]
    refused = [
        ("POST", "/snapshots", {**one, "system_id": b.id}),
        ("POST", "/snapshots/batch", {"snapshots": wire("tank", "s1"), "system_id": b.id}),
        ("POST", "/snapshots/batch", {"snapshots": [{**one, "system_id": b.id}]}),
        ("POST", f"/systems/{b.id}/heartbeat", None),
        ("PUT", f"/systems/{b.id}", {"hostname": "evil"}),
        ("POST", f"/systems/{b.id}/rotate-key", None),
        ("GET", f"/systems/{b.id}", None),
        ("GET", f"/sync/instructions/{b.id}", None),
        ("GET", "/snapshots", {"system_id": b.id}),
        ("DELETE", f"/systems/{b.id}", None),
        ("POST", "/systems/register", {"name": "new", "hostname": "h"}),
        ("POST", "/sync-groups", {"name": "g2"}),
        ("DELETE", f"/sync-groups/{gid}", None),
        ("POST", f"/sync-groups/{gid}/systems", {"system_id": a.id}),
    ]
    for method, path, body in refused:
        if method == "GET" and body:
            r = await w.client.get(path, params=body, headers=a.auth())
        else:
            r = await w.client.request(method, path, json=body, headers=a.auth())
        assert r.status_code == 403, (method, path, r.text)
    # what A may read of B's is nothing: its snapshot is not found, its states not listed
    [snap] = (await w.client.get("/snapshots", headers=b.auth())).json()
    r = await w.client.get(f"/snapshots/{snap['id']}", headers=a.auth())
    assert r.status_code == 404
    r = await w.client.get("/snapshots", headers=a.auth())
    assert r.json() == []
    assert await dump(w.url) == before


async def test_oversized_and_malformed_bodies_are_refused_and_change_nothing(
    witness: Witness,
) -> None:
    w = witness
    a = await register(w, "A")
    await report(w, a, "tank", "s1")
    before = await dump(w.url)
    many = {"snapshots": wire("tank", " ".join(f"s{i}" for i in range(1, 6000)))}
    assert len(json.dumps(many, separators=(",", ":"))) > MAX_BODY  # as httpx sends it
    r = await w.client.post("/snapshots/batch", json=many, headers=a.auth())
    assert r.status_code == 413
    assert r.json()["status_code"] == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        data = json.dumps(many).encode()
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    r = await w.client.post("/snapshots/batch", content=chunked(), headers=a.auth())
    assert r.status_code == 413
    malformed: list[Any] = [
        b"{not json",
        b"[]",
        {"snapshots": "no"},
        {"snapshots": [{"name": "tank/data@s1"}]},  # no creation time
        {"snapshots": [{"name": "tank/data", "created": 1}]},  # not a snapshot name
        {"snapshots": [{"name": "tank/data@s1", "created": -1}]},
        {"snapshots": [{"name": "tank/data@s1", "created": 1, "guid": "12ab"}]},
        {"snapshots": [{"name": "tank/data@s1", "created": 1, "surprise": 1}]},
        {"snapshots": wire("tank", "s1") + wire("tank", "s1")},  # named twice
        {"snapshots": [{"name": "tank/" + "d" * 300 + "@s", "created": 1}]},  # too long
        {"snapshots": [{"name": "tank/d@s\n1", "created": 1}]},  # a control character
    ]
    for body in malformed:
        if isinstance(body, bytes):
            r = await w.client.post(
                "/snapshots/batch",
                content=body,
                headers={**a.auth(), "Content-Type": "application/json"},
            )
        else:
            r = await w.client.post("/snapshots/batch", json=body, headers=a.auth())
        assert r.status_code == 422, (body, r.text)
    r = await w.client.post(
        "/systems/register", json={"name": "x" * 300, "hostname": "h"}, headers=w.admin()
    )
    assert r.status_code == 422
    assert await dump(w.url) == before


async def test_keys_are_stored_hashed_and_rotate(witness: Witness) -> None:
    w = witness
    a = await register(w, "A")
    secret = a.key.split("_", 3)[3]
    engine = make_engine(w.url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(select(System.key_hash))
    finally:
        await engine.dispose()
    assert stored is not None
    assert stored.startswith("scrypt$")
    assert secret not in stored
    r = await w.client.post(f"/systems/{a.id}/rotate-key", headers=a.auth())
    new = r.json()["api_key"]
    assert new != a.key
    r = await w.client.post(f"/systems/{a.id}/heartbeat", headers=a.auth())
    assert r.status_code == 401  # the old key stopped working at once
    r = await w.client.post(f"/systems/{a.id}/heartbeat", headers={"X-API-Key": new})
    assert r.status_code == 200
    assert r.json()["online"] is True
    # an administrator rotates too, and the system's key is shown only then
    r = await w.client.post(f"/systems/{a.id}/rotate-key", headers=w.admin())
    assert r.status_code == 200
    r = await w.client.get(f"/systems/{a.id}", headers=w.admin())
    assert "api_key" not in r.json()
    assert "key_hash" not in r.json()


@pytest.mark.parametrize("origins", [[], ["https://ops.example.org"]])
async def test_cors_is_off_unless_configured(witness: Witness, origins: list[str]) -> None:
    settings = WitnessSettings(database_url=witness.url, cors_origins=origins)
    engine = make_engine(witness.url)
    transport = httpx.ASGITransport(app=create_app(settings, engine))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as c:
            r = await c.options(
                "/api/v1/health/live",
                headers={
                    "Origin": "https://ops.example.org",
                    "Access-Control-Request-Method": "GET",
                },
            )
            allowed = r.headers.get("access-control-allow-origin")
            r = await c.get("/api/v1/health/live", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in r.headers
    finally:
        await engine.dispose()
    assert allowed == (origins[0] if origins else None)
