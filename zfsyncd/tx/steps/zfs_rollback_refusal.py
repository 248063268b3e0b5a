"""When a `zfs rollback -r` by swap (the step RollbackDataset) cannot be done, could not be
undone, or would not end as `zfs rollback -r` does: read, then a pure decision.

`read_facts` reads the dataset's pool (one `zfs list -r`) and, for a filesystem, the two
properties lists cannot show (one `zfs get` of encryption and mountpoint, one of the
received values); `refusal_of` decides from those alone, so its every refusal is tested
with a table of examples (tests/unit/ops/). Both the plan and the step's capture (the pool
may have changed since the plan) ask `refusal`, which is the two in a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from zfsyncd.tx.steps.pools import Listing, children_of, clones_of, read_pools, snapshots_of
from zfsyncd.tx.steps.trash import trash_name
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue

CLONE_PREFIX = "zfsync_rollback_"
MOUNTPOINT = "mountpoint"
ENCRYPTION = "encryption"


def sibling_name(dataset: str, prefix: str, tx_id: str, *, what: str = "swapped") -> str:
    """A dataset's name for transaction `tx_id` beside it (`parent/<prefix><tx>_<name>`): a
    sibling, since ZFS renames within a pool only, and named after the transaction, so
    that "it exists" means "we made it"."""
    parent = names.parent_of(dataset)
    if parent is None:
        raise InvalidNameError(dataset, f"a pool's root dataset cannot be {what}")
    name = f"{parent}/{prefix}{tx_id}_{dataset.rsplit('/', 1)[1]}"
    names.check_dataset(name)  # a long name may not leave room for the prefix: say so now
    return name


def clone_name(dataset: str, tx_id: str) -> str:
    """The new dataset's name until the swap."""
    return sibling_name(dataset, CLONE_PREFIX, tx_id)


@dataclass(frozen=True)
class RollbackFacts:
    """What the refusal decides from."""

    #: the dataset's pool: its datasets (type, guid, children, origins, a partial receive)
    #: and snapshots (createtxg, holds)
    listing: Listing
    #: the dataset's encryption and mountpoint (read for a filesystem only)
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    #: the dataset's received property values (read for a filesystem only)
    received: Mapping[str, str] = field(default_factory=dict)


async def read_facts(zfs: ZfsBackend, snapshot: str) -> RollbackFacts:
    """Three zfs commands, however many snapshots, children or clones there are; one when
    the listing already refuses it (no such snapshot, not a filesystem)."""
    dataset = names.dataset_of(snapshot)
    listing = await read_pools(zfs, [names.pool_of(dataset)])
    if snapshot not in listing:
        return RollbackFacts(listing)
    return await _with_properties(zfs, dataset, listing)


async def read_dataset_facts(zfs: ZfsBackend, dataset: str) -> RollbackFacts:
    """What `swap_refusal` decides from, for a dataset (before the snapshot it will be
    swapped to exists: a dataset update). Three zfs commands, like `read_facts`."""
    return await _with_properties(zfs, dataset, await read_pools(zfs, [names.pool_of(dataset)]))


async def _with_properties(zfs: ZfsBackend, dataset: str, listing: Listing) -> RollbackFacts:
    found = listing.get(dataset)
    if found is None or found.type is not ObjectType.FILESYSTEM:
        return RollbackFacts(listing)
    properties = await zfs.get_properties(dataset, [ENCRYPTION, MOUNTPOINT])
    received = await zfs.local_properties(dataset, source=PropertySource.RECEIVED)
    return RollbackFacts(listing, properties, received)


def refusal_of(
    snapshot: str, facts: RollbackFacts, tx_id: str, *, clone_made: bool = False
) -> str | None:
    """Why rolling back to `snapshot` by a swap cannot be done (or could not be undone, or
    would not equal `zfs rollback -r`); None when it can. Pure: decides from `facts`.
    `clone_made`: the steps before made the clone (a dataset update fills it), so it must
    exist, rather than not."""
    dataset = names.dataset_of(snapshot)
    target, fs = facts.listing.get(snapshot), facts.listing.get(dataset)
    if target is None or fs is None:
        return f"snapshot {snapshot} does not exist"
    problem = swap_refusal(dataset, facts, tx_id, clone_made=clone_made)
    if problem is not None:
        return problem
    newer = [o for o in snapshots_of(facts.listing, dataset) if o.createtxg > target.createtxg]
    held = [o.name for o in newer if o.userrefs]
    if held:
        return f"a newer snapshot is held, so zfs could not destroy it: {held[0]}"
    clones = clones_of(facts.listing, (o.name for o in newer))
    if clones:
        return f"{clones[0].name} is a clone of a snapshot newer than {snapshot}"
    return None


def swap_refusal(
    dataset: str, facts: RollbackFacts, tx_id: str, *, clone_made: bool = False
) -> str | None:
    """Why `dataset` cannot be swapped for a clone of one of its snapshots (the rollback
    step, and a dataset update before its baseline snapshot exists); None when it can."""
    fs = facts.listing.get(dataset)
    if fs is None:
        return f"{dataset} does not exist"
    if fs.type is not ObjectType.FILESYSTEM:
        return f"{dataset} is a {fs.type.value}: only a filesystem can be rolled back here"
    if fs.receive_resume_token is not None:
        return f"{dataset} has a partial receive (discard it with zfs receive -A first)"
    try:
        trash, clone = trash_name(dataset, tx_id), clone_name(dataset, tx_id)
    except InvalidNameError as exc:
        return str(exc)
    if trash in facts.listing:
        return f"{trash} exists already"
    if clone_made and clone not in facts.listing:
        return f"{clone}, which the steps before made, is gone"
    if not clone_made and clone in facts.listing:
        return f"{clone} exists already"
    children = children_of(facts.listing, dataset)
    if children:
        return (
            f"{dataset} has child datasets ({', '.join(children[:3])}): a rollback by swap "
            "does not move them (yet)"
        )
    crypt = facts.properties.get(ENCRYPTION)
    if crypt is not None and crypt.value not in (None, "off"):
        return f"{dataset} is encrypted: a rollback by swap does not handle encryption roots"
    mountpoint = facts.properties.get(MOUNTPOINT)
    if mountpoint is not None and (mountpoint.source, mountpoint.value) == (
        PropertySource.LOCAL,
        "legacy",
    ):
        return f"{dataset} has mountpoint=legacy: its mount is not zfs's to move"
    if facts.received:
        return (
            f"{dataset} has received properties ({', '.join(sorted(facts.received)[:3])}): "
            "the new dataset could only get them as local ones"
        )
    return None


async def refusal(
    zfs: ZfsBackend, snapshot: str, tx_id: str, *, clone_made: bool = False
) -> str | None:
    """`refusal_of` the pool as it is now. Changes nothing."""
    facts = await read_facts(zfs, snapshot)
    return refusal_of(snapshot, facts, tx_id, clone_made=clone_made)
