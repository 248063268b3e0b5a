"""A system reports what became of an instruction (`POST /sync/outcomes/{system_id}`): a
failure stays on its sync state (status `error`, the reason) until it is in sync; only
the system itself may report, for a state that exists. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.witness.api import dump, group, instructions, register, report
from tests.witness.conftest import Witness


async def _state(w: Witness, gid: str, system_id: str) -> dict[str, Any]:
    r = await w.client.get("/sync/states", params={"group_id": gid}, headers=w.admin())
    [found] = [s for s in r.json() if s["system_id"] == system_id]
    return dict(found)


async def test_a_failure_is_kept_until_the_member_is_in_sync(witness: Witness) -> None:
    w = witness
    a, b = await register(w, "A"), await register(w, "B")
    gid = await group(w, "manual", {a: "tank", b: "backup"})
    await report(w, a, "tank", "s1 s2")
    await report(w, b, "backup", "s1")
    [i] = await instructions(w, b)
    body = {"group_id": gid, "dataset": i["dataset"], "ok": False, "error": "no route to A"}
    r = await w.client.post(f"/sync/outcomes/{b.id}", json=body, headers=b.auth())
    assert (r.status_code, r.json()) == (200, {"status": "error"})
    state = await _state(w, gid, b.id)
    assert (state["status"], state["error"]) == ("error", "no route to A")
    # a check keeps it shown; the next fetch hands the instruction out again
    await w.client.post(f"/sync/{gid}/check", headers=w.admin())
    assert (await _state(w, gid, b.id))["status"] == "error"
    assert len(await instructions(w, b)) == 1
    # done at last: the report makes it in_sync and the error goes
    body = {"group_id": gid, "dataset": i["dataset"], "ok": True, "transaction_id": "t1"}
    r = await w.client.post(f"/sync/outcomes/{b.id}", json=body, headers=b.auth())
    assert r.status_code == 200
    await report(w, b, "backup", "s1 s2")
    await w.client.post(f"/sync/{gid}/check", headers=w.admin())
    state = await _state(w, gid, b.id)
    assert (state["status"], state["error"]) == ("in_sync", None)


async def test_only_the_system_reports_its_outcomes_for_a_state_that_exists(
    witness: Witness,
) -> None:
    w = witness
    a, b = await register(w, "A"), await register(w, "B")
    gid = await group(w, "manual", {a: "tank", b: "backup"})
    await report(w, a, "tank", "s1 s2")
    await report(w, b, "backup", "s1")
    await instructions(w, b)
    before = await dump(w.url)
    body = {"group_id": gid, "dataset": "data", "ok": False, "error": "x"}
    assert (
        await w.client.post(f"/sync/outcomes/{b.id}", json=body, headers=a.auth())
    ).status_code == 403
    assert (
        await w.client.post(f"/sync/outcomes/{b.id}", json=body, headers=w.admin())
    ).status_code == 403
    bad = {"X-API-Key": b.key[:-2] + "xx"}
    assert (
        await w.client.post(f"/sync/outcomes/{b.id}", json=body, headers=bad)
    ).status_code == 401
    other = body | {"dataset": "nothing"}
    assert (
        await w.client.post(f"/sync/outcomes/{b.id}", json=other, headers=b.auth())
    ).status_code == 404
    extra = body | {"what": 1}
    assert (
        await w.client.post(f"/sync/outcomes/{b.id}", json=extra, headers=b.auth())
    ).status_code == 422
    assert await dump(w.url) == before
