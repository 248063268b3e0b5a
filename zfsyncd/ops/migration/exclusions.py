"""The one list of what is not content, for rsync, the manifest and validation alike. The
seed's validation failed while each had its own list; here all three ask this module.

Each entry is a name at the root of a tree (rsync's anchored `/NAME` pattern; a trailing
`*` matches any rest of the name): what a filesystem or a tool keeps there for itself.
Below the root nothing is excluded: a `.zfs` deep in a user's tree is the user's.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

#: the dataset's metadata directory: the manifests and what the migration recorded
METADATA_DIR = ".zfsync"

EXCLUDED: tuple[str, ...] = (
    METADATA_DIR,
    ".zfs",  # ZFS's snapshot directory (hidden, but rsync -a would see it when visible)
    ".snapshots",  # snapper's directory of a subvolume (empty inside a snapshot)
    ".snap",  # the seed's source held its snapshot log there
    "lost+found",
    ".Trash-*",
)


def rsync_excludes() -> tuple[str, ...]:
    """The list as rsync patterns, anchored at the transfer's root."""
    return tuple(f"/{name}" for name in EXCLUDED)


def excluded(relative: str) -> bool:
    """Is the path (relative to a tree's root, '/'-separated) excluded, or below one that is?"""
    top = relative.strip("/").split("/", 1)[0]
    return any(fnmatchcase(top, pattern) for pattern in EXCLUDED)
