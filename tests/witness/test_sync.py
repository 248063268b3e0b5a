"""Three systems with different pool names in one sync group: snapshots reach the others by
instructions; each conflict kind is detected; each strategy resolves as documented; manual
waits for resolve. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.witness.api import conflicts, group, instructions, register, report
from tests.witness.conftest import Member, Witness

POOLS = {"A": "tank", "B": "backup", "C": "vault"}


async def trio(w: Witness, strategy: str = "manual") -> tuple[str, dict[str, Member]]:
    ms = {n: await register(w, n) for n in POOLS}
    gid = await group(w, strategy, {ms[n]: POOLS[n] for n in POOLS})
    return gid, ms


def short(i: dict[str, Any]) -> tuple[Any, ...]:
    return (i["source_pool"], i["target_pool"], i["base"], i["newest"], i["force"])


async def states(w: Witness, gid: str) -> dict[str, str]:
    r = await w.client.get("/sync/states", params={"group_id": gid}, headers=w.admin())
    assert r.status_code == 200, r.text
    return {s["system_id"]: s["status"] for s in r.json()}


async def test_a_snapshot_on_one_system_reaches_the_others(witness: Witness) -> None:
    w = witness
    gid, ms = await trio(w)
    a, b, c = ms["A"], ms["B"], ms["C"]
    await report(w, a, "tank", "s1 s2")
    await report(w, b, "backup", "s1")
    # C has nothing yet: it receives everything into its member pool
    [ib] = await instructions(w, b)
    assert short(ib) == ("tank", "backup", "s1", "s2", False)
    assert (ib["source_system_id"], ib["source_hostname"]) == (a.id, "A.lan")
    assert (ib["source_snapshot"], ib["target_dataset"]) == ("tank/data@s2", "backup/data")
    [ic] = await instructions(w, c)
    assert short(ic) == ("tank", "vault", None, "s2", False)
    assert await instructions(w, a) == []
    assert await states(w, gid) == {a.id: "in_sync", b.id: "syncing", c.id: "syncing"}
    # they carry them out and report; then a new snapshot on A
    await report(w, b, "backup", "s1 s2")
    await report(w, c, "vault", "s1 s2")
    r = await w.client.post(f"/sync/{gid}/check", headers=w.admin())
    assert r.json()["datasets"][0]["in_sync"] == 3
    assert await states(w, gid) == {a.id: "in_sync", b.id: "in_sync", c.id: "in_sync"}
    await report(w, a, "tank", "s1 s2 s3")
    assert [short(i) for i in await instructions(w, b)] == [("tank", "backup", "s2", "s3", False)]
    assert [short(i) for i in await instructions(w, c)] == [("tank", "vault", "s2", "s3", False)]
    assert await conflicts(w, gid) == []


# histories of A, B, C -> the conflict's kind and the problems' systems (named from the
# leader's side: the one with the newest snapshot, A or C here)
CONFLICTS = {
    "diverged": ("s1 s2 s4", "s1 s2 x3", "s1 s2 s4", ["B"]),
    "orphaned": ("s1 s2", "s1 s2", "x1", ["C"]),
    "missing": ("s1 s2 s3", "s1 s3", "s1 s2 s3", ["B"]),
}


@pytest.mark.parametrize("kind", list(CONFLICTS))
async def test_each_conflict_kind_is_detected(witness: Witness, kind: str) -> None:
    w = witness
    gid, ms = await trio(w)
    *hists, culprits = CONFLICTS[kind]
    for n, h in zip(POOLS, hists, strict=True):
        await report(w, ms[n], POOLS[n], h)
    [conflict] = await conflicts(w, gid)
    assert (conflict["kind"], conflict["status"], conflict["dataset"]) == (kind, "open", "data")
    assert sorted(p["system_id"] for p in conflict["problems"]) == [ms[n].id for n in culprits]
    for m in ms.values():  # nothing moves while the dataset is in conflict
        assert await instructions(w, m) == []
    assert set((await states(w, gid)).values()) == {"conflict"}


# strategy, histories (A, B, C; `name:size`) -> the winner, and who gets a forced transfer
STRATEGIES = {
    "use_newest": ("s1 s2 s3", "s1 s2 x4", "s1 s2", "B", ["A", "C"]),
    "use_largest": ("s1 s2 s3:500", "s1 s2 x4:10", "s1 s2", "A", ["B", "C"]),
    # A and C hold the same history: either is the winner (the first by id)
    "use_majority": ("s1 s2 s3", "s1 s2 x4", "s1 s2 s3", "AC", ["B"]),
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
async def test_each_strategy_resolves_as_documented(witness: Witness, strategy: str) -> None:
    w = witness
    gid, ms = await trio(w, strategy)
    a, b, c, winners, losers = STRATEGIES[strategy]
    for n, h in zip(POOLS, (a, b, c), strict=True):
        await report(w, ms[n], POOLS[n], h)
    [conflict] = await conflicts(w, gid)
    assert (conflict["status"], conflict["strategy"]) == ("resolved", strategy)
    [winner] = [n for n in winners if ms[n].id == conflict["winner_system_id"]]
    for n in POOLS:
        got = await instructions(w, ms[n])
        if n in losers:
            [i] = got
            assert i["source_system_id"] == ms[winner].id
            assert (i["source_pool"], i["target_pool"]) == (POOLS[winner], POOLS[n])
            assert i["base"] == "s2"  # the last snapshot shared before the split
        else:
            assert got == []
    # the losers carry it out: the histories agree and the conflict is cleared
    for n in losers:
        await report(
            w,
            ms[n],
            POOLS[n],
            {"A": a, "B": b, "C": c}[winner].replace(":500", "").replace(":10", ""),
        )
    assert await conflicts(w, gid) == []
    r = await w.client.get(f"/conflicts/{gid}", params={"include_cleared": True}, headers=w.admin())
    assert [x["status"] for x in r.json()] == ["cleared"]


async def test_ignore_keeps_the_conflict_and_moves_nothing(witness: Witness) -> None:
    w = witness
    gid, ms = await trio(w, "ignore")
    for n, h in zip(POOLS, ("s1 s2 s3", "s1 s2 x3", "s1"), strict=True):
        await report(w, ms[n], POOLS[n], h)
    [conflict] = await conflicts(w, gid)
    assert (conflict["kind"], conflict["status"]) == ("diverged", "ignored")
    for m in ms.values():
        assert await instructions(w, m) == []  # not even C, which is only behind
    assert set((await states(w, gid)).values()) == {"ignored"}


async def test_manual_waits_for_resolve(witness: Witness) -> None:
    w = witness
    gid, ms = await trio(w, "manual")
    for n, h in zip(POOLS, ("s1 s2 s3", "s1 s2 x3", "s1 s2 s3"), strict=True):
        await report(w, ms[n], POOLS[n], h)
    [conflict] = await conflicts(w, gid)
    for _ in range(2):  # checks change nothing while it waits
        [again] = await conflicts(w, gid)
        assert (again["id"], again["status"]) == (conflict["id"], "open")
        assert await instructions(w, ms["B"]) == []
    url = f"/conflicts/{conflict['id']}/resolve"
    # a system may not resolve; a strategy that decides nothing is refused
    r = await w.client.post(url, json={"winner_system_id": ms["B"].id}, headers=ms["B"].auth())
    assert r.status_code == 403
    r = await w.client.post(url, json={"strategy": "manual"}, headers=w.admin())
    assert r.status_code == 422
    r = await w.client.post(
        url, json={"winner_system_id": ms["B"].id, "note": "B has the data"}, headers=w.admin()
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["strategy"]) == ("resolved", "manual")
    # B's history wins: A and C roll back to s2 and receive x3
    for n in ("A", "C"):
        [i] = await instructions(w, ms[n])
        assert short(i) == ("backup", POOLS[n], "s2", "x3", True)
    assert await instructions(w, ms["B"]) == []
    # the other way round, by a strategy applied now: A and C hold one history (either wins)
    r = await w.client.post(url, json={"strategy": "use_majority"}, headers=w.admin())
    [winner] = [n for n in "AC" if ms[n].id == r.json()["winner_system_id"]]
    [i] = await instructions(w, ms["B"])
    assert short(i) == (POOLS[winner], "backup", "s2", "s3", True)


async def test_systems_fetching_at_once_get_their_instructions(witness: Witness) -> None:
    w = witness
    gid, ms = await trio(w)
    await report(w, ms["A"], "tank", "s1 s2")
    await report(w, ms["B"], "backup", "s1")
    # the group's first check, by two requests at once: each inserts the new states
    got = await asyncio.gather(*(instructions(w, ms[n]) for n in ("B", "C", "B", "C")))
    assert [[short(i) for i in g] for g in got] == [
        [("tank", "backup", "s1", "s2", False)],
        [("tank", "vault", None, "s2", False)],
    ] * 2
    r = await w.client.get("/sync/states", params={"group_id": gid}, headers=w.admin())
    assert len(r.json()) == 3  # one per member and dataset
