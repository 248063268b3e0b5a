"""The ZfsBackend contract for `destroy_snapshots`: `zfs destroy DATASET@a,b,c`, several
snapshots of one dataset in one command (what a prune destroys with, so that its commands
do not grow with the snapshots). Written to OpenZFS 2.3's behaviour: the comma list is the
documented form (zfs-destroy(8)), and the kernel checks every snapshot named before it
destroys any (dsl_destroy_snapshots_nvl), so a held or cloned one fails the whole call."""

from __future__ import annotations

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs.models import ObjectType

from .world import World


async def _snapshots(world: World, dataset: str) -> list[str]:
    found = await world.zfs.list(dataset, types=[ObjectType.SNAPSHOT])
    return [o.short_name for o in found]


async def _five(world: World) -> str:
    a = f"{world.src}/a"
    await world.zfs.create(a)
    for n in range(1, 6):
        await world.zfs.snapshot([f"{a}@s{n}"])
    return a


async def test_destroys_the_snapshots_named_and_only_them(world: World) -> None:
    a = await _five(world)
    await world.zfs.destroy_snapshots(a, ["s4", "s1", "s2"])
    assert await _snapshots(world, a) == ["s3", "s5"]


async def test_one_held_fails_the_call_and_nothing_goes(world: World) -> None:
    a = await _five(world)
    await world.zfs.hold("keep", [f"{a}@s3"])
    with pytest.raises(e.ZfsCommandError):
        await world.zfs.destroy_snapshots(a, ["s1", "s3", "s5"])
    assert await _snapshots(world, a) == ["s1", "s2", "s3", "s4", "s5"]
    await world.zfs.release("keep", [f"{a}@s3"])


async def test_one_cloned_fails_the_call_and_nothing_goes(world: World) -> None:
    a = await _five(world)
    await world.zfs.clone(f"{a}@s2", f"{world.src}/c")
    with pytest.raises(e.ZfsCommandError):
        await world.zfs.destroy_snapshots(a, ["s1", "s2"])
    assert await _snapshots(world, a) == ["s1", "s2", "s3", "s4", "s5"]


async def test_bad_names_are_refused_before_any_command(world: World) -> None:
    a = await _five(world)
    with pytest.raises(e.InvalidNameError):
        await world.zfs.destroy_snapshots(a, ["s1", "s2,s3"])
    with pytest.raises(e.InvalidNameError):
        await world.zfs.destroy_snapshots(f"{a}@s1", ["s2"])
    with pytest.raises(ValueError, match="at least one"):
        await world.zfs.destroy_snapshots(a, [])
    assert await _snapshots(world, a) == ["s1", "s2", "s3", "s4", "s5"]
