"""The dataset steps that the init pattern and a migration share (create, clone, rename):
`do` takes what `capture` read moments before instead of reading it again (ReadForDo), and a
`do` without that reading (retried, or after a restart: a new step object) reads both names
again, so a change already made is never made twice."""

from __future__ import annotations

from tests.contract.world import World
from tests.engine.test_plan_reads import Counting
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.datasets import (
    CloneArgs,
    CloneSnapshot,
    CreateDataset,
    CreateDatasetArgs,
    Rename,
    RenameArgs,
)


async def test_create_reads_once_before_and_once_after(world: World) -> None:
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    name = f"{world.src}/made"
    step = CreateDataset(CreateDatasetArgs(name=name))
    before = await step.capture(ctx)
    assert before == {"existed": False}
    done = await step.do(ctx, before)
    assert zfs.calls == ["get", "create", "get"]  # capture's reading, the change, the guid
    assert done == {"guid": (await world.zfs.get(name)).guid}
    zfs.calls.clear()
    # redone (a new step object, as after a restart): it reads, finds it made, changes nothing
    again = CreateDataset(CreateDatasetArgs(name=name))
    assert await again.do(ctx, before) == done
    assert zfs.calls == ["get", "get"]


async def test_clone_takes_captures_reading(world: World) -> None:
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    origin = f"{world.src}/origin"
    await world.zfs.create(origin)
    await world.zfs.snapshot([f"{origin}@s"])
    step = CloneSnapshot(CloneArgs(snapshot=f"{origin}@s", target=f"{world.src}/copy"))
    await step.do(ctx, await step.capture(ctx))
    assert zfs.calls == ["get", "clone", "get"]
    assert (await world.zfs.get(f"{world.src}/copy")).origin == f"{origin}@s"


async def test_rename_reads_once_and_a_redo_renames_nothing_twice(world: World) -> None:
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    old, new = f"{world.src}/old", f"{world.src}/new"
    await world.zfs.create(old)
    guid = (await world.zfs.get(old)).guid
    step = Rename(RenameArgs(old=old, new=new))
    before = await step.capture(ctx)
    assert before == {"guid": guid}
    await step.do(ctx, before)
    assert zfs.calls == ["get", "rename"]
    assert (await world.zfs.get(new)).guid == guid
    zfs.calls.clear()
    # the same step's `do` again (retried): capture's reading was taken once, so it checks
    # both names and, already renamed, does not rename
    await step.do(ctx, before)
    assert zfs.calls == ["get", "get"]
    assert (await world.zfs.get(new)).guid == guid
