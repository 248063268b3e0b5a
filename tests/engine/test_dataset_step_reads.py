"""The dataset steps that the init pattern and a migration share (create, clone, rename, and
rename with the settings of the renamed dataset):
`do` takes what `capture` read moments before instead of reading it again (ReadForDo), and a
`do` without that reading (retried, or after a restart: a new step object) reads both names
again, so a change already made is never made twice."""

from __future__ import annotations

import pytest

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
    RenameAndSet,
    RenameAndSetArgs,
    RenameArgs,
)
from zfsyncd.tx.steps.lookup import guid_of
from zfsyncd.zfs.models import PropertySource


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


async def test_a_name_free_in_the_plan_and_carrying_the_tx_id_is_not_read_again(
    world: World,
) -> None:
    """The plan read the temporary name and found it free; that name carries the
    transaction's id, so only this step makes it: capture reads nothing, and `do` reads no
    guid after the create (the name alone says the dataset is the one made; its undo and
    inverse destroy what has it). A name without the id is read whatever the plan said,
    and its guid recorded."""
    zfs = Counting(world.zfs)
    ctx = StepContext("20261201T000000_000000Z_0123abcd", local_hosts(zfs))
    name = f"{world.src}/zfsync_migrate_{ctx.tx_id}_repo"
    step = CreateDataset(CreateDatasetArgs(name=name, absent_in_plan=True))
    before = await step.capture(ctx)
    assert before == {"existed": False}
    done = await step.do(ctx, before)
    assert zfs.calls == ["create"]  # the change alone
    assert done == {}
    await step.undo(ctx, {**before, **done})
    assert await guid_of(world.zfs, name) is None
    # the inverse (a completed transaction's rollback) destroys it by its name too
    assert step.inverse({**before, **done}).args.guid is None
    zfs.calls.clear()
    other = CreateDataset(CreateDatasetArgs(name=f"{world.src}/plain", absent_in_plan=True))
    before = await other.capture(ctx)
    assert before == {"existed": False}
    done = await other.do(ctx, before)
    assert zfs.calls == ["get", "create", "get"]  # the reading, the change, the guid
    assert done == {"guid": (await world.zfs.get(f"{world.src}/plain")).guid}


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


async def test_rename_and_set_reads_once_for_both_and_undoes_both(world: World) -> None:
    """The init pattern's end as one step: one reading (guid and the property) before the
    rename and the inherit; undo puts the property back, then the name (guid guarded)."""
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    old, new = f"{world.src}/built", f"{world.src}/placed"
    await world.zfs.create(old, properties={"mountpoint": "/run/private"})
    guid = (await world.zfs.get(old)).guid
    step = RenameAndSet(RenameAndSetArgs(old=old, new=new, properties={"mountpoint": None}))
    before = await step.capture(ctx)
    assert before == {"guid": guid, "previous": {"mountpoint": "/run/private"}}
    await step.do(ctx, before)
    assert zfs.calls == ["get_properties", "rename", "inherit"]
    assert await step.check(ctx)
    placed = (await world.zfs.get_properties(new, ["mountpoint"]))["mountpoint"]
    assert placed.source is not PropertySource.LOCAL
    assert (await world.zfs.get(new)).guid == guid
    # again (retried: capture's reading was taken once): it reads, renames nothing twice
    zfs.calls.clear()
    await step.do(ctx, before)
    assert "rename" not in zfs.calls
    await step.undo(ctx, before)
    assert await guid_of(world.zfs, new) is None
    back = await world.zfs.get_properties(old, ["mountpoint", "guid"])
    assert (back["mountpoint"].value, back["mountpoint"].source) == (
        "/run/private",
        PropertySource.LOCAL,
    )
    assert int(back["guid"].value or 0) == guid
    await step.undo(ctx, before)  # undone already: nothing to do
    assert await guid_of(world.zfs, old) == guid


async def test_rename_and_set_undo_leaves_another_dataset_alone(world: World) -> None:
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    old, new = f"{world.src}/built", f"{world.src}/placed"
    step = RenameAndSet(RenameAndSetArgs(old=old, new=new, properties={"mountpoint": None}))
    before = await step.capture(ctx)  # nothing there to rename
    assert before == {"guid": None, "previous": None}
    await world.zfs.create(new)
    await step.undo(ctx, before)
    assert await guid_of(world.zfs, new) is not None
    assert await guid_of(world.zfs, old) is None
    # one that is not the dataset read (another in its place): not renamed back
    await world.zfs.create(old)
    step = RenameAndSet(
        RenameAndSetArgs(old=old, new=f"{world.src}/p2", properties={"quota": "1M"})
    )
    before = await step.capture(ctx)
    await step.do(ctx, before)
    await world.zfs.destroy(f"{world.src}/p2")
    await world.zfs.create(f"{world.src}/p2")
    await step.undo(ctx, before)
    assert await guid_of(world.zfs, old) is None


async def test_rename_and_set_inverse_sets_back_then_renames_back(world: World) -> None:
    """The inverse (a completed transaction rolled back): the property put back on the
    placed dataset first, then its old name, so it is never mounted where neither was."""
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    old, new = f"{world.src}/built", f"{world.src}/placed"
    await world.zfs.create(old, properties={"mountpoint": "/run/private"})
    step = RenameAndSet(RenameAndSetArgs(old=old, new=new, properties={"mountpoint": None}))
    before = await step.capture(ctx)
    await step.do(ctx, before)
    inverse = step.inverse(before)
    assert isinstance(inverse, RenameAndSet)
    assert inverse.args.set_first
    zfs.calls.clear()
    undo_data = await inverse.capture(ctx)
    await inverse.do(ctx, undo_data)
    assert zfs.calls == ["get_properties", "set_properties", "rename"]
    mine = await world.zfs.get_properties(old, ["mountpoint"])
    assert mine["mountpoint"].value == "/run/private"
    assert await guid_of(world.zfs, new) is None
    # and the inverse's own undo: placed again, inherited again
    await inverse.undo(ctx, undo_data)
    assert await step.check(ctx)
    # another dataset in its place since: the inverse refuses it, reading nothing more
    await world.zfs.destroy(new)
    await world.zfs.create(new)
    assert await inverse.refusal(ctx) is not None
    with pytest.raises(ValueError, match="not the dataset renamed"):
        await inverse.capture(ctx)
