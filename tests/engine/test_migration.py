"""The migrate transaction on the model, with a plain source in a temp directory: a new
dataset built under a temporary name and renamed into place, a `--limit` run continued, a
failure or a crash in the continuation undone exactly, validation, the zfs commands of each
step counted, and a batch of 6 sources with 3 workers. (Every call of a new migration
failed, failed-after and crashed: test_fault_harness.py's "migrate" case.)

The model keeps no files, so `Mounted` does what mounting does for the trees the steps
write: a dataset's tree is its mountpoint's directory on this host, which a rename moves, a
snapshot copies to `.zfs/snapshot/NAME` and a `zfs rollback` puts back.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.contract.world import World
from tests.engine.conftest import Engine
from tests.engine.migration_sources import plain_history, write_snapshot
from tests.engine.test_plan_reads import Counting
from tests.faults import FaultyBackend
from zfsyncd.files import mounts
from zfsyncd.files.mounts import Mount
from zfsyncd.ops.migration import history
from zfsyncd.ops.migration.batch import BatchEntry, run_batch
from zfsyncd.ops.migration.migrate import TEMP_PREFIX
from zfsyncd.ops.migration.sources import read_source
from zfsyncd.ops.migration.validation import validate
from zfsyncd.store import TxState
from zfsyncd.tx.steps import fill
from zfsyncd.zfs.models import ObjectType

pytestmark = pytest.mark.skipif(
    __import__("tests.contract.world", fromlist=["backend_kind"]).backend_kind() != "memory",
    reason="the model's trees are this host's directories; tests/real/test_migration_real.py "
    "migrates on real pools",
)


class Mounted:
    """The model with trees: each filesystem's tree is the directory its mountpoint names."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _tree(self, dataset: str) -> Path:
        value = (await self.inner.get_properties(dataset, ["mountpoint"]))["mountpoint"].value
        return Path(value)

    async def rename(self, old: str, new: str, **kw: Any) -> None:
        before = await self._tree(old) if "@" not in old else None
        await self.inner.rename(old, new, **kw)
        if before is not None and before.exists():
            before.rename(await self._tree(new))

    async def _moving(self, dataset: str, change: Any) -> None:
        """Run `change`; a tree whose mountpoint it changed moves with it (a remount)."""
        before = await self._tree(dataset)
        await change
        after = await self._tree(dataset)
        if after != before and before.exists():
            after.parent.mkdir(parents=True, exist_ok=True)
            before.rename(after)

    async def set_properties(self, name: str, properties: Any) -> None:
        await self._moving(name, self.inner.set_properties(name, properties))

    async def inherit(self, name: str, prop: str, **kw: Any) -> None:
        await self._moving(name, self.inner.inherit(name, prop, **kw))

    async def snapshot(self, snapshots: Sequence[str], **kw: Any) -> None:
        await self.inner.snapshot(snapshots, **kw)
        await self._freeze(snapshots)

    async def snapshot_guids(self, snapshots: Sequence[str], **kw: Any) -> dict[str, int]:
        made: dict[str, int] = await self.inner.snapshot_guids(snapshots, **kw)
        await self._freeze(list(made))
        return made

    async def _freeze(self, snapshots: Sequence[str]) -> None:
        """What real ZFS shows under .zfs/snapshot: the tree as it was when each was taken."""
        for snap in snapshots:
            dataset, short = snap.split("@")
            tree = await self._tree(dataset)
            _rsync(tree, tree / ".zfs" / "snapshot" / short)

    async def rollback(self, snapshot: str, **kw: Any) -> None:
        await self.inner.rollback(snapshot, **kw)
        dataset, short = snapshot.split("@")
        tree = await self._tree(dataset)
        _rsync(tree / ".zfs" / "snapshot" / short, tree)

    async def destroy(self, name: str, **kw: Any) -> None:
        tree = await self._tree(name) if "@" not in name else None
        await self.inner.destroy(name, **kw)
        if tree is not None:
            shutil.rmtree(tree, ignore_errors=True)


def _rsync(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["rsync", "-aHAX", "--modify-window=-1", "--delete", "--exclude=/.zfs",
                    f"{source}/", f"{target}/"], check=True)  # fmt: skip


@pytest.fixture
async def mounted(world: World, tmp_path: Path) -> Any:
    engine = await Engine.start(world, tmp_path / "db.sqlite", FaultyBackend(Mounted(world.zfs)))
    try:
        root = tmp_path / "mnt"
        root.mkdir()
        await world.zfs.set_properties(world.src, {"mountpoint": str(root)})
        yield engine
    finally:
        await engine.close()


async def _migrate(engine: Engine, source: Path, dataset: str, limit: int = 0) -> Any:
    params = {"source": str(source), "dataset": dataset, "limit": limit}
    record = await engine.manager.submit("migrate", params)
    return await engine.manager.wait(record.id)


async def _snapshots(engine: Engine, dataset: str) -> dict[str, dict[str, str]]:
    listed = await engine.world.zfs.list(
        dataset, types=[ObjectType.SNAPSHOT], user_properties=history.PROPERTIES
    )
    return {o.short_name: dict(o.user_properties) for o in listed}


async def test_a_limited_run_then_the_rest(mounted: Engine, tmp_path: Path) -> None:
    engine, src = mounted, mounted.world.src
    source = plain_history(tmp_path / "source", 3)
    dataset = f"{src}/repo"
    done = await _migrate(engine, source, dataset, limit=2)
    assert done.state is TxState.COMPLETED, done.error
    assert [s.kind for s in done.steps] == [
        "create-dataset", "migrate-copy", "create-snapshots", "migrate-copy",
        "create-snapshots", "rename-and-set",
    ]  # fmt: skip
    snaps = await _snapshots(engine, dataset)
    assert list(snaps) == ["zfsync_migrate_000001", "zfsync_migrate_000002"]
    assert snaps["zfsync_migrate_000002"]["zfsync:source-description"] == "s2"
    names = {o.name for o in await engine.world.zfs.list(src, types=[ObjectType.FILESYSTEM])}
    assert names == {src, dataset}  # no temporary dataset left
    tree = tmp_path / "mnt" / "repo"
    sources = read_source(source)
    assert validate(tree, sources, [1, 2], full=True, snapshot_tree=_in(tree)).checks[0].ok
    assert not (tree / "comes-and-goes.txt").exists()  # deleted in snapshot 2

    rest = await _migrate(engine, source, dataset)
    assert rest.state is TxState.COMPLETED, rest.error
    assert [s.kind for s in rest.steps] == ["migrate-copy", "create-snapshots"]
    report = validate(tree, sources, [1, 2, 3], full=True, snapshot_tree=_in(tree))
    assert report.ok, report.to_json()
    assert (tree / "comes-and-goes.txt").read_text() == "version 3"

    again = await _migrate(engine, source, dataset)
    assert again.state is TxState.COMPLETED
    assert again.steps == []  # nothing left: nothing done


def _in(tree: Path) -> Any:
    return lambda n: tree / ".zfs" / "snapshot" / history.snapshot_short(n)


@pytest.mark.parametrize("mode", ["fail", "crash"])
async def test_a_continuation_broken_at_each_call_leaves_the_dataset_as_it_was(
    mounted: Engine, tmp_path: Path, mode: str
) -> None:
    """After a --limit 1 run: the continuation (copy, snapshot, copy, snapshot) broken at
    each of its changing calls; ZFS and the tree are as the first run left them."""
    engine = mounted
    source = plain_history(tmp_path / "source", 3)
    dataset = f"{engine.world.src}/repo"
    assert (await _migrate(engine, source, dataset, limit=1)).state is TxState.COMPLETED
    tree = tmp_path / "mnt" / "repo"
    before_zfs = await engine.world.state(engine.world.src)
    before_files = sorted(p.name for p in tree.iterdir())
    first = len(engine.zfs.calls)
    assert (await _migrate(engine, source, dataset, limit=3)).state is TxState.COMPLETED
    calls = len(engine.zfs.calls) - first
    assert calls == 2  # the two snapshots: the copies change no ZFS object
    for index in range(calls):
        # put it back as the first run left it, then break the continuation there
        await engine.world.zfs.rollback(f"{dataset}@zfsync_migrate_000001", destroy_newer=True)
        _rsync(tree / ".zfs" / "snapshot" / "zfsync_migrate_000001", tree)
        state = await engine.world.state(engine.world.src)
        mark = len(engine.zfs.calls)
        if mode == "fail":
            engine.zfs.fail(mark + index)
            done = await _migrate(engine, source, dataset, limit=3)
            assert done.state is TxState.FAILED
        else:
            engine.zfs.crash_after(mark + index)
            with pytest.raises(BaseException):  # noqa: B017,PT011 - the injected crash
                await _migrate(engine, source, dataset, limit=3)
            engine = await engine.restart()
            await engine.manager.recover()
        assert await engine.world.state(engine.world.src) == state
        assert sorted(p.name for p in tree.iterdir()) == before_files
        assert state.keys() == before_zfs.keys()
    await engine.close()


async def test_commands_of_each_step_are_constant(mounted: Engine, tmp_path: Path) -> None:
    """The zfs commands a run makes grow by the same count per snapshot, not with files."""
    engine = mounted
    small = plain_history(tmp_path / "small", 2)
    big = tmp_path / "big"
    for n in (1, 2, 3, 4):
        write_snapshot(big / f"s{n}", n)
        for i in range(50):
            (big / f"s{n}" / f"extra{i}").write_text(str(i))
    counts = []
    for name, source in (("a", small), ("b", big)):
        first = len(engine.zfs.calls)
        assert (
            await _migrate(engine, source, f"{engine.world.src}/{name}")
        ).state is TxState.COMPLETED
        counts.append(len(engine.zfs.calls) - first)
    # create, rename, the mountpoint inherited, and one snapshot each: 3 + n
    assert counts == [3 + 2, 3 + 4]


async def test_every_zfs_call_of_a_new_migration(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads included, with the mount table showing the new dataset (as on a real host):
    the plan's one `zfs list` (the parent, the dataset and the temporary name), the create
    (no guid read after it: the temporary name carries the transaction's id), one snapshot
    program a source snapshot, then one reading (guid and mountpoint), the rename and the
    inherit."""
    counting = Counting(Mounted(world.zfs))
    engine = await Engine.start(world, tmp_path / "db.sqlite", FaultyBackend(counting))
    try:
        root = tmp_path / "mnt"
        root.mkdir()
        await world.zfs.set_properties(world.src, {"mountpoint": str(root)})
        shown: list[str] = []
        monkeypatch.setattr(mounts, "read_mounts", lambda: [
            Mount(fill.fill_mountpoint(tx), "zfs", f"{world.src}/{TEMP_PREFIX}{tx}_repo")
            for tx in shown
        ])  # fmt: skip
        source = plain_history(tmp_path / "src", 3)
        params = {"source": str(source), "dataset": f"{world.src}/repo"}
        record = await engine.manager.submit("migrate", params)
        shown.append(record.id)  # before its steps run: they wait for the loop
        done = await engine.manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        assert counting.calls == [
            "list_many", "create", *["snapshot_guids"] * 3, "get_properties",
            "rename", "inherit",
        ]  # fmt: skip
    finally:
        await engine.close()


async def test_a_batch_of_six_with_three_workers(mounted: Engine, tmp_path: Path) -> None:
    engine = mounted
    entries = [
        BatchEntry(
            source=str(plain_history(tmp_path / f"src{i}", 2)), dataset=f"{engine.world.src}/r{i}"
        )
        for i in range(6)
    ]
    running = 0
    most = 0

    async def migrate(entry: BatchEntry) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return await _migrate(engine, Path(entry.source), entry.dataset)
        finally:
            running -= 1

    outcomes = await run_batch(entries, 3, migrate)
    assert [o.result.state for o in outcomes] == [TxState.COMPLETED] * 6
    assert most == 3
    # run again, twice at once (two terminals, as the seed did): nothing is migrated twice
    again = await asyncio.gather(run_batch(entries, 3, migrate), run_batch(entries, 3, migrate))
    for outcomes in again:
        assert all(o.result.steps == [] for o in outcomes)
    for entry in entries:
        assert list(await _snapshots(engine, entry.dataset)) == [
            "zfsync_migrate_000001", "zfsync_migrate_000002",
        ]  # fmt: skip


async def test_status_and_validation_read_what_the_dataset_records(
    mounted: Engine, tmp_path: Path
) -> None:
    from zfsyncd.ops.migration.status import (
        MigrationQuery,
        ValidateOptions,
        list_migrations,
        validate_dataset,
    )

    engine = mounted
    source = plain_history(tmp_path / "source", 3)
    dataset = f"{engine.world.src}/repo"
    assert (await _migrate(engine, source, dataset, limit=2)).state is TxState.COMPLETED
    rows = await list_migrations(engine.world.zfs, MigrationQuery())
    assert [(r.dataset, r.source, r.migrated, r.last_number, r.source_snapshots) for r in rows] == [
        (dataset, str(source), 2, 2, 3)
    ]
    assert await list_migrations(engine.world.zfs, MigrationQuery(dataset=f"{dataset}x")) == []
    checks = await validate_dataset(engine.world.zfs, dataset, ValidateOptions(full=True))
    assert [c.name for c in checks if not c.ok] == []
    (tmp_path / "mnt" / "repo" / "same.bin").write_bytes(b"\1" * 4096)
    checks = await validate_dataset(engine.world.zfs, dataset, ValidateOptions(sample=0))
    assert [c.name for c in checks if not c.ok] == ["final state"]  # its mtime changed
    other = plain_history(tmp_path / "other", 3)
    refused = await engine.manager.create("migrate", {"source": str(other), "dataset": dataset})
    with pytest.raises(Exception, match="was migrated from"):
        await engine.manager.start(refused.id)


async def test_the_mount_table_answers_where_it_shows_the_dataset(
    mounted: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy asks zfs whether the dataset is mounted only when this machine's mount table
    does not show it at its private mountpoint: with a table that does, no copy asks; with
    one that does not (the model's trees are plain directories), each copy asks once."""
    engine = mounted
    source = plain_history(tmp_path / "src", 3)
    asked: list[str] = []
    inner_get = engine.world.zfs.get_properties

    async def get_properties(name: str, props: Sequence[str], **kw: Any) -> Any:
        if "mounted" in props:
            asked.append(name)
        return await inner_get(name, props, **kw)

    monkeypatch.setattr(engine.world.zfs, "get_properties", get_properties)
    parent = engine.world.src
    shown: list[str] = []  # the transactions whose dataset the table shows

    def table() -> list[Mount]:
        """What the kernel would show: each one's private mountpoint, its dataset on top."""
        return [
            Mount(fill.fill_mountpoint(tx), "zfs", f"{parent}/{TEMP_PREFIX}{tx}_shown")
            for tx in shown
        ]

    monkeypatch.setattr(mounts, "read_mounts", table)
    params = {"source": str(source), "dataset": f"{parent}/shown"}
    record = await engine.manager.submit("migrate", params)
    shown.append(record.id)  # before its steps run: they wait for the loop
    done = await engine.manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    assert asked == []
    done = await _migrate(engine, source, f"{parent}/hidden")
    assert done.state is TxState.COMPLETED, done.error
    assert len(asked) == 3
    assert all("hidden" in name for name in asked)
    await engine.close()
