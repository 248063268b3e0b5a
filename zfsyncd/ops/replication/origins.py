"""Which snapshots have clones: what `zfs destroy` refuses ("snapshot has dependent
clones"), so what expire and clear must leave (someone cloned a replica's snapshot to look
into it, a common way to read an old version of a file).

A clone can be anywhere in its snapshot's pool, so this reads the pools' filesystems and
volumes (their `origin` column): one `zfs list -r -t filesystem,volume POOL...` for all
the pools of a host, constant in the number of snapshots and of pools.
"""

from __future__ import annotations

from collections.abc import Iterable

from zfsyncd.tx.steps.pools import DATASET_TYPES
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ZfsObject


async def cloned(zfs: ZfsBackend, pools: Iterable[str]) -> frozenset[str]:
    """The snapshots of `pools` that some dataset is a clone of."""
    wanted = sorted(set(pools))
    if not wanted:
        return frozenset()
    # a pool that is not there is left out (list_many), as it has no clones
    listed = await zfs.list_many(wanted, types=DATASET_TYPES, recursive=True)
    return of_listing(listed)


def of_listing(listed: Iterable[ZfsObject]) -> frozenset[str]:
    """The snapshots that some dataset of `listed` is a clone of: `listed` must hold every
    dataset of the pools it answers for (a listing of the whole pools)."""
    return frozenset(o.origin for o in listed if o.origin is not None)
