"""dataset-init and dataset-update end to end on the engine (issue 12, seed 000): what a
completed one leaves, the zfs commands each makes (the same for any tree), an rsync that
fails leaving ZFS as before, a finalize ZFS refuses going to the deferred-cleanup queue,
and the way back (the rollback of an init; a dataset rollback to an update's baseline).
Every zfs call broken, and a crash after each: test_fault_harness.py (fault_cases.py)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.contract.world import World, backend_kind
from tests.engine.conftest import Engine
from tests.engine.fault_cases import _source_tree
from tests.engine.test_plan_reads import Counting
from tests.faults import FaultyBackend, SimulatedCrash
from zfsyncd.files import mounts
from zfsyncd.files.mounts import Mount
from zfsyncd.files.rsync import RsyncError, RsyncJob, RsyncResult
from zfsyncd.store import TxState
from zfsyncd.tx.steps import fill
from zfsyncd.tx.steps.trash import TRASH_PREFIX

pytestmark = pytest.mark.skipif(
    backend_kind() == "real", reason="the model's mounts are directories of the test"
)
_runs = itertools.count()


async def _root(engine: Engine) -> str:
    root = f"{engine.world.src}/d{next(_runs)}"
    await engine.world.zfs.create(root)
    return root


async def _run(engine: Engine, kind: str, params: dict[str, object]) -> tuple[str, list[str]]:
    first = len(engine.zfs.calls)
    record = await engine.manager.submit(kind, params)
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return record.id, [c.split()[0] for c in engine.zfs.calls[first:]]


def _filled(tx_id: str) -> Path:
    return Path(fill.fill_mountpoint(tx_id))


async def test_init_makes_the_dataset_whole_at_its_name(engine: Engine) -> None:
    zfs, root = engine.world.zfs, await _root(engine)
    tree = _source_tree("e")
    tx, calls = await _run(engine, "dataset-init", {"dataset": f"{root}/made", "source": tree})
    # create, snapshot, rename, the mountpoint inherited: whatever the tree holds
    assert calls == ["create", "snapshot_guids", "rename", "inherit"]
    names = [o.name for o in await zfs.list(root)]
    assert names == [root, f"{root}/made", f"{root}/made@zfsync_{tx}"]
    assert await zfs.local_properties(f"{root}/made") == {}
    copied = _filled(tx)
    assert (copied / "sub" / "b.txt").read_bytes() == b"b" * 512
    assert os.stat(copied / "a.txt").st_ino == os.stat(copied / "sub" / "a-link.txt").st_ino


async def test_init_with_a_mountpoint_and_its_rollback(engine: Engine) -> None:
    zfs, root = engine.world.zfs, await _root(engine)
    before = await engine.world.state(root)
    params = {"dataset": f"{root}/made", "source": _source_tree("m"), "mountpoint": "/srv/m"}
    tx, calls = await _run(engine, "dataset-init", params)
    assert calls[-1] == "set_properties"
    mountpoint = await zfs.get_properties(f"{root}/made", ["mountpoint", "mounted"])
    assert (mountpoint["mountpoint"].value, mountpoint["mounted"].value) == ("/srv/m", "yes")
    undo = await engine.manager.rollback(tx)
    await engine.manager.start(undo.id)
    assert (await engine.manager.wait(undo.id)).state is TxState.COMPLETED
    assert await engine.world.state(root) == before


async def _updatable(engine: Engine) -> tuple[str, str]:
    zfs, root = engine.world.zfs, await _root(engine)
    fs = f"{root}/fs"
    await zfs.create(fs, properties={"compression": "off", "mountpoint": "/srv/fs"})
    await engine.world.write(fs, 4096)
    await zfs.snapshot([f"{fs}@s1"])
    await engine.world.write(fs, 4096)
    return root, fs


async def test_update_swaps_in_the_filled_clone(engine: Engine) -> None:
    zfs = engine.world.zfs
    root, fs = await _updatable(engine)
    old = await zfs.get(fs)
    s1 = (await zfs.get(f"{fs}@s1")).guid
    content = await engine.world.contents(fs)
    params = {"dataset": fs, "source": _source_tree("u"), "excludes": ["*.tmp"]}
    tx, calls = await _run(engine, "dataset-update", params)
    # the same for any tree: snapshot, clone, then the swap (promote, unmount, two renames,
    # the mountpoint), and the old one destroyed at finalize
    assert calls == [
        "snapshot_guids", "clone", "promote", "set_properties", "rename", "rename",
        "set_properties", "destroy",
    ]  # fmt: skip
    new = await zfs.get(fs)
    assert new.guid != old.guid
    assert new.origin is None
    # earlier snapshots stay, with their guids; the baseline holds the old contents
    assert (await zfs.get(f"{fs}@s1")).guid == s1
    assert [o.name for o in await zfs.list(root)] == [
        root, fs, f"{fs}@s1", f"{fs}@zfsync_{tx}",
    ]  # fmt: skip
    assert await zfs.local_properties(fs) == {"compression": "off", "mountpoint": "/srv/fs"}
    assert not (_filled(tx) / "cache.tmp").exists()
    assert (_filled(tx) / "a.txt").exists()
    # back to the old contents: a dataset rollback to the baseline
    back = await engine.manager.submit("rollback-dataset", {"snapshot": f"{fs}@zfsync_{tx}"})
    assert (await engine.manager.wait(back.id)).state is TxState.COMPLETED
    assert await engine.world.contents(fs) == content


@pytest.mark.parametrize("kind", ["dataset-init", "dataset-update"])
async def test_an_rsync_that_fails_leaves_zfs_as_it_was(
    engine: Engine, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, fs = await _updatable(engine)
    dataset = fs if kind == "dataset-update" else f"{root}/made"
    before = await engine.world.state(root, contents=True)

    async def broken(job: RsyncJob, *_: object, **__: object) -> RsyncResult:
        job.target.mkdir(exist_ok=True)  # rsync makes the last level (the model mounts none)
        (job.target / "half.txt").write_text("written before it failed")
        raise RsyncError(["rsync", str(job.source), str(job.target)], 23, "some files vanished")

    monkeypatch.setattr(fill, "run_rsync", broken)
    record = await engine.manager.submit(kind, {"dataset": dataset, "source": _source_tree("f")})
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.FAILED
    assert "rsync of" in (done.error or "")
    assert "some files vanished" in (done.error or "")
    assert await engine.world.state(root, contents=True) == before


async def test_a_refused_finalize_waits_in_the_cleanup_queue(engine: Engine) -> None:
    zfs = engine.world.zfs
    _, fs = await _updatable(engine)
    first = len(engine.zfs.calls)
    engine.zfs.fail(first + 7)  # the destroy of the old dataset (a reader holds it busy)
    record = await engine.manager.submit(
        "dataset-update", {"dataset": fs, "source": _source_tree("c")}
    )
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED
    [waiting] = await engine.manager.cleanups.pending()
    assert "destroy" in waiting.reason
    trash = [o.name for o in await zfs.list(engine.world.src) if TRASH_PREFIX in o.name]
    assert len(trash) == 1
    engine.zfs.heal()
    assert await engine.manager.run_cleanups(now=1e12) == 1
    assert await engine.manager.cleanups.pending() == []
    assert [o.name for o in await zfs.list(engine.world.src) if TRASH_PREFIX in o.name] == []


async def test_update_refuses_what_the_swap_refuses(engine: Engine) -> None:
    _, fs = await _updatable(engine)
    await engine.world.zfs.create(f"{fs}/child")
    with pytest.raises(Exception, match="has child datasets"):
        await engine.manager.submit("dataset-update", {"dataset": fs, "source": _source_tree("c")})


@pytest.mark.parametrize("kind", ["dataset-init", "dataset-update"])
async def test_a_crash_while_rsync_runs_is_undone_at_restart(
    engine: Engine, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill step journaled its intent, rsync was writing, the daemon died: recovery
    undoes what was made (the temporary dataset, or the clone and the baseline)."""
    root, fs = await _updatable(engine)
    dataset = fs if kind == "dataset-update" else f"{root}/made"
    before = await engine.world.state(root, contents=True)

    async def dies(job: RsyncJob, *_: object, **__: object) -> RsyncResult:
        job.target.mkdir(exist_ok=True)
        (job.target / "half.txt").write_text("written when the daemon died")
        raise SimulatedCrash

    monkeypatch.setattr(fill, "run_rsync", dies)
    record = await engine.manager.submit(kind, {"dataset": dataset, "source": _source_tree("k")})
    with pytest.raises(SimulatedCrash):
        await engine.manager.wait(record.id)
    restarted = await engine.restart()
    try:
        [done] = await restarted.manager.recover()
        assert done.id == record.id
        assert done.state is TxState.FAILED
        assert done.error_kind == "interrupted"
        assert await engine.world.state(root, contents=True) == before
    finally:
        await restarted.close()


async def test_every_zfs_call_of_an_init(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads included, with the mount table showing the temporary dataset (as on a real
    host): the plan's one `zfs list` (the dataset, its parent and the temporary name), the
    create (no reading before or after it: the name carries the transaction's id), the
    snapshot program, one reading of guid and mountpoint, the rename and the inherit."""
    counting = Counting(world.zfs)
    engine = await Engine.start(world, tmp_path / "db.sqlite", FaultyBackend(counting))
    try:
        root = f"{world.src}/counted"
        await world.zfs.create(root)
        shown: list[str] = []
        monkeypatch.setattr(mounts, "read_mounts", lambda: [
            Mount(fill.fill_mountpoint(tx), "zfs", f"{root}/zfsync_init_{tx}_made")
            for tx in shown
        ])  # fmt: skip
        record = await engine.manager.submit(
            "dataset-init", {"dataset": f"{root}/made", "source": _source_tree("counted")}
        )
        shown.append(record.id)  # before its steps run: they wait for the loop
        done = await engine.manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        assert counting.calls == [
            "list_many", "create", "snapshot_guids", "get_properties", "rename", "inherit",
        ]  # fmt: skip
    finally:
        await engine.close()
