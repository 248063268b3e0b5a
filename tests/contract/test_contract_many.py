"""The ZfsBackend contract for reading many names in one command: `list_many` and
`holds_many`. Steps read everything they act on with these (a constant number of zfs
commands per step), so a name that is not there must be an answer ("it does not exist"),
not a failure that hides what the other names showed. Written to OpenZFS 2.3's behaviour
(cmd/zfs/zfs_iter.c, zfs_main.c: each name is opened on its own, a missing one is named
on stderr and the exit status is 1, the others are listed all the same)."""

from __future__ import annotations

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs import names
from zfsyncd.zfs.models import ObjectType

from .world import World

FS, SNAP = ObjectType.FILESYSTEM, ObjectType.SNAPSHOT


async def _tree(world: World) -> str:
    """`a` with children `a/k` and `a/k/g` and a sibling `b`; `@1` on all, `@2` on a/k."""
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(f"{a}/k/g", parents=True)
    await zfs.create(f"{world.src}/b")
    await zfs.snapshot([f"{a}@1", f"{world.src}/b@1"], recursive=True)
    await zfs.snapshot([f"{a}/k@2"])
    return a


async def test_list_many_lists_the_names_that_exist(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    wanted = [f"{b}@1", f"{a}/nope", a, f"{a}/k@1", f"{a}@nope", f"{a}#nope"]
    wanted.append(f"{world.src}/nope/x@1")
    found = await zfs.list_many(wanted)
    # zfs list's order (by name, a dataset before its snapshots), whatever the order asked
    assert [o.name for o in found] == [a, f"{a}/k@1", f"{b}@1"]
    assert found == [await zfs.get(o.name) for o in found]


async def test_list_many_of_nothing_there(world: World) -> None:
    zfs, a = world.zfs, f"{world.src}/a"
    assert await zfs.list_many([]) == []  # never `zfs list` of every pool
    assert await zfs.list_many([a, f"{a}@1"]) == []
    assert await zfs.list_many([a], types=[SNAP], recursive=True) == []


async def test_list_many_recursive_lists_each_object_once(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    found = await zfs.list_many([f"{a}/k", a, b, f"{a}/nope"], types=[SNAP], recursive=True)
    assert [o.name for o in found] == [
        f"{a}@1",
        f"{a}/k@1",
        f"{a}/k@2",
        f"{a}/k/g@1",
        f"{b}@1",
    ]
    datasets = await zfs.list_many([f"{a}/k", b], types=[FS], recursive=True)
    assert [o.name for o in datasets] == [f"{a}/k", f"{a}/k/g", b]


async def test_list_many_checks_every_name_first(world: World) -> None:
    a = await _tree(world)
    async with world.unchanged():
        with pytest.raises(e.InvalidNameError):
            await world.zfs.list_many([a, "bad name!"])


async def test_holds_many_of_several_snapshots(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    await zfs.hold("zfsync-x", [f"{a}/k@1", f"{b}@1"])
    await zfs.hold("zfsync-y", [f"{b}@1"])
    holds = await zfs.holds_many([f"{b}@1", f"{a}@1", f"{a}@nope", f"{a}/k@1"])
    assert [(h.snapshot, h.tag) for h in holds] == [
        (f"{a}/k@1", "zfsync-x"),
        (f"{b}@1", "zfsync-x"),
        (f"{b}@1", "zfsync-y"),
    ]
    assert all(h.timestamp > 0 for h in holds)
    assert await zfs.holds_many([f"{a}@1", f"{a}@nope"]) == []
    assert await zfs.holds_many([]) == []


async def test_holds_many_recursive(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    await zfs.hold("zfsync-r", [f"{a}@1"], recursive=True)
    await zfs.hold("zfsync-r", [f"{a}/k@2", f"{b}@1"])
    holds = await zfs.holds_many([f"{a}@1", f"{b}@1", f"{world.src}/nope@1"], recursive=True)
    # -r: the same-named snapshots below each (a/k@2 has another name), each once
    assert [(h.snapshot, h.tag) for h in holds] == [
        (f"{a}/k/g@1", "zfsync-r"),
        (f"{a}/k@1", "zfsync-r"),
        (f"{a}@1", "zfsync-r"),
        (f"{b}@1", "zfsync-r"),
    ]
    # below a dataset whose own snapshot of that name is gone, the others still count
    await zfs.release("zfsync-r", [f"{a}@1"])
    await zfs.destroy(f"{a}@1")
    holds = await zfs.holds_many([f"{a}@1"], recursive=True)
    assert [h.snapshot for h in holds] == [f"{a}/k/g@1", f"{a}/k@1"]


async def test_list_many_reads_written_in_the_same_command(world: World) -> None:
    """`written` (bytes since the previous snapshot) is what a replica's sync decides from:
    0 right after a snapshot, more once data is written; a bookmark has none."""
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await world.write(a, 256 << 10)
    await zfs.snapshot([f"{a}@1"])
    await zfs.bookmark(f"{a}@1", f"{a}#1")
    found = {o.name: o for o in await zfs.list_many([a], recursive=True, written=True)}
    assert found[a].written == 0
    assert (found[f"{a}@1"].written or 0) >= 256 << 10  # everything it references
    assert found[f"{a}#1"].written is None
    await world.write(a, 256 << 10)
    again = {o.name: o for o in await zfs.list_many([a], written=True)}
    assert (again[a].written or 0) >= 200 << 10  # the data, less what compression may save
    # not asked for, not read
    assert (await zfs.list_many([a]))[0].written is None


async def test_settle_writes_out_pools_and_names_no_missing_one(world: World) -> None:
    """`settle` (`zpool sync`) before a reading that decides from `written`: the pools
    given, none (no command), or one that is not there (the reading names it missing);
    a name that is not a pool's is refused before any command."""
    zfs, a = world.zfs, f"{world.src}/a"
    await zfs.create(a)
    await zfs.snapshot([f"{a}@1"])
    await world.write(a, 256 << 10)
    pools = sorted({names.pool_of(world.src), names.pool_of(world.dst)})
    await zfs.settle(pools)
    await zfs.settle([])
    await zfs.settle(["zfsyncnopool"])
    found = await zfs.list_many([a], written=True)
    assert (found[0].written or 0) >= 200 << 10
    for bad in (a, f"{a}@1", ""):
        with pytest.raises(e.InvalidNameError):
            await zfs.settle([bad])


async def test_every_pool_is_read_without_naming_the_pools(world: World) -> None:
    """`settle_every_pool` and `list_every_pool` (a reading of every pool: sync all,
    expire all) read what `settle` and `list_many -r` of every pool's name read, without
    a `zfs list -d 0` of the names first: the same objects, in the same order, with
    `written` counted."""
    zfs, a = world.zfs, await _tree(world)
    await world.write(a, 256 << 10)
    await zfs.settle_every_pool()
    found = await zfs.list_every_pool(written=True, encryption=True)
    pools = [o.name for o in await zfs.list(depth=0)]
    assert {names.pool_of(world.src), names.pool_of(world.dst)} <= set(pools)
    assert found == await zfs.list_many(pools, recursive=True, written=True, encryption=True)
    assert f"{a}/k@2" in {o.name for o in found}
    assert (next(o for o in found if o.name == a).written or 0) >= 200 << 10
    snapshots = await zfs.list_every_pool(types=[SNAP])
    assert snapshots == [o for o in await zfs.list_many(pools, recursive=True) if o.is_snapshot]


async def test_list_many_reads_encryption_in_the_same_command(world: World) -> None:
    """`encryption` tells a replica's send to go raw: the cipher, or "off"."""
    zfs = world.zfs
    enc, plain = f"{world.src}/enc", f"{world.src}/plain"
    await zfs.create(
        enc, properties={"encryption": "on", "keyformat": "raw", "keylocation": world.key_location}
    )
    await zfs.create(plain)
    await zfs.snapshot([f"{enc}@1"])
    found = {
        o.name: o
        for o in await zfs.list_many([enc, plain], recursive=True, written=True, encryption=True)
    }
    assert found[enc].encryption == "aes-256-gcm"
    assert found[f"{enc}@1"].encryption == "aes-256-gcm"
    assert found[plain].encryption == "off"
    assert found[enc].written == 0
    assert (await zfs.list_many([plain]))[0].encryption is None


async def test_set_many_and_inherit_many_act_on_every_name(world: World) -> None:
    """One `zfs set` / `zfs inherit` over several snapshots (a replica sync's sent marker)."""
    zfs, a = world.zfs, await _tree(world)
    snaps = [f"{a}@1", f"{a}/k@1", f"{a}/k@2"]
    await zfs.set_many(snaps, {"zfsync:a": "x", "zfsync:b": "y"})
    for snap in snaps:
        assert await zfs.local_properties(snap) == {"zfsync:a": "x", "zfsync:b": "y"}
    await zfs.inherit_many(snaps[1:], "zfsync:a")
    assert await zfs.local_properties(f"{a}@1") == {"zfsync:a": "x", "zfsync:b": "y"}
    assert await zfs.local_properties(f"{a}/k@2") == {"zfsync:b": "y"}
    await zfs.set_many([], {"zfsync:a": "z"})  # nothing named, nothing done
    await zfs.inherit_many([], "zfsync:a")
    # a name that does not exist fails the command (the others are zfs's business)
    with pytest.raises(e.NotFoundError):
        await zfs.set_many([f"{a}@nope"], {"zfsync:a": "z"})
