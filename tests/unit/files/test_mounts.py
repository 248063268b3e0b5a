"""The mount table: its lines parsed (escapes, optional fields), the one question the
fill and migration copy steps ask of it, and their check before they write (the table,
else `zfs get`), with tables of examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from zfsyncd.files import mounts
from zfsyncd.files.mounts import (
    MOUNTED,
    MOUNTPOINT,
    Mount,
    NotMountedError,
    mounted_tree,
    parse_mountinfo,
    read_mounts,
    zfs_mounted_at,
)
from zfsyncd.zfs.models import PropertySource, PropertyValue

FILL = "/run/zfsync/fill/tx1"
TABLE = "\n".join(
    [
        "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
        "25 22 0:23 / /run rw,nosuid shared:5 - tmpfs tmpfs rw,mode=755",
        f"90 25 0:51 / {FILL} rw,relatime shared:40 - zfs tank/zfsync_migrate_tx1_m rw,xattr",
        # no optional field at all, and a space in both the point and the dataset's name
        "91 22 0:52 / /mnt/my\\040data rw - zfs tank/my\\040data rw",
        "garbage that is not a mountinfo line",
    ]
)


def test_lines_are_parsed_with_their_escapes() -> None:
    assert parse_mountinfo(TABLE) == [
        Mount("/", "ext4", "/dev/vda1"),
        Mount("/run", "tmpfs", "tmpfs"),
        Mount(FILL, "zfs", "tank/zfsync_migrate_tx1_m"),
        Mount("/mnt/my data", "zfs", "tank/my data"),
    ]


@pytest.mark.parametrize(
    ("extra", "dataset", "point", "expected"),
    [
        ("", "tank/zfsync_migrate_tx1_m", FILL, True),
        ("", "tank/zfsync_migrate_tx1_m", FILL + "/", True),
        ("", "tank/my data", "/mnt/my data", True),
        # another dataset there, or ours somewhere else
        ("", "tank/other", FILL, False),
        ("", "tank/zfsync_migrate_tx1_m", "/run/zfsync/fill/tx2", False),
        # nothing mounted there: the directory underneath belongs to /run's tmpfs
        ("", "tank/zfsync_migrate_tx1_m", "/run/zfsync/fill", False),
        # something mounted on top of ours hides it
        (f"99 90 0:60 / {FILL} rw - tmpfs tmpfs rw", "tank/zfsync_migrate_tx1_m", FILL, False),
        # ours on top of something else is what a writer sees
        (
            f"99 90 0:60 / {FILL} rw - zfs tank/zfsync_migrate_tx1_m rw",
            "tank/zfsync_migrate_tx1_m",
            FILL,
            True,
        ),
        # a file system of another type naming the same source
        (
            f"99 90 0:60 / {FILL} rw - fuse.zfs tank/zfsync_migrate_tx1_m rw",
            "tank/zfsync_migrate_tx1_m",
            FILL,
            False,
        ),
    ],
)
def test_zfs_mounted_at(extra: str, dataset: str, point: str, expected: bool) -> None:
    mounts = parse_mountinfo(TABLE + "\n" + extra)
    assert zfs_mounted_at(mounts, dataset, point) is expected


def test_this_machines_table_is_read_and_an_unreadable_one_is_empty(tmp_path: Path) -> None:
    assert any(m.point == "/" for m in read_mounts())
    assert read_mounts(tmp_path / "missing") == []


class _Zfs:
    """What `zfs get mounted,mountpoint` answers of every dataset; the names it was asked."""

    def __init__(self, mounted: str, mountpoint: str) -> None:
        self.answer = {MOUNTED: mounted, MOUNTPOINT: mountpoint}
        self.asked: list[str] = []

    async def get_properties(self, name: str, props: Sequence[str]) -> dict[str, PropertyValue]:
        self.asked.append(name)
        return {p: PropertyValue(value=self.answer[p], source=PropertySource.NONE) for p in props}


class _Refused(RuntimeError):
    kind = "not-mounted"


DS = "tank/zfsync_migrate_tx1_m"


@pytest.mark.parametrize(
    ("local", "mountpoint", "zfs_says", "expected", "asked"),
    [
        # the table shows it on top of its private mountpoint: no zfs command
        (True, FILL, ("no", "none"), FILL, 0),
        # another host's table is not this one's: zfs is asked
        (False, FILL, ("yes", FILL), FILL, 1),
        (False, FILL, ("no", FILL), None, 1),
        # where the table does not show it (another point, or no point given), zfs answers
        (True, "/elsewhere", ("yes", "/elsewhere"), "/elsewhere", 1),
        (True, None, ("yes", "/mnt/x"), "/mnt/x", 1),
        # not mounted, mounted somewhere else, or mounting nowhere: refused
        (True, "/elsewhere", ("no", "/elsewhere"), None, 1),
        (True, "/elsewhere", ("yes", "/mnt/x"), None, 1),
        (True, None, ("yes", "legacy"), None, 1),
        (True, None, ("no", "none"), None, 1),
    ],
)
async def test_mounted_tree(
    monkeypatch: pytest.MonkeyPatch,
    local: bool,
    mountpoint: str | None,
    zfs_says: tuple[str, str],
    expected: str | None,
    asked: int,
) -> None:
    monkeypatch.setattr(mounts, "read_mounts", lambda: parse_mountinfo(TABLE))
    zfs = _Zfs(*zfs_says)
    tree = mounted_tree(zfs, DS, mountpoint, local=local)  # type: ignore[arg-type]
    if expected is None:
        with pytest.raises(NotMountedError, match=f"{DS} is not mounted at"):
            await tree
    else:
        assert await tree == Path(expected)
    assert zfs.asked == [DS] * asked


async def test_a_refusal_raises_the_callers_error() -> None:
    zfs = _Zfs("no", "/mnt/x")
    with pytest.raises(_Refused, match="mounted=no, mountpoint=/mnt/x"):
        await mounted_tree(zfs, DS, None, local=False, error=_Refused)  # type: ignore[arg-type]
