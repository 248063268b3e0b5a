"""Reading one side (zfsyncd.ops.replication.inventory.read_side) on the in-memory model:
what it finds, and that it costs one `zfs list` and at most one `zfs holds` however many
datasets it reads."""

from __future__ import annotations

from tests.engine.test_plan_reads import Counting
from zfsyncd.ops.replication import props
from zfsyncd.ops.replication.inventory import SOME_HOLD, list_side, read_side
from zfsyncd.ops.replication.props import Role
from zfsyncd.zfs.memory import MemoryBackend


async def _pool(count: int) -> MemoryBackend:
    zfs = MemoryBackend(pools=("p", "q"), seed=1)
    await zfs.create("p/a", properties={props.ROLE: "source", props.PEER: "backup:q/a"})
    await zfs.create("p/a/c")  # inherits role and peer: part of p/a's pair
    for i in range(count):
        await zfs.create(f"p/d{i}", properties={props.SAVECOUNT: "3", props.PAUSED: "on"})
        zfs.write(f"p/d{i}", 4096)
        await zfs.snapshot([f"p/d{i}@zfsync_1"], properties={props.SENT: "1700000000"})
        await zfs.bookmark(f"p/d{i}@zfsync_1", f"p/d{i}#zfsync_1")
        await zfs.snapshot([f"p/d{i}@zfsync_2"])
        await zfs.hold(props.BASE_HOLD, [f"p/d{i}@zfsync_1"])
        zfs.write(f"p/d{i}", 8192)
    return zfs


async def test_a_side_as_read() -> None:
    side = await read_side(await _pool(2), "local", ["p/d0", "p/a", "p/nope"])
    assert [d.name for d in side] == ["p/a", "p/a/c", "p/d0"]
    assert [d.name for d in side.managed()] == ["p/a"]
    a, d0 = side.get("p/a"), side.get("p/d0")
    assert a is not None
    assert d0 is not None
    assert (a.role, a.peer, a.savecount, a.paused) == (Role.SOURCE, "backup:q/a", None, False)
    assert (d0.role, d0.savecount, d0.paused) == (None, 3, True)
    assert d0.written == 8192
    assert [s.short for s in d0.snapshots] == ["zfsync_1", "zfsync_2"]
    first, second = d0.snapshots
    assert (first.holds, first.sent, first.userrefs) == (
        frozenset({props.BASE_HOLD}),
        1700000000,
        1,
    )
    assert (second.holds, second.sent) == (frozenset(), None)
    assert [(b.name, b.guid, b.is_bookmark) for b in d0.bookmarks] == [
        ("p/d0#zfsync_1", first.guid, True)
    ]
    assert d0.newest == second
    assert d0.snapshot("zfsync_1") == first
    assert side.below("p/a") == [a, side.get("p/a/c")]


async def test_reading_a_side_costs_the_same_for_one_dataset_as_for_twenty() -> None:
    for count in (1, 20):
        zfs = Counting(await _pool(count))
        side = await read_side(zfs, "local", [f"p/d{i}" for i in range(count)])  # type: ignore[arg-type]
        assert len(side.datasets) == count
        assert zfs.calls == ["list_many", "holds_many"]
        zfs.calls.clear()
        everything = await read_side(zfs, "local")  # type: ignore[arg-type]
        assert zfs.calls == ["list_every_pool", "holds_many"]  # no `zfs list -d 0` first
        assert "q" in everything
        assert f"p/d{count - 1}" in everything


async def test_no_holds_no_holds_command() -> None:
    zfs = Counting(MemoryBackend(pools=("p",), seed=1))
    await zfs.inner.create("p/a")
    await zfs.inner.snapshot(["p/a@s"])
    side = await read_side(zfs, "local", ["p/a"])  # type: ignore[arg-type]
    assert zfs.calls == ["list_many"]
    assert side.get("p/a") is not None
    assert await read_side(zfs, "local", []) == type(side)("local", {})


async def test_a_side_held_by_count_needs_no_holds_command() -> None:
    """held_side: every snapshot with a hold (ours or anyone's) is held, by the listing's
    `userrefs` alone; the others are not; nothing but the `zfs list`."""
    zfs = Counting(await _pool(2))
    await zfs.inner.hold("someone", ["p/d1@zfsync_2"])
    listing = await list_side(zfs, "local", ["p/d0", "p/d1"])  # type: ignore[arg-type]
    side = listing.held_side()
    assert zfs.calls == ["list_many"]
    held = {s.name: s.holds for d in side for s in d.snapshots}
    assert held == {
        "p/d0@zfsync_1": frozenset({SOME_HOLD}),
        "p/d0@zfsync_2": frozenset(),
        "p/d1@zfsync_1": frozenset({SOME_HOLD}),
        "p/d1@zfsync_2": frozenset({SOME_HOLD}),
    }
    # the same snapshots held as the tags read say
    tagged = listing.side(await listing.tags(zfs.inner))
    assert {s.name for d in tagged for s in d.snapshots if s.holds} == {
        n for n, tags in held.items() if tags
    }
