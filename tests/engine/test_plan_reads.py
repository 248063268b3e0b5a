"""How many zfs commands planning runs: the same for one object as for twenty (DESIGN: a
step's zfs commands stay constant in the number of objects). Every call to the backend is
counted, reads included, while a transaction is prepared (planned and estimated)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.contract.world import World
from tests.engine.conftest import Engine
from tests.faults import FaultyBackend
from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError
from zfsyncd.zfs.backend import ZfsBackend

#: what preparing a destroy of snapshots in one pool runs
ONE_POOL = ["list"]
#: what preparing a snapshot runs: one reading of the datasets named and of the snapshot
#: names on them, never of their pools; recursive the same (what lies below them is the
#: `zfs snapshot -r`'s to reach, and the locks' to cover: ops/snapshot.py)
SNAPSHOT = ["list_many"]
RECURSIVE_SNAPSHOT = ["list_many"]
#: what preparing a rollback of a filesystem runs: its pool, and two property readings
ROLLBACK = ["list", "get_properties", "local_properties"]


class Counting:
    """A backend that records the name of every call made to it, in order."""

    def __init__(self, inner: ZfsBackend) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await attr(*args, **kwargs)

        return call


@dataclass
class Counted:
    engine: Engine
    zfs: Counting

    @property
    def world(self) -> World:
        return self.engine.world

    async def prepare(self, kind: str, params: dict[str, Any]) -> list[str]:
        """The calls preparing it runs; then it runs to completion."""
        manager = self.engine.manager
        record = await manager.create(kind, params)
        self.zfs.calls.clear()
        await manager.prepare(record.id)
        calls = list(self.zfs.calls)
        await manager.execute(record.id)
        done = await manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        return calls

    async def refused(self, kind: str, params: dict[str, Any], why: str) -> list[str]:
        """The calls a refused plan ran."""
        record = await self.engine.manager.create(kind, params)
        self.zfs.calls.clear()
        with pytest.raises(PlanError, match=why):
            await self.engine.manager.prepare(record.id)
        return list(self.zfs.calls)

    async def tree(self, root: str, count: int) -> list[str]:
        """`root` and `count` filesystems below it; their names."""
        await self.world.zfs.create(root)
        below = [f"{root}/d{i}" for i in range(count)]
        for name in below:
            await self.world.zfs.create(name)
        return below

    async def snapshots(self, datasets: list[str]) -> list[str]:
        """zfsyncd's snapshot of each of `datasets` (one transaction); their names."""
        tx = await self.engine.manager.submit("snapshot", {"datasets": datasets})
        assert (await self.engine.manager.wait(tx.id)).state is TxState.COMPLETED
        return [f"{d}@zfsync_{tx.id}" for d in datasets]


@pytest.fixture
async def counted(world: World, tmp_path: Path) -> AsyncIterator[Counted]:
    zfs = Counting(world.zfs)
    engine = await Engine.start(world, tmp_path / "zfsyncd.db", FaultyBackend(zfs))
    yield Counted(engine, zfs)
    await engine.close()


async def _for_1_and_20(make: Callable[[int], Any]) -> list[list[str]]:
    return [await make(n) for n in (1, 20)]


async def test_snapshots_of_many_datasets_in_one_pool(counted: Counted) -> None:
    async def calls(n: int) -> list[str]:
        datasets = await counted.tree(f"{counted.world.src}/n{n}", n)
        return await counted.prepare("snapshot", {"datasets": datasets, "hold": True})

    assert await _for_1_and_20(calls) == [SNAPSHOT, SNAPSHOT]


async def test_a_recursive_snapshot_of_many_datasets(counted: Counted) -> None:
    async def calls(n: int) -> list[str]:
        root = f"{counted.world.src}/r{n}"
        await counted.tree(root, n)
        return await counted.prepare("snapshot", {"datasets": [root], "recursive": True})

    assert await _for_1_and_20(calls) == [RECURSIVE_SNAPSHOT, RECURSIVE_SNAPSHOT]


async def test_snapshots_in_two_pools_are_read_in_one_listing(counted: Counted) -> None:
    world = counted.world
    datasets = [
        *await counted.tree(f"{world.src}/two", 3),
        *await counted.tree(f"{world.dst}/two", 3),
    ]
    assert await counted.prepare("snapshot", {"datasets": datasets}) == SNAPSHOT
    assert await counted.prepare("snapshot", {"datasets": datasets[:1], "recursive": True}) == (
        RECURSIVE_SNAPSHOT
    )


async def test_a_destroy_of_many_snapshots(counted: Counted) -> None:
    async def calls(n: int) -> list[str]:
        snaps = await counted.snapshots(await counted.tree(f"{counted.world.src}/n{n}", n))
        return await counted.prepare("destroy-snapshots", {"snapshots": snaps})

    assert await _for_1_and_20(calls) == [ONE_POOL, ONE_POOL]


async def test_a_destroy_of_many_held_snapshots_reads_the_holds_of_one(counted: Counted) -> None:
    snaps = await counted.snapshots(await counted.tree(f"{counted.world.src}/held", 5))
    await counted.world.zfs.hold("keep", snaps[1:])
    calls = await counted.refused(
        "destroy-snapshots", {"snapshots": snaps}, f"{snaps[1]} is held \\(keep\\)"
    )
    assert calls == ["list", "holds"]


async def test_a_rollback_past_many_snapshots(counted: Counted) -> None:
    zfs = counted.world.zfs

    async def calls(n: int) -> list[str]:
        fs = f"{counted.world.src}/fs{n}"
        await zfs.create(fs)
        await zfs.snapshot([f"{fs}@target"])
        for i in range(n):
            await zfs.snapshot([f"{fs}@n{i}"])
            await zfs.clone(f"{fs}@target", f"{counted.world.src}/c{n}_{i}")
        return await counted.prepare("rollback-dataset", {"snapshot": f"{fs}@target"})

    assert await _for_1_and_20(calls) == [ROLLBACK, ROLLBACK]


async def test_a_rollback_the_listing_refuses_reads_nothing_more(counted: Counted) -> None:
    src = counted.world.src
    calls = await counted.refused("rollback-dataset", {"snapshot": f"{src}@nope"}, "does not exist")
    assert calls == ["list"]


async def test_a_snapshot_whose_name_exists_on_a_dataset_named_is_refused(
    counted: Counted,
) -> None:
    """The snapshot names are read by name, not with the pool's other snapshots: one that
    exists already on a dataset named refuses the plan."""
    root = f"{counted.world.src}/taken"
    below = await counted.tree(root, 3)
    record = await counted.engine.manager.create("snapshot", {"datasets": [root, *below]})
    await counted.world.zfs.snapshot([f"{below[1]}@zfsync_{record.id}"])
    counted.zfs.calls.clear()
    with pytest.raises(PlanError, match=f"{below[1]}@zfsync_{record.id} already exists"):
        await counted.engine.manager.prepare(record.id)
    assert counted.zfs.calls == SNAPSHOT


@pytest.mark.parametrize("hold", [False, True])
async def test_a_name_taken_below_is_refused_by_the_recursive_snapshot(
    counted: Counted, hold: bool
) -> None:
    """With -r the plan reads the datasets named only: a snapshot of the transaction's name
    below one (what only -r reaches) is the `zfs snapshot -r`'s refusal, which makes
    nothing; the transaction fails and ZFS is as it was, the snapshot that was there
    included (the step's undo takes nothing that it did not make)."""
    root = f"{counted.world.src}/taken-r{int(hold)}"
    below = await counted.tree(root, 3)
    params = {"datasets": [root], "recursive": True, "hold": hold}
    record = await counted.engine.manager.create("snapshot", params)
    await counted.world.zfs.snapshot([f"{below[1]}@zfsync_{record.id}"])
    before = await counted.world.state(root)
    counted.zfs.calls.clear()
    await counted.engine.manager.prepare(record.id)
    assert counted.zfs.calls == RECURSIVE_SNAPSHOT
    await counted.engine.manager.execute(record.id)
    done = await counted.engine.manager.wait(record.id)
    assert done.state is TxState.FAILED
    assert f"{below[1]}@zfsync_{record.id}" in (done.error or "")
    assert "already exists" in (done.error or "")
    assert await counted.world.state(root) == before
