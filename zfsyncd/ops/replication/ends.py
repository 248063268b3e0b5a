"""One end of a pair (a dataset) as the admin kinds decide about it: where it is, the pair's
properties set on it, and whether it is read-only; and the checks they share.

Read with one `zfs get` per dataset (the pair's properties and `readonly`): the *source* of
each value matters here, which `zfs list -o` does not show (a child of a source would list
the parent's `zfsync:role` as its own). The snapshots of a side come from the inventory
(inventory.py), which the kinds that need them read besides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zfsyncd.ops.replication.props import DATASET_PROPERTIES, PEER, ROLE, Peer, Role, parse_peer
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.errors import NotFoundError
from zfsyncd.zfs.models import PropertySource

READONLY = "readonly"
ON = "on"


@dataclass(frozen=True)
class End:
    """A dataset of a pair, on a host."""

    host: str
    dataset: str
    #: the pair's properties (props.DATASET_PROPERTIES) set on the dataset itself
    local: Mapping[str, str]
    #: `readonly` as in effect (set here or inherited)
    readonly: bool

    @property
    def address(self) -> Peer:
        return Peer(host=self.host, dataset=self.dataset)

    @property
    def role(self) -> str | None:
        return self.local.get(ROLE)

    @property
    def peer(self) -> Peer | None:
        """The other dataset, as its PEER names it; None when unset or not an address."""
        value = self.local.get(PEER)
        if value is None:
            return None
        try:
            return parse_peer(value)
        except ValueError:
            return None


async def read_end(zfs: ZfsBackend, host: str, dataset: str) -> End | None:
    """`dataset` on `host` (one `zfs get`); None when it does not exist."""
    try:
        values = await zfs.get_properties(dataset, [*DATASET_PROPERTIES, READONLY])
    except NotFoundError:
        return None
    local = {
        prop: value.value
        for prop, value in values.items()
        if prop in DATASET_PROPERTIES
        and value.source is PropertySource.LOCAL
        and value.value is not None
    }
    return End(host, dataset, local, values[READONLY].value == ON)


def role_refusal(end: End, role: Role) -> str | None:
    """Why `end` is not the `role` of a pair with a peer named; None when it is."""
    where = end.dataset if end.host == LOCAL else str(end.address)
    if end.role == role and end.peer is not None:
        return None
    if end.role in (Role.SOURCE, Role.DESTINATION) and end.role != role:
        other = "its source" if end.role == Role.DESTINATION else "its destination"
        return f"{where} is the {end.role} of a replica pair ({other}: {end.local.get(PEER)})"
    if end.role == role:
        return f"{where} has {ROLE}={role} but no valid {PEER}"
    return f"{where} is not part of a replica pair (no {ROLE} set on it)"


def partner_refusal(end: End, other: End | None, peer: Peer) -> str | None:
    """Why `other` (read where `end`'s PEER points: `peer`) is not `end`'s partner: it is
    missing, has not the opposite role, or names another dataset as its peer."""
    if other is None:
        return f"{peer} (the peer of {end.dataset}) does not exist"
    wanted = Role.DESTINATION if end.role == Role.SOURCE else Role.SOURCE
    if other.role != wanted:
        return (
            f"{peer} is not the {wanted} of {end.dataset}: its {ROLE} is "
            f"{other.role or 'not set'}"
        )
    if other.peer != end.address:
        return f"{peer} is paired with {other.local.get(PEER)}, not with {end.address}"
    return None
