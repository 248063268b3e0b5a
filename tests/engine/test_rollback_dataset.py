"""The rollback-dataset transaction (a `zfs rollback -r` done as a clone/promote swap): what it
leaves when it completes, and that every failure, repeated failure or crash at any of its zfs
calls leaves ZFS exactly as before (names, guids, createtxgs, origins, user properties, holds
and the dataset's local properties). On the model every call is tried; in the lab a few.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from tests.contract.world import State, World, backend_kind
from tests.engine.conftest import Engine
from tests.faults import SimulatedCrash
from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError, RollbackRefusedError
from zfsyncd.zfs.models import RecvSpec, SendSpec

REAL = backend_kind() == "real"
KIND = "rollback-dataset"
_runs = itertools.count()
#: the local properties the dataset starts with (besides a mountpoint in some runs)
LOCAL = {"zfsync:role": "data", "compression": "off", "atime": "off"}
#: fs's local mountpoint in a run: none (it inherits), "none", a path. Each takes other calls
#: (no unmount is needed where it mounts nowhere). A path mounts for real in the lab, where
#: tests/real covers mounts; the lab's pools here have mountpoint=none.
MOUNTPOINTS = [None, "none"] if REAL else [None, "none", "/var/tmp/zfsync-rollback"]
#: the fault loop in the lab: the inherited, mounted case only (every variant runs on the
#: model; tests/engine/test_fault_harness.py tries rollback-dataset's fail-after in the lab)
FAULT_MOUNTPOINTS = [None] if REAL else MOUNTPOINTS


@dataclass
class Case:
    root: str  # everything of this run is below it
    fs: str  # the dataset rolled back
    target: str  # the snapshot it is rolled back to
    before: State
    local: dict[str, str]  # fs's local properties before

    @property
    def params(self) -> dict[str, str]:
        return {"snapshot": self.target}


async def _picture(world: World, case: Case) -> tuple[State, dict[str, str]]:
    return await world.state(case.root), await world.zfs.local_properties(case.fs)


async def _fresh(world: World, *, mountpoint: str | None = None) -> Case:
    """fs with older and newer snapshots, a hold and a bookmark on each side of the target,
    writes in between and after, and a clone of an older snapshot beside it."""
    root = f"{world.src}/r{next(_runs)}"
    fs = f"{root}/fs"
    await world.zfs.create(root)
    props = dict(LOCAL) if mountpoint is None else {**LOCAL, "mountpoint": mountpoint}
    await world.zfs.create(fs, properties=props)
    await world.write(fs, 64 << 10)
    await world.zfs.snapshot([f"{fs}@s1"])
    await world.zfs.hold("zfsync-test", [f"{fs}@s1"])
    await world.zfs.bookmark(f"{fs}@s1", f"{fs}#b1")
    await world.zfs.set_properties(f"{fs}@s1", {"zfsync:a": "older"})
    await world.write(fs, 64 << 10)
    await world.zfs.snapshot([f"{fs}@target"])
    await world.write(fs, 64 << 10)
    await world.zfs.snapshot([f"{fs}@n1"])
    await world.zfs.bookmark(f"{fs}@n1", f"{fs}#bn")
    await world.zfs.snapshot([f"{fs}@n2"])
    await world.write(fs, 64 << 10)
    await world.zfs.clone(f"{fs}@s1", f"{root}/other")
    case = Case(root, fs, f"{fs}@target", {}, {})
    case.before, case.local = await _picture(world, case)
    return case


async def _run(engine: Engine, case: Case) -> TxState:
    record = await engine.manager.submit(KIND, case.params)
    return (await engine.manager.wait(record.id)).state


async def _count_calls(engine: Engine, mountpoint: str | None = None) -> int:
    """The changing zfs calls of one clean run, the finalize's destroy being the last."""
    case = await _fresh(engine.world, mountpoint=mountpoint)
    first = len(engine.zfs.calls)
    assert await _run(engine, case) is TxState.COMPLETED
    calls = engine.zfs.calls[first:]
    assert calls[-1].startswith("destroy"), calls
    assert "zfsync_trash_" in calls[-1], calls
    return len(calls)


def _points(total: int) -> list[int]:
    """Every call of the step (the finalize's destroy, the last, has its own test)."""
    return list(range(total - 1)) if not REAL else sorted({0, (total - 1) // 2, total - 2})


# ------------------------------------------------------------------------------ the result


@pytest.mark.parametrize("mountpoint", MOUNTPOINTS)
async def test_it_ends_as_zfs_rollback_r_would_except_the_dataset_guid(
    engine: Engine, mountpoint: str | None
) -> None:
    world = engine.world
    case = await _fresh(world, mountpoint=mountpoint)
    assert await _run(engine, case) is TxState.COMPLETED
    after, local = await _picture(world, case)
    # what `zfs rollback -r fs@target` leaves: the newer snapshots and bookmarks are gone
    gone = {f"{case.fs}@n1", f"{case.fs}@n2", f"{case.fs}#bn"}
    expected = {n: e for n, e in case.before.items() if n not in gone}
    old, new = expected.pop(case.fs), after.pop(case.fs)
    assert after == expected  # every snapshot kept its guid, hold and user properties
    assert new.guid != old.guid  # the one difference: fs is the promoted clone
    assert (new.type, new.origin, new.properties) == (old.type, old.origin, old.properties)
    assert local == case.local
    assert (await world.zfs.get(case.fs)).referenced == (
        await world.zfs.get(case.target)
    ).referenced
    assert await engine.manager.cleanups.pending() == []  # the trash was destroyed


async def test_the_twin_of_a_plain_zfs_rollback(engine: Engine) -> None:
    """Two datasets made alike; one rolled back by `zfs rollback -r`, one by the transaction:
    the same names, types, user properties, holds and local properties below each."""
    world = engine.world
    plain, swapped = await _fresh(world), await _fresh(world)
    await world.zfs.rollback(plain.target, destroy_newer=True)
    assert await _run(engine, swapped) is TxState.COMPLETED

    def shape(state: State, root: str) -> dict[str, tuple[object, ...]]:
        return {
            n[len(root) :]: (e.type, e.origin and e.origin[len(root) :], e.properties, e.holds)
            for n, e in state.items()
        }

    p_state, p_local = await _picture(world, plain)
    s_state, s_local = await _picture(world, swapped)
    assert shape(s_state, swapped.root) == shape(p_state, plain.root)
    assert s_local == p_local


async def test_a_clone_can_be_rolled_back_and_keeps_its_origin(engine: Engine) -> None:
    world = engine.world
    case = await _fresh(world)
    # roll back `other`, itself a clone of fs@s1: the new dataset inherits that origin
    await world.zfs.snapshot([f"{case.root}/other@o1"])
    await world.zfs.snapshot([f"{case.root}/other@o2"])
    before = await world.state(case.root)
    record = await engine.manager.submit(KIND, {"snapshot": f"{case.root}/other@o1"})
    assert (await engine.manager.wait(record.id)).state is TxState.COMPLETED
    after = await world.state(case.root)
    assert after[f"{case.root}/other"].origin == f"{case.fs}@s1"
    del before[f"{case.root}/other@o2"]
    assert {n: e.guid for n, e in after.items() if n != f"{case.root}/other"} == {
        n: e.guid for n, e in before.items() if n != f"{case.root}/other"
    }


async def test_it_cannot_be_rolled_back_once_completed(engine: Engine) -> None:
    case = await _fresh(engine.world)
    record = await engine.manager.submit(KIND, case.params)
    assert (await engine.manager.wait(record.id)).state is TxState.COMPLETED
    with pytest.raises(RollbackRefusedError, match="newer than target and the data written"):
        await engine.manager.rollback(record.id)


# ------------------------------------------------------------------------------ refusals


async def test_requests_it_cannot_do_exactly_are_refused_and_change_nothing(
    engine: Engine,
) -> None:
    world, zfs = engine.world, engine.world.zfs
    case = await _fresh(world)
    fs, root = case.fs, case.root

    async def refused(snapshot: str, why: str) -> None:
        before = await world.state(world.src, world.dst)
        with pytest.raises(PlanError, match=why):
            await engine.manager.submit(KIND, {"snapshot": snapshot})
        assert await world.state(world.src, world.dst) == before

    await refused(f"{fs}@nope", "does not exist")
    await zfs.hold("zfsync-test", [f"{fs}@n2"])
    await refused(case.target, f"a newer snapshot is held.*{fs}@n2")
    await zfs.release("zfsync-test", [f"{fs}@n2"])
    await zfs.clone(f"{fs}@n1", f"{root}/late")
    await refused(case.target, f"{root}/late is a clone of a snapshot newer")
    await zfs.destroy(f"{root}/late")
    await zfs.create(f"{fs}/child")
    await refused(case.target, "has child datasets")
    await zfs.destroy(f"{fs}/child")
    await zfs.set_properties(fs, {"mountpoint": "legacy"})
    await refused(case.target, "mountpoint=legacy")
    await zfs.inherit(fs, "mountpoint")

    vol = f"{root}/vol"
    await zfs.create(vol, volume_size=16 << 20)
    await zfs.snapshot([f"{vol}@1"])
    await refused(f"{vol}@1", "is a volume")
    enc = f"{root}/enc"
    await zfs.create(
        enc, properties={"encryption": "on", "keyformat": "raw", "keylocation": world.key_location}
    )
    await zfs.snapshot([f"{enc}@1"])
    await refused(f"{enc}@1", "is encrypted")
    copy = f"{world.dst}/copy"
    await zfs.send_recv(SendSpec(snapshot=f"{fs}@s1", properties=True), zfs, RecvSpec(target=copy))
    await refused(f"{copy}@s1", "has received properties")
    # and after all that, it still works
    assert await _run(engine, case) is TxState.COMPLETED


# ------------------------------------------------------------------------------ failures


async def _run_failing(
    engine: Engine, index: int, times: int, mountpoint: str | None = None
) -> None:
    case = await _fresh(engine.world, mountpoint=mountpoint)
    offset = len(engine.zfs.calls)
    engine.zfs.fail(offset + index, times=times)
    record = await engine.manager.submit(KIND, case.params)
    done = await engine.manager.wait(record.id)
    engine.zfs.heal()
    label = engine.zfs.calls[offset + index]
    assert done.state is TxState.FAILED, f"call {index} ({label}) failed, yet {done.state}"
    assert (done.rollback_outcome or "").startswith(("complete", "nothing")), done.rollback_outcome
    assert await _picture(engine.world, case) == (case.before, case.local), (
        f"failing call {index} ({label}) left ZFS changed"
    )


@pytest.mark.parametrize("mountpoint", FAULT_MOUNTPOINTS)
async def test_every_failing_call_is_rolled_back(engine: Engine, mountpoint: str | None) -> None:
    total = await _count_calls(engine, mountpoint)
    assert total >= 5  # clone, promote, (set,) rename, rename, (inherit/set,) destroy
    for index in _points(total):
        await _run_failing(engine, index, 1, mountpoint)


@pytest.mark.skipif(REAL, reason="on the model every call; the lab runs one failing undo")
@pytest.mark.parametrize("mountpoint", MOUNTPOINTS)
async def test_a_failing_undo_is_retried_until_it_succeeds(
    engine: Engine, mountpoint: str | None
) -> None:
    total = await _count_calls(engine, mountpoint)
    for index in range(1, total - 1):
        for times in (2, 3):  # the call, then the undo fails once or twice (3 tries in all)
            await _run_failing(engine, index, times, mountpoint)


async def test_a_failing_undo_in_the_lab(engine: Engine) -> None:
    total = await _count_calls(engine)
    await _run_failing(engine, total - 2, times=2)


async def test_an_undo_that_keeps_failing_is_finished_later(engine: Engine) -> None:
    total = await _count_calls(engine)
    case = await _fresh(engine.world)
    engine.zfs.fail_from(len(engine.zfs.calls) + (total - 1) // 2)
    record = await engine.manager.submit(KIND, case.params)
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.FAILED
    assert (done.rollback_outcome or "").startswith("partial"), done.rollback_outcome
    engine.zfs.heal()
    assert await engine.manager.run_cleanups(now=1e13) == 1
    assert await _picture(engine.world, case) == (case.before, case.local)


async def test_a_failing_finalize_is_finished_later(engine: Engine) -> None:
    total = await _count_calls(engine)
    case = await _fresh(engine.world)
    engine.zfs.fail_from(len(engine.zfs.calls) + total - 1)  # the trash's destroy
    record = await engine.manager.submit(KIND, case.params)
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED  # the rollback is done; only the trash is left
    [pending] = await engine.manager.cleanups.pending()
    assert pending.kind == "finalize"
    trash = [n for n in await engine.world.state(case.root) if "zfsync_trash_" in n]
    assert trash
    engine.zfs.heal()
    assert await engine.manager.run_cleanups(now=1e13) == 1
    after = await engine.world.state(case.root)
    assert not [n for n in after if "zfsync_trash_" in n]
    assert f"{case.fs}@n1" not in after


@pytest.mark.skipif(
    REAL,
    reason="model only: in the lab tests/real/test_rollback_real.py kills the daemon's process "
    "after every one of its zfs commands (test_rollback_transaction_killed_after_each_zfs_command)",
)
@pytest.mark.parametrize("mountpoint", MOUNTPOINTS)
async def test_a_crash_after_any_call_is_recovered_at_restart(
    engine: Engine, mountpoint: str | None
) -> None:
    total = await _count_calls(engine, mountpoint)
    for index in [*_points(total), total - 1]:
        case = await _fresh(engine.world, mountpoint=mountpoint)
        engine.zfs.crash_after(len(engine.zfs.calls) + index)
        record = await engine.manager.submit(KIND, case.params)
        with pytest.raises(SimulatedCrash):
            await engine.manager.wait(record.id)
        engine = await engine.restart()
        [done] = await engine.manager.recover()
        assert done.id == record.id
        if index == total - 1:  # the step had finished: recovery finalizes and completes
            assert done.state is TxState.COMPLETED
            assert not [n for n in await engine.world.state(case.root) if "zfsync_trash_" in n]
            continue
        assert done.state is TxState.FAILED
        assert done.error_kind == "interrupted"
        assert await _picture(engine.world, case) == (case.before, case.local), (
            f"crash after call {index}"
        )
    await engine.close()
