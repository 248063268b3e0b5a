"""The manager's operations, end to end on the world's backend: the snapshot transaction and
its rollback, refusals that change nothing, locks, cancel, timeout, retry and cleanup."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from tests.engine.conftest import Engine
from tests.engine.scenario import prepare_world
from zfsyncd.store import TxState
from zfsyncd.tx.errors import (
    DatasetBusyError,
    InvalidTransitionError,
    PlanError,
    RollbackRefusedError,
    TransactionNotFoundError,
)
from zfsyncd.tx.kinds import Plan
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.steps import Step, StepArgs, StepContext
from zfsyncd.tx.steps.base import JsonDict, register
from zfsyncd.tx.steps.datasets import CreateDataset, CreateDatasetArgs

ALICE = Caller(uid=1000, name=":1.42")


async def test_snapshot_transaction_and_its_rollback(engine: Engine) -> None:
    zfs, src = engine.world.zfs, engine.world.src
    await zfs.create(f"{src}/a")
    await zfs.create(f"{src}/b")
    await zfs.create(f"{src}/b/child")
    before = await engine.world.state(src)
    record = await engine.manager.submit(
        "snapshot",
        {"datasets": [f"{src}/a", f"{src}/b"], "recursive": True, "hold": True,
         "properties": {"zfsync:a": "made-by-test"}},
        caller=ALICE,
    )  # fmt: skip
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    name = f"zfsync_{record.id}"
    for dataset in (f"{src}/a", f"{src}/b", f"{src}/b/child"):
        snap = await zfs.get(f"{dataset}@{name}", user_properties=["zfsync:a"])
        assert snap.user_properties == {"zfsync:a": "made-by-test"}
        assert [h.tag for h in await zfs.holds(snap.name)] == [name]
    assert done.uid == 1000
    assert [s.kind for s in done.steps] == ["create-snapshots", "hold-tree"]
    assert {e.action for e in await engine.manager.audit.list(tx_id=record.id)} >= {
        "create", "prepare", "execute"
    }  # fmt: skip

    undo = await engine.manager.rollback(record.id, caller=ALICE)
    assert undo.rolls_back == record.id
    await engine.manager.prepare(undo.id)
    await engine.manager.execute(undo.id)
    undone = await engine.manager.wait(undo.id)
    assert undone.state is TxState.COMPLETED, undone.error
    assert [s.kind for s in undone.steps] == ["release", "destroy-snapshots"]
    assert await engine.world.state(src) == before
    with pytest.raises(RollbackRefusedError, match="has already been rolled back"):
        await engine.manager.rollback(record.id)


async def test_the_compound_transaction_rolls_back_to_exactly_before(engine: Engine) -> None:
    src, dst = engine.world.src, engine.world.dst
    await prepare_world(engine.world, src)
    before = await engine.world.state(src, dst)
    done = await engine.manager.wait(
        (await engine.manager.submit("compound", {"src": src, "dst": dst, "reversible": True})).id
    )
    assert done.state is TxState.COMPLETED, done.error
    assert await engine.world.state(src, dst) != before
    undo = await engine.manager.rollback(done.id)
    await engine.manager.prepare(undo.id)
    await engine.manager.execute(undo.id)
    assert (await engine.manager.wait(undo.id)).state is TxState.COMPLETED
    assert await engine.world.state(src, dst) == before
    assert await engine.manager.cleanups.pending() == []  # the trash was emptied


async def test_bad_requests_are_refused_and_change_nothing(engine: Engine) -> None:
    src = engine.world.src
    before = await engine.world.state(src)
    with pytest.raises(PlanError, match="invalid character ';'"):
        await engine.manager.create("snapshot", {"datasets": [f"{src}; rm -rf /"]})
    with pytest.raises(PlanError, match="unknown transaction type 'frobnicate'"):
        await engine.manager.create("frobnicate", {})
    with pytest.raises(PlanError, match=f"dataset {src}/nope does not exist"):
        await engine.manager.submit("snapshot", {"datasets": [f"{src}/nope"]})
    [failed] = await engine.manager.list(state=TxState.FAILED)
    assert failed.rollback_outcome == "nothing to undo: nothing was changed"
    with pytest.raises(TransactionNotFoundError, match="there is no transaction 'nope'"):
        await engine.manager.get("nope")
    with pytest.raises(RollbackRefusedError, match="only a completed transaction"):
        await engine.manager.rollback(failed.id)
    with pytest.raises(InvalidTransitionError, match="is FAILED: it cannot be executed"):
        await engine.manager.execute(failed.id)
    assert await engine.world.state(src) == before
    refusals = [e for e in await engine.manager.audit.list() if e.outcome.startswith("refused")]
    assert len(refusals) == 4


async def test_a_transaction_with_a_destroy_cannot_be_rolled_back(engine: Engine) -> None:
    src, dst = engine.world.src, engine.world.dst
    await prepare_world(engine.world, src)
    record = await engine.manager.submit("compound", {"src": src, "dst": dst, "with_destroy": True})
    assert (await engine.manager.wait(record.id)).state is TxState.COMPLETED
    assert not await engine.world.zfs.exists(f"{src}/base@old")  # finalized: really gone
    with pytest.raises(
        RollbackRefusedError, match="base@old: what is destroyed cannot be brought back"
    ):
        await engine.manager.rollback(record.id)


async def test_a_busy_dataset_fails_fast_or_waits(engine: Engine) -> None:
    src = engine.world.src
    await engine.world.zfs.create(f"{src}/a")
    await engine.world.zfs.create(f"{src}/a/child")
    await engine.world.zfs.create(f"{src}/other")
    first = await engine.manager.create("snapshot", {"datasets": [f"{src}/a"]})
    await engine.manager.prepare(first.id)  # holds the lock on src/a
    second = await engine.manager.create("snapshot", {"datasets": [f"{src}/a/child"]})
    with pytest.raises(
        DatasetBusyError, match=f"dataset {src}/a/child is busy in transaction {first.id}"
    ):
        await engine.manager.prepare(second.id, wait=False)
    assert (await engine.manager.get(second.id)).state is TxState.FAILED
    # independent datasets are not held up
    independent = await engine.manager.submit(
        "snapshot", {"datasets": [f"{src}/other"]}, wait_for_locks=False
    )
    assert (await engine.manager.wait(independent.id)).state is TxState.COMPLETED
    # a waiting request runs once the holder has finished
    third = await engine.manager.create("snapshot", {"datasets": [f"{src}/a/child"]})
    waiting = asyncio.create_task(engine.manager.prepare(third.id))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await engine.manager.execute(first.id)
    assert (await engine.manager.wait(first.id)).state is TxState.COMPLETED
    await waiting
    await engine.manager.execute(third.id)
    assert (await engine.manager.wait(third.id)).state is TxState.COMPLETED
    assert engine.manager.locks.holders() == {}


class GateArgs(StepArgs):
    gate: str


@register
class WaitAtGate(Step[GateArgs]):
    """A step that waits until the test opens its gate: something slow to cancel."""

    kind = "test-wait-at-gate"
    Args = GateArgs
    gates: ClassVar[dict[str, asyncio.Event]] = {}
    reached: ClassVar[dict[str, asyncio.Event]] = {}

    def describe(self) -> str:
        return f"wait at gate {self.args.gate}"

    def datasets(self) -> set[str]:
        return set()

    async def check(self, ctx: StepContext) -> bool:
        return False

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        self.reached.setdefault(self.args.gate, asyncio.Event()).set()
        await self.gates.setdefault(self.args.gate, asyncio.Event()).wait()
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        return None


class SlowKind:
    """Creates a dataset, then waits at a gate."""

    name = "slow"

    def describe(self, params: JsonDict) -> str:
        return "create, then wait"

    def datasets(self, params: JsonDict) -> set[str]:
        return {params["dataset"]}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        steps: list[Step[Any]] = [
            CreateDataset(CreateDatasetArgs(name=params["dataset"])),
            WaitAtGate(GateArgs(gate=params["gate"])),
        ]
        return Plan(steps=steps, description="slow")


@pytest.fixture
def slow(engine: Engine) -> Engine:
    engine.kinds["slow"] = SlowKind()  # the manager reads this same table
    return engine


async def test_cancel_before_and_while_executing(slow: Engine) -> None:
    src = slow.world.src
    before = await slow.world.state(src)
    queued = await slow.manager.create("slow", {"dataset": f"{src}/q", "gate": "never"})
    cancelled = await slow.manager.cancel(queued.id, caller=ALICE)
    assert cancelled.state is TxState.CANCELLED
    running = await slow.manager.submit("slow", {"dataset": f"{src}/r", "gate": "g1"})
    await WaitAtGate.reached.setdefault("g1", asyncio.Event()).wait()
    assert await slow.world.zfs.exists(f"{src}/r")
    done = await slow.manager.cancel(running.id, caller=ALICE)
    assert done.state is TxState.CANCELLED
    assert "cancelled by uid 1000" in (done.error or "")
    assert (done.rollback_outcome or "").startswith("complete")
    assert await slow.world.state(src) == before
    with pytest.raises(InvalidTransitionError, match="is CANCELLED: it cannot be cancelled"):
        await slow.manager.cancel(running.id)


async def test_a_timeout_fails_the_transaction_and_undoes_it(slow: Engine) -> None:
    src = slow.world.src
    before = await slow.world.state(src)
    record = await slow.manager.submit("slow", {"dataset": f"{src}/t", "gate": "g2"}, timeout=0.2)
    done = await slow.manager.wait(record.id)
    assert done.state is TxState.FAILED
    assert done.error_kind == "timeout"
    assert await slow.world.state(src) == before


async def test_retry_of_a_failed_transaction(engine: Engine) -> None:
    src = engine.world.src
    with pytest.raises(PlanError):
        await engine.manager.submit("snapshot", {"datasets": [f"{src}/late"]})
    [failed] = await engine.manager.list(state=TxState.FAILED)
    await engine.world.zfs.create(f"{src}/late")  # the cause is fixed
    again = await engine.manager.retry(failed.id, caller=ALICE)
    assert again.retry_of == failed.id
    await engine.manager.prepare(again.id)
    await engine.manager.execute(again.id)
    assert (await engine.manager.wait(again.id)).state is TxState.COMPLETED
    with pytest.raises(InvalidTransitionError, match="cannot be retried"):
        await engine.manager.retry(again.id)


async def test_cleanup_forgets_old_transactions_but_not_the_audit_log(engine: Engine) -> None:
    src = engine.world.src
    record = await engine.manager.submit("snapshot", {"datasets": [src]})
    await engine.manager.wait(record.id)
    assert await engine.manager.cleanup_finished(older_than=3600) == 0
    assert await engine.manager.cleanup_finished(older_than=0) == 1
    with pytest.raises(TransactionNotFoundError):
        await engine.manager.get(record.id)
    assert await engine.manager.audit.list(tx_id=record.id) != []


async def test_start_queues_behind_a_busy_dataset_and_cancel_takes_it_out(slow: Engine) -> None:
    src = slow.world.src
    seen: list[tuple[str, TxState]] = []
    slow.manager.listeners.append(lambda tx_id, state: seen.append((tx_id, state)))
    holder = await slow.manager.submit("slow", {"dataset": f"{src}/h", "gate": "g3"})
    await WaitAtGate.reached.setdefault("g3", asyncio.Event()).wait()

    # a refusal of the plan is heard at once, and changes nothing
    bad = await slow.manager.create("snapshot", {"datasets": [f"{src}/missing"]})
    with pytest.raises(PlanError, match=f"dataset {src}/missing does not exist"):
        await slow.manager.start(bad.id)
    # a busy dataset: fail fast when asked to
    fast = await slow.manager.create("snapshot", {"datasets": [f"{src}/h"]})
    with pytest.raises(DatasetBusyError, match=f"busy in transaction {holder.id}"):
        await slow.manager.start(fast.id, wait_for_locks=False)
    # ... or wait in the queue: start returns at once, the transaction is still CREATED
    queued = await slow.manager.create("snapshot", {"datasets": [f"{src}/h"]})
    assert (await slow.manager.start(queued.id)).state is TxState.CREATED
    later = await slow.manager.create("snapshot", {"datasets": [f"{src}/h"]})
    await slow.manager.start(later.id)
    assert (await slow.manager.cancel(queued.id, caller=ALICE)).state is TxState.CANCELLED

    WaitAtGate.gates.setdefault("g3", asyncio.Event()).set()
    assert (await slow.manager.wait(holder.id)).state is TxState.COMPLETED
    assert (await slow.manager.wait(later.id)).state is TxState.COMPLETED
    assert slow.manager.locks.holders() == {}
    assert (await slow.manager.get(queued.id)).state is TxState.CANCELLED
    assert not await slow.world.zfs.exists(f"{src}/h@zfsync_{queued.id}")
    assert await slow.world.zfs.exists(f"{src}/h@zfsync_{later.id}")
    # every creation and transition was told to the listeners, in order
    states = [state for tx_id, state in seen if tx_id == later.id]
    assert states == [TxState.CREATED, TxState.PREPARED, TxState.EXECUTING, TxState.COMPLETED]
    assert [s for t, s in seen if t == bad.id] == [TxState.CREATED, TxState.FAILED]


async def test_recovery_cancels_what_had_not_begun(engine: Engine) -> None:
    src = engine.world.src
    before = await engine.world.state(src)
    created = await engine.manager.create("snapshot", {"datasets": [src]})
    prepared = await engine.manager.create("snapshot", {"datasets": [src]})
    await engine.manager.prepare(prepared.id, wait=False)
    restarted = await engine.restart()
    try:
        recovered = {r.id: r for r in await restarted.manager.recover()}
        for tx_id in (created.id, prepared.id):
            assert recovered[tx_id].state is TxState.CANCELLED
            assert recovered[tx_id].error == "zfsyncd stopped before it ran"
        assert await engine.world.state(src) == before
    finally:
        await restarted.close()
