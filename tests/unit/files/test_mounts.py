"""The mount table: its lines parsed (escapes, optional fields), and the one question the
migration's copy step asks of it, with a table of examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from zfsyncd.files.mounts import Mount, parse_mountinfo, read_mounts, zfs_mounted_at

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
