"""What the kernel says is mounted where: this machine's `/proc/self/mountinfo`.

`zfs get mounted` is itself an answer from this table (libzfs reads the mount table), so a
step that only needs to know "is DATASET mounted exactly at PATH" on this machine can read
the table directly instead of starting a zfs command (a fraction of a second each; a
migration asked once per source snapshot). A line names, among others, the mount point
(field 5) and, after the `-` separator, the file system type and the mount source, which
for ZFS is the dataset's name. Spaces, tabs, newlines and backslashes in those fields are
written as octal escapes (`\\040`).

`mounted_tree` is the check a step makes before it writes into a dataset's mount: the
table when it answers, else the dataset's own `zfs get mounted,mountpoint`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zfsyncd.zfs.backend import ZfsBackend

MOUNTINFO = Path("/proc/self/mountinfo")
#: the properties `zfs get` reads when the table does not answer
MOUNTED = "mounted"
MOUNTPOINT = "mountpoint"
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


class NotMountedError(ValueError):
    """The dataset is not mounted where its tree is written: nothing is written (a failed
    mount leaves the empty directory underneath, on whatever file system holds it)."""


async def mounted_tree(
    zfs: ZfsBackend,
    dataset: str,
    mountpoint: str | None,
    *,
    local: bool,
    error: Callable[[str], Exception] = NotMountedError,
) -> Path:
    """Where `dataset`'s tree is, after checking it is mounted there: at `mountpoint`, or
    (None) wherever its property says. A refusal raises `error(message)` (each caller keeps
    the error kind it stores).

    On this machine (`local`), when the kernel's mount table shows the dataset on top of
    `mountpoint`, that is the answer `zfs get mounted` would give (it reads the same
    table), without a zfs command. Anything else (another host, a dataset mounted where its
    property says, not mounted at all, the model in tests) is asked of zfs with one
    `zfs get`, whose answer names what is wrong."""
    if local and mountpoint is not None and zfs_mounted_at(read_mounts(), dataset, mountpoint):
        return Path(mountpoint)
    props = await zfs.get_properties(dataset, [MOUNTED, MOUNTPOINT])
    mounted, at = props[MOUNTED].value, props[MOUNTPOINT].value or ""
    if mounted != "yes" or not at.startswith("/") or mountpoint not in (None, at):
        raise error(
            f"{dataset} is not mounted at {mountpoint or 'its mountpoint'} "
            f"(mounted={mounted}, mountpoint={at}): nothing is written into it"
        )
    return Path(at)


__all__ = [
    "MOUNTED",
    "MOUNTINFO",
    "MOUNTPOINT",
    "Mount",
    "NotMountedError",
    "mounted_tree",
    "parse_mountinfo",
    "read_mounts",
    "zfs_mounted_at",
]
