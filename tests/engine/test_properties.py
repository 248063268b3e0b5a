"""Random sequences of create / execute / fail / cancel / rollback (hypothesis), on the
model, and the engine's invariants after each:

- no step ran without a journal entry: every step past PENDING has an intent, first;
- no lock outlives its transaction: nothing terminal holds a lock;
- undo order is the reverse of completion order;
- a transaction that ended FAILED or CANCELLED left ZFS as it found it (its rollback was
  complete), and rolling back every COMPLETED transaction, newest first, restores the start.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from tests.contract.world import MemoryWorld, backend_kind
from tests.engine.conftest import Engine
from tests.engine.scenario import prepare_world
from zfsyncd.store import TERMINAL_STATES, JournalEvent, JournalPhase, StepState, TxState
from zfsyncd.tx.errors import TxError

pytestmark = pytest.mark.skipif(backend_kind() == "real", reason="random sequences: model only")

Op = tuple[str, int, int | None]
ops = st.lists(
    st.tuples(
        st.sampled_from(["snapshot", "compound", "cancel-queued", "rollback"]),
        st.integers(0, 2),  # which dataset / root
        st.one_of(st.none(), st.integers(0, 14)),  # fail the n-th changing call, or not
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops)
def test_random_sequences_keep_the_invariants(sequence: list[Op]) -> None:
    asyncio.run(_run(sequence))


async def _run(sequence: list[Op]) -> None:
    world = MemoryWorld("prop")
    await world.setup()
    roots = [f"{world.src}/d{i}" for i in range(3)]
    for root in roots:
        await world.zfs.create(root)
        await prepare_world(world, root)
    for n, (op, which, _) in enumerate(sequence):
        if op == "compound":  # its starting datasets, made outside any transaction
            src, dst = _compound_roots(roots[which], world.dst, n)
            await world.zfs.create(src)
            await world.zfs.create(dst)
            await prepare_world(world, src)
    start = await world.state(world.src, world.dst)
    with tempfile.TemporaryDirectory() as tmp:
        engine = await Engine.start(world, Path(tmp) / "zfsyncd.db")
        try:
            completed: list[str] = []
            for n, (op, which, fail_at) in enumerate(sequence):
                await _step(engine, op, roots[which], n, fail_at, completed)
            await _check_invariants(engine)
            for tx_id in reversed(completed):  # undo everything, newest first
                undo = await engine.manager.rollback(tx_id)
                await engine.manager.prepare(undo.id)
                await engine.manager.execute(undo.id)
                assert (await engine.manager.wait(undo.id)).state is TxState.COMPLETED
            await _check_invariants(engine)
            assert await world.state(world.src, world.dst) == start
        finally:
            await engine.close()


async def _step(
    engine: Engine, op: str, root: str, n: int, fail_at: int | None, completed: list[str]
) -> None:
    manager = engine.manager
    if op == "cancel-queued":
        record = await manager.create("snapshot", {"datasets": [root]})
        assert (await manager.cancel(record.id)).state is TxState.CANCELLED
        return
    if op == "rollback":
        if completed:
            tx_id = completed.pop()
            undo = await manager.rollback(tx_id)
            await manager.prepare(undo.id)
            await manager.execute(undo.id)
            assert (await manager.wait(undo.id)).state is TxState.COMPLETED
        return
    params: dict[str, object] = {"datasets": [root], "recursive": True}
    if op == "compound":
        src, dst = _compound_roots(root, engine.world.dst, n)
        params = {"src": src, "dst": dst, "reversible": True}
    before = await engine.world.state(engine.world.src, engine.world.dst)
    if fail_at is not None:
        engine.zfs.fail(len(engine.zfs.calls) + fail_at)
    try:
        record = await manager.submit(op, params)
    except TxError:
        engine.zfs.heal()
        return
    done = await manager.wait(record.id)
    engine.zfs.heal()
    if done.state is TxState.COMPLETED:
        completed.append(done.id)
    else:
        assert (done.rollback_outcome or "").startswith(("complete", "nothing")), done
        assert await engine.world.state(engine.world.src, engine.world.dst) == before


def _compound_roots(root: str, dst: str, n: int) -> tuple[str, str]:
    return f"{root}/c{n}", f"{dst}/c{n}"


async def _check_invariants(engine: Engine) -> None:
    for record in await engine.manager.list(limit=None):
        journal = await engine.manager.store.journal_for(record.id)
        for step in record.steps:
            do = [j for j in journal if j.step_idx == step.idx and j.phase is JournalPhase.DO]
            if step.state is StepState.PENDING:
                assert do == []
            else:
                assert do, (record.id, step.idx)
                assert do[0].event is JournalEvent.INTENT, (record.id, step.idx)
        # steps start in index order, so the reverse of completion order is descending
        undone = [j.step_idx for j in journal
                  if j.phase is JournalPhase.UNDO and j.event is JournalEvent.INTENT]  # fmt: skip
        assert undone == sorted(undone, reverse=True), (record.id, undone)
        assert len(set(undone)) == len(undone)
        if record.state in TERMINAL_STATES:
            assert record.id not in engine.manager.locks.holders()
