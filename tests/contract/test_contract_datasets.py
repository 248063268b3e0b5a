"""The ZfsBackend contract for datasets, snapshots, holds, bookmarks, renames, clones,
rollback and properties. Every expectation here was checked against OpenZFS 2.3."""

from __future__ import annotations

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode
from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue

from .expect import fails_with
from .world import World

ROLE = "zfsync:role"
FS, VOL, SNAP, MARK = (
    ObjectType.FILESYSTEM,
    ObjectType.VOLUME,
    ObjectType.SNAPSHOT,
    ObjectType.BOOKMARK,
)


async def names_under(world: World, root: str, **kwargs: object) -> list[str]:
    return [o.name for o in await world.zfs.list(root, **kwargs)]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- create


async def test_create_makes_a_listed_filesystem(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    obj = await zfs.get(a)
    root = await zfs.get(world.src)
    assert (obj.name, obj.type, obj.origin, obj.userrefs) == (a, FS, None, 0)
    assert obj.guid > 0
    assert obj.guid != root.guid
    assert obj.createtxg > root.createtxg
    assert obj.referenced > 0
    assert await zfs.exists(a)
    assert not await zfs.exists(f"{world.src}/nope")


async def test_create_with_properties(world: World) -> None:
    a = f"{world.src}/a"
    await world.zfs.create(a, properties={ROLE: "source", "compression": "off"})
    props = await world.zfs.get_properties(a, [ROLE, "compression"])
    assert props == {
        ROLE: PropertyValue(value="source", source=PropertySource.LOCAL),
        "compression": PropertyValue(value="off", source=PropertySource.LOCAL),
    }


async def test_create_parents(world: World) -> None:
    zfs, c = world.zfs, f"{world.src}/a/b/c"
    await zfs.create(c, parents=True)
    assert await names_under(world, f"{world.src}/a") == [f"{world.src}/a", f"{world.src}/a/b", c]
    async with world.unchanged():
        await zfs.create(c, parents=True)  # like `zfs create -p`: an existing one is fine


async def test_create_refuses_an_existing_dataset_or_a_missing_parent(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    async with world.unchanged():
        await fails_with(zfs.create(a), e.AlreadyExistsError)
        await fails_with(zfs.create(f"{world.src}/x/y"), e.NotFoundError)
        await fails_with(
            zfs.create(f"{world.src}/b", properties={"nosuchprop": "1"}), e.InvalidArgumentError
        )
        await fails_with(
            zfs.create(f"{world.src}/b", properties={"compression": "bogus"}),
            e.InvalidArgumentError,
        )


async def test_create_volume(world: World) -> None:
    zfs, vol = world.zfs, f"{world.src}/vol"
    await zfs.create(vol, volume_size=8 << 20)
    assert (await zfs.get(vol)).type is VOL
    assert (await zfs.get_properties(vol, ["volsize"]))["volsize"] == PropertyValue(
        value=str(8 << 20), source=PropertySource.LOCAL
    )
    await fails_with(zfs.create(f"{vol}/x"), e.InvalidArgumentError)


# ------------------------------------------------------------------------- list, get


async def _tree(world: World) -> tuple[str, str]:
    """src/a with snapshots @1 @2, bookmark #m1 (of @1), child a/k with a/k@2."""
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@1"])
    await zfs.snapshot([f"{a}@2"], recursive=True)
    await zfs.bookmark(f"{a}@1", f"{a}#m1")
    return a, f"{a}/k"


async def test_list_order_types_and_bookmark_rows(world: World) -> None:
    zfs = world.zfs
    a, k = await _tree(world)
    rows = await zfs.list(a)
    # zfs list's order: a dataset, its snapshots by createtxg, its bookmarks, its children
    assert [r.name for r in rows] == [a, f"{a}@1", f"{a}@2", f"{a}#m1", k, f"{k}@2"]
    by = {r.name: r for r in rows}
    assert [by[n].type for n in by] == [FS, SNAP, SNAP, MARK, FS, SNAP]
    assert by[f"{a}@1"].createtxg < by[f"{a}@2"].createtxg
    assert by[f"{a}@2"].createtxg == by[f"{k}@2"].createtxg  # one `snapshot -r`, one txg
    assert len({r.guid for r in rows if r.type is not MARK}) == 5
    mark, snap = by[f"{a}#m1"], by[f"{a}@1"]
    # a bookmark has its snapshot's guid and createtxg; zfs prints '-' for used/userrefs
    assert (mark.guid, mark.createtxg, mark.used, mark.userrefs) == (
        snap.guid,
        snap.createtxg,
        0,
        0,
    )
    assert mark.referenced == snap.referenced


async def test_list_recursion_depth_and_type_filters(world: World) -> None:
    a, k = await _tree(world)
    assert await names_under(world, a, recursive=False) == [a]
    assert await names_under(world, a, depth=0) == [a]
    assert await names_under(world, a, depth=1) == [a, f"{a}@1", f"{a}@2", f"{a}#m1", k]
    assert await names_under(world, a, types=[SNAP]) == [f"{a}@1", f"{a}@2", f"{k}@2"]
    assert await names_under(world, a, types=[FS]) == [a, k]
    assert await names_under(world, a, types=[MARK]) == [f"{a}#m1"]
    assert await names_under(world, f"{a}@1", recursive=False) == [f"{a}@1"]


async def test_list_of_every_pool_at_depth_zero_is_the_pools(world: World) -> None:
    """`zfs list -d 0` with no name: the pools' root datasets only (zfsyncd's status)."""
    found = await world.zfs.list(depth=0, types=[FS, VOL])
    assert found
    assert all("/" not in obj.name for obj in found), [o.name for o in found]
    assert names.pool_of(world.src) in {obj.name for obj in found}


async def test_list_snapshots_of_one_dataset(world: World) -> None:
    """Real quirk (zfs_main.c): `zfs list -t snapshot fs` without -r lists fs's snapshots
    (as if -d 1); the model does the same so that code above cannot come to rely on
    anything else."""
    a, _ = await _tree(world)
    assert await names_under(world, a, types=[SNAP], recursive=False) == [f"{a}@1", f"{a}@2"]


async def test_list_user_properties_inherit_to_children_and_snapshots(world: World) -> None:
    zfs = world.zfs
    a, k = await _tree(world)
    await zfs.set_properties(a, {ROLE: "source"})
    rows = await zfs.list(a, user_properties=[ROLE, "zfsync:b"])
    got = {r.name: dict(r.user_properties) for r in rows}
    source = {ROLE: "source"}
    assert got == {
        a: source,
        f"{a}@1": source,
        f"{a}@2": source,
        f"{a}#m1": {},
        k: source,
        f"{k}@2": source,
    }
    assert (await zfs.get(f"{k}@2", user_properties=[ROLE])).user_properties == source


async def test_get_and_list_of_what_does_not_exist(world: World) -> None:
    zfs, missing = world.zfs, f"{world.src}/nope"
    await fails_with(zfs.get(missing), e.NotFoundError)
    await fails_with(zfs.list(missing), e.NotFoundError)
    await fails_with(zfs.get(f"{world.src}@nope"), e.NotFoundError)
    assert not await zfs.exists(f"{world.src}@nope")
    assert not await zfs.exists(f"{world.src}#nope")


# --------------------------------------------------------------------------- snapshot


async def test_snapshot_several_at_once_share_one_txg(world: World) -> None:
    zfs, a, b = world.zfs, f"{world.src}/a", f"{world.src}/b"
    await zfs.create(a)
    await zfs.create(b)
    await zfs.snapshot([f"{a}@s", f"{b}@s"])
    sa, sb = await zfs.get(f"{a}@s"), await zfs.get(f"{b}@s")
    assert sa.createtxg == sb.createtxg
    assert sa.guid != sb.guid


async def test_snapshot_recursive_with_properties(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k/g", parents=True)
    await zfs.snapshot([f"{a}@r"], recursive=True, properties={ROLE: "snap"})
    snaps = await zfs.list(a, types=[SNAP])
    assert [s.name for s in snaps] == [f"{a}@r", f"{a}/k@r", f"{a}/k/g@r"]
    assert len({s.createtxg for s in snaps}) == 1
    for snap in snaps:
        assert (await zfs.get_properties(snap.name, [ROLE]))[ROLE] == PropertyValue(
            value="snap", source=PropertySource.LOCAL
        )


async def test_snapshot_is_all_or_nothing(world: World) -> None:
    zfs, a, b = world.zfs, f"{world.src}/a", f"{world.src}/b"
    await zfs.create(a)
    await zfs.create(b)
    await zfs.snapshot([f"{a}@s"])
    async with world.unchanged():
        await fails_with(zfs.snapshot([f"{b}@s", f"{a}@s"]), e.AlreadyExistsError)
        await fails_with(zfs.snapshot([f"{b}@t", f"{world.src}/nope@t"]), e.NotFoundError)
        await fails_with(
            zfs.snapshot([f"{a}@u", f"{world.dst}@u"]),
            e.InvalidArgumentError,
        )


async def test_snapshot_takes_user_properties_only(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    async with world.unchanged():
        await fails_with(
            zfs.snapshot([f"{a}@s"], properties={"compression": "off"}),
            e.InvalidArgumentError,
        )


# ---------------------------------------------------------------------------- destroy


async def test_destroy_a_snapshot_and_a_bookmark(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@1"])
    await zfs.bookmark(f"{a}@1", f"{a}#1")
    await zfs.destroy(f"{a}@1")
    assert await names_under(world, a) == [a, f"{a}#1"]
    await zfs.destroy(f"{a}#1")
    await zfs.destroy(a)  # nothing left in it
    assert not await zfs.exists(a)


async def test_destroy_refuses_what_is_in_use(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@held"])
    await zfs.snapshot([f"{a}/k@cloned"])
    await zfs.hold("zfsync-test", [f"{a}@held"])
    await zfs.clone(f"{a}/k@cloned", f"{world.src}/c")
    async with world.unchanged():
        await fails_with(zfs.destroy(f"{a}@held"), e.HeldError)
        await fails_with(zfs.destroy(f"{a}/k@cloned"), e.HasClonesError)
        await fails_with(zfs.destroy(a), e.HasChildrenError)
        await fails_with(zfs.destroy(f"{a}/k"), e.HasChildrenError)  # it has a snapshot
        # -r stops at a clone outside the tree ("filesystem has dependent clones")
        await fails_with(zfs.destroy(a, mode=DestroyMode.RECURSIVE), e.HasClonesError)
        await fails_with(zfs.destroy(f"{world.src}/nope"), e.NotFoundError)
        await fails_with(zfs.destroy(f"{a}@nope"), e.NotFoundError)
        await fails_with(zfs.destroy(f"{a}#nope"), e.NotFoundError)


async def test_destroy_recursive_stops_at_a_held_snapshot(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.create(f"{a}/j")
    await zfs.snapshot([f"{a}/k@1"])
    await zfs.snapshot([f"{a}/k@2"])
    await zfs.hold("zfsync-test", [f"{a}/k@1"])
    await fails_with(zfs.destroy(a, mode=DestroyMode.RECURSIVE), e.HeldError)
    # Not all or nothing: zfs destroys as it walks the tree and stops at the held
    # snapshot; what it met before (here maybe a/j: the walk's order is zfs's) is gone,
    # the held snapshot's dataset with all its snapshots and every ancestor are not.
    left = [n for n in await names_under(world, a) if n != f"{a}/j"]
    assert left == [a, f"{a}/k", f"{a}/k@1", f"{a}/k@2"]


async def test_destroy_recursive_and_dependents(world: World) -> None:
    zfs, a, c = world.zfs, f"{world.src}/a", f"{world.src}/c"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@1"], recursive=True)
    await zfs.clone(f"{a}/k@1", c)
    async with world.unchanged():
        # -r of a snapshot takes the same-named ones below too, and a/k@1 has a clone
        await fails_with(zfs.destroy(f"{a}@1", mode=DestroyMode.RECURSIVE), e.HasClonesError)
    await zfs.destroy(a, mode=DestroyMode.DEPENDENTS)  # -R: the clone goes too
    assert await names_under(world, world.src) == [world.src]


async def test_destroy_recursive_snapshot_takes_the_same_name_below(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k/g", parents=True)
    await zfs.snapshot([f"{a}@1"], recursive=True)
    await zfs.snapshot([f"{a}/k@2"])
    await zfs.destroy(f"{a}@1", mode=DestroyMode.RECURSIVE)
    assert await names_under(world, a, types=[SNAP]) == [f"{a}/k@2"]
    await zfs.destroy(a, mode=DestroyMode.RECURSIVE)
    assert not await zfs.exists(a)


# ------------------------------------------------------------------------------ holds


async def test_hold_and_release(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    snap = f"{a}@1"
    await zfs.create(a)
    await zfs.snapshot([snap])
    await zfs.hold("zfsync-1", [snap])
    holds = await zfs.holds(snap)
    assert [(h.snapshot, h.tag) for h in holds] == [(snap, "zfsync-1")]
    assert holds[0].timestamp > 0
    assert (await zfs.get(snap)).userrefs == 1
    async with world.unchanged():
        await fails_with(zfs.hold("zfsync-1", [snap]), e.AlreadyExistsError)
        await fails_with(zfs.release("zfsync-other", [snap]), e.NotFoundError)
        await fails_with(zfs.hold("zfsync-1", [f"{a}@nope"]), e.NotFoundError)
        await fails_with(zfs.holds(f"{a}@nope"), e.NotFoundError)
    await zfs.release("zfsync-1", [snap])
    assert await zfs.holds(snap) == []
    assert (await zfs.get(snap)).userrefs == 0
    # zfs hold/release take each snapshot on its own: one that is missing fails the
    # command, yet the others are held (or released) all the same
    await fails_with(zfs.hold("zfsync-2", [snap, f"{a}@nope"]), e.NotFoundError)
    assert [h.tag for h in await zfs.holds(snap)] == ["zfsync-2"]
    await fails_with(zfs.release("zfsync-2", [snap, f"{a}@nope"]), e.NotFoundError)
    assert await zfs.holds(snap) == []


async def test_hold_and_release_recursive(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@1"], recursive=True)
    await zfs.hold("zfsync-r", [f"{a}@1"], recursive=True)
    holds = await zfs.holds(f"{a}@1", recursive=True)
    assert sorted((h.snapshot, h.tag) for h in holds) == [
        (f"{a}/k@1", "zfsync-r"),
        (f"{a}@1", "zfsync-r"),
    ]
    assert [h.snapshot for h in await zfs.holds(f"{a}@1")] == [f"{a}@1"]
    await zfs.release("zfsync-r", [f"{a}@1"], recursive=True)
    assert await zfs.holds(f"{a}@1", recursive=True) == []


async def test_hold_and_release_recursive_from_a_dataset_without_the_snapshot(
    world: World,
) -> None:
    """-r from a dataset that has no snapshot of that name acts on those below it (the
    common tops of tx/steps/subtrees.py: siblings' snapshots of one name held by one
    command, one sync task); with none below, it fails and nothing changes."""
    zfs, a = world.zfs, f"{world.src}/a"
    for child in ("k", "j"):
        await zfs.create(f"{a}/{child}", parents=True)
    await zfs.snapshot([f"{a}/k@1", f"{a}/j@1"])
    below = [f"{a}/j@1", f"{a}/k@1"]
    await zfs.hold("zfsync-r", [f"{a}@1"], recursive=True)
    holds = await zfs.holds_many(below)
    assert sorted((h.snapshot, h.tag) for h in holds) == [(s, "zfsync-r") for s in below]
    await zfs.release("zfsync-r", [f"{a}@1"], recursive=True)
    assert await zfs.holds_many(below) == []
    async with world.unchanged():
        await fails_with(zfs.hold("zfsync-r", [f"{a}@2"], recursive=True), e.NotFoundError)


# --------------------------------------------------------------------------- bookmark


async def test_bookmark(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@1"])
    await zfs.bookmark(f"{a}@1", f"{a}#m")
    await zfs.bookmark(f"{a}#m", f"{a}#copy")  # a bookmark of a bookmark (OpenZFS 2.0+)
    snap, mark, copy = [await zfs.get(n) for n in (f"{a}@1", f"{a}#m", f"{a}#copy")]
    assert mark.guid == copy.guid == snap.guid
    assert mark.createtxg == copy.createtxg == snap.createtxg
    async with world.unchanged():
        await fails_with(zfs.bookmark(f"{a}@1", f"{a}#m"), e.AlreadyExistsError)
        await fails_with(zfs.bookmark(f"{a}@nope", f"{a}#n"), e.NotFoundError)
        await fails_with(
            zfs.bookmark(f"{a}@1", f"{a}/k#m"),
            e.InvalidArgumentError,
        )


# ----------------------------------------------------------------------------- rename


async def test_rename_moves_children_snapshots_and_properties(world: World) -> None:
    zfs, a, b = world.zfs, f"{world.src}/a", f"{world.src}/b"
    await zfs.create(f"{a}/k", parents=True, properties={ROLE: "kid"})
    await zfs.set_properties(a, {ROLE: "top"})
    await zfs.inherit(f"{a}/k", ROLE)
    await zfs.snapshot([f"{a}@1"], recursive=True)
    before = await world.state(a)
    await zfs.rename(a, b)
    after = await world.state(b)
    assert not await zfs.exists(a)
    assert after == {b + name[len(a) :]: entry for name, entry in before.items()}
    assert (await zfs.get_properties(f"{b}/k", [ROLE]))[ROLE] == PropertyValue(
        value="top", source=PropertySource.INHERITED, inherited_from=b
    )


async def test_rename_snapshot_and_recursive(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k", parents=True)
    await zfs.snapshot([f"{a}@1"], recursive=True)
    guids = {o.name: o.guid for o in await zfs.list(a, types=[SNAP])}
    await zfs.rename(f"{a}/k@1", f"{a}/k@2")
    assert (await zfs.get(f"{a}/k@2")).guid == guids[f"{a}/k@1"]
    await zfs.rename(f"{a}/k@2", f"{a}/k@1")
    await zfs.rename(f"{a}@1", f"{a}@x", recursive=True)
    assert {o.name: o.guid for o in await zfs.list(a, types=[SNAP])} == {
        f"{a}@x": guids[f"{a}@1"],
        f"{a}/k@x": guids[f"{a}/k@1"],
    }


async def test_rename_refusals(world: World) -> None:
    zfs, a, b = world.zfs, f"{world.src}/a", f"{world.src}/b"
    await zfs.create(a)
    await zfs.create(b)
    await zfs.snapshot([f"{a}@1", f"{b}@1"])
    await zfs.snapshot([f"{a}@2"])
    async with world.unchanged():
        await fails_with(zfs.rename(a, b), e.AlreadyExistsError)
        await fails_with(zfs.rename(f"{a}@1", f"{a}@2"), e.AlreadyExistsError)
        await fails_with(zfs.rename(f"{world.src}/nope", f"{world.src}/z"), e.NotFoundError)
        await fails_with(zfs.rename(a, f"{world.dst}/a"), e.InvalidArgumentError)
        await fails_with(zfs.rename(a, f"{world.src}/nope/a"), e.NotFoundError)
        with pytest.raises(e.InvalidNameError):
            await zfs.rename(a, f"{a}@x")
        with pytest.raises(e.InvalidNameError):
            await zfs.rename(a, f"{world.src}/z", recursive=True)
        # refusals that only zfs itself makes (the names are valid)
        await fails_with(
            zfs.rename(a, f"{a}/x"),
            e.InvalidArgumentError,
        )
        await fails_with(
            zfs.rename(f"{a}@1", f"{b}@3"),
            e.InvalidArgumentError,
        )


# ---------------------------------------------------------------------- clone, promote


async def test_clone(world: World) -> None:
    zfs, a, c = world.zfs, f"{world.src}/a", f"{world.src}/c"
    await zfs.create(a)
    await world.write(a, 64 << 10)
    await zfs.snapshot([f"{a}@1"])
    await zfs.clone(f"{a}@1", c, properties={ROLE: "clone"})
    clone = await zfs.get(c)
    assert clone.origin == f"{a}@1"
    assert clone.guid != (await zfs.get(a)).guid
    assert clone.referenced == (await zfs.get(f"{a}@1")).referenced
    assert (await zfs.get_properties(c, [ROLE]))[ROLE].value == "clone"
    async with world.unchanged():
        await fails_with(zfs.clone(f"{a}@1", c), e.AlreadyExistsError)
        await fails_with(zfs.clone(f"{a}@nope", f"{world.src}/d"), e.NotFoundError)
        await fails_with(zfs.clone(f"{a}@1", f"{world.src}/no/d"), e.NotFoundError)
        await fails_with(
            zfs.clone(f"{a}@1", f"{world.dst}/d"),
            e.InvalidArgumentError,
        )


async def test_promote_swaps_origin_and_moves_older_snapshots(world: World) -> None:
    zfs, a, c = world.zfs, f"{world.src}/a", f"{world.src}/c"
    await zfs.create(a)
    for n in (1, 2, 3):
        await zfs.snapshot([f"{a}@{n}"])
    await zfs.bookmark(f"{a}@1", f"{a}#1")
    await zfs.clone(f"{a}@2", c)
    await zfs.snapshot([f"{c}@c1"])
    guids = {o.short_name: o.guid for o in await zfs.list(world.src, types=[SNAP])}
    await zfs.promote(c)
    # the origin and the snapshots before it (and their bookmarks) move to the clone
    assert await names_under(world, a) == [a, f"{a}@3"]
    assert await names_under(world, c) == [c, f"{c}@1", f"{c}@2", f"{c}@c1", f"{c}#1"]
    moved = {o.short_name: o.guid for o in await zfs.list(world.src, types=[SNAP])}
    assert moved == guids
    assert (await zfs.get(a)).origin == f"{c}@2"
    assert (await zfs.get(c)).origin is None
    await zfs.promote(a)  # and back
    assert (await zfs.get(c)).origin == f"{a}@2"
    assert (await zfs.get(a)).origin is None
    async with world.unchanged():
        await fails_with(zfs.promote(a), e.InvalidArgumentError)  # not a clone
        await fails_with(zfs.promote(f"{world.src}/nope"), e.NotFoundError)


# --------------------------------------------------------------------------- rollback


async def test_rollback_to_the_latest_snapshot_discards_writes(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await world.write(a, 256 << 10)
    await zfs.snapshot([f"{a}@1"])
    snap = await zfs.get(f"{a}@1")
    await world.write(a, 1 << 20)
    assert (await zfs.get(a)).referenced > snap.referenced
    await zfs.rollback(f"{a}@1")
    assert (await zfs.get(a)).referenced == snap.referenced


async def test_rollback_past_newer_snapshots_or_bookmarks(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@1"])
    await zfs.snapshot([f"{a}@2"])
    await zfs.snapshot([f"{a}@3"])
    await zfs.bookmark(f"{a}@3", f"{a}#3")
    await zfs.bookmark(f"{a}@1", f"{a}#1")  # older than the target: it stays
    async with world.unchanged():
        await fails_with(zfs.rollback(f"{a}@1"), e.NewerSnapshotsExistError)
        await fails_with(zfs.rollback(f"{a}@nope"), e.NotFoundError)
    await zfs.destroy(f"{a}@3")
    await zfs.rollback(f"{a}@2", destroy_newer=True)  # a newer bookmark alone counts too
    assert await names_under(world, a) == [a, f"{a}@1", f"{a}@2", f"{a}#1"]
    await zfs.rollback(f"{a}@1", destroy_newer=True)
    assert await names_under(world, a) == [a, f"{a}@1", f"{a}#1"]


async def test_rollback_with_only_a_newer_bookmark(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@1"])
    await zfs.snapshot([f"{a}@2"])
    await zfs.bookmark(f"{a}@2", f"{a}#2")
    await zfs.destroy(f"{a}@2")
    async with world.unchanged():
        await fails_with(zfs.rollback(f"{a}@1"), e.NewerSnapshotsExistError)


async def test_rollback_recursive_meets_a_held_snapshot(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await world.write(a, 64 << 10)
    await zfs.snapshot([f"{a}@1"])
    await world.write(a, 64 << 10)
    for n in (2, 3):
        await zfs.snapshot([f"{a}@{n}"])
    await zfs.hold("zfsync-test", [f"{a}@2"])
    # zfs destroys every newer snapshot it can, then fails and does not roll back
    await fails_with(zfs.rollback(f"{a}@1", destroy_newer=True), e.BusyError)
    assert await names_under(world, a) == [a, f"{a}@1", f"{a}@2"]
    assert (await zfs.get(a)).referenced == (await zfs.get(f"{a}@2")).referenced


async def test_rollback_recursive_stops_at_clones(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@1"])
    await zfs.snapshot([f"{a}@2"])
    await zfs.clone(f"{a}@2", f"{world.src}/c")
    async with world.unchanged():
        await fails_with(
            zfs.rollback(f"{a}@1", destroy_newer=True),
            e.HasClonesError,
        )


# ------------------------------------------------------------------------- properties


async def test_property_sources(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    k = f"{a}/k"
    await zfs.create(a, properties={ROLE: "source", "compression": "off", "quota": "64M"})
    await zfs.create(k)
    await zfs.snapshot([f"{k}@1"])
    local = PropertySource.LOCAL
    inherited = PropertyValue(value="source", source=PropertySource.INHERITED, inherited_from=a)
    got = await zfs.get_properties(
        a, [ROLE, "zfsync:unset", "compression", "quota", "readonly", "canmount"]
    )
    assert got == {
        ROLE: PropertyValue(value="source", source=local),
        "zfsync:unset": PropertyValue(value=None, source=PropertySource.NONE),
        "compression": PropertyValue(value="off", source=local),
        "quota": PropertyValue(value=str(64 << 20), source=local),
        "readonly": PropertyValue(value="off", source=PropertySource.DEFAULT),
        "canmount": PropertyValue(value="on", source=PropertySource.DEFAULT),
    }
    kid = await zfs.get_properties(k, [ROLE, "compression", "quota"])
    assert kid == {
        ROLE: inherited,
        "compression": PropertyValue(
            value="off", source=PropertySource.INHERITED, inherited_from=a
        ),
        "quota": PropertyValue(value="0", source=PropertySource.DEFAULT),  # not inherited
    }
    # a snapshot inherits user properties from its dataset's line
    assert (await zfs.get_properties(f"{k}@1", [ROLE]))[ROLE] == inherited


async def test_set_and_inherit(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    k, g = f"{a}/k", f"{a}/k/g"
    await zfs.create(g, parents=True)
    await zfs.set_properties(a, {ROLE: "top", "zfsync:a": "1"})
    await zfs.set_properties(k, {ROLE: "kid"})
    await zfs.set_properties(g, {ROLE: "grandkid", "readonly": "on"})
    assert (await zfs.get_properties(g, ["readonly"]))["readonly"].source is PropertySource.LOCAL
    await zfs.inherit(k, ROLE)
    assert (await zfs.get_properties(k, [ROLE]))[ROLE] == PropertyValue(
        value="top", source=PropertySource.INHERITED, inherited_from=a
    )
    await zfs.inherit(a, ROLE, recursive=True)
    for name in (a, k, g):
        assert (await zfs.get_properties(name, [ROLE]))[ROLE].value is None
    assert (await zfs.get_properties(g, ["zfsync:a"]))["zfsync:a"].value == "1"
    await zfs.inherit(g, "readonly")
    assert (await zfs.get_properties(g, ["readonly"]))["readonly"] == PropertyValue(
        value="off", source=PropertySource.DEFAULT
    )


async def test_set_is_all_or_nothing_and_unknown_properties_fail(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    async with world.unchanged():
        await fails_with(
            zfs.set_properties(a, {ROLE: "x", "compression": "bogus"}), e.InvalidArgumentError
        )
        await fails_with(zfs.set_properties(a, {"nosuchprop": "1"}), e.InvalidArgumentError)
        await fails_with(zfs.get_properties(a, ["nosuchprop"]), e.InvalidArgumentError)
        await fails_with(zfs.inherit(a, "nosuchprop"), e.InvalidArgumentError)
        await fails_with(zfs.get_properties(f"{world.src}/nope", [ROLE]), e.NotFoundError)
        await fails_with(zfs.set_properties(f"{world.src}/nope", {ROLE: "x"}), e.NotFoundError)
        await fails_with(zfs.set_properties(a, {"guid": "1"}), e.InvalidArgumentError)


async def test_user_properties_on_a_snapshot(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a, properties={ROLE: "fs"})
    await zfs.snapshot([f"{a}@1"])
    await zfs.set_properties(f"{a}@1", {ROLE: "snap"})
    assert (await zfs.get_properties(f"{a}@1", [ROLE]))[ROLE] == PropertyValue(
        value="snap", source=PropertySource.LOCAL
    )
    assert (await zfs.get_properties(a, [ROLE]))[ROLE].value == "fs"
    await zfs.inherit(f"{a}@1", ROLE)
    assert (await zfs.get_properties(f"{a}@1", [ROLE]))[ROLE].source is PropertySource.INHERITED
    # native properties do not apply to snapshots: zfs shows '-'
    assert (await zfs.get_properties(f"{a}@1", ["compression"]))["compression"].value == "-"


async def test_local_properties_lists_what_is_set_on_the_object_itself(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    k, c = f"{a}/k", f"{world.src}/c"
    await zfs.create(a, properties={ROLE: "top", "compression": "off", "quota": "64M"})
    await zfs.create(k, properties={"zfsync:b": "kid"})
    await zfs.set_properties(a, {"readonly": "on", "mountpoint": "none"})
    assert await zfs.local_properties(a) == {
        ROLE: "top",
        "compression": "off",
        "quota": str(64 << 20),  # -p: bytes
        "readonly": "on",
        "mountpoint": "none",
    }
    # what a child inherits is not its own
    assert await zfs.local_properties(k) == {"zfsync:b": "kid"}
    await zfs.inherit(a, "readonly")
    await zfs.inherit(a, ROLE)
    assert await zfs.local_properties(a) == {
        "compression": "off",
        "quota": str(64 << 20),
        "mountpoint": "none",
    }
    # a snapshot: only the user properties set on it
    await zfs.snapshot([f"{a}@1"])
    assert await zfs.local_properties(f"{a}@1") == {}
    await zfs.set_properties(f"{a}@1", {"zfsync:a": "snap"})
    assert await zfs.local_properties(f"{a}@1") == {"zfsync:a": "snap"}
    # a clone has what `clone -o` set, nothing of its origin's
    await zfs.clone(f"{a}@1", c, properties={"zfsync:a": "clone", "atime": "off"})
    assert await zfs.local_properties(c) == {"zfsync:a": "clone", "atime": "off"}
    assert await zfs.local_properties(a, source=PropertySource.RECEIVED) == {}
    async with world.unchanged():
        await fails_with(zfs.local_properties(f"{world.src}/nope"), e.NotFoundError)
        await fails_with(zfs.local_properties(f"{a}@nope"), e.NotFoundError)
    with pytest.raises(ValueError, match="local or received"):
        await zfs.local_properties(a, source=PropertySource.INHERITED)
