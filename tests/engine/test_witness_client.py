"""Issue 14's "done when", host tier: three zfsyncd hosts with different pool names in one
sync group of a real witness (witness_trio.py). A snapshot made on one reaches the others
through the witness's instructions, each run as a witness-receive transaction; each
conflict kind is produced on purpose and detected; each strategy resolves a divergence as
zfsync_witness/README.md says, `manual` only after `resolve`; a witness that is down stops
nothing local and the reports catch up; a bad key is reported as such; an instruction from
a host this daemon is not configured for is refused and the refusal reported back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from tests.engine.replicas import MODEL_ONLY, Replicas, guids
from tests.engine.witness_trio import KIB, Trio, completed, snapshot, start, trio, write
from zfsyncd.store import TxState
from zfsyncd.store.witness_state import WitnessBackoff
from zfsyncd.tx.hosts import Host
from zfsyncd.tx.retry import Backoff
from zfsyncd.witness.client import Intervals
from zfsyncd.witness.http import ApiKey
from zfsyncd.witness.instructions import host_labels
from zfsyncd.witness.outbox import Outcome

__all__ = ["trio"]  # the fixture, imported for pytest

pytestmark = MODEL_ONLY

RECEIVE = "witness-receive"


async def test_a_snapshot_made_on_one_host_reaches_the_others(trio: Trio) -> None:
    t = trio
    await t.group("manual")
    a, b, c = t["a"], t["b"], t["c"]
    await a.model.create("tank/data")
    write(a, "tank/data")
    made = await a.manager.submit("snapshot", {"datasets": ["tank/data"]})
    assert (await a.manager.wait(made.id)).state is TxState.COMPLETED
    await t.settle()
    first = await a.snapshots("data")
    assert len(first) == 1
    # the same snapshots (guids) under each host's own pool
    assert await b.snapshots("data") == first
    assert await c.snapshots("data") == first
    assert [len(await completed(d, RECEIVE)) for d in (a, b, c)] == [0, 1, 1]
    assert set((await t.states()).values()) == {("in_sync", None)}
    # a second one goes incrementally; the daemon's report follows the transaction by itself
    write(a, "tank/data")
    made = await a.manager.submit("snapshot", {"datasets": ["tank/data"]})
    await a.manager.wait(made.id)
    assert a.client.outbox.report_owed
    await t.settle()
    both = await a.snapshots("data")
    assert len(both) == 2
    assert await b.snapshots("data") == both == await c.snapshots("data")
    received = await completed(b, RECEIVE)
    assert [r.params["base"] for r in received] == [None, next(iter(first))]
    assert (await b.client.status()).pending_instructions == 0


async def _diverge(t: Trio, *, a_bytes: int = 64 * KIB, majority: bool = False) -> None:
    """`data` in step on all three (s1), then a2 on a and, a second later, b2 on b; with
    `majority` c holds a2 too (sent to it directly, as another tool would)."""
    await snapshot(t["a"], "data", "s1")
    await t.settle()
    await snapshot(t["a"], "data", "a2", a_bytes)
    await snapshot(t["b"], "data", "b2")
    if majority:
        from zfsyncd.zfs.models import RecvSpec, SendSpec

        spec = SendSpec(snapshot="tank/data@a2", base="tank/data@s1")
        await t["a"].model.send_recv(spec, t["c"].model, RecvSpec(target="vault/data"))


#: strategy -> (how the divergence is made, the host whose history everyone ends with;
#: None: nobody's, the histories stay as they are)
STRATEGIES = {
    "use_newest": ({}, "b"),  # b2 was made after a2
    "use_largest": ({"a_bytes": 1024 * KIB}, "a"),  # a2 references the most
    "use_majority": ({"majority": True}, "a"),  # a and c hold a2, b alone b2
    "ignore": ({}, None),
    "manual": ({}, None),  # until resolved: see the test below
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_each_strategy_resolves_a_divergence_as_documented(trio: Trio, strategy: str) -> None:
    t = trio
    await t.group(strategy)
    how, winner = STRATEGIES[strategy]
    await _diverge(t, **how)  # type: ignore[arg-type]
    before = {n: await t[n].snapshots("data") for n in "abc"}
    await t.settle()
    [conflict] = [c for c in await t.conflicts() if c["dataset"] == "data"] or [None]
    if winner is None:
        assert {n: await t[n].snapshots("data") for n in "abc"} == before
        assert conflict is not None
        assert conflict["kind"] == "diverged"
        status = "ignored" if strategy == "ignore" else "open"
        assert conflict["status"] == status
        wanted = "ignored" if strategy == "ignore" else "conflict"
        assert {s for s, _ in (await t.states()).values()} == {wanted}
        return
    history = await t[winner].snapshots("data")
    for n in "abc":
        assert await t[n].snapshots("data") == history, n
    loser = "a" if winner == "b" else "b"
    forced = (await completed(t[loser], RECEIVE))[-1]  # after its receive of s1, if any
    assert forced.params["force"] is True
    assert set((await t.states()).values()) == {("in_sync", None)}


async def test_manual_waits_for_resolve_then_the_named_winner_wins(trio: Trio) -> None:
    t = trio
    await t.group("manual")
    await _diverge(t)
    await t.settle()
    [conflict] = await t.conflicts()
    assert (conflict["kind"], conflict["status"]) == ("diverged", "open")
    assert [len(await completed(t[n], RECEIVE)) for n in "ab"] == [0, 1]  # b: s1 only
    # the daemon shows the same conflict
    [row] = await t["c"].client.conflicts()
    assert (row.id, row.kind, row.status, row.group) == (conflict["id"], "diverged", "open", "g")
    body = {"winner_system_id": t["b"].system_id}
    r = await t.witness.post(f"/conflicts/{conflict['id']}/resolve", json=body)
    assert r.status_code == 200, r.text
    await t.settle()
    history = await t["b"].snapshots("data")
    assert "b2" in history
    assert "a2" not in history
    for n in "ac":
        assert await t[n].snapshots("data") == history
    assert await t.conflicts() == []


async def test_orphaned_and_missing_are_detected_and_resolved(trio: Trio) -> None:
    """`other` made independently on a and b (no common snapshot: orphaned); `data` with a
    snapshot in the middle destroyed on c (missing). Detected under manual; use_majority
    then gives c its snapshot back (rolled back and received again) and, for `other`,
    a majority is... none (1 against 1): it stays open until use_newest is asked for, which
    replaces a's copy (moved aside, received whole from b)."""
    t = trio
    await t.group("manual")
    for short in ("s1", "s2", "s3"):
        await snapshot(t["a"], "data", short)
    await t.settle()  # a new member's full receive brings the whole history
    assert list(await t["c"].snapshots("data")) == ["s1", "s2", "s3"]
    assert [len(await completed(t[n], RECEIVE)) for n in "bc"] == [1, 1]
    await t["c"].model.destroy("vault/data@s2")
    await snapshot(t["a"], "other", "o1")
    await snapshot(t["b"], "other", "o1b")  # later: the newest
    await t.settle()
    kinds = {c["dataset"]: c["kind"] for c in await t.conflicts()}
    assert kinds == {"data": "missing", "other": "orphaned"}
    assert {row.kind for row in await t["a"].client.conflicts()} == {"missing", "orphaned"}
    await t.set_strategy("use_majority")
    await t.settle()
    full = await t["a"].snapshots("data")
    assert list(full) == ["s1", "s2", "s3"]
    assert await t["c"].snapshots("data") == full
    rewound = (await completed(t["c"], RECEIVE))[-1]
    assert (rewound.params["base"], rewound.params["force"]) == ("s1", True)
    assert [c["dataset"] for c in await t.conflicts()] == ["other"]
    await t.set_strategy("use_newest")
    await t.settle()
    other = await t["b"].snapshots("other")
    assert list(other) == ["o1b"]
    assert await t["a"].snapshots("other") == other == await t["c"].snapshots("other")
    replaced = [r for r in await completed(t["a"], RECEIVE) if "other" in r.params["target"]]
    assert [(r.params["base"], r.params["force"]) for r in replaced] == [(None, True)]
    assert await t.conflicts() == []
    # the replaced copy went through the trash and is gone once the transaction completed
    assert not [o.name for o in await t["a"].model.list("tank") if "trash" in o.name]


async def test_a_witness_that_is_down_stops_nothing_local_and_reports_catch_up(
    trio: Trio,
) -> None:
    t = trio
    await t.group("manual")
    a, b = t["a"], t["b"]
    await snapshot(a, "data", "s1")
    await t.settle()
    t.switch.down = True
    write(a, "tank/data")
    made = await a.manager.submit("snapshot", {"datasets": ["tank/data"]})
    assert (await a.manager.wait(made.id)).state is TxState.COMPLETED  # not delayed
    assert not await a.client.cycle()
    assert (a.client.failures, a.client.outbox.report_owed) == (1, True)
    first_wait = a.client.next_attempt - t.clock.now
    status = await a.client.status()
    assert (status.reachable, status.unauthorized, status.failures) == (False, False, 1)
    assert "ConnectError" in status.error
    # backing off: before its time a round does nothing, not even try
    requests = t.switch.requests
    t.switch.down = False
    assert not await a.client.cycle()
    assert t.switch.requests == requests
    assert not await a.client.cycle()
    assert a.client.failures == 1
    # a second failure waits twice as long
    t.switch.down = True
    t.clock.now = a.client.next_attempt
    assert not await a.client.cycle()
    assert a.client.failures == 2
    assert a.client.next_attempt - t.clock.now == 2 * first_wait
    t.switch.down = False
    t.clock.now = a.client.next_attempt
    assert await a.client.cycle()
    assert (a.client.failures, a.client.outbox.report_owed) == (0, False)
    await t.settle()
    assert len(await b.snapshots("data")) == 2
    assert await b.snapshots("data") == await a.snapshots("data")


async def test_a_refused_key_is_reported_as_unauthorized_and_changes_nothing(
    trio: Trio,
) -> None:
    t = trio
    await t.group("manual")
    a = t["a"]
    await snapshot(a, "data", "s1")
    good = a.client.http
    bad = type(good)("http://witness", ApiKey("zfsw_s_x_nope"), good.system_id,
                     transport=t.switch)  # fmt: skip
    a.client.http = bad
    try:
        assert not await a.client.cycle()
        status = await a.client.status()
        assert (status.reachable, status.unauthorized) == (True, True)
        assert "401" in status.error
        assert "nope" not in status.error
        assert a.client.outbox.report_owed
        r = await t.witness.get("/snapshots", params={"system_id": a.system_id})
        assert r.status_code == 200
        assert r.json() == []
    finally:
        a.client.http = good
        await bad.close()


async def test_an_instruction_from_a_host_not_configured_is_refused_and_reported(
    tmp_path: Path,
) -> None:
    """c has no [hosts.NAME] at all: its instruction to receive from a.lan (or b.lan) fails
    with the reason, the witness keeps it on c's sync state, and nothing changes on c."""
    t = await start(tmp_path, configured={"c": set()})
    try:
        await t.group("manual")
        await snapshot(t["a"], "data", "s1")
        await t.settle()
        assert await t["c"].snapshots("data") == {}
        assert await t["c"].transactions(RECEIVE) == []
        status, error = (await t.states())[("c", "data")]
        assert status == "error"
        assert error is not None
        assert ".lan' is not configured here" in error
        assert (await t["c"].client.status()).instructions_failed >= 1
        assert await t["b"].snapshots("data") == await t["a"].snapshots("data")
    finally:
        await t.close()


async def test_the_daemons_loop_carries_a_snapshot_to_the_others_by_itself(trio: Trio) -> None:
    """`serve`, as the daemon runs it: the local transaction wakes a's loop (its report),
    b's and c's intervals fetch their instructions. Short intervals on the real clock; the
    wait is for the outcome, bounded, never timed."""
    t = trio
    await t.group("manual")
    for d in t.daemons.values():
        d.client.clock = time.time
        d.client.intervals = Intervals(report=0.05, heartbeat=0.05)
    loops = [asyncio.create_task(d.client.serve()) for d in t.daemons.values()]
    try:
        a = t["a"]
        await a.model.create("tank/data")
        made = await a.manager.submit("snapshot", {"datasets": ["tank/data"]})
        await a.manager.wait(made.id)
        wanted = await a.snapshots("data")
        received = asyncio.Event()  # a transaction completed on b or c
        for n in "bc":
            t[n].manager.listeners.append(
                lambda _id, state: received.set() if state is TxState.COMPLETED else None
            )
        async with asyncio.timeout(60):
            while True:
                received.clear()
                have = [await t[n].snapshots("data") for n in "bc"]
                if have == [wanted, wanted]:
                    break
                await received.wait()
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    assert [len(await completed(t[n], RECEIVE)) for n in "bc"] == [1, 1]


async def test_an_outcome_queued_before_a_restart_is_delivered_once_after_it(
    trio: Trio,
) -> None:
    """b runs its instruction but cannot send the outcome (that request alone is refused);
    its daemon restarts (new engine and client state, the same database); once the
    witness answers, the outcome goes before the next fetch, exactly once, and the witness
    has b in sync without handing the instruction out again."""
    t = trio
    await t.group("manual", "a", "b")
    a, b = t["a"], t["b"]
    await snapshot(a, "data", "s1")
    assert await a.client.cycle(force=True)
    outcomes = f"/sync/outcomes/{b.system_id}"
    t.switch.refused = {outcomes}
    assert not await b.client.cycle(force=True)
    assert await b.snapshots("data") == await a.snapshots("data")  # the receive was done
    assert "ConnectError" in b.client.error
    assert (await b.client.status()).queued_outcomes == 1
    assert (await t.states())[("b", "data")][0] == "syncing"  # handed out, not answered
    b = await t.restart("b")
    assert (await b.client.status()).queued_outcomes == 1
    t.switch.refused = set()
    start = len(t.switch.paths)
    assert await b.client.cycle(force=True)
    sent = [p for p in t.switch.paths[start:] if p.endswith(outcomes)]
    assert len(sent) == 1
    fetch = t.switch.paths[start:].index(f"/api/v1/sync/instructions/{b.system_id}")
    assert t.switch.paths[start:].index(sent[0]) < fetch  # drained before the fetch
    assert b.client.run_count == 0  # nothing was handed out again
    assert (await b.client.status()).queued_outcomes == 0
    await t.settle()
    assert [p for p in t.switch.paths[start:] if p.endswith(outcomes)] == sent
    assert await t.states() == {("a", "data"): ("in_sync", None), ("b", "data"): ("in_sync", None)}
    assert len(await completed(b, RECEIVE)) == 1


async def test_an_instruction_that_keeps_failing_waits_out_its_own_backoff(
    tmp_path: Path,
) -> None:
    """c cannot reach a (no [hosts.a]): its instruction fails, and each fetch before its
    backoff ran out skips it (no transaction; its last failure said again); the waits
    double up to the cap, outlive a restart, and once c is configured the next try
    succeeds and is forgotten."""
    t = await start(tmp_path, configured={"c": set()})
    try:
        await t.group("manual", "a", "c")
        a = t["a"]
        t["c"].client.held_back.backoff = Backoff(first=60, cap=200)
        await snapshot(a, "data", "s1")
        assert await a.client.cycle(force=True)
        outcomes = f"/sync/outcomes/{t['c'].system_id}"

        async def fetch() -> tuple[int, int]:
            """A round of c that fetches; (instructions failed, skipped) since it started."""
            c = t["c"].client
            c.outbox.owe_report()
            assert await c.cycle(force=True), c.error
            return c.failed_count, c.deferred_count

        def sent() -> int:
            return sum(1 for p in t.switch.paths if p.endswith(outcomes))

        assert await fetch() == (1, 0)
        assert sent() == 1
        failed_at = t.clock.now
        for wait, failures in ((60, 2), (120, 3), (200, 4), (200, 5)):
            t.clock.now = failed_at + wait - 1
            assert await fetch() == (failures - 1, failures - 1)  # skipped: not its time
            status, error = (await t.states())[("c", "data")]
            assert status == "error"  # its failure said again, nothing run
            assert "not configured here" in (error or "")
            assert f"failed {failures - 1}x; tried again after" in (error or "")
            t.clock.now = failed_at + wait
            assert await fetch() == (failures, failures - 1)
            failed_at = t.clock.now
        assert sent() == 9  # an outcome per fetch, run or skipped
        held = await WitnessBackoff(t["c"].db).all()
        assert [(h.failures, h.retry_at) for h in held.values()] == [(5, failed_at + 200)]
        assert "not configured here" in (next(iter(held.values())).last_error or "")
        assert await t["c"].transactions(RECEIVE) == []
        # a restart keeps the backoff: the first fetch after it skips the instruction
        c = await t.restart("c")
        assert await fetch() == (0, 1)
        # configured now: at its time it runs, succeeds and is forgotten
        c.manager.hosts["a"] = Host("a", a.model)
        c.client.labels = host_labels({"a": "a.lan"})
        t.clock.now = failed_at + 200
        assert await fetch() == (0, 1)
        assert c.client.run_count == 1
        assert await c.snapshots("data") == await a.snapshots("data")
        assert await WitnessBackoff(c.db).all() == {}
        assert await c.client.cycle(force=True)
        assert (await t.states())[("c", "data")] == ("in_sync", None)
    finally:
        await t.close()


async def test_a_full_receive_brings_the_whole_history_in_constant_commands(
    tmp_path: Path,
) -> None:
    """A new member's receive (no base): every snapshot of the source, in two streams and
    the same zfs commands on each host whatever the history's length."""
    calls = {}
    for count in (2, 30):
        r = await Replicas.start(tmp_path / f"{count}.db")
        try:
            await r.backup.create("bak/data")
            for n in range(count):
                r.backup.write("bak/data", 4 * KIB)
                await r.backup.snapshot([f"bak/data@s{n}"])
            params = {"source_host": "backup", "snapshot": f"bak/data@s{count - 1}",
                      "target": "dst/data"}  # fmt: skip
            made = await r.manager.submit(RECEIVE, params)
            assert (await r.manager.wait(made.id)).state is TxState.COMPLETED
            received = await guids(r.local, "dst/data")
            assert received == await guids(r.backup, "bak/data")
            assert len(received) == count
            assert [(x.snapshot, x.base) for x in r.recorders["backup"].sends] == [
                ("bak/data@s0", None),
                (f"bak/data@s{count - 1}", "bak/data@s0"),
            ]
            calls[count] = r.calls()
        finally:
            await r.close()
    assert calls[2] == calls[30]


async def test_an_outcome_whose_sync_state_is_gone_is_dropped_not_blocking(
    trio: Trio,
) -> None:
    """A queued outcome for a group deleted meanwhile (404 at the witness) is dropped with
    a warning; the one queued after it still goes, and the round succeeds."""
    t = trio
    await t.group("manual", "a", "b")
    b = t["b"]
    await snapshot(t["a"], "data", "s1")
    await t.settle()
    await b.client.outbox.add(Outcome(uuid.UUID(int=5), "gone", True, None, None))
    await b.client.outbox.add(Outcome(uuid.UUID(t.group_id), "data", False, "boom", None))
    assert not b.client.outbox.report_owed  # no report, no fetch: the outcomes alone
    assert await b.client.cycle(force=True), b.client.error
    assert await b.client.outbox.queued() == 0
    assert (await t.states())[("b", "data")] == ("error", "boom")
