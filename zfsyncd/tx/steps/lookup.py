"""Readings of ZFS that several step kinds share."""

from __future__ import annotations

from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError


async def guid_of(zfs: ZfsBackend, name: str) -> int | None:
    """The guid of `name`, or None when it does not exist."""
    try:
        return (await zfs.get(name)).guid
    except NotFoundError:
        return None


async def is_same(zfs: ZfsBackend, name: str, guid: int | None) -> bool:
    """Does `name` exist and (when a guid was recorded) is it still the same object?

    A guid guard keeps an undo from destroying something that merely has the name of what
    the step made (someone destroyed ours and made another in its place)."""
    found = await guid_of(zfs, name)
    return found is not None and (guid is None or found == guid)
