"""This host's snapshots as the witness's batch report: one `zfs list -t snapshot` of the
reported pools (or of every pool), however many snapshots there are.

A snapshot in the trash (`zfsync_trash_...`: a transaction's destroy that is not final yet)
is left out, and so is anything below a trashed dataset: it is on its way out, and the
witness would otherwise count it as a snapshot of a dataset nobody holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zfsyncd.tx.steps.trash import TRASH_PREFIX
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectType, ZfsObject

_SNAPSHOTS = (ObjectType.SNAPSHOT,)


async def read_inventory(zfs: ZfsBackend, pools: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The report's snapshots: one listing (of `pools`, or with none of every pool)."""
    if pools:
        found = await zfs.list_many(list(pools), types=_SNAPSHOTS, recursive=True)
    else:
        found = await zfs.list(None, types=_SNAPSHOTS, recursive=True)
    return [as_report(o) for o in found if TRASH_PREFIX not in o.name]


def as_report(obj: ZfsObject) -> dict[str, Any]:
    """One snapshot as the witness takes it (`SnapshotIn`): created and size for the
    strategies, guid so that a received copy is the same snapshot whatever its pool."""
    return {
        "name": obj.name,
        "created": obj.creation,
        "guid": str(obj.guid),
        "txg": obj.createtxg,
        "size": obj.referenced,
    }
