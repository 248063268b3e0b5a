"""The rollback step on real pools, mounted (the pool `zreal` mounts at /mnt/zreal):
- do, then undo: `zfs list -t all`, local properties, holds, mounts and files as before;
- do + finalize: what a plain `zfs rollback -r` leaves on a twin dataset, except the
  dataset's own guid (snapshot guids kept), mounted where it was;
- SIGKILL after each zfs command of the transaction: recovery leaves it as before (or, after
  the last, completes it).
Every check reads ZFS and the mount table directly (realzfs.zfs_cli), not through the code
under test.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the rollback-dataset kind
from tests.real.realzfs import write_file, zfs_cli
from tests.real.test_crash_real import _killed_after, _recover
from zfsyncd.store import TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.steps import StepContext
from zfsyncd.tx.steps.zfs_rollback import RollbackArgs, RollbackDataset
from zfsyncd.zfs.cli import CliBackend

TAG = "zfsync-test"
COLUMNS = "name,type,guid,createtxg,origin,userrefs"


@dataclass(frozen=True)
class Picture:
    """What must not change: every object under the root, local properties, holds, mounts,
    and the files the dataset shows."""

    listing: dict[str, tuple[str, ...]]
    local: dict[str, str]
    holds: tuple[str, ...]
    mounts: tuple[tuple[str, str], ...]  # (dataset, where) for every zfs mount under root
    files: tuple[str, ...]


def _listing(root: str) -> dict[str, tuple[str, ...]]:
    rows = zfs_cli("zfs", "list", "-t", "all", "-Hp", "-r", "-o", COLUMNS, root).splitlines()
    return {r.split("\t")[0]: tuple(r.split("\t")[1:]) for r in rows if r}


def _local(name: str) -> dict[str, str]:
    out = zfs_cli("zfs", "get", "-H", "-p", "-s", "local", "-o", "property,value", "all", name)
    return dict(line.split("\t", 1) for line in out.splitlines() if line)


def _mounts(root: str) -> tuple[tuple[str, str], ...]:
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, where, fstype = line.split()[:3]
        if fstype == "zfs" and (source == root or source.startswith(f"{root}/")):
            found.append((source, where))
    return tuple(sorted(found))


def _where(fs: str) -> str:
    return zfs_cli("zfs", "get", "-H", "-o", "value", "mountpoint", fs).strip()


def _files(fs: str) -> tuple[str, ...]:
    return tuple(sorted(os.listdir(_where(fs))))


def picture(root: str, fs: str) -> Picture:
    listing = _listing(root)
    snaps = [n for n, row in listing.items() if row[0] == "snapshot" and row[-1] != "0"]
    holds = tuple(sorted(zfs_cli("zfs", "holds", "-H", *snaps).splitlines())) if snaps else ()
    return Picture(listing, _local(fs), holds, _mounts(root), _files(fs))


def build(fs: str, mountpoint: str | None) -> None:
    """fs with files a..d: snapshot @s1 (held, bookmarked) after a, @target after b, @n1
    (bookmarked) and @n2 after c; d written last."""
    props = ["-o", "zfsync:role=data", "-o", "compression=off"]
    if mountpoint is not None:
        props += ["-o", f"mountpoint={mountpoint}"]
    zfs_cli("zfs", "create", *props, fs)
    write_file(fs, "a", 1)
    zfs_cli("zfs", "snapshot", f"{fs}@s1")
    zfs_cli("zfs", "hold", TAG, f"{fs}@s1")
    zfs_cli("zfs", "bookmark", f"{fs}@s1", f"{fs}#b1")
    write_file(fs, "b", 1)
    zfs_cli("zfs", "snapshot", f"{fs}@target")
    write_file(fs, "c", 1)
    zfs_cli("zfs", "snapshot", f"{fs}@n1")
    zfs_cli("zfs", "bookmark", f"{fs}@n1", f"{fs}#bn")
    zfs_cli("zfs", "snapshot", f"{fs}@n2")
    write_file(fs, "d", 1)


def release(fs: str) -> None:
    """So that the root fixture can destroy everything."""
    zfs_cli("zfs", "release", TAG, f"{fs}@s1")


def _mountpoint(kind: str, root: str) -> str | None:
    return None if kind == "inherited" else f"/mnt/zfsync-rb-{root.replace('/', '-')}"


def _context() -> StepContext:
    return StepContext(tx_id=f"t{uuid.uuid4().hex[:12]}", hosts=local_hosts(CliBackend()))


@pytest.mark.parametrize("kind", ["inherited", "local"])
async def test_do_then_undo_leaves_everything_as_it_was(root: str, kind: str) -> None:
    fs = f"{root}/fs"
    build(fs, _mountpoint(kind, root))
    before = picture(root, fs)
    assert (fs, _where(fs)) in before.mounts
    step, ctx = RollbackDataset(RollbackArgs(snapshot=f"{fs}@target")), _context()
    undo_data = await step.capture(ctx)
    undo_data |= await step.do(ctx, undo_data)
    assert await step.check(ctx)
    # swapped: the new fs is mounted where the old one was and shows the target's files;
    # the old one, in the trash, is mounted nowhere
    middle = picture(root, fs)
    assert middle.files == ("a", "b")
    assert middle.mounts == before.mounts
    assert middle.local == before.local
    await step.undo(ctx, undo_data)
    assert picture(root, fs) == before
    release(fs)


@pytest.mark.parametrize("kind", ["inherited", "local"])
async def test_do_and_finalize_equal_a_plain_zfs_rollback(root: str, kind: str) -> None:
    plain, swapped = f"{root}/plain", f"{root}/swapped"
    build(plain, None)
    build(swapped, _mountpoint(kind, root))
    before = picture(root, swapped)
    zfs_cli("zfs", "rollback", "-r", f"{plain}@target")
    step, ctx = RollbackDataset(RollbackArgs(snapshot=f"{swapped}@target")), _context()
    undo_data = await step.capture(ctx)
    undo_data |= await step.do(ctx, undo_data)
    await step.finalize(ctx, undo_data)

    after_plain, after = picture(root, plain), picture(root, swapped)

    # the same objects, types, origins and holds as the plain rollback left
    def shape(p: Picture, prefix: str) -> dict[str, tuple[str, ...]]:
        return {
            n[len(prefix) :]: (row[0], row[3].replace(prefix, ""), row[4])
            for n, row in p.listing.items()
            if n.startswith(prefix)
        }

    assert shape(after, swapped) == shape(after_plain, plain)
    assert after.files == after_plain.files == ("a", "b")
    assert [h.split("\t")[1] for h in after.holds] == [h.split("\t")[1] for h in after_plain.holds]
    # the same local properties as before, the mountpoint included; mounted where it was
    assert after.local == before.local
    assert after.mounts == before.mounts

    # guids: every snapshot and bookmark kept its own; the dataset alone is new
    def own(p: Picture) -> dict[str, str]:
        return {
            n: row[1]
            for n, row in p.listing.items()
            if n == swapped or n.startswith((f"{swapped}@", f"{swapped}#"))
        }

    now, kept = own(after), own(before)
    assert set(now) == {swapped, f"{swapped}@s1", f"{swapped}@target", f"{swapped}#b1"}
    kept = {n: g for n, g in kept.items() if n in now}
    assert now.pop(swapped) != kept.pop(swapped)
    assert now == kept
    release(plain)
    release(swapped)


@pytest.mark.parametrize("call", range(7))  # clone promote set rename rename inherit | destroy
async def test_rollback_transaction_killed_after_each_zfs_command(
    root: str, tmp_path: Path, call: int
) -> None:
    fs = f"{root}/fs"
    build(fs, None)
    before = picture(root, fs)
    db = tmp_path / "zfsyncd.db"
    tx_id = _killed_after(db, "rollback-dataset", {"snapshot": f"{fs}@target"}, f"call:{call}")
    manager = await _recover(db)
    try:
        [done] = await manager.recover()
        assert done.id == tx_id
        if call == 6:  # the step had finished: recovery finalizes (the destroy was done)
            assert done.state is TxState.COMPLETED
            after = picture(root, fs)
            assert not [n for n in after.listing if "zfsync_" in n]
            assert after.files == ("a", "b")
            assert after.mounts == before.mounts
        else:
            assert done.state is TxState.FAILED, done.error
            assert done.error_kind == "interrupted"
            assert picture(root, fs) == before
    finally:
        await manager.db.close()
    release(fs)
