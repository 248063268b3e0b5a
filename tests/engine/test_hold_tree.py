"""A recursive held snapshot planned from the datasets named alone (ops/snapshot.py): the
plan reads no tree, the locks of the datasets named cover what lies below them, the hold is
a `hold-tree` step (`zfs hold -r` from each dataset named) that records what it held, and
every undo and rollback still takes back exactly what the transaction did.

The counts and every failing or crashing call are in test_step_commands.py; a name taken
below is in test_plan_reads.py."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.world import World
from tests.engine.conftest import Engine
from tests.engine.test_plan_reads import Counting
from zfsyncd.store import TxState
from zfsyncd.tx.errors import DatasetBusyError, RollbackRefusedError
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.holds import HoldArgs, HoldTree, ReleaseSnapshots
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs


async def _tree(world: World, name: str) -> str:
    """`name` with `b`, `b/c` and `d` below it."""
    root = f"{world.src}/{name}"
    for child in ("", "/b", "/b/c", "/d"):
        await world.zfs.create(f"{root}{child}")
    return root


async def test_a_child_busy_in_another_transaction_holds_up_a_recursive_snapshot(
    engine: Engine,
) -> None:
    """Only the dataset named is locked and recorded, and its lock conflicts with one on
    any dataset below it: a child in another transaction refuses it (when it may not wait)
    or keeps it waiting, as when every child was locked by name."""
    manager, root = engine.manager, await _tree(engine.world, "busy")
    first = await manager.create("snapshot", {"datasets": [f"{root}/b/c"]})
    await manager.prepare(first.id)  # holds the lock on root/b/c
    params = {"datasets": [root], "recursive": True, "hold": True}
    refused = await manager.create("snapshot", params)
    with pytest.raises(DatasetBusyError, match=f"dataset {root} is busy in transaction {first.id}"):
        await manager.prepare(refused.id, wait=False)
    waiting = await manager.create("snapshot", params)
    preparing = asyncio.create_task(manager.prepare(waiting.id))
    await asyncio.sleep(0.05)
    assert not preparing.done()
    await manager.execute(first.id)
    assert (await manager.wait(first.id)).state is TxState.COMPLETED
    await preparing
    before = await engine.world.state(root)
    # and while it holds its lock, a child is busy for others
    child = await manager.create("snapshot", {"datasets": [f"{root}/d"]})
    with pytest.raises(DatasetBusyError, match=f"busy in transaction {waiting.id}"):
        await manager.prepare(child.id, wait=False)
    await manager.execute(waiting.id)
    done = await manager.wait(waiting.id)
    assert done.state is TxState.COMPLETED, done.error
    assert done.datasets == [root]
    assert [s.kind for s in done.steps] == ["create-snapshots", "hold-tree"]
    # every dataset of the tree got the snapshot and the hold, and the rollback takes
    # exactly that back
    short = f"zfsync_{done.id}"
    found = await engine.world.zfs.holds_many([f"{root}@{short}"], recursive=True)
    held = {h.snapshot for h in found if h.tag == short}
    assert held == {f"{root}{c}@{short}" for c in ("", "/b", "/b/c", "/d")}
    assert done.steps[1].undo_data is not None
    assert done.steps[1].undo_data["held"] == sorted(held)
    undo = await manager.rollback(done.id)
    await manager.prepare(undo.id)
    await manager.execute(undo.id)
    assert (await manager.wait(undo.id)).state is TxState.COMPLETED
    assert await engine.world.state(root) == before


async def test_a_later_change_below_refuses_the_rollback(engine: Engine) -> None:
    """The transaction records the dataset named; the rollback's conflict rule reads the
    records hierarchically, so a later change of a dataset below it still stands in the
    way."""
    manager, root = engine.manager, await _tree(engine.world, "later")
    params = {"datasets": [root], "recursive": True, "hold": True}
    done = await manager.wait((await manager.submit("snapshot", params)).id)
    assert done.state is TxState.COMPLETED, done.error
    later = await manager.wait((await manager.submit("snapshot", {"datasets": [f"{root}/b/c"]})).id)
    assert later.state is TxState.COMPLETED
    with pytest.raises(RollbackRefusedError, match=later.id):
        await manager.rollback(done.id)


async def test_the_hold_holds_what_the_snapshot_reached_and_records_it(world: World) -> None:
    """Without a reading handed on (a retried or restarted step), the hold reads what a
    `-r` reaches: a child made after the plan is held too, and recorded; a snapshot that
    carried the tag before is left as it was by the undo and by the rollback."""
    zfs, root = world.zfs, await _tree(world, "rec")
    await zfs.snapshot([f"{root}@s"], recursive=True)
    await zfs.hold("t", [f"{root}/d@s"])  # carried the tag before the step
    before = await world.state(root)
    counting = Counting(zfs)
    ctx = StepContext("tx", local_hosts(counting))
    hold = HoldTree(HoldArgs(tag="t", snapshots=(f"{root}@s",)))
    assert not await hold.check(ctx)
    had = await hold.capture(ctx)
    assert had == {"had": [f"{root}/d@s"]}
    counting.calls.clear()
    done = await hold.do(ctx, had)
    # d carries the tag, so -r from the root would fail: b by -r, the root by name
    assert [c for c in counting.calls if c == "hold"] == ["hold", "hold"]
    assert done == {"held": sorted(f"{root}{c}@s" for c in ("", "/b", "/b/c"))}
    assert await hold.check(ctx)
    assert await hold.do(ctx, had) == done  # again: nothing more to do, the same record
    undo_data = {**had, **done}
    await hold.undo(ctx, undo_data)
    assert await world.state(root) == before
    # the undo after a crash in `do` (no `held`): what carries the tag, but what had it
    await hold.do(ctx, had)
    await hold.undo(ctx, had)
    assert await world.state(root) == before
    # the rollback's step: a release of exactly what was held, by name
    await hold.do(ctx, had)
    inverse = hold.inverse(undo_data)
    assert isinstance(inverse, ReleaseSnapshots)
    assert inverse.args.snapshots == tuple(done["held"])
    took = await inverse.capture(ctx)
    await inverse.do(ctx, took)
    assert await world.state(root) == before


async def test_a_missing_snapshot_of_the_step_is_named_to_zfs(world: World) -> None:
    """A snapshot of the step that is gone: zfs says so, as for a plain hold; the undo
    releases what the hold placed on the others."""
    zfs = world.zfs
    root, other = await _tree(world, "gone"), await _tree(world, "gone2")
    await zfs.snapshot([f"{root}@s"], recursive=True)
    before = await world.state(root, other)
    ctx = StepContext("tx", local_hosts(zfs))
    hold = HoldTree(HoldArgs(tag="t", snapshots=(f"{root}@s", f"{other}@s")))
    had = await hold.capture(ctx)
    with pytest.raises(Exception, match=f"{other}@s"):
        await hold.do(ctx, had)
    await hold.undo(ctx, had)
    assert await world.state(root, other) == before


async def test_an_undo_with_no_record_takes_only_what_the_step_could_have_made(
    world: World,
) -> None:
    """The undo of a recursive snapshot step that has no record of what it made (its `do`
    failed, or a crash cut it off): when none of its names exists, the call made nothing,
    so a snapshot of that name below them (the call's refusal) is not its own; when they
    exist, it made them all (the call is all or none), and takes them all back."""
    zfs, root = world.zfs, await _tree(world, "norecord")
    await zfs.snapshot([f"{root}/b@s"], recursive=True)  # b and b/c: not the step's
    before = await world.state(root)
    ctx = StepContext("tx", local_hosts(zfs))
    step = CreateSnapshots(CreateSnapshotsArgs(snapshots=(f"{root}@s",), recursive=True))
    with pytest.raises(Exception, match="already exists"):
        await step.do(ctx, {})
    await step.undo(ctx, {})
    assert await world.state(root) == before
    fresh = await _tree(world, "norecord2")
    before = await world.state(fresh)
    step = CreateSnapshots(CreateSnapshotsArgs(snapshots=(f"{fresh}@s",), recursive=True))
    await step.do(ctx, {})  # made, and then the record of it lost (a crash)
    await step.undo(ctx, {})
    assert await world.state(fresh) == before
