"""One reading of whole pools, for plans and checks that decide from lists.

A plan reads what its decision needs first, then decides with a pure function over what it
read (the form zettarepl's snapshot and retention code has): the decision can then be
tested with tables of examples, and the number of zfs commands stays the same whatever
the number of objects a request names (DESIGN: one `zfs list -r` per pool rather than a
`zfs get` per object).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import ObjectType, ZfsObject

#: the types a dataset (as opposed to a snapshot or a bookmark) has
DATASET_TYPES = (ObjectType.FILESYSTEM, ObjectType.VOLUME)
#: what a listing holds: bookmarks are left out, no decision here looks at them
LISTED_TYPES = (*DATASET_TYPES, ObjectType.SNAPSHOT)

#: every filesystem, volume and snapshot of some pools, by name, in `zfs list` order
Listing = Mapping[str, ZfsObject]


async def read_pools(zfs: ZfsBackend, pools: Iterable[str]) -> dict[str, ZfsObject]:
    """The listing of `pools`: one `zfs list -r` per pool, in the pools' sorted order. A pool
    that does not exist lists nothing: the decision says what is missing, in its words."""
    found: dict[str, ZfsObject] = {}
    for pool in sorted(set(pools)):
        try:
            objects = await zfs.list(pool, types=LISTED_TYPES)
        except NotFoundError:
            continue
        found.update((o.name, o) for o in objects)
    return found


def datasets_below(listing: Listing, dataset: str) -> list[str]:
    """`dataset` and every filesystem and volume below it, in listing order."""
    return [
        name
        for name, o in listing.items()
        if o.type in DATASET_TYPES and names.is_descendant(name, dataset)
    ]


def children_of(listing: Listing, dataset: str) -> list[str]:
    """The filesystems and volumes directly below `dataset`, in listing order."""
    return [
        name
        for name, o in listing.items()
        if o.type in DATASET_TYPES and names.parent_of(name) == dataset
    ]


def snapshots_of(listing: Listing, dataset: str) -> list[ZfsObject]:
    """`dataset`'s own snapshots (not those of datasets below it), in listing order."""
    return [o for o in listing.values() if o.is_snapshot and o.dataset == dataset]


def clones_of(listing: Listing, snapshots: Iterable[str]) -> list[ZfsObject]:
    """The datasets made from one of `snapshots` (their origin), in listing order."""
    origins = set(snapshots)
    return [o for o in listing.values() if o.type in DATASET_TYPES and o.origin in origins]
