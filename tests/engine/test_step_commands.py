"""How many zfs commands a held recursive snapshot and its rollback run, and that each of
their steps is still undone exactly at every point where it can break.

Each step reads all it acts on in one command and changes a recursive snapshot's subtree
with the recursive forms of zfs (`hold -r`, `release -r`, `rename -r`, `destroy -r`), so
the count is the same for 1, 10 and 50 children (issue 9: it was 12 / 138 / 2,658 for the
snapshot and 15 / 78 / 358 for the rollback). Every call to the backend is counted, reads
included, from the request to the end (planning, steps, finalize)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.world import State, World, backend_kind
from tests.engine.conftest import Engine
from tests.engine.test_plan_reads import Counting
from tests.faults import FaultyBackend, SimulatedCrash
from zfsyncd.store import TransactionRecord, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps.base import StepContext
from zfsyncd.tx.steps.holds import HoldArgs, HoldSnapshots, ReleaseSnapshots
from zfsyncd.tx.steps.lookup import snapshots_below
from zfsyncd.tx.steps.snapshots import (
    CreateSnapshots,
    CreateSnapshotsArgs,
    DestroySnapshots,
    DestroySnapshotsArgs,
)

REAL = backend_kind() == "real"
#: the goal of issue 9 for the held snapshot, planning included
SNAPSHOT_GOAL = 6
#: planning's one reading (the dataset named and the snapshot name on it: not the tree
#: below it, which the locks cover and the `-r` reaches), the snapshot with its read-back
#: in one call (one channel program on real zfs: the guids of what it made, no `zfs list
#: -r` after it), whose answer the hold's `capture` takes over (what exists, and no `zfs
#: holds` where no snapshot has a hold) and hands to its `do`, and the hold (`hold -r`
#: from the dataset named, which records what it held for the rollback)
SNAPSHOT_CALLS = ["list_many", "snapshot_guids", "hold"]
#: the release's reading of the guids and tags (one `list_reached`, for `capture` and `do`:
#: a read-only channel program on real zfs, which reads only the snapshots of this name,
#: their guid and hold count, and the tags of those held) and the release, which hands that
#: reading on to the destroy (the same snapshots, one hold less); the destroy's rename to
#: the trash; finalize's reading of the trash names (one walk of the tree, one name) and
#: its destroy of them
ROLLBACK_CALLS = ["list_reached", "release", "rename", "list_reached", "destroy"]
_trees = itertools.count()


@dataclass
class Counted:
    engine: Engine
    zfs: Counting

    @property
    def world(self) -> World:
        return self.engine.world

    async def tree(self, children: int) -> str:
        """A fresh root with `children` filesystems below it (one of them with a child)."""
        root = f"{self.world.src}/t{next(_trees)}"
        await self.world.zfs.create(root)
        for i in range(children):
            await self.world.zfs.create(f"{root}/c{i}")
        if children:
            await self.world.zfs.create(f"{root}/c0/g")
        return root

    async def run(self, record: TransactionRecord) -> TransactionRecord:
        manager = self.engine.manager
        if record.state is TxState.CREATED:
            await manager.prepare(record.id)
            await manager.execute(record.id)
        return await manager.wait(record.id)

    async def snapshot(self, root: str) -> TransactionRecord:
        params = {"datasets": [root], "recursive": True, "hold": True}
        return await self.engine.manager.submit("snapshot", params)

    async def counted(self, children: int) -> tuple[list[str], list[str]]:
        """The calls of a held recursive snapshot of `children` children, and of its
        rollback; each must complete and the rollback leave the tree as it was."""
        root = await self.tree(children)
        before = await self.world.state(root)
        self.zfs.calls.clear()
        done = await self.run(await self.snapshot(root))
        assert done.state is TxState.COMPLETED, done.error
        made = list(self.zfs.calls)
        self.zfs.calls.clear()
        undone = await self.run(await self.engine.manager.rollback(done.id))
        assert undone.state is TxState.COMPLETED, undone.error
        rolled = list(self.zfs.calls)
        assert await self.world.state(root) == before
        return made, rolled


@pytest.fixture
async def counted(world: World, tmp_path: Path) -> AsyncIterator[Counted]:
    zfs = Counting(world.zfs)
    engine = await Engine.start(world, tmp_path / "zfsyncd.db", FaultyBackend(zfs))
    yield Counted(engine, zfs)
    await engine.close()


async def test_the_same_commands_for_1_10_and_50_children(counted: Counted) -> None:
    sizes = (1, 10) if REAL else (1, 10, 50)  # in the lab each dataset costs a second
    runs = [await counted.counted(n) for n in sizes]
    assert all(run == runs[0] for run in runs[1:]), runs
    made, rolled = runs[0]
    assert len(made) <= SNAPSHOT_GOAL, made
    assert made == SNAPSHOT_CALLS
    assert rolled == ROLLBACK_CALLS


# ----------------------------------------------------------------- failures, crashes


async def _fresh(engine: Engine) -> tuple[str, State]:
    root = f"{engine.world.src}/f{next(_trees)}"
    zfs = engine.world.zfs
    await zfs.create(root)
    for child in ("a", "b", "a/x"):
        await zfs.create(f"{root}/{child}")
    await zfs.snapshot([f"{root}@theirs"], recursive=True)  # another name: never touched
    await zfs.hold("theirs", [f"{root}/a@theirs"])
    return root, await engine.world.state(root)


async def _snapshot(engine: Engine, root: str) -> TransactionRecord:
    params = {"datasets": [root], "recursive": True, "hold": True}
    return await engine.manager.submit("snapshot", params)


async def _changing_calls(engine: Engine, rollback: bool) -> int:
    """How many changing calls the held snapshot (or its rollback) makes."""
    root, _ = await _fresh(engine)
    first = len(engine.zfs.calls)
    done = await engine.manager.wait((await _snapshot(engine, root)).id)
    assert done.state is TxState.COMPLETED, done.error
    if not rollback:
        return len(engine.zfs.calls) - first
    first = len(engine.zfs.calls)
    undo = await engine.manager.rollback(done.id)
    await engine.manager.prepare(undo.id)
    await engine.manager.execute(undo.id)
    assert (await engine.manager.wait(undo.id)).state is TxState.COMPLETED
    return len(engine.zfs.calls) - first


def _points(total: int) -> list[int]:
    return list(range(total)) if not REAL else sorted({0, total // 2, total - 1})


#: how many changing calls fail in a row: the call, or the call and the next one (its undo's
#: first try). Which calls run then, and when the undo is tried again, is the engine's
#: decision, the same on any backend; what real ZFS adds (each call and its undo on real
#: pools) times=1 shows already, so the lab runs that one only (and tests/engine/
#: test_rollback_dataset.py::test_a_failing_undo_in_the_lab fails an undo on real pools).
TIMES = [
    1,
    pytest.param(2, marks=pytest.mark.skipif(REAL, reason="model only: as times=1 on real ZFS")),
]


@pytest.mark.parametrize("times", TIMES)
async def test_a_failing_call_of_the_snapshot_is_undone_exactly(engine: Engine, times: int) -> None:
    total = await _changing_calls(engine, rollback=False)
    assert total >= 2
    for index in _points(total):
        root, before = await _fresh(engine)
        engine.zfs.fail(len(engine.zfs.calls) + index, times=times)
        done = await engine.manager.wait((await _snapshot(engine, root)).id)
        engine.zfs.heal()
        assert done.state is TxState.FAILED, f"call {index} failed, yet {done.state}"
        assert (done.rollback_outcome or "").startswith(("complete", "nothing"))
        assert await engine.world.state(root) == before, f"failing call {index}"


async def _finalized_later(engine: Engine, root: str, before: State) -> None:
    """A completed rollback whose finalize failed: its trash goes by a later cleanup, and
    then the tree is as it was before the snapshot."""
    assert await engine.manager.run_cleanups(now=1e12) == 1
    assert await engine.world.state(root) == before


@pytest.mark.parametrize("times", TIMES)
async def test_a_failing_call_of_the_rollback_is_undone_exactly(engine: Engine, times: int) -> None:
    total = await _changing_calls(engine, rollback=True)
    assert total >= 3
    for index in _points(total):
        root, before = await _fresh(engine)
        done = await engine.manager.wait((await _snapshot(engine, root)).id)
        held = await engine.world.state(root)
        undo = await engine.manager.rollback(done.id)
        await engine.manager.prepare(undo.id)
        engine.zfs.fail(len(engine.zfs.calls) + index, times=times)
        await engine.manager.execute(undo.id)
        failed = await engine.manager.wait(undo.id)
        engine.zfs.heal()
        if index == total - 1:  # the destroy of the trash, once the rollback completed
            assert failed.state is TxState.COMPLETED, failed.error
            await _finalized_later(engine, root, before)
            continue
        assert failed.state is TxState.FAILED, f"call {index} failed, yet {failed.state}"
        assert (failed.rollback_outcome or "").startswith(("complete", "nothing"))
        assert await engine.world.state(root) == held, f"failing call {index}"


async def test_a_crash_after_any_call_of_the_snapshot_is_recovered(engine: Engine) -> None:
    total = await _changing_calls(engine, rollback=False)
    for index in _points(total):
        root, before = await _fresh(engine)
        engine.zfs.crash_after(len(engine.zfs.calls) + index)
        record = await _snapshot(engine, root)
        with pytest.raises(SimulatedCrash):
            await engine.manager.wait(record.id)
        engine = await engine.restart()
        recovered = await engine.manager.recover()
        assert [r.state for r in recovered] == [TxState.FAILED]
        assert await engine.world.state(root) == before, f"crash after call {index}"
    await engine.close()


async def test_a_crash_after_any_call_of_the_rollback_is_recovered(engine: Engine) -> None:
    total = await _changing_calls(engine, rollback=True)
    for index in _points(total):
        root, before = await _fresh(engine)
        done = await engine.manager.wait((await _snapshot(engine, root)).id)
        held = await engine.world.state(root)
        undo = await engine.manager.rollback(done.id)
        await engine.manager.prepare(undo.id)
        engine.zfs.crash_after(len(engine.zfs.calls) + index)
        await engine.manager.execute(undo.id)
        with pytest.raises(SimulatedCrash):
            await engine.manager.wait(undo.id)
        engine = await engine.restart()
        recovered = await engine.manager.recover()
        if index == total - 1:  # after the trash's destroy: nothing left to do
            assert await engine.world.state(root) == before
            continue
        assert [r.id for r in recovered] == [undo.id]
        assert await engine.world.state(root) == held, f"crash after call {index}"
    await engine.close()


async def test_a_part_of_a_recursive_set_is_never_reached_by_a_recursive_command(
    engine: Engine,
) -> None:
    """Destroying (and bringing back) some of a recursive snapshot's snapshots: `-r` from
    the root would take the others too, so the step names those it may not reach."""
    root, _ = await _fresh(engine)
    done = await engine.manager.wait(
        (await engine.manager.submit("snapshot", {"datasets": [root], "recursive": True})).id
    )
    short = f"zfsync_{done.id}"
    some = [f"{root}@{short}", f"{root}/a/x@{short}"]
    kept = await engine.world.state(root)
    # the second rename fails: the first comes back, and nothing else moved
    engine.zfs.fail(len(engine.zfs.calls) + 1)
    failed = await engine.manager.wait(
        (await engine.manager.submit("destroy-snapshots", {"snapshots": some})).id
    )
    engine.zfs.heal()
    assert failed.state is TxState.FAILED
    assert await engine.world.state(root) == kept
    destroyed = await engine.manager.wait(
        (await engine.manager.submit("destroy-snapshots", {"snapshots": some})).id
    )
    assert destroyed.state is TxState.COMPLETED, destroyed.error
    left = {n for n in await engine.world.state(root) if n.endswith(short)}
    assert left == {f"{root}/a@{short}", f"{root}/b@{short}"}


async def test_holds_where_some_already_carry_the_tag(world: World) -> None:
    """A hold step over snapshots one of which carries its tag already: `zfs hold -r`
    from the root would fail on it, so the root is held by name and the rest by -r; its
    undo releases only what it placed, and a release step's undo puts back only what it
    took."""
    zfs = world.zfs
    root = f"{world.src}/h"
    for child in ("", "/b", "/c", "/c/d"):
        await zfs.create(f"{root}{child}")
    await zfs.snapshot([f"{root}@s"], recursive=True)
    snaps = (f"{root}@s", f"{root}/b@s", f"{root}/c@s", f"{root}/c/d@s")
    await zfs.hold("t", [f"{root}/b@s"])
    before = await world.state(root)
    counting = Counting(zfs)
    ctx = StepContext("tx", local_hosts(counting))
    hold = HoldSnapshots(HoldArgs(tag="t", snapshots=snaps))
    assert not await hold.check(ctx)
    had = await hold.capture(ctx)
    assert had == {"had": [f"{root}/b@s"]}
    counting.calls.clear()
    await hold.do(ctx, had)
    assert [c for c in counting.calls if c == "hold"] == ["hold", "hold"]  # c by -r, root named
    assert await hold.check(ctx)
    await hold.do(ctx, had)  # again: nothing more to do
    await hold.undo(ctx, had)
    assert await world.state(root) == before
    # the release of all four, undone: b keeps the hold it had before either step
    await hold.do(ctx, had)
    release = ReleaseSnapshots(HoldArgs(tag="t", snapshots=snaps))
    took = await release.capture(ctx)
    await release.do(ctx, took)
    assert await release.check(ctx)
    await release.undo(ctx, took)
    assert await hold.check(ctx)
    await hold.undo(ctx, had)
    assert await world.state(root) == before


async def test_a_reading_is_handed_on_once_to_the_next_capture(world: World) -> None:
    """A snapshot's read-back stands for the hold's own reading of the same names,
    once (the executor also empties what was handed on before each `do`: the exact counts
    above and the fault cases run through it)."""
    zfs, root = Counting(world.zfs), f"{world.src}/handed"
    for child in ("", "/b"):
        await zfs.create(f"{root}{child}")
    await zfs.snapshot([f"{root}@s"], recursive=True)
    made = CreateSnapshots(CreateSnapshotsArgs(snapshots=(f"{root}@s",), recursive=True))
    ctx = StepContext("tx", local_hosts(zfs))
    zfs.calls.clear()
    assert await made._made(zfs, ctx.handed) == {
        name: obj.guid for name, obj in (await snapshots_below(world.zfs, [f"{root}@s"])).items()
    }
    hold = HoldSnapshots(HoldArgs(tag="t", snapshots=(f"{root}@s", f"{root}/b@s")))
    assert await hold.capture(ctx) == {"had": []}
    assert zfs.calls == ["list_reached"]  # the read-back's, taken over
    assert not ctx.handed
    assert await hold.capture(ctx) == {"had": []}
    assert zfs.calls == ["list_reached", "list_reached"]  # nothing handed on: read again


async def _held_tree(world: World, name: str) -> tuple[str, tuple[str, ...]]:
    """A root with two children, snapshotted recursively (`@s`) and held by tag `t`, and
    another snapshot name below it (never reached)."""
    zfs, root = world.zfs, f"{world.src}/{name}"
    for child in ("", "/b", "/b/c"):
        await zfs.create(f"{root}{child}")
    await zfs.snapshot([f"{root}@s"], recursive=True)
    await zfs.snapshot([f"{root}/b@other"])
    snaps = (f"{root}@s", f"{root}/b@s", f"{root}/b/c@s")
    await zfs.hold("t", list(snaps))
    return root, snaps


async def _guids(world: World, snaps: tuple[str, ...]) -> dict[str, int | None]:
    return {name: obj.guid for name, obj in (await snapshots_below(world.zfs, snaps)).items()}


async def test_a_release_hands_its_reading_to_the_destroy_after_it(world: World) -> None:
    """The rollback of a held snapshot: the release's one reading (guids, and the tags of
    those held) stands, after the release, for the destroy's reading of the same snapshots
    (one hold less on each), so the move to the trash reads nothing; finalize reads the
    trash names alone."""
    root, snaps = await _held_tree(world, "rel")
    guids = await _guids(world, snaps)
    zfs = Counting(world.zfs)
    ctx = StepContext("tx", local_hosts(zfs))
    release = ReleaseSnapshots(HoldArgs(tag="t", snapshots=snaps))
    destroy = DestroySnapshots(DestroySnapshotsArgs(snapshots=guids))
    took = await release.capture(ctx)
    assert took == {"had": list(snaps)}
    ctx.handed.clear()  # as the executor does before each `do`
    await release.do(ctx, took)
    assert await destroy.capture(ctx) == {}
    assert not ctx.handed
    ctx.handed.clear()
    await destroy.do(ctx, {})
    assert zfs.calls == ["list_reached", "release", "rename"]
    await destroy.finalize(ctx, {})
    assert zfs.calls[3:] == ["list_reached", "destroy"]
    assert sorted(await world.state(root)) == sorted(
        [root, f"{root}/b", f"{root}/b/c", f"{root}/b@other"]
    )


#: in the lab one case is enough: the others differ from it in the engine's decisions only
#: (the untouched tree is test_a_release_hands_its_reading_to_the_destroy_after_it's)
_MODEL_ONLY = pytest.mark.skipif(
    REAL, reason="on the model only; the lab runs the re-made child (/b/c@s)"
)


@pytest.mark.parametrize(
    ("remade", "moved"),
    [
        # nobody touched them: all three move, by one `rename -r`
        pytest.param(None, {"@s", "/b@s", "/b/c@s"}, marks=_MODEL_ONLY),
        # someone destroyed b/c@s and made another of that name (held by the same tag):
        # the destroy refuses it by its guid, from the release's reading, and moves nothing
        ("/b/c@s", set()),
        pytest.param("@s", set(), marks=_MODEL_ONLY),
    ],
)
async def test_a_handed_reading_keeps_the_guid_guard(
    world: World, remade: str | None, moved: set[str]
) -> None:
    root, snaps = await _held_tree(world, f"guard{next(_trees)}")
    guids = await _guids(world, snaps)
    if remade is not None:
        await world.zfs.release("t", [f"{root}{remade}"])
        await world.zfs.destroy(f"{root}{remade}")
        await world.zfs.snapshot([f"{root}{remade}"])
        await world.zfs.hold("t", [f"{root}{remade}"])
    before = await world.state(root)
    ctx = StepContext("tx", local_hosts(world.zfs))
    release = ReleaseSnapshots(HoldArgs(tag="t", snapshots=snaps))
    destroy = DestroySnapshots(DestroySnapshotsArgs(snapshots=guids))
    took = await release.capture(ctx)
    ctx.handed.clear()
    await release.do(ctx, took)
    await destroy.capture(ctx)
    ctx.handed.clear()
    if moved:
        await destroy.do(ctx, {})
    else:
        with pytest.raises(ValueError, match="guid"):
            await destroy.do(ctx, {})
        await release.undo(ctx, took)  # as the executor's undo would
        assert await world.state(root) == before
    trashed = {
        n.removeprefix(root).replace("zfsync_trash_tx_", "")
        for n in await world.state(root)
        if "trash" in n
    }
    assert trashed == moved
