"""The ZfsBackend contract for the calls real zfs answers with one channel program
(zfsyncd/zfs/programs.py): `snapshot_guids` (snapshots made in one txg and read back by the
same command) and `bookmark_many` (a pool's bookmarks in one command, all or none). The
model answers with its plain calls; in the lab the real backend runs `zfs program`, so this
suite is what holds the two to the same answers, errors and end states."""

from __future__ import annotations

import pytest

from zfsyncd.zfs import errors as e
from zfsyncd.zfs import names
from zfsyncd.zfs.models import ObjectType

from .world import World

SNAP = ObjectType.SNAPSHOT


async def _tree(world: World) -> str:
    """`a` with `a/k` and `a/k/g` below it, and a sibling `b`."""
    a = f"{world.src}/a"
    await world.zfs.create(f"{a}/k/g", parents=True)
    await world.zfs.create(f"{world.src}/b")
    return a


async def test_snapshot_guids_recursive_answers_what_a_listing_shows(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    made = await zfs.snapshot_guids([f"{a}@s"], recursive=True, properties={"zfsync:sent": "7"})
    assert set(made) == {f"{a}@s", f"{a}/k@s", f"{a}/k/g@s"}
    listed = await zfs.list_many(list(made), types=[SNAP])
    assert made == {o.name: o.guid for o in listed}
    assert len({o.createtxg for o in listed}) == 1  # one txg: one point in time
    assert {o.userrefs for o in listed} == {0}
    for o in listed:
        props = await zfs.get_properties(o.name, ["zfsync:sent"])
        assert props["zfsync:sent"].value == "7"
    assert not await zfs.list_many([f"{world.src}/b@s"])


async def test_snapshot_guids_of_named_datasets_makes_only_those(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    made = await zfs.snapshot_guids([f"{b}@s", f"{a}/k@s"])
    listed = await zfs.list_many([a, b], types=[SNAP], recursive=True)
    assert made == {o.name: o.guid for o in listed}
    assert sorted(made) == [f"{a}/k@s", f"{b}@s"]


async def test_snapshot_guids_refused_makes_nothing(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    await zfs.snapshot([f"{a}/k/g@s"])
    async with world.unchanged():
        with pytest.raises(e.AlreadyExistsError):
            await zfs.snapshot_guids([f"{a}@s"], recursive=True)
        with pytest.raises(e.NotFoundError):
            await zfs.snapshot_guids([f"{a}@t", f"{a}/nope@t"])
        with pytest.raises(e.ZfsCommandError):  # two snapshots of one dataset
            await zfs.snapshot_guids([f"{a}@u", f"{a}/k@u"], recursive=True)


@pytest.mark.parametrize("program", [True, False], ids=["snapshot_guids", "snapshot"])
async def test_a_recursive_snapshot_whose_name_is_too_long_below_makes_nothing(
    world: World, program: bool
) -> None:
    """A name that fits on the dataset named but not on one below it: zfs refuses the
    whole `-r` (the snapshot plan reads no tree, so this is where such a name is refused)."""
    zfs, a = world.zfs, await _tree(world)
    room = names.MAX_NAME_BYTES - len(f"{a}/k/@s")
    deep = f"{a}/k/{'d' * room}"  # its own name fits; `@s` on it does, `@st` does not
    await zfs.create(deep)
    call = zfs.snapshot_guids if program else zfs.snapshot
    async with world.unchanged():
        with pytest.raises(e.InvalidArgumentError, match="too long"):
            await call([f"{a}@st"], recursive=True)


async def test_bookmark_many_marks_each_snapshot(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    await zfs.snapshot([f"{a}@s"], recursive=True)
    await zfs.bookmark_many({})  # nothing: no command, no change
    marks = {f"{a}#s": f"{a}@s", f"{a}/k#s": f"{a}/k@s", f"{a}/k#copy": f"{a}/k@s"}
    await zfs.bookmark_many(marks)
    for mark, snap in marks.items():
        assert (await zfs.get(mark)).guid == (await zfs.get(snap)).guid


async def test_bookmark_many_refused_makes_none_of_the_pool(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    await zfs.snapshot([f"{a}@s"], recursive=True)
    await zfs.bookmark(f"{a}/k@s", f"{a}/k#s")
    async with world.unchanged():
        with pytest.raises(e.AlreadyExistsError):
            await zfs.bookmark_many({f"{a}#s": f"{a}@s", f"{a}/k#s": f"{a}/k@s"})
        with pytest.raises(e.NotFoundError):
            await zfs.bookmark_many({f"{a}#s": f"{a}@s", f"{a}/k/g#t": f"{a}/k/g@nope"})


async def test_list_reached_answers_what_list_and_holds_show(world: World) -> None:
    zfs, a = world.zfs, await _tree(world)
    b = f"{world.src}/b"
    await zfs.snapshot([f"{a}@s", f"{b}@s"], recursive=True)
    await zfs.snapshot([f"{a}/k@t"])  # another name: not reached
    await zfs.hold("zfsync-x", [f"{a}/k@s", f"{b}@s"])
    await zfs.hold("zfsync-y", [f"{a}/k@s"])
    found, holds = await zfs.list_reached([f"{a}@s", f"{a}/nope@s", f"{world.src}/c@s"])
    assert [o.name for o in found] == sorted([f"{a}@s", f"{a}/k@s", f"{a}/k/g@s"])  # by name
    listed = await zfs.list_many([o.name for o in found], types=[SNAP])
    assert [(o.name, o.guid, o.userrefs) for o in found] == [
        (o.name, o.guid, o.userrefs) for o in sorted(listed, key=lambda o: o.name)
    ]
    assert holds == []  # not asked for
    found, holds = await zfs.list_reached([f"{a}/k@s", f"{b}@s"], holds=True)
    assert [o.name for o in found] == sorted([f"{a}/k@s", f"{a}/k/g@s", f"{b}@s"])
    assert holds == await zfs.holds_many([f"{a}/k@s", f"{b}@s"], recursive=True)
    assert [(h.snapshot, h.tag) for h in holds] == [
        (f"{a}/k@s", "zfsync-x"),
        (f"{a}/k@s", "zfsync-y"),
        (f"{b}@s", "zfsync-x"),
    ]
    assert await zfs.list_reached([]) == ([], [])


async def test_list_reached_several_names_at_once(world: World) -> None:
    """Several short names, on the same datasets and on nested ones (a trash reading asks
    for a name and its trash name): each name reaches its own at and below where it is
    given, and only there."""
    zfs, a = world.zfs, await _tree(world)
    await zfs.snapshot([f"{a}@s"], recursive=True)
    await zfs.snapshot([f"{a}@t", f"{world.src}/b@t"], recursive=True)
    await zfs.hold("zfsync-x", [f"{a}/k/g@t"])
    asked = [f"{a}@s", f"{a}/k@s", f"{a}/k@t", f"{a}/nope@t"]
    found, holds = await zfs.list_reached(asked, holds=True)
    expected = sorted([f"{a}@s", f"{a}/k@s", f"{a}/k/g@s", f"{a}/k@t", f"{a}/k/g@t"])
    assert [o.name for o in found] == expected
    listed = {o.name: o for o in await zfs.list_many(expected, types=[SNAP])}
    assert [(o.guid, o.userrefs) for o in found] == [
        (listed[n].guid, listed[n].userrefs) for n in expected
    ]
    assert [(h.snapshot, h.tag) for h in holds] == [(f"{a}/k/g@t", "zfsync-x")]
