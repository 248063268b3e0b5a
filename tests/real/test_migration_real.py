"""Migration on real pools from a real BTRFS filesystem (the guest loads btrfs and loop:
tests/lab/zfs-lab.sh puts them in its layer), in one test (a guest boot and a pool cost more
than the checks):

- a BTRFS filesystem on a file-backed loop device, a subvolume with snapper's layout
  (`.snapshots/N/snapshot`, read-only snapshots, `info.xml`), four snapshots of a tree with
  hard links, POSIX ACLs, xattrs, numeric owners, odd names (a newline, a byte that is no
  UTF-8), a file deleted in one snapshot and recreated in a later one, and a file changed
  to the same size within the second;
- `--limit 2`, then the rest (the continuation); every ZFS snapshot compared with its
  source snapshot file by file by rsync itself (`-n -i -c`, with ACLs and xattrs) and by
  `getfattr` dumps; validation with `full`; the properties carrying number, date and
  description;
- a new migration killed (SIGKILL) after a step: recovery leaves no dataset behind;
- a file corrupted in the dataset (same size, same mtime): validation says which.

The dataset's parent has acltype=posix and xattr=sa (ZFS on Linux keeps no POSIX ACL
otherwise: rsync -A would fail, and the migration with it).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import zfsyncd.ops  # noqa: F401 - registers the migrate kind
from tests.real.realzfs import zfs_cli
from tests.real.test_crash_real import _killed_after, _recover
from zfsyncd.ops.migration import history
from zfsyncd.ops.migration.status import ValidateOptions, validate_dataset
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import local_hosts
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.zfs.cli import CliBackend

IMAGE = Path("/var/tmp/zfsyncd-real/btrfs.img")
MNT = Path("/mnt/btrfs-src")
INFO = """<?xml version="1.0"?>
<snapshot>
  <type>single</type>
  <num>{n}</num>
  <date>2025-05-{n:02d} 10:00:00</date>
  <description>snapshot {n}: {what}</description>
  <cleanup>number</cleanup>
</snapshot>
"""
ODD = os.fsdecode(b"odd \xff name\n*")


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def btrfs() -> Iterator[Path]:
    """A BTRFS filesystem on a loop device, mounted; unmounted and gone afterwards."""
    _run("modprobe", "btrfs")
    _run("modprobe", "loop")
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    _run("truncate", "-s", "256M", str(IMAGE))
    _run("mkfs.btrfs", "-q", "-f", str(IMAGE))
    MNT.mkdir(parents=True, exist_ok=True)
    _run("mount", "-o", "loop", str(IMAGE), str(MNT))
    yield MNT
    subprocess.run(["umount", str(MNT)], check=False)
    IMAGE.unlink(missing_ok=True)


def _change(tree: Path, n: int) -> str:
    """Snapshot n's changes to the live subvolume; what they were, in words."""
    if n == 1:
        (tree / "dir" / "deep").mkdir(parents=True)
        (tree / "dir" / "deep" / "file.txt").write_text("one\n")
        (tree / "big.bin").write_bytes(os.urandom(3 << 20))
        os.link(tree / "big.bin", tree / "big-link.bin")
        (tree / ODD).write_text("odd")
        (tree / "comes-and-goes.txt").write_text("first life")
        (tree / "acl.txt").write_text("acl")
        _run("setfacl", "-m", "u:4242:rw,g:4343:r", str(tree / "acl.txt"))
        _run("setfacl", "-d", "-m", "u:4242:rwx", str(tree / "dir"))
        _run("setfattr", "-n", "user.note", "-v", "hello", str(tree / "dir" / "deep" / "file.txt"))
        os.symlink("dir/deep/file.txt", tree / "link")
        (tree / "owned").write_text("owned")
        os.chown(tree / "owned", 12345, 54321)
        (tree / "same-size.txt").write_text("aaaa")
        return "a tree"
    if n == 2:
        (tree / "comes-and-goes.txt").unlink()
        (tree / "same-size.txt").write_text("bbbb")  # same size, within the second
        (tree / "dir" / "deep" / "file.txt").write_text("two\n")
        return "a file deleted"
    if n == 3:
        (tree / "comes-and-goes.txt").write_text("second life, longer")
        _run(
            "setfattr", "-n", "user.note", "-v", "changed", str(tree / "dir" / "deep" / "file.txt")
        )
        (tree / "new dir").mkdir()
        (tree / "new dir" / "x").write_bytes(os.urandom(1 << 20))
        return "it came back"
    (tree / "big.bin").write_bytes(os.urandom(3 << 20))  # the hard link breaks
    _run("setfacl", "-m", "u:4242:r", str(tree / "acl.txt"))
    return "the last"


def _snapper_history(fs: Path, count: int) -> Path:
    """snapper's layout, made as snapper makes it: read-only snapshots under .snapshots."""
    sub = fs / "repo"
    _run("btrfs", "subvolume", "create", str(sub))
    _run("btrfs", "subvolume", "create", str(sub / ".snapshots"))
    for n in range(1, count + 1):
        what = _change(sub, n)
        (sub / ".snapshots" / str(n)).mkdir()
        _run(
            "btrfs",
            "subvolume",
            "snapshot",
            "-r",
            str(sub),
            str(sub / ".snapshots" / str(n) / "snapshot"),
        )
        (sub / ".snapshots" / str(n) / "info.xml").write_text(INFO.format(n=n, what=what))
    return sub


def _same_tree(source: Path, snapshot: Path) -> list[str]:
    """What rsync itself finds different (contents by checksum, ACLs, xattrs, owners, times,
    hard links), and whether getfattr dumps of both agree."""
    out = _run("rsync", "-naHAXc", "--numeric-ids", "--delete", "--modify-window=-1", "-i",
               "--exclude=/.zfsync", "--exclude=/.snapshots", "--exclude=/.zfs",
               f"{source}/", f"{snapshot}/")  # fmt: skip
    found = [line for line in out.splitlines() if line.strip()]
    dumps: list[list[bytes]] = []
    for tree in (source, snapshot):
        dump = subprocess.run(["getfattr", "-R", "-d", "-m", "-", "--absolute-names", "."],
                              cwd=tree, capture_output=True, check=True).stdout  # fmt: skip
        # one block per file (in the order the directory was read): compared as a set
        blocks = [b for b in dump.split(b"\n\n") if b.strip()]
        dumps.append(sorted(b for b in blocks if b".zfsync" not in b and b".snapshots" not in b))
    if dumps[0] != dumps[1]:
        found.append("getfattr dumps differ")
    return found


async def _migrate(
    manager: TransactionManager, source: Path, dataset: str, limit: int = 0
) -> object:
    params = {"source": str(source), "dataset": dataset, "limit": limit}
    record = await manager.submit("migrate", params)
    done = await manager.wait(record.id)
    assert done.state is TxState.COMPLETED, done.error
    return done


async def test_btrfs_history_migrated_validated_killed_and_corrupted(
    btrfs: Path, root: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    zfs_cli("zfs", "set", "acltype=posix", "xattr=sa", root)
    sub = _snapper_history(btrfs, 4)
    db = await Database.open(tmp_path / "zfsyncd.db")
    zfs = CliBackend()
    manager = TransactionManager(db, local_hosts(zfs), kinds=dict(TX_KINDS))
    dataset = f"{root}/repo"
    await _migrate(manager, sub, dataset, limit=2)
    await _migrate(manager, sub, dataset)  # the continuation: 3 and 4
    listed = zfs_cli("zfs", "list", "-H", "-o", "name", "-r", root).split()
    assert listed == [root, dataset]  # no temporary dataset left

    mountpoint = Path(zfs_cli("zfs", "get", "-H", "-o", "value", "mountpoint", dataset).strip())
    for n in range(1, 5):
        short = history.snapshot_short(n)
        props = zfs_cli("zfs", "get", "-H", "-o", "value", ",".join(history.PROPERTIES),
                        f"{dataset}@{short}").splitlines()  # fmt: skip
        assert props[0] == str(n)
        assert props[1] == f"2025-05-{n:02d} 10:00:00"
        assert props[2].startswith(f"snapshot {n}: ")
        source = sub / ".snapshots" / str(n) / "snapshot"
        assert _same_tree(source, mountpoint / ".zfs" / "snapshot" / short) == [], n
    assert _same_tree(sub / ".snapshots" / "4" / "snapshot", mountpoint) == []
    assert not (
        mountpoint / ".zfs" / "snapshot" / history.snapshot_short(2) / "comes-and-goes.txt"
    ).exists()

    checks = await validate_dataset(zfs, dataset, ValidateOptions(full=True))
    assert [c.name for c in checks if not c.ok] == [], [c for c in checks if not c.ok]

    # killed after the second copy of a new migration: recovery leaves no dataset at all
    await db.close()
    killed = f"{root}/killed"
    _killed_after(tmp_path / "zfsyncd.db", "migrate",
                  {"source": str(sub), "dataset": killed, "limit": 0}, 3)  # fmt: skip
    recovering = await _recover(tmp_path / "zfsyncd.db")
    await recovering.recover()
    assert zfs_cli("zfs", "list", "-H", "-o", "name", "-r", root).split() == [root, dataset]

    # a corrupted file: same size, its times put back; only its contents tell
    target = mountpoint / "dir" / "deep" / "file.txt"
    st = target.stat()
    target.write_text("TWO\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    checks = await validate_dataset(
        recovering.hosts["local"].zfs, dataset, ValidateOptions(sample=1000)
    )
    failed = {c.name: c.problems for c in checks if not c.ok}
    assert set(failed) == {"contents"}, failed
    assert "contents differ: 'dir/deep/file.txt'" in failed["contents"]
    await recovering.db.close()
    print(f"migration lab test: {time.monotonic() - started:.1f} s in the guest")
