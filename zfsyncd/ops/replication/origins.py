"""Which snapshots have clones: what `zfs destroy` refuses ("snapshot has dependent
clones"), so what expire and clear must leave (someone cloned a replica's snapshot to look
into it, a common way to read an old version of a file).

A clone can be anywhere in its snapshot's pool, so this reads the pools' filesystems and
volumes (one `zfs list -r -t filesystem,volume` per pool, their `origin` column): constant
in the number of snapshots, one command per pool touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from zfsyncd.tx.steps.pools import DATASET_TYPES
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError


async def cloned(zfs: ZfsBackend, pools: Iterable[str]) -> frozenset[str]:
    """The snapshots of `pools` that some dataset is a clone of."""
    found: set[str] = set()
    for pool in sorted(set(pools)):
        try:
            listed = await zfs.list(pool, types=DATASET_TYPES)
        except NotFoundError:
            continue
        found.update(o.origin for o in listed if o.origin is not None)
    return frozenset(found)
