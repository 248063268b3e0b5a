"""dataset-init, dataset-update and rollback-dataset on a real pool (issue 12, seed 000), as
one story on one dataset (each guest boot and pool setup costs; every check says what it
checks):
- init from a directory with hard links and xattrs: the tree arrives whole, at the
  dataset's own mountpoint, through a private mount that is gone afterwards;
- update with an exclude while a reader holds a file of the old mount open: the reader
  keeps the old contents, a new open sees the new; the excluded file stays; earlier
  snapshots keep their guids; the old dataset, busy, waits in the cleanup queue and goes
  once the reader closed;
- rollback to the update's baseline: the old contents again;
- an update that fails in the middle (after rsync filled the clone, at the promote):
  names, guids, properties, mounts and files exactly as before.
Every check reads ZFS, the mount table and the files directly, not through the code under
test.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import zfsyncd.ops  # noqa: F401 - registers the kinds
from tests.faults import FaultyBackend
from tests.real.realzfs import zfs_cli
from tests.real.test_rollback_real import _listing, _local
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.retry import RetryPolicy
from zfsyncd.tx.steps.fill import FILL_ROOT
from zfsyncd.zfs.cli import CliBackend

QUICK = RetryPolicy(attempts=2, first_delay=0.1)
XATTR = "user.zfsync-test"


def _tree(root: Path) -> dict[str, tuple[str, bytes | None]]:
    """path -> (sha256 of the file, its test xattr); and hard links named by a shared inode."""
    found: dict[str, tuple[str, bytes | None]] = {}
    for here, _dirs, files in os.walk(root):
        for name in files:
            path = Path(here) / name
            try:
                xattr: bytes | None = os.getxattr(path, XATTR)
            except OSError:
                xattr = None
            found[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                xattr,
            )
    return found


def _source(base: Path, name: str, files: dict[str, bytes]) -> Path:
    root = base / name
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _mounts(dataset: str) -> list[tuple[str, str]]:
    """The mounts of `dataset`, of its temporary names (beside it) and under the fill root."""
    parent = dataset.rsplit("/", 1)[0]
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, where, fstype = line.split()[:3]
        ours = source == dataset or source.startswith(f"{parent}/zfsync_")
        if fstype == "zfs" and (ours or where.startswith(FILL_ROOT)):
            found.append((source, where))
    return sorted(found)


def _where(fs: str) -> Path:
    return Path(zfs_cli("zfs", "get", "-H", "-o", "value", "mountpoint", fs).strip())


async def _run(manager: TransactionManager, kind: str, params: dict[str, object]) -> str:
    record = await manager.submit(kind, params)
    done = await manager.wait(record.id)
    assert done.state is TxState.COMPLETED, (kind, done.error)
    return record.id


async def test_init_update_with_a_reader_rollback_and_a_failed_update(
    root: str, tmp_path: Path
) -> None:
    zfs = FaultyBackend(CliBackend())
    db = await Database.open(tmp_path / "zfsyncd.db")
    manager = TransactionManager(
        db, local_hosts(zfs), kinds=TX_KINDS, do_retry=QUICK, undo_retry=QUICK
    )
    try:
        await _story(manager, zfs, root)
    finally:
        await manager.shutdown()
        await db.close()


async def _story(manager: TransactionManager, zfs: FaultyBackend, root: str) -> None:
    data = f"{root}/data"
    # the sources on ZFS too: it keeps user xattrs wherever the guest's /tmp may not
    sources = f"{root}/sources"
    zfs_cli("zfs", "create", sources)
    tmp = Path(f"/mnt/{sources}")
    # --- init: hard links and xattrs arrive; the dataset mounts by its name ---------------
    first = _source(tmp, "v1", {"a.txt": b"old a" * 1000, "sub/b.txt": b"b", "gone.txt": b"g"})
    os.link(first / "a.txt", first / "sub" / "a-link.txt")
    os.setxattr(first / "sub" / "b.txt", XATTR, b"kept")
    init = await _run(manager, "dataset-init", {"dataset": data, "source": str(first)})
    where = _where(data)
    assert str(where) == f"/mnt/{data}"  # inherited: the pool mounts at /mnt/zreal
    assert _tree(where) == _tree(first)
    assert os.stat(where / "a.txt").st_ino == os.stat(where / "sub" / "a-link.txt").st_ino
    assert set(_listing(root)) == {root, sources, data, f"{data}@zfsync_{init}"}
    assert _mounts(data) == [(data, str(where))]  # no fill mount left
    assert _local(data) == {}

    # --- update with an exclude, a reader holding the old a.txt open ----------------------
    (where / "local.conf").write_bytes(b"this machine's own")
    before_update = _tree(where)
    init_guid = _listing(root)[f"{data}@zfsync_{init}"][1]
    second = _source(tmp, "v2", {"a.txt": b"new a", "sub/c.txt": b"c"})
    with open(where / "a.txt", "rb") as reader:
        update = await _run(
            manager,
            "dataset-update",
            {"dataset": data, "source": str(second), "excludes": ["local.conf"]},
        )
        # the reader still reads the old file, whole; a new open finds the new one
        assert reader.read() == b"old a" * 1000
        assert (where / "a.txt").read_bytes() == b"new a"
        assert sorted(_tree(where)) == ["a.txt", "local.conf", "sub/c.txt"]
        assert (where / "local.conf").read_bytes() == b"this machine's own"  # excluded: kept
        listing = _listing(root)
        assert listing[f"{data}@zfsync_{init}"][1] == init_guid
        assert f"{data}@zfsync_{update}" in listing
        # the old dataset is busy while the reader holds it: its destroy waits in the queue
        waiting = await manager.cleanups.pending()
        trash = [n for n in listing if "zfsync_trash" in n]
        assert len(waiting) == 1, (waiting, trash)
        assert len(trash) == 1
    assert await manager.run_cleanups(now=1e12) == 1
    assert await manager.cleanups.pending() == []
    assert not [n for n in _listing(root) if "zfsync_trash" in n or "zfsync_rollback" in n]
    assert _mounts(data) == [(data, str(where))]

    # --- rollback to the update's baseline: the contents before it ------------------------
    await _run(manager, "rollback-dataset", {"snapshot": f"{data}@zfsync_{update}"})
    assert _tree(where) == before_update
    assert _listing(root)[f"{data}@zfsync_{init}"][1] == init_guid

    # --- an update failing at the promote, after rsync filled the clone ------------------
    zfs_cli("zfs", "set", "compression=off", "zfsync:role=data", data)
    before = (_listing(root), _local(data), _mounts(data), _tree(where))
    offset = len(zfs.calls)
    zfs.fail(offset + 2)  # snapshot, clone, *promote*
    record = await manager.submit("dataset-update", {"dataset": data, "source": str(second)})
    failed = await manager.wait(record.id)
    zfs.heal()
    assert failed.state is TxState.FAILED
    assert zfs.calls[offset + 2].startswith("promote"), zfs.calls[offset:]
    assert (_listing(root), _local(data), _mounts(data), _tree(where)) == before
