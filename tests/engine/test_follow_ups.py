"""The follow-up of a completed transaction (kinds.Following; what a replica sync's expiry
is): stored in the commit of the first's move to COMPLETED, run once its locks are
released (here it needs the same dataset), linked to it, on behalf of the same caller;
`wait` returns once it has ended; a crash before it started leaves it to recovery, which
runs it once. A follow-up that is refused leaves the first completed; a transaction that did
not complete, or had no steps, has none. Told with a test kind: a snapshot followed by a
snapshot of the datasets named in `then`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.engine.conftest import Engine
from tests.faults import SimulatedCrash
from zfsyncd.ops.snapshot import SnapshotKind
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.errors import RollbackRefusedError
from zfsyncd.tx.kinds import FOLLOWS, FollowUp
from zfsyncd.tx.lifecycle import Lifecycle
from zfsyncd.tx.machine import TransactionMachine
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.zfs.models import ObjectType

ALICE = Caller(uid=1000, name=":1.42")
KIND = "snapshot-then"


class SnapshotThen(SnapshotKind):
    name = KIND

    def follow_up(self, params: JsonDict) -> FollowUp | None:
        if "destroy" in params:  # a follow-up that cannot be rolled back, as an expiry
            return FollowUp("destroy-snapshots", {"snapshots": params["destroy"]})
        then = params.get("then")
        return None if then is None else FollowUp("snapshot", {"datasets": then})

    def parse(self, params: JsonDict) -> Any:
        return super().parse({k: v for k, v in params.items() if k not in ("then", "destroy")})


async def _followed(engine: Engine, params: dict[str, Any]) -> list[TransactionRecord]:
    engine.kinds[KIND] = SnapshotThen()
    record = await engine.manager.submit(KIND, params, caller=ALICE)
    first = await engine.manager.wait(record.id)
    follows = [t for t in await engine.manager.list() if t.metadata.get(FOLLOWS) == record.id]
    return [first, *follows]


async def test_a_follow_up_runs_after_the_transaction_it_follows(engine: Engine) -> None:
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    first, then = await _followed(engine, {"datasets": [a], "then": [a]})
    assert first.state is then.state is TxState.COMPLETED  # both ended when `wait` returned
    assert then.id > first.id
    assert then.uid == ALICE.uid
    assert (then.type, then.params) == ("snapshot", {"datasets": [a]})
    assert f"(after {first.id})" in (then.description or "")
    assert {f"zfsync_{first.id}", f"zfsync_{then.id}"} <= {
        s.short_name for s in await engine.world.zfs.list(a, types=[ObjectType.SNAPSHOT])
    }
    created = [e for e in await engine.manager.audit.list(tx_id=then.id) if e.action == "create"]
    assert [(e.uid, e.caller) for e in created] == [(ALICE.uid, ALICE.name)]


async def test_a_refused_follow_up_leaves_the_first_completed(engine: Engine) -> None:
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    first, then = await _followed(engine, {"datasets": [a], "then": [f"{a}/nope"]})
    assert first.state is TxState.COMPLETED
    assert then.state is TxState.FAILED
    assert "nope" in (then.error or "")


async def test_a_transaction_that_did_not_complete_has_no_follow_up(engine: Engine) -> None:
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    engine.zfs.fail(len(engine.zfs.calls))  # its snapshot fails
    found = await _followed(engine, {"datasets": [a], "then": [a]})
    engine.zfs.heal()
    assert [t.state for t in found] == [TxState.FAILED]


async def _dies_before_completing(
    self: Lifecycle, record: TransactionRecord, machine: TransactionMachine, caller: Caller
) -> None:
    raise SimulatedCrash("killed with every step done, before the move to COMPLETED")


async def _dies_in_the_commit(self: Lifecycle, record: TransactionRecord, caller: Caller) -> None:
    await _CREATE(self, record, caller)  # stored, but the commit never ends
    raise SimulatedCrash("killed between the follow-up's creation and the move to COMPLETED")


async def _dies_before_the_follow_up_starts(
    self: Lifecycle, record: TransactionRecord, follow: TransactionRecord, caller: Caller
) -> None:
    raise SimulatedCrash("killed once COMPLETED, before its follow-up started")


_CREATE = Lifecycle._create_follow_up
#: where the daemon dies, the method that dies there, and whether the first had COMPLETED
CRASHES = {
    "steps done": ("complete", _dies_before_completing, False),
    "follow-up stored, not committed": ("_create_follow_up", _dies_in_the_commit, False),
    "completed, follow-up not started": ("_run_follow_up", _dies_before_the_follow_up_starts, True),
}


async def _ran_once(engine: Engine, first_id: str, dataset: str) -> TransactionRecord:
    """Once the first (COMPLETED) and its follow-up have ended: its one follow-up, which
    COMPLETED; the dataset has the snapshot of each, no other."""
    assert (await engine.manager.wait(first_id)).state is TxState.COMPLETED
    listed = await engine.manager.list()
    [then] = [t for t in listed if t.metadata.get(FOLLOWS) == first_id]
    assert then.state is TxState.COMPLETED, then.error
    snapshots = await engine.world.zfs.list(dataset, types=[ObjectType.SNAPSHOT])
    assert sorted(s.short_name for s in snapshots) == [f"zfsync_{first_id}", f"zfsync_{then.id}"]
    return then


@pytest.mark.parametrize("where", sorted(CRASHES))
async def test_a_crash_between_completion_and_the_follow_up_runs_it_exactly_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The follow-up and the move to COMPLETED are one commit, and recovery starts a
    follow-up left CREATED: wherever the daemon dies between the last step and the
    follow-up's start, the restarted one runs the follow-up once, not zero or two times."""
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    engine.kinds[KIND] = SnapshotThen()
    method, dying, completed = CRASHES[where]
    monkeypatch.setattr(Lifecycle, method, dying)
    record = await engine.manager.submit(KIND, {"datasets": [a], "then": [a]}, caller=ALICE)
    with pytest.raises(SimulatedCrash):
        await engine.manager.wait(record.id)
    monkeypatch.undo()
    left = await engine.manager.get(record.id)
    assert left.state is (TxState.COMPLETED if completed else TxState.EXECUTING)
    restarted = await engine.restart()
    try:
        restarted.kinds[KIND] = SnapshotThen()
        recovered = {r.id: r.state for r in await restarted.manager.recover()}
        assert recovered == ({} if completed else {record.id: TxState.COMPLETED})
        then = await _ran_once(restarted, record.id, a)
        assert then.uid == ALICE.uid
    finally:
        await restarted.close()


async def test_a_follow_up_queued_for_its_locks_at_a_crash_is_planned_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon dies while the follow-up is PREPARED (planned, queued for its locks):
    recovery cancels that plan, of a moment gone, and stores the follow-up again, which
    runs once after the restart."""
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    engine.kinds[KIND] = SnapshotThen()
    monkeypatch.setattr(Lifecycle, "_run_follow_up", _dies_before_the_follow_up_starts)
    record = await engine.manager.submit(KIND, {"datasets": [a], "then": [a]}, caller=ALICE)
    with pytest.raises(SimulatedCrash):
        await engine.manager.wait(record.id)
    monkeypatch.undo()
    [then] = [t for t in await engine.manager.list() if t.metadata.get(FOLLOWS) == record.id]
    assert (await engine.manager.prepare(then.id)).state is TxState.PREPARED
    restarted = await engine.restart()
    try:
        restarted.kinds[KIND] = SnapshotThen()
        recovered = {r.id: r for r in await restarted.manager.recover()}
        assert recovered[then.id].state is TxState.CANCELLED
        await restarted.manager.wait(record.id)
        listed = await restarted.manager.list()
        [again] = [t for t in listed if t.metadata.get(FOLLOWS) == record.id and t.id != then.id]
        assert (again.state, again.retry_of, again.uid) == (TxState.COMPLETED, then.id, ALICE.uid)
        assert f"run again as {again.id}" in (recovered[then.id].error or "")
        snapshots = await restarted.world.zfs.list(a, types=[ObjectType.SNAPSHOT])
        assert sorted(s.short_name for s in snapshots) == [
            f"zfsync_{record.id}",
            f"zfsync_{again.id}",
        ]
    finally:
        await restarted.close()


def _hold_follow_ups(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Each follow-up waits, once its first COMPLETED, before it starts: the first event is
    set when one waits, the second lets it go on."""
    completed, go = asyncio.Event(), asyncio.Event()
    run = Lifecycle._run_follow_up

    async def held(
        self: Lifecycle, record: TransactionRecord, follow: TransactionRecord, caller: Caller
    ) -> None:
        completed.set()
        await go.wait()
        await run(self, record, follow, caller)

    monkeypatch.setattr(Lifecycle, "_run_follow_up", held)
    return completed, go


async def test_a_stop_before_the_follow_up_started_leaves_it_to_the_next_start(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean stop (shutdown) once the first COMPLETED: the follow-up stays CREATED, not
    cancelled, and the next start runs it, as after a crash."""
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    engine.kinds[KIND] = SnapshotThen()
    completed, go = _hold_follow_ups(monkeypatch)
    record = await engine.manager.submit(KIND, {"datasets": [a], "then": [a]})
    await completed.wait()
    stopping = asyncio.ensure_future(engine.manager.shutdown())
    await asyncio.sleep(0)  # the shutdown begins (it says it is stopping before it awaits)
    go.set()
    await stopping
    [then] = [t for t in await engine.manager.list() if t.metadata.get(FOLLOWS) == record.id]
    assert then.state is TxState.CREATED
    restarted = await engine.restart()
    try:
        restarted.kinds[KIND] = SnapshotThen()
        assert await restarted.manager.recover() == []
        assert (await _ran_once(restarted, record.id, a)).id == then.id
    finally:
        await restarted.close()


async def test_a_follow_up_stored_before_its_first_completed_is_stored_again_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of an older zfsyncd, which stored the follow-up before the commit of the
    move to COMPLETED: a crash in between left it CREATED beside an EXECUTING first.
    Recovery cancels that one and completes the first with a follow-up of its own."""
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    engine.kinds[KIND] = SnapshotThen()
    old: list[str] = []

    async def older(
        self: Lifecycle, record: TransactionRecord, machine: TransactionMachine, caller: Caller
    ) -> None:
        follow = await _CREATE(self, record, caller)  # its own commit, as before
        assert follow is not None
        old.append(follow.id)
        raise SimulatedCrash("killed before the move to COMPLETED")

    monkeypatch.setattr(Lifecycle, "complete", older)
    record = await engine.manager.submit(KIND, {"datasets": [a], "then": [a]})
    with pytest.raises(SimulatedCrash):
        await engine.manager.wait(record.id)
    monkeypatch.undo()
    restarted = await engine.restart()
    try:
        restarted.kinds[KIND] = SnapshotThen()
        recovered = {r.id: r.state for r in await restarted.manager.recover()}
        assert recovered == {record.id: TxState.COMPLETED, old[0]: TxState.CANCELLED}
        await restarted.manager.wait(record.id)
        follows = [
            t.state for t in await restarted.manager.list()
            if t.metadata.get(FOLLOWS) == record.id
        ]  # fmt: skip
        assert sorted(follows) == sorted([TxState.CANCELLED, TxState.COMPLETED])
    finally:
        await restarted.close()


async def test_the_rollback_of_one_whose_follow_up_has_not_ended_waits_for_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked for while the follow-up is stored but not yet run (held here): the rollback
    waits for it to end, then decides. Ended, the follow-up is final (a destroy) and
    stands aside; still to run, it would refuse the rollback as a later transaction."""
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    await engine.world.zfs.snapshot([f"{a}@zfsync_old"])
    engine.kinds[KIND] = SnapshotThen()
    completed, go = _hold_follow_ups(monkeypatch)
    record = await engine.manager.submit(KIND, {"datasets": [a], "destroy": [f"{a}@zfsync_old"]})
    await completed.wait()
    assert (await engine.manager.get(record.id)).state is TxState.COMPLETED
    asked = asyncio.ensure_future(engine.manager.rollback(record.id))
    go.set()
    undo = await asked
    [then] = [t for t in await engine.manager.list() if t.metadata.get(FOLLOWS) == record.id]
    assert then.state is TxState.COMPLETED
    await engine.manager.start(undo.id)
    assert (await engine.manager.wait(undo.id)).state is TxState.COMPLETED
    left = {s.short_name for s in await engine.world.zfs.list(a, types=[ObjectType.SNAPSHOT])}
    assert left == set()  # the follow-up's destroy stays; the first is undone


async def test_a_reversible_follow_up_is_rolled_back_first(engine: Engine) -> None:
    a = f"{engine.world.src}/a"
    await engine.world.zfs.create(a)
    first, then = await _followed(engine, {"datasets": [a], "then": [a]})
    with pytest.raises(RollbackRefusedError, match=f"later transactions.*{then.id}"):
        await engine.manager.rollback(first.id)
