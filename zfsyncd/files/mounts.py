"""What the kernel says is mounted where: this machine's `/proc/self/mountinfo`.

`zfs get mounted` is itself an answer from this table (libzfs reads the mount table), so a
step that only needs to know "is DATASET mounted exactly at PATH" on this machine can read
the table directly instead of starting a zfs command (a fraction of a second each; a
migration asked once per source snapshot). A line names, among others, the mount point
(field 5) and, after the `-` separator, the file system type and the mount source, which
for ZFS is the dataset's name. Spaces, tabs, newlines and backslashes in those fields are
written as octal escapes (`\\040`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    #: where it is mounted
    point: str
    #: the file system type ("zfs", "tmpfs", ...)
    fstype: str
    #: what is mounted: for ZFS, the dataset's name
    source: str


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a mountinfo text, in its order (a later mount on the same point is
    the one on top). A line that does not parse is left out."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
            point, fstype, source = fields[4], fields[dash + 1], fields[dash + 2]
        except (ValueError, IndexError):
            continue
        mounts.append(Mount(_unescape(point), _unescape(fstype), _unescape(source)))
    return mounts


def zfs_mounted_at(mounts: list[Mount], dataset: str, point: str) -> bool:
    """Whether what is visible at `point` is the ZFS dataset `dataset` (the last mount on
    that point is the one on top)."""
    top = [m for m in mounts if m.point == point.rstrip("/") or m.point == point]
    return bool(top) and top[-1].fstype == "zfs" and top[-1].source == dataset


def read_mounts(path: Path | None = None) -> list[Mount]:
    """This machine's mounts (none when the table cannot be read)."""
    try:
        return parse_mountinfo((path or MOUNTINFO).read_text(errors="surrogateescape"))
    except OSError:
        return []


__all__ = ["MOUNTINFO", "Mount", "parse_mountinfo", "read_mounts", "zfs_mounted_at"]
